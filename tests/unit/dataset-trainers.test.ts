// Datasets that every trainer reads right. Real rollouts (real PTY, the scripted
// endpoint over HTTP) on three branches, labelled by an annotator, exported to a
// bundle; then each trainer file is read with that trainer's own rules (ported in
// tests/fixtures/trainers) and must train exactly the kept actions, each once, with
// the context the endpoint actually received.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { branchPath, foldTrajectory, type Trajectory } from '../../shared/trajectory';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { Rollout } from '../../electron/core/rollout/engine';
import { canonicalJson } from '../../electron/core/rollout/request-record';
import { exportBundle, type ExportBundleOptions, type Manifest } from '../../electron/core/dataset/bundle';
import { startFakeLlm, text, tool, type FakeLlm, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';
import * as lf from '../fixtures/trainers/llamafactory';
import * as ax from '../fixtures/trainers/axolotl';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';
import { parseYamlSubset } from '../fixtures/trainers/yaml-subset';
import { treeHashes } from '../fixtures/tree-hashes';
import { reportProblems } from '../fixtures/redaction-report';
import type { MaskedTurnReport, RedactionReport } from '../../electron/core/dataset/redact';

let home: string;
let cwd: string;
let ws: Workspace;
let pty: PtyHost;
let server: FakeLlm;
let tools: SessionLog;
let textMode: SessionLog;
const bodies: FakeRequest[] = [];

const endpoint = (toolMode: 'tools' | 'text' = 'tools') => ({ profile: 'fake', baseURL: server.url, apiKey: 'sk-test-trainers', model: 'fake-model', temperature: 0, toolMode });
const llm = { retry: { baseDelayMs: 5, maxDelayMs: 20, maxRetries: 2, jitter: 0 }, timeoutMs: 5_000, idleTimeoutMs: 2_000 };

function rollout(session: SessionLog, over: Partial<ConstructorParameters<typeof Rollout>[0]> = {}): Rollout {
  return new Rollout({
    session, pty, endpoint: endpoint(), policy: 'model', task: 'Make some files.', maxSteps: 20, cwd, llm,
    tools: { commandTimeoutMs: 10_000, settleMs: 300 }, ...over,
  });
}

/** Script: each reply names its step by a marker the tests can find in any format. */
let script: (req: FakeRequest) => FakeReply = () => text('unused');

async function label(session: SessionLog, stepId: string, value: 'keep' | 'mask'): Promise<void> {
  await session.append({ type: 'label.set', stepId, label: value, tags: value === 'mask' ? ['error'] : [], note: '', source: 'annotator', author: 'ann' });
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-trainers-'));
  cwd = await mkdtemp(join(tmpdir(), 'apollo-trainers-cwd-'));
  ws = await Workspace.open(home);
  pty = new PtyHost({ resourcesDir: resolve('resources'), events: { data: () => undefined, changed: () => undefined }, env: { ...process.env, SHELL: '/bin/bash', HISTFILE: '/dev/null' } });
  server = await startFakeLlm((req) => {
    bodies.push(req);
    return script(req);
  });

  // Tool mode, main: M1..M6 (M3 an invalid call, M4 no tool call), guidance before M3.
  tools = await ws.create({ cwd, name: 'trainers tools' });
  let n = 0;
  const holder: { r?: Rollout } = {};
  script = () => {
    n++;
    if (n === 2) void holder.r!.queueGuidance('GUIDE-MAIN use files', 'ann');
    if (n === 3) return tool('create_file', '{"path": "x.txt", "content": "cut', { id: 'callM3' });
    if (n === 4) return text('REPLY-M4 thinking without a tool');
    if (n === 6) return tool('finish', { message: 'MARK-M6 done' }, { id: 'callM6' });
    return tool('run_command', { session_id: 'main', command: `echo MARK-M${n}` }, { id: `callM${n}` });
  };
  holder.r = rollout(tools);
  expect(await holder.r.run()).toBe('finished');
  const t0 = foldTrajectory(tools.events);
  const main = branchPath(t0, 'main');
  // Branch alt from step 2 (shares M1, M2): A1, A2 then finish A3.
  let a = 0;
  script = () => {
    a++;
    if (a === 3) return tool('finish', { message: 'MARK-A3 done' }, { id: 'callA3' });
    return tool('think', { thought: `MARK-A${a}` }, { id: `callA${a}` });
  };
  await tools.append({ type: 'branch.created', branchId: 'alt', fromStepId: main[1]!.id, name: 'alt', author: 'ann', reason: 'branch' });
  expect(await rollout(tools, { branchId: 'alt', parentStepId: main[1]!.id }).run()).toBe('finished');
  // Branch third from step 1 (shares M1): T1, then finish T2; all of it masked.
  let b = 0;
  script = () => {
    b++;
    if (b === 2) return tool('finish', { message: 'MARK-T2 done' }, { id: 'callT2' });
    return tool('think', { thought: 'MARK-T1' }, { id: 'callT1' });
  };
  await tools.append({ type: 'branch.created', branchId: 'third', fromStepId: main[0]!.id, name: 'third', author: 'ann', reason: 'branch' });
  expect(await rollout(tools, { branchId: 'third', parentStepId: main[0]!.id }).run()).toBe('finished');

  const t = foldTrajectory(tools.events);
  const alt = branchPath(t, 'alt');
  const third = branchPath(t, 'third');
  // Labels: keep M1, M2, M5, M6; mask M3 (invalid) and M4; A1 masked, A2, A3 kept; T* masked.
  for (const [i, v] of [[0, 'keep'], [1, 'keep'], [2, 'mask'], [3, 'mask'], [4, 'keep'], [5, 'keep']] as const) await label(tools, main[i]!.id, v);
  await label(tools, alt[2]!.id, 'mask');
  await label(tools, alt[3]!.id, 'keep');
  await label(tools, alt[4]!.id, 'keep');
  await label(tools, third[1]!.id, 'mask');
  await label(tools, third[2]!.id, 'mask');

  // Text-action mode session: X1 (bash block), X2 finish; both kept.
  textMode = await ws.create({ cwd, name: 'trainers text' });
  let x = 0;
  script = () => {
    x++;
    if (x === 1) return text('MARK-X1 listing.\n```bash\necho text-$((40+2))\n```');
    return text('MARK-X2 done.\n```json\n{"name": "finish", "arguments": {"message": "ok"}}\n```');
  };
  expect(await rollout(textMode, { endpoint: endpoint('text') }).run()).toBe('finished');
  for (const s of foldTrajectory(textMode.events).steps.values()) await label(textMode, s.id, 'keep');
}, 120_000);

afterAll(async () => {
  await server?.close();
  await pty?.dispose();
  await ws?.close();
  await rm(home, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

function exportOpts(outDir: string, over: Partial<ExportBundleOptions> = {}): ExportBundleOptions {
  return {
    home,
    sessions: [tools, textMode].map((s) => ({ sessionId: s.id, events: s.events.slice() as SessionEvent[], sessionDir: s.dir })),
    outDir, formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: ['sk-test-trainers'], appVersion: 'test', ...over,
  };
}

/** Markers of the steps an annotator kept, per session. */
function markerOf(t: Trajectory, stepId: string): string {
  const r = t.steps.get(stepId)!.response!;
  const m = /MARK-[A-Z]\d+|REPLY-M4|callM3/.exec(r.content + r.toolCalls.map((c) => c.arguments + c.id).join(' '));
  return m ? m[0] : stepId;
}

const KEPT = ['MARK-M1', 'MARK-M2', 'MARK-M5', 'MARK-M6', 'MARK-A2', 'MARK-A3', 'MARK-X1', 'MARK-X2'].sort();

/** Which marker a trained turn's text or tool calls carry. */
function markerIn(v: unknown): string {
  const m = /MARK-[A-Z]\d+|REPLY-M4|callM3|cut/.exec(JSON.stringify(v));
  return m ? (m[0] === 'cut' ? 'callM3' : m[0]) : `?${JSON.stringify(v).slice(0, 80)}`;
}

describe('trainer files', () => {
  let dir: string;
  let manifest: Manifest;
  beforeAll(async () => {
    // Exported twice, the sessions named by their logs' digests as export jobs name them: every check
    // below reads the second bundle, copied from what the first kept, which must be the first byte for byte.
    const named = (o: ExportBundleOptions): ExportBundleOptions => ({
      ...o, sessions: o.sessions.map((x) => ({ ...x, eventsDigest: [tools, textMode].find((s) => s.id === x.sessionId)!.eventsDigest! })),
    });
    const built = join(home, 'bundle-built');
    expect((await exportBundle(named(exportOpts(built)))).reused).toBeUndefined();
    dir = join(home, 'bundle');
    const r = await exportBundle(named(exportOpts(dir)));
    expect(r.reused).toBe(true);
    expect(await treeHashes(dir)).toEqual(await treeHashes(built));
    manifest = r.manifest;
  });

  it('openai.jsonl: each example is a request the endpoint received, plus its reply', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8')) as Array<{ messages: Array<Record<string, unknown>>; tools?: unknown[] }>;
    expect(lines.length).toBeGreaterThan(0);
    const strip = (m: Record<string, unknown>) => {
      const { weight: _w, ...rest } = m;
      return rest;
    };
    // The wire form drops `content: null`; so does the export.
    const wire = bodies.map((q) => ({ tools: q.body.tools, messages: (q.body.messages as Array<Record<string, unknown>>).map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null))) }));
    // Key order is not part of JSON's meaning: compare canonical forms.
    const canon = (v: unknown): string => canonicalJson(v);
    for (const line of lines) {
      const ctx = line.messages.slice(0, -1).map(strip);
      const match = wire.find((w) => canon(w.messages) === canon(ctx));
      expect(match, `no request matches ${JSON.stringify(ctx).slice(0, 200)}`).toBeDefined();
      expect(line.tools).toEqual(match!.tools);
      // Its reply is what the next request carried as that assistant turn, when there is one.
      const next = wire.find((w) => w.messages.length > ctx.length && canon(w.messages.slice(0, ctx.length)) === canon(ctx));
      if (next) expect(strip(line.messages.at(-1)!)).toEqual(next.messages[ctx.length]);
    }
    // The task turn, the invalid-call feedback and the no-tool-call feedback as sent.
    const all = JSON.stringify(lines);
    expect(all).toContain('\\n<task_description>\\nMake some files.\\n</task_description>\\n');
    expect(all).toContain('invalid_arguments');
    expect(all).toContain('your reply contained no tool call');
    expect(all).not.toContain('"_raw"');
  });

  it('OpenAI trains exactly the kept actions, each once', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8'));
    const trained: string[] = [];
    for (const l of lines) {
      expect(oa.validate(l)).toEqual([]);
      trained.push(...oa.trainedTurns(l).trained.map((x) => markerIn([x.text, x.toolCalls])));
    }
    expect(trained.sort()).toEqual(KEPT);
  });

  it('Axolotl, with the bundle\'s axolotl.yml, trains exactly the kept actions, each once', async () => {
    const cfg = parseYamlSubset(await readFile(join(dir, 'axolotl.yml'), 'utf8')) as ax.AxolotlConfig;
    const [ds] = ax.chatTemplateDatasets(cfg);
    expect(ds).toBeDefined();
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8'));
    const trained: string[] = [];
    for (const l of lines) {
      const r = ax.trainedTurns(l, ds!, cfg);
      expect(r.error).toBeUndefined();
      expect(r.dropped).toBeUndefined();
      trained.push(...r.trained.map((x) => markerIn([x.text, x.toolCalls])));
    }
    expect(trained.sort()).toEqual(KEPT);
  });

  it('LLaMA-Factory, with dataset_info.json and llamafactory.yaml, trains exactly the kept actions', async () => {
    const info = JSON.parse(await readFile(join(dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
    const train = parseYamlSubset(await readFile(join(dir, 'llamafactory.yaml'), 'utf8')) as { mask_history: boolean; dataset: string; cutoff_len: number };
    expect(train.mask_history).toBe(true);
    const lines = parseJsonl(await readFile(join(dir, 'sharegpt.jsonl'), 'utf8'));
    const results = lf.trainedTurnsOfFile(lines, info, train.dataset, { mask_history: train.mask_history });
    const trained: string[] = [];
    for (const r of results) {
      expect(r.dropped).toBeUndefined();
      trained.push(...r.trained.map((x) => markerIn(x.text)));
    }
    expect(trained.sort()).toEqual(KEPT);
    // Without mask_history it would train every reply of the history too: the flag matters.
    const loose = lf.trainedTurnsOfFile(lines, info, train.dataset, {}).flatMap((r) => r.trained.map((x) => markerIn(x.text)));
    expect(loose.length).toBeGreaterThan(KEPT.length);
    expect(manifest.actions.length).toBe(lines.length);
  });

  it('mistral-finetune trains exactly the kept actions, with or without dynamic chunking', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'mistral.jsonl'), 'utf8'));
    for (const chunk of [true, false]) {
      const trained: string[] = [];
      for (const l of lines) {
        const r = mi.trainedTurns(l, { dynamicChunkFnCall: chunk });
        expect(r.error).toBeUndefined();
        trained.push(...r.trained.map((x) => markerIn([x.text, x.toolCalls])));
      }
      expect(trained.sort()).toEqual(KEPT);
    }
    for (const l of lines as Array<{ messages: Array<{ tool_calls?: Array<{ id: string }>; tool_call_id?: string }> }>) {
      for (const m of l.messages) {
        for (const c of m.tool_calls ?? []) expect(c.id).toMatch(/^[a-zA-Z0-9]{9}$/);
        if (m.tool_call_id) expect(m.tool_call_id).toMatch(/^[a-zA-Z0-9]{9}$/);
      }
    }
  });

  it('text-mode sessions export as text: fenced blocks, no tools, observations as user turns', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8')) as Array<{ messages: Array<{ role: string; content?: string; tool_calls?: unknown }>; tools?: unknown }>;
    const textLines = lines.filter((l) => JSON.stringify(l).includes('MARK-X'));
    expect(textLines.length).toBeGreaterThan(0);
    for (const l of textLines) {
      expect(l.tools).toBeUndefined();
      expect(l.messages.every((m) => m.role !== 'tool' && !m.tool_calls)).toBe(true);
    }
    expect(JSON.stringify(textLines)).toContain('```bash\\necho text-$((40+2))\\n```');
  });

  it('manifest: shared prefixes trained once, the all-masked branch left out and counted', () => {
    const t = foldTrajectory(tools.events);
    const trainedSteps = manifest.trajectories.flatMap((x) => x.trainedSteps);
    expect(new Set(trainedSteps).size).toBe(trainedSteps.length);
    expect(trainedSteps.map((id) => markerOf(t.steps.has(id) ? t : foldTrajectory(textMode.events), id)).sort()).toEqual(KEPT);
    const third = manifest.sessions.find((s) => s.sessionId === tools.id)!.branches.find((b) => b.branchId === 'third')!;
    expect(third.exported).toBe(false);
    expect(third.skipped).toMatch(/nothing to train/);
    expect(manifest.counts.examplesSkipped).toBeGreaterThanOrEqual(1);
    expect(manifest.counts.kept).toBe(KEPT.length);
    expect(manifest.counts.tokens.total).toBe(manifest.trajectories.reduce((n, x) => n + x.tokens, 0));
    expect(manifest.counts.tokens.longest).toBe(Math.max(...manifest.trajectories.map((x) => x.tokens)));
    expect(manifest.trajectories.every((x) => x.context === 'recorded' || x.context === 'extended')).toBe(true);
  });

  it('--max-tokens splits long examples, each action still trained once', async () => {
    const out = join(home, 'bundle-split');
    const { manifest: m } = await exportBundle(exportOpts(out, { maxTokens: 1_800, formats: ['openai'] }));
    const lines = parseJsonl(await readFile(join(out, 'openai.jsonl'), 'utf8'));
    expect(lines.length).toBeGreaterThan(manifest.trajectories.length);
    const trained = lines.flatMap((l) => oa.trainedTurns(l).trained.map((x) => markerIn([x.text, x.toolCalls])));
    expect(trained.sort()).toEqual(KEPT);
    for (const x of m.trajectories) if (!x.overLimit) expect(x.tokens).toBeLessThanOrEqual(1_800);
    for (const l of lines) expect(oa.validate(l)).toEqual([]);
  });

  it('dry run: the plan without a bundle; refuse unreviewed', async () => {
    const out = join(home, 'bundle-dry');
    const r = await exportBundle(exportOpts(out, { dryRun: true }));
    expect(r.dryRun).toBe(true);
    expect(r.manifest.counts).toEqual(manifest.counts);
    await expect(readFile(join(out, 'manifest.json'))).rejects.toThrow();
    // An unreviewed action under 'refuse': nothing written, a clear error.
    const extra = await ws.create({ cwd, name: 'unreviewed' });
    script = () => tool('finish', { message: 'MARK-U1' });
    expect(await rollout(extra).run()).toBe('finished');
    const o = { ...exportOpts(join(home, 'bundle-refuse')), sessions: [{ sessionId: extra.id, events: extra.events.slice() as SessionEvent[], sessionDir: extra.dir }], labelPolicy: { unlabelled: 'refuse' as const } };
    await expect(exportBundle(o)).rejects.toThrow(/unreviewed/);
    const plan = await exportBundle({ ...o, dryRun: true });
    expect(plan.manifest.counts.unlabelled).toBe(1);
    expect(plan.manifest.warnings.join('\n')).toMatch(/unreviewed.*refused/);
  });

  it('a trained turn that held a secret is masked, and redactions.json says which; no secret survives anywhere', async () => {
    const gh = ['gh', 'p_', 'Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8'].join('');
    const hf = ['hf', '_', 'QwErTyUiOpAsDfGhJkLzXcVbNm12345678'].join('');
    const s = await ws.create({ cwd, name: 'secrets' });
    let k = 0;
    script = () => {
      k++;
      if (k === 1) return tool('create_file', { path: 'tokens.txt', content: `first\n${gh}\n\tlast` }, { id: 'callS1' });
      if (k === 2) return tool('run_command', { session_id: 'main', command: `echo ${hf} | wc -c` }, { id: 'callS2' });
      return tool('finish', { message: 'MARK-S3 done' }, { id: 'callS3' });
    };
    expect(await rollout(s).run()).toBe('finished');
    for (const st of foldTrajectory(s.events).steps.values()) await label(s, st.id, 'keep');
    const out = join(home, 'bundle-secret');
    const { manifest: m } = await exportBundle({ ...exportOpts(out), sessions: [{ sessionId: s.id, events: s.events.slice() as SessionEvent[], sessionDir: s.dir }] });
    for (const f of ['openai.jsonl', 'sharegpt.jsonl', 'mistral.jsonl', 'trajectory.jsonl', 'manifest.json']) {
      const body = await readFile(join(out, f), 'utf8');
      expect(body, f).not.toContain(gh);
      expect(body, f).not.toContain(hf);
    }
    const lines = parseJsonl(await readFile(join(out, 'openai.jsonl'), 'utf8'));
    const trained = lines.flatMap((l) => oa.trainedTurns(l).trained.map((x) => JSON.stringify([x.text, x.toolCalls])));
    // Both turns that typed a secret are context only: the model never learns to type the placeholder.
    expect(trained.some((x) => x.includes('REDACTED'))).toBe(false);
    expect(trained).toHaveLength(1);
    expect(m.counts.maskedBy.secret).toBe(2);
    const red = JSON.parse(await readFile(join(out, 'redactions.json'), 'utf8')) as { maskedTurns: Array<{ kinds: string[] }> };
    expect(red.maskedTurns.flatMap((t) => t.kinds).sort()).toEqual(['github-token', 'hf-token']);
    // trajectory.jsonl (which a merge reads) says what the training files did: the two masked for the secret, the finish trained.
    const steps = parseJsonl(await readFile(join(out, 'trajectory.jsonl'), 'utf8')).filter((l) => (l as { kind: string }).kind === 'step') as Array<{ weight: number; weightReason: string }>;
    expect(steps.map((x) => [x.weight, x.weightReason])).toEqual([[0, 'secret'], [0, 'secret'], [1, 'annotator']]);
    // redactions.json names every placeholder of every training file, where it is in that file.
    expect(await reportProblems(out, ['openai.jsonl', 'sharegpt.jsonl', 'mistral.jsonl'])).toEqual([]);
    const all = JSON.parse(await readFile(join(out, 'redactions.json'), 'utf8')) as { redactions: RedactionReport[] };
    expect(new Set(all.redactions.map((x) => x.file))).toEqual(new Set(['openai.jsonl', 'sharegpt.jsonl', 'mistral.jsonl', 'trajectory.jsonl']));
    // Without openai.jsonl, the report names only the files written, and the masked turns where they are context.
    const per = join(home, 'bundle-secret-per-action');
    const r2 = await exportBundle({ ...exportOpts(per), formats: ['sharegpt', 'mistral'], sessions: [{ sessionId: s.id, events: s.events.slice() as SessionEvent[], sessionDir: s.dir }] });
    expect(await reportProblems(per, ['sharegpt.jsonl', 'mistral.jsonl'])).toEqual([]);
    const red2 = JSON.parse(await readFile(join(per, 'redactions.json'), 'utf8')) as { redactions: RedactionReport[]; maskedTurns: MaskedTurnReport[] };
    expect(new Set(red2.redactions.map((x) => x.file))).toEqual(new Set(['sharegpt.jsonl', 'mistral.jsonl']));
    expect(new Set(red2.maskedTurns.map((x) => x.file))).toEqual(new Set(['sharegpt.jsonl', 'mistral.jsonl']));
    expect(Object.keys(r2.manifest.redactions.byFile).sort()).toEqual(['mistral.jsonl', 'sharegpt.jsonl']);
  });

  it('after a summary the example starts from the summarized context the model received; summaries on request', async () => {
    const s = await ws.create({ cwd, name: 'summaries' });
    let k = 0;
    const isSummary = (q: FakeRequest) => JSON.stringify(q.body.messages.at(-1) ?? {}).includes('state_snapshot');
    const seen: FakeRequest[] = [];
    script = (req) => {
      seen.push(req);
      if (isSummary(req)) return text(`<state_snapshot>SUM-${k}</state_snapshot>`);
      k++;
      if (k >= 16) return tool('finish', { message: `MARK-Z${k}` }, { id: `callZ${k}` });
      return tool('think', { thought: `MARK-Z${k} ${'pad '.repeat(300)}` }, { id: `callZ${k}` });
    };
    expect(await rollout(s, { summarizeAtTokens: 4_000, keepRecentSteps: 2 }).run()).toBe('finished');
    const t = foldTrajectory(s.events);
    for (const st of t.steps.values()) await label(s, st.id, 'keep');
    const sums = [...t.steps.values()].filter((x) => x.summary);
    expect(sums.length).toBeGreaterThanOrEqual(2);
    const out = join(home, 'bundle-summaries');
    const { manifest: m } = await exportBundle({ ...exportOpts(out, { includeSummaries: true, formats: ['openai'] }), sessions: [{ sessionId: s.id, events: s.events.slice() as SessionEvent[], sessionDir: s.dir }] });
    const lines = parseJsonl(await readFile(join(out, 'openai.jsonl'), 'utf8')) as Array<{ messages: Array<{ role: string; content?: string }> }>;
    const windows = m.trajectories.filter((x) => x.kind === 'window');
    // One window before the first summary, one per summary.
    expect(windows.length).toBe(sums.length + 1);
    expect(m.trajectories.filter((x) => x.kind === 'summary')).toHaveLength(sums.length);
    // Every window after the first opens with the summary turn, as the model received it.
    const after = lines.filter((_, i) => m.trajectories[i]!.kind === 'window').slice(1);
    for (const l of after) expect(l.messages[2]!.content).toMatch(/summarized them[\s\S]*SUM-/);
    // Each window is bounded by the summarization threshold, not by the session.
    const longestStep = Math.max(...windows.map((x) => x.tokens));
    expect(longestStep).toBeLessThan(4_000 + 2_500);
    const trained = lines.flatMap((l) => oa.trainedTurns(l).trained.map((x) => markerIn([x.text, x.toolCalls])));
    const steps = trained.filter((x) => x.startsWith('MARK-Z'));
    expect(new Set(steps).size).toBe(16);
    expect(steps).toHaveLength(16);
  });
});
