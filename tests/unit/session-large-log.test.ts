// Issue 10, "Bad input": a session whose event log is larger than the host's memory
// opens. A generated session with 200 MB of observations added (200 results of 1 MB)
// is opened by a host process whose V8 heap is capped at 64 MB: the log is read a chunk
// at a time, long observations stay on disk until asked for (the page gets previews,
// stepDetail the whole text), and the process stays far under the memory target.
import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSession } from '../../electron/bench/generate';
import type { SessionEvent } from '../../shared/events';

const BIG = 200;
const MB = 1 << 20;

let root: string;
let home: string;
let id: string;
let bigStep: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-large-log-'));
  home = join(root, 'ws');
  const g = await generateSession({ home, steps: 20, hours: 1, terminalMb: 1 });
  id = g.id;
  const log = join(g.dir, 'events.jsonl');
  const events = (await readFile(log, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as SessionEvent);
  let seq = events.at(-1)!.seq;
  const results = events.filter((e): e is Extract<SessionEvent, { type: 'action.result' }> => e.type === 'action.result');
  bigStep = results[0]!.stepId;
  for (let i = 0; i < BIG; i++) {
    const r = results[i % results.length]!;
    // Distinct text per result, so no two observations could share one string.
    const observation = `${i} `.repeat(MB).slice(0, MB - 7) + `END-${String(i).padStart(3, '0')}`;
    await appendFile(log, JSON.stringify({ ...r, seq: ++seq, toolCallId: `${r.toolCallId}-big-${i}`, observation }) + '\n');
  }
}, 120_000);
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

function openCapped(heapMb: number): Promise<{ code: number | null; out: string }> {
  const p = spawn(process.execPath, [`--max-old-space-size=${heapMb}`, '--expose-gc', '--import', 'tsx', join(__dirname, '../fixtures/open-capped.ts'), home, id, bigStep], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((r) => p.on('exit', (code) => r({ code, out })));
}

describe('an event log larger than memory', () => {
  it('opens in a host with a 64 MB heap, with previews on the wire and the whole text on demand', async () => {
    expect((await stat(join(home, 'sessions', id, 'events.jsonl'))).size).toBeGreaterThan(BIG * MB);
    const r = await openCapped(64);
    expect(r.code, r.out).toBe(0);
    const res = JSON.parse(r.out.trim().split('\n').at(-1)!) as { report: unknown; elided: number; wire: number; full: number[]; heapUsedMb: number; maxRssMb: number };
    expect(res.report).toEqual({ tornTail: false, corruptLines: [] });
    expect(res.elided).toBeGreaterThanOrEqual(BIG);
    expect(res.wire).toBeLessThan(20 * MB);
    // The big step's results, whole: its own observation and the 1 MB ones added to it.
    expect(res.full.filter((n) => n === MB).length).toBeGreaterThanOrEqual(BIG / 20);
    expect(res.maxRssMb).toBeLessThan(300);
  }, 120_000);
});
