// Agent trajectories (mini-swe-agent, SWE-agent, InnovatorBench nodes) imported from
// the real samples: steps, tool calls and observations against the source, the
// context of each step, and an export whose training line is that context.
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
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

type Json = Record<string, unknown>;
const readJson = async (p: string) => JSON.parse(await readFile(p, 'utf8')) as Json;
const withoutWeights = (messages: Json[]) => messages.map(({ weight: _w, ...m }) => m);

describe.skipIf(!haveSamples)('mini-swe-agent (real samples)', () => {
  it('mini-swe-agent-1: text actions from ```bash blocks, observations with return codes, the exact linear context', async () => {
    const file = sample('mini-swe-agent/gemini3pro_psf__requests-1766.traj.json');
    const src = await readJson(file);
    const messages = src.messages as Array<{ role: string; content: string }>;
    const { result, sessions } = await w.import(file);
    expect(result.format).toBe('mini-swe-agent');
    const [s] = sessions;
    const replies = messages.filter((m) => m.role === 'assistant');
    expect(s!.main).toHaveLength(replies.length);
    expect(origin(s!)).toMatchObject({ format: 'mini-swe-agent', context: 'exact', toolVersion: 'mini-swe-agent-1 1.15.0' });
    s!.main.forEach((step, k) => {
      expect(step.response!.content).toBe(replies[k]!.content);
      expect(step.response!.toolMode).toBe('text');
      const cmd = /```bash\n([\s\S]*?)\n```/.exec(replies[k]!.content)?.[1]?.trim();
      if (cmd) expect(JSON.parse(step.response!.toolCalls[0]!.arguments)).toEqual({ command: cmd });
      const next = messages[messages.indexOf(replies[k]!) + 1];
      expect(step.results[0]?.observation).toBe(next?.content);
      // The request of each step is the conversation before it, without `extra`.
      const req = requestMessages(s!.t, step.requestId!)!;
      expect(req).toEqual(messages.slice(0, messages.indexOf(replies[k]!)).map(({ extra: _x, ...m }: Json) => m));
    });
    // Return codes are recorded on the results (the fold keeps the text; the events the code).
    const codes = s!.events.flatMap((e) => (e.type === 'action.result' ? [e.exitCode] : []));
    const expected = s!.main.map((st) => /<returncode>(-?\d+)<\/returncode>/.exec(st.results[0]?.observation ?? '')?.[1]).filter((c) => c !== undefined).map(Number);
    expect(codes.filter((c) => c !== undefined)).toEqual(expected);
    expect(expected.length).toBeGreaterThan(10);
    // One window: the whole conversation up to the last reply, exactly.
    const out = await w.export([s!.id], ['openai']);
    expect(out.openai).toHaveLength(1);
    const last = messages.lastIndexOf(replies.at(-1)!);
    expect(withoutWeights((out.openai[0] as { messages: Json[] }).messages)).toEqual(messages.slice(0, last + 1).map((m) => ({ role: m.role, content: m.content })));
  });

  it('mini-swe-agent-1.1: tool calls, tool results with return codes, the exit turn left out of every request', async () => {
    const file = sample('mini-swe-agent/deepseek_v2_django__django-14752.traj.json');
    const src = await readJson(file);
    const messages = src.messages as Array<{ role: string; content: string; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>; tool_call_id?: string; extra?: { returncode?: number } }>;
    const { sessions } = await w.import(file);
    const [s] = sessions;
    const replies = messages.filter((m) => m.role === 'assistant');
    expect(s!.main).toHaveLength(replies.length);
    expect(origin(s!).toolVersion).toMatch(/^mini-swe-agent-1\.1/);
    let results = 0;
    s!.main.forEach((step, k) => {
      const calls = replies[k]!.tool_calls ?? [];
      expect(step.response!.toolCalls.map((c) => [c.id, c.name, c.arguments])).toEqual(calls.map((c) => [c.id, c.function.name, c.function.arguments]));
      for (const r of step.results) {
        const tool = messages.find((m) => m.role === 'tool' && m.tool_call_id === r.toolCallId)!;
        expect(r.observation).toBe(tool.content);
        expect(r.name).toBe('bash');
        results++;
      }
    });
    expect(results).toBe(messages.filter((m) => m.role === 'tool').length);
    for (const r of s!.t.requests.values()) expect(r.append.some((m) => m.role === 'exit' || 'extra' in m)).toBe(false);
    expect([...s!.t.rollouts.values()][0]!.state).toBe(messages.some((m) => m.role === 'exit') ? 'finished' : 'stopped');
    const out = await w.export([s!.id], ['openai', 'sharegpt']);
    expect(out.openai).toHaveLength(1);
  });
});

describe.skipIf(!haveSamples)('SWE-agent (real samples)', () => {
  it('1.x: tool calls from the history, observations from the trajectory, contexts derived from the history', async () => {
    const file = sample('swe-agent/v1x_gpt4o_sweagenttestrepo-1c2844.traj');
    const src = await readJson(file);
    const traj = src.trajectory as Array<{ action: string; observation: string; response: string; execution_time: number }>;
    const history = src.history as Array<{ role: string; content: string; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }> }>;
    const { result, sessions } = await w.import(file);
    expect(result.format).toBe('swe-agent');
    const [s] = sessions;
    expect(s!.main).toHaveLength(traj.length);
    // This sample keeps no per-step query, so the contexts come from the history.
    expect(origin(s!)).toMatchObject({ toolVersion: 'SWE-agent 1.x', context: 'derived', sourceCwd: '/SWE-agent__test-repo' });
    const replies = history.filter((h) => h.role === 'assistant');
    // The history of this sample stops before the final submit step.
    expect(replies.length).toBe(traj.length - 1);
    s!.main.forEach((step, k) => {
      expect(step.response!.content).toBe(traj[k]!.response);
      const reply = replies[k];
      const call = reply?.tool_calls![0];
      if (call) expect(step.response!.toolCalls[0]).toEqual({ id: call.id, name: call.function.name, arguments: call.function.arguments });
      else {
        // The final submit's call is not in the trajectory: none is made up for it, its
        // result answers no call, and it is not trained.
        expect(step.response!.toolCalls).toEqual([]);
        expect(step.results[0]!.toolCallId).toBe('');
        expect(step.notTrained).toMatch(/^not trained: /);
      }
      expect(step.results[0]!.observation).toBe(traj[k]!.observation);
      expect(step.results[0]!.durationMs).toBeCloseTo(traj[k]!.execution_time * 1000, 3);
      const req = requestMessages(s!.t, step.requestId!)!;
      expect(req.length).toBe(reply ? history.indexOf(reply) : history.length);
      expect(req[0]).toEqual({ role: 'system', content: history[0]!.content });
    });
    expect([...s!.t.rollouts.values()][0]).toMatchObject({ state: 'finished', reason: 'submitted' });
    const out = await w.export([s!.id], ['openai']);
    expect(out.openai).toHaveLength(1);
  });

  it('0.x: text actions, demonstrations kept in the prompt', async () => {
    const file = sample('swe-agent/v0x_gpt4_pydicom__pydicom-1458.traj');
    const src = await readJson(file);
    const traj = src.trajectory as Array<{ action: string; observation: string; response: string }>;
    const history = src.history as Array<{ role: string; content: string; is_demo?: boolean }>;
    const { sessions } = await w.import(file);
    const [s] = sessions;
    expect(s!.main).toHaveLength(traj.length);
    expect(origin(s!).toolVersion).toBe('SWE-agent 0.x');
    s!.main.forEach((step, k) => {
      expect(step.response!.toolMode).toBe('text');
      expect(JSON.parse(step.response!.toolCalls[0]!.arguments)).toEqual({ command: traj[k]!.action.replace(/\n$/, '') });
      expect(step.results[0]!.observation).toBe(traj[k]!.observation);
    });
    const first = requestMessages(s!.t, s!.main[0]!.requestId!)!;
    expect(first.map((m) => m.role)).toEqual(history.slice(0, 3).map((h) => h.role));
    expect(first[1]!.content).toBe(history.find((h) => h.is_demo)!.content);
  });
});

describe('SWE-agent with per-step queries', () => {
  it('uses each step\'s own query as its exact context', async () => {
    const sys = { role: 'system', content: 'You are SWE-agent.' };
    const user = { role: 'user', content: 'fix the bug' };
    const a1 = { role: 'assistant', content: 'look first', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'bash', arguments: '{"command":"ls"}' } }] };
    const t1 = { role: 'tool', content: 'a.py', tool_call_id: 'c1' };
    const traj = {
      environment: 'main', info: { exit_status: 'submitted', swe_agent_version: '1.1.0' }, replay_config: JSON.stringify({ agent: { model: { name: 'gpt-4o' } } }),
      history: [sys, user, { ...a1, action: 'ls', agent: 'main', message_type: 'action' }, { role: 'tool', content: 'a.py', tool_call_ids: ['c1'], agent: 'main' }, { role: 'assistant', content: 'submit now', action: 'submit', tool_calls: [{ id: 'c2', type: 'function', function: { name: 'submit', arguments: '{}' } }] }],
      trajectory: [
        { action: 'ls', observation: 'a.py', response: 'look first', thought: 'look first', execution_time: 0.1, state: { working_dir: '/repo' }, query: [sys, user] },
        { action: 'submit', observation: 'diff', response: 'submit now', thought: 'submit now', execution_time: 0.2, state: { working_dir: '/repo' }, query: [sys, user, a1, t1] },
      ],
    };
    const f = join(w.root, 'queries.traj');
    await writeFile(f, JSON.stringify(traj));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(origin(s!)).toMatchObject({ context: 'exact', toolVersion: 'SWE-agent 1.1.0', sourceCwd: '/repo' });
    expect(requestMessages(s!.t, s!.main[1]!.requestId!)).toEqual([sys, user, a1, t1]);
    expect(s!.t.requests.get(s!.main[1]!.requestId!)!.owners).toEqual([s!.main[0]!.id, s!.main[0]!.id]);
    expect(s!.main[1]!.response!.toolCalls[0]).toMatchObject({ id: 'c2', name: 'submit' });
    const out = await w.export([s!.id], ['openai']);
    expect((out.openai[0] as { messages: Json[] }).messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant']);
  });
});

describe.skipIf(!haveSamples)('InnovatorBench nodes (real sample)', () => {
  const file = sample('innovatorbench/react-node-depth70.json');

  it('one node: its reply on its exact context; the actions in that context as the steps before it', async () => {
    const node = await readJson(file);
    const msgs = node.messages as Array<{ role: string; content: string; tool_call: { call_id: string; name: string; arguments: Json } | null; tool_result: { call_id: string; content: string } | null }>;
    const { result, sessions } = await w.import(file);
    expect(result.format).toBe('innovatorbench');
    const [s] = sessions;
    const calls = msgs.filter((m) => m.tool_call);
    expect(s!.main).toHaveLength(calls.length + 1);
    s!.main.slice(0, -1).forEach((step, k) => {
      const c = calls[k]!.tool_call!;
      expect(step.response!.toolCalls).toEqual([{ id: c.call_id, name: c.name, arguments: JSON.stringify(c.arguments) }]);
      const res = msgs.find((m) => m.tool_result?.call_id === c.call_id);
      expect(step.results.map((r) => r.observation)).toEqual(res ? [res.tool_result!.content] : []);
    });
    const last = s!.main.at(-1)!;
    const resp = node.response as { tool_calls: Array<{ call_id: string; name: string; arguments: Json }>; usage: { input_tokens: number; output_tokens: number } };
    expect(last.response!.toolCalls[0]).toEqual({ id: resp.tool_calls[0]!.call_id, name: 'get_session_output', arguments: JSON.stringify(resp.tool_calls[0]!.arguments) });
    expect(last.response!.usage).toMatchObject({ promptTokens: resp.usage.input_tokens, completionTokens: resp.usage.output_tokens });
    // The observation as the agent puts it in the next context: Python's json.dumps of it.
    expect(JSON.parse(last.results[0]!.observation)).toEqual(node.observation);
    expect(last.results[0]!.observation).toMatch(/^\{"success": true, "message": /);
    // Its request is the node's whole context, as wire messages.
    const req = requestMessages(s!.t, last.requestId!)!;
    expect(req).toHaveLength(msgs.length);
    expect(req[0]).toEqual({ role: 'system', content: msgs[0]!.content });
    expect(req[2]!.content).toMatch(/<state_snapshot>/);
    expect(s!.events.some((e) => e.type === 'warning' && /begins with a summary/.test(e.message))).toBe(true);
    // Exported: one line that is that context plus the node's reply.
    const out = await w.export([s!.id], ['openai']);
    expect(out.openai).toHaveLength(1);
    const line = (out.openai[0] as { messages: Json[] }).messages;
    expect(line).toHaveLength(msgs.length + 1);
    expect(withoutWeights(line.slice(0, -1))).toEqual(req.map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null))));
  });

  it('a folder of nodes: a tree with a branch where a node has two children', async () => {
    const dir = join(w.root, 'nodes');
    await mkdir(dir);
    const mk = (id: string, parent: string | null, ts: string, call: string, extra: Json = {}) => ({
      id, parent_id: parent, timestamp: ts, node_type: 'react', source: 'generate', depth: 0,
      messages: [{ role: 'system', content: 'sys', reasoning: null, tool_call: null, tool_result: null }, { role: 'user', content: '\n<task_description>\nT\n</task_description>\n', reasoning: null, tool_call: null, tool_result: null }],
      response: { role: 'assistant', content: '', tool_calls: [{ call_id: call, name: 'run_command', arguments: { command: `echo ${call}` } }] },
      observation: { success: true, output: call }, action: { call_id: call, action_type: 'run_command' }, ...extra,
    });
    await writeFile(join(dir, 'root_r.json'), JSON.stringify({ id: 'r', parent_id: null, timestamp: '2025-09-08T10:00:00', node_type: 'root', messages: [], response: null, source: 'generate', depth: 0, observation: { success: true, message: 'T', source: 'user', timestamp: '2025-09-08T10:00:00' }, action: null }));
    await writeFile(join(dir, 'react_a.json'), JSON.stringify(mk('a', 'r', '2025-09-08T10:00:01', 'c1')));
    // b's context holds a's call, its result and a person's turn after it.
    const bNode = mk('b', 'a', '2025-09-08T10:00:02', 'c2') as { messages: unknown[] };
    bNode.messages.push(
      { role: 'assistant', content: '', reasoning: null, tool_call: { call_id: 'c1', name: 'run_command', arguments: { command: 'echo c1' } }, tool_result: null },
      { role: 'tool', content: '', reasoning: null, tool_call: null, tool_result: { call_id: 'c1', name: 'run_command', content: '{"success": true}' } },
      { role: 'user', content: '<real_user>check the logs first</real_user>', reasoning: null, tool_call: null, tool_result: null },
    );
    await writeFile(join(dir, 'react_b.json'), JSON.stringify(bNode));
    await writeFile(join(dir, 'react_c.json'), JSON.stringify(mk('c', 'a', '2025-09-08T10:00:03', 'c3')));
    const { sessions } = await w.import(dir);
    const [s] = sessions;
    expect(s!.t.steps.size).toBe(3);
    expect(s!.t.branches.size).toBe(2);
    expect(s!.main.map((st) => st.response!.toolCalls[0]!.id)).toEqual(['c1', 'c2']);
    const other = [...s!.t.branches.values()].find((b) => b.id !== 'main')!;
    expect(s!.t.steps.get(other.fromStepId!)!.response!.toolCalls[0]!.id).toBe('c1');
    expect([...s!.t.rollouts.values()][0]!.task).toBe('T');
    expect(s!.main[0]!.guidance.map((g) => s!.t.guidance.get(g)!.text)).toEqual(['check the logs first']);
    // Steps keep the source's times; the import itself is the newest fact, so the session lists first.
    expect(s!.main[0]!.startedAt).toBe(Date.parse('2025-09-08T10:00:01Z'));
    expect(w.ws.list()[0]!.id).toBe(s!.id);
  });

  it('a folder with a summary: copies of the kept nodes map onto the originals, the summary on the step it followed', async () => {
    const dir = join(w.root, 'summarized');
    await mkdir(dir);
    const msg = (role: string, content: string) => ({ role, content, reasoning: null, tool_call: null, tool_result: null });
    const node = (id: string, parent: string, ts: string, call: string, source = 'generate') => ({
      id, parent_id: parent, timestamp: ts, node_type: 'react', source, depth: 0, messages: [msg('system', 'sys'), msg('user', 'task')],
      response: { role: 'assistant', content: '', tool_calls: [{ call_id: call, name: 'run_command', arguments: { command: call } }] },
      observation: { success: true }, action: { call_id: call, action_type: 'run_command' },
    });
    const files: Record<string, unknown> = {
      root: { id: 'r', parent_id: null, timestamp: '2025-09-08T10:00:00', node_type: 'root', messages: [], response: null, observation: { success: true, message: 'the task' } },
      a: node('a', 'r', '2025-09-08T10:00:01', 'c1'),
      b: node('b', 'a', '2025-09-08T10:00:02', 'c2'),
      c: node('c', 'b', '2025-09-08T10:00:03', 'c3'),
      // The summary covers a and b; it hangs where the covered part began, and c is copied under it.
      s: {
        id: 's', parent_id: 'r', timestamp: '2025-09-08T10:00:04', node_type: 'summary', source: 'generate', messages: [msg('system', 'summarize'), msg('user', 'history')],
        response: { role: 'assistant', content: '', tool_calls: [{ call_id: 'cs', name: 'internal_summarize', arguments: { summary_content: 'did a and b' } }] }, summary_content: 'did a and b',
      },
      c2: node('c2', 's', '2025-09-08T10:00:05', 'c3', 'duplicate'),
      d: node('d', 'c2', '2025-09-08T10:00:06', 'c4'),
    };
    for (const [k, v] of Object.entries(files)) await writeFile(join(dir, `${k}.json`), JSON.stringify(v));
    const { sessions } = await w.import(dir);
    const [s] = sessions;
    expect(s!.t.branches.size).toBe(1);
    expect(s!.main.map((st) => st.response!.toolCalls[0]!.id)).toEqual(['c1', 'c2', 'c3', 'c4']);
    const c = s!.main[2]!;
    expect(c.summary?.text).toBe('did a and b');
    expect(c.summary?.coveredStepIds).toEqual([s!.main[0]!.id, s!.main[1]!.id]);
    expect(s!.t.requests.get(c.summary!.requestId!)!.purpose).toBe('summary');
  });

  it('refuses a folder with a missing parent, naming the node, and imports nothing', async () => {
    const dir = join(w.root, 'orphans');
    await mkdir(dir);
    await cp(file, join(dir, 'react_node.json'));
    const before = w.ws.list().length;
    await expect(w.import(dir)).rejects.toThrow(/react_node\.json, node 0af1bb00-c19c-4fde-8152-9294d4ea95c1: its parent node 60918179-311d-451c-8499-e9c71b12d715 is not in the folder/);
    expect(w.ws.list().length).toBe(before);
  });
});
