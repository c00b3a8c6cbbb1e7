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
function agent(action: string, args: Record<string, unknown>, fn: string, callArgs: Record<string, unknown>, text: string, promptTokens?: number): Record<string, unknown> {
  const callId = `toolu_${++id}`;
  return {
    id, timestamp: at(), source: 'agent', action, args: { ...args, thought: text },
    tool_call_metadata: {
      function_name: fn, tool_call_id: callId,
      model_response: {
        id: `resp-${id}`, model: 'claude-x', choices: [{ finish_reason: 'tool_calls', message: { role: 'assistant', content: text, tool_calls: [{ id: callId, type: 'function', function: { name: fn, arguments: JSON.stringify(callArgs) } }] } }],
        ...(promptTokens !== undefined ? { usage: { prompt_tokens: promptTokens, completion_tokens: 10, total_tokens: promptTokens + 10 } } : {}),
      },
    },
  };
}
const task = (text: string) => ({ id: ++id, timestamp: at(), source: 'user', action: 'message', args: { content: text } });
/** Import `events` as one file; the session and which of its steps are not trained. */
async function importEvents(name: string, events: unknown): Promise<{ s: Awaited<ReturnType<ImportWorkspace['import']>>['sessions'][number]; untrained: boolean[] }> {
  const f = join(w.root, name);
  await writeFile(f, JSON.stringify(events));
  const { sessions } = await w.import(f);
  return { s: sessions[0]!, untrained: sessions[0]!.main.map((st) => !!st.notTrained) };
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

  it('a finish in a log that shows no version of 0.16 or later leaves the steps after it untrained, as before', async () => {
    const a1 = agent('run', { command: 'ls' }, 'execute_bash', { command: 'ls' }, 'Listing.');
    const fin = agent('finish', {}, 'finish', {}, 'Done.');
    const a2 = agent('run', { command: 'pwd' }, 'execute_bash', { command: 'pwd' }, 'Where am I.');
    // Observations without extras.metadata: a log older than 0.19, which may be older than 0.16 too.
    const obs = (cause: unknown, content: string) => ({ id: ++id, timestamp: at(), source: 'agent', observation: 'run', cause, content, extras: { command: 'x', exit_code: 0 } });
    const { s, untrained } = await importEvents('finish-old.json', [task('Look.'), a1, obs(a1.id, 'a'), fin, task('And then?'), a2, obs(a2.id, '/w')]);
    expect(untrained).toEqual([false, false, true]);
    const req = requestMessages(s.t, s.main[2]!.requestId!)!;
    expect(req[3]).toMatchObject({ role: 'assistant', tool_calls: [expect.objectContaining({ function: expect.objectContaining({ name: 'finish' }) })] });
  });

  it('a cut of the context that leaves no condensation action (condense, loop recovery, a shorter prompt) untrains the steps after it', async () => {
    const three = (name: string, between: Record<string, unknown>[], tokens: [number, number, number] = [1000, 1500, 2000]) => {
      const a1 = agent('run', { command: 'one' }, 'execute_bash', { command: 'one' }, 'One.', tokens[0]);
      const a2 = agent('run', { command: 'two' }, 'execute_bash', { command: 'two' }, 'Two.', tokens[1]);
      const ev = [task('Go.'), a1, runObs(a1.id as number, 'o1'), a2, runObs(a2.id as number, 'o2'), ...between];
      const a3 = agent('run', { command: 'three' }, 'execute_bash', { command: 'three' }, 'Three.', tokens[2]);
      return importEvents(name, [...ev, a3, runObs(a3.id as number, 'o3')]);
    };
    expect((await three('plain.json', [])).untrained).toEqual([false, false, false]);
    const condense = await three('condense.json', [{ id: ++id, timestamp: at(), source: 'agent', observation: 'condense', content: 'Trimming prompt to meet context window limitations' }]);
    expect(condense.untrained).toEqual([false, false, true]);
    expect(condense.s.main[2]!.notTrained).toMatch(/cut or condensed the agent's context at event \d+ \(condense\)/);
    expect((await three('loop.json', [{ id: ++id, timestamp: at(), source: 'agent', action: 'loop_recovery', args: {} }])).untrained).toEqual([false, false, true]);
    const shorter = await three('shorter.json', [], [1000, 3000, 1200]);
    expect(shorter.untrained).toEqual([false, false, true]);
    expect(shorter.s.main[2]!.notTrained).toMatch(/1200 tokens, fewer than the 3000 of the one before/);
  });

  it('a recall whose findings OpenHands puts into its prompts untrains the steps after it, unless prompt extensions were off', async () => {
    const recall = { id: ++id, timestamp: at(), source: 'environment', observation: 'recall', content: 'Added workspace context', extras: { recall_type: 'workspace_context', repo_name: '', date: '2025-06-01', microagent_knowledge: [] } };
    const empty = { id: ++id, timestamp: at(), source: 'environment', observation: 'recall', content: '', extras: { recall_type: 'knowledge', microagent_knowledge: [] } };
    const a1 = agent('run', { command: 'ls' }, 'execute_bash', { command: 'ls' }, 'Listing.');
    const events = [task('Go.'), recall, a1, runObs(a1.id as number, 'a')];
    expect((await importEvents('recall.json', events)).untrained).toEqual([true]);
    expect((await importEvents('recall-empty.json', [task('Go.'), empty, a1, runObs(a1.id as number, 'a')])).untrained).toEqual([false]);
    // An evaluation that turned prompt extensions off: the recall is not in its prompts.
    const f = join(w.root, 'output.jsonl');
    const line = (ext: boolean) => JSON.stringify({ instance_id: `x-${ext}`, instruction: 'Go.', history: events, metadata: { agent_class: 'CodeActAgent', agent_config: { enable_prompt_extensions: ext } } });
    await writeFile(f, `${line(false)}\n${line(true)}\n`);
    const { sessions } = await w.import(f);
    expect(sessions.map((x) => x.main.map((st) => !!st.notTrained))).toEqual([[false], [true]]);
  });

  it('a log whose system event gives version 0.34 or later: command output as the agent was shown it, a blank line between user turns', async () => {
    const system = { id: ++id, timestamp: at(), source: 'agent', action: 'system', args: { content: 'You are OpenHands agent.', tools: [], openhands_version: '0.38.0', agent_class: 'CodeActAgent' } };
    const a1 = agent('run', { command: 'make' }, 'execute_bash', { command: 'make' }, 'Building.');
    const obs = runObs(a1.id as number, 'built', { working_dir: '/workspace', py_interpreter_path: '/usr/bin/python', exit_code: 0 });
    const user = { id: ++id, timestamp: at(), source: 'user', action: 'run', args: { command: 'ls', thought: '' } };
    const uobs = { ...runObs(user.id, 'out', { working_dir: '/workspace', exit_code: 0 }), source: 'user' };
    const a2 = agent('run', { command: 'make test' }, 'execute_bash', { command: 'make test' }, 'Testing.');
    const { s } = await importEvents('v038.json', [system, task('Build it.'), a1, obs, user, uobs, a2, runObs(a2.id as number, 'ok')]);
    expect(s.main[0]!.results[0]!.observation).toBe('built\n[Current working directory: /workspace]\n[Python interpreter: /usr/bin/python]\n[Command finished with exit code 0]');
    const req = requestMessages(s.t, s.main[1]!.requestId!)!;
    expect(req.slice(-2)).toEqual([
      { role: 'user', content: 'User executed the command:\nls' },
      { role: 'user', content: '\n\n\nObserved result of command executed by user:\nout\n[Current working directory: /workspace]\n[Command finished with exit code 0]' },
    ]);
  });

  it('a long observation is cut in the middle as OpenHands cut it for the prompt (max_message_chars, 30,000 unless the evaluation says)', async () => {
    const long = `${'a'.repeat(20_000)}MIDDLE${'z'.repeat(20_000)}`;
    const a1 = agent('run', { command: 'cat big.log' }, 'execute_bash', { command: 'cat big.log' }, 'Reading.');
    const a2 = agent('run', { command: 'wc -l big.log' }, 'execute_bash', { command: 'wc -l big.log' }, 'Counting.');
    const events = [task('Read it.'), a1, runObs(a1.id as number, long), a2, runObs(a2.id as number, '1 big.log')];
    const { s } = await importEvents('long-obs.json', events);
    const shown = s.main[0]!.results[0]!.observation;
    expect(shown).toBe(`${'a'.repeat(15_000)}\n[... Observation truncated due to length ...]\n${'z'.repeat(15_000)}`);
    expect(requestMessages(s.t, s.main[1]!.requestId!)!.at(-1)).toEqual({ role: 'tool', tool_call_id: expect.any(String), content: shown });
    // An evaluation whose llm_config sets another limit.
    const f = join(w.root, 'output-limit.jsonl');
    await writeFile(f, `${JSON.stringify({ instance_id: 'lim', instruction: 'Read it.', history: events, metadata: { agent_class: 'CodeActAgent', llm_config: { model: 'm', max_message_chars: 50_000 } } })}\n`);
    const { sessions } = await w.import(f);
    expect(sessions[0]!.main[0]!.results[0]!.observation).toBe(long);
  });

  it('an image a Python cell drew is a placeholder line, as the prompt had it', async () => {
    const a1 = agent('run_ipython', { code: 'plot()' }, 'execute_ipython_cell', { code: 'plot()' }, 'Plotting.');
    const obs = { id: ++id, timestamp: at(), source: 'agent', observation: 'run_ipython', cause: a1.id, content: 'Figure:\n![image](data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==)\ndone', extras: { code: 'plot()' } };
    const { s } = await importEvents('ipython.json', [task('Plot.'), a1, obs]);
    expect(s.main[0]!.results[0]!.observation).toBe('Figure:\n![image](data:image/png;base64, ...) already displayed to user\ndone');
  });

  it('a third browser page in an app session untrains the steps after it: the default condenser showed only the last two', async () => {
    const events: Record<string, unknown>[] = [task('Browse.')];
    for (let k = 1; k <= 4; k++) {
      const a = agent('browse', { url: `http://x/${k}` }, 'browser', { code: `goto('http://x/${k}')` }, `Page ${k}.`);
      events.push(a, { id: ++id, timestamp: at(), source: 'agent', observation: 'browse', cause: a.id, content: `page ${k}`, extras: { url: `http://x/${k}` } });
    }
    expect((await importEvents('pages.json', events)).untrained).toEqual([false, false, false, true]);
  });
});
