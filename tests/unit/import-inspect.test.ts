// Inspect AI logs: the real .eval archive (read by the hand-written zip reader), a
// .json log with a tool call, and damaged archives.
import { readFile, writeFile } from 'node:fs/promises';
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

const EVAL = 'inspect/2025-11-07T10-59-47-05-00_websearch-addition-problem_LqPDntDnkk4h2fSqQ8i6CE.eval';

describe.skipIf(!haveSamples)('Inspect .eval (real sample)', () => {
  it('one session per sample; a model event is a step on its input, with its tools (derived: an Anthropic request is not chat-completions)', async () => {
    const { result, sessions } = await w.import(sample(EVAL));
    expect(result.format).toBe('inspect');
    expect(sessions).toHaveLength(1);
    const [s] = sessions;
    expect(origin(s!)).toMatchObject({
      item: 'sample 1 epoch 1', context: 'derived', toolVersion: 'inspect_ai 0.3.145.dev15+g6aa20ab99',
      unknown: { 'event span_begin': 6, 'event span_end': 6, 'event state': 2, 'event sample_init': 1, 'event score': 1 },
    });
    expect(s!.main).toHaveLength(1);
    const step = s!.main[0]!;
    expect(step.response!.content).toBe('1 + 1 = 2\n\nThis is a basic arithmetic operation where adding one unit to another unit results in two units total.');
    expect(step.response!.usage).toEqual({ promptTokens: 587, completionTokens: 33, totalTokens: 620 });
    expect(requestMessages(s!.t, step.requestId!)).toEqual([{ role: 'user', content: 'What is 1 + 1?' }]);
    const cfg = s!.t.configs.get(s!.t.requests.get(step.requestId!)!.config)!;
    expect(cfg).toMatchObject({ model: 'anthropic/claude-sonnet-4-5', tool_choice: 'auto', max_tokens: 32000 });
    expect((cfg.tools as Array<{ function: { name: string } }>).map((t) => t.function.name)).toEqual(['web_search']);
    expect([...s!.t.rollouts.values()][0]!.task).toBe('What is 1 + 1?');
    expect(s!.events.some((e) => e.type === 'warning' && e.message.startsWith('Target: ["2","2.0"]'))).toBe(true);
    const out = await w.export([s!.id], ['openai']);
    expect((out.openai[0] as { messages: unknown[] }).messages).toEqual([{ role: 'user', content: 'What is 1 + 1?' }, { role: 'assistant', content: step.response!.content, weight: 1 }]);
  });

  it('a truncated archive is refused with a clear message', async () => {
    const buf = await readFile(sample(EVAL));
    const f = join(w.root, 'cut.eval');
    await writeFile(f, buf.subarray(0, Math.floor(buf.length / 2)));
    await expect(w.import(f)).rejects.toThrow(/cut\.eval: not a readable \.eval archive: not a zip archive/);
  });
});

describe('Inspect .json log', () => {
  it('tool events are the results of the calls; the next input carries them', async () => {
    const call = { id: 'call_1', function: 'bash', arguments: { cmd: 'ls' } };
    const log = {
      version: 2, status: 'success', eval: { task: 'ls-task', model: 'openai/gpt-4o', packages: { inspect_ai: '0.3.100' } },
      samples: [{
        id: 'x', epoch: 1, input: 'list files', target: 'a b',
        attachments: { h1: 'a\nb' },
        events: [
          { event: 'sample_init' },
          { event: 'model', model: 'openai/gpt-4o', timestamp: '2025-01-01T00:00:00Z', input: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'list files' }], tools: [{ name: 'bash', description: 'run', parameters: { type: 'object', properties: { cmd: { type: 'string' } } } }], tool_choice: 'auto', config: {}, output: { choices: [{ message: { role: 'assistant', content: '', tool_calls: [call] }, stop_reason: 'tool_calls' }], usage: { input_tokens: 10, output_tokens: 5, total_tokens: 15 } } },
          { event: 'tool', id: 'call_1', function: 'bash', result: 'attachment://h1', working_time: 0.5 },
          { event: 'model', model: 'openai/gpt-4o', input: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'list files' }, { role: 'assistant', content: '', tool_calls: [call] }, { role: 'tool', tool_call_id: 'call_1', function: 'bash', content: 'attachment://h1' }], tools: [{ name: 'bash', description: 'run', parameters: { type: 'object' } }], config: {}, output: { choices: [{ message: { role: 'assistant', content: [{ type: 'reasoning', reasoning: 'two files' }, { type: 'text', text: 'a and b' }] }, stop_reason: 'stop' }] } },
        ],
      }],
    };
    const f = join(w.root, 'log.json');
    await writeFile(f, JSON.stringify(log));
    const { result, sessions } = await w.import(f);
    expect(result.format).toBe('inspect');
    const [s] = sessions;
    expect(s!.main).toHaveLength(2);
    expect(s!.main[0]!.results).toMatchObject([{ toolCallId: 'call_1', name: 'bash', observation: 'a\nb', durationMs: 500 }]);
    expect(s!.main[1]!.response).toMatchObject({ content: 'a and b', reasoning: 'two files' });
    const second = s!.t.requests.get(s!.main[1]!.requestId!)!;
    // The second request extends the first: only the reply and the result are new.
    expect(second.keep).toBe(2);
    expect(second.owners).toEqual([s!.main[0]!.id, s!.main[0]!.id]);
    const out = await w.export([s!.id], ['openai']);
    expect(out.openai).toHaveLength(1);
    expect((out.openai[0] as { messages: Array<{ role: string }> }).messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant']);
  });

  it("a derived input that sends an earlier reply's reasoning back: that step is not trained", async () => {
    const call = { id: 'toolu_1', function: 'bash', arguments: { cmd: 'ls' } };
    const thought = { role: 'assistant', content: [{ type: 'reasoning', reasoning: 'list first', signature: 'sig' }, { type: 'text', text: 'Listing.' }], tool_calls: [call] };
    const model = (input: unknown[], output: unknown) => ({ event: 'model', model: 'anthropic/claude-sonnet-4-5', input, tools: [], config: {}, output: { choices: [{ message: output, stop_reason: 'stop' }] } });
    const log = {
      version: 2, status: 'success', eval: { task: 't', model: 'anthropic/claude-sonnet-4-5', packages: { inspect_ai: '0.3.130' } },
      samples: [{
        id: 'x', epoch: 1, input: 'list files', target: '',
        events: [
          model([{ role: 'user', content: 'list files' }], thought),
          { event: 'tool', id: 'toolu_1', function: 'bash', result: 'a\nb' },
          model([{ role: 'user', content: 'list files' }, thought, { role: 'tool', tool_call_id: 'toolu_1', function: 'bash', content: 'a\nb' }], { role: 'assistant', content: 'a and b' }),
        ],
      }],
    };
    const f = join(w.root, 'thinking.json');
    await writeFile(f, JSON.stringify(log));
    const { sessions } = await w.import(f);
    const steps = sessions[0]!.main.filter((x) => x.response);
    expect(steps.map((x) => x.notTrained ?? null)).toEqual([null, expect.stringMatching(/earlier reply's reasoning/)]);
  });
});
