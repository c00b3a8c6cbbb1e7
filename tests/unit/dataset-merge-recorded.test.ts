// Merge on contexts from the request record: a real rollout (real PTY, the scripted
// endpoint over HTTP) with a branch, labelled differently by two annotators, each
// exporting their copy. The merged examples must be the requests the endpoint
// received (re-weighed, not rebuilt), and every trainer must train exactly the
// actions the policy keeps, each once.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { branchPath, foldTrajectory } from '../../shared/trajectory';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { Rollout } from '../../electron/core/rollout/engine';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { canonicalJson } from '../../electron/core/rollout/request-record';
import { mergeBundles, type MergeBundlesOptions, type MergePolicy } from '../../electron/core/dataset/merge';
import { startFakeLlm, text, tool, type FakeLlm, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import * as lf from '../fixtures/trainers/llamafactory';
import * as ax from '../fixtures/trainers/axolotl';
import { parseJsonl } from '../fixtures/trainers/common';
import { parseYamlSubset } from '../fixtures/trainers/yaml-subset';

let home: string;
let cwd: string;
let ws: Workspace;
let pty: PtyHost;
let server: FakeLlm;
let session: SessionLog;
let script: (req: FakeRequest) => FakeReply = () => tool('finish', { message: 'unused' });
const ids: Record<string, string> = {};
const bundles: Record<'ann' | 'ben', string> = { ann: '', ben: '' };

const endpoint = () => ({ profile: 'fake', baseURL: server.url, apiKey: 'sk-test-merge', model: 'fake-model', temperature: 0, toolMode: 'tools' as const });
const llm = { retry: { baseDelayMs: 5, maxDelayMs: 20, maxRetries: 2, jitter: 0 }, timeoutMs: 5_000, idleTimeoutMs: 2_000 };

function rollout(over: Partial<ConstructorParameters<typeof Rollout>[0]> = {}, on: SessionLog = session): Rollout {
  return new Rollout({
    session: on, pty, endpoint: endpoint(), policy: 'model', task: 'Make some files.', maxSteps: 20, cwd, llm,
    tools: { commandTimeoutMs: 10_000, settleMs: 300 }, ...over,
  });
}

/** The session's events as an annotator's copy: their labels appended. */
function copyWith(author: string, labels: Record<string, 'keep' | 'mask'>, of: SessionLog = session, stepIds: Record<string, string> = ids): SessionEvent[] {
  const out = of.events.slice() as SessionEvent[];
  let seq = out.at(-1)!.seq;
  let ts = out.at(-1)!.ts + (author === 'ann' ? 1000 : 100_000);
  for (const [m, label] of Object.entries(labels)) {
    out.push({ seq: ++seq, ts: (ts += 10), type: 'label.set', stepId: stepIds[m]!, label, tags: [], note: '', source: 'annotator', author } as SessionEvent);
  }
  return out;
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-merge-rec-'));
  cwd = await mkdtemp(join(tmpdir(), 'apollo-merge-rec-cwd-'));
  ws = await Workspace.open(home);
  pty = new PtyHost({ resourcesDir: resolve('resources'), events: { data: () => undefined, changed: () => undefined }, env: { ...process.env, SHELL: '/bin/bash', HISTFILE: '/dev/null' } });
  server = await startFakeLlm((req) => script(req));
  session = await ws.create({ cwd, name: 'merge recorded' });
  // main: M1..M3 commands, M4 finish; alt from M2: A1, then A2 finish.
  let n = 0;
  script = () => {
    n++;
    if (n === 4) return tool('finish', { message: 'MARK-M4 done' }, { id: 'callM4' });
    return tool('run_command', { session_id: 'main', command: `echo MARK-M${n}` }, { id: `callM${n}` });
  };
  expect(await rollout().run()).toBe('finished');
  const main = branchPath(foldTrajectory(session.events), 'main');
  main.forEach((s, i) => (ids[`M${i + 1}`] = s.id));
  let a = 0;
  script = () => {
    a++;
    if (a === 2) return tool('finish', { message: 'MARK-A2 done' }, { id: 'callA2' });
    return tool('think', { thought: 'MARK-A1' }, { id: 'callA1' });
  };
  await session.append({ type: 'branch.created', branchId: 'alt', fromStepId: ids.M2!, name: 'alt', author: 'ann', reason: 'branch' });
  expect(await rollout({ branchId: 'alt', parentStepId: ids.M2! }).run()).toBe('finished');
  branchPath(foldTrajectory(session.events), 'alt').slice(2).forEach((s, i) => (ids[`A${i + 1}`] = s.id));

  const exportCopy = async (who: 'ann' | 'ben', labels: Record<string, 'keep' | 'mask'>): Promise<void> => {
    bundles[who] = join(home, 'bundles', who);
    await exportBundle({
      home, sessions: [{ sessionId: session.id, events: copyWith(who, labels), sessionDir: session.dir }], outDir: bundles[who],
      formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: ['sk-test-merge'], appVersion: 'test',
    });
  };
  await exportCopy('ann', { M1: 'keep', M2: 'mask', M3: 'keep', M4: 'keep', A1: 'keep', A2: 'keep' });
  await exportCopy('ben', { M1: 'keep', M2: 'keep', M3: 'mask', M4: 'keep', A1: 'mask', A2: 'keep' });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await pty?.dispose();
  await ws?.close();
  await rm(home, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

const markerIn = (v: unknown): string => /MARK-([A-Z0-9]+)|(SUM-\d+)/.exec(JSON.stringify(v))?.slice(1).find((x) => x) ?? `?${JSON.stringify(v).slice(0, 60)}`;
const stripWeights = (l: unknown): unknown => ({ ...(l as object), messages: (l as { messages: Array<Record<string, unknown>> }).messages.map(({ weight: _w, ...m }) => m) });

let k = 0;
// The bundles here are exported unsigned (signatures are dataset-signing.test.ts's subject).
const merge = (over: Partial<MergeBundlesOptions>) => mergeBundles({ inputs: [bundles.ann, bundles.ben], outDir: join(home, 'merged', `m${++k}`), appVersion: 'test', allowUnsigned: true, ...over });

describe('merge of recorded contexts', () => {
  it('writes the requests the endpoint received, re-weighed, and trains exactly what each policy keeps', async () => {
    const inputs = [...parseJsonl(await readFile(join(bundles.ann, 'openai.jsonl'), 'utf8')), ...parseJsonl(await readFile(join(bundles.ben, 'openai.jsonl'), 'utf8'))].map((l) => JSON.stringify(stripWeights(l)));
    const cases: Array<[MergePolicy, string[]]> = [
      [{ kind: 'any-mask' }, ['M1', 'M4', 'A2']],
      [{ kind: 'prefer', annotators: ['ben'] }, ['M1', 'M2', 'M4', 'A2']],
      [{ kind: 'prefer', annotators: ['ann'] }, ['M1', 'M3', 'M4', 'A1', 'A2']],
    ];
    for (const [policy, want] of cases) {
      const r = await merge({ policy });
      expect(r.manifest.trajectories.every((t) => t.context !== 'reconstructed')).toBe(true);
      const lines = parseJsonl(await readFile(join(r.dir, 'openai.jsonl'), 'utf8'));
      // Each merged example is one of the inputs' examples, weights aside: the exact context, never rebuilt.
      for (const l of lines) expect(inputs).toContain(JSON.stringify(stripWeights(l)));
      const trained = lines.flatMap((l) => {
        expect(oa.validate(l)).toEqual([]);
        return oa.trainedTurns(l).trained.map((t) => markerIn([t.text, t.toolCalls]));
      });
      expect(trained.sort(), JSON.stringify(policy)).toEqual([...want].sort());
      const info = JSON.parse(await readFile(join(r.dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
      const train = parseYamlSubset(await readFile(join(r.dir, 'llamafactory.yaml'), 'utf8')) as { dataset: string };
      const lfTrained = lf.trainedTurnsOfFile(parseJsonl(await readFile(join(r.dir, 'sharegpt.jsonl'), 'utf8')), info, train.dataset, { mask_history: true }).flatMap((x) => x.trained.map((t) => markerIn(t.text)));
      expect(lfTrained.sort()).toEqual([...want].sort());
      const miTrained = parseJsonl(await readFile(join(r.dir, 'mistral.jsonl'), 'utf8')).flatMap((l) => mi.trainedTurns(l).trained.map((t) => markerIn([t.text, t.toolCalls])));
      expect(miTrained.sort()).toEqual([...want].sort());
    }
  });
});

describe('merge of summarized sessions with their summary examples', () => {
  it('trains every window\'s kept actions and each summary once', async () => {
    const s = await ws.create({ cwd, name: 'summaries' });
    let k = 0;
    const isSummary = (q: FakeRequest) => JSON.stringify(q.body.messages.at(-1) ?? {}).includes('state_snapshot');
    script = (req) => {
      if (isSummary(req)) return text(`<state_snapshot>SUM-${k}</state_snapshot>`);
      k++;
      if (k >= 16) return tool('finish', { message: `MARK-Z${k}` }, { id: `callZ${k}` });
      return tool('think', { thought: `MARK-Z${k} ${'pad '.repeat(300)}` }, { id: `callZ${k}` });
    };
    expect(await rollout({ summarizeAtTokens: 4_000, keepRecentSteps: 2 }, s).run()).toBe('finished');
    const zIds: Record<string, string> = {};
    branchPath(foldTrajectory(s.events), 'main').forEach((st, i) => (zIds[`Z${i + 1}`] = st.id));
    const out = async (who: string, labels: Record<string, 'keep' | 'mask'>): Promise<string> => {
      const dir = join(home, 'bundles', `sum-${who}`);
      await exportBundle({
        home, sessions: [{ sessionId: s.id, events: copyWith(who, labels, s, zIds), sessionDir: s.dir }], outDir: dir,
        formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: [], appVersion: 'test', includeSummaries: true,
      });
      return dir;
    };
    const a = await out('ann', { Z3: 'mask' });
    const b = await out('ben', { Z5: 'mask', Z3: 'keep' });
    const r = await mergeBundles({ inputs: [a, b], outDir: join(home, 'merged', 'sum'), appVersion: 'test', allowUnsigned: true });
    const kinds = r.manifest.trajectories.map((t) => t.kind);
    expect(kinds.filter((x) => x === 'summary').length).toBeGreaterThanOrEqual(2);
    const sums = kinds.filter((x) => x === 'summary').length;
    const lines = parseJsonl(await readFile(join(r.dir, 'openai.jsonl'), 'utf8'));
    const trained = lines.flatMap((l) => oa.trainedTurns(l).trained.map((t) => markerIn([t.text, t.toolCalls])));
    const want = [...Array.from({ length: 16 }, (_, i) => `Z${i + 1}`).filter((z) => z !== 'Z3' && z !== 'Z5')];
    expect(trained.filter((x) => x.startsWith('Z')).sort()).toEqual(want.sort());
    expect(trained.filter((x) => x.startsWith('SUM-'))).toHaveLength(sums);
    expect(new Set(trained).size).toBe(trained.length);
    const miTrained = parseJsonl(await readFile(join(r.dir, 'mistral.jsonl'), 'utf8')).flatMap((l) => mi.trainedTurns(l).trained.map((t) => markerIn([t.text, t.toolCalls])));
    expect(miTrained.sort()).toEqual([...trained].sort());
    // Against the wire: in each export and in the merge, every trained turn of a window and every
    // turn the manifest says is in its own context follows exactly a request the endpoint received
    // (the recent steps a summary kept are context after it, never trained there).
    // (Compared as JSON values: an assistant turn's `content: null` beside its calls is written
    // without the key, and a tool turn's keys in another order.)
    const wire = (ms: Array<Record<string, unknown>>) => canonicalJson(ms.map(({ weight: _w, ...m }) => (m.content === null ? (({ content: _c, ...rest }) => rest)(m) : m)));
    const received = new Set(server.requests.map((q) => wire(q.body.messages as Array<Record<string, unknown>>)));
    let repeated = 0;
    for (const dir of [a, b, r.dir]) {
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { trajectories: Array<{ kind: string; ownContext?: boolean[] }> };
      const exported = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8')) as Array<{ messages: Array<Record<string, unknown>> }>;
      exported.forEach((line, k) => {
        const t = manifest.trajectories[k]!;
        let turn = 0;
        line.messages.forEach((m, i) => {
          if (m.role !== 'assistant') return;
          const own = t.ownContext![turn++]!;
          if (m.weight === 1) expect(own, `${dir} line ${k + 1} message ${i}`).toBe(true);
          if (!own && t.kind === 'window') repeated++;
          if (!own || t.kind !== 'window') return;
          const before = wire(line.messages.slice(0, i));
          expect(received.has(before), `${dir} line ${k + 1} message ${i}: the messages before it are a request the endpoint received`).toBe(true);
        });
      });
    }
    // The recent steps kept after each summary: context there, not their own.
    expect(repeated).toBeGreaterThan(0);
  });
});

describe('a reasoning model\'s rollout exported with its reasoning (openai reasoning: field)', () => {
  it('shows only the last trained turn\'s reasoning, as streamed; every context before a trained turn is a request the endpoint received', async () => {
    const s = await ws.create({ cwd, name: 'reasoning' });
    let k = 0;
    script = () => {
      k++;
      if (k === 4) return tool('finish', { message: 'MARK-R4 done' }, { id: 'callR4', reasoning: 'THINK-4 all done' });
      return tool('run_command', { session_id: 'main', command: `echo MARK-R${k}` }, { id: `callR${k}`, reasoning: `THINK-${k} next` });
    };
    const before = server.requests.length;
    expect(await rollout({}, s).run()).toBe('finished');
    const dir = join(home, 'bundles', 'reasoning');
    await exportBundle({
      home, sessions: [{ sessionId: s.id, events: s.events.slice(), sessionDir: s.dir }], outDir: dir,
      formats: ['openai'], secrets: [], appVersion: 'test', openai: { reasoning: 'field' }, labelPolicy: { unlabelled: 'keep' },
    });
    const wire = (ms: Array<Record<string, unknown>>) => canonicalJson(ms.map(({ weight: _w, ...m }) => (m.content === null ? (({ content: _c, ...rest }) => rest)(m) : m)));
    const requests = server.requests.slice(before);
    const received = new Set(requests.map((q) => wire(q.body.messages as Array<Record<string, unknown>>)));
    // The engine never sent reasoning back: no request holds any.
    expect(requests.some((q) => JSON.stringify(q.body.messages).includes('reasoning_content'))).toBe(false);
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8')) as Array<{ messages: Array<Record<string, unknown>> }>;
    const yml = parseYamlSubset(await readFile(join(dir, 'axolotl.yml'), 'utf8')) as ax.AxolotlConfig;
    const [ds] = ax.chatTemplateDatasets(yml);
    let trainedTurns = 0;
    for (const line of lines) {
      expect(oa.validate(line).filter((e) => !/reasoning_content/.test(e))).toEqual([]);
      const trainedAt = line.messages.flatMap((m, i) => (m.role === 'assistant' && m.weight === 1 ? [i] : []));
      trainedTurns += trainedAt.length;
      for (const i of trainedAt) {
        // The messages before each trained turn are exactly a request, reasoning included (there is none).
        expect(received.has(wire(line.messages.slice(0, i))), `message ${i}: a request the endpoint received`).toBe(true);
      }
      // Reasoning on the last trained turn only, as the endpoint streamed it for that reply.
      const shown = line.messages.flatMap((m, i) => (typeof m.reasoning_content === 'string' ? [i] : []));
      expect(shown).toEqual([trainedAt.at(-1)]);
      const n = /MARK-R(\d)/.exec(JSON.stringify(line.messages[trainedAt.at(-1)!]))![1];
      expect(line.messages[trainedAt.at(-1)!]!.reasoning_content).toMatch(new RegExp(`^THINK-${n} `));
      // axolotl trains exactly the weight-1 turns, and none of their contexts carries reasoning.
      expect(ax.trainedTurns(line, ds!, yml).trained.map((t) => t.index)).toEqual(trainedAt);
    }
    expect(trainedTurns).toBe(4);
  });
});
