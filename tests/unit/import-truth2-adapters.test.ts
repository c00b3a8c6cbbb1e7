// What an import trains must be exactly what the source's model produced. Each case
// imports a run whose source holds something the model did not produce as it stands
// (an importer-made call, a controller event, a reply the agent rejected, a context
// that is not valid wire) and checks the exported openai.jsonl and trajectory.jsonl:
// those steps are never trained assistant turns, and they stay only as what the source
// really had (context, or a step kept as a record with weight 0).
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mergeBundles } from '../../electron/core/dataset/merge';
import { MISSING_RESULT } from '../../electron/core/import/conversation';
import { ImportWorkspace, haveSamples, sample } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

type Msg = { role: string; content?: string; weight?: 0 | 1; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }>; tool_call_id?: string };
type StepLine = {
  kind: 'step'; response: { content: string; toolCalls: Array<{ id: string; name: string; arguments: string }> };
  results: Array<{ toolCallId: string; name: string; observation: string; isError: boolean }>; weight: 0 | 1 | null; weightReason: string | null;
  label: { label: string; note: string } | null;
  notTrained?: string;
};

/** Import `file`, export its one session: the OpenAI lines, the step lines of trajectory.jsonl and the session's warnings. */
async function importExport(file: string): Promise<{ openai: Array<{ messages: Msg[]; tools?: Array<{ function: { name: string } }> }>; steps: StepLine[]; warnings: string[] }> {
  const { sessions } = await w.import(file);
  expect(sessions).toHaveLength(1);
  const s = sessions[0]!;
  const out = await w.export([s.id], ['openai', 'trajectory']);
  const traj = (await readFile(join(out.dir, 'trajectory.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { kind: string });
  return {
    openai: out.openai as Array<{ messages: Msg[] }>,
    steps: traj.filter((x): x is StepLine => x.kind === 'step'),
    warnings: s.events.flatMap((e) => (e.type === 'warning' ? [e.message] : [])),
  };
}

const trained = (lines: Array<{ messages: Msg[] }>) => lines.flatMap((l) => l.messages.filter((m) => m.role === 'assistant' && m.weight === 1));

async function writeJson(name: string, v: unknown): Promise<string> {
  const f = join(w.root, name);
  await writeFile(f, typeof v === 'string' ? v : JSON.stringify(v));
  return f;
}

describe('OpenHands', () => {
  it('an older log without tool_call_metadata: its actions are kept as steps with the importer\'s calls, never trained, and carry no runtime fields', async () => {
    const file = await writeJson('oh-old.json', [
      { id: 0, timestamp: '2024-06-01T10:00:00', source: 'user', message: 'Fix the bug', action: 'message', args: { content: 'Fix the bug', images_urls: [], wait_for_response: false } },
      { id: 1, timestamp: '2024-06-01T10:00:05', source: 'agent', message: 'Running command: ls', action: 'run', args: { command: 'ls', thought: 'Let me look around.', blocking: false, keep_prompt: true, is_confirmed: 'confirmed' } },
      { id: 2, timestamp: '2024-06-01T10:00:06', source: 'agent', message: 'Command `ls` executed with exit code 0.', cause: 1, observation: 'run', content: 'a.py', extras: { command_id: -1, command: 'ls', exit_code: 0 } },
      { id: 3, timestamp: '2024-06-01T10:00:10', source: 'agent', message: '', action: 'run', args: { command: 'pytest', thought: '' } },
      { id: 4, timestamp: '2024-06-01T10:00:11', source: 'agent', message: '', cause: 3, observation: 'error', content: 'Agent got stuck in a loop', extras: {} },
      { id: 5, timestamp: '2024-06-01T10:00:12', source: 'agent', message: 'I fixed it.', action: 'message', args: { content: 'I fixed it.', wait_for_response: true } },
      { id: 6, timestamp: '2024-06-01T10:00:13', source: 'agent', message: '', action: 'finish', args: { outputs: {}, thought: 'done' } },
    ]);
    const { openai, steps, warnings } = await importExport(file);
    // Nothing is trained: every action is the importer's call, and the one reply the log holds as
    // the model wrote it (a message) comes after them, in a context that holds those calls where
    // the model wrote text the log does not keep.
    expect(trained(openai)).toEqual([]);
    expect(JSON.stringify(openai)).not.toMatch(/blocking|keep_prompt|is_confirmed/);
    expect(steps.map((s) => [s.response.toolCalls.map((c) => [c.name, c.arguments]), s.weight])).toEqual([
      [[['run', '{"command":"ls"}']], 0],
      [[['run', '{"command":"pytest"}']], 0],
      [[], 0],
      [[['finish', '{}']], 0],
    ]);
    expect(steps[0]!.notTrained).toMatch(/not trained: .*"run" action.*importer's/);
    expect(steps[2]!.notTrained).toMatch(/not trained: the context holds the importer's call for the "run" action of event 1/);
    // The error observation is a failed result: the source's flag, not a guess from its text.
    expect(steps[1]!.results).toEqual([expect.objectContaining({ observation: 'Agent got stuck in a loop', isError: true })]);
    expect(warnings.some((x) => /3 action\(s\) have no tool_call_metadata/.test(x))).toBe(true);
  });

  it('controller events with source "agent" (system, condensation, change_agent_state) are not steps; the system prompt is the context\'s system message', async () => {
    const tool = { type: 'function', function: { name: 'execute_bash', description: 'run', parameters: { type: 'object', properties: { command: { type: 'string' } } } } };
    const file = await writeJson('oh-controller.json', [
      { id: 0, timestamp: '2025-05-01T10:00:00', source: 'agent', message: 'You are OpenHands agent.', action: 'system', args: { content: 'You are OpenHands agent.', tools: [tool], openhands_version: '0.39.0', agent_class: 'CodeActAgent' } },
      { id: 1, timestamp: '2025-05-01T10:00:01', source: 'user', message: 'Fix the bug', action: 'message', args: { content: 'Fix the bug' } },
      { id: 3, timestamp: '2025-05-01T10:00:05', source: 'agent', message: 'Running command: ls', action: 'run', args: { command: 'ls', thought: '', blocking: false, confirmation_state: 'confirmed' }, tool_call_metadata: { function_name: 'execute_bash', tool_call_id: 'toolu_1', model_response: { id: 'r1', model: 'claude', choices: [{ message: { content: 'Let me look.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'execute_bash', arguments: '{"command": "ls"}' } }] }, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 100, completion_tokens: 10 } } } },
      { id: 4, timestamp: '2025-05-01T10:00:06', source: 'agent', message: 'ok', cause: 3, observation: 'run', content: 'a.py', extras: { command: 'ls', metadata: { exit_code: 0, prefix: '', suffix: '' } }, tool_call_metadata: { function_name: 'execute_bash', tool_call_id: 'toolu_1' } },
      { id: 5, timestamp: '2025-05-01T10:00:08', source: 'agent', message: 'Summary: ...', action: 'condensation', args: { forgotten_event_ids: [3, 4], summary: 'The agent listed files.', summary_offset: 1 } },
      { id: 6, timestamp: '2025-05-01T10:00:09', source: 'agent', message: '', action: 'change_agent_state', args: { agent_state: 'error', thought: '' } },
    ]);
    const { openai, steps, warnings } = await importExport(file);
    expect(steps).toHaveLength(1);
    expect(steps[0]!.response.toolCalls.map((c) => c.name)).toEqual(['execute_bash']);
    expect(openai).toHaveLength(1);
    const [line] = openai;
    expect(line!.messages.map((m) => [m.role, m.weight])).toEqual([['system', undefined], ['user', undefined], ['assistant', 1]]);
    expect(line!.messages[0]!.content).toBe('You are OpenHands agent.');
    expect(line!.tools?.map((t) => t.function.name)).toEqual(['execute_bash']);
    expect(JSON.stringify(openai)).not.toMatch(/condensation|change_agent_state|"system"[^}]*tool_calls/);
    expect(warnings.some((x) => /context was condensed \(events 3, 4 forgotten; summary: The agent listed files\.\)/.test(x))).toBe(true);
  });

  it('a call with no observation and an observation given twice: said in the notes, the export succeeds, the steps after them are not trained', async () => {
    const resp = (id: string, text: string, calls: string[]) => ({
      id, model: 'm', choices: [{ message: { content: text, tool_calls: calls.map((c) => ({ id: c, type: 'function', function: { name: 'execute_bash', arguments: `{"command": "${c}"}` } })) }, finish_reason: 'tool_calls' }],
    });
    const act = (id: number, call: string, r: ReturnType<typeof resp>) => ({ id, source: 'agent', action: 'run', args: { command: call, thought: '' }, tool_call_metadata: { function_name: 'execute_bash', tool_call_id: call, model_response: r } });
    const obs = (id: number, cause: number, content: string) => ({ id, source: 'agent', cause, observation: 'run', content, extras: { metadata: { exit_code: 0 } } });
    const r1 = resp('r1', 'two at once', ['t1', 't2']);
    const r2 = resp('r2', 'next', ['t3']);
    const file = await writeJson('oh-pairs.json', [
      { id: 0, source: 'user', action: 'message', args: { content: 'go' } },
      act(1, 't1', r1), act(2, 't2', r1), obs(3, 1, 'one'),
      act(4, 't3', r2), obs(5, 4, 'three'), obs(6, 4, 'three again'),
      { id: 7, source: 'agent', action: 'message', args: { content: 'all done' } },
    ]);
    const { openai, steps, warnings } = await importExport(file);
    expect(warnings.some((x) => /call t2 \(execute_bash\).* has no result before it/.test(x))).toBe(true);
    expect(warnings.some((x) => /answers call t3 a second time/.test(x))).toBe(true);
    // The first reply is the model's on its true context: trained. The later ones' contexts
    // were changed to be valid wire: not trained.
    expect(steps.map((s) => s.weight)).toEqual([1, 0, 0]);
    expect(trained(openai).map((m) => m.content)).toEqual(['two at once']);
    const messages = openai[0]!.messages;
    expect(messages.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m.content])).toEqual([['t1', 'one'], ['t2', MISSING_RESULT], ['t3', 'three']]);
    // The second answer is a record of its step, not paired twice.
    expect(steps[1]!.results.map((r) => [r.toolCallId, r.observation])).toEqual([['t3', 'three'], ['t3', 'three again']]);
    expect(steps[0]!.results.map((r) => r.toolCallId)).toEqual(['t1']);
  });

  it('an action the user rejected is a failed result (not an unmapped record, which left its call without one)', async () => {
    const r = { id: 'r1', model: 'm', choices: [{ message: { content: 'remove it', tool_calls: [{ id: 't1', type: 'function', function: { name: 'execute_bash', arguments: '{"command": "rm -rf build"}' } }] } }] };
    const file = await writeJson('oh-rejected.json', [
      { id: 0, source: 'user', action: 'message', args: { content: 'clean up' } },
      { id: 1, source: 'agent', action: 'run', args: { command: 'rm -rf build', thought: '' }, tool_call_metadata: { function_name: 'execute_bash', tool_call_id: 't1', model_response: r } },
      { id: 2, source: 'user', cause: 1, observation: 'user_rejected', content: 'Action has been rejected by the user! Waiting for further user input.', extras: {} },
      { id: 3, source: 'agent', action: 'message', args: { content: 'Understood, I will not delete it.' } },
    ]);
    const { openai, steps } = await importExport(file);
    expect(steps[0]!.results).toEqual([expect.objectContaining({ toolCallId: 't1', isError: true, observation: 'OBSERVATION:\nAction has been rejected by the user! Waiting for further user input.\n[Last action has been rejected by the user]' })]);
    expect(steps.map((s) => s.weight)).toEqual([1, 1]);
    expect(openai[0]!.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
  });
});

describe.skipIf(!haveSamples)('SWE-agent 1.x (real sample)', () => {
  it('the final submit, whose call the trajectory does not hold, is not trained and gets no made-up bash call', async () => {
    const file = sample('swe-agent/v1x_gpt4o_sweagenttestrepo-1c2844.traj');
    const src = JSON.parse(await readFile(file, 'utf8')) as { trajectory: Array<{ action: string; response: string; observation: string }> };
    const { openai, steps, warnings } = await importExport(file);
    const last = src.trajectory.at(-1)!;
    expect(last.action).toBe('submit');
    expect(JSON.stringify(openai)).not.toMatch(/\\"command\\":\\"submit\\"/);
    for (const m of trained(openai)) expect(m.tool_calls?.length).toBe(1);
    expect(trained(openai).map((m) => m.tool_calls![0]!.function.name)).toEqual(['find_file', 'open', 'edit', 'bash']);
    const final = openai[0]!.messages.at(-1)!;
    expect(final).toEqual({ role: 'assistant', content: last.response, weight: 0 });
    const s = steps.at(-1)!;
    expect(s.response.toolCalls).toEqual([]);
    expect(s.results.map((r) => [r.toolCallId, r.observation])).toEqual([['', last.observation]]);
    expect([s.weight, s.weightReason]).toEqual([0, 'not-model']);
    expect(warnings.some((x) => /trajectory\[4\]: the trajectory does not hold the model's tool call for the action "submit"/.test(x))).toBe(true);
  });
});

describe('SWE-agent 1.x, a final step whose own messages end with its reply', () => {
  it('trains that reply with its real call; without those messages the step is kept untrained', async () => {
    const sys = { role: 'system', content: 'You are SWE-agent.' };
    const user = { role: 'user', content: 'fix the bug' };
    const a1 = { role: 'assistant', content: 'look first', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'find_file', arguments: '{"file_name":"a.py"}' } }] };
    const t1 = { role: 'tool', content: 'a.py', tool_call_id: 'c1' };
    const a2 = { role: 'assistant', content: 'submit now', tool_calls: [{ id: 'c2', type: 'function', function: { name: 'submit', arguments: '{}' } }] };
    const traj = (final: Record<string, unknown>) => ({
      environment: 'main', info: { exit_status: 'submitted', swe_agent_version: '1.1.0' }, replay_config: JSON.stringify({ agent: { model: { name: 'gpt-4o' } } }),
      // The history stops before the final submit, as SWE-agent's often does.
      history: [sys, user, { ...a1, action: 'find_file a.py', agent: 'main' }, { role: 'tool', content: 'a.py', tool_call_ids: ['c1'], agent: 'main' }],
      trajectory: [
        // As 1.0 stores them: the messages after the step (its reply and observation included).
        { action: 'find_file a.py', observation: 'a.py', response: 'look first', thought: 'look first', execution_time: 0.1, state: {}, messages: [sys, user, a1, t1] },
        { action: 'submit', observation: 'diff', response: 'submit now', thought: 'submit now', execution_time: 0.2, state: {}, ...final },
      ],
    });
    const withReply = await importExport(await writeJson('own-reply.traj', traj({ messages: [sys, user, a1, t1, a2, { role: 'tool', content: 'diff', tool_call_id: 'c2' }] })));
    expect(withReply.steps.map((s) => [s.weight, s.response.toolCalls.map((c) => [c.id, c.name])])).toEqual([[1, [['c1', 'find_file']]], [1, [['c2', 'submit']]]]);
    expect(withReply.openai[0]!.messages.map((m) => [m.role, m.weight])).toEqual([['system', undefined], ['user', undefined], ['assistant', 1], ['tool', undefined], ['assistant', 1]]);
    expect(withReply.openai[0]!.messages.at(-1)!.tool_calls![0]!.function.name).toBe('submit');
    const without = await importExport(await writeJson('no-reply.traj', traj({ messages: [sys, user, a1, t1] })));
    expect(without.steps.map((s) => [s.weight, s.response.toolCalls.length])).toEqual([[1, 1], [0, 0]]);
    expect(JSON.stringify(without.openai)).not.toMatch(/"name":"bash"/);
  });
});

describe('mini-swe-agent', () => {
  const reply = (content: string, t: number) => ({ role: 'assistant', content, extra: { response: { created: t, choices: [{ finish_reason: 'stop', message: {} }], usage: { prompt_tokens: 10, completion_tokens: 5 } } } });
  const FORMAT = 'Please always provide EXACTLY ONE action in triple backticks, found 2 actions.\n\nPlease format your action in triple backticks as shown in <response_example>.';
  const TIMEOUT = 'The last command <command>sleep 999</command> timed out and has been killed.\nThe output of the command was:\n <output>\n</output>\nPlease try another command and make sure to avoid those requiring interactive input.';

  it('a reply rejected as a format error is not trained and ran nothing; the error is its failed result; a timeout is a failed result', async () => {
    const messages = [
      { role: 'system', content: 'Reply with exactly one ```bash block.' },
      { role: 'user', content: '<pr_description>Fix it</pr_description>' },
      reply('THOUGHT: let me look.\n\n```bash\nls\n```\n\n```bash\ncat a.py\n```', 1763509001),
      { role: 'user', content: FORMAT },
      reply('THOUGHT: one at a time.\n\n```bash\nsleep 999\n```', 1763509010),
      { role: 'user', content: TIMEOUT },
      reply('THOUGHT: done\n\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```', 1763509020),
      { role: 'user', content: 'diff' },
    ];
    const file = await writeJson('fmt.traj.json', { info: { exit_status: 'Submitted', submission: 'diff', mini_version: '1.0' }, messages, trajectory_format: 'mini-swe-agent-1' });
    const { openai, steps, warnings } = await importExport(file);
    // The rejected reply stays, as it was, in the context the model saw next: weight 0.
    expect(openai).toHaveLength(1);
    expect(openai[0]!.messages).toEqual(messages.slice(0, 7).map((m) => ({ role: m.role, content: m.content, ...(m.role === 'assistant' ? { weight: m === messages[2] ? 0 : 1 } : {}) })));
    expect(steps[0]!.response.toolCalls).toEqual([]);
    expect(steps[0]!.results).toEqual([expect.objectContaining({ toolCallId: '', observation: FORMAT, isError: true })]);
    expect([steps[0]!.weight, steps[0]!.notTrained]).toEqual([0, expect.stringMatching(/format error \(its pattern found 2 actions, it runs exactly one\); nothing ran/)]);
    expect(steps[1]!.response.toolCalls.map((c) => c.arguments)).toEqual([JSON.stringify({ command: 'sleep 999' })]);
    expect(steps[1]!.results).toEqual([expect.objectContaining({ observation: TIMEOUT, isError: true })]);
    expect(steps.map((s) => s.weight)).toEqual([0, 1, 1]);
    expect(warnings.some((x) => /1 reply the agent rejected as a format error/.test(x))).toBe(true);
  });

  it('a command a person typed in human mode (an assistant turn with no model response) is not trained', async () => {
    const messages = [
      { role: 'system', content: 'Reply with exactly one ```bash block.' },
      { role: 'user', content: '<pr_description>Fix it</pr_description>' },
      reply('THOUGHT: look.\n\n```bash\nls\n```', 1763509001),
      { role: 'user', content: '<returncode>0</returncode>\n<output>\na.py\n</output>' },
      // interactive.py human mode: the person's command, added with no extra.
      { role: 'assistant', content: '\n```bash\npip install -e .\n```' },
      { role: 'user', content: '<returncode>0</returncode>\n<output>\nok\n</output>' },
      reply('THOUGHT: done\n\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```', 1763509020),
      { role: 'user', content: 'diff' },
    ];
    const file = await writeJson('human.traj.json', { info: { exit_status: 'Submitted', submission: 'diff', mini_version: '1.17.5' }, messages, trajectory_format: 'mini-swe-agent-1' });
    const { steps } = await importExport(file);
    expect(steps.map((s) => s.weight)).toEqual([1, 0, 1]);
    expect(steps[1]!.notTrained).toMatch(/a person typed in human mode/);
    expect(steps[1]!.response.toolCalls.map((c) => c.arguments)).toEqual([JSON.stringify({ command: 'pip install -e .' })]);
  });

  it('2.x: a format error before the first kept reply is the agent\'s turn, not the task nor guidance', async () => {
    const fmt = { role: 'user', content: 'No tool calls found in the response. Every response MUST include at least one tool call.', extra: { interrupt_type: 'FormatError' } };
    const call = { id: 'c1', type: 'function', function: { name: 'bash', arguments: JSON.stringify({ command: 'ls' }) } };
    const messages = [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: '<pr_description>Fix it</pr_description>' },
      fmt,
      { role: 'assistant', content: 'Looking.', tool_calls: [call], extra: { response: { created: 1763509001, choices: [{ finish_reason: 'tool_calls', message: {} }] } } },
      { role: 'tool', tool_call_id: 'c1', content: 'a.py', extra: { returncode: 0 } },
    ];
    const file = await writeJson('v2-fmt-first.traj.json', { info: { exit_status: 'Submitted', mini_version: '2.4.6' }, messages, trajectory_format: 'mini-swe-agent-1.1' });
    const { sessions } = await w.import(file);
    const s = sessions[0]!;
    expect([...s.t.rollouts.values()][0]!.task).toBe('<pr_description>Fix it</pr_description>');
    expect(s.events.filter((e) => e.type === 'guidance.queued')).toEqual([]);
  });

  it('a 1.x run with its own action_regex in the agent config reads its actions by it', async () => {
    const messages = [
      { role: 'system', content: 'Reply with one <bash_code> block.' },
      { role: 'user', content: '<pr_description>Fix it</pr_description>' },
      reply('THOUGHT: look.\n\n<bash_code>ls -la</bash_code>', 1763509001),
      { role: 'user', content: '<returncode>0</returncode>\n<output>\na.py\n</output>' },
    ];
    const file = await writeJson('xml.traj.json', { info: { exit_status: 'Submitted', mini_version: '1.17.5', config: { agent: { action_regex: '<bash_code>(.*?)</bash_code>' } } }, messages, trajectory_format: 'mini-swe-agent-1' });
    const { steps } = await importExport(file);
    expect(steps[0]!.response.toolCalls.map((c) => c.arguments)).toEqual([JSON.stringify({ command: 'ls -la' })]);
  });

  it('a custom format-error text is caught by the action count; a later user turn (step limit) is context, not a result', async () => {
    const messages = [
      { role: 'system', content: 's' },
      { role: 'user', content: 'task' },
      reply('THOUGHT: look\n\n```bash\nls\n```', 1),
      { role: 'user', content: '<returncode>0</returncode>\n<output>\na.py\n</output>' },
      reply('THOUGHT: I think I am done, no command needed.', 2),
      { role: 'user', content: 'Format error: give one action.' },
      reply('THOUGHT: ok\n\n```bash\ncat a.py\n```', 3),
      { role: 'user', content: '<returncode>1</returncode>\n<output>\nno\n</output>' },
      { role: 'user', content: '' },
    ];
    const file = await writeJson('limit.traj.json', { info: { exit_status: 'LimitsExceeded', mini_version: '1.9' }, messages, trajectory_format: 'mini-swe-agent-1' });
    const { openai, steps } = await importExport(file);
    expect(steps.map((s) => [s.weight, s.response.toolCalls.length, s.results.map((r) => r.isError)])).toEqual([[1, 1, [false]], [0, 0, [true]], [1, 1, [true]]]);
    expect(trained(openai).map((m) => m.content)).toEqual([messages[2]!.content, messages[6]!.content]);
  });

  it('only ```bash blocks are actions (the agent\'s own pattern): a reply with a ```sh block and one ```bash block ran the bash one', async () => {
    const messages = [
      { role: 'system', content: 's' },
      { role: 'user', content: 'task' },
      reply('THOUGHT: for reference:\n\n```sh\nmake test\n```\n\nnow:\n\n```bash\nls\n```', 1),
      { role: 'user', content: '<returncode>0</returncode>\n<output>\na.py\n</output>' },
    ];
    const file = await writeJson('sh.traj.json', { info: { exit_status: 'Submitted', mini_version: '1.9' }, messages, trajectory_format: 'mini-swe-agent-1' });
    const { steps } = await importExport(file);
    expect(steps[0]!.response.toolCalls.map((c) => c.arguments)).toEqual([JSON.stringify({ command: 'ls' })]);
    expect(steps[0]!.results.map((r) => [r.toolCallId, r.isError])).toEqual([[steps[0]!.response.toolCalls[0]!.id, false]]);
    expect(steps[0]!.weight).toBe(1);
  });

  it('2.x tool calls: a format error about a reply the agent did not keep is context, not a result of the step before', async () => {
    const call = (id: string, cmd: string) => ({ role: 'assistant', content: `run ${cmd}`, tool_calls: [{ id, type: 'function', function: { name: 'bash', arguments: JSON.stringify({ command: cmd }) } }], extra: { actions: [{ command: cmd, tool_call_id: id }] } });
    const messages = [
      { role: 'system', content: 's' },
      { role: 'user', content: 'task' },
      call('c1', 'ls'),
      { role: 'tool', tool_call_id: 'c1', content: '<returncode>0</returncode>\n<output>\na.py\n</output>', extra: { returncode: 0 } },
      { role: 'user', content: 'Format error:\n\n<error>No tool calls found in the response.</error>', extra: { interrupt_type: 'FormatError' } },
      call('c2', 'cat a.py'),
      { role: 'tool', tool_call_id: 'c2', content: '<returncode>0</returncode>\n<output>\nx\n</output>', extra: { returncode: 0 } },
      { role: 'exit', content: '', extra: { exit_status: 'Submitted', submission: '' } },
    ];
    const file = await writeJson('v2.traj.json', { info: { mini_version: '2.2.7' }, messages, trajectory_format: 'mini-swe-agent-1.1' });
    const { openai, steps, warnings } = await importExport(file);
    expect(steps.map((s) => s.results.map((r) => r.toolCallId))).toEqual([['c1'], ['c2']]);
    expect(steps.map((s) => s.weight)).toEqual([1, 1]);
    // It is in the context the second reply was produced in, as the agent sent it.
    expect(openai[0]!.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'user', 'assistant']);
    expect(warnings.some((x) => /1 format error\(s\) answer a reply the agent did not keep/.test(x))).toBe(true);
  });
});

describe('OpenAI chat lines that are not valid wire (conversation.ts)', () => {
  const line = (messages: unknown[]) => `${JSON.stringify({ messages })}\n`;
  const calls = { role: 'assistant', content: null, tool_calls: [{ id: 'ca', type: 'function', function: { name: 'bash', arguments: '{"command": "ls"}' } }, { id: 'cb', type: 'function', function: { name: 'bash', arguments: '{"command": "pwd"}' } }] };

  it('a call without a result: the export succeeds, the later requests carry a stand-in for it, the steps after it are not trained', async () => {
    const file = await writeJson('pair1.jsonl', line([{ role: 'user', content: 'go' }, calls, { role: 'tool', tool_call_id: 'ca', content: 'a.py' }, { role: 'assistant', content: 'done' }]));
    const { openai, steps } = await importExport(file);
    expect(openai[0]!.messages).toEqual([
      { role: 'user', content: 'go' },
      { ...calls, content: undefined, weight: 1 },
      { role: 'tool', tool_call_id: 'ca', content: 'a.py' },
      { role: 'tool', tool_call_id: 'cb', content: MISSING_RESULT },
      { role: 'assistant', content: 'done', weight: 0 },
    ].map((m) => JSON.parse(JSON.stringify(m)) as Msg));
    // No result is recorded for cb: the source has none.
    expect(steps[0]!.results.map((r) => r.toolCallId)).toEqual(['ca']);
    expect([steps[1]!.weight, steps[1]!.notTrained]).toEqual([0, expect.stringMatching(/^not trained: .*not valid wire/)]);
  });

  it('a call answered twice: the second answer is a record of its step, left out of the requests; the export succeeds', async () => {
    const file = await writeJson('pair2.jsonl', line([{ role: 'user', content: 'go' }, calls, { role: 'tool', tool_call_id: 'ca', content: 'a.py' }, { role: 'tool', tool_call_id: 'ca', content: 'a.py (retry)' }, { role: 'tool', tool_call_id: 'cb', content: '/repo' }, { role: 'assistant', content: 'done' }]));
    const { openai, steps } = await importExport(file);
    expect(openai[0]!.messages.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m.content])).toEqual([['ca', 'a.py'], ['cb', '/repo']]);
    expect(steps[0]!.results.map((r) => [r.toolCallId, r.observation])).toEqual([['ca', 'a.py'], ['ca', 'a.py (retry)'], ['cb', '/repo']]);
    expect(steps.map((s) => s.weight)).toEqual([1, 0]);
  });

  it("a line's own weight does not train a step after a repaired context, and the notes reach the session", async () => {
    const file = await writeJson('pair1-weighted.jsonl', line([{ role: 'user', content: 'go' }, { ...calls, weight: 1 }, { role: 'tool', tool_call_id: 'ca', content: 'a.py' }, { role: 'assistant', content: 'done', weight: 1 }]));
    const { openai, steps, warnings } = await importExport(file);
    expect(openai[0]!.messages.at(-1)).toMatchObject({ role: 'assistant', content: 'done', weight: 0 });
    expect([steps[1]!.weight, steps[1]!.notTrained]).toEqual([0, expect.stringMatching(/^not trained: .*not valid wire/)]);
    expect(warnings.some((x) => /call cb .*has no result/.test(x))).toBe(true);
  });

  it('not trained is a fact, not a label: an annotator keeping it, or a merge preferring that annotator, does not train it', async () => {
    const file = await writeJson('pair1-relabelled.jsonl', line([{ role: 'user', content: 'go' }, calls, { role: 'tool', tool_call_id: 'ca', content: 'a.py' }, { role: 'assistant', content: 'done' }]));
    const { sessions } = await w.import(file);
    const s = sessions[0]!;
    const step = s.main[1]!;
    expect(step.notTrained).toMatch(/^not trained: /);
    const log = await w.ws.session(s.id);
    await log.append({ type: 'label.set', stepId: step.id, label: 'keep', tags: [], note: 'looks fine', source: 'annotator', author: 'alice' });
    const out = await w.export([s.id], ['openai', 'trajectory']);
    expect(trained(out.openai as Array<{ messages: Msg[] }>).map((m) => m.content ?? null)).not.toContain('done');
    const manifest = JSON.parse(await readFile(join(out.dir, 'manifest.json'), 'utf8')) as { counts: { maskedBy: Record<string, number> }; warnings: string[] };
    expect(manifest.counts.maskedBy['not-model']).toBe(1);
    expect(manifest.warnings.some((x) => /1 imported action\(s\) are not their source model's output/.test(x))).toBe(true);
    const merged = join(w.root, 'merged-not-model');
    await mergeBundles({ inputs: [out.dir], outDir: merged, allowUnsigned: true, policy: { kind: 'prefer', annotators: ['alice'] } });
    const lines = (await readFile(join(merged, 'openai.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { messages: Msg[] });
    expect(trained(lines).map((m) => m.content ?? null)).not.toContain('done');
  });

  it('a valid line is unchanged: every step trained, nothing inserted', async () => {
    const file = await writeJson('pair-ok.jsonl', line([{ role: 'user', content: 'go' }, calls, { role: 'tool', tool_call_id: 'ca', content: 'a.py' }, { role: 'tool', tool_call_id: 'cb', content: '/repo' }, { role: 'assistant', content: 'done' }]));
    const { openai, steps } = await importExport(file);
    expect(openai[0]!.messages.filter((m) => m.role === 'tool').map((m) => m.content)).toEqual(['a.py', '/repo']);
    expect(steps.map((s) => [s.weight, s.label])).toEqual([[1, null], [1, null]]);
  });
});
