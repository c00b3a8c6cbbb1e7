// InnovatorBench calls its agent makes itself, not its model (agents/agents/react_agent.py:
// should_summarize writes a `summarize` call with no model call; react_manager.py gives a reply
// with no call a `null` one), and a single node whose context follows a summary: its earlier
// actions may be copies of actions taken before the summary, on a context the file does not hold.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportWorkspace, haveSamples, sample } from '../fixtures/import';
import * as oa from '../fixtures/trainers/openai';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

/** A run's node files as the agent saves them: a command, a reply with no call, the agent's summarize trigger, the summary. */
const NODES: Record<string, unknown> = {"react_a1_2025-09-08T10:01:00.000000.json": {"id": "a1", "parent_id": "r0", "timestamp": "2025-09-08T10:01:00.000000", "node_type": "react", "system_prompt": "", "messages": [{"role": "system", "content": "You are an AI Innovator.", "reasoning": null, "tool_call": null, "tool_result": null}, {"role": "user", "content": "\n<task_description>\nTrain a model\n</task_description>\n\n<remaining_working_time>\n9hours 0minutes\n</remaining_working_time>\n", "reasoning": null, "tool_call": null, "tool_result": null}], "response": {"role": "assistant", "content": "", "reasoning": null, "usage": {"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}, "model": "m", "finish_reason": "tool_calls", "tool_calls": [{"call_id": "tA", "name": "run_command", "arguments": {"command": "ls"}}]}, "source": "generate", "depth": 1, "observation": {"success": true, "message": "ok", "observation_type": "command_run"}, "action": {"call_id": "tA", "action_type": "run_command"}}, "react_b1_2025-09-08T10:02:00.000000.json": {"id": "b1", "parent_id": "a1", "timestamp": "2025-09-08T10:02:00.000000", "node_type": "react", "system_prompt": "", "messages": [{"role": "system", "content": "You are an AI Innovator.", "reasoning": null, "tool_call": null, "tool_result": null}, {"role": "user", "content": "\n<task_description>\nTrain a model\n</task_description>\n\n<remaining_working_time>\n9hours 0minutes\n</remaining_working_time>\n", "reasoning": null, "tool_call": null, "tool_result": null}, {"role": "assistant", "content": "", "reasoning": null, "tool_call": {"call_id": "tA", "name": "run_command", "arguments": {"command": "ls"}}, "tool_result": null}, {"role": "tool", "content": "", "reasoning": null, "tool_call": null, "tool_result": {"call_id": "tA", "name": "run_command", "content": "{\"success\": true, \"message\": \"ok\", \"observation_type\": \"command_run\"}"}}], "response": {"role": "assistant", "content": "I think the data is ready.", "reasoning": null, "usage": {"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}, "model": "m", "finish_reason": "stop", "tool_calls": [{"call_id": "toolu_fake", "name": "null", "arguments": {}}]}, "source": "generate", "depth": 2, "observation": {"success": false, "message": "Do nothing. Please check your output format. Do not output more than 3000 token.", "observation_type": "null"}, "action": {"call_id": "toolu_fake", "action_type": "null"}}, "react_s1_2025-09-08T10:03:00.000000.json": {"id": "s1", "parent_id": "b1", "timestamp": "2025-09-08T10:03:00.000000", "node_type": "react", "system_prompt": "", "messages": [], "response": {"role": "assistant", "content": "", "reasoning": null, "usage": null, "model": null, "finish_reason": null, "tool_calls": [{"call_id": "toolu_syn", "name": "summarize", "arguments": {"start_summary_depth": 1, "end_summary_depth": 1}}]}, "source": "generate", "depth": 3, "observation": null, "action": {"call_id": "toolu_syn", "action_type": "summarize"}}, "root_r0_2025-09-08T10:00:00.000000.json": {"id": "r0", "parent_id": null, "timestamp": "2025-09-08T10:00:00.000000", "node_type": "root", "system_prompt": "", "messages": [], "response": null, "source": "generate", "depth": 0, "observation": {"success": true, "message": "Train a model", "source": "user", "timestamp": "2025-09-08T10:00:00"}, "action": null}, "summary_m1_2025-09-08T10:04:00.000000.json": {"id": "m1", "parent_id": "r0", "timestamp": "2025-09-08T10:04:00.000000", "node_type": "summary", "system_prompt": "", "messages": [{"role": "system", "content": "You are an AI Innovator.", "reasoning": null, "tool_call": null, "tool_result": null}, {"role": "user", "content": "history...", "reasoning": null, "tool_call": null, "tool_result": null}], "response": {"role": "assistant", "content": "", "reasoning": null, "usage": {"input_tokens": 100, "output_tokens": 10, "total_tokens": 110}, "model": "m", "finish_reason": "tool_calls", "tool_calls": [{"call_id": "tS", "name": "internal_summarize", "arguments": {"summary_content": "<state_snapshot>x</state_snapshot>"}}]}, "source": "generate", "depth": 1, "observation": null, "action": null, "summary_content": "<state_snapshot>x</state_snapshot>"}};

describe('InnovatorBench, a folder of nodes', () => {
  it('the agent\'s summarize call is not trained, and a reply with no call keeps its text without the null call', async () => {
    const dir = join(w.root, 'ib-run');
    await mkdir(dir, { recursive: true });
    for (const [f, n] of Object.entries(NODES)) await writeFile(join(dir, f), JSON.stringify(n));
    const { sessions } = await w.import(dir);
    const s = sessions[0]!;
    const summarize = [...s.t.steps.values()].find((x) => x.response?.toolCalls.some((c) => c.name === 'summarize'));
    expect(summarize?.notTrained).toMatch(/summarize/);
    const noCall = [...s.t.steps.values()].find((x) => x.response?.content === 'I think the data is ready.')!;
    expect(noCall.response!.toolCalls).toEqual([]);
    const out = await w.export([s.id], ['openai']);
    const trained = out.openai.flatMap((l) => oa.trainedTurns(l).trained.map((t) => JSON.stringify([t.text, t.toolCalls ?? []])));
    expect(trained.some((t) => /summarize|"null"/.test(t))).toBe(false);
    expect(trained).toContain(JSON.stringify(['I think the data is ready.', []]));
  });
});

describe('InnovatorBench, one node without a summary', () => {
  it('the actions before it are not trained when its task message states the time left (each request stated its own)', async () => {
    const node = NODES['react_b1_2025-09-08T10:02:00.000000.json'] as { messages: Array<{ role: string; content: string }> };
    const timed = join(w.root, 'node-b1.json');
    await writeFile(timed, JSON.stringify(node));
    const a = (await w.import(timed)).sessions[0]!;
    expect(a.main.map((st) => !!st.notTrained)).toEqual([true, false]);
    expect(a.main[0]!.notTrained).toMatch(/working time left/);
    // Without a time in it, the cut before each action is that action's request.
    const untimed = join(w.root, 'node-b1-untimed.json');
    await writeFile(untimed, JSON.stringify({ ...node, messages: node.messages.map((m) => (m.role === 'user' ? { ...m, content: '\n<task_description>\nTrain a model\n</task_description>\n' } : m)) }));
    const b = (await w.import(untimed)).sessions[0]!;
    expect(b.main.map((st) => !!st.notTrained)).toEqual([false, false]);
  });
});

describe.skipIf(!haveSamples)('InnovatorBench, one node whose context follows a summary (real sample)', () => {
  it('trains its own reply only: the actions in its context may be copies made before the summary', async () => {
    const { sessions } = await w.import(sample('innovatorbench/react-node-depth70.json'));
    const s = sessions[0]!;
    const acted = s.main.filter((x) => x.response);
    expect(acted.length).toBeGreaterThan(1);
    expect(acted.slice(0, -1).every((x) => /copy of an action/.test(x.notTrained ?? ''))).toBe(true);
    expect(acted.at(-1)!.notTrained).toBeUndefined();
  });
});
