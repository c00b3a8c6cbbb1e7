// Chat-completions client over the `openai` SDK for any OpenAI-compatible endpoint
// (OpenAI, vLLM, SGLang, Ollama, GLM…). The SDK's own retries are off: we retry here
// so that every retry is visible (an `llm.retry` event) and cancellable (pause/stop),
// and so that a stream that stalls after its headers is also caught.
//
// Only a complete reply is returned, because the caller records it as the model's action
// and re-sends it in every later prompt. A reply is complete when its first choice carries
// a finish_reason: the model's own end-of-reply marker. `[DONE]` is not required: the SDK's
// Stream swallows it (it only ends the iteration, exactly as a clean end of the body does),
// and after the finish_reason chunk only the usage chunk and `[DONE]` follow, so a stream
// cut there has lost no part of the action, only its usage (reported as null). Anything
// else — a stream that ended without a finish_reason (even cleanly), no choices at all, or
// a reply past `maxReplyChars` (cut off there) — is a transport error, retried like a 5xx.
//
// The API key is held by the SDK client only. It is never put in results, errors or
// callbacks: every message that leaves this module goes through `redact`.
import type OpenAI from 'openai';
import { randomUUID } from 'node:crypto';
import { ApolloError } from '../../../shared/errors';
import type { ToolCall, Usage } from '../../../shared/events';

export type ChatMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ToolSchema {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

export interface LlmEndpoint {
  baseURL: string;
  apiKey: string;
  model: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
}

export interface RetryPolicy {
  /** Retries after the first attempt (default 8). */
  maxRetries: number;
  /** First backoff delay (default 1 s), doubled per retry. */
  baseDelayMs: number;
  /** Cap on one delay, including a server's retry-after (default 60 s). */
  maxDelayMs: number;
  /** Fraction of random reduction applied to each delay (default 0.25). */
  jitter: number;
}

export interface LlmOptions {
  /** Stream the answer (default true). */
  stream: boolean;
  /** Until the response headers (and, when not streaming, the whole body) arrive (default 10 min). */
  timeoutMs: number;
  /** Longest silence between two stream chunks (default 3 min). */
  idleTimeoutMs: number;
  retry: RetryPolicy;
  /** Ask for usage in the last stream chunk (default true). */
  includeUsage: boolean;
  /** Newer OpenAI models want `max_completion_tokens`; most servers take `max_tokens` (default). */
  maxTokensParam: 'max_tokens' | 'max_completion_tokens';
  /**
   * Largest reply, in characters (UTF-16 code units, as JS counts them) of content, reasoning
   * and tool-call names and arguments together (default 1_000_000, "1 MB of text"). A reply
   * that passes it is cut off at once and retried: stored, it would be re-sent in every
   * later prompt. Characters rather than bytes because that is what is counted as the
   * deltas arrive, with no re-encoding. Infinity disables the limit.
   */
  maxReplyChars: number;
  /** Extra request fields, e.g. vLLM's `chat_template_kwargs`. */
  extraBody?: Record<string, unknown>;
  /** For tests: a custom fetch. */
  fetch?: typeof fetch;
}

export const DEFAULT_LLM_OPTIONS: LlmOptions = {
  stream: true,
  timeoutMs: 600_000,
  idleTimeoutMs: 180_000,
  retry: { maxRetries: 8, baseDelayMs: 1_000, maxDelayMs: 60_000, jitter: 0.25 },
  includeUsage: true,
  maxTokensParam: 'max_tokens',
  maxReplyChars: 1_000_000,
};

export interface LlmDelta {
  content?: string;
  reasoning?: string;
}

export interface LlmRetryInfo {
  /** 1 for the first retry. */
  attempt: number;
  delayMs: number;
  /** What went wrong (never contains the key). */
  error: string;
}

export interface CompleteRequest {
  messages: ChatMessage[];
  tools?: ToolSchema[];
  /** Aborting cancels the request and any backoff wait (ApolloError CANCELLED). */
  signal?: AbortSignal;
  onDelta?(delta: LlmDelta): void;
  /** Called before waiting for a retry; deltas streamed so far are void (the answer restarts). */
  onRetry?(info: LlmRetryInfo): void;
  /** 'none' forbids tool calls (summary requests). */
  toolChoice?: 'none' | 'auto';
  /** Overrides the endpoint's max tokens for this call. */
  maxTokens?: number;
}

export interface LlmResult {
  content: string;
  reasoning: string;
  toolCalls: ToolCall[];
  usage: Usage | null;
  finishReason: string | null;
  /** From the first attempt to the end of the successful one. */
  durationMs: number;
  attempts: number;
}

interface AttemptError {
  retryable: boolean;
  message: string;
  status?: number;
  retryAfterMs?: number;
}

/** A reply that must not be recorded (cut off, empty, too large): retried like a 5xx. */
class IncompleteReplyError extends Error {}

function tooLarge(limit: number, where = ''): IncompleteReplyError {
  const label = limit % 1_000_000 === 0 ? `${limit / 1_000_000} MB` : `${limit}-character`;
  return new IncompleteReplyError(`the reply passed the ${label} limit${where} and was cut off`);
}

/**
 * Wrap fetch so that no response body is buffered far past the reply limit. The text limit
 * itself is checked on the parsed reply, but the SDK buffers a whole JSON body, and a whole
 * SSE line, before we see any of it. In JSON one character takes at most 6 bytes (`\uXXXX`),
 * so a body (or one SSE line) over 6 × limit + 64 KiB of envelope cannot hold a reply
 * under the limit. Erroring the body cancels it, which closes the connection.
 */
function guardedFetch(base: typeof fetch, maxReplyChars: number): typeof fetch {
  const maxBytes = maxReplyChars * 6 + 65_536;
  return async (input, init) => {
    const res = await base(input, init);
    // Bodiless statuses cannot be re-wrapped (the Response constructor refuses a body).
    if (!res.body || !Number.isFinite(maxBytes) || [101, 204, 205, 304].includes(res.status)) return res;
    const sse = (res.headers.get('content-type') ?? '').includes('text/event-stream');
    let run = 0; // bytes of the body, or of the SSE line being received
    const guard = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctrl) {
        const nl = sse ? chunk.lastIndexOf(10) : -1;
        const over = nl >= 0 ? run + nl > maxBytes || chunk.length - nl - 1 > maxBytes : run + chunk.length > maxBytes;
        if (over) return ctrl.error(tooLarge(maxReplyChars, ' (response body)'));
        run = nl >= 0 ? chunk.length - nl - 1 : run + chunk.length;
        ctrl.enqueue(chunk);
      },
    });
    const out = new Response(res.body.pipeThrough(guard), { status: res.status, statusText: res.statusText, headers: res.headers });
    Object.defineProperty(out, 'url', { value: res.url }); // the SDK logs it
    return out;
  };
}

export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? Partial<T[K]> : T[K] };

export function mergeLlmOptions(o: DeepPartial<LlmOptions> | undefined): LlmOptions {
  return { ...DEFAULT_LLM_OPTIONS, ...(o ?? {}), retry: { ...DEFAULT_LLM_OPTIONS.retry, ...(o?.retry ?? {}) } } as LlmOptions;
}

/** Backoff before retry number `attempt` (1-based): exponential, capped, with jitter. */
export function backoffDelay(attempt: number, p: RetryPolicy, random = Math.random): number {
  const raw = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** (attempt - 1));
  return Math.max(0, Math.round(raw * (1 - p.jitter * random())));
}

/** Parse `retry-after-ms` / `retry-after` (seconds or an HTTP date). */
export function parseRetryAfter(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (!ra) return undefined;
  if (Number.isFinite(Number(ra))) return Math.max(0, Number(ra) * 1000);
  const date = Date.parse(ra);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ApolloError('CANCELLED', 'LLM request cancelled'));
    const onAbort = () => {
      clearTimeout(t);
      reject(new ApolloError('CANCELLED', 'LLM request cancelled'));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

type Sdk = typeof import('openai');

/** Query parameters that carry a credential (`?api_key=…`, `&access_token=…`, Azure's `?sig=…`). */
const SECRET_QUERY = /^(?:api[_-]?key|key|access[_-]?token|token|auth|secret|password|sig|signature)$/i;

/**
 * The credentials a base URL carries (its user and password, credential query values),
 * as written and decoded: what must not reach a log or a person with it.
 */
export function urlCredentials(url: string): string[] {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return [];
  }
  // Query values as written (`abc+def%2Fxyz`) and as decoded; a short one (`?key=sort`) is no credential.
  const query = u.search.slice(1).split('&').map((kv) => kv.split('=')).filter(([k]) => SECRET_QUERY.test(safeDecode(k ?? '')));
  const raw = [u.username, u.password, ...query.flatMap(([, v = '']) => (v.length >= 8 ? [v, safeDecode(v.replace(/\+/g, ' '))] : []))];
  const out = new Set<string>();
  for (const v of raw) {
    if (v.length < 4) continue;
    out.add(v);
    out.add(encodeURIComponent(v));
    out.add(safeDecode(v));
  }
  return [...out];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** A base URL as it may be recorded: its credentials replaced by `***` (unparsable: said so); as written when it has none. */
export function withoutCredentials(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url.includes('@') || url.includes('?') ? '(a base URL that is not a valid URL)' : url;
  }
  if (!u.username && !u.password && ![...u.searchParams.keys()].some((k) => SECRET_QUERY.test(k))) return url;
  if (u.username) u.username = '***';
  if (u.password) u.password = '***';
  for (const [k] of [...u.searchParams]) if (SECRET_QUERY.test(k)) u.searchParams.set(k, '***');
  // URL percent-encodes the stars it set: they are no credential.
  return u.toString().replaceAll('%2A%2A%2A', '***');
}

export class LlmClient {
  // Made on the first request: the SDK is a few hundred modules, and importing it at the
  // top would make every CLI command (and the host's start) parse them.
  private client: Promise<{ sdk: Sdk; client: OpenAI }> | undefined;
  readonly options: LlmOptions;
  private readonly secrets: string[];

  constructor(
    readonly endpoint: LlmEndpoint,
    options?: DeepPartial<LlmOptions>,
  ) {
    this.options = mergeLlmOptions(options);
    // The key, and credentials in the URL: the SDK's errors quote the URL it could not fetch.
    this.secrets = [...(endpoint.apiKey && endpoint.apiKey.length >= 4 ? [endpoint.apiKey] : []), ...urlCredentials(endpoint.baseURL)]
      .sort((a, b) => b.length - a.length);
  }

  private sdkClient(): Promise<{ sdk: Sdk; client: OpenAI }> {
    this.client ??= import('openai').then((sdk) => ({
      sdk,
      client: new sdk.default({
        // Local servers often need no key; the SDK insists on one.
        apiKey: this.endpoint.apiKey || 'no-key',
        baseURL: this.endpoint.baseURL,
        maxRetries: 0,
        timeout: this.options.timeoutMs,
        logLevel: 'off',
        organization: null,
        project: null,
        fetch: guardedFetch(this.options.fetch ?? ((input, init) => fetch(input, init)), this.options.maxReplyChars),
      }),
    }));
    return this.client;
  }

  /** Remove the key (and key-like tokens) from a message meant for people or logs. */
  redact(s: string): string {
    let out = s;
    for (const k of this.secrets) out = out.split(k).join('***');
    return out.replace(/\b(sk-[A-Za-z0-9_*-]{6,})/g, 'sk-***');
  }

  private describeEndpoint(): string {
    return `${this.redact(this.endpoint.baseURL)} (model ${this.endpoint.model})`;
  }

  async complete(req: CompleteRequest): Promise<LlmResult> {
    const started = Date.now();
    const policy = this.options.retry;
    let attempt = 0;
    for (;;) {
      if (req.signal?.aborted) throw new ApolloError('CANCELLED', 'LLM request cancelled');
      try {
        const r = await this.attempt(req);
        return { ...r, durationMs: Date.now() - started, attempts: attempt + 1 };
      } catch (err) {
        if (err instanceof ApolloError) throw err;
        const e = err as AttemptError;
        if (!e.retryable) {
          throw new ApolloError('UNAVAILABLE', `LLM endpoint ${this.describeEndpoint()} refused the request: ${e.message}`, { status: e.status, attempts: attempt + 1, retryable: false });
        }
        if (attempt >= policy.maxRetries) {
          throw new ApolloError('UNAVAILABLE', `LLM endpoint ${this.describeEndpoint()} failed after ${attempt + 1} attempts: ${e.message}`, { status: e.status, attempts: attempt + 1, retryable: true });
        }
        attempt++;
        let delayMs = backoffDelay(attempt, policy);
        if (e.retryAfterMs !== undefined) delayMs = Math.min(policy.maxDelayMs, Math.max(e.retryAfterMs, 0));
        req.onRetry?.({ attempt, delayMs, error: e.message });
        await abortableSleep(delayMs, req.signal);
      }
    }
  }

  /**
   * The request body exactly as it goes over the wire (the SDK serializes it
   * unchanged). The rollout records it, so the log can rebuild every request.
   */
  wireBody(req: Pick<CompleteRequest, 'messages' | 'tools' | 'toolChoice' | 'maxTokens'>): Record<string, unknown> {
    const body = this.buildBody(req);
    if (this.options.stream) {
      body.stream = true;
      if (this.options.includeUsage) body.stream_options = { include_usage: true };
    }
    return body;
  }

  private buildBody(req: Pick<CompleteRequest, 'messages' | 'tools' | 'toolChoice' | 'maxTokens'>): Record<string, unknown> {
    const ep = this.endpoint;
    const body: Record<string, unknown> = { model: ep.model, messages: req.messages };
    if (ep.temperature !== undefined) body.temperature = ep.temperature;
    if (ep.topP !== undefined) body.top_p = ep.topP;
    const maxTokens = req.maxTokens ?? ep.maxTokens;
    if (maxTokens !== undefined) body[this.options.maxTokensParam] = maxTokens;
    if (req.tools && req.tools.length) {
      body.tools = req.tools;
      if (req.toolChoice) body.tool_choice = req.toolChoice;
    }
    if (this.options.extraBody) Object.assign(body, this.options.extraBody);
    return body;
  }

  /** One attempt. Throws an AttemptError (plain object) or an ApolloError (CANCELLED). */
  private async attempt(req: CompleteRequest): Promise<Omit<LlmResult, 'durationMs' | 'attempts'>> {
    const { sdk, client } = await this.sdkClient();
    // A pause while the SDK loaded would otherwise go unseen: the listener below only hears later aborts.
    if (req.signal?.aborted) throw new ApolloError('CANCELLED', 'LLM request cancelled');
    const ac = new AbortController();
    let timedOut: string | null = null;
    let timer: NodeJS.Timeout | undefined;
    const arm = (ms: number, what: string) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        timedOut = what;
        ac.abort();
      }, ms);
    };
    const onOuterAbort = () => ac.abort();
    req.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const body = this.wireBody(req);
    const stream = this.options.stream;
    arm(this.options.timeoutMs, `no response within ${Math.round(this.options.timeoutMs / 1000)} s`);
    try {
      if (!stream) {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        const res = (await client.chat.completions.create(body as any, { signal: ac.signal })) as unknown as Partial<OpenAI.Chat.Completions.ChatCompletion> & { error?: { message?: unknown } } | string | null;
        // The SDK hands back the raw text when the body is not JSON.
        if (!res || typeof res !== 'object') throw new IncompleteReplyError('the endpoint returned no choices (the body was not a JSON chat completion)');
        const choice = Array.isArray(res.choices) ? res.choices[0] : undefined;
        if (!choice) {
          const why = typeof res.error?.message === 'string' ? `: ${this.redact(res.error.message).slice(0, 300)}` : '';
          throw new IncompleteReplyError(`the endpoint returned no choices${why}`);
        }
        const msg = choice.message as (OpenAI.Chat.Completions.ChatCompletionMessage & { reasoning_content?: unknown; reasoning?: unknown }) | undefined;
        if (!msg) throw new IncompleteReplyError('the endpoint returned a choice without a message');
        if (!choice.finish_reason) throw new IncompleteReplyError('the reply has no finish reason (cut off)');
        const reasoning = typeof msg.reasoning_content === 'string' ? msg.reasoning_content : typeof msg.reasoning === 'string' ? msg.reasoning : '';
        const content = typeof msg.content === 'string' ? msg.content : '';
        const toolCalls: ToolCall[] = (msg.tool_calls ?? []).map((c) => {
          const fn = (c as { function?: { name?: string; arguments?: string } }).function;
          return { id: c.id || `call_${randomUUID().slice(0, 12)}`, name: fn?.name ?? '', arguments: fn?.arguments ?? '' };
        });
        const size = content.length + reasoning.length + toolCalls.reduce((n, c) => n + c.name.length + c.arguments.length, 0);
        if (size > this.options.maxReplyChars) throw tooLarge(this.options.maxReplyChars);
        if (reasoning) req.onDelta?.({ reasoning });
        if (content) req.onDelta?.({ content });
        return { content, reasoning, toolCalls, usage: toUsage(res.usage), finishReason: choice.finish_reason };
      }
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const s = (await client.chat.completions.create(body as any, { signal: ac.signal })) as unknown as AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>;
      const idle = `the stream stalled for ${Math.round(this.options.idleTimeoutMs / 1000)} s`;
      arm(this.options.idleTimeoutMs, idle);
      let content = '';
      let reasoning = '';
      let finishReason: string | null = null;
      let usage: Usage | null = null;
      let sawChoice = false;
      let size = 0;
      const limit = this.options.maxReplyChars;
      const calls: { id: string; name: string; arguments: string }[] = [];
      for await (const chunk of s) {
        arm(this.options.idleTimeoutMs, idle);
        if (chunk.usage) usage = toUsage(chunk.usage);
        const choice = chunk.choices?.[0];
        if (!choice) continue;
        sawChoice = true;
        const delta = (choice.delta ?? {}) as OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta & { reasoning_content?: unknown; reasoning?: unknown };
        const r = typeof delta.reasoning_content === 'string' ? delta.reasoning_content : typeof delta.reasoning === 'string' ? delta.reasoning : '';
        size += r.length + (typeof delta.content === 'string' ? delta.content.length : 0);
        for (const tc of delta.tool_calls ?? []) size += (tc.function?.name?.length ?? 0) + (tc.function?.arguments?.length ?? 0);
        if (size > limit) {
          // Stop reading now: leaving the loop makes the SDK abort, and so do we.
          ac.abort();
          throw tooLarge(limit);
        }
        if (r) {
          reasoning += r;
          req.onDelta?.({ reasoning: r });
        }
        if (typeof delta.content === 'string' && delta.content) {
          content += delta.content;
          req.onDelta?.({ content: delta.content });
        }
        for (const tc of delta.tool_calls ?? []) {
          const i = typeof tc.index === 'number' ? tc.index : calls.length;
          const cur = (calls[i] ??= { id: '', name: '', arguments: '' });
          if (tc.id) cur.id = tc.id;
          const name = tc.function?.name;
          // Most servers send the name once; some repeat it in every chunk.
          if (name && cur.name !== name) cur.name = cur.name ? cur.name + name : name;
          if (tc.function?.arguments) cur.arguments += tc.function.arguments;
        }
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
      // The SDK ends the iteration quietly when the request is aborted.
      if (ac.signal.aborted) throw new Error('stream aborted');
      if (!sawChoice) throw new IncompleteReplyError('the stream carried no choices');
      if (!finishReason) throw new IncompleteReplyError('the stream ended without a finish reason (cut off)');
      const toolCalls = calls.filter(Boolean).map((c) => ({ ...c, id: c.id || `call_${randomUUID().slice(0, 12)}` }));
      return { content, reasoning, toolCalls, usage, finishReason };
    } catch (err) {
      if (req.signal?.aborted) throw new ApolloError('CANCELLED', 'LLM request cancelled');
      throw this.classify(err, timedOut, sdk);
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onOuterAbort);
    }
  }

  private classify(err: unknown, timedOut: string | null, { APIConnectionError, APIError, APIUserAbortError }: Sdk): AttemptError {
    const reply = err instanceof IncompleteReplyError ? err : (err as { cause?: unknown } | null)?.cause;
    if (reply instanceof IncompleteReplyError) return { retryable: true, message: reply.message };
    if (timedOut) return { retryable: true, message: `timeout: ${timedOut}` };
    if (err instanceof APIUserAbortError) return { retryable: true, message: 'request aborted' };
    if (err instanceof APIConnectionError) {
      const cause = (err as { cause?: { message?: string; code?: string } }).cause;
      const detail = cause?.code ?? cause?.message;
      return { retryable: true, message: this.redact(`connection error: ${err.message}${detail ? ` (${detail})` : ''}`) };
    }
    if (err instanceof APIError) {
      const status = err.status;
      const msg = this.redact(err.message || `HTTP ${status}`);
      if (status === undefined) return { retryable: true, message: msg }; // error event inside a stream
      if (status === 401 || status === 403) return { retryable: false, status, message: `${msg} — check the API key and the endpoint's access rights` };
      const retryable = status === 408 || status === 409 || status === 429 || status >= 500;
      return { retryable, status, message: msg, retryAfterMs: retryable ? parseRetryAfter(err.headers) : undefined };
    }
    // Connection dropped mid-stream (undici "terminated", ECONNRESET…) and the like.
    const e = err as { message?: string; code?: string; cause?: { code?: string; message?: string } };
    const detail = e.cause?.code ?? e.cause?.message ?? e.code;
    return { retryable: true, message: this.redact(`connection error: ${e.message ?? String(err)}${detail ? ` (${detail})` : ''}`) };
  }
}

function toUsage(u: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number } | null | undefined): Usage | null {
  if (!u) return null;
  const promptTokens = u.prompt_tokens ?? 0;
  const completionTokens = u.completion_tokens ?? 0;
  return { promptTokens, completionTokens, totalTokens: u.total_tokens ?? promptTokens + completionTokens };
}
