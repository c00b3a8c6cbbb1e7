// mini-swe-agent 2 with a Responses API model (models/litellm_response_model.py): the
// trajectory keeps the API's items, as the agent appends them. A reply is the response
// object (model_dump: object "response", its output items); a command's result a
// function_call_output (actions_toolcall_response.py format_toolcall_observation_messages);
// the request was those items with each response flattened into its output
// (_prepare_messages_for_api). Read as the same conversation in wire form; a reply's
// reasoning item went back to the model with every later request, so the steps after
// it are not trained.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestMessages } from '../../shared/trajectory';
import { ImportWorkspace } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

const T0 = 1_750_000_000;
const SYSTEM = 'You are a helpful assistant that can interact with a computer.';
const TASK = 'Fix the off-by-one in paginate().';
const OBS1 = '<returncode>0</returncode>\n<output>\npager.py\ntests/\n</output>';
const OBS2 = '<returncode>1</returncode>\n<output>\nFAILED tests/test_pager.py::test_last_page\n</output>';

function response(id: string, at: number, output: unknown[], o: { status?: string; reason?: string } = {}) {
  return {
    id, object: 'response', created_at: at, model: 'gpt-5-2025-08-07', status: o.status ?? 'completed',
    ...(o.reason ? { incomplete_details: { reason: o.reason } } : {}),
    output, usage: { input_tokens: 1200 + at - T0, output_tokens: 40, total_tokens: 1240 + at - T0 },
    extra: { actions: [], cost: 0.01, timestamp: at + 1 },
  };
}
const call = (id: string, command: string) => ({ type: 'function_call', id: `fc_${id}`, call_id: id, name: 'bash', arguments: JSON.stringify({ command }), status: 'completed' });
const text = (t: string) => ({ type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: t, annotations: [] }] });
const result = (id: string, output: string, returncode: number, at: number) => ({
  type: 'function_call_output', call_id: id, output,
  extra: { raw_output: output, returncode, timestamp: at, exception_info: null },
});

function trajectory(reasoning: boolean) {
  const thought = { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'List the files first.' }], encrypted_content: 'gAAAAABo-opaque' };
  return {
    trajectory_format: 'mini-swe-agent-1.1',
    info: { mini_version: '2.1.0', exit_status: 'Submitted', submission: 'diff --git a/pager.py b/pager.py', model_stats: { api_calls: 3, instance_cost: 0.03 }, config: { model: { model_name: 'openai/gpt-5' }, agent: {} } },
    messages: [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: TASK },
      response('resp_1', T0 + 1, [...(reasoning ? [thought] : []), text('Let me look around.'), call('call_1', 'ls')]),
      result('call_1', OBS1, 0, T0 + 3),
      response('resp_2', T0 + 4, [call('call_2', 'pytest -q')]),
      result('call_2', OBS2, 1, T0 + 6),
      // A FormatError (actions_toolcall_response.py _format_error_message): the reply it answers is not kept.
      { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'No tool calls found in the response. Every response MUST include at least one tool call.' }], extra: { interrupt_type: 'FormatError' } },
      response('resp_3', T0 + 8, [call('call_3', 'echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT')], { status: 'incomplete', reason: 'max_output_tokens' }),
      result('call_3', '', 0, T0 + 9),
      { role: 'exit', content: '', extra: { exit_status: 'Submitted', submission: 'diff --git a/pager.py b/pager.py' } },
    ],
  };
}

describe('mini-swe-agent 2, Responses API model', () => {
  it('reads replies, calls and results from the API items, each request as the conversation the model was sent', async () => {
    const f = join(w.root, 'responses.traj.json');
    await writeFile(f, JSON.stringify(trajectory(false)));
    const { sessions } = await w.import(f);
    const s = sessions[0]!;
    const steps = s.main.filter((x) => x.response);
    expect(steps.map((x) => x.response!.toolCalls.map((c) => [c.id, JSON.parse(c.arguments) as unknown]))).toEqual([
      [['call_1', { command: 'ls' }]], [['call_2', { command: 'pytest -q' }]], [['call_3', { command: 'echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT' }]],
    ]);
    expect(steps[0]!.response!.content).toBe('Let me look around.');
    expect(steps[0]!.response!.usage).toEqual({ promptTokens: 1201, completionTokens: 40, totalTokens: 1241 });
    expect(steps[2]!.response!.finishReason).toBe('length');
    expect(steps.map((x) => x.results.map((r) => [r.observation, r.isError]))).toEqual([[[OBS1, false]], [[OBS2, true]], [['', false]]]);
    expect(s.events.flatMap((e) => (e.type === 'action.result' ? [e.exitCode] : []))).toEqual([0, 1, 0]);
    expect(steps.map((x) => x.notTrained ?? null)).toEqual([null, null, null]);

    const a1 = { role: 'assistant', content: 'Let me look around.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'bash', arguments: '{"command":"ls"}' } }] };
    const a2 = { role: 'assistant', content: null, tool_calls: [{ id: 'call_2', type: 'function', function: { name: 'bash', arguments: '{"command":"pytest -q"}' } }] };
    const head = [{ role: 'system', content: SYSTEM }, { role: 'user', content: TASK }];
    expect(requestMessages(s.t, steps[0]!.requestId!)).toEqual(head);
    expect(requestMessages(s.t, steps[1]!.requestId!)).toEqual([...head, a1, { role: 'tool', tool_call_id: 'call_1', content: OBS1 }]);
    // The format error is the agent's own turn: in the context, neither a result nor guidance.
    expect(requestMessages(s.t, steps[2]!.requestId!)).toEqual([
      ...head, a1, { role: 'tool', tool_call_id: 'call_1', content: OBS1 }, a2, { role: 'tool', tool_call_id: 'call_2', content: OBS2 },
      { role: 'user', content: 'No tool calls found in the response. Every response MUST include at least one tool call.' },
    ]);
    expect(steps.flatMap((x) => x.guidance)).toEqual([]);

    const { openai } = await w.export([s.id], ['openai']);
    const trained = (openai as Array<{ messages: Array<{ role: string; weight?: number }> }>).flatMap((r) => r.messages.filter((m) => m.role === 'assistant' && m.weight === 1));
    expect(trained).toHaveLength(3);
  });

  it("trains no step whose request sent a reasoning item back, even one showing nothing (GPT-5's default)", async () => {
    const t = trajectory(false);
    (t.messages[2] as { output: unknown[] }).output.unshift({ type: 'reasoning', id: 'rs_0', summary: [], encrypted_content: null });
    const f = join(w.root, 'responses-reasoning-empty.traj.json');
    await writeFile(f, JSON.stringify(t));
    const { sessions } = await w.import(f);
    const steps = sessions[0]!.main.filter((x) => x.response);
    expect(steps.map((x) => x.notTrained === undefined)).toEqual([true, false, false]);
  });

  it('trains no step whose request sent a reasoning item back', async () => {
    const f = join(w.root, 'responses-reasoning.traj.json');
    await writeFile(f, JSON.stringify(trajectory(true)));
    const { sessions } = await w.import(f);
    const steps = sessions[0]!.main.filter((x) => x.response);
    expect(steps[0]!.response!.reasoning).toBe('List the files first.');
    expect(steps[0]!.notTrained).toBeUndefined();
    for (const x of steps.slice(1)) expect(x.notTrained).toMatch(/reasoning item/);
    expect(sessions[0]!.events.some((e) => e.type === 'warning' && /reasoning items.* the 2 step\(s\) after the first such reply are not trained/.test(e.message))).toBe(true);
    const { openai } = await w.export([sessions[0]!.id], ['openai']);
    const trained = (openai as Array<{ messages: Array<{ role: string; weight?: number; content?: string }> }>).flatMap((r) => r.messages.filter((m) => m.role === 'assistant' && m.weight === 1));
    expect(trained.map((m) => m.content)).toEqual(['Let me look around.']);
  });

  it("reads the OpenRouter model's own items for the system prompt and the task (openrouter_response_model.py format_message)", async () => {
    const t = trajectory(false);
    const item = (role: string, text: string) => ({ type: 'message', role, content: [{ type: 'input_text', text }] });
    t.messages.splice(0, 2, item('system', SYSTEM) as never, item('user', TASK) as never);
    const f = join(w.root, 'responses-openrouter.traj.json');
    await writeFile(f, JSON.stringify(t));
    const { sessions } = await w.import(f);
    const s = sessions[0]!;
    const steps = s.main.filter((x) => x.response);
    expect(requestMessages(s.t, steps[0]!.requestId!)).toEqual([{ role: 'system', content: SYSTEM }, { role: 'user', content: TASK }]);
    expect(steps).toHaveLength(3);
  });

  it('refuses, by name and place, an item a mini-swe-agent run does not hold', async () => {
    const t = trajectory(false);
    (t.messages as unknown[]).splice(3, 0, { type: 'web_search_call', id: 'ws_1' });
    const f = join(w.root, 'responses-odd.traj.json');
    await writeFile(f, JSON.stringify(t));
    await expect(w.import(f)).rejects.toThrow(/messages\[3\] is a Responses API item of type "web_search_call"/);
  });
});
