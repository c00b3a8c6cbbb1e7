// What mini-swe-agent sent that a chat-format record cannot carry, and what a person
// said in an interactive run (agents/interactive.py), read from the agent's own source:
// - 2.x keeps a chat reply as litellm's model_dump (reasoning_content, thinking_blocks)
//   and sends it back less `extra` (litellm_model.py): steps after it are not trained;
// - multimodal_regex turns turns into content lists (openai_multimodal.py): text parts
//   are the text; an image is "[image]" and the steps after it are not trained;
// - 1.x's Responses API models sent only the newest message (previous_response_id);
// - a rejected command (UserRejection, 1.x "Commands not executed…") did not run: the
//   person's turn is guidance, not its output, and the reply is not trained.
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

const response = { model: 'm', created: 1_750_000_000, usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 }, choices: [{ finish_reason: 'tool_calls', message: {} }] };
const call = (id: string, command: string) => ({ id, type: 'function', function: { name: 'bash', arguments: JSON.stringify({ command }) } });
const reply = (id: string, command: string, more: Record<string, unknown> = {}) => ({ role: 'assistant', content: null, tool_calls: [call(id, command)], ...more, extra: { actions: [{ command, tool_call_id: id }], response } });
const result = (id: string, out: string, more: Record<string, unknown> = {}) => ({ role: 'tool', tool_call_id: id, content: `<returncode>0</returncode>\n<output>\n${out}\n</output>`, ...more, extra: { returncode: 0, raw_output: out } });

function toolRun(messages: unknown[], info: Record<string, unknown> = {}) {
  return { trajectory_format: 'mini-swe-agent-1.1', info: { mini_version: '2.1.0', exit_status: 'Submitted', submission: '', config: { model: { model_name: 'm' } }, ...info }, messages };
}

async function importOf(name: string, traj: unknown) {
  const f = join(w.root, name);
  await writeFile(f, JSON.stringify(traj));
  const { sessions } = await w.import(f);
  const s = sessions[0]!;
  return { s, steps: s.main.filter((x) => x.response), warnings: s.events.flatMap((e) => (e.type === 'warning' ? [e.message] : [])) };
}

describe('mini-swe-agent: what the record cannot carry', () => {
  it("trains no step after a reply whose reasoning_content or thinking blocks were sent back", async () => {
    for (const extra of [{ reasoning_content: 'Let me think about the layout.' }, { thinking_blocks: [{ type: 'thinking', thinking: 'Hmm.', signature: 'sig' }] }]) {
      const { steps, warnings } = await importOf(`chat-reasoning-${Object.keys(extra)[0]}.traj.json`, toolRun([
        { role: 'system', content: 'sys' }, { role: 'user', content: 'task' },
        reply('c1', 'ls'), result('c1', 'a.py'),
        reply('c2', 'cat a.py', extra), result('c2', 'print(1)'),
        reply('c3', 'echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT'), result('c3', ''),
      ]));
      expect(steps.map((x) => x.notTrained ?? null), JSON.stringify(extra)).toEqual([null, null, expect.stringMatching(/reasoning_content or thinking blocks/)]);
      expect(warnings.some((m) => /the 1 step\(s\) after the first such reply are not trained/.test(m))).toBe(true);
    }
  });

  it('reads text content lists as their text, and trains no step after an image', async () => {
    const part = (text: string) => [{ type: 'text', text }];
    const { s, steps } = await importOf('multimodal.traj.json', toolRun([
      { role: 'system', content: part('sys') }, { role: 'user', content: part('task') },
      reply('c1', 'ls'), result('c1', 'a.png', { content: part('<returncode>0</returncode>\n<output>\na.png\n</output>') }),
      reply('c2', 'show a.png'),
      { role: 'tool', tool_call_id: 'c2', content: [{ type: 'text', text: 'here: ' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }], extra: { returncode: 0 } },
      reply('c3', 'echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT'), result('c3', ''),
    ]));
    expect(requestMessages(s.t, steps[1]!.requestId!)!.slice(0, 2)).toEqual([{ role: 'system', content: 'sys' }, { role: 'user', content: 'task' }]);
    expect(steps[1]!.notTrained).toBeUndefined();
    expect(steps[2]!.notTrained).toMatch(/image/);
    expect(steps[1]!.results[0]!.observation).toBe('here: [image]');
    // The export writes them (a content list was "missing content" to the trainer's check).
    const { openai } = await w.export([s.id], ['openai']);
    expect(openai.length).toBeGreaterThan(0);
  });

  it("trains none of a 1.x Responses API model's steps: the server kept the conversation", async () => {
    const { steps, warnings } = await importOf('v1-response-api.traj.json', {
      trajectory_format: 'mini-swe-agent-1',
      info: { mini_version: '1.17.5', exit_status: 'Submitted', submission: '', config: { model_type: 'minisweagent.models.litellm_response_api_model.LitellmResponseAPIModel', model: { model_name: 'gpt-5' }, agent: {} } },
      messages: [
        { role: 'system', content: 'sys' }, { role: 'user', content: 'task' },
        { role: 'assistant', content: 'THOUGHT: look\n```bash\nls\n```' }, { role: 'user', content: '<returncode>0</returncode>\n<output>\na.py\n</output>' },
        { role: 'assistant', content: '\n```bash\nrm -rf build\n```' }, { role: 'user', content: '<returncode>0</returncode>\n<output>\n</output>' },
      ],
    });
    expect(steps).toHaveLength(2);
    for (const x of steps) expect(x.notTrained).toMatch(/previous_response_id/);
    expect(warnings.some((m) => /none of its 2 step\(s\) is trained/.test(m))).toBe(true);
  });
});

describe('mini-swe-agent: a person in an interactive run', () => {
  it('a rejected text-mode command did not run: the person\'s turn is guidance, the reply is not trained', async () => {
    const { s, steps, warnings } = await importOf('interactive-text.traj.json', {
      trajectory_format: 'mini-swe-agent-1.1',
      info: { mini_version: '2.1.0', exit_status: 'Submitted', submission: '', config: { model: { model_name: 'm' } } },
      messages: [
        { role: 'system', content: 'sys' }, { role: 'user', content: 'task' },
        { role: 'assistant', content: 'Clean up.\n```mswea_bash_command\nrm -rf /testbed\n```', extra: { actions: [{ command: 'rm -rf /testbed' }], response } },
        { role: 'user', content: 'Commands not executed. The user rejected your commands with the following message: look at src/ first', extra: { interrupt_type: 'UserRejection' } },
        { role: 'assistant', content: 'Looking.\n```mswea_bash_command\nls src\n```', extra: { actions: [{ command: 'ls src' }], response } },
        { role: 'user', content: '<returncode>0</returncode>\n<output>\npager.py\n</output>', extra: { returncode: 0 } },
      ],
    });
    expect(steps[0]!.results).toEqual([]);
    expect(steps[0]!.guidance.map((g) => s.t.guidance.get(g)?.text)).toEqual(['Commands not executed. The user rejected your commands with the following message: look at src/ first']);
    expect(steps[0]!.notTrained).toMatch(/rejected this command/);
    expect(steps[1]!.notTrained).toBeUndefined();
    expect(steps[1]!.results.map((r) => r.observation)).toEqual(['<returncode>0</returncode>\n<output>\npager.py\n</output>']);
    expect(warnings.some((m) => /a person's .* 1 rejected the command/.test(m))).toBe(true);
  });

  it("reads 1.x's interruptions by their text, and a new task as guidance that leaves the reply trained", async () => {
    const { s, steps } = await importOf('interactive-v1.traj.json', {
      trajectory_format: 'mini-swe-agent-1',
      info: { mini_version: '1.17.5', exit_status: 'Submitted', submission: '', config: { agent: {} } },
      messages: [
        { role: 'system', content: 'sys' }, { role: 'user', content: 'task' },
        { role: 'assistant', content: 'THOUGHT\n```bash\nmake all\n```', extra: { response } },
        { role: 'user', content: 'Interrupted by user: too slow, run the unit tests only' },
        { role: 'assistant', content: 'THOUGHT\n```bash\nmake test\n```', extra: { response } },
        { role: 'user', content: '<returncode>0</returncode>\n<output>\nok\n</output>' },
        { role: 'assistant', content: 'THOUGHT\n```bash\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```', extra: { response } },
        { role: 'user', content: 'The user added a new task: now update the changelog' },
        { role: 'assistant', content: 'THOUGHT\n```bash\nvi CHANGELOG\n```', extra: { response } },
      ],
    });
    expect(steps.map((x) => x.notTrained ?? null)).toEqual([expect.stringMatching(/interrupted/), null, null, null]);
    expect(steps[0]!.results).toEqual([]);
    expect(steps[2]!.guidance.map((g) => s.t.guidance.get(g)?.text)).toEqual(['The user added a new task: now update the changelog']);
  });
});

describe('mini-swe-agent 2: a reply the agent rejected and did not keep', () => {
  it('is a branch beside the main line (from the format error\'s extra), on the request it answered, never trained', async () => {
    const bad = 'Two at once.\n```mswea_bash_command\nls\n```\n```mswea_bash_command\npwd\n```';
    const error = 'Format error:\n\nExpected exactly 1 action, found 2.';
    const { s, steps, warnings } = await importOf('format-error-kept.traj.json', {
      trajectory_format: 'mini-swe-agent-1.1',
      info: { mini_version: '2.1.0', exit_status: 'Submitted', submission: '', config: { model: { model_name: 'm' } } },
      messages: [
        { role: 'system', content: 'sys' }, { role: 'user', content: 'task' },
        { role: 'assistant', content: 'Look.\n```mswea_bash_command\nls\n```', extra: { actions: [{ command: 'ls' }], response } },
        { role: 'user', content: '<returncode>0</returncode>\n<output>\na.py\n</output>', extra: { returncode: 0 } },
        { role: 'user', content: error, extra: { interrupt_type: 'FormatError', n_actions: 2, model_response: bad } },
        { role: 'assistant', content: 'One.\n```mswea_bash_command\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```', extra: { actions: [{ command: 'echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT' }], response } },
        { role: 'user', content: '<returncode>0</returncode>\n<output>\n</output>', extra: { returncode: 0 } },
      ],
    });
    // The main line: two steps, the second's request holding the error (its context).
    expect(s.main.filter((x) => x.response).map((x) => x.response!.content)).toEqual([expect.stringMatching(/^Look\./), expect.stringMatching(/^One\./)]);
    expect(requestMessages(s.t, s.main[1]!.requestId!)!.map((m) => m.content)).toContain(error);
    // The rejected reply: a step of its own branch from the first step, on the request it answered.
    const kept = [...s.t.steps.values()].find((x) => x.response?.content === bad)!;
    expect(kept).toBeDefined();
    expect(kept.parentId).toBe(s.main[0]!.id);
    expect(kept.branchId).not.toBe('main');
    expect(kept.notTrained).toMatch(/rejected this reply as a format error and did not keep it/);
    expect(kept.results.map((r) => [r.observation, r.isError])).toEqual([[error, true]]);
    expect(requestMessages(s.t, kept.requestId!)).toEqual(requestMessages(s.t, s.main[1]!.requestId!)!.slice(0, 4));
    expect(warnings.some((m) => /the 1 reply they answer \(kept in their extra\) are branches beside the main line/.test(m))).toBe(true);
    expect(steps).toHaveLength(2);
    // The export trains the main line only.
    const { openai } = await w.export([s.id], ['openai']);
    const trained = (openai as Array<{ messages: Array<{ role: string; weight?: number; content?: string }> }>).flatMap((r) => r.messages.filter((m) => m.role === 'assistant' && m.weight === 1).map((m) => m.content));
    expect(trained).not.toContain(bad);
  });

  it('a tool-call model\'s rejected reply (2.3.1 keeps the whole response) keeps its calls, each answered by the error', async () => {
    const error = 'Unknown tool \'unknown_tool\'.';
    const badResponse = { ...response, choices: [{ finish_reason: 'tool_calls', message: { role: 'assistant', content: null, tool_calls: [{ id: 'c9', type: 'function', function: { name: 'unknown_tool', arguments: '{}' } }] } }] };
    const { s } = await importOf('format-error-tools.traj.json', toolRun([
      { role: 'system', content: 'sys' }, { role: 'user', content: 'task' },
      reply('c1', 'ls'), result('c1', 'a.py'),
      { role: 'user', content: error, extra: { interrupt_type: 'FormatError', response: badResponse } },
      reply('c2', 'echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT'), result('c2', ''),
    ]));
    const kept = [...s.t.steps.values()].find((x) => x.response?.toolCalls.some((c) => c.name === 'unknown_tool'))!;
    expect(kept.parentId).toBe(s.main[0]!.id);
    expect(kept.response!.toolCalls.map((c) => [c.id, c.name, c.arguments])).toEqual([['c9', 'unknown_tool', '{}']]);
    expect(kept.results.map((r) => [r.toolCallId, r.observation, r.isError])).toEqual([['c9', error, true]]);
    expect(kept.response!.usage).toEqual({ promptTokens: 10, completionTokens: 2, totalTokens: 12 });
    expect(kept.notTrained).toMatch(/did not keep it/);
  });
});
