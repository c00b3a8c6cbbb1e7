// The exported training data of an imported run is exactly true: a step is trained only
// if the source's model produced it, as it produced it. Each case runs the whole path
// (import → bundle export) and reads the exported openai.jsonl / trajectory.jsonl:
//   - an asciicast recording has no model: its marker steps train nothing, and no
//     importer-made text stands in as a reply;
//   - Claude Code's own synthetic assistant records (API errors, model "<synthetic>")
//     are neither steps nor context; records Claude Code wrote twice are merged once;
//   - an Inspect scorer's grader call is not a step of the agent.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportWorkspace, origin } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

type Msg = { role: string; content?: string | null; weight?: number; tool_calls?: Array<{ id: string; function: { name: string; arguments: string } }> };
type Line = { messages: Msg[] };
type StepLine = { kind: string; stepId: string; response: { content: string; toolCalls: unknown[] } | null; weight: number | null; weightReason: string | null; comments: Array<{ text: string; author: string }> };

async function exported(sessionId: string) {
  const out = await w.export([sessionId], ['openai', 'sharegpt', 'trajectory']);
  const traj = (await readFile(join(out.dir, 'trajectory.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as StepLine);
  const manifest = JSON.parse(await readFile(join(out.dir, 'manifest.json'), 'utf8')) as { counts: { kept: number } };
  const openai = out.openai as Line[];
  const trained = openai.flatMap((l) => l.messages.filter((m) => m.role === 'assistant' && m.weight === 1));
  return { openai, trained, steps: traj.filter((l) => l.kind === 'step'), manifest, dir: out.dir, raw: await readFile(join(out.dir, 'openai.jsonl'), 'utf8').catch(() => '') };
}

const lines = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join('\n') + '\n';

describe('asciicast: a terminal recording trains nothing', () => {
  it('markers split the output into steps for review, none of them a trained reply', async () => {
    const f = join(w.root, 'markers-truth.cast');
    await writeFile(f, lines([
      { version: 2, width: 80, height: 24, timestamp: 1700000000, title: 'demo' },
      [0.5, 'o', '$ '],
      [1.0, 'i', 'make\r'],
      [1.1, 'm', 'setup'],
      [1.2, 'o', 'make\r\n$ '],
      [2.0, 'm', 'run'],
      [2.5, 'o', 'done\r\n'],
      [2.6, 'm', ''],
      [2.7, 'o', 'bye\r\n'],
    ]));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    // Steps still split the recording: before the first marker, then one per marker.
    expect(s!.main.map((st) => st.results[0]!.observation)).toEqual(['$ ', 'make\n$ ', 'done\n', 'bye\n']);
    // No reply text the recording did not have: the importer writes no label or placeholder as the model's.
    expect(s!.main.map((st) => [st.response!.content, st.response!.toolCalls.length, st.response!.origin])).toEqual(Array(4).fill(['', 0, 'terminal']));
    // The marker labels are kept, as comments of the recording (not as replies).
    expect(s!.main.map((st) => st.comments.map((id) => s!.t.comments.get(id)!.text))).toEqual([[], ['asciicast marker: setup'], ['asciicast marker: run'], ['asciicast marker 3 (no label)']]);

    const { openai, trained, steps, manifest, raw } = await exported(s!.id);
    expect(openai).toEqual([]);
    expect(trained).toEqual([]);
    expect(manifest.counts.kept).toBe(0);
    expect(raw).not.toMatch(/before the first marker|setup|"run"/);
    expect(steps).toHaveLength(4);
    for (const st of steps) {
      expect(st.weight).toBe(0);
      expect(st.response!.content).toBe('');
    }
    expect(steps[1]!.comments).toEqual([expect.objectContaining({ text: 'asciicast marker: setup', author: 'recording' })]);
  });
});

const cc = { sessionId: 's1', version: '1.0.56', cwd: '/w', isSidechain: false, userType: 'external' };
const ccUser = (uuid: string, parentUuid: string | null, content: unknown, ts: string) => ({ ...cc, type: 'user', uuid, parentUuid, timestamp: `2025-07-20T10:${ts}.000Z`, message: { role: 'user', content } });
const ccAssistant = (uuid: string, parentUuid: string, id: string, content: unknown[], ts: string, extra: Record<string, unknown> = {}) => ({
  ...cc, type: 'assistant', uuid, parentUuid, timestamp: `2025-07-20T10:${ts}.000Z`, ...extra,
  message: { id, role: 'assistant', model: 'claude-sonnet-4', content, usage: { input_tokens: 10, output_tokens: 5 }, ...(extra.message as object | undefined) },
});

describe('Claude Code: only the model\'s own replies are trained', () => {
  it('a synthetic "API Error" record is neither a step nor context; the import says what it left out', async () => {
    const f = join(w.root, 'cc-synthetic.jsonl');
    const error = 'API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}';
    await writeFile(f, lines([
      ccUser('u1', null, 'List the files please', '00:00'),
      ccAssistant('a1', 'u1', 'msg_1', [{ type: 'text', text: 'Sure.' }, { type: 'tool_use', id: 'toolu_A', name: 'Bash', input: { command: 'ls' } }], '00:05'),
      ccUser('u2', 'a1', [{ type: 'tool_result', tool_use_id: 'toolu_A', content: 'a\nb' }], '00:06'),
      ccUser('u4', 'u2', 'use ls -la', '00:10'),
      { ...cc, type: 'assistant', uuid: 'a2', parentUuid: 'u4', timestamp: '2025-07-20T10:00:20.000Z', isApiErrorMessage: true,
        message: { id: 'f3c1e6a2-synthetic', role: 'assistant', model: '<synthetic>', type: 'message', stop_reason: 'stop_sequence', content: [{ type: 'text', text: error }], usage: { input_tokens: 0, output_tokens: 0 } } },
      ccUser('u5', 'a2', 'try again', '01:00'),
      ccAssistant('a3', 'u5', 'msg_3', [{ type: 'text', text: 'Running it.' }, { type: 'tool_use', id: 'toolu_B', name: 'Bash', input: { command: 'ls -la' } }], '01:05'),
      ccUser('u6', 'a3', [{ type: 'tool_result', tool_use_id: 'toolu_B', content: 'total 0' }], '01:08'),
      // Claude Code's other synthetic reply (no API error flag): not the model's either.
      { ...cc, type: 'assistant', uuid: 'a4', parentUuid: 'u6', timestamp: '2025-07-20T10:01:10.000Z', message: { id: 'syn-2', role: 'assistant', model: '<synthetic>', content: [{ type: 'text', text: 'No response requested.' }] } },
      ccUser('u7', 'a4', 'and now?', '01:12'),
      ccAssistant('a5', 'u7', 'msg_5', [{ type: 'text', text: 'Done.' }], '01:15'),
    ]));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main.map((st) => st.response!.content)).toEqual(['Sure.', 'Running it.', 'Done.']);
    // The person's turns around the error keep their place: after the step they followed.
    expect(s!.main.map((st) => st.guidance.map((g) => s!.t.guidance.get(g)!.text))).toEqual([['use ls -la', 'try again'], ['and now?'], []]);
    expect(origin(s!).unknown).toMatchObject({ 'synthetic assistant': 2 });
    const notes = s!.events.filter((e) => e.type === 'warning').map((e) => (e.type === 'warning' ? e.message : ''));
    expect(notes.some((n) => /2 assistant record\(s\).*<synthetic>.*not the model's/.test(n))).toBe(true);

    const { trained, raw, steps } = await exported(s!.id);
    expect(trained.map((m) => m.content)).toEqual(['Sure.', 'Running it.', 'Done.']);
    expect(raw).not.toContain('API Error');
    expect(raw).not.toContain('No response requested');
    expect(steps.map((x) => x.weight)).toEqual([1, 1, 1]);
  });

  it('records Claude Code wrote twice (same uuid, or the same message part again) are merged once', async () => {
    const f = join(w.root, 'cc-dup.jsonl');
    const text = ccAssistant('a1', 'u1', 'msg_1', [{ type: 'text', text: 'Let me look.' }], '00:01');
    const call = ccAssistant('a2', 'a1', 'msg_1', [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'git diff' } }], '00:02');
    const result = ccUser('r1', 'a2', [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'M README.md' }], '00:03');
    await writeFile(f, lines([
      ccUser('u1', null, 'What changed?', '00:00'),
      text, call, text, call, result, result,
      // The same part of msg_2 under a fresh uuid (a rewritten copy of the record).
      ccAssistant('a3', 'r1', 'msg_2', [{ type: 'text', text: 'README.md changed.' }], '00:04'),
      ccAssistant('a3b', 'a3', 'msg_2', [{ type: 'text', text: 'README.md changed.' }], '00:04'),
    ]));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    expect(s!.main.map((st) => [st.response!.content, st.response!.toolCalls.map((c) => c.id), st.results.map((r) => r.observation)])).toEqual([
      ['Let me look.', ['toolu_1'], ['M README.md']],
      ['README.md changed.', [], []],
    ]);
    const notes = s!.events.filter((e) => e.type === 'warning').map((e) => (e.type === 'warning' ? e.message : ''));
    expect(notes.some((n) => /3 record\(s\) repeat an earlier record/.test(n))).toBe(true);
    expect(notes.some((n) => /1 record\(s\) repeat a part of their message/.test(n))).toBe(true);

    const { trained, openai } = await exported(s!.id);
    expect(trained.map((m) => [m.content, (m.tool_calls ?? []).map((c) => c.id)])).toEqual([['Let me look.', ['toolu_1']], ['README.md changed.', []]]);
    const tools = openai.flatMap((l) => l.messages.filter((m) => m.role === 'tool'));
    expect(tools).toHaveLength(1);
  });

  it("a person's own shell command (!) is not trained: the model saw it as their messages, and trajectory.jsonl says so as the training files do", async () => {
    const f = join(w.root, 'cc-shell.jsonl');
    await writeFile(f, lines([
      ccUser('u0', null, 'Caveat: The messages below were generated by the user while running local commands.', '00:00'),
      ccUser('u1', 'u0', '<bash-input>make test</bash-input>', '00:01'),
      ccUser('u2', 'u1', '<bash-stdout>1 failed</bash-stdout><bash-stderr></bash-stderr>', '00:02'),
      ccUser('u3', 'u2', 'Fix the failing test', '00:03'),
      ccAssistant('a1', 'u3', 'msg_1', [{ type: 'text', text: 'Looking.' }, { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'make test -v' } }], '00:05'),
      ccUser('r1', 'a1', [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'FAIL test_a' }], '00:06'),
      ccAssistant('a2', 'r1', 'msg_2', [{ type: 'text', text: 'Fixed.' }], '00:09'),
    ]));
    const { sessions } = await w.import(f);
    const [s] = sessions;
    const shell = s!.main.find((st) => st.response!.origin === 'terminal')!;
    expect(JSON.parse(shell.response!.toolCalls[0]!.arguments)).toEqual({ command: 'make test' });
    expect(shell.notTrained).toMatch(/own shell/);
    // Claude Code records when, not how long: the times are the source's, the durations are not.
    expect(s!.main.map((st) => st.timing)).toEqual(['no-durations', 'no-durations', 'no-durations']);

    const { trained, steps, dir } = await exported(s!.id);
    expect(trained.map((m) => m.content)).toEqual(['Looking.', 'Fixed.']);
    expect(steps.map((x) => [x.weight, x.weightReason])).toEqual([[0, 'not-model'], [1, 'unlabelled'], [1, 'unlabelled']]);
    expect(steps.map((x) => (x as { timing?: string }).timing)).toEqual(['no-durations', 'no-durations', 'no-durations']);
    // The two files agree step by step: weight 1 in trajectory.jsonl is exactly what the manifest's examples train.
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { trajectories: Array<{ trainedSteps: string[] }>; counts: { masked: number; maskedBy: Record<string, number> } };
    expect(steps.filter((x) => x.weight === 1).map((x) => x.stepId)).toEqual(manifest.trajectories.flatMap((t) => t.trainedSteps));
    expect(manifest.counts).toMatchObject({ masked: 1, maskedBy: { 'not-model': 1 } });
  });
});

const spanRun = (grader: unknown[]) => ({
  version: 2, status: 'success', eval: { task: 'arith', model: 'openai/gpt-4o', run_id: 'r1', eval_id: 'e1' },
  samples: [{
    id: 1, epoch: 1, input: 'What is 2+2? Use bash.', target: '4', messages: [], scores: { model_graded_qa: { value: 'C' } },
    events: [
      {
        event: 'model', model: 'openai/gpt-4o', input: [{ role: 'system', content: 'You are an agent.' }, { role: 'user', content: 'What is 2+2? Use bash.' }],
        tools: [{ name: 'bash', description: 'run bash', parameters: { type: 'object', properties: { cmd: { type: 'string' } } } }], tool_choice: 'auto', config: {},
        output: { model: 'gpt-4o', choices: [{ message: { role: 'assistant', content: '', tool_calls: [{ id: 'c1', function: 'bash', arguments: { cmd: 'echo $((2+2))' } }] }, stop_reason: 'tool_calls' }] },
      },
      { event: 'tool', id: 'c1', function: 'bash', result: '4\n' },
      {
        event: 'model', model: 'openai/gpt-4o',
        input: [
          { role: 'system', content: 'You are an agent.' }, { role: 'user', content: 'What is 2+2? Use bash.' },
          { role: 'assistant', content: '', tool_calls: [{ id: 'c1', function: 'bash', arguments: { cmd: 'echo $((2+2))' } }] },
          { role: 'tool', tool_call_id: 'c1', content: '4\n', function: 'bash' },
        ],
        tools: [{ name: 'bash', description: 'run bash', parameters: { type: 'object', properties: { cmd: { type: 'string' } } } }], tool_choice: 'auto', config: {},
        output: { model: 'gpt-4o', choices: [{ message: { role: 'assistant', content: 'The answer is 4.' }, stop_reason: 'stop' }] },
      },
      ...grader,
      { event: 'score', score: { value: 'C' } },
    ],
  }],
});
const graderCall = (extra: Record<string, unknown> = {}) => ({
  event: 'model', model: 'openai/gpt-4o-mini', input: [{ role: 'user', content: 'Assess: The answer is 4. Reply GRADE: C or GRADE: I' }], tools: [], config: {},
  output: { model: 'gpt-4o-mini', choices: [{ message: { role: 'assistant', content: 'GRADE: C' }, stop_reason: 'stop' }] }, ...extra,
});

describe('Inspect: a scorer\'s model call is not a step of the agent', () => {
  const cases: Array<[string, unknown[]]> = [
    ['a scorer span without ids (nested by order)', [{ event: 'span_begin', type: 'scorer', name: 'model_graded_qa' }, graderCall(), { event: 'span_end' }]],
    ['spans with ids, the call naming its span', [
      { event: 'span_begin', id: 'sc', type: 'scorers', name: 'scorers', span_id: 'sc' },
      { event: 'span_begin', id: 'g1', parent_id: 'sc', type: 'scorer', name: 'model_graded_qa', span_id: 'g1' },
      { event: 'span_end', id: 'g1', span_id: 'g1' },
      { event: 'span_end', id: 'sc', span_id: 'sc' },
      // Written after its span closed (a pending call completes later): its span_id still says whose it is.
      graderCall({ span_id: 'g1' }),
    ]],
    ['an older log\'s step events', [{ event: 'step', action: 'begin', type: 'scorer', name: 'model_graded_qa' }, graderCall(), { event: 'step', action: 'end', type: 'scorer', name: 'model_graded_qa' }]],
    ['a call in the grader role', [graderCall({ role: 'grader' })]],
  ];
  for (const [name, grader] of cases) {
    it(`${name}: the grader's reply is never trained, and the import notes it`, async () => {
      const f = join(w.root, `insp-${name.replace(/\W+/g, '-')}.json`);
      await writeFile(f, JSON.stringify(spanRun(grader)));
      const { sessions } = await w.import(f);
      const [s] = sessions;
      expect(s!.main.map((st) => st.response!.content)).toEqual(['', 'The answer is 4.']);
      expect(origin(s!).unknown).toMatchObject({ 'scorer model call': 1 });
      const notes = s!.events.filter((e) => e.type === 'warning').map((e) => (e.type === 'warning' ? e.message : ''));
      expect(notes.some((n) => /1 model call\(s\) of scorers .*not steps of the agent/.test(n))).toBe(true);

      const { trained, raw, steps } = await exported(s!.id);
      expect(trained.map((m) => m.content ?? m.tool_calls?.[0]?.function.name)).toEqual(['bash', 'The answer is 4.']);
      expect(raw).not.toContain('GRADE');
      expect(steps).toHaveLength(2);
    });
  }
});

describe('Inspect: a failed call\'s error text is not the model\'s reply', () => {
  const failedRun = (failed: Record<string, unknown>) => {
    const run = spanRun([]);
    const events = run.samples[0]!.events as Array<Record<string, unknown>>;
    // The second call failed: the log holds the API's error where its reply would be.
    events[2] = { ...events[2], ...failed };
    // The agent went on: its next input carries the error text as the assistant turn.
    events.splice(3, 0, {
      event: 'model', model: 'openai/gpt-4o',
      input: [
        ...(events[2]!.input as unknown[]),
        { role: 'assistant', content: ((failed.output as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content) },
        { role: 'user', content: 'Please continue.' },
      ],
      tools: events[2]!.tools, tool_choice: 'auto', config: {},
      output: { model: 'gpt-4o', choices: [{ message: { role: 'assistant', content: 'It is 4.' }, stop_reason: 'stop' }], usage: { input_tokens: 30, output_tokens: 3 } },
      call: { request: {}, response: { id: 'x' } },
    });
    return run;
  };
  const error = "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.";
  const cases: Array<[string, Record<string, unknown>]> = [
    ['a bad request turned into an output (no usage, no API response)', {
      output: { model: 'gpt-4o', choices: [{ message: { role: 'assistant', content: error }, stop_reason: 'model_length' }] }, call: { request: {}, response: null },
    }],
    ['an output that names its error', {
      output: { model: 'gpt-4o', choices: [{ message: { role: 'assistant', content: error }, stop_reason: 'content_filter' }], error, usage: { input_tokens: 1, output_tokens: 0 } },
    }],
  ];
  for (const [name, failed] of cases) {
    it(`${name}: the step stays, with an empty reply that is never trained`, async () => {
      const f = join(w.root, `insp-failed-${name.replace(/\W+/g, '-')}.json`);
      await writeFile(f, JSON.stringify(failedRun(failed)));
      const { sessions } = await w.import(f);
      const [s] = sessions;
      expect(s!.main.map((st) => st.response!.content)).toEqual(['', '', 'It is 4.']);
      const notes = s!.events.filter((e) => e.type === 'warning').map((e) => (e.type === 'warning' ? e.message : ''));
      expect(notes.some((n) => n.startsWith('1 model call(s) failed') && n.includes('maximum context length'))).toBe(true);

      const { trained, openai, steps } = await exported(s!.id);
      expect(trained.map((m) => m.content ?? m.tool_calls?.[0]?.function.name)).toEqual(['bash', 'It is 4.']);
      // The error stays where the source had it: context the agent was sent, weight 0.
      const last = openai.at(-1)!.messages;
      expect(last.find((m) => m.content === error)).toMatchObject({ role: 'assistant', weight: 0 });
      expect(steps.map((x) => [x.weight, x.weightReason])).toEqual([[1, 'unlabelled'], [0, 'empty'], [1, 'unlabelled']]);
    });
  }

  it('a reply cut at the length limit by the model itself is the model\'s, and trained', async () => {
    const f = join(w.root, 'insp-truncated.json');
    const run = spanRun([]);
    const events = run.samples[0]!.events as Array<Record<string, unknown>>;
    events[2] = { ...events[2], output: { model: 'gpt-4o', choices: [{ message: { role: 'assistant', content: 'The answer is' }, stop_reason: 'model_length' }], usage: { input_tokens: 20, output_tokens: 3 } }, call: { request: {}, response: { id: 'r' } } };
    await writeFile(f, JSON.stringify(run));
    const { sessions } = await w.import(f);
    const { trained } = await exported(sessions[0]!.id);
    expect(trained.map((m) => m.content ?? m.tool_calls?.[0]?.function.name)).toEqual(['bash', 'The answer is']);
  });
});
