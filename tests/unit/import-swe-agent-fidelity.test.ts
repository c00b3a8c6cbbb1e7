// SWE-agent trajectories as SWE-agent writes them (read from its source: agents.py
// add_step_to_trajectory, forward, handle_error_with_retry; models.py
// _history_to_messages), imported: every step's context is what its model was sent, or is
// said to be derived, and every reply belongs to the step that made it.
//   - 1.0 stores each step's `messages` after the step: they end with its own reply and
//     observation, so they are not its context as they stand;
//   - 1.1's `query` is the history as SWE-agent holds it (tool_call_ids, agent,
//     message_type, thought, action), which its model turns into the messages it sends;
//   - a reply SWE-agent rejected (no tool call) is a trajectory step of its own, and the
//     retry that follows may repeat its text.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestMessages } from '../../shared/trajectory';
import { ImportWorkspace, origin } from '../fixtures/import';
import * as oa from '../fixtures/trainers/openai';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

// History items as SWE-agent's history holds them.
const sys = { role: 'system', content: 'SYS', agent: 'main', message_type: 'system_prompt' };
const user = { role: 'user', content: 'TASK', agent: 'main', message_type: 'observation' };
const call = (id: string, name: string, args: string) => ({ function: { arguments: args, name }, id, type: 'function' });
const a1 = { role: 'assistant', content: 'Let me look', thought: 'Let me look', action: 'ls', agent: 'main', tool_calls: [call('c1', 'bash', '{"command":"ls"}')], message_type: 'action' };
const t1 = { role: 'tool', content: 'a.py', agent: 'main', tool_call_ids: ['c1'], message_type: 'observation' };
const a2 = { role: 'assistant', content: 'submit', thought: 'submit', action: 'submit', agent: 'main', tool_calls: [call('c2', 'submit', '{}')], message_type: 'action' };
const t2 = { role: 'tool', content: 'diff', agent: 'main', tool_call_ids: ['c2'], message_type: 'observation' };
// What models.py sends for them.
const sent = {
  sys: { role: 'system', content: 'SYS' }, sysAsUser: { role: 'user', content: 'SYS' }, user: { role: 'user', content: 'TASK' },
  a1: { role: 'assistant', content: 'Let me look', tool_calls: a1.tool_calls }, t1: { role: 'tool', content: 'a.py', tool_call_id: 'c1' },
};

async function importTraj(name: string, traj: Record<string, unknown>) {
  const f = join(w.root, name);
  await writeFile(f, JSON.stringify({ environment: 'main', ...traj }));
  const { sessions } = await w.import(f);
  return sessions[0]!;
}

describe('SWE-agent 1.0: each step\'s messages, stored after the step', () => {
  it('are not taken as its context: its own reply and observation are cut off, and the context is derived', async () => {
    const s = await importTraj('v10.traj', {
      info: { exit_status: 'submitted', swe_agent_version: '1.0.1' }, replay_config: JSON.stringify({ agent: { model: { name: 'gpt-4o' } } }),
      history: [sys, user, a1, t1, a2, t2],
      trajectory: [
        { action: 'ls', observation: 'a.py', response: 'Let me look', thought: 'Let me look', execution_time: 0.1, state: {}, messages: [sys, user, a1, t1] },
        { action: 'submit', observation: 'diff', response: 'submit', thought: 'submit', execution_time: 0.1, state: {}, messages: [sys, user, a1, t1, a2, t2] },
      ],
    });
    expect(origin(s).context).toBe('derived');
    expect(requestMessages(s.t, s.main[0]!.requestId!)).toEqual([sent.sys, sent.user]);
    expect(requestMessages(s.t, s.main[1]!.requestId!)).toEqual([sent.sys, sent.user, sent.a1, sent.t1]);
    // (owners are kept for the turns after the prompt)
    expect(s.t.requests.get(s.main[1]!.requestId!)!.owners).toEqual([s.main[0]!.id, s.main[0]!.id]);
    const out = await w.export([s.id], ['openai']);
    for (const l of out.openai) expect(oa.validate(l)).toEqual([]);
  });
});

describe('SWE-agent 1.1: each step\'s query, the history as SWE-agent holds it', () => {
  it('becomes the messages its model sent: tool_call_id from tool_call_ids, nothing else of the item, system as user when configured', async () => {
    const s = await importTraj('v11.traj', {
      info: { exit_status: 'submitted', swe_agent_version: '1.1.0' },
      replay_config: JSON.stringify({ agent: { model: { name: 'gpt-4o', convert_system_to_user: true } } }),
      history: [sys, user, a1, t1, a2],
      trajectory: [
        { action: 'ls', observation: 'a.py', response: 'Let me look', thought: 'Let me look', execution_time: 0.1, state: {}, query: [sys, user] },
        { action: 'submit', observation: 'diff', response: 'submit', thought: 'submit', execution_time: 0.1, state: {}, query: [sys, user, a1, t1] },
      ],
    });
    expect(origin(s).context).toBe('exact');
    expect(requestMessages(s.t, s.main[1]!.requestId!)).toEqual([sent.sysAsUser, sent.user, sent.a1, sent.t1]);
    const out = await w.export([s.id], ['openai']);
    expect(out.openai.length).toBeGreaterThan(0);
    for (const l of out.openai) expect(oa.validate(l)).toEqual([]);
    const msgs = (out.openai.at(-1) as { messages: Array<Record<string, unknown>> }).messages;
    expect(msgs[3]).toEqual({ role: 'tool', content: 'a.py', tool_call_id: 'c1' });
  });
});

describe('SWE-agent: a reply it rejected and asked again for', () => {
  // The model answered without a tool call, was told so, and answered again with the same text and a call.
  const bad = { role: 'assistant', content: 'Let me look', agent: 'main', message_type: 'assistant' };
  const err = { role: 'user', content: 'Your last output did not use any tool calls!', agent: 'main', message_type: 'user' };
  const traj = (withQueries: boolean) => ({
    info: { exit_status: 'submitted', swe_agent_version: '1.1.0' }, replay_config: JSON.stringify({ agent: { model: { name: 'gpt-4o' } } }),
    history: [sys, user, a1, t1, a2],
    trajectory: [
      { action: '', observation: '', response: 'Let me look', thought: 'Let me look', execution_time: 0, state: {}, ...(withQueries ? { query: [sys, user] } : {}) },
      { action: 'ls', observation: 'a.py', response: 'Let me look', thought: 'Let me look', execution_time: 0.1, state: {}, ...(withQueries ? { query: [sys, user, bad, err] } : {}) },
      { action: 'submit', observation: 'diff', response: 'submit', thought: 'submit', execution_time: 0.1, state: {}, ...(withQueries ? { query: [sys, user, a1, t1] } : {}) },
    ],
  });

  it('is a step of its own, not trained, with no call; the retry keeps its call and is trained', async () => {
    for (const withQueries of [true, false]) {
      const s = await importTraj(`rejected-${withQueries}.traj`, traj(withQueries));
      const [rej, retry, submit] = s.main;
      expect(rej!.response!.toolCalls).toEqual([]);
      expect(rej!.notTrained).toMatch(/rejected/);
      expect(retry!.response!.toolCalls.map((c) => c.id)).toEqual(['c1']);
      expect(retry!.notTrained).toBeUndefined();
      expect(submit!.response!.toolCalls.map((c) => c.id)).toEqual(['c2']);
      const out = await w.export([s.id], ['openai']);
      const trained = out.openai.flatMap((l) => oa.trainedTurns(l).trained.map((x) => JSON.stringify(x.toolCalls ?? null)));
      expect(trained).toEqual([expect.stringContaining('"c1"'), expect.stringContaining('"c2"')]);
    }
  });

  it('owns the reply the retry\'s query ends with, and no turn of a later context', async () => {
    const s = await importTraj('rejected-owners.traj', traj(true));
    const [rej, retry] = s.main;
    expect(requestMessages(s.t, retry!.requestId!)!.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(s.t.requests.get(retry!.requestId!)!.owners).toEqual([rej!.id, rej!.id]);
    expect(s.t.requests.get(s.main[2]!.requestId!)!.owners).toEqual([retry!.id, retry!.id]);
  });
});
