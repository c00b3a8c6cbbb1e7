import { afterEach, describe, expect, it } from 'vitest';
import { ApolloError } from '../../shared/errors';
import { backoffDelay, LlmClient, parseRetryAfter, type LlmRetryInfo } from '../../electron/core/rollout/llm';
import { cut, drop, hang, huge, noChoices, startFakeLlm, status, text, tool, type FakeLlm } from '../fixtures/fake-llm-server';

const KEY = 'sk-test-SECRET-0123456789abcdef';
const fast = { retry: { baseDelayMs: 5, maxDelayMs: 200, maxRetries: 3, jitter: 0.1 }, timeoutMs: 2_000, idleTimeoutMs: 500 };

let server: FakeLlm | null = null;
afterEach(async () => {
  await server?.close();
  server = null;
});

function client(url: string, extra: Record<string, unknown> = {}) {
  return new LlmClient({ baseURL: url, apiKey: KEY, model: 'fake', temperature: 0.3, topP: 0.9, maxTokens: 512 }, { ...fast, ...extra });
}

describe('LlmClient', () => {
  it('streams reasoning then content deltas in order and reports usage', async () => {
    server = await startFakeLlm([text('Hello there, general.', { reasoning: 'Let me think step by step.', chunkSize: 4 })]);
    const deltas: string[] = [];
    const r = await client(server.url).complete({
      messages: [{ role: 'user', content: 'hi' }],
      onDelta: (d) => deltas.push(d.reasoning !== undefined ? `R:${d.reasoning}` : `C:${d.content}`),
    });
    expect(r.content).toBe('Hello there, general.');
    expect(r.reasoning).toBe('Let me think step by step.');
    expect(r.usage?.promptTokens).toBeGreaterThan(0);
    expect(r.finishReason).toBe('stop');
    expect(deltas.length).toBeGreaterThan(6);
    const firstContent = deltas.findIndex((d) => d.startsWith('C:'));
    expect(deltas.slice(0, firstContent).every((d) => d.startsWith('R:'))).toBe(true);
    expect(deltas.slice(firstContent).every((d) => d.startsWith('C:'))).toBe(true);
    expect(deltas.filter((d) => d.startsWith('R:')).map((d) => d.slice(2)).join('')).toBe(r.reasoning);
    expect(deltas.filter((d) => d.startsWith('C:')).map((d) => d.slice(2)).join('')).toBe(r.content);
    const body = server.requests[0]!.body;
    expect(body).toMatchObject({ model: 'fake', temperature: 0.3, top_p: 0.9, max_tokens: 512, stream: true, stream_options: { include_usage: true } });
    expect(server.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('assembles several tool calls whose arguments are split over chunks', async () => {
    server = await startFakeLlm([{
      content: 'Running two things.',
      toolCalls: [
        { id: 'call_a', name: 'run_command', arguments: { session_id: 'main', command: 'echo "a long command line"', wait_for_completion: true } },
        { id: 'call_b', name: 'think', arguments: { thought: 'a plan with several words in it' } },
      ],
      chunkSize: 3,
    }]);
    const r = await client(server.url).complete({ messages: [{ role: 'user', content: 'go' }], tools: [] });
    expect(r.toolCalls).toHaveLength(2);
    expect(r.toolCalls[0]).toEqual({ id: 'call_a', name: 'run_command', arguments: JSON.stringify({ session_id: 'main', command: 'echo "a long command line"', wait_for_completion: true }) });
    expect(JSON.parse(r.toolCalls[1]!.arguments)).toEqual({ thought: 'a plan with several words in it' });
    expect(r.finishReason).toBe('tool_calls');
  });

  it('works without streaming (reasoning_content included)', async () => {
    server = await startFakeLlm([tool('think', { thought: 'x' }, { reasoning: 'hmm' })]);
    const deltas: unknown[] = [];
    const r = await client(server.url, { stream: false }).complete({ messages: [{ role: 'user', content: 'go' }], onDelta: (d) => deltas.push(d) });
    expect(r.reasoning).toBe('hmm');
    expect(r.toolCalls[0]?.name).toBe('think');
    expect(server.requests[0]!.body.stream).toBeUndefined();
    expect(deltas).toEqual([{ reasoning: 'hmm' }]);
  });

  it('retries 429 (honouring retry-after) and 500, then succeeds', async () => {
    server = await startFakeLlm([status(429, { retryAfter: 0.15 }), status(500), text('ok')]);
    const retries: LlmRetryInfo[] = [];
    const t0 = Date.now();
    const r = await client(server.url).complete({ messages: [{ role: 'user', content: 'x' }], onRetry: (i) => retries.push(i) });
    expect(r.content).toBe('ok');
    expect(r.attempts).toBe(3);
    expect(retries.map((x) => x.attempt)).toEqual([1, 2]);
    expect(retries[0]!.delayMs).toBe(150);
    expect(retries[0]!.error).toContain('429');
    expect(retries[1]!.error).toContain('500');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(server.requests).toHaveLength(3);
  });

  it('gives up after maxRetries with UNAVAILABLE', async () => {
    server = await startFakeLlm([], { fallback: status(503, { message: 'overloaded' }) });
    const retries: LlmRetryInfo[] = [];
    const err = await client(server.url).complete({ messages: [{ role: 'user', content: 'x' }], onRetry: (i) => retries.push(i) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApolloError);
    expect((err as ApolloError).code).toBe('UNAVAILABLE');
    expect((err as ApolloError).message).toMatch(/failed after 4 attempts/);
    expect(retries).toHaveLength(3);
    expect(server.requests).toHaveLength(4);
  });

  it('does not retry 401/400 and never shows the key', async () => {
    server = await startFakeLlm([status(401, { message: `Incorrect API key provided: ${KEY}` }), status(400, { message: 'bad request' })]);
    const c = client(server.url);
    const e1 = (await c.complete({ messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as ApolloError;
    expect(e1.code).toBe('UNAVAILABLE');
    expect(e1.message).toMatch(/401/);
    expect(e1.message).toMatch(/API key/);
    expect(e1.message).not.toContain(KEY);
    expect(JSON.stringify(e1.toJSON())).not.toContain('SECRET');
    const e2 = (await c.complete({ messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as ApolloError;
    expect(e2.message).toMatch(/400/);
    expect(server.requests).toHaveLength(2);
  });

  it('retries a hung request (timeout) and a connection dropped mid-stream', async () => {
    server = await startFakeLlm([hang(), drop(text('this answer is cut off halfway'), 3), text('recovered')]);
    const retries: LlmRetryInfo[] = [];
    const deltas: string[] = [];
    const r = await client(server.url, { timeoutMs: 300 }).complete({
      messages: [{ role: 'user', content: 'x' }],
      onRetry: (i) => retries.push(i),
      onDelta: (d) => d.content && deltas.push(d.content),
    });
    expect(r.content).toBe('recovered');
    expect(retries).toHaveLength(2);
    expect(retries[0]!.error).toMatch(/timeout|timed out/i);
    expect(retries[1]!.error).toMatch(/connection|terminated|socket|closed/i);
  });

  it('retries a stream that stalls after its headers (idle timeout)', async () => {
    server = await startFakeLlm([text('slow', { chunkDelayMs: 400, chunkSize: 1 }), text('fast')]);
    const retries: LlmRetryInfo[] = [];
    const r = await client(server.url, { idleTimeoutMs: 150 }).complete({ messages: [{ role: 'user', content: 'x' }], onRetry: (i) => retries.push(i) });
    expect(r.content).toBe('fast');
    expect(retries[0]!.error).toMatch(/stalled/);
  });

  it('cancels on abort, also during the backoff wait', async () => {
    server = await startFakeLlm([hang()], { fallback: status(500) });
    const ac = new AbortController();
    const p = client(server.url, { timeoutMs: 10_000 }).complete({ messages: [{ role: 'user', content: 'x' }], signal: ac.signal });
    await server.waitForRequests(1);
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });

    const ac2 = new AbortController();
    const c2 = new LlmClient({ baseURL: server.url, apiKey: KEY, model: 'm' }, { retry: { baseDelayMs: 5_000, maxRetries: 5 } });
    const p2 = c2.complete({ messages: [{ role: 'user', content: 'x' }], signal: ac2.signal, onRetry: () => ac2.abort() });
    await expect(p2).rejects.toMatchObject({ code: 'CANCELLED' });
  });

  it('retries a stream that ends cleanly without a finish reason, or without any choice, and returns only the good reply', async () => {
    server = await startFakeLlm([
      cut(tool('run_command', { command: 'rm -rf PARTIAL', session_id: 'main' })),
      cut(text('half an answer'), 3),
      noChoices(),
      tool('think', { thought: 'whole' }),
    ]);
    const retries: LlmRetryInfo[] = [];
    const r = await client(server.url, { retry: { ...fast.retry, maxRetries: 5 } }).complete({ messages: [{ role: 'user', content: 'x' }], tools: [], onRetry: (i) => retries.push(i) });
    expect(r.attempts).toBe(4);
    expect(r.toolCalls).toEqual([{ id: expect.any(String), name: 'think', arguments: JSON.stringify({ thought: 'whole' }) }]);
    expect(r.content).toBe('');
    expect(r.finishReason).toBe('tool_calls');
    expect(retries.map((i) => i.error)).toEqual([
      'the stream ended without a finish reason (cut off)',
      'the stream ended without a finish reason (cut off)',
      'the stream carried no choices',
    ]);
    expect(server.requests).toHaveLength(4);
  });

  it('accepts a stream that has its finish reason but no [DONE]', async () => {
    server = await startFakeLlm([text('complete', { done: false })]);
    const r = await client(server.url).complete({ messages: [{ role: 'user', content: 'x' }] });
    expect(r.content).toBe('complete');
    expect(r.finishReason).toBe('stop');
    expect(r.usage?.completionTokens).toBeGreaterThan(0);
    expect(r.attempts).toBe(1);
  });

  it('without streaming, retries a completion with no finish reason or no choices, before any delta', async () => {
    server = await startFakeLlm([cut(tool('run_command', { command: 'PARTIAL' })), noChoices(), text('whole')]);
    const retries: LlmRetryInfo[] = [];
    const deltas: unknown[] = [];
    const r = await client(server.url, { stream: false }).complete({ messages: [{ role: 'user', content: 'x' }], onRetry: (i) => retries.push(i), onDelta: (d) => deltas.push(d) });
    expect(r.content).toBe('whole');
    expect(r.toolCalls).toEqual([]);
    expect(r.attempts).toBe(3);
    expect(retries.map((i) => i.error)).toEqual(['the reply has no finish reason (cut off)', 'the endpoint returned no choices']);
    expect(deltas).toEqual([{ content: 'whole' }]);
  });

  it('gives up with UNAVAILABLE when every reply is cut off or empty', async () => {
    server = await startFakeLlm([], { fallback: cut(tool('think', { thought: 'never recorded' })) });
    const retries: LlmRetryInfo[] = [];
    const err = (await client(server.url).complete({ messages: [{ role: 'user', content: 'x' }], onRetry: (i) => retries.push(i) }).catch((e: unknown) => e)) as ApolloError;
    expect(err).toBeInstanceOf(ApolloError);
    expect(err.code).toBe('UNAVAILABLE');
    expect(err.message).toMatch(/failed after 4 attempts: the stream ended without a finish reason \(cut off\)/);
    expect(retries).toHaveLength(3);
    expect(server.requests).toHaveLength(4);
    await server.close();

    server = await startFakeLlm([], { fallback: noChoices() });
    const e2 = (await client(server.url, { stream: false }).complete({ messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e)) as ApolloError;
    expect(e2.code).toBe('UNAVAILABLE');
    expect(e2.message).toMatch(/failed after 4 attempts: the endpoint returned no choices/);
  });

  it('cuts off a streamed reply as soon as it passes the limit (content or tool-call arguments) and stops reading', async () => {
    const chars = 40_000_000;
    server = await startFakeLlm([huge(chars), huge(chars, { field: 'arguments' }), huge(chars, { field: 'reasoning' }), text('small')]);
    const retries: LlmRetryInfo[] = [];
    let streamed = 0;
    const r = await client(server.url, { maxReplyChars: 50_000, retry: { ...fast.retry, maxRetries: 5 } }).complete({
      messages: [{ role: 'user', content: 'x' }],
      onRetry: (i) => {
        retries.push(i);
        streamed = 0;
      },
      onDelta: (d) => (streamed += (d.content ?? d.reasoning ?? '').length),
    });
    expect(r.content).toBe('small');
    expect(streamed).toBe(5);
    expect(retries.map((i) => i.error)).toEqual(Array(3).fill('the reply passed the 50000-character limit and was cut off'));
    for (const i of [0, 1, 2]) {
      const o = await server.outcome(i);
      expect(o.finished).toBe(false);
      expect(o.sentChars).toBeLessThan(chars / 2);
    }
  });

  it('without streaming, refuses a reply over the limit, cutting the body off when it is far over', async () => {
    const chars = 40_000_000;
    server = await startFakeLlm([huge(60_000), huge(chars), text('small')]);
    const retries: LlmRetryInfo[] = [];
    const r = await client(server.url, { stream: false, maxReplyChars: 50_000 }).complete({ messages: [{ role: 'user', content: 'x' }], onRetry: (i) => retries.push(i) });
    expect(r.content).toBe('small');
    expect(retries.map((i) => i.error)).toEqual([
      'the reply passed the 50000-character limit and was cut off',
      'the reply passed the 50000-character limit (response body) and was cut off',
    ]);
    expect((await server.outcome(0)).finished).toBe(true);
    const o = await server.outcome(1);
    expect(o.finished).toBe(false);
    expect(o.sentChars).toBeLessThan(chars / 2);
  });

  it('limits replies to 1 MB of text by default', async () => {
    server = await startFakeLlm([huge(1_000_001, { chunkChars: 65_536 }), huge(1_000_000, { chunkChars: 65_536 })]);
    const c = client(server.url);
    expect(c.options.maxReplyChars).toBe(1_000_000);
    const retries: LlmRetryInfo[] = [];
    const r = await c.complete({ messages: [{ role: 'user', content: 'x' }], onRetry: (i) => retries.push(i) });
    expect(r.content).toHaveLength(1_000_000);
    expect(retries.map((i) => i.error)).toEqual(['the reply passed the 1 MB limit and was cut off']);
  });

  it('computes backoff and retry-after', () => {
    const p = { maxRetries: 5, baseDelayMs: 100, maxDelayMs: 1_000, jitter: 0.5 };
    expect(backoffDelay(1, p, () => 0)).toBe(100);
    expect(backoffDelay(3, p, () => 0)).toBe(400);
    expect(backoffDelay(10, p, () => 0)).toBe(1_000);
    expect(backoffDelay(2, p, () => 1)).toBe(100);
    expect(parseRetryAfter(new Headers({ 'retry-after': '2' }))).toBe(2_000);
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '250' }))).toBe(250);
    expect(parseRetryAfter(new Headers({ 'retry-after': new Date(10_000).toUTCString() }), 5_000)).toBe(5_000);
    expect(parseRetryAfter(new Headers())).toBeUndefined();
  });
});
