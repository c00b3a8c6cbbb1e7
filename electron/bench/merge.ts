// Merge throughput (issue 12, item 6): N signed bundles of S steps each, as a lead
// collects them (a few sessions, each labelled by several annotators who disagree now
// and then), merged by action like `apollo merge`, beside reading the same bytes, with
// the peak memory the merge took above the process's start.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { SessionEvent, SessionEventBody } from '../../shared/events';
import { exportBundle } from '../core/dataset/bundle';
import { mergeBundles } from '../core/dataset/merge';
import { fileKeyStore, loadSigningKey } from '../core/dataset/signing';
import { peakRss, readAll } from './measure';

const BUNDLES = Number(process.env.BENCH_MERGE_BUNDLES ?? 50);
const STEPS = Number(process.env.BENCH_MERGE_STEPS ?? 2_000);
/** Annotators per session: bundles / this many sessions. */
const PER_SESSION = Number(process.env.BENCH_MERGE_PER_SESSION ?? 10);

/** A recorded session of `steps` actions (no request record: contexts are rebuilt, as for old logs). */
function sessionEvents(sessionNo: number, steps: number): SessionEvent[] {
  const events: SessionEvent[] = [];
  let seq = 0;
  let ts = 1_700_000_000_000 + sessionNo * 1e9;
  const add = (body: SessionEventBody): void => {
    events.push({ seq: ++seq, ts: (ts += 1000), ...body } as SessionEvent);
  };
  add({ type: 'session.created', name: `Merge bench ${sessionNo}`, cwd: '/work/task', appVersion: '0.1.0' });
  add({ type: 'rollout.started', rolloutId: 'r1', branchId: 'main', task: 'Tune the model', policy: 'model', maxSteps: steps + 1, parentStepId: null, endpoint: { profile: 'bench', baseUrl: 'http://127.0.0.1:1/v1', model: 'bench' } } as SessionEventBody);
  let parent: string | null = null;
  for (let i = 1; i <= steps; i++) {
    const id = `s${i}`;
    add({ type: 'step.started', stepId: id, parentId: parent, branchId: 'main', depth: i, rolloutId: 'r1' } as SessionEventBody);
    const call = { id: `c${i}`, name: 'run_command', arguments: JSON.stringify({ session_id: 'main', command: `python train.py --seed ${i}` }) };
    add({ type: 'model.response', stepId: id, content: i % 3 === 0 ? `Step ${i}: check the run.` : '', reasoning: '', toolCalls: [call], usage: { promptTokens: 100, completionTokens: 20, totalTokens: 120 }, finishReason: 'tool_calls', durationMs: 900 } as SessionEventBody);
    add({ type: 'action.result', stepId: id, toolCallId: call.id, name: call.name, observation: `epoch ${i % 10}/10 loss=0.${(i * 7919) % 10_000} acc=0.88`, isError: i % 23 === 0, durationMs: 200 } as SessionEventBody);
    add({ type: 'step.finished', stepId: id, promptTokens: 100 } as SessionEventBody);
    parent = id;
  }
  return events;
}

/** The session with one annotator's labels: they mostly agree, each disagrees on a few actions of their own. */
function labelled(events: SessionEvent[], steps: number, annotator: number): SessionEvent[] {
  const out = events.slice();
  let seq = out.at(-1)!.seq;
  let ts = out.at(-1)!.ts;
  for (let i = 1; i <= steps; i++) {
    const base = i % 23 === 0 || i % 50 === 0 ? 'mask' : 'keep';
    const flip = (i * 31 + annotator * 17) % 97 === 0;
    const label = flip ? (base === 'keep' ? 'mask' : 'keep') : base;
    out.push({ seq: ++seq, ts: (ts += 2000 + ((i * annotator) % 7) * 1000), type: 'label.set', stepId: `s${i}`, label, tags: label === 'mask' ? ['error'] : [], note: '', source: 'annotator', author: `annotator-${annotator}` } as SessionEvent);
  }
  return out;
}

/** The live heap (after a full GC): what the merge holds, apart from its garbage. */
function liveHeap(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

async function folderBytes(dir: string): Promise<{ bytes: number; files: string[] }> {
  const files: string[] = [];
  let bytes = 0;
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!d.isFile()) continue;
    const p = join(d.parentPath, d.name);
    files.push(p);
    bytes += (await stat(p)).size;
  }
  return { bytes, files };
}

/**
 * `bundles` signed bundles of `steps` steps under `dir`/merge-in, `perSession` annotators on
 * each session (bundle b labels session b mod sessions as annotator-b); their folders.
 */
export async function mergeBenchBundles(dir: string, o: { bundles: number; steps: number; perSession: number }): Promise<string[]> {
  const sessions = Math.max(1, Math.ceil(o.bundles / o.perSession));
  const bases = Array.from({ length: sessions }, (_, s) => sessionEvents(s, o.steps));
  const inputs: string[] = [];
  for (let b = 0; b < o.bundles; b++) {
    const key = (await loadSigningKey(fileKeyStore(join(dir, 'merge-keys', String(b))), `annotator-${b}`, { create: true }))!;
    const s = b % sessions;
    const outDir = join(dir, 'merge-in', `bundle-${b}`);
    // openai and trajectory: what merge reads; a short per-action history keeps the merged trainer files small.
    await exportBundle({
      home: dir, sessions: [{ sessionId: `bench-${s}`, events: labelled(bases[s]!, o.steps, b), sessionDir: join(dir, 'nowhere') }], outDir,
      formats: ['openai', 'trajectory'], secrets: [], appVersion: 'bench', historyTokens: 2048, sign: key,
    });
    inputs.push(outDir);
  }
  return inputs;
}

export async function benchMerge(dir: string): Promise<void> {
  const sessions = Math.max(1, Math.ceil(BUNDLES / PER_SESSION));
  const t0 = performance.now();
  const inputs = await mergeBenchBundles(dir, { bundles: BUNDLES, steps: STEPS, perSession: PER_SESSION });
  const genMs = performance.now() - t0;
  const all = await Promise.all(inputs.map(folderBytes));
  const bytes = all.reduce((n, x) => n + x.bytes, 0);
  const readMs = await readAll(all.flatMap((x) => x.files));
  const { value: r, mb } = await peakRss(async () => {
    const heapAtStart = liveHeap();
    let planHeap = 0;
    let gcMs = 0;
    const t = performance.now();
    const cpu = process.cpuUsage();
    const res = await mergeBundles({
      inputs, outDir: join(dir, 'merge-out'), policy: { kind: 'majority' },
      // Once, when the plan is made and writing starts: what verifying and planning hold.
      onProgress: (_d, _t, stage) => {
        if (planHeap || !stage.startsWith('write')) return;
        const g = performance.now();
        planHeap = liveHeap() - heapAtStart;
        gcMs = performance.now() - g;
      },
    });
    const used = process.cpuUsage(cpu);
    // CPU time too: on a shared machine it varies less than the wall time.
    return { res, ms: performance.now() - t - gcMs, cpuMs: (used.user + used.system) / 1000, planHeap };
  });
  const mbs = (ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
  const rep = r.res.report;
  console.log(`\nMerging ${BUNDLES} signed bundles of ${STEPS.toLocaleString()} steps (${sessions} session${sessions === 1 ? '' : 's'}, ${(bytes / 1e6).toFixed(0)} MB; exported in ${(genMs / 1000).toFixed(1)} s)`);
  console.log(`${'merge (verify + plan + write + validate), ms'.padEnd(46)} ${r.ms.toFixed(0).padStart(12)} ms   baseline ${readMs.toFixed(0).padStart(12)} ms   ${mbs(r.ms)} vs ${mbs(readMs)} reading the inputs   (CPU ${(r.cpuMs / 1000).toFixed(1)} s, peak +${mb.toFixed(0)} MB RSS, held when planned +${(r.planHeap / 1e6).toFixed(0)} MB heap after GC)`);
  console.log(`  ${rep.examples.in} examples in, ${rep.examples.out} out; ${rep.actions.total.toLocaleString()} actions, ${rep.actions.conflicts} conflicts; agreement on ${rep.agreement.items.toLocaleString()} actions, Fleiss' kappa ${rep.agreement.fleissKappa ?? 'n/a'}`);
}
