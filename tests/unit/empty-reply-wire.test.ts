// An empty model reply (no text, no tool call) against the wire, in both action modes.
// The engine answers it with a nudge; the next requests carry only that nudge, never an
// assistant turn with nothing in it (OpenAI's and mistral's fine-tuning reject one, and
// it teaches nothing). The export is the wire: every context in openai.jsonl, sharegpt.jsonl
// and mistral.jsonl is a request the endpoint received, the empty step is trained nowhere,
// trajectory.jsonl weighs it 0 ('empty'), and every trainer checker reads the files.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEvent } from '../../shared/events';
import { branchPath, foldTrajectory, type Step } from '../../shared/trajectory';
import type { SessionLog } from '../../electron/core/store/workspace';
import { Rollout } from '../../electron/core/rollout/engine';
import { canonicalJson, rebuildRequest } from '../../electron/core/rollout/request-record';
import { INVALID_TOOL_CALL } from '../../electron/core/rollout/tools';
import { exportBundle, type Manifest } from '../../electron/core/dataset/bundle';
import { mistralRecord, sharegptRecord, type OpenAIRecord } from '../../electron/core/dataset/trainers';
import { text, tool, type FakeReply } from '../fixtures/fake-llm-server';
import { wireRig, type WireRig } from '../fixtures/wire-rig';
import * as ax from '../fixtures/trainers/axolotl';
import * as lf from '../fixtures/trainers/llamafactory';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';
import { parseYamlSubset } from '../fixtures/trainers/yaml-subset';

type Msg = { role: string; content?: string | null; tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>; tool_call_id?: string; weight?: 0 | 1 };
type Body = { messages: Msg[]; tools?: unknown[] };

interface Run {
  session: SessionLog;
  path: Step[];
  /** The bodies this session's rollout sent, in order. */
  bodies: Body[];
  dir: string;
  manifest: Manifest;
  openai: Array<{ messages: Msg[]; tools?: unknown[] }>;
  sharegpt: unknown[];
  mistral: Array<{ messages: Msg[]; tools?: unknown[] }>;
}

let rig: WireRig;
let script: FakeReply[] = [];
let offset = 0;
const runs: Record<'tools' | 'text', Run> = {} as Record<'tools' | 'text', Run>;

const noNulls = (m: Msg): Msg => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null)) as Msg;
const emptyAssistant = (m: Msg): boolean => m.role === 'assistant' && !m.tool_calls?.length && (m.content === '' || m.content == null);

async function runSession(mode: 'tools' | 'text', replies: FakeReply[]): Promise<Run> {
  script = replies;
  offset = rig.bodies.length;
  const session = await rig.ws.create({ cwd: rig.cwd, name: `empty reply ${mode}` });
  const r = new Rollout({
    session, pty: rig.pty, endpoint: { ...rig.endpoint('sk-test-empty-reply'), toolMode: mode },
    policy: 'model', task: 'Echo a marker, then finish.', maxSteps: 10, cwd: rig.cwd, llm: rig.llm,
    tools: { commandTimeoutMs: 10_000, settleMs: 300 },
  });
  expect(await r.run()).toBe('finished');
  const bodies = rig.bodies.slice(offset).map((b) => b.body as Body);
  const path = branchPath(foldTrajectory(session.events), 'main');
  // An annotator keeps every step, the empty one included: a keep does not make it trainable.
  for (const s of path) await session.append({ type: 'label.set', stepId: s.id, label: 'keep', tags: [], note: '', source: 'annotator', author: 'ann' });
  const dir = join(rig.home, `bundle-${mode}`);
  const { manifest } = await exportBundle({
    home: rig.home, sessions: [{ sessionId: session.id, events: session.events.slice() as SessionEvent[], sessionDir: session.dir }],
    outDir: dir, formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: ['sk-test-empty-reply'], appVersion: 'test', bundleCache: false, castCache: false,
  });
  const read = async (f: string) => parseJsonl(await readFile(join(dir, f), 'utf8'));
  return {
    session, path, bodies, dir, manifest,
    openai: (await read('openai.jsonl')) as Run['openai'], sharegpt: await read('sharegpt.jsonl'), mistral: (await read('mistral.jsonl')) as Run['mistral'],
  };
}

beforeAll(async () => {
  rig = await wireRig('empty-reply', (_req, n) => script[n - offset] ?? tool('finish', { message: 'extra' }));
  runs.tools = await runSession('tools', [
    text(''),
    tool('run_command', { session_id: 'main', command: 'echo MARK-RUN' }, { id: 'callW1' }),
    tool('finish', { message: 'MARK-DONE' }, { id: 'callW2' }),
  ]);
  runs.text = await runSession('text', [
    text(''),
    text('Echo it.\n```bash\necho MARK-TXT\n```'),
    text('Done.\n```json\n{"name": "finish", "arguments": {"message": "MARK-TXTDONE"}}\n```'),
  ]);
}, 180_000);

afterAll(async () => {
  await rig?.close();
});

/** The OpenAI record an action line must be cut from: request `body` as sent, then `reply` trained. */
function wireRecord(body: Body, reply: Msg): OpenAIRecord {
  const messages = [...body.messages.map(noNulls).map((m) => (m.role === 'assistant' ? { ...m, weight: 0 as const } : m)), { ...noNulls(reply), weight: 1 as const }];
  return (body.tools ? { messages, tools: body.tools } : { messages }) as OpenAIRecord;
}

/** Every trainer checker reads every line of the bundle of `r`. */
async function trainersRead(r: Run): Promise<void> {
  // The cookbook's checks predate tool calling (they flag every tool turn): text-action lines only.
  if (!r.openai.some((l) => l.tools)) expect(oa.cookbookFormatErrors(r.openai)).toEqual({});
  for (const l of r.openai) expect(oa.validate(l)).toEqual([]);
  const cfg = parseYamlSubset(await readFile(join(r.dir, 'axolotl.yml'), 'utf8')) as ax.AxolotlConfig;
  const [ds] = ax.chatTemplateDatasets(cfg);
  for (const l of r.openai) expect(ax.validate(l, ds!, cfg)).toEqual([]);
  const info = JSON.parse(await readFile(join(r.dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
  const train = parseYamlSubset(await readFile(join(r.dir, 'llamafactory.yaml'), 'utf8')) as { mask_history: boolean; dataset: string };
  for (const x of lf.trainedTurnsOfFile(r.sharegpt, info, train.dataset, { mask_history: train.mask_history })) expect(x.dropped).toBeUndefined();
  for (const l of r.mistral) {
    expect(mi.validate(l)).toEqual([]);
    for (const chunk of [true, false]) expect(mi.trainedTurns(l, { dynamicChunkFnCall: chunk }).error).toBeUndefined();
  }
}

describe.each(['tools', 'text'] as const)('an empty reply in %s mode', (mode) => {
  it('is recorded as the model gave it and answered with a nudge', () => {
    const { path } = runs[mode];
    expect(path).toHaveLength(3);
    expect(path[0]!.response).toMatchObject({ content: '', toolCalls: [] });
    expect(path[0]!.results).toHaveLength(1);
    expect(path[0]!.results[0]!.observation.startsWith(INVALID_TOOL_CALL)).toBe(true);
  });

  it('no request carries an empty assistant turn: the step adds only its nudge', () => {
    const { bodies } = runs[mode];
    expect(bodies).toHaveLength(3);
    for (const b of bodies) expect(b.messages.filter(emptyAssistant)).toEqual([]);
    // The second request is the first plus the nudge, as a user turn.
    expect(canonicalJson(bodies[1]!.messages.slice(0, bodies[0]!.messages.length))).toBe(canonicalJson(bodies[0]!.messages));
    const added = bodies[1]!.messages.slice(bodies[0]!.messages.length);
    expect(added).toHaveLength(1);
    expect(added[0]!.role).toBe('user');
    expect(added[0]!.content).toContain(mode === 'tools' ? 'your reply contained no tool call' : 'your reply contained no action');
    // The context only grows after it.
    expect(canonicalJson(bodies[2]!.messages.slice(0, bodies[1]!.messages.length))).toBe(canonicalJson(bodies[1]!.messages));
  });

  it('the request record (model.request) is what the endpoint received', () => {
    const { session, bodies } = runs[mode];
    const t = foldTrajectory(session.events);
    const recorded = session.events.filter((e): e is EventOf<'model.request'> => e.type === 'model.request');
    expect(recorded).toHaveLength(bodies.length);
    recorded.forEach((r, i) => expect(rebuildRequest(t, r.requestId)!.body, `request ${i}`).toEqual(rig.bodies[offsetOf(mode) + i]!.body));
  });

  it('openai.jsonl is the last request verbatim plus the finishing reply; the empty step is in no line', () => {
    const { openai, bodies, path } = runs[mode];
    expect(openai).toHaveLength(1);
    const line = openai[0]!;
    const strip = ({ weight: _w, ...m }: Msg) => m;
    expect(canonicalJson(line.messages.slice(0, -1).map(strip))).toBe(canonicalJson(bodies[2]!.messages.map(noNulls)));
    expect(line.tools).toEqual(bodies[2]!.tools);
    expect(line.messages.filter(emptyAssistant)).toEqual([]);
    expect(runs[mode].manifest.trajectories[0]!.turnSteps).toEqual([path[1]!.id, path[2]!.id]);
    expect(oa.trainedTurns(line).trained).toHaveLength(2);
  });

  it('each sharegpt and mistral line is the request its action answered, adapted, ending on that action', () => {
    const { openai, sharegpt, mistral, bodies } = runs[mode];
    expect(sharegpt).toHaveLength(2);
    expect(mistral).toHaveLength(2);
    const line = openai[0]!.messages;
    const replies = line.filter((m) => m.role === 'assistant');
    // Action k answered request k (request 0 got the empty reply).
    for (const k of [0, 1]) {
      const rec = wireRecord(bodies[k + 1]!, replies[k]!);
      expect(mistral[k]).toEqual(mistralRecord(rec));
      expect(sharegpt[k]).toEqual(sharegptRecord(rec));
    }
  });

  it('the manifest counts the empty step, names it in a warning, and trains the two actions', () => {
    const { manifest, path } = runs[mode];
    expect(manifest.counts).toMatchObject({ steps: 3, emptyTurns: 1, actions: 2, kept: 2, masked: 0, unlabelled: 0, examplesSkipped: 0 });
    expect(manifest.counts.maskedBy['empty-context']).toBe(0);
    const w = manifest.warnings.filter((x) => x.includes('no text and no tool call'));
    expect(w).toHaveLength(1);
    expect(w[0]).toContain(`${runs[mode].session.id}/${path[0]!.id}`);
    expect(manifest.trajectories[0]!.trainedSteps).toEqual([path[1]!.id, path[2]!.id]);
  });

  it('trajectory.jsonl weighs the empty step 0 (empty), as no training file trains it', async () => {
    const { dir, path } = runs[mode];
    const steps = parseJsonl(await readFile(join(dir, 'trajectory.jsonl'), 'utf8')) as Array<{ kind: string; stepId?: string; weight?: number | null; weightReason?: string | null }>;
    const of = (id: string) => steps.find((l) => l.kind === 'step' && l.stepId === id)!;
    expect(path.map((s) => [of(s.id).weight, of(s.id).weightReason])).toEqual([[0, 'empty'], [1, 'annotator'], [1, 'annotator']]);
  });

  it('every trainer checker reads the bundle', async () => {
    await trainersRead(runs[mode]);
  });
});

/** Where `mode`'s requests start in rig.bodies. */
function offsetOf(mode: 'tools' | 'text'): number {
  return mode === 'tools' ? 0 : runs.tools.bodies.length;
}
