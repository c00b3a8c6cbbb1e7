// Inspect AI: a model call's exact context is the request its provider sent. For a
// provider of OpenAI's chat API, Inspect logs that body as `call.request`, after its own
// conversion of the conversation (inspect_ai model/_providers/_openai.py: arguments
// re-encoded by json.dumps, a tool error sent as "Error: …", reasoning as <think> text),
// which Inspect's `input` is from before. The log here is built as Inspect writes it.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ownedRequestMessages, requestMessages } from '../../shared/trajectory';
import { ImportWorkspace, origin } from '../fixtures/import';
import * as oa from '../fixtures/trainers/openai';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

const sys = { role: 'system', content: 'You are a shell agent.' };
const task = { role: 'user', content: 'List the files.' };
const args = { cmd: 'ls -la', note: 'é' };
// What the API returned for the call, and what Inspect sent back for it (json.dumps: ", " and ": ", \u escapes).
const returned = '{"cmd":"ls -la","note":"é"}';
const dumped = '{"cmd": "ls -la", "note": "\\u00e9"}';
const toolsSent = [{ type: 'function', function: { name: 'bash', description: 'run a command', parameters: { type: 'object', properties: { cmd: { type: 'string' } } } } }];

function logFor(provider: string) {
  const call = { id: 'call_1', function: 'bash', arguments: args };
  const firstSent = [sys, task];
  const secondSent = [sys, task, { role: 'assistant', content: 'Looking.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'bash', arguments: dumped } }] }, { role: 'tool', tool_call_id: 'call_1', content: 'Error: Command timed out after 10 seconds' }];
  const withCall = (sent: unknown[], response: unknown) => ({ call: { request: { model: 'm', messages: sent, tools: toolsSent, tool_choice: 'auto' }, response } });
  return {
    version: 2, status: 'success', eval: { task: 'ls', model: `${provider}/m`, packages: { inspect_ai: '0.3.130' } },
    samples: [{
      id: 1, epoch: 1, input: 'List the files.', messages: [],
      events: [
        {
          event: 'model', model: `${provider}/m`, input: [sys, task], tools: [{ name: 'bash', description: 'run a command', parameters: { type: 'object', properties: { cmd: { type: 'string' } } } }], tool_choice: 'auto', config: {},
          output: { choices: [{ message: { role: 'assistant', content: 'Looking.', tool_calls: [call] }, stop_reason: 'tool_calls' }] },
          ...withCall(firstSent, { choices: [{ message: { role: 'assistant', content: 'Looking.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'bash', arguments: returned } }] } }] }),
        },
        { event: 'tool', id: 'call_1', function: 'bash', result: '', error: { type: 'timeout', message: 'Command timed out after 10 seconds' } },
        {
          event: 'model', model: `${provider}/m`, input: [sys, task, { role: 'assistant', content: 'Looking.', tool_calls: [call] }, { role: 'tool', tool_call_id: 'call_1', function: 'bash', content: '', error: { type: 'timeout', message: 'Command timed out after 10 seconds' } }],
          tools: [{ name: 'bash', description: 'run a command', parameters: { type: 'object', properties: { cmd: { type: 'string' } } } }], tool_choice: 'auto', config: {},
          output: { choices: [{ message: { role: 'assistant', content: 'It timed out.' }, stop_reason: 'stop' }] },
          ...withCall(secondSent, { choices: [{ message: { role: 'assistant', content: 'It timed out.' } }] }),
        },
      ],
    }],
    secondSent,
  };
}

async function importLog(name: string, provider: string) {
  const { secondSent, ...log } = logFor(provider);
  const f = join(w.root, `${name}.json`);
  await writeFile(f, JSON.stringify(log));
  const { sessions } = await w.import(f);
  return { s: sessions[0]!, secondSent };
}

describe('Inspect, a provider of OpenAI\'s chat API', () => {
  it('each step\'s context is the request the provider sent, verbatim, its reply the arguments the API returned', async () => {
    const { s, secondSent } = await importLog('openai-wire', 'openai');
    expect(origin(s).context).toBe('exact');
    const [first, second] = s.main;
    expect(first!.response!.toolCalls).toEqual([{ id: 'call_1', name: 'bash', arguments: returned }]);
    expect(requestMessages(s.t, second!.requestId!)).toEqual(secondSent);
    const out = await w.export([s.id], ['openai']);
    for (const l of out.openai) expect(oa.validate(l)).toEqual([]);
    const line = out.openai.at(-1) as { messages: Array<Record<string, unknown>>; tools: unknown[] };
    expect(line.messages.slice(0, -1).map(({ weight: _w, ...m }) => m)).toEqual(secondSent);
    expect(line.tools).toEqual(toolsSent);
    // Both replies trained, each in its own step.
    expect(oa.trainedTurns(line).trained.map((t) => t.text)).toEqual(['Looking.', 'It timed out.']);
  });

  it('a provider of another API keeps Inspect\'s messages (its request is in that API\'s form): derived, not exact', async () => {
    const { s } = await importLog('anthropic-wire', 'anthropic');
    expect(origin(s).context).toBe('derived');
    const second = s.main[1]!;
    const msgs = requestMessages(s.t, second.requestId!)!;
    expect(msgs[2]).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'call_1', function: { name: 'bash' } }] });
    expect(JSON.parse((msgs[2]!.tool_calls as Array<{ function: { arguments: string } }>)[0]!.function.arguments)).toEqual(args);
  });

  it('a step whose input held an image is not trained when its context is rebuilt from Inspect\'s messages', async () => {
    const { secondSent: _s, ...log } = logFor('anthropic');
    const ev = log.samples[0]!.events[0] as { input: unknown[] };
    ev.input = [sys, { role: 'user', content: [{ type: 'text', text: 'What is in it?' }, { type: 'image', image: 'data:image/png;base64,iVBOR' }] }];
    const f = join(w.root, 'image.json');
    await writeFile(f, JSON.stringify(log));
    const s = (await w.import(f)).sessions[0]!;
    expect(s.main[0]!.notTrained).toMatch(/image or other media/);
    expect(s.main[1]!.notTrained).toBeUndefined();
  });

  it('owners follow the calls, not their ids alone: a server that numbers every reply\'s call call_0', async () => {
    const c = (cmd: string) => ({ id: 'call_0', type: 'function', function: { name: 'bash', arguments: JSON.stringify({ cmd }) } });
    const ic = (cmd: string) => ({ id: 'call_0', function: 'bash', arguments: { cmd } });
    const out = (cmd: string) => ({ choices: [{ message: { role: 'assistant', content: '', tool_calls: [ic(cmd)] }, stop_reason: 'tool_calls' }] });
    const sent1 = [sys, task];
    const sent2 = [...sent1, { role: 'assistant', content: null, tool_calls: [c('ls')] }, { role: 'tool', tool_call_id: 'call_0', content: 'a' }];
    const sent3 = [...sent2, { role: 'assistant', content: null, tool_calls: [c('pwd')] }, { role: 'tool', tool_call_id: 'call_0', content: '/w' }];
    const ev = (sent: unknown[], cmd: string | null) => ({
      event: 'model', model: 'vllm/m', input: [sys, task], tools: [], config: {},
      output: cmd ? out(cmd) : { choices: [{ message: { role: 'assistant', content: 'done' }, stop_reason: 'stop' }] },
      call: { request: { model: 'm', messages: sent, tools: toolsSent }, response: null },
    });
    const log = {
      version: 2, status: 'success', eval: { task: 'ids', model: 'vllm/m' },
      samples: [{ id: 1, epoch: 1, input: 'List the files.', messages: [], events: [ev(sent1, 'ls'), { event: 'tool', id: 'call_0', function: 'bash', result: 'a' }, ev(sent2, 'pwd'), { event: 'tool', id: 'call_0', function: 'bash', result: '/w' }, ev(sent3, null)] }],
    };
    const f = join(w.root, 'ids.json');
    await writeFile(f, JSON.stringify(log));
    const { sessions } = await w.import(f);
    const s = sessions[0]!;
    const [first, second, third] = s.main;
    const { owners } = ownedRequestMessages(s.t, third!.requestId!)!;
    expect(owners).toEqual([null, null, first!.id, first!.id, second!.id, second!.id]);
  });
});
