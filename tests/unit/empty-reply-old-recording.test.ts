// A session recorded by a version that sent an empty reply back to the model: the request
// record holds {"role":"assistant","content":""} in every request after it, which OpenAI's
// and mistral's fine-tuning reject. The export must not fail: an example ends before that
// turn (what comes before is a prefix of the request as sent), the actions whose context
// holds it are left out of the training files and counted (maskedBy['empty-context']), a
// warning names them and the empty step, and they are not trained in a later context
// either (after a summary, or a request the current version built, which no longer holds
// it: no model produced them from that context). The context is never rewritten.
//
// The log is written as events.jsonl and read back, as the app reads a session.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent, SessionEventBody, WireMessage } from '../../shared/events';
import { foldTrajectory } from '../../shared/trajectory';
import { readEventLog } from '../../electron/core/store/event-log';
import { canonicalJson, rebuildRequest } from '../../electron/core/rollout/request-record';
import { TOOL_SCHEMAS } from '../../electron/core/rollout/tools';
import { exportBundle, type ExportBundleOptions, type Manifest } from '../../electron/core/dataset/bundle';
import { mergeBundles } from '../../electron/core/dataset/merge';
import { validateMistralJsonl, validateOpenAIJsonl, validateShareGPTJsonl } from '../../electron/core/dataset/validate';
import { SessionBuilder } from '../fixtures/sessions';
import * as ax from '../fixtures/trainers/axolotl';
import * as lf from '../fixtures/trainers/llamafactory';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';
import { parseYamlSubset } from '../fixtures/trainers/yaml-subset';

type Msg = WireMessage & { weight?: 0 | 1 };

const call = (id: string, name: string, args: Record<string, unknown>): WireMessage => ({
  role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name, arguments: JSON.stringify(args) } }],
});
const SYS: WireMessage = { role: 'system', content: 'RECORDED SYSTEM PROMPT' };
const TASK: WireMessage = { role: 'user', content: 'RECORDED TASK' };
const A1 = call('call_1', 'run_command', { session_id: 'main', command: 'echo MARK-S1' });
const T1: WireMessage = { role: 'tool', tool_call_id: 'call_1', content: 'MARK-S1-OUT' };
/** What versions before this one sent for an empty reply. */
const E2: WireMessage = { role: 'assistant', content: '' };
const N2: WireMessage = { role: 'user', content: 'Error: invalid tool call: your reply contained no tool call. Call one of the tools; call `finish` when the task is done.' };
const A3 = call('call_3', 'run_command', { session_id: 'main', command: 'echo MARK-S3' });
const T3: WireMessage = { role: 'tool', tool_call_id: 'call_3', content: 'MARK-S3-OUT' };
const SUMMARIZE: WireMessage = { role: 'user', content: 'Summarize the conversation.' };
const SUMMARY: WireMessage = { role: 'assistant', content: 'Here is the summary: MARK-SUMMARY' };
const CONTINUE: WireMessage = { role: 'user', content: 'OK, continue.' };

let root: string;
let sessionDir: string;
let events: SessionEvent[];

/**
 * main: s1 (a call), s2 (the empty reply), s3 (a call whose request holds it), then a
 * summary of s1..s2 and s4 (finish) in a request without it; alt: s5 (finish) branched
 * from s1, before the empty reply.
 */
function oldRecording(): SessionEvent[] {
  const b = new SessionBuilder({ name: 'Old empty reply' });
  const add = (body: SessionEventBody): void => void b.add(body);
  b.rollout({ task: 'Echo the markers.' });
  add({ type: 'request.config', hash: 'cfg1', config: { model: 'm', tools: TOOL_SCHEMAS, stream: true } });
  const step = (stepId: string, branchId: string, parentId: string | null, depth: number, rolloutId: string) =>
    add({ type: 'step.started', stepId, parentId, branchId, depth, rolloutId });
  const request = (requestId: string, stepId: string, base: string | null, keep: number, append: WireMessage[], owners: (string | null)[], purpose: 'step' | 'summary' = 'step') =>
    add({ type: 'model.request', requestId, stepId, purpose, base, keep, append, config: 'cfg1', owners });
  const reply = (stepId: string, requestId: string, m: WireMessage) => add({
    type: 'model.response', stepId, requestId, content: typeof m.content === 'string' ? m.content : '', reasoning: '', usage: null, durationMs: 5,
    finishReason: m.tool_calls ? 'tool_calls' : 'stop', toolMode: 'tools', origin: 'model',
    toolCalls: (m.tool_calls as Array<{ id: string; function: { name: string; arguments: string } }> | undefined ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
  });
  const result = (stepId: string, toolCallId: string, name: string, observation: string, isError = false) =>
    add({ type: 'action.result', stepId, toolCallId, name, observation, isError, durationMs: 1 });
  const finished = (stepId: string) => add({ type: 'step.finished', stepId, promptTokens: 10 });

  step('s1', 'main', null, 1, 'r1');
  request('q1', 's1', null, 0, [SYS, TASK], [null, null]);
  reply('s1', 'q1', A1);
  result('s1', 'call_1', 'run_command', 'MARK-S1-OUT');
  finished('s1');

  step('s2', 'main', 's1', 2, 'r1');
  request('q2', 's2', 'q1', 2, [A1, T1], ['s1', 's1']);
  reply('s2', 'q2', E2);
  result('s2', '', '', N2.content as string, true);
  finished('s2');

  step('s3', 'main', 's2', 3, 'r1');
  request('q3', 's3', 'q2', 4, [E2, N2], ['s2', 's2']);
  reply('s3', 'q3', A3);
  result('s3', 'call_3', 'run_command', 'MARK-S3-OUT');
  finished('s3');

  // s4: the older steps summarized (that request still holds the empty turn), then a request
  // without it, the summary in its place.
  step('s4', 'main', 's3', 4, 'r1');
  request('q4s', 's4', 'q3', 6, [A3, T3, SUMMARIZE], ['s3', 's3', null], 'summary');
  add({ type: 'summary.created', stepId: 's4', summary: 'MARK-SUMMARY', coveredStepIds: ['s1', 's2'], requestId: 'q4s' });
  request('q4', 's4', null, 0, [SYS, TASK, SUMMARY, CONTINUE, A3, T3], [null, null, null, null, 's3', 's3']);
  reply('s4', 'q4', call('call_4', 'finish', { message: 'MARK-S4' }));
  result('s4', 'call_4', 'finish', 'finished');
  finished('s4');

  b.add({ type: 'branch.created', branchId: 'alt', fromStepId: 's1', name: 'alt', author: 'ann', reason: 'branch' });
  b.rollout({ task: 'Echo the markers.', branchId: 'alt', parentStepId: 's1', rolloutId: 'r2' });
  step('s5', 'alt', 's1', 2, 'r2');
  request('q5', 's5', 'q2', 4, [], []);
  reply('s5', 'q5', call('call_5', 'finish', { message: 'MARK-ALT' }));
  result('s5', 'call_5', 'finish', 'finished');
  finished('s5');

  for (const s of ['s1', 's2', 's3', 's4', 's5']) b.label(s, 'keep', { author: 'ann' });
  return b.events;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-empty-old-'));
  sessionDir = join(root, 'home', 'sessions', 'OLD1');
  await mkdir(sessionDir, { recursive: true });
  await writeFile(join(sessionDir, 'events.jsonl'), oldRecording().map((e) => `${JSON.stringify(e)}\n`).join(''));
  events = (await readEventLog(join(sessionDir, 'events.jsonl'))).events;
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Exported {
  dir: string;
  manifest: Manifest;
  openai: Array<{ messages: Msg[]; tools?: unknown[] }>;
  sharegpt: unknown[];
  mistral: unknown[];
}

let n = 0;
async function exportOld(over: Partial<ExportBundleOptions> = {}): Promise<Exported> {
  const dir = join(root, `bundle-${++n}`);
  const { manifest } = await exportBundle({
    home: join(root, 'home'), sessions: [{ sessionId: 'OLD1', events, sessionDir }], outDir: dir,
    formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: [], appVersion: 'test', bundleCache: false, castCache: false, ...over,
  });
  const read = async (f: string) => parseJsonl(await readFile(join(dir, f), 'utf8'));
  return { dir, manifest, openai: (await read('openai.jsonl')) as Exported['openai'], sharegpt: await read('sharegpt.jsonl'), mistral: await read('mistral.jsonl') };
}

const marker = (v: unknown): string => /MARK-[A-Z0-9]+/.exec(JSON.stringify(v))?.[0] ?? '?';
const strip = ({ weight: _w, ...m }: Msg): WireMessage => m;
const noNulls = (m: WireMessage): WireMessage => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null)) as WireMessage;
const emptyAssistant = (m: Msg): boolean => m.role === 'assistant' && !(m.tool_calls as unknown[] | undefined)?.length && !m.content;

describe('an old recording whose requests carried an empty reply', () => {
  let e: Exported;
  beforeAll(async () => {
    e = await exportOld();
  });

  it('holds the empty assistant turn in the recorded requests after it (the fixture is what an older version sent)', () => {
    const t = foldTrajectory(events);
    expect(rebuildRequest(t, 'q3')!.body.messages).toEqual([SYS, TASK, A1, T1, E2, N2]);
    expect(rebuildRequest(t, 'q4s')!.body.messages).toContainEqual(E2);
  });

  it('exports, every file valid, no line holding an empty assistant turn', async () => {
    expect(validateOpenAIJsonl(await readFile(join(e.dir, 'openai.jsonl'), 'utf8'))).toEqual([]);
    expect(validateShareGPTJsonl(await readFile(join(e.dir, 'sharegpt.jsonl'), 'utf8'))).toEqual([]);
    expect(validateMistralJsonl(await readFile(join(e.dir, 'mistral.jsonl'), 'utf8'))).toEqual([]);
    for (const l of e.openai) expect(l.messages.filter(emptyAssistant)).toEqual([]);
    expect(JSON.stringify(e.mistral)).not.toContain('"content":""');
  });

  it('ends the example before the empty turn: a prefix of the request as sent, training s1', () => {
    const t = foldTrajectory(events);
    expect(e.manifest.trajectories.map((x) => [x.branchId, x.trainedSteps, x.turnSteps])).toEqual([
      ['main', ['s1'], ['s1']],
      ['main', ['s4'], [null, 's3', 's4']],
      ['alt', ['s5'], ['s1', 's5']],
    ]);
    const [first, second, alt] = e.openai;
    // openai.jsonl leaves out `content: null` (openaiRecord); nothing else differs from the wire.
    const wire = (id: string) => rebuildRequest(t, id)!.body.messages.map(noNulls);
    expect(canonicalJson(first!.messages.map(strip))).toBe(canonicalJson(wire('q3').slice(0, 3)));
    // The request without the empty turn is exported verbatim; s3 in it is weight-0 context only.
    expect(canonicalJson(second!.messages.slice(0, -1).map(strip))).toBe(canonicalJson(wire('q4')));
    expect(second!.messages.filter((m) => m.role === 'assistant').map((m) => [marker(m), m.weight])).toEqual([['MARK-SUMMARY', 0], ['MARK-S3', 0], ['MARK-S4', 1]]);
    expect(canonicalJson(alt!.messages.slice(0, -1).map(strip))).toBe(canonicalJson(wire('q5')));
  });

  it('never rewrites a context: every line is a recorded request (nulls aside), or a prefix of one, plus its reply', () => {
    const t = foldTrajectory(events);
    const requests = [...t.requests.keys()].map((id) => rebuildRequest(t, id)!.body.messages.map(noNulls));
    for (const l of e.openai) {
      const ctx = l.messages.slice(0, -1).map(strip).map(noNulls);
      expect(requests.some((r) => canonicalJson(r.slice(0, ctx.length)) === canonicalJson(ctx)), marker(l.messages.at(-1))).toBe(true);
    }
  });

  it('leaves s3 out, counts it, and names it and the empty step in a warning', () => {
    const c = e.manifest.counts;
    expect(c).toMatchObject({ steps: 5, emptyTurns: 1, actions: 4, kept: 3, masked: 1, unlabelled: 0 });
    expect(c.maskedBy).toMatchObject({ annotator: 0, 'empty-context': 1, replayed: 0, secret: 0 });
    const w = e.manifest.warnings.filter((x) => x.includes('left out of'));
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^session OLD1: 1 action\(s\) left out of openai\.jsonl, sharegpt\.jsonl, mistral\.jsonl \(s3\): their context holds the empty reply of step s2 /);
    expect(e.manifest.warnings.some((x) => x.startsWith('1 repl(ies) had no text and no tool call (OLD1/s2)'))).toBe(true);
  });

  it('trains s1, s4 and s5 in every trainer file, never s3 or the empty step', async () => {
    const openai = e.openai.flatMap((l) => {
      expect(oa.validate(l)).toEqual([]);
      return oa.trainedTurns(l).trained.map((x) => marker(x.toolCalls));
    });
    expect(openai).toEqual(['MARK-S1', 'MARK-S4', 'MARK-ALT']);
    const cfg = parseYamlSubset(await readFile(join(e.dir, 'axolotl.yml'), 'utf8')) as ax.AxolotlConfig;
    const [ds] = ax.chatTemplateDatasets(cfg);
    const axolotl = e.openai.flatMap((l) => {
      const r = ax.trainedTurns(l, ds!, cfg);
      expect(r.error).toBeUndefined();
      return r.trained.map((x) => marker(x.toolCalls));
    });
    expect(axolotl).toEqual(['MARK-S1', 'MARK-S4', 'MARK-ALT']);
    const info = JSON.parse(await readFile(join(e.dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
    const train = parseYamlSubset(await readFile(join(e.dir, 'llamafactory.yaml'), 'utf8')) as { mask_history: boolean; dataset: string };
    const sharegpt = lf.trainedTurnsOfFile(e.sharegpt, info, train.dataset, { mask_history: train.mask_history }).flatMap((r) => {
      expect(r.dropped).toBeUndefined();
      return r.trained.map((x) => marker(x.text));
    });
    expect(sharegpt).toEqual(['MARK-S1', 'MARK-S4', 'MARK-ALT']);
    for (const chunk of [true, false]) {
      const mistral = e.mistral.flatMap((l) => {
        expect(mi.validate(l)).toEqual([]);
        const r = mi.trainedTurns(l, { dynamicChunkFnCall: chunk });
        expect(r.error).toBeUndefined();
        return r.trained.map((x) => marker(x.toolCalls));
      });
      expect(mistral).toEqual(['MARK-S1', 'MARK-S4', 'MARK-ALT']);
    }
  });

  it('trajectory.jsonl keeps every step, weighed as the training files weigh them: the empty one 0 (empty), s3 0 (empty-context)', async () => {
    const steps = parseJsonl(await readFile(join(e.dir, 'trajectory.jsonl'), 'utf8')) as Array<{ kind: string; stepId?: string; weight?: number | null; weightReason?: string | null }>;
    expect(steps.filter((l) => l.kind === 'step').map((l) => [l.stepId, l.weight, l.weightReason])).toEqual([
      ['s1', 1, 'annotator'], ['s2', 0, 'empty'], ['s3', 0, 'empty-context'], ['s4', 1, 'annotator'], ['s5', 1, 'annotator'],
    ]);
  });

  it('a merge of the bundle reads it: every line valid, no empty assistant turn', async () => {
    const m = await mergeBundles({ inputs: [e.dir], outDir: join(root, 'merged'), allowUnsigned: true });
    const lines = parseJsonl(await readFile(join(root, 'merged', 'openai.jsonl'), 'utf8')) as Exported['openai'];
    for (const l of lines) {
      expect(oa.validate(l)).toEqual([]);
      expect(l.messages.filter(emptyAssistant)).toEqual([]);
    }
    expect(m.manifest.counts).toMatchObject({ emptyTurns: 1, actions: 4 });
  });

  // A merge decides by votes and trains a kept step in the first line that holds it: s3
  // would be trained after the summary, a context it was not produced in. The bundle's
  // weightReason 'empty-context' is a fact the merge keeps, as it keeps 'replayed'.
  it('a merge keeps s3 untrained, as the export did', async () => {
    await mergeBundles({ inputs: [e.dir], outDir: join(root, 'merged-2'), allowUnsigned: true });
    const lines = parseJsonl(await readFile(join(root, 'merged-2', 'openai.jsonl'), 'utf8'));
    expect(lines.flatMap((l) => oa.trainedTurns(l).trained.map((x) => marker(x.toolCalls)))).toEqual(['MARK-S1', 'MARK-S4', 'MARK-ALT']);
  });

  it('leaves out a summary example whose request holds the empty turn, and says so', async () => {
    const s = await exportOld({ includeSummaries: true });
    expect(s.manifest.trajectories.map((x) => x.kind)).toEqual(['window', 'window', 'window']);
    expect(JSON.stringify(s.openai)).not.toContain('Summarize the conversation.');
    const w = s.manifest.warnings.filter((x) => x.includes('left out of'));
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/1 action\(s\) and 1 summary example\(s\) left out of .* \(s3, summary:s4\)/);
    for (const l of s.openai) expect(oa.validate(l)).toEqual([]);
  });
});
