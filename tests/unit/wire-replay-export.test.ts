// The export of a session made by a replay (`apollo rollout --replay`). A replay re-runs
// the recorded actions of a source session with no model: no request is sent, and the
// observations are this run's, which the source model never reacted to. A replayed action
// is therefore never trained, whatever its labels (the source's mask does not come across,
// and an annotator's keep on the replay does not make it the model's reply to this
// context); the manifest counts it as `maskedBy.replayed` and says so, and no warning
// blames an old log. What is genuinely new on a replay session is trained as usual: a
// model that continues from a replayed step (in the context its endpoint received) and a
// hand-written action.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { branchPath, foldTrajectory } from '../../shared/trajectory';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { Rollout } from '../../electron/core/rollout/engine';
import { canonicalJson } from '../../electron/core/rollout/request-record';
import { mergeBundles } from '../../electron/core/dataset/merge';
import { exportBundle, type ExportBundleOptions } from '../../electron/core/dataset/bundle';
import { parseBundleManifest } from '../../electron/core/dataset/manifest-schema';
import { tool, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';
import { wireRig, type WireRig } from '../fixtures/wire-rig';
import * as lf from '../fixtures/trainers/llamafactory';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';

let home: string;
let cwd: string;
let ws: Workspace;
let pty: PtyHost;
let rig: WireRig;
let source: SessionLog;
let replay: SessionLog;
let script: (req: FakeRequest) => FakeReply = () => tool('finish', { message: 'unused' });
/** Requests the endpoint had received when the replay started and when it ended. */
let sentBeforeReplay = 0;
let sentAfterReplay = 0;

const endpoint = () => rig.endpoint('sk-test-wire-replay');
const llm = { retry: { baseDelayMs: 5, maxDelayMs: 20, maxRetries: 2, jitter: 0 }, timeoutMs: 5_000, idleTimeoutMs: 2_000 };
const label = (s: SessionLog, stepId: string, v: 'keep' | 'mask') => s.append({ type: 'label.set', stepId, label: v, tags: [], note: '', source: 'annotator', author: 'ann' });

beforeAll(async () => {
  rig = await wireRig('replay', (req) => script(req));
  ({ home, cwd, ws, pty } = rig);

  // The source: a model rollout whose first action the annotator masked.
  source = await ws.create({ cwd, name: 'replay source' });
  let n = 0;
  script = () => (++n === 1 ? tool('think', { thought: 'MARK-BAD rm -rf' }, { id: 'callS1' }) : tool('finish', { message: 'MARK-DONE' }, { id: 'callS2' }));
  expect(await new Rollout({ session: source, pty, endpoint: endpoint(), policy: 'model', task: 'Do it.', maxSteps: 10, cwd, llm }).run()).toBe('finished');
  const src = branchPath(foldTrajectory(source.events), 'main');
  await label(source, src[0]!.id, 'mask');
  await label(source, src[1]!.id, 'keep');

  // The replay: no endpoint, no request.
  sentBeforeReplay = rig.bodies.length;
  replay = await ws.create({ cwd, name: 'replay' });
  expect(await new Rollout({ session: replay, pty, endpoint: null, policy: 'replay', task: 'Do it.', maxSteps: 10, cwd, replaySource: source.events.slice() as SessionEvent[] }).run()).toBe('finished');
  sentAfterReplay = rig.bodies.length;
  const rep = branchPath(foldTrajectory(replay.events), 'main');
  // An annotator's keep on a replayed action does not make it trainable either.
  await label(replay, rep[1]!.id, 'keep');

  // A model continuing from the first replayed step: a request of its own, recorded.
  await replay.append({ type: 'branch.created', branchId: 'cont', fromStepId: rep[0]!.id, name: 'cont', author: 'ann', reason: 'branch' });
  script = () => tool('finish', { message: 'MARK-CONT' }, { id: 'callC1' });
  expect(await new Rollout({ session: replay, pty, endpoint: endpoint(), policy: 'model', task: 'Do it.', maxSteps: 5, cwd, llm, branchId: 'cont', parentStepId: rep[0]!.id }).run()).toBe('finished');

  // A hand-written action from the first replayed step (as `apollo branch --action` records it).
  await replay.append({ type: 'branch.created', branchId: 'hand', fromStepId: rep[0]!.id, name: 'hand', author: 'ann', reason: 'branch' });
  await replay.append({ type: 'rollout.started', rolloutId: 'hand-rollout', branchId: 'hand', task: 'Do it.', endpoint: null, policy: 'human', maxSteps: 1, parentStepId: rep[0]!.id });
  await replay.append({ type: 'step.started', stepId: 'hand-step', parentId: rep[0]!.id, branchId: 'hand', depth: rep[0]!.depth + 1, rolloutId: 'hand-rollout' });
  await replay.append({
    type: 'model.response', stepId: 'hand-step', content: '', reasoning: '', toolCalls: [{ id: 'hand_1', name: 'finish', arguments: JSON.stringify({ message: 'MARK-HAND' }) }],
    usage: null, finishReason: null, durationMs: 0, humanAuthored: true, author: 'ann', origin: 'hand',
  });
  await replay.append({ type: 'step.finished', stepId: 'hand-step', promptTokens: 0 });
}, 120_000);

afterAll(async () => {
  await rig?.close();
});

async function exportOf(s: SessionLog, name: string, over: Partial<ExportBundleOptions> = {}) {
  const dir = join(home, name);
  const r = await exportBundle({
    home, sessions: [{ sessionId: s.id, events: s.events.slice() as SessionEvent[], sessionDir: s.dir }], outDir: dir,
    formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: [], appVersion: 'test', bundleCache: false, castCache: false, ...over,
  });
  const lines = async (f: string) => (r.manifest.files.some((x) => x.path === f) ? parseJsonl(await readFile(join(dir, f), 'utf8')) : []);
  return { dir, manifest: r.manifest, openai: await lines('openai.jsonl'), sharegpt: await lines('sharegpt.jsonl'), mistral: await lines('mistral.jsonl') };
}

const markerIn = (v: unknown): string => /MARK-[A-Z]+/.exec(JSON.stringify(v))?.[0] ?? `?${JSON.stringify(v).slice(0, 60)}`;

describe('a replayed session exported', () => {
  it('the replay sent no request: no context of it is one a model answered', () => {
    expect(sentBeforeReplay).toBe(2);
    expect(sentAfterReplay).toBe(sentBeforeReplay);
    const t = foldTrajectory(replay.events);
    expect(branchPath(t, 'main').map((s) => s.response?.origin)).toEqual(['replay', 'replay']);
    expect(branchPath(t, 'main').every((s) => !s.requestId && !s.response?.requestId)).toBe(true);
  });

  it('the source\'s export trains only what its annotator kept', async () => {
    const e = await exportOf(source, 'source', { formats: ['openai'] });
    expect(e.openai.flatMap((l) => oa.trainedTurns(l).trained.map((x) => markerIn([x.text, x.toolCalls])))).toEqual(['MARK-DONE']);
  });

  it('trains no replayed action in any trainer file, only the continuation and the hand-written action', async () => {
    const e = await exportOf(replay, 'replay');
    const openai = e.openai.flatMap((l) => {
      expect(oa.validate(l)).toEqual([]);
      return oa.trainedTurns(l).trained.map((x) => markerIn([x.text, x.toolCalls]));
    });
    expect(openai.sort()).toEqual(['MARK-CONT', 'MARK-HAND']);
    const info = JSON.parse(await readFile(join(e.dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
    const sharegpt = lf.trainedTurnsOfFile(e.sharegpt, info, 'apollo', { mask_history: true }).flatMap((r) => {
      expect(r.dropped).toBeUndefined();
      return r.trained.map((x) => markerIn(x.text));
    });
    expect(sharegpt.sort()).toEqual(['MARK-CONT', 'MARK-HAND']);
    for (const chunk of [true, false]) {
      const mistral = e.mistral.flatMap((l) => mi.trainedTurns(l, { dynamicChunkFnCall: chunk }).trained.map((x) => markerIn([x.text, x.toolCalls])));
      expect(mistral.sort()).toEqual(['MARK-CONT', 'MARK-HAND']);
    }
    // Present as context only, weight 0.
    expect(JSON.stringify(e.openai)).toContain('MARK-BAD');
  });

  it('the continuation\'s example is the request its endpoint received, plus its reply', async () => {
    const e = await exportOf(replay, 'replay-wire', { formats: ['openai'] });
    const cont = rig.bodies.at(-1)!.body as { messages: Array<Record<string, unknown>>; tools: unknown[] };
    const line = (e.openai as Array<{ messages: Array<Record<string, unknown>>; tools?: unknown[] }>).find((l) => markerIn(l.messages.at(-1)) === 'MARK-CONT')!;
    expect(line).toBeDefined();
    const strip = ({ weight: _w, ...m }: Record<string, unknown>) => m;
    const wire = cont.messages.map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null)));
    expect(canonicalJson(line.messages.slice(0, -1).map(strip))).toBe(canonicalJson(wire));
    expect(line.tools).toEqual(cont.tools);
    expect(e.manifest.trajectories.find((x) => x.trainedSteps.length && x.branchId === 'cont')?.context).toBe('recorded');
  });

  it('the manifest counts the replayed actions as their own reason, and its warnings say why instead of blaming an old log', async () => {
    const e = await exportOf(replay, 'replay-manifest');
    const c = e.manifest.counts;
    expect(c.actions).toBe(4);
    expect(c.kept).toBe(2);
    expect(c.masked).toBe(2);
    expect(c.maskedBy.replayed).toBe(2);
    expect(c.maskedBy.annotator).toBe(0);
    // Unreviewed: the continuation and the hand-written action. A replayed action is not
    // (no policy trains it), whether labelled on the replay (step 2) or not (step 1).
    expect(c.unlabelled).toBe(2);
    const w = e.manifest.warnings;
    expect(w.some((x) => /2 action\(s\) were replayed/.test(x) && /not trained/.test(x))).toBe(true);
    expect(w.some((x) => /recorded before the request record/.test(x))).toBe(false);
    // The hand-written action's context was rebuilt because of the replayed step in it.
    expect(w.some((x) => /1 example\(s\) hold replayed steps/.test(x))).toBe(true);
    const parsed = parseBundleManifest(JSON.parse(await readFile(join(e.dir, 'manifest.json'), 'utf8')));
    expect('error' in parsed ? parsed.error : null).toBeNull();
  });

  it('the unreviewed policy does not count a replayed action: refuse exports once what is new is labelled', async () => {
    const t = foldTrajectory(replay.events);
    // Label what is new, so only replayed actions are left without a label.
    for (const id of ['hand-step', branchPath(t, 'cont').at(-1)!.id]) await label(replay, id, 'keep');
    const refuse = await exportOf(replay, 'replay-refuse', { formats: ['openai'], labelPolicy: { unlabelled: 'refuse' } });
    expect(refuse.manifest.counts.unlabelled).toBe(0);
    expect(refuse.openai.flatMap((l) => oa.trainedTurns(l).trained.map((x) => markerIn([x.text, x.toolCalls]))).sort()).toEqual(['MARK-CONT', 'MARK-HAND']);
  });
});

describe('a merge of the replay\'s bundle', () => {
  it('trains no replayed action either: the trajectory lines say replayed, and the merge keeps it masked', async () => {
    const e = await exportOf(replay, 'replay-to-merge');
    const merged = join(home, 'replay-merged');
    const m = await mergeBundles({ inputs: [e.dir], outDir: merged, allowUnsigned: true });
    const trained = (parseJsonl(await readFile(join(merged, 'openai.jsonl'), 'utf8'))).flatMap((l) => oa.trainedTurns(l).trained.map((x) => markerIn([x.text, x.toolCalls])));
    const exported = e.openai.flatMap((l) => oa.trainedTurns(l).trained.map((x) => markerIn([x.text, x.toolCalls])));
    expect(trained).toEqual(exported);
    expect(m.manifest.counts.maskedBy.replayed).toBe(e.manifest.counts.maskedBy.replayed);
    expect(e.manifest.counts.maskedBy.replayed).toBeGreaterThan(0);
  });
});
