// OpenHands event streams: a real trajectory, an evaluation output.jsonl of several
// instances (one session each) and a session folder of event files.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestMessages } from '../../shared/trajectory';
import { ImportWorkspace, haveSamples, origin, sample } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

type Ev = { id: number; source: string; action?: string; observation?: string; args?: Record<string, unknown>; cause?: number; content?: string; extras?: { metadata?: { exit_code?: number; suffix?: string } }; tool_call_metadata?: { tool_call_id: string; function_name: string } };

describe.skipIf(!haveSamples)('OpenHands trajectory (real sample)', () => {
  const file = sample('openhands/basic_gui_mode.json');

  it('agent actions are steps, observations their results, the user message the task', async () => {
    const events = JSON.parse(await readFile(file, 'utf8')) as Ev[];
    const { result, sessions } = await w.import(file);
    expect(result.format).toBe('openhands');
    const [s] = sessions;
    const actions = events.filter((e) => e.source === 'agent' && e.action);
    expect(s!.main).toHaveLength(actions.length);
    expect([...s!.t.rollouts.values()][0]!.task).toBe(events.find((e) => e.source === 'user' && e.action === 'message')!.args!.content);
    actions.forEach((a, k) => {
      const step = s!.main[k]!;
      const obs = events.find((e) => e.observation && e.cause === a.id && e.observation !== 'null');
      if (a.tool_call_metadata) {
        expect(step.response!.toolCalls.map((c) => [c.id, c.name])).toEqual([[a.tool_call_metadata.tool_call_id, a.tool_call_metadata.function_name]]);
        expect(step.response!.content).toBe(a.args!.thought);
      } else {
        expect(step.response!.toolCalls).toEqual([]);
        expect(step.response!.content).toBe(a.args!.content);
      }
      expect(step.results.map((r) => r.observation)).toEqual(obs ? [`${obs.content ?? ''}${obs.extras?.metadata?.suffix ?? ''}`] : []);
    });
    const codes = s!.events.flatMap((e) => (e.type === 'action.result' && e.exitCode !== undefined ? [e.exitCode] : []));
    expect(codes).toEqual(events.filter((e) => e.observation === 'run').map((e) => e.extras!.metadata!.exit_code));
    // A command that did not finish (exit code -1) is an error result.
    const serve = s!.main.find((st) => st.results[0]?.observation.startsWith('Serving HTTP'))!;
    expect(serve.results[0]!.isError).toBe(true);
    expect(origin(s!)).toMatchObject({ context: 'derived', unknown: { 'observation agent_state_changed': 4, 'observation null': 3, 'environment action change_agent_state': 1 } });
    const req = requestMessages(s!.t, s!.main.at(-1)!.requestId!)!;
    expect(req.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'tool', 'assistant', 'tool', 'assistant', 'tool']);
    const out = await w.export([s!.id], ['openai', 'sharegpt']);
    expect(out.openai).toHaveLength(1);
  });

  it("the server's trajectory answer saved as it came ({trajectory: [...]}) reads as the UI's download (its list)", async () => {
    const events = JSON.parse(await readFile(file, 'utf8')) as Ev[];
    const f = join(w.root, 'trajectory-answer.json');
    await writeFile(f, JSON.stringify({ trajectory: events }, null, 2));
    const { result, sessions } = await w.import(f);
    expect(result.format).toBe('openhands');
    const bare = (await w.import(file)).sessions[0]!;
    const calls = (x: typeof bare) => x.main.map((st) => [st.response?.content, st.response?.toolCalls.map((c) => c.arguments), st.results.map((r) => r.observation)]);
    expect(calls(sessions[0]!)).toEqual(calls(bare));
    expect(sessions[0]!.main.length).toBeGreaterThan(0);
  });

  it('an evaluation output.jsonl: one session per instance', async () => {
    const events = JSON.parse(await readFile(file, 'utf8')) as Ev[];
    const f = join(w.root, 'output.jsonl');
    const line = (id: string) => JSON.stringify({ instance_id: id, instruction: `solve ${id}`, history: events, metadata: { agent_class: 'CodeActAgent', llm_config: { model: 'claude-3-5-sonnet' } }, test_result: { resolved: id === 'a' }, error: null });
    await writeFile(f, `${line('a')}\n${line('b')}\n`);
    const { sessions } = await w.import(f);
    expect(sessions).toHaveLength(2);
    expect(sessions.map((s) => origin(s).item)).toEqual(['instance a', 'instance b']);
    expect(sessions.map((s) => [...s.t.rollouts.values()][0]!.task)).toEqual(['solve a', 'solve b']);
    expect(origin(sessions[0]!).toolVersion).toBe('OpenHands CodeActAgent');
    expect([...sessions[0]!.t.rollouts.values()][0]!.endpoint?.model).toBe('claude-3-5-sonnet');
  });

  it('a session folder of events/<n>.json in numeric order', async () => {
    const events = JSON.parse(await readFile(file, 'utf8')) as Ev[];
    const dir = join(w.root, 'oh-session');
    await mkdir(join(dir, 'events'), { recursive: true });
    for (const e of events) await writeFile(join(dir, 'events', `${e.id}.json`), JSON.stringify(e));
    const { result, sessions } = await w.import(dir);
    expect(result.format).toBe('openhands');
    expect(sessions[0]!.main).toHaveLength(events.filter((e) => e.source === 'agent' && e.action).length);
  });
});

describe('OpenHands V1 (the agent SDK)', () => {
  const message = { kind: 'MessageEvent', id: '5a1c0b7e-0c1d-4f3a-9d2e-1b2c3d4e5f60', timestamp: '2026-11-02T10:00:00', source: 'user', llm_message: { role: 'user', content: [{ type: 'text', text: 'Fix the bug' }] } };
  const action = { kind: 'ActionEvent', id: '6b2d1c8f-1d2e-4a4b-8e3f-2c3d4e5f6071', timestamp: '2026-11-02T10:00:05', source: 'agent', thought: [{ type: 'text', text: 'Look first.' }], tool_name: 'terminal', tool_call_id: 'call_1', tool_call: { id: 'call_1', name: 'terminal', arguments: '{"command": "ls"}', origin: 'completion' }, llm_response_id: 'resp_1', action: { kind: 'TerminalAction', command: 'ls' } };

  it('a conversation folder of event-<n>-<id>.json files is refused by name, not read as V0', async () => {
    const dir = join(w.root, 'v1-conv');
    await mkdir(join(dir, 'events'), { recursive: true });
    await writeFile(join(dir, 'base_state.json'), JSON.stringify({ id: 'c1' }));
    await writeFile(join(dir, 'events', `event-00000-${message.id}.json`), JSON.stringify(message));
    await writeFile(join(dir, 'events', `event-00001-${action.id}.json`), JSON.stringify(action));
    await expect(w.import(dir)).rejects.toThrow(/an OpenHands V1 conversation .* does not import yet/);
  });

  it('a list of V1 events is refused the same way, with --format openhands too', async () => {
    const f = join(w.root, 'v1-events.json');
    await writeFile(f, JSON.stringify([message, action], null, 2));
    await expect(w.import(f)).rejects.toThrow(/OpenHands V1 conversation/);
    await expect(w.import(f, { format: 'openhands' })).rejects.toThrow(/OpenHands V1 conversation/);
  });
});
