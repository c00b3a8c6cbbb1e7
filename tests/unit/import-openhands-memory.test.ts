// OpenHands renders some events in its prompts otherwise than the event log keeps them
// (openhands/memory/conversation_memory.py): an agent's finish call becomes the reply's
// text, and a command the user ran in the agent's shell, with its output, becomes user
// turns. The derived contexts of the steps after them follow that rendering.
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

let id = 0;
const at = () => `2025-06-01T10:00:${String(id).padStart(2, '0')}.000000`;
/** An agent action of one model response with a single call. */
function agent(action: string, args: Record<string, unknown>, fn: string, callArgs: Record<string, unknown>, text: string): Record<string, unknown> {
  const callId = `toolu_${++id}`;
  return {
    id, timestamp: at(), source: 'agent', action, args: { ...args, thought: text },
    tool_call_metadata: {
      function_name: fn, tool_call_id: callId,
      model_response: { id: `resp-${id}`, model: 'claude-x', choices: [{ finish_reason: 'tool_calls', message: { role: 'assistant', content: text, tool_calls: [{ id: callId, type: 'function', function: { name: fn, arguments: JSON.stringify(callArgs) } }] } }] },
    },
  };
}
const runObs = (cause: number, content: string, meta?: object) => ({ id: ++id, timestamp: at(), source: 'agent', observation: 'run', cause, content, extras: { command: 'x', metadata: { exit_code: 0, ...meta } } });

describe('OpenHands prompts as its conversation memory renders them', () => {
  it('a finish call is the reply\'s text in later requests; the steps after it are trained', async () => {
    const events: Record<string, unknown>[] = [];
    events.push({ id: ++id, timestamp: at(), source: 'user', action: 'message', args: { content: 'Make the tests pass.' } });
    const a1 = agent('run', { command: 'pytest -q' }, 'execute_bash', { command: 'pytest -q' }, 'Running the tests.');
    events.push(a1, runObs(a1.id as number, '3 passed'));
    const fin = agent('finish', { final_thought: 'All green.', task_completed: 'true', outputs: {} }, 'finish', { message: 'All green.' }, 'The tests pass now.');
    events.push(fin);
    events.push({ id: ++id, timestamp: at(), source: 'user', action: 'message', args: { content: 'Also run the linter.' } });
    const a3 = agent('run', { command: 'ruff check .' }, 'execute_bash', { command: 'ruff check .' }, 'Linting.');
    events.push(a3, runObs(a3.id as number, 'All checks passed!'));
    const f = join(w.root, 'finish-then-more.json');
    await writeFile(f, JSON.stringify(events));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main).toHaveLength(3);
    // The finish step's reply is the model's own: its text and the finish call.
    expect(s!.main[1]!.response!.toolCalls.map((c) => c.name)).toEqual(['finish']);
    // The request after it carries that reply as text only, with no stand-in result.
    const req = requestMessages(s!.t, s!.main[2]!.requestId!)!;
    expect(req.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'user']);
    expect(req[3]).toEqual({ role: 'assistant', content: 'The tests pass now.' });
    expect(JSON.stringify(req)).not.toContain('records no result');
    expect(s!.main[2]!.notTrained).toBeUndefined();
    const out = await w.export([s!.id], ['openai']);
    const trained = out.openai.flatMap((l) => (l as { messages: Array<{ role: string; weight?: number; tool_calls?: Array<{ function: { arguments: string } }> }> }).messages.filter((m) => m.weight === 1));
    expect(trained.some((m) => m.tool_calls?.[0]?.function.arguments.includes('ruff'))).toBe(true);
  });

  it('a thought that differs from the reply\'s text comes first, then the text', async () => {
    const events: Record<string, unknown>[] = [{ id: ++id, timestamp: at(), source: 'user', action: 'message', args: { content: 'Do it.' } }];
    const fin = agent('finish', { final_thought: 'Done.' }, 'finish', { message: 'Done.' }, 'Finished.');
    (fin.args as Record<string, unknown>).thought = 'I checked everything.';
    events.push(fin, { id: ++id, timestamp: at(), source: 'user', action: 'message', args: { content: 'One more thing.' } });
    const a = agent('run', { command: 'ls' }, 'execute_bash', { command: 'ls' }, 'Listing.');
    events.push(a, runObs(a.id as number, 'a b'));
    const f = join(w.root, 'finish-thought.json');
    await writeFile(f, JSON.stringify(events));
    const { sessions } = await w.import(f);
    const req = requestMessages(sessions[0]!.t, sessions[0]!.main[1]!.requestId!)!;
    expect(req[1]).toEqual({ role: 'assistant', content: 'I checked everything.\nFinished.' });
  });

  it('a command the user ran, and its output, are user turns of the later context, not guidance', async () => {
    const events: Record<string, unknown>[] = [{ id: ++id, timestamp: at(), source: 'user', action: 'message', args: { content: 'Fix the build.' } }];
    const a1 = agent('run', { command: 'make' }, 'execute_bash', { command: 'make' }, 'Building.');
    events.push(a1, runObs(a1.id as number, 'error: missing dep'));
    const user = { id: ++id, timestamp: at(), source: 'user', action: 'run', args: { command: 'apt-get install -y libfoo', thought: '' } };
    events.push(user, { ...runObs(user.id, 'libfoo installed'), source: 'user' });
    const a2 = agent('run', { command: 'make' }, 'execute_bash', { command: 'make' }, 'Building again.');
    events.push(a2, runObs(a2.id as number, 'ok'));
    const f = join(w.root, 'user-command.json');
    await writeFile(f, JSON.stringify(events));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main).toHaveLength(2);
    const req = requestMessages(s!.t, s!.main[1]!.requestId!)!;
    expect(req.slice(-2)).toEqual([
      { role: 'user', content: 'User executed the command:\napt-get install -y libfoo' },
      { role: 'user', content: '\nObserved result of command executed by user:\nlibfoo installed' },
    ]);
    expect(s!.t.guidance.size).toBe(0);
    expect(s!.main[1]!.notTrained).toBeUndefined();
  });

  it('an error and a rejection carry the notes OpenHands adds; an error no action caused is a user turn', async () => {
    const events: Record<string, unknown>[] = [{ id: ++id, timestamp: at(), source: 'user', action: 'message', args: { content: 'Clean up.' } }];
    const a1 = agent('run', { command: 'rm -rf build' }, 'execute_bash', { command: 'rm -rf build' }, 'Removing.');
    events.push(a1, { id: ++id, timestamp: at(), source: 'user', observation: 'user_rejected', cause: a1.id, content: 'Action has been rejected by the user!', tool_call_metadata: a1.tool_call_metadata });
    const a2 = agent('run', { command: 'cat nope' }, 'execute_bash', { command: 'cat nope' }, 'Reading.');
    events.push(a2, { id: ++id, timestamp: at(), source: 'agent', observation: 'error', cause: a2.id, content: 'No such file', tool_call_metadata: a2.tool_call_metadata });
    events.push({ id: ++id, timestamp: at(), source: 'agent', observation: 'error', content: 'The model sent no tool call.' });
    const a3 = agent('run', { command: 'ls' }, 'execute_bash', { command: 'ls' }, 'Listing.');
    events.push(a3, runObs(a3.id as number, 'src'));
    const f = join(w.root, 'errors.json');
    await writeFile(f, JSON.stringify(events));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main.map((st) => st.results.map((r) => [r.observation, r.isError]))).toEqual([
      [['OBSERVATION:\nAction has been rejected by the user!\n[Last action has been rejected by the user]', true]],
      [['No such file\n[Error occurred in processing last action]', true]],
      [['src', false]],
    ]);
    const req = requestMessages(s!.t, s!.main[2]!.requestId!)!;
    expect(req.at(-1)).toEqual({ role: 'user', content: 'The model sent no tool call.\n[Error occurred in processing last action]' });
    expect(s!.t.guidance.size).toBe(0);
  });

  it('the steps after a condensation are not trained: their prompts were a condensed view the log does not keep', async () => {
    const events: Record<string, unknown>[] = [{ id: ++id, timestamp: at(), source: 'user', action: 'message', args: { content: 'Long task.' } }];
    const a1 = agent('run', { command: 'step1' }, 'execute_bash', { command: 'step1' }, 'One.');
    events.push(a1, runObs(a1.id as number, 'out1'));
    const a2 = agent('run', { command: 'step2' }, 'execute_bash', { command: 'step2' }, 'Two.');
    events.push(a2, runObs(a2.id as number, 'out2'));
    events.push({ id: ++id, timestamp: at(), source: 'agent', action: 'condensation', args: { forgotten_event_ids: [a1.id, (a1.id as number) + 1], summary: 'Ran step1.', summary_offset: 1 } });
    const a3 = agent('run', { command: 'step3' }, 'execute_bash', { command: 'step3' }, 'Three.');
    events.push(a3, runObs(a3.id as number, 'out3'));
    const f = join(w.root, 'condensed.json');
    await writeFile(f, JSON.stringify(events));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main.map((st) => !!st.notTrained)).toEqual([false, false, true]);
    expect(s!.main[2]!.notTrained).toMatch(/condensed the agent's context at event/);
    const out = await w.export([s!.id], ['openai']);
    const trained = out.openai.flatMap((l) => (l as { messages: Array<{ weight?: number; tool_calls?: Array<{ function: { arguments: string } }> }> }).messages.filter((m) => m.weight === 1)).map((m) => m.tool_calls?.[0]?.function.arguments);
    expect(trained).toEqual(['{"command":"step1"}', '{"command":"step2"}']);
  });
});
