// The searched timing index (<terminal>.timing.idx beside <terminal>.timing.jsonl):
// it answers exactly what a full parse of the JSONL answers (randomised, rollbacks,
// torn and corrupt lines, clocks that step back), while written incrementally and
// after reopening; old sessions convert on open without touching their JSONL; a torn,
// lagging or mismatched index and a recording cut short are repaired and reported.
import { appendFile, mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTiming, type TimingEntry } from '../../electron/core/store/terminal-recording';
import { TIMING_HEADER_BYTES, TIMING_RECORD_BYTES, TimingIndex, parseTimingLine, timingIndexPath } from '../../electron/core/store/timing-index';
import { Workspace } from '../../electron/core/store/workspace';
import { toAsciicast, writeAsciicast } from '../../electron/core/dataset/asciicast';
import { Redactor } from '../../electron/core/dataset/redact';
import { mulberry32 as rng } from '../../shared/random';

let root: string;
let n = 0;
const fresh = async (): Promise<string> => {
  const d = join(root, `d${n++}`);
  await import('node:fs/promises').then((fs) => fs.mkdir(d, { recursive: true }));
  return d;
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-timing-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A deterministic PRNG, so a failure names the seed that shows it. */

/**
 * JSONL lines as a recording writes them over a long run: batches at the end, a clock
 * that sometimes steps back, rollbacks (an empty entry at an earlier offset, then new
 * output reusing the offsets), and the damage files meet (corrupt lines, odd spacing).
 */
function randomLines(seed: number, count: number, rollbackDepth = 3000): string[] {
  const r = rng(seed);
  const lines: string[] = [];
  let end = 0;
  let ts = 1_700_000_000_000;
  for (let i = 0; i < count; i++) {
    const x = r();
    ts += r() < 0.03 ? -Math.floor(r() * 5000) : Math.floor(r() * 200);
    if (x < 0.02 && end > 0) {
      end = Math.max(0, end - Math.floor(r() * rollbackDepth));
      lines.push(`[${ts},${end},0]`);
    } else if (x < 0.025) {
      lines.push(r() < 0.5 ? 'garbage{' : r() < 0.5 ? '[01,2,3]' : '{"ts":1}');
    } else if (x < 0.03) {
      const len = 1 + Math.floor(r() * 500);
      lines.push(`[${ts}, ${end}, ${len}]`); // valid JSON, not the writer's spacing
      end += len;
    } else if (x < 0.032) {
      lines.push(`[${ts},-5,10]`);
    } else {
      const len = 1 + Math.floor(r() * 700);
      lines.push(`[${ts},${end},${len}]`);
      end += len;
    }
  }
  return lines;
}

function bruteFirstAtOrAfter(entries: TimingEntry[], since: number): TimingEntry | null {
  for (const e of entries) if (e.ts >= since) return e;
  return null;
}

function bruteAtOffset(entries: TimingEntry[], pos: number): TimingEntry | null {
  let hit: TimingEntry | null = null;
  for (const e of entries) if (e.offset <= pos) hit = e;
  return hit;
}

async function allRecords(idx: TimingIndex): Promise<TimingEntry[]> {
  const out: TimingEntry[] = [];
  for await (const b of idx.blocks()) for (const r of b) out.push({ ts: r.ts, offset: r.offset, length: r.length });
  return out;
}

async function expectSameAnswers(idx: TimingIndex, entries: TimingEntry[], seed: number, probes = 200): Promise<void> {
  expect(await idx.length()).toBe(entries.length);
  const r = rng(seed);
  const first = entries[0]?.ts ?? 0;
  const last = entries.at(-1)?.ts ?? 0;
  const end = entries.length ? entries.at(-1)!.offset + entries.at(-1)!.length : 0;
  for (let k = 0; k < probes; k++) {
    const since = Math.floor(first - 10_000 + r() * (last - first + 20_000));
    const want = bruteFirstAtOrAfter(entries, since);
    const got = await idx.firstAtOrAfter(since);
    expect(got && { ts: got.ts, offset: got.offset, length: got.length }).toEqual(want);
    const pos = Math.floor(r() * (end + 100));
    const at = await idx.atOffset(pos);
    const want2 = bruteAtOffset(entries, pos);
    expect(at && { ts: at.ts, offset: at.offset, length: at.length }).toEqual(want2);
    expect(await idx.timeAt(pos)).toBe(want2?.ts ?? entries[0]?.ts ?? null);
  }
}

describe('timing index', () => {
  it('reads a line as parseTiming does', () => {
    for (const l of ['[1,2,3]', '[1.5,2,3]', '[1e3,2,3]', '[-4,2,3]', '[1, 2, 3]', '[1,2,3,4]', '[01,2,3]', '[1,2]', '{"a":1}', '"abc"', '5', 'null', '[1,2,"3"]', '[Infinity,1,2]', '']) {
      const p = parseTiming(`${l}\n`);
      const e = parseTimingLine(l);
      // parseTiming also drops negative offsets; the line parser leaves that to the normalizer.
      if (p.length) expect(e).toEqual([p[0]!.ts, p[0]!.offset, p[0]!.length]);
      else if (e) expect(e[1] < 0 || e[2] <= 0).toBe(true);
    }
  });

  it('answers what a full parse of the JSONL answers (randomised), converted from an old session', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const dir = await fresh();
      const text = `${randomLines(seed, 3000 + seed * 1500).join('\n')}\n`;
      await writeFile(join(dir, 't.timing.jsonl'), text);
      const idx = await TimingIndex.open(dir, 't', { write: true });
      expect(idx.converted).toBe(true);
      expect(idx.repairs).toEqual([]);
      const entries = parseTiming(text);
      expect(await allRecords(idx)).toEqual(entries);
      await expectSameAnswers(idx, entries, seed);
      await idx.close();
      // The JSONL is left as it was, for older versions.
      expect(await readFile(join(dir, 't.timing.jsonl'), 'utf8')).toBe(text);
      // Reopened (now from the file), the same.
      const again = await TimingIndex.open(dir, 't');
      expect(again.converted).toBe(false);
      await expectSameAnswers(again, entries, seed + 100);
      await again.close();
    }
  });

  it('written entry by entry as a recording writes it, flushed at random, equals the full parse at every point', async () => {
    for (const seed of [11, 12, 13]) {
      const dir = await fresh();
      const lines = randomLines(seed, 12_000);
      const idx = await TimingIndex.open(dir, 't', { write: true });
      const r = rng(seed);
      let jsonl = '';
      // Counted as lines are added: measuring the whole text again for every line is quadratic.
      let jsonlBytes = 0;
      let pendingText = '';
      // As the recording does: the index knows how much of the JSONL is in the file.
      let inFile = 0;
      idx.committedJsonl = () => inFile;
      const write = async (): Promise<void> => {
        const text = pendingText;
        pendingText = '';
        await appendFile(join(dir, 't.timing.jsonl'), text);
        inFile += Buffer.byteLength(text);
      };
      const check = async (): Promise<void> => {
        await write();
        await expectSameAnswers(idx, parseTiming(jsonl), seed, 20);
      };
      for (const l of lines) {
        const line = `${l}\n`;
        jsonl += line;
        jsonlBytes += Buffer.byteLength(line);
        pendingText += line;
        const e = parseTimingLine(l);
        if (e) idx.append(e[0], e[1], e[2], jsonlBytes);
        if (r() < 0.01) {
          await write();
          await idx.flush();
        }
        if (r() < 0.004) await check();
      }
      await check();
      await idx.close();
      const again = await TimingIndex.open(dir, 't', { write: true });
      expect(again.repairs).toEqual([]);
      expect(await allRecords(again)).toEqual(parseTiming(jsonl));
      await again.close();
    }
  });

  it('a rollback deeper than the records it keeps in memory is rebuilt from the JSONL', async () => {
    const dir = await fresh();
    const idx = await TimingIndex.open(dir, 't', { write: true });
    let jsonl = '';
    let jsonlBytes = 0;
    // One handle for the 10,000 lines (as the recording appends them), not an open and close each.
    const file = await open(join(dir, 't.timing.jsonl'), 'a');
    const add = async (ts: number, offset: number, length: number): Promise<void> => {
      const line = `[${ts},${offset},${length}]\n`;
      await file.write(line);
      jsonl += line;
      jsonlBytes += Buffer.byteLength(line);
      idx.append(ts, offset, length, jsonlBytes);
    };
    let end = 0;
    for (let i = 0; i < 10_000; i++) {
      await add(1000 + i, end, 100);
      end += 100;
    }
    await idx.flush();
    // Cut back to byte 1,050: nearly every record goes, most of them only in the file.
    await add(50_000, 1050, 0);
    for (let i = 0; i < 20; i++) await add(60_000 + i, 1050 + i * 10, 10);
    await file.close();
    await expectSameAnswers(idx, parseTiming(jsonl), 51);
    await idx.close();
    const again = await TimingIndex.open(dir, 't', { write: true });
    expect(again.repairs).toEqual([]);
    expect(await allRecords(again)).toEqual(parseTiming(jsonl));
    await again.close();
  });

  it('a torn, lagging or mismatched index is repaired and reported; the answers stay those of the JSONL', async () => {
    const dir = await fresh();
    const text = `${randomLines(21, 5000).join('\n')}\n`;
    await writeFile(join(dir, 't.timing.jsonl'), text);
    await (await TimingIndex.open(dir, 't', { write: true })).close();
    const path = timingIndexPath(dir, 't');
    const size = (await stat(path)).size;

    // A crash mid-write: the last record torn.
    await truncate(path, size - 10);
    let idx = await TimingIndex.open(dir, 't', { write: true });
    expect(idx.repairs.join(' ')).toMatch(/cut short \(a crash tore its last record.*rebuilt from t\.timing\.jsonl/);
    await expectSameAnswers(idx, parseTiming(text), 21);
    await idx.close();
    expect(((await stat(path)).size - TIMING_HEADER_BYTES) % TIMING_RECORD_BYTES).toBe(0);

    // An older version went on recording into the JSONL only: caught up.
    const more = `${randomLines(22, 500).map((l) => {
      const e = parseTimingLine(l);
      return e && e[1] >= 0 ? `[${e[0]},${e[1] + 10_000_000},${e[2]}]` : l;
    }).join('\n')}\n`;
    await appendFile(join(dir, 't.timing.jsonl'), more);
    idx = await TimingIndex.open(dir, 't', { write: true });
    expect(idx.repairs.join(' ')).toMatch(/lagged .* caught up/);
    await expectSameAnswers(idx, parseTiming(text + more), 22);
    await idx.close();

    // The JSONL was replaced by a shorter one: the index no longer fits it and is rebuilt.
    const short = `${randomLines(23, 800).join('\n')}\n`;
    await writeFile(join(dir, 't.timing.jsonl'), short);
    idx = await TimingIndex.open(dir, 't', { write: true });
    expect(idx.repairs.join(' ')).toMatch(/rebuilt from t\.timing\.jsonl/);
    await expectSameAnswers(idx, parseTiming(short), 23);
    await idx.close();

    // Garbage where the index was.
    await writeFile(path, 'not an index at all');
    idx = await TimingIndex.open(dir, 't', { write: true });
    expect(idx.repairs.join(' ')).toMatch(/unreadable .* rebuilt/);
    await expectSameAnswers(idx, parseTiming(short), 24);
    await idx.close();

    // Read-only opens never write: a damaged index is read from the JSONL instead.
    await writeFile(path, 'damaged again');
    const ro = await TimingIndex.open(dir, 't');
    expect(ro.repairs.join(' ')).toMatch(/read from t\.timing\.jsonl instead/);
    await expectSameAnswers(ro, parseTiming(short), 25);
    await ro.close();
    expect(await readFile(path, 'utf8')).toBe('damaged again');
  });

  it('converts atomically: a temporary file left by a crashed conversion is never used, and nothing is left behind', async () => {
    const dir = await fresh();
    const text = `${randomLines(31, 4000).join('\n')}\n`;
    await writeFile(join(dir, 'main.timing.jsonl'), text);
    // A conversion that died after writing half its temporary file.
    await writeFile(`${timingIndexPath(dir, 'main')}.tmp-deadbeef`, Buffer.alloc(1000, 7));
    const idx = await TimingIndex.open(dir, 'main', { write: true });
    expect(idx.converted).toBe(true);
    expect(await allRecords(idx)).toEqual(parseTiming(text));
    await idx.close();
    expect((await readdir(dir)).sort()).toEqual(['main.timing.idx', 'main.timing.jsonl']);
    const head = await readFile(timingIndexPath(dir, 'main'));
    expect(head.subarray(0, 8).toString('latin1')).toBe('APTIMIDX');
    // The header names every JSONL byte it covers.
    expect(head.readDoubleLE(16)).toBe(Buffer.byteLength(text));
    expect((head.length - TIMING_HEADER_BYTES) / TIMING_RECORD_BYTES).toBe(parseTiming(text).length);
  });

  it('asciicast streamed from the index is byte-identical to the one built from the parsed JSONL', async () => {
    for (const seed of [61, 62]) {
      const dir = await fresh();
      const text = `${randomLines(seed, 4000).join('\n')}\n`;
      const entries = parseTiming(text);
      const end = entries.at(-1)!.offset + entries.at(-1)!.length;
      const r = rng(seed);
      // Output a little shorter than the index says (a crash), with multi-byte text across blocks.
      const parts: string[] = [];
      let len = 0;
      while (len < end - 700) {
        const p = r() < 0.1 ? 'héllo ✓ wörld ' : r() < 0.05 ? 'export TOKEN=ghp_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8\r\n' : `line ${len}\r\n`;
        parts.push(p);
        len += Buffer.byteLength(p);
      }
      const out = Buffer.from(parts.join('')).subarray(0, end - 700);
      await writeFile(join(dir, 't.out'), out);
      await writeFile(join(dir, 't.timing.jsonl'), text);
      for (const redactor of [undefined, new Redactor([])]) {
        const want = toAsciicast({ output: out, timing: entries, events: [], terminalId: 't', title: 't', redactor });
        let got = '';
        await writeAsciicast({ recordingPath: join(dir, 't.out'), timingPath: join(dir, 't.timing.jsonl'), events: [], terminalId: 't', title: 't', redactor, blockSize: 4096, write: async (c) => { got += c; } });
        expect(got).toBe(want);
      }
    }
  });

  it('a recording keeps its index; one cut short by a crash is reported in the session log, and recording goes on', async () => {
    const home = await fresh();
    const ws = await Workspace.open(home);
    const s = await ws.create({ name: 'x', cwd: home });
    let rec = await s.recording('main');
    let ts = 1_700_000_000_000;
    for (let i = 0; i < 3000; i++) rec.append(Buffer.from(`line ${i} ${'x'.repeat(i % 50)}\r\n`), (ts += 7));
    await rec.flush();
    const entries = parseTiming(await readFile(join(s.dir, 'terminals', 'main.timing.jsonl'), 'utf8'));
    expect(entries.length).toBe(3000);
    await expectSameAnswers(rec.timingIndex, entries, 41);
    const id = s.id;
    await ws.close();

    // A crash lost the end of the output that the index had recorded.
    const out = join(home, 'sessions', id, 'terminals', 'main.out');
    const size = (await stat(out)).size;
    await truncate(out, size - 500);
    const ws2 = await Workspace.open(home);
    const s2 = await ws2.session(id);
    rec = await s2.recording('main');
    expect(rec.repairs.join(' ')).toMatch(/recording is shorter than its timing index/);
    // New output continues from the recording's end and supersedes what was lost.
    rec.append(Buffer.from('after the crash\r\n'), (ts += 7));
    await rec.flush();
    const now = parseTiming(await readFile(join(s2.dir, 'terminals', 'main.timing.jsonl'), 'utf8'));
    await expectSameAnswers(rec.timingIndex, now, 42);
    expect(now.at(-1)!.offset).toBe(size - 500);
    await new Promise((r) => setTimeout(r, 50));
    expect(s2.events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message).join(' ')).toMatch(/recording is shorter than its timing index/);
    await ws2.close();
  });
});
