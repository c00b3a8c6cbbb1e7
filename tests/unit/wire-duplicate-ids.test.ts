// Parallel tool calls in one reply that share one id (some servers send them so),
// against the wire. The log records one result per call, in call order; each call must
// be answered by its own result, by position among the calls with that id: in the
// requests sent to the model, in the request record, and in what the export derives
// (from the record, and for a step no request carried, from the log), where repeated
// ids get fresh ones and their answers follow.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEvent } from '../../shared/events';
import { branchPath, foldTrajectory, type Step } from '../../shared/trajectory';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { Rollout } from '../../electron/core/rollout/engine';
import { rebuildRequest } from '../../electron/core/rollout/request-record';
import { exportBundle, type Manifest } from '../../electron/core/dataset/bundle';
import { tool, type FakeReply } from '../fixtures/fake-llm-server';
import { wireRig, type WireRig } from '../fixtures/wire-rig';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';

let home: string;
let cwd: string;
let ws: Workspace;
let pty: PtyHost;
let rig: WireRig;
let session: SessionLog;
let main: Step[];
let dir: string;
let manifest: Manifest;

type Msg = { role: string; content?: string | null; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>; tool_call_id?: string; weight?: 0 | 1 };

/** The observation the log recorded for each tool of step 1 (one call each). */
let observed: Map<string, string>;

/**
 * Each tool turn after an assistant turn with calls, as [the name of the call its
 * tool_call_id names (by position among that turn's calls with that id), its content].
 */
function answered(messages: Msg[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let open = new Map<string, string[]>();
  for (const m of messages) {
    if (m.role === 'assistant') {
      open = new Map();
      for (const c of m.tool_calls ?? []) open.set(c.id, [...(open.get(c.id) ?? []), c.function.name]);
    } else if (m.role === 'tool') {
      out.push([open.get(m.tool_call_id ?? '')?.shift() ?? '?', m.content ?? '']);
    }
  }
  return out;
}

beforeAll(async () => {
  const script: FakeReply[] = [
    {
      content: '',
      toolCalls: [
        { id: 'call_0', name: 'list_sessions', arguments: {} },
        { id: 'call_0', name: 'sleep', arguments: { sleep_time: 0 } },
        { id: 'call_0', name: 'create_file', arguments: { filename: 'dup-ids.txt', content: 'DUP' } },
      ],
    },
    tool('finish', { message: 'done' }, { id: 'call_9' }),
  ];
  rig = await wireRig('dup', (_req, n) => script[n] ?? tool('finish', { message: 'extra' }));
  ({ home, cwd, ws, pty } = rig);
  session = await ws.create({ cwd, name: 'wire duplicate ids' });
  const r = new Rollout({
    session, pty, endpoint: rig.endpoint('sk-test-dup-ids'),
    policy: 'model', task: 'Look around.', maxSteps: 10, cwd,
    llm: rig.llm,
    tools: { commandTimeoutMs: 10_000, settleMs: 300 },
  });
  expect(await r.run()).toBe('finished');
  main = branchPath(foldTrajectory(session.events), 'main');
  expect(main).toHaveLength(2);
  const s1 = main[0]!;
  observed = new Map(s1.results.map((x) => [x.name, x.observation]));
  // A hand-written step after step 1 on a branch: no request carried it, so the export
  // derives step 1's tool turns from the log (an extended context).
  const rolloutId = randomUUID();
  const stepId = randomUUID();
  await session.append({ type: 'branch.created', branchId: 'hand', fromStepId: s1.id, name: 'hand', author: 'ann', reason: 'branch' });
  await session.append({ type: 'rollout.started', rolloutId, branchId: 'hand', task: 'Look around.', endpoint: null, policy: 'human', maxSteps: 1, parentStepId: s1.id });
  await session.append({ type: 'step.started', stepId, parentId: s1.id, branchId: 'hand', depth: s1.depth + 1, rolloutId });
  await session.append({
    type: 'model.response', stepId, content: '', reasoning: '', toolCalls: [{ id: 'hand_1', name: 'think', arguments: '{"thought":"HAND"}' }],
    usage: null, finishReason: null, durationMs: 0, humanAuthored: true, author: 'ann', origin: 'hand',
  });
  await session.append({ type: 'action.result', stepId, toolCallId: 'hand_1', name: 'think', observation: 'logged', isError: false, durationMs: 0 });
  await session.append({ type: 'step.finished', stepId, promptTokens: 0 });
  await session.append({ type: 'rollout.state', rolloutId, state: 'finished', reason: 'hand-written action' });
  for (const s of foldTrajectory(session.events).steps.values()) {
    await session.append({ type: 'label.set', stepId: s.id, label: 'keep', tags: [], note: '', source: 'annotator', author: 'ann' });
  }
  dir = join(home, 'bundle');
  ({ manifest } = await exportBundle({
    home, sessions: [{ sessionId: session.id, events: session.events.slice() as SessionEvent[], sessionDir: session.dir, branchIds: ['main', 'hand'] }],
    outDir: dir, formats: ['openai', 'mistral'], secrets: ['sk-test-dup-ids'], appVersion: 'test', bundleCache: false, castCache: false,
  }));
}, 120_000);

afterAll(async () => {
  await rig?.close();
});

const expected = (): Array<[string, string]> => ['list_sessions', 'sleep', 'create_file'].map((n) => [n, observed.get(n)!]);

describe('parallel calls sharing one id', () => {
  it('the log records one result per call, in call order, each different', () => {
    const s1 = main[0]!;
    expect(s1.response!.toolCalls.map((c) => `${c.id}:${c.name}`)).toEqual(['call_0:list_sessions', 'call_0:sleep', 'call_0:create_file']);
    expect(s1.results.map((x) => `${x.toolCallId}:${x.name}`)).toEqual(['call_0:list_sessions', 'call_0:sleep', 'call_0:create_file']);
    expect(new Set(s1.results.map((x) => x.observation)).size).toBe(3);
    expect(observed.get('sleep')).toContain('Sleep completed');
    expect(observed.get('create_file')).toContain('dup-ids.txt');
  });

  it('the next request answers each call with its own result', () => {
    expect(rig.bodies).toHaveLength(2);
    const msgs = rig.bodies[1]!.body.messages as Msg[];
    const tools = msgs.filter((m) => m.role === 'tool');
    expect(tools.map((m) => m.tool_call_id)).toEqual(['call_0', 'call_0', 'call_0']);
    expect(tools.map((m) => m.content)).toEqual(['list_sessions', 'sleep', 'create_file'].map((n) => observed.get(n)));
    expect(answered(msgs)).toEqual(expected());
  });

  it('the request record rebuilds every request the endpoint received', () => {
    const t = foldTrajectory(session.events);
    const recorded = session.events.filter((e): e is EventOf<'model.request'> => e.type === 'model.request');
    expect(recorded).toHaveLength(rig.bodies.length);
    recorded.forEach((r, i) => expect(rebuildRequest(t, r.requestId)!.body, `request ${i}`).toEqual(rig.bodies[i]!.body));
  });

  it('the export pairs each (renamed) call with its own result, from the record and from the log alike', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8')) as Array<{ messages: Msg[] }>;
    expect(manifest.trajectories).toHaveLength(2);
    const byContext = Object.fromEntries(manifest.trajectories.map((x) => [x.branchId, { line: lines[x.line - 1]!, context: x.context }]));
    expect(byContext.main!.context).toBe('recorded');
    expect(byContext.hand!.context).toBe('extended');
    for (const b of ['main', 'hand']) {
      const l = byContext[b]!.line;
      expect(oa.validate(l), b).toEqual([]);
      const s1 = l.messages.find((m) => m.tool_calls?.some((c) => c.function.name === 'sleep'))!;
      expect(s1.tool_calls!.map((c) => `${c.id}:${c.function.name}`), b).toEqual(['call_0:list_sessions', 'call_0_1:sleep', 'call_0_2:create_file']);
      expect(l.messages.filter((m) => m.role === 'tool').slice(0, 3).map((m) => m.tool_call_id), b).toEqual(['call_0', 'call_0_1', 'call_0_2']);
      // Both lines end on the next assistant turn (finish / the hand-written think): step 1's answers only.
      expect(answered(l.messages), b).toEqual(expected());
    }
    // What the export derived from the log is what the wire carried for step 1.
    const strip = (m: Msg) => {
      const { weight: _w, ...rest } = m;
      return rest;
    };
    const n = byContext.main!.line.messages.length - 1;
    expect(byContext.hand!.line.messages.slice(0, n).map(strip)).toEqual(byContext.main!.line.messages.slice(0, n).map(strip));
  });

  it('mistral-finetune lines keep the pairing through their own ids', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'mistral.jsonl'), 'utf8')) as Array<{ messages: Msg[] }>;
    expect(lines.length).toBeGreaterThan(0);
    // One line per trained action: step 1's ends on it (no answers yet); the later ones carry its answers.
    let withAnswers = 0;
    for (const l of lines) {
      expect(mi.trainedTurns(l, { dynamicChunkFnCall: true }).error).toBeUndefined();
      const pairs = answered(l.messages);
      if (!pairs.length) continue;
      withAnswers++;
      expect(pairs).toEqual(expected());
    }
    expect(withAnswers).toBe(2);
  });
});
