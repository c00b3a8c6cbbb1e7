// readEventLog reads a log a chunk at a time into one buffer it fills again: a line cut
// by a chunk's end, a line longer than several chunks, the last line (whose hash a stamp
// records) and a torn tail must come out as a parse of the whole file in one piece says.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLog, parseEventLog, readEventLog } from '../../electron/core/store/event-log';

const MB = 1 << 20;
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-log-chunks-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** ~13 MB of guidance events of many lengths (each text distinct), one of them 9 MB. */
function logText(): string {
  const lines: string[] = [];
  let seq = 0;
  // Deterministic lengths from 1 byte to ~300 KB, so chunk ends fall inside lines of every size.
  let x = 12345;
  const next = (): number => (x = (x * 1103515245 + 12345) % 2 ** 31);
  for (let total = 0; total < 4 * MB; ) {
    const n = next() % (next() % 4 === 0 ? 300_000 : 2_000);
    const text = `${seq}:${'abcdefghij'.repeat(Math.ceil(n / 10)).slice(0, n)}`;
    const line = JSON.stringify({ seq: ++seq, ts: 1_700_000_000_000 + seq, type: 'guidance.queued', guidanceId: `g${seq}`, text, author: 'a' });
    lines.push(line);
    total += line.length + 1;
  }
  const long = `long:${'é'.repeat(9 * MB / 2)}`; // two bytes a character: chunk ends may fall inside one
  lines.push(JSON.stringify({ seq: ++seq, ts: 1_700_000_000_000 + seq, type: 'guidance.queued', guidanceId: `g${seq}`, text: long, author: 'a' }));
  lines.push('{"not an event": true}');
  for (let i = 0; i < 200; i++) lines.push(JSON.stringify({ seq: ++seq, ts: 1_700_000_000_000 + seq, type: 'guidance.queued', guidanceId: `g${seq}`, text: `t${i}`.repeat(i * 37), author: 'a' }));
  return `${lines.join('\n')}\n`;
}

function summary(p: ReturnType<typeof parseEventLog>): unknown {
  return { events: JSON.stringify(p.events), report: p.report, goodLength: p.goodLength, tail: p.tail, lines: p.lines };
}

describe('reading an event log in chunks', () => {
  it('gives what a parse of the whole file gives, with and without a stamp, and with a torn tail', async () => {
    const text = logText();
    const whole = Buffer.from(text, 'utf8');
    expect(whole.length).toBeGreaterThan(12 * MB);
    const path = join(root, 'events.jsonl');
    await writeFile(path, whole);
    const expected = summary(parseEventLog(whole));
    expect(summary(await readEventLog(path))).toEqual(expected);
    expect((await readEventLog(path)).events.at(-1)!.seq).toBe(text.split('\n').length - 2);

    // Opened once: stamped, and read again without the schema check.
    const { log } = await EventLog.open(path);
    await log.close();
    const stamped = await readEventLog(path);
    expect(stamped.stamped).toBe(true);
    expect(summary(stamped)).toEqual(expected);

    // A torn last write longer than a chunk: the intact prefix, and the hash of the last
    // complete line, read chunks before the end.
    const torn = Buffer.concat([whole, Buffer.from(`{"seq":999999,"ts":1,"type":"guidance.queued","text":"${'x'.repeat(9 * MB)}`, 'utf8')]);
    const tornPath = join(root, 'torn.jsonl');
    await writeFile(tornPath, torn);
    const tornRead = await readEventLog(tornPath);
    expect(tornRead.report.tornTail).toBe(true);
    expect(summary(tornRead)).toEqual(summary(parseEventLog(torn)));
    expect(tornRead.goodLength).toBe(whole.length);
  }, 60_000);
});
