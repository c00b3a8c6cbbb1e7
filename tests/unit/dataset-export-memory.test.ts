// An export streams (issue 10 item 7): each example is taken, written to every training
// file and dropped, recordings go through bounded windows, files are hashed and checked
// as they are written. So what it holds follows the largest example, not the session:
// exporting a session four times as long (steps, hours, terminal output) must not hold
// four times as much. Measured as the live heap (after a full GC) at every progress
// callback, above the heap with the session's events already loaded.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSession } from '../../electron/bench/generate';
import { exportBundle, EXPORT_FORMATS } from '../../electron/core/dataset/bundle';
import { readEventLog } from '../../electron/core/store/event-log';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-export-memory-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function liveHeap(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

/** Peak live heap above the start while exporting a generated session of `scale` × the base size, and the bytes written. */
async function measure(scale: number): Promise<{ peak: number; openaiBytes: number; castBytes: number }> {
  const g = await generateSession({ home: join(root, `home-${scale}`), steps: 100 * scale, hours: 2 * scale, terminalMb: 3 * scale, seed: 11, id: `S${scale}` });
  let events = (await readEventLog(join(g.dir, 'events.jsonl'))).events;
  const out = join(root, `bundle-${scale}`);
  const start = liveHeap();
  let peak = 0;
  await exportBundle({
    home: join(root, `home-${scale}`), sessions: [{ sessionId: g.id, events, sessionDir: g.dir }], outDir: out, formats: [...EXPORT_FORMATS],
    secrets: [], appVersion: 'test', onProgress: () => {
      peak = Math.max(peak, liveHeap() - start);
    },
  });
  events = [];
  const cast = join(out, 'terminals', g.id);
  const { readdir } = await import('node:fs/promises');
  let castBytes = 0;
  for (const f of await readdir(cast)) castBytes += (await stat(join(cast, f))).size;
  return { peak, openaiBytes: (await stat(join(out, 'openai.jsonl'))).size, castBytes };
}

describe('export memory', () => {
  it('does not grow with the session: 4× the session holds about what 1× holds', async () => {
    const one = await measure(1);
    const four = await measure(4);
    // The larger session really is larger where it counts.
    expect(four.openaiBytes).toBeGreaterThan(one.openaiBytes * 2.5);
    expect(four.castBytes).toBeGreaterThan(one.castBytes * 3);
    // What is held may grow with the longest example and the manifest's per-step entries,
    // never with everything written (a generous bound: holding all examples, or a whole
    // recording, is many times this).
    expect(four.peak, `1×: ${(one.peak / 1e6).toFixed(1)} MB, 4×: ${(four.peak / 1e6).toFixed(1)} MB`).toBeLessThan(one.peak * 2 + 8e6);
    expect(four.peak).toBeLessThan(four.openaiBytes * 0.5 + 8e6);
  }, 300_000);
});
