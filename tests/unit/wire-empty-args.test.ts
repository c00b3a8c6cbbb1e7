// A tool call with blank arguments ("" or whitespace, what some servers send for a call
// without arguments) and one with a blank name, against the wire. One rule for all three
// readers: blank arguments are no arguments ({}): the tool runner runs the call with {},
// the next request carries it back as the model's call with "{}", and the export trains
// exactly that turn. A blank name is no call: the runner refuses it, the next request
// carries it as invalid_tool_call, and the export does not train it (invalid call).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEvent } from '../../shared/events';
import { branchPath, foldTrajectory, type Step } from '../../shared/trajectory';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { Rollout } from '../../electron/core/rollout/engine';
import { canonicalJson, rebuildRequest } from '../../electron/core/rollout/request-record';
import { INVALID_TOOL_CALL } from '../../electron/core/rollout/tools';
import { exportBundle, type Manifest } from '../../electron/core/dataset/bundle';
import { tool, type FakeReply } from '../fixtures/fake-llm-server';
import { wireRig, type WireRig } from '../fixtures/wire-rig';
import * as ax from '../fixtures/trainers/axolotl';
import * as lf from '../fixtures/trainers/llamafactory';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';
import { parseYamlSubset } from '../fixtures/trainers/yaml-subset';

let home: string;
let cwd: string;
let ws: Workspace;
let pty: PtyHost;
let rig: WireRig;
let session: SessionLog;
let path: Step[];
let dir: string;
let manifest: Manifest;

type Msg = { role: string; content?: string | null; tool_calls?: Array<{ id: string; type: string; function: { name: string; arguments: string } }>; tool_call_id?: string; weight?: 0 | 1 };

/** The assistant turn of the call `id` in a request body. */
function turnOf(body: { messages: Msg[] }, id: string): Msg | undefined {
  return body.messages.find((m) => m.role === 'assistant' && m.tool_calls?.some((c) => c.id === id));
}

beforeAll(async () => {
  // 1: "" arguments; 2: whitespace arguments; 3: no tool name; 4: finish.
  const script: FakeReply[] = [
    tool('list_sessions', '', { id: 'callE1' }),
    tool('list_sessions', '  \n', { id: 'callE2' }),
    tool('', {}, { id: 'callE3' }),
    tool('finish', { message: 'done' }, { id: 'callE4' }),
  ];
  rig = await wireRig('empty', (_req, n) => script[n] ?? tool('finish', { message: 'extra' }));
  ({ home, cwd, ws, pty } = rig);
  session = await ws.create({ cwd, name: 'wire empty args' });
  const r = new Rollout({
    session, pty, endpoint: rig.endpoint('sk-test-empty-args'),
    policy: 'model', task: 'List the sessions.', maxSteps: 10, cwd,
    llm: rig.llm,
    tools: { commandTimeoutMs: 10_000, settleMs: 300 },
  });
  expect(await r.run()).toBe('finished');
  path = branchPath(foldTrajectory(session.events), 'main');
  expect(path).toHaveLength(4);
  // The annotator keeps every action: only the invalid call may stay untrained.
  for (const s of path) await session.append({ type: 'label.set', stepId: s.id, label: 'keep', tags: [], note: '', source: 'annotator', author: 'ann' });
  dir = join(home, 'bundle');
  ({ manifest } = await exportBundle({
    home, sessions: [{ sessionId: session.id, events: session.events.slice() as SessionEvent[], sessionDir: session.dir }],
    outDir: dir, formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: ['sk-test-empty-args'], appVersion: 'test', bundleCache: false, castCache: false,
  }));
}, 120_000);

afterAll(async () => {
  await rig?.close();
});

describe('blank tool-call arguments and names, on the wire and in the export', () => {
  it('the runner reads blank arguments as {} and refuses a blank name', () => {
    expect(path.map((s) => s.response!.toolCalls[0]!.arguments)).toEqual(['', '  \n', '{}', '{"message":"done"}']);
    expect(path[0]!.results[0]!.isError).toBe(false);
    expect(path[1]!.results[0]!.isError).toBe(false);
    expect(path[0]!.results[0]!.observation).toContain('session_list');
    expect(path[2]!.results[0]!.isError).toBe(true);
    expect(path[2]!.results[0]!.observation).toContain(INVALID_TOOL_CALL);
  });

  it('the next request carries a blank-arguments call as the model\'s call with "{}", and a nameless one as invalid_tool_call', () => {
    expect(rig.bodies).toHaveLength(4);
    expect(turnOf(rig.bodies[1]!.body, 'callE1')!.tool_calls).toEqual([{ id: 'callE1', type: 'function', function: { name: 'list_sessions', arguments: '{}' } }]);
    expect(turnOf(rig.bodies[2]!.body, 'callE2')!.tool_calls).toEqual([{ id: 'callE2', type: 'function', function: { name: 'list_sessions', arguments: '{}' } }]);
    expect(turnOf(rig.bodies[3]!.body, 'callE3')!.tool_calls).toEqual([{ id: 'callE3', type: 'function', function: { name: 'invalid_tool_call', arguments: '{}' } }]);
    // Every later request carries the same turn (the context only grows).
    for (const b of rig.bodies.slice(2)) expect(turnOf(b.body, 'callE1')).toEqual(turnOf(rig.bodies[1]!.body, 'callE1'));
    expect(JSON.stringify(rig.bodies.map((b) => b.body))).not.toContain('invalid_arguments');
  });

  it('the request record rebuilds every request the endpoint received', () => {
    const t = foldTrajectory(session.events);
    const recorded = session.events.filter((e): e is EventOf<'model.request'> => e.type === 'model.request');
    expect(recorded).toHaveLength(rig.bodies.length);
    recorded.forEach((r, i) => expect(rebuildRequest(t, r.requestId)!.body, `request ${i}`).toEqual(rig.bodies[i]!.body));
  });

  it('the export holds the wire: its context is a request the endpoint received, its last turn what the next request carried', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8')) as Array<{ messages: Msg[]; tools?: unknown[] }>;
    expect(lines).toHaveLength(1);
    const strip = (m: Msg) => {
      const { weight: _w, ...rest } = m;
      return rest;
    };
    const wire = rig.bodies.map((q) => ({ tools: q.body.tools as unknown[], messages: (q.body.messages as Msg[]).map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null))) }));
    const line = lines[0]!;
    // The line ends on the finish call: its context is the last request, verbatim.
    const ctx = line.messages.slice(0, -1).map(strip);
    expect(canonicalJson(ctx)).toBe(canonicalJson(wire[3]!.messages));
    expect(line.tools).toEqual(wire[3]!.tools);
    // Every assistant turn in it is what the request after that step carried.
    for (const id of ['callE1', 'callE2', 'callE3']) {
      const k = Number(id.slice(-1));
      expect(strip(turnOf(line, id)!)).toEqual(Object.fromEntries(Object.entries(turnOf(rig.bodies[k]!.body, id)!).filter(([, v]) => v !== null)));
    }
  });

  it('trains the blank-arguments calls as sent ("{}"), not the nameless call (masked as an invalid call)', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8'));
    const trained: unknown[] = [];
    for (const l of lines) {
      expect(oa.validate(l)).toEqual([]);
      trained.push(...oa.trainedTurns(l).trained.flatMap((x) => x.toolCalls ?? []));
    }
    expect(trained).toEqual([
      { id: 'callE1', type: 'function', function: { name: 'list_sessions', arguments: '{}' } },
      { id: 'callE2', type: 'function', function: { name: 'list_sessions', arguments: '{}' } },
      { id: 'callE4', type: 'function', function: { name: 'finish', arguments: '{"message":"done"}' } },
    ]);
    expect(turnOf((lines as Array<{ messages: Msg[] }>)[0]!, 'callE3')!.weight).toBe(0);
    expect(manifest.counts.kept).toBe(3);
    expect(manifest.counts.masked).toBe(1);
    expect(manifest.counts.maskedBy['invalid-arguments']).toBe(1);
    expect(manifest.counts.maskedBy.annotator).toBe(0);
    const entry = manifest.trajectories[0]!;
    expect(entry.trainedSteps).toEqual([path[0]!.id, path[1]!.id, path[3]!.id]);
  });

  it('trajectory.jsonl gives each step the weight openai.jsonl does (merges read it)', async () => {
    const steps = parseJsonl(await readFile(join(dir, 'trajectory.jsonl'), 'utf8')) as Array<{ kind: string; id?: string; stepId?: string; weight?: number | null }>;
    const weights = path.map((p) => steps.find((l) => l.kind === 'step' && (l.id ?? l.stepId) === p.id)?.weight);
    expect(weights).toEqual([1, 1, 0, 1]);
  });

  it('every trainer reads the line and trains the same turns', async () => {
    const cfg = parseYamlSubset(await readFile(join(dir, 'axolotl.yml'), 'utf8')) as ax.AxolotlConfig;
    const [ds] = ax.chatTemplateDatasets(cfg);
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8'));
    for (const l of lines) {
      // Axolotl json.loads every string argument: "" would stop the run.
      const r = ax.trainedTurns(l, ds!, cfg);
      expect(r.error).toBeUndefined();
      expect(r.trained.map((x) => (x.toolCalls as Array<{ id: string }>)[0]!.id)).toEqual(['callE1', 'callE2', 'callE4']);
    }
    const info = JSON.parse(await readFile(join(dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
    const train = parseYamlSubset(await readFile(join(dir, 'llamafactory.yaml'), 'utf8')) as { mask_history: boolean; dataset: string };
    const share = parseJsonl(await readFile(join(dir, 'sharegpt.jsonl'), 'utf8'));
    const lfTrained = lf.trainedTurnsOfFile(share, info, train.dataset, { mask_history: train.mask_history }).flatMap((r) => {
      expect(r.dropped).toBeUndefined();
      return r.trained.map((x) => x.text);
    });
    expect(lfTrained).toEqual([
      JSON.stringify({ name: 'list_sessions', arguments: {} }),
      JSON.stringify({ name: 'list_sessions', arguments: {} }),
      JSON.stringify({ name: 'finish', arguments: { message: 'done' } }),
    ]);
    const mistral = parseJsonl(await readFile(join(dir, 'mistral.jsonl'), 'utf8'));
    const miTrained = mistral.flatMap((l) => {
      const r = mi.trainedTurns(l, { dynamicChunkFnCall: true });
      expect(r.error).toBeUndefined();
      return r.trained.map((x) => {
        const c = (x.toolCalls as mi.MToolCall[])[0]!;
        return { name: c.name, arguments: c.arguments };
      });
    });
    expect(miTrained).toEqual([
      { name: 'list_sessions', arguments: '{}' },
      { name: 'list_sessions', arguments: '{}' },
      { name: 'finish', arguments: '{"message":"done"}' },
    ]);
  });
});
