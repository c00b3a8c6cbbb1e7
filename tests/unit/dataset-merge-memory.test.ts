// A merge streams (issue 12 item 6): pass 1 hands every step record's facts (votes, label
// times, digests) to an external sort on disk, and the plan reads them back session by
// session and step by step, so what a merge holds does not grow with the steps it merges:
// 4× the bundles (more annotators on the same sessions, or more sessions) hold about what
// 1× holds. Measured as the live heap (after a full GC) when the plan is made and writing
// starts, above the heap before the merge. The spill sorts in runs: a run size of a few
// records (so every path of the k-way merge runs) writes the same bytes as the default.
// Its folder is private (0700, files 0600) and gone after a merge, a failure or a cancel.
import { readdirSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { mergeBenchBundles } from '../../electron/bench/merge';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { mergeBundles } from '../../electron/core/dataset/merge';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let root: string;
let spillParent: string;
let savedTmp: string | undefined;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-merge-memory-'));
  // The spill folder is made in os.tmpdir(): a folder of this test's own, to see it come and go.
  spillParent = join(root, 'tmp');
  await mkdir(spillParent);
  savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = spillParent;
});
afterAll(async () => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  await rm(root, { recursive: true, force: true });
});

function liveHeap(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

async function files(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (d.isFile()) out[relative(dir, join(d.parentPath, d.name))] = await readFile(join(d.parentPath, d.name), 'utf8');
  }
  return out;
}

/** The live heap above the start when the plan is made (the first write stage), merging `inputs`. */
async function heldWhenPlanned(inputs: string[], out: string): Promise<number> {
  const start = liveHeap();
  let held = -1;
  await mergeBundles({
    inputs, outDir: out, policy: { kind: 'majority' },
    onProgress: (_d, _t, stage) => {
      if (held < 0 && stage.startsWith('write')) held = liveHeap() - start;
    },
  });
  return held;
}

describe('merge memory', () => {
  it('a session without steps keeps its record, in its place (no step brings it out of the sorted steps)', async () => {
    const [bench] = await mergeBenchBundles(join(root, 'stepless'), { bundles: 1, steps: 3, perSession: 1 });
    const events = [
      { seq: 1, ts: 1_700_000_000_000, type: 'session.created', name: 'Empty', cwd: '/w', appVersion: '0.1.0' },
      { seq: 2, ts: 1_700_000_001_000, type: 'rollout.started', rolloutId: 'r1', branchId: 'main', task: 'Nothing yet', policy: 'model', maxSteps: 3, parentStepId: null, endpoint: { profile: 'x', baseUrl: 'http://127.0.0.1:1/v1', model: 'm' } },
    ] as SessionEvent[];
    const empty = join(root, 'stepless', 'empty');
    await exportBundle({ home: root, sessions: [{ sessionId: 'E0', events, sessionDir: join(root, 'nowhere') }], outDir: empty, formats: ['openai', 'trajectory'], secrets: [], appVersion: 'bench' });
    const kinds = async (dir: string): Promise<string[]> => (await readFile(join(dir, 'trajectory.jsonl'), 'utf8')).trim().split('\n').map((l) => {
      const r = JSON.parse(l) as { kind: string; sessionId: string };
      return `${r.kind} ${r.sessionId}`;
    });
    for (const inputs of [[empty, bench!], [bench!, empty]]) {
      const r = await mergeBundles({ inputs, outDir: join(root, 'stepless', `out-${inputs[0] === empty ? 'first' : 'last'}`), allowUnsigned: true, allowMixedPolicies: true });
      const steps = ['step bench-0', 'step bench-0', 'step bench-0'];
      expect(await kinds(r.dir)).toEqual(inputs[0] === empty ? ['session E0', 'session bench-0', ...steps] : ['session bench-0', ...steps, 'session E0']);
    }
  });

  it('does not grow with the bundles: 4× the annotators, or 4× the sessions, hold about what 1× holds', async () => {
    const moreAnnotators = await mergeBenchBundles(join(root, 'annotators'), { bundles: 16, steps: 300, perSession: 8 });
    const moreSessions = await mergeBenchBundles(join(root, 'sessions'), { bundles: 16, steps: 300, perSession: 2 });
    // Its first four: two annotators on each of the same two sessions.
    const one = moreAnnotators.slice(0, 4);
    // Once first, so what any first merge loads (code, caches) is not counted.
    await mergeBundles({ inputs: one, outDir: '', dryRun: true, policy: { kind: 'majority' } });
    const held1 = await heldWhenPlanned(one, join(root, 'out-one'));
    const heldA = await heldWhenPlanned(moreAnnotators, join(root, 'out-annotators'));
    const heldS = await heldWhenPlanned(moreSessions, join(root, 'out-sessions'));
    const mb = (x: number): string => `${(x / 1e6).toFixed(2)} MB`;
    const said = `1×: ${mb(held1)}, 4× annotators: ${mb(heldA)}, 4× sessions: ${mb(heldS)}`;
    // Holding every vote (the two-pass merge before the spill) was 3.5 MB at 1× and 7.2 / 9.5 MB at 4×.
    expect(heldA, said).toBeLessThan(held1 * 1.5 + 1e6);
    expect(heldS, said).toBeLessThan(held1 * 1.5 + 1e6);
    // The larger merges really merged more.
    const report = async (dir: string) => JSON.parse(await readFile(join(dir, 'merge-report.json'), 'utf8')) as { actions: { total: number; multiplyLabelled: number } };
    expect((await report(join(root, 'out-sessions'))).actions.total).toBe(4 * (await report(join(root, 'out-one'))).actions.total);
    expect((await report(join(root, 'out-annotators'))).actions.total).toBe((await report(join(root, 'out-one'))).actions.total);
  }, 300_000);

  it('a run of a few records writes the same bytes as the default run size; the spill is private and removed after a merge, a failure and a cancel', async () => {
    const inputs = await mergeBenchBundles(join(root, 'runs'), { bundles: 6, steps: 60, perSession: 3 });
    const modes: Array<{ path: string; mode: number }> = [];
    const tiny = await mergeBundles({
      inputs, outDir: join(root, 'tiny'), policy: { kind: 'majority' }, spillRunSize: 3,
      // Synchronously, while the merge waits: the spill as it is when writing starts.
      onProgress: (_d, _t, stage) => {
        if (modes.length || !stage.startsWith('write')) return;
        for (const d of readdirSync(spillParent, { withFileTypes: true, recursive: true })) {
          const p = join(d.parentPath, d.name);
          modes.push({ path: relative(spillParent, p), mode: statSync(p).mode & 0o777 });
        }
      },
    });
    const plain = await mergeBundles({ inputs, outDir: join(root, 'plain'), policy: { kind: 'majority' } });
    expect(tiny.report.actions.conflicts).toBeGreaterThan(0);
    expect(await files(tiny.dir)).toEqual(await files(plain.dir));
    // One private folder of many runs (60 steps × 6 copies in runs of 3), each owner-only.
    const dirs = modes.filter((m) => !m.path.includes('/'));
    expect(dirs).toHaveLength(1);
    expect(dirs[0]!.mode).toBe(0o700);
    const runs = modes.filter((m) => m.path.includes('/'));
    expect(runs.length).toBeGreaterThan(100);
    expect(runs.every((m) => m.mode === 0o600)).toBe(true);
    expect(await readdir(spillParent)).toEqual([]);

    // A failure once the steps are spilled: conflicts the manual policy refuses.
    const err = await mergeBundles({ inputs, outDir: join(root, 'failed'), policy: { kind: 'manual' }, spillRunSize: 3 }).then(() => null, (e: unknown) => e as Error);
    expect(err?.message).toMatch(/conflict\(s\) to settle under the manual policy/);
    expect(await readdir(spillParent)).toEqual([]);

    // A cancel in the middle of writing.
    const ac = new AbortController();
    const cancelled = await mergeBundles({
      inputs, outDir: join(root, 'cancelled'), spillRunSize: 3, signal: ac.signal,
      onProgress: (_d, _t, stage) => {
        if (stage.startsWith('write')) ac.abort();
      },
    }).then(() => null, (e: unknown) => e as { code?: string });
    expect(cancelled?.code).toBe('CANCELLED');
    expect(await readdir(spillParent)).toEqual([]);
    expect(await stat(join(root, 'cancelled')).catch(() => null)).toBeNull();
  }, 300_000);
});
