import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TerminalRecording, normalizeTiming, parseTiming, type TimingEntry } from '../../electron/core/store/terminal-recording';
import { toAsciicast, writeAsciicast } from '../../electron/core/dataset/asciicast';
import { DISK_KINDS, releaseTinyDisk, withTinyDisk } from '../fixtures/tiny-disk';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-rec-rollback-'));
});
afterEach(async () => {
  releaseTinyDisk(dir);
  await rm(dir, { recursive: true, force: true });
});

/** The output events of a cast, checked to be in non-decreasing time. */
function outputOf(cast: string): string {
  const lines = cast.trimEnd().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
  let t = 0;
  for (const [time] of lines) {
    expect(time).toBeGreaterThanOrEqual(t);
    t = time;
  }
  return lines.filter((l) => l[1] === 'o').map((l) => l[2]).join('');
}

/** The bytes the timing entries describe, concatenated in order, each checked to follow the last. */
function bytesOf(out: Buffer, timing: TimingEntry[]): Buffer {
  let end = 0;
  const parts: Buffer[] = [];
  for (const e of timing) {
    expect(e.offset).toBeGreaterThanOrEqual(end);
    parts.push(out.subarray(e.offset, e.offset + e.length));
    end = e.offset + e.length;
  }
  return Buffer.concat(parts);
}

describe('timing index reader', () => {
  it('lets later entries supersede overlapping or backwards ones and keeps gaps', () => {
    const text = [
      '[1000,0,5]', // "aaaaa"
      '[1010,5,10]', // rolled back: its bytes were replaced by the next two
      '[1020,5,0]', // rollback marker
      '[1030,5,3]',
      '[1040,8,2]',
      '[1050,12,4]', // after a gap of 2 untimed bytes
      '[1060,14,50]', // overlaps the previous one's end: cuts it to 2 bytes, and reaches past the end of the output
      '[1070,20', // torn
      'garbage',
    ].join('\n');
    expect(parseTiming(text)).toEqual([
      { ts: 1000, offset: 0, length: 5 },
      { ts: 1030, offset: 5, length: 3 },
      { ts: 1040, offset: 8, length: 2 },
      { ts: 1050, offset: 12, length: 2 },
      { ts: 1060, offset: 14, length: 50 },
    ]);
    // A rollback without later output (nothing reuses the offsets) still drops the dropped bytes' entries.
    expect(parseTiming('[1,0,4]\n[2,4,4]\n[3,8,4]\n[4,4,0]\n')).toEqual([{ ts: 1, offset: 0, length: 4 }]);
    // An entry that starts inside an earlier one truncates it; one at the same offset replaces it.
    expect(normalizeTiming([{ ts: 1, offset: 0, length: 10 }, { ts: 2, offset: 4, length: 2 }, { ts: 3, offset: 4, length: 3 }])).toEqual([
      { ts: 1, offset: 0, length: 4 },
      { ts: 3, offset: 4, length: 3 },
    ]);
    expect(normalizeTiming([{ ts: 1, offset: -1, length: 2 }, { ts: 2, offset: 0, length: -3 }])).toEqual([]);
  });

  it('exports every byte once and in order from crafted overlapping timing, with an untimed tail', async () => {
    // Output as it is on disk after "XXXXX" (at offset 5) was rolled back and replaced by "bbbcc".
    const output = Buffer.from('aaaaabbbccdd-tail');
    const timing = parseTiming('[1000,0,5]\n[1010,5,5]\n[1020,5,3]\n[1030,8,2]\n[1040,10,2]\n');
    expect(bytesOf(output, timing).toString()).toBe('aaaaabbbccdd');
    const cast = toAsciicast({ output, timing, events: [], terminalId: 't', title: 't' });
    expect(outputOf(cast)).toBe('aaaaabbbccdd-tail');
    // Unnormalized entries handed to toAsciicast directly are normalized too.
    const raw: TimingEntry[] = [{ ts: 1000, offset: 0, length: 5 }, { ts: 5000, offset: 5, length: 5 }, { ts: 1020, offset: 5, length: 3 }];
    const lines = toAsciicast({ output, timing: raw, events: [], terminalId: 't', title: 't' }).trimEnd().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(lines.map((l) => l[2]).join('')).toBe('aaaaabbbccdd-tail');
    expect(lines.map((l) => l[0])).toEqual([0, 0.02]); // the superseded 5000 never shows

    await writeFile(join(dir, 't.out'), output);
    await writeFile(join(dir, 't.timing.jsonl'), '[1000,0,5]\n[1010,5,5]\n[1020,5,3]\n[1030,8,2]\n[1040,10,2]\n');
    let s = '';
    const r = await writeAsciicast({ recordingPath: join(dir, 't.out'), timingPath: join(dir, 't.timing.jsonl'), events: [], terminalId: 't', title: 't', blockSize: 4, write: async (c) => { s += c; } });
    expect(r.bytes).toBe(output.length);
    expect(s).toBe(cast);
  });
});

describe.each(DISK_KINDS)('TerminalRecording after a failed write (%s disk)', (kind) => {
  it('keeps the timing index in step with the output when a full disk rolls the output back', async (ctx) => {
    await withTinyDisk(kind, dir, ctx, async ({ root: mnt, fill }) => {
    const rec = await TerminalRecording.open(mnt, 't');
    const a = rec.append(Buffer.from('first line\r\n'), 1000);
    const a2 = rec.append(Buffer.from('second line\r\n'), 1010);
    await Promise.all([a.durable, a2.durable]);
    await rec.flush();

    // Fill the disk: the timing line still fits in its file's last block, the output does not.
    const free = await fill();

    const lost = rec.append(Buffer.alloc(20_000, 0x58), 2000); // 'X' * 20000
    await expect(lost.durable).rejects.toMatchObject({ code: 'DISK_FULL' });
    await rec.flush();
    expect(rec.size).toBe(lost.offset);

    // Free space and go on: the next output reuses the rolled-back offset.
    await free();
    const b = rec.append(Buffer.from('third line\r\n'), 3000);
    const c = rec.append(Buffer.from('fourth line\r\n'), 3010);
    expect(b.offset).toBe(lost.offset);
    await Promise.all([b.durable, c.durable]);
    await rec.close();

    const outPath = join(mnt, 't.out');
    const timingPath = join(mnt, 't.timing.jsonl');
    const expected = 'first line\r\nsecond line\r\nthird line\r\nfourth line\r\n';
    const out = await readFile(outPath);
    expect(out.toString()).toBe(expected);
    const rawTiming = await readFile(timingPath, 'utf8');
    // The scenario really happened: the index holds an entry for the dropped bytes.
    expect(rawTiming).toContain(`[2000,${lost.offset},20000]`);

    const timing = parseTiming(rawTiming);
    expect(timing).toEqual([
      { ts: 1000, offset: 0, length: 12 },
      { ts: 1010, offset: 12, length: 13 },
      { ts: 3000, offset: 25, length: 12 },
      { ts: 3010, offset: 37, length: 13 },
    ]);
    expect(bytesOf(out, timing)).toEqual(out);

    const fromMemory = toAsciicast({ output: out, timing, events: [], terminalId: 't', title: 't' });
    expect(outputOf(fromMemory)).toBe(expected);
    expect(fromMemory).not.toContain('X');
    let streamed = '';
    await writeAsciicast({ recordingPath: outPath, timingPath, events: [], terminalId: 't', title: 't', write: async (s) => { streamed += s; } });
    expect(streamed).toBe(fromMemory);

    // A crash between the two logs: output the index never heard of is still exported, at the last known time.
    await appendFile(outPath, 'untimed tail\r\n');
    let withTail = '';
    await writeAsciicast({ recordingPath: outPath, timingPath, events: [], terminalId: 't', title: 't', write: async (s) => { withTail += s; } });
    expect(outputOf(withTail)).toBe(`${expected}untimed tail\r\n`);
    const last = withTail.trimEnd().split('\n').at(-1)!;
    expect(JSON.parse(last)).toEqual([2.01, 'o', 'fourth line\r\nuntimed tail\r\n']);
    });
  });
});
