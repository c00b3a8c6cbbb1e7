// Inspect AI: model calls of another conversation than the agent's (a sub-agent run by
// as_tool(), handoff() or run(), a tool's own model call, a subtask) are not steps of
// the agent's trajectory. The logs are built as Inspect writes them (spans of type
// "tool", "handoff", "agent", "subtask"; model/_call_tools.py, agent/_as_tool.py), and
// each case runs import → bundle export and reads what would be trained.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedRequestMessages, requestMessages } from '../../shared/trajectory';
import { ImportWorkspace, origin, type ImportedSession } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

type Msg = { role: string; content?: string | null; weight?: number; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }> };
type StepLine = { kind: string; weight: number | null };

const log = (events: unknown[]) => ({
  version: 2, status: 'success', eval: { task: 'capital', model: 'openai/gpt-4o', run_id: 'r1', eval_id: 'e1' },
  samples: [{ id: 1, epoch: 1, input: 'Write one line on the capital of France.', messages: [], events }],
});

const span = (id: string | undefined, parent: string | undefined, type: string, name: string) => ({ event: 'span_begin', ...(id ? { id, span_id: id } : {}), ...(parent ? { parent_id: parent } : {}), type, name });
const end = (id?: string) => ({ event: 'span_end', ...(id ? { id, span_id: id } : {}) });
const reply = (content: string, calls: Array<{ id: string; function: string; arguments: Record<string, unknown> }> = []) => ({
  model: 'gpt-4o', choices: [{ message: { role: 'assistant', content, ...(calls.length ? { tool_calls: calls } : {}) }, stop_reason: calls.length ? 'tool_calls' : 'stop' }],
});
const tool = (name: string) => ({ name, description: name, parameters: { type: 'object', properties: { input: { type: 'string' } } } });
const model = (input: unknown[], output: unknown, extra: Record<string, unknown> = {}) => ({ event: 'model', model: 'openai/gpt-4o', input, tools: [tool('researcher'), tool('transfer_to_writer'), tool('bash')], tool_choice: 'auto', config: {}, output, ...extra });

async function importLog(name: string, events: unknown[]): Promise<ImportedSession> {
  const f = join(w.root, `${name}.json`);
  await writeFile(f, JSON.stringify(log(events)));
  const { sessions } = await w.import(f);
  expect(sessions).toHaveLength(1);
  return sessions[0]!;
}

const notesOf = (s: ImportedSession) => s.events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));

async function exported(s: ImportedSession) {
  const out = await w.export([s.id], ['openai', 'trajectory']);
  const steps = (await readFile(join(out.dir, 'trajectory.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as StepLine).filter((l) => l.kind === 'step');
  const openai = out.openai as Array<{ messages: Msg[] }>;
  const trained = openai.flatMap((l) => l.messages.filter((m) => m.role === 'assistant' && m.weight === 1)).map((m) => m.content || m.tool_calls?.[0]?.function.name);
  return { openai, trained, steps, raw: await readFile(join(out.dir, 'openai.jsonl'), 'utf8') };
}

describe('Inspect: a sub-agent\'s model calls are not steps of the agent', () => {
  // The lead agent (the task's agent: as_solver wraps it in an agent span) asks a
  // researcher (as_tool) and hands off to a writer (handoff). The researcher's own tool
  // call reuses the id of the lead's call, as providers that number calls per
  // conversation do: it must not stand in for the lead's result.
  const sys = { role: 'system', content: 'You are the lead.' };
  const task = { role: 'user', content: 'Write one line on the capital of France.' };
  const askCall = { id: 'c1', function: 'researcher', arguments: { input: 'capital of France?' } };
  const handCall = { id: 'c2', function: 'transfer_to_writer', arguments: {} };
  const searchCall = { id: 'c1', function: 'web_search', arguments: { query: 'capital of France' } };
  const asked = [sys, task, { role: 'assistant', content: '', tool_calls: [askCall] }, { role: 'tool', tool_call_id: 'c1', function: 'researcher', content: 'Paris' }];
  const handed = [...asked, { role: 'assistant', content: '', tool_calls: [handCall] }, { role: 'tool', tool_call_id: 'c2', function: 'transfer_to_writer', content: 'Successfully transferred to writer.' }];
  const back = [...handed, { role: 'assistant', content: '[writer] SUB: Paris is the capital of France.' }, { role: 'user', content: 'The writer agent has completed its work.' }];
  const events = [
    span('ss', undefined, 'solvers', 'solvers'),
    span('sv', 'ss', 'solver', 'lead'),
    span('ag', 'sv', 'agent', 'lead'),
    model([sys, task], reply('', [askCall]), { span_id: 'ag' }),
    span('t1', 'ag', 'tool', 'researcher'),
    { event: 'tool', id: 'c1', function: 'researcher', arguments: askCall.arguments, result: 'Paris', span_id: 't1', agent_span_id: 'a1' },
    span('a1', 't1', 'agent', 'researcher'),
    model([{ role: 'user', content: 'capital of France?' }], reply('', [searchCall]), { span_id: 'a1' }),
    span('t2', 'a1', 'tool', 'web_search'),
    { event: 'tool', id: 'c1', function: 'web_search', arguments: searchCall.arguments, result: 'Paris is the capital of France.', span_id: 't2' },
    end('t2'),
    model([{ role: 'user', content: 'capital of France?' }, { role: 'assistant', content: '', tool_calls: [searchCall] }, { role: 'tool', tool_call_id: 'c1', function: 'web_search', content: 'Paris is the capital of France.' }], reply('SUB: Paris'), { span_id: 'a1' }),
    end('a1'),
    end('t1'),
    model(asked, reply('', [handCall]), { span_id: 'ag' }),
    span('h1', 'ag', 'handoff', 'writer'),
    span('t3', 'h1', 'tool', 'transfer_to_writer'),
    { event: 'tool', id: 'c2', function: 'transfer_to_writer', arguments: {}, result: 'Successfully transferred to writer.', span_id: 't3', agent: 'writer' },
    span('a2', 't3', 'agent', 'writer'),
    // handoff() passes the conversation without its system messages (agent_handoff).
    model(handed.slice(1), reply('SUB: Paris is the capital of France.'), { span_id: 'a2' }),
    end('a2'),
    end('t3'),
    end('h1'),
    model(back, reply('Done: Paris is the capital of France.'), { span_id: 'ag' }),
    end('ag'),
    end('sv'),
    end('ss'),
  ];

  it('as_tool() and handoff(): the trajectory is the lead\'s three calls, each on its exact input', async () => {
    const s = await importLog('subagents', events);
    expect(s.main.map((st) => st.response!.content || st.response!.toolCalls[0]!.name)).toEqual(['researcher', 'transfer_to_writer', 'Done: Paris is the capital of France.']);
    // The lead's result is its own tool call's, not the researcher's call that repeats its id.
    expect(s.main[0]!.results).toMatchObject([{ toolCallId: 'c1', name: 'researcher', observation: 'Paris' }]);
    const wire = [
      { role: 'system', content: 'You are the lead.' },
      { role: 'user', content: 'Write one line on the capital of France.' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'researcher', arguments: '{"input":"capital of France?"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'Paris' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'c2', type: 'function', function: { name: 'transfer_to_writer', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'c2', content: 'Successfully transferred to writer.' },
      { role: 'assistant', content: '[writer] SUB: Paris is the capital of France.' },
      { role: 'user', content: 'The writer agent has completed its work.' },
    ];
    expect(s.main.map((st) => requestMessages(s.t, st.requestId!))).toEqual([wire.slice(0, 2), wire.slice(0, 4), wire]);
    // The writer's turn the lead was given is context no step of the lead owns.
    expect(ownedRequestMessages(s.t, s.main[2]!.requestId!)!.owners.slice(-4)).toEqual([s.main[1]!.id, s.main[1]!.id, null, null]);

    expect(origin(s).unknown).toMatchObject({ 'sub-agent model call': 3, 'sub-agent tool call': 1 });
    expect(notesOf(s)).toContainEqual(expect.stringMatching(/^3 model call\(s\) ran in another conversation than the agent's \(tool "researcher" ×2, handoff "writer" ×1\).*not steps of the agent's trajectory.*import\/unknown\.jsonl: 3 as 'sub-agent model call' records \(with the 1 tool call\(s\) made there/));

    const { openai, trained, steps, raw } = await exported(s);
    // One context window: the lead's last input, verbatim, and its reply.
    expect(openai).toHaveLength(1);
    // (The OpenAI writer leaves out a tool-call turn's null content.)
    const asWritten = wire.map(({ content, ...m }) => (content === null ? m : { ...m, content }));
    expect(openai[0]!.messages.map(({ weight: _w, ...m }) => m)).toEqual([...asWritten, { role: 'assistant', content: 'Done: Paris is the capital of France.' }]);
    expect(openai[0]!.messages.filter((m) => m.role === 'assistant').map((m) => m.weight)).toEqual([1, 1, 0, 1]);
    expect(trained).toEqual(['researcher', 'transfer_to_writer', 'Done: Paris is the capital of France.']);
    expect(raw).not.toContain('web_search');
    expect(raw).not.toContain('"SUB: Paris"');
    expect(steps).toHaveLength(3);
  });
});

describe('Inspect: other conversations between the agent\'s calls', () => {
  // The agent calls bash, then answers; each case is what the log holds around the bash call.
  const call = { id: 'c1', function: 'bash', arguments: { cmd: 'echo $((2+2))' } };
  const first = [{ role: 'system', content: 'You are an agent.' }, { role: 'user', content: 'What is 2+2?' }];
  const second = [...first, { role: 'assistant', content: '', tool_calls: [call] }, { role: 'tool', tool_call_id: 'c1', function: 'bash', content: '4\n' }];
  const sub = (extra: Record<string, unknown> = {}) => model([{ role: 'user', content: 'Check 2+2.' }], reply('SUB: 4'), extra);
  const toolEvent = (extra: Record<string, unknown> = {}) => ({ event: 'tool', id: 'c1', function: 'bash', arguments: call.arguments, result: '4\n', ...extra });
  const run = (inside: unknown[], ag?: string) => [
    model(first, reply('', [call]), ag ? { span_id: ag } : {}),
    ...inside,
    model(second, reply('The answer is 4.'), ag ? { span_id: ag } : {}),
  ];
  const inAgent = (inside: unknown[]) => [span('ag', undefined, 'agent', 'react'), ...run(inside, 'ag'), end('ag')];
  const cases: Array<[string, unknown[], RegExp]> = [
    ['spans without ids (nested by order)', run([span(undefined, undefined, 'tool', 'bash'), toolEvent(), span(undefined, undefined, 'agent', 'checker'), sub(), end(), end()]), /^1 model call\(s\) .*\(tool "bash" ×1\)/],
    ['a tool\'s own model call (a tool span, no agent in it)', inAgent([span('t1', 'ag', 'tool', 'bash'), toolEvent({ span_id: 't1' }), sub({ span_id: 't1' }), end('t1')]), /^1 model call\(s\) .*\(tool "bash" ×1\)/],
    ['run() of an agent inside the agent (an agent span in the agent\'s)', inAgent([span('t1', 'ag', 'tool', 'bash'), toolEvent({ span_id: 't1' }), end('t1'), span('a2', 'ag', 'agent', 'checker'), sub({ span_id: 'a2' }), sub({ span_id: 'a2' }), end('a2')]), /^2 model call\(s\) .*\(agent "checker" ×2\)/],
    ['a subtask span (fork)', inAgent([span('t1', 'ag', 'tool', 'bash'), toolEvent({ span_id: 't1' }), end('t1'), span('st', 'ag', 'subtask', 'fork'), { event: 'subtask', name: 'fork', input: {}, span_id: 'st' }, sub({ span_id: 'st' }), end('st')]), /^1 model call\(s\) .*\(subtask "fork" ×1\)/],
    ['an older log: the call nested in its tool event', run([toolEvent({ events: [{ event: 'model', input: [], output: reply('SUB: 4') }] })]), /^1 model call\(s\) .*\(tool "bash" ×1\).*1 inside the tool or subtask event an older log nests them in/],
    ['an older log: calls nested in a subtask event', run([toolEvent(), { event: 'subtask', name: 'double_check', input: [], events: [{ event: 'model', input: [], output: reply('SUB: 4') }, { event: 'tool', id: 'x', events: [{ event: 'model', input: [] }] }] }]), /^2 model call\(s\) .*\(subtask "double_check" ×2\).*2 inside the tool or subtask event/],
  ];
  for (const [name, events, note] of cases) {
    it(`${name}: the agent's two calls are its steps; the other's are kept and noted`, async () => {
      const s = await importLog(`other-${name.replace(/\W+/g, '-')}`, events);
      expect(s.main.map((st) => st.response!.content || st.response!.toolCalls[0]!.name)).toEqual(['bash', 'The answer is 4.']);
      expect(s.main[0]!.results).toMatchObject([{ toolCallId: 'c1', observation: '4\n' }]);
      expect(s.main.map((st) => requestMessages(s.t, st.requestId!)?.length)).toEqual([2, 4]);
      expect(notesOf(s)).toContainEqual(expect.stringMatching(note));
      const { trained, raw, steps } = await exported(s);
      expect(trained).toEqual(['bash', 'The answer is 4.']);
      expect(raw).not.toContain('SUB');
      expect(steps).toHaveLength(2);
    });
  }
});
