// Inspect AI logs: an .eval archive (header.json + samples/<id>_epoch_<n>.json) or a
// .json log ({version, eval, plan, results, samples: [...]}); one session per sample.
//
//   model events   → a step each: its context is the request the provider was sent
//                    (`call.request`), verbatim, when the provider speaks OpenAI's chat API
//                    (openai, vllm, together, …: OPENAI_WIRE_PROVIDERS), with its tools and
//                    tool_choice; else `input`, the conversation in Inspect's message form
//                    (what the provider's own code then turns into its API's form, here as
//                    OpenAI wire messages), with `tools` and `config`; `output` the reply,
//                    its calls' arguments as the API returned them when `call.response` has
//                    them
//   tool events    → the results of the calls they answer (by id), errors included
//   a sample with no model events falls back to its `messages` (derived context)
//   model events of scorers → not steps: a grader's call (model_graded_qa) is another
//                    model judging the agent, not the agent, and training its verdict as
//                    the agent's next turn would be false; kept verbatim and noted. A call
//                    is a scorer's when its span (span_id, or the spans open around it),
//                    or an older log's `step` events around it, are of type scorer(s),
//                    or its model role is "grader"
//   model events of another conversation → not steps: a tool's own model calls and a
//                    sub-agent's (as_tool(), handoff(), run() inside the agent, a subtask
//                    or fork) are that conversation's, not the agent's; made steps, they
//                    would sit between the agent's own calls in its tree. Kept verbatim
//                    with the tool events they made, counted and noted (see otherConversation)
//   a failed call  → a step with an empty reply (never trained), noted: Inspect writes
//                    the API's error ("maximum context length…", a content-filter
//                    refusal) as the output's text when a provider turns a bad request
//                    into an output (output.error, or a model_length / content_filter
//                    stop with no usage and no API response); that text is not the model's
//   other events (spans, state, scores, …) are not steps; kept verbatim in
//   import/unknown.jsonl and counted; scores and target are noted on the session
//
// Strings a log moved to `attachments` ("attachment://<hash>") are put back first.
import { z } from 'zod';
import type { ToolCall, Usage, WireMessage } from '../../../../shared/events';
import { canonicalJson } from '../../rollout/request-record';
import { conversationSteps, textOf } from '../conversation';
import { argsText, check, parseJson, readUtf8, toMs } from '../source';
import { ImportError, type ImportAdapter, type ImportContext, type ImportInput, type RunIR, type StepIR } from '../types';
import { ZipError, ZipReader } from '../zip';

const toolCall = z.looseObject({ id: z.string(), function: z.string(), arguments: z.unknown().optional(), parse_error: z.string().nullable().optional() });
const message = z.looseObject({
  role: z.string(),
  content: z.unknown().optional(),
  tool_calls: z.array(toolCall).nullable().optional(),
  tool_call_id: z.string().nullable().optional(),
  function: z.string().nullable().optional(),
  error: z.looseObject({ message: z.string().optional() }).nullable().optional(),
  model: z.string().nullable().optional(),
});
const toolInfo = z.looseObject({ name: z.string(), description: z.string().optional(), parameters: z.unknown().optional() });
const modelEvent = z.looseObject({
  event: z.literal('model'),
  timestamp: z.string().optional(),
  model: z.string().optional(),
  input: z.array(message),
  tools: z.array(toolInfo).optional(),
  tool_choice: z.unknown().optional(),
  config: z.record(z.string(), z.unknown()).optional(),
  output: z.looseObject({
    model: z.string().optional(),
    choices: z.array(z.looseObject({ message, stop_reason: z.string().nullable().optional() })).optional(),
    usage: z.looseObject({ input_tokens: z.number().optional(), output_tokens: z.number().optional(), total_tokens: z.number().optional() }).nullable().optional(),
    time: z.number().nullable().optional(),
    error: z.string().nullable().optional(),
  }).optional(),
  error: z.string().nullable().optional(),
  call: z.looseObject({ request: z.unknown().optional(), response: z.unknown().optional() }).nullable().optional(),
  span_id: z.string().nullable().optional(),
  role: z.string().nullable().optional(),
});
const toolEvent = z.looseObject({
  event: z.literal('tool'),
  id: z.string(),
  function: z.string().optional(),
  result: z.unknown().optional(),
  error: z.looseObject({ type: z.string().optional(), message: z.string().optional() }).nullable().optional(),
  timestamp: z.string().optional(),
  working_time: z.number().nullable().optional(),
  span_id: z.string().nullable().optional(),
  // Before Inspect 0.3.94 a tool call's own transcript (a sub-agent's model calls) was nested here.
  events: z.array(z.unknown()).nullable().optional(),
});
const subtaskEvent = z.looseObject({
  event: z.literal('subtask'),
  name: z.string().optional(),
  events: z.array(z.unknown()).nullable().optional(),
});
const sample = z.looseObject({
  id: z.union([z.string(), z.number()]),
  epoch: z.number().optional(),
  input: z.unknown().optional(),
  target: z.unknown().optional(),
  messages: z.array(message).optional(),
  events: z.array(z.looseObject({ event: z.string() })).optional(),
  scores: z.record(z.string(), z.unknown()).nullable().optional(),
  attachments: z.record(z.string(), z.string()).optional(),
  error: z.unknown().optional(),
});
const header = z.looseObject({
  version: z.number().optional(),
  status: z.string().optional(),
  eval: z.looseObject({ task: z.string().optional(), model: z.string().optional(), packages: z.record(z.string(), z.string()).optional() }),
});
type Sample = z.infer<typeof sample>;
type Header = z.infer<typeof header>;
type Msg = z.infer<typeof message>;

/** Put attachment://<hash> strings back. */
function resolveAttachments<T>(v: T, att: Record<string, string> | undefined): T {
  if (!att) return v;
  const walk = (x: unknown): unknown => {
    if (typeof x === 'string') return x.startsWith('attachment://') ? (att[x.slice('attachment://'.length)] ?? x) : x;
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, walk(y)]));
    return x;
  };
  return walk(v) as T;
}

/** Inspect content (a string or a list of parts) as text; reasoning parts apart. */
function contentText(c: unknown): { text: string; reasoning: string } {
  if (typeof c === 'string') return { text: c, reasoning: '' };
  let text = '';
  let reasoning = '';
  for (const p of Array.isArray(c) ? c : []) {
    const o = p as { type?: string; text?: string; reasoning?: string; refusal?: string };
    if (o.type === 'text') text += o.text ?? '';
    else if (o.type === 'reasoning') reasoning += o.reasoning ?? '';
    else if (o.type === 'image') text += '[image]';
  }
  return { text, reasoning };
}

/** Content parts other than text and reasoning (an image, audio, video, a document, data): a wire message rebuilt from them carries "[image]" at most. */
function holdsMedia(c: unknown): boolean {
  return Array.isArray(c) && c.some((p) => {
    const t = (p as { type?: unknown } | null)?.type;
    return typeof t === 'string' && t !== 'text' && t !== 'reasoning';
  });
}

function calls(m: Msg): ToolCall[] {
  return (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function, arguments: argsText(c.arguments) }));
}

/**
 * Inspect's providers whose `call.request` is a chat-completions body (model/_providers:
 * the ones built on the openai client, or on one of the same API): its `messages` are the
 * wire. Inspect's ModelEvent.input is the conversation before the provider converts it
 * (_openai.py: arguments re-encoded by json.dumps, a tool error as "Error: …", reasoning as
 * <think> text), so it is not what such a model was sent.
 */
const OPENAI_WIRE_PROVIDERS = new Set(['openai', 'openai-api', 'vllm', 'sglang', 'together', 'fireworks', 'groq', 'ollama', 'openrouter', 'llama-cpp-python', 'lmstudio']);
const WIRE_ROLES = new Set(['system', 'user', 'assistant', 'tool']);

const wireMessage = z.looseObject({
  role: z.string().refine((r) => WIRE_ROLES.has(r)),
  content: z.union([z.string(), z.null(), z.array(z.looseObject({ type: z.string() }))]).optional(),
  tool_calls: z.array(z.looseObject({ id: z.string(), type: z.literal('function'), function: z.looseObject({ name: z.string(), arguments: z.string() }) })).nullable().optional(),
  tool_call_id: z.string().optional(),
});
const wireRequest = z.looseObject({ messages: z.array(wireMessage), tools: z.array(z.unknown()).optional(), tool_choice: z.unknown().optional() });

/** The chat-completions request of a model event whose provider speaks that API (null when it does not, or the log holds no such body). */
function wireRequestOf(e: z.infer<typeof modelEvent>): z.infer<typeof wireRequest> | null {
  const provider = (e.model ?? '').split('/')[0]!;
  if (!OPENAI_WIRE_PROVIDERS.has(provider)) return null;
  const r = wireRequest.safeParse(e.call?.request);
  return r.success ? r.data : null;
}

/** The arguments of each call as the API returned them (a chat-completions response), by call id. */
function returnedArguments(e: z.infer<typeof modelEvent>): Map<string, string> {
  const out = new Map<string, string>();
  const choice = (e.call?.response as { choices?: Array<{ message?: { tool_calls?: Array<{ id?: unknown; function?: { arguments?: unknown } }> } }> } | null | undefined)?.choices?.[0];
  for (const c of choice?.message?.tool_calls ?? []) if (typeof c.id === 'string' && typeof c.function?.arguments === 'string') out.set(c.id, c.function.arguments);
  return out;
}

/** An Inspect chat message as an OpenAI wire message. */
function wire(m: Msg): WireMessage {
  const { text } = contentText(m.content);
  if (m.role === 'assistant') return replyWire(text, calls(m));
  if (m.role === 'tool') return { role: 'tool', tool_call_id: m.tool_call_id ?? '', content: m.error?.message ? `${text}${text ? '\n' : ''}${m.error.message}` : text };
  return { role: m.role, content: text };
}

/** A reply as an OpenAI wire assistant message (as the next input carries it). */
function replyWire(text: string, cs: ToolCall[]): WireMessage {
  return cs.length ? { role: 'assistant', content: text || null, tool_calls: cs.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })) } : { role: 'assistant', content: text };
}

function openaiTools(tools: z.infer<typeof toolInfo>[] | undefined): unknown[] | undefined {
  if (!tools?.length) return undefined;
  return tools.map((t) => ({ type: 'function', function: { name: t.name, description: t.description ?? '', parameters: t.parameters ?? { type: 'object', properties: {} } } }));
}

function usageOf(u: { input_tokens?: number; output_tokens?: number; total_tokens?: number } | null | undefined): Usage | null {
  if (!u || typeof u.input_tokens !== 'number') return null;
  const o = u.output_tokens ?? 0;
  return { promptTokens: u.input_tokens, completionTokens: o, totalTokens: u.total_tokens ?? u.input_tokens + o };
}

export const inspectAdapter: ImportAdapter = {
  format: 'inspect',
  description: 'Inspect AI logs (.eval archive or .json), one session per sample',
  detect(input) {
    if (input.isDir) return 0;
    if (input.head.readUInt32LE(0) === 0x04034b50) return /\.eval$/i.test(input.name) || input.head.includes('header.json') || input.head.includes('samples/') ? 0.95 : 0.3;
    const t = input.head.toString('utf8', 0, 8192);
    if (/"eval"\s*:\s*{/.test(t) && /"(eval_id|run_id|task)"\s*:/.test(t) && /^\s*{\s*"version"\s*:\s*\d/.test(t)) return 0.9;
    return 0;
  },
  read: (input, ctx) => (input.head.readUInt32LE(0) === 0x04034b50 ? readEval(input, ctx) : readJsonLog(input, ctx)),
};

async function* readEval(input: ImportInput, ctx: ImportContext): AsyncGenerator<RunIR> {
  let zip: ZipReader;
  try {
    zip = await ZipReader.open(input.path);
  } catch (e) {
    throw new ImportError(input.name, null, `not a readable .eval archive: ${(e as Error).message}`);
  }
  try {
    const entry = async (name: string) => {
      const e = zip.entry(name);
      if (!e) return null;
      try {
        return parseJson((await zip.read(e)).toString('utf8'), `${input.name}/${name}`);
      } catch (err) {
        if (err instanceof ZipError) throw new ImportError(input.name, name, err.message);
        throw err;
      }
    };
    const h = check(header, await entry('header.json') ?? (await entry('_journal/start.json')), input.name, 'header.json', 'an Inspect log header ({version, eval})');
    const names = zip.entries.map((e) => e.name).filter((n) => /^samples\/.+\.json$/.test(n)).sort(naturalOrder);
    if (!names.length) throw new ImportError(input.name, null, 'holds no samples (the log was written without them: log_samples=false)');
    let bytes = 0;
    for (const n of names) {
      const s = check(sample, await entry(n), input.name, n, 'an Inspect sample ({id, epoch, messages, events})');
      bytes += zip.entry(n)!.compressedSize;
      ctx.progress(bytes);
      yield sampleRun(input, h, s, n);
    }
  } finally {
    await zip.close();
  }
}

async function* readJsonLog(input: ImportInput, ctx: ImportContext): AsyncGenerator<RunIR> {
  const raw = parseJson(await readUtf8(input.path, input.name), input.name);
  ctx.progress(input.size);
  const h = check(header, raw, input.name, null, 'an Inspect log ({version, eval, samples})');
  const samples = (raw as { samples?: unknown[] }).samples ?? [];
  if (!Array.isArray(samples) || !samples.length) throw new ImportError(input.name, null, 'holds no samples (the log was written without them: log_samples=false)');
  for (const [i, v] of samples.entries()) yield sampleRun(input, h, check(sample, v, input.name, `samples[${i}]`, 'an Inspect sample'), `samples[${i}]`);
}

/** Spans (and older logs' steps) that score the sample: what runs in them is not the agent. */
function scoring(sp: { type?: unknown; name?: unknown }): boolean {
  // Inspect's own scorer spans are typed "scorer" within "scorers"; a re-score names the outer one "scorers", untyped.
  return sp.type === 'scorer' || sp.type === 'scorers' || (sp.type == null && sp.name === 'scorers');
}

/** A span, or an older log's step, as the events inside it see it. */
interface Span { id: string | null; type: unknown; name: unknown; parent: string | null; step: boolean }

/**
 * The spans around each event, in log order: from its span_id and the span tree when the
 * log names spans, else the spans and steps open around it (logs without span ids, or
 * older ones with `step` begin/end events). Every span_begin is indexed first, as
 * Inspect's own event_tree() does (event/_tree.py): an event names its span by id
 * wherever it lands in the log (a pending call completes after its span closed, and
 * parallel tool calls interleave their spans).
 */
class SpanTree {
  private readonly byId = new Map<string, Span>();
  private readonly open: Span[] = [];

  constructor(events: ReadonlyArray<Record<string, unknown>>) {
    for (const e of events) if (e.event === 'span_begin' && typeof e.id === 'string') this.byId.set(e.id, spanOf(e, false));
  }

  /** Follow the spans and steps opened and closed by `e` (any other event: nothing). */
  track(e: Record<string, unknown>): void {
    const id = typeof e.id === 'string' ? e.id : null;
    if (e.event === 'span_begin') this.open.push(spanOf(e, false));
    else if (e.event === 'span_end') this.close((o) => !o.step && (id === null || o.id === id));
    else if (e.event === 'step' && e.action === 'begin') this.open.push(spanOf(e, true));
    else if (e.event === 'step' && e.action === 'end') this.close((o) => o.step && o.name === e.name);
  }

  /** Close the innermost open span matching `match` (and any left open inside it). */
  private close(match: (o: Span) => boolean): void {
    for (let i = this.open.length - 1; i >= 0; i--) {
      if (match(this.open[i]!)) {
        this.open.length = i;
        return;
      }
    }
  }

  /** The spans around `e`, innermost first. */
  around(e: { span_id?: unknown }): Span[] {
    if (typeof e.span_id !== 'string' || !this.byId.has(e.span_id)) return [...this.open].reverse();
    const chain: Span[] = [];
    const seen = new Set<string>();
    for (let id: string | null = e.span_id; id && !seen.has(id); ) {
      seen.add(id);
      const sp = this.byId.get(id);
      if (!sp) break;
      chain.push(sp);
      id = sp.parent;
    }
    return chain;
  }
}

function spanOf(e: Record<string, unknown>, step: boolean): Span {
  return { id: typeof e.id === 'string' ? e.id : null, type: e.type, name: e.name, parent: typeof e.parent_id === 'string' ? e.parent_id : null, step };
}

// Inspect's span types (util/_span.py, model/_call_tools.py, util/_subtask.py): a tool
// call runs in span(type "tool"), a handoff in span("handoff") > span("tool"), a subtask
// or fork() in span("subtask"); every agent invocation (as_solver, as_tool, handoff,
// run) opens span("agent"). Whatever runs in a tool, handoff or subtask span is that
// call's or subtask's own conversation.
const OTHER_CONVERSATION = new Set<unknown>(['tool', 'handoff', 'subtask']);

/**
 * The outermost span around an event that opens another conversation than the agent's,
 * or null when the event is the agent's own. The first agent span is the agent itself
 * (as_solver wraps the task's agent in one); an agent span inside it is a sub-agent (the
 * rule Inspect's ACP SubagentDepthTracker follows, agent/_acp/event_mapping.py).
 */
function otherConversation(around: readonly Span[]): Span | null {
  let agents = 0;
  for (let i = around.length - 1; i >= 0; i--) {
    const sp = around[i]!;
    if (OTHER_CONVERSATION.has(sp.type)) return sp;
    if (sp.type === 'agent' && agents++ > 0) return sp;
  }
  return null;
}

/**
 * The spans around the caller of a tool call: Inspect records the ToolEvent inside the
 * tool span it opens for the call (inside a handoff span for a handoff), which are the
 * call's, not the caller's.
 */
function callerSpans(around: readonly Span[]): readonly Span[] {
  if (around[0]?.type !== 'tool') return around;
  return around[1]?.type === 'handoff' ? around.slice(2) : around.slice(1);
}

function spanLabel(sp: Span): string {
  return `${typeof sp.type === 'string' ? sp.type : 'span'} ${JSON.stringify(typeof sp.name === 'string' ? sp.name : '?')}`;
}

/** Model events an older log nests in a tool call's or subtask's `events`, at any depth. */
function nestedModelCalls(events: unknown): number {
  let n = 0;
  for (const e of Array.isArray(events) ? events : []) {
    if (!e || typeof e !== 'object') continue;
    const o = e as { event?: unknown; events?: unknown };
    n += (o.event === 'model' ? 1 : 0) + nestedModelCalls(o.events);
  }
  return n;
}

/** What ran in other conversations than the agent's, for the session's note. */
class OtherConversations {
  private readonly calls = new Map<string, number>();
  private nested = 0;
  private tools = 0;

  /** `n` model calls under `label`; `nested`: inside an older log's tool or subtask event (kept within it). */
  modelCalls(label: string, n: number, nested = false): void {
    if (n <= 0) return;
    this.calls.set(label, (this.calls.get(label) ?? 0) + n);
    if (nested) this.nested += n;
  }

  toolCall(): void {
    this.tools++;
  }

  get count(): number {
    let n = 0;
    for (const k of this.calls.values()) n += k;
    return n;
  }

  note(): string | null {
    const n = this.count;
    if (!n) return null;
    const by = [...this.calls].map(([k, c]) => `${k} ×${c}`).join(', ');
    const kept = [
      n > this.nested ? `${n - this.nested} as 'sub-agent model call' records${this.tools ? ` (with the ${this.tools} tool call(s) made there, as 'sub-agent tool call')` : ''}` : '',
      this.nested ? `${this.nested} inside the tool or subtask event an older log nests them in` : '',
    ].filter(Boolean).join('; ');
    return `${n} model call(s) ran in another conversation than the agent's (${by}): a tool's own calls, or a sub-agent's (as_tool(), handoff(), run(), a subtask). They are not steps of the agent's trajectory and are not trained; kept verbatim in import/unknown.jsonl: ${kept}.`;
  }
}

/**
 * The error a model event records in place of a reply, or null for a real reply. A
 * provider that turns a bad request into an output (context length, content filter)
 * writes the API's message as the output text, with no usage and no API response.
 */
function failedCall(e: z.infer<typeof modelEvent>): string | null {
  if (e.error) return e.error;
  if (e.output?.error) return e.output.error;
  const stop = e.output?.choices?.[0]?.stop_reason;
  if ((stop === 'model_length' || stop === 'content_filter') && !e.output?.usage && e.call && e.call.response == null) {
    return contentText(e.output?.choices?.[0]?.message.content).text || stop;
  }
  return null;
}

function naturalOrder(a: string, b: string): number {
  return a.localeCompare(b, undefined, { numeric: true });
}

type ModelEvent = z.infer<typeof modelEvent> & { n: number };

/**
 * The sample's events sorted by whose they are: the agent's model calls (its steps) and
 * tool calls (their results); scorers' and other conversations' model calls, and the
 * rest, kept verbatim in `unknown` and noted.
 */
function sortEvents(input: ImportInput, s: Sample, where: string, unknown: RunIR['unknown'], notes: string[]) {
  const modelEvents: ModelEvent[] = [];
  const toolEvents = new Map<string, z.infer<typeof toolEvent>>();
  const events = s.events ?? [];
  const spans = new SpanTree(events);
  const graders = new Set<string>();
  let graderCalls = 0;
  const others = new OtherConversations();
  events.forEach((e, n) => {
    spans.track(e);
    const at = `${where}, events[${n}]`;
    if (e.event === 'model') {
      const m = { ...check(modelEvent, e, input.name, at, 'an Inspect model event'), n };
      const around = spans.around(m);
      let other: Span | null = null;
      if (m.role === 'grader' || around.some(scoring)) {
        graderCalls++;
        graders.add(m.model ?? m.output?.model ?? 'a model');
        unknown.push({ type: 'scorer model call', record: e });
      } else if ((other = otherConversation(around))) {
        others.modelCalls(spanLabel(other), 1);
        unknown.push({ type: 'sub-agent model call', record: e });
      } else modelEvents.push(m);
    } else if (e.event === 'tool') {
      const t = check(toolEvent, e, input.name, at, 'an Inspect tool event');
      if (otherConversation(callerSpans(spans.around(t)))) {
        // A sub-agent's own tool call: no step of the agent made it (and its id, which may repeat one of the agent's, must not answer one's).
        others.toolCall();
        unknown.push({ type: 'sub-agent tool call', record: e });
        return;
      }
      toolEvents.set(t.id, t);
      if (t.events?.length) {
        others.modelCalls(`tool ${JSON.stringify(t.function ?? t.id)}`, nestedModelCalls(t.events), true);
        unknown.push({ type: 'tool event with nested events', record: e });
      }
    } else if (e.event === 'subtask') {
      const st = check(subtaskEvent, e, input.name, at, 'an Inspect subtask event');
      others.modelCalls(`subtask ${JSON.stringify(st.name ?? '?')}`, nestedModelCalls(st.events), true);
      unknown.push({ type: 'event subtask', record: e });
    } else unknown.push({ type: `event ${e.event}`, record: e });
  });
  if (graderCalls) notes.push(`${graderCalls} model call(s) of scorers (${[...graders].join(', ')}) grade the agent: they are not steps of the agent; kept in import/unknown.jsonl.`);
  const othersNote = others.note();
  if (othersNote) notes.push(othersNote);
  return { modelEvents, toolEvents, graderCalls, others };
}

function sampleRun(input: ImportInput, h: Header, raw: Sample, where: string): RunIR {
  const s = resolveAttachments(raw, raw.attachments);
  const item = `sample ${s.id}${s.epoch !== undefined ? ` epoch ${s.epoch}` : ''}`;
  const unknown: RunIR['unknown'] = [];
  const notes: string[] = [];
  const model = h.eval.model;
  const task = typeof s.input === 'string' ? s.input : textOf((Array.isArray(s.input) ? (s.input as Msg[]).find((m) => m.role === 'user')?.content : '') ?? '');
  const { modelEvents, toolEvents, graderCalls, others } = sortEvents(input, s, where, unknown, notes);
  let steps: StepIR[];
  let context: RunIR['context'] = 'exact';
  let config: Record<string, unknown> = { ...(model ? { model } : {}) };
  if (modelEvents.length) {
    /** Per step, its reply as later inputs carry it (a failed call's error text included), to find its turns there. */
    const replies = new Map<string, WireMessage>();
    const failed: string[] = [];
    let fromInput = 0;
    steps = modelEvents.map((e, k): StepIR => {
      const reply = e.output?.choices?.[0];
      const msg = reply?.message;
      const { text: said, reasoning: thought } = contentText(msg?.content);
      const returned = returnedArguments(e);
      const saidCalls = (msg ? calls(msg) : []).map((c) => (returned.has(c.id) ? { ...c, arguments: returned.get(c.id)! } : c));
      replies.set(`m${k}`, replyWire(said, saidCalls));
      const error = failedCall(e);
      if (error !== null) failed.push(`step ${k + 1} (${where}, events[${e.n}]): ${error.slice(0, 300)}`);
      // A failed call's text is the API's, not the model's: the reply is empty, which no export trains.
      const text = error === null ? said : '';
      const reasoning = error === null ? thought : '';
      const cs = error === null ? saidCalls : [];
      const sent = wireRequestOf(e);
      const tools = sent ? (sent.tools?.length ? sent.tools : undefined) : openaiTools(e.tools);
      const choice = sent ? sent.tool_choice : e.tool_choice;
      const cfg: Record<string, unknown> = { ...(e.model ? { model: e.model } : {}), ...(tools ? { tools } : {}), ...(choice !== undefined && tools ? { tool_choice: choice } : {}), ...(e.config ?? {}) };
      if (k === 0) config = cfg;
      if (!sent) fromInput++;
      const messages = sent ? (sent.messages as WireMessage[]) : e.input.map(wire);
      // Rebuilt from Inspect's messages, an image (or any media) the model was sent is only "[image]".
      const media = !sent && e.input.some((m) => holdsMedia(m.content));
      // An earlier reply's reasoning went back with the input (as thinking blocks to Anthropic, thought signatures to
      // Google), and a rebuilt context leaves it out: the model saw more than the record holds.
      const thoughtBefore = !sent && e.input.some((m) => m.role === 'assistant' && Array.isArray(m.content) && (m.content as Array<{ type?: unknown }>).some((p) => p?.type === 'reasoning'));
      const lost = media ? 'its input held an image or other media, which the context rebuilt from Inspect\'s messages carries only as "[image]"'
        : thoughtBefore ? 'its input sent an earlier reply\'s reasoning back to the model, which the context rebuilt from Inspect\'s messages leaves out' : null;
      return {
        ...(lost ? { notTrained: `not trained: ${lost}` } : {}),
        key: `m${k}`, where: `${where}, events[${e.n}]`, at: toMs(e.timestamp), content: text, reasoning, toolCalls: cs, toolMode: tools ? 'tools' : 'text',
        usage: usageOf(e.output?.usage), finishReason: reply?.stop_reason ?? null, ...(typeof e.output?.time === 'number' ? { durationMs: e.output.time * 1000 } : {}),
        request: { messages, owners: [], config: cfg },
        results: cs.map((c) => {
          const t = toolEvents.get(c.id);
          const res = t ? contentText(t.result).text || (typeof t.result === 'string' ? t.result : t.result === undefined ? '' : JSON.stringify(t.result)) : '';
          return { toolCallId: c.id, name: c.name, observation: t?.error?.message ? `${res}${res ? '\n' : ''}${t.error.message}` : res, isError: !!t?.error, ...(typeof t?.working_time === 'number' ? { durationMs: t.working_time * 1000 } : {}) };
        }).filter((r, i) => toolEvents.has(cs[i]!.id) || r.observation),
      };
    });
    // Owners: an assistant turn of a later input is the step whose reply it is: the same calls
    // (id, name and arguments as JSON values: a request re-encodes them, and some servers
    // repeat ids from one reply to the next), or with no call the same text (a request may
    // lead it with the reply's reasoning).
    const sig = (m: WireMessage) => {
      const cs = Array.isArray(m.tool_calls) ? (m.tool_calls as Array<{ id?: unknown; function?: { name?: unknown; arguments?: unknown } }>) : [];
      const value = (a: unknown) => {
        try {
          return typeof a === 'string' ? canonicalJson(JSON.parse(a)) : canonicalJson(a ?? null);
        } catch {
          return String(a);
        }
      };
      return cs.length ? `calls ${JSON.stringify(cs.map((c) => [c.id ?? '', c.function?.name ?? '', value(c.function?.arguments)]))}` : `text ${textOf(m.content)}`;
    };
    const bySig = new Map<string, string>();
    const owner = (m: WireMessage): string | null => {
      const key = sig(m);
      const exact = bySig.get(key);
      if (exact || key.startsWith('calls ')) return exact ?? null;
      for (const [k, v] of bySig) if (k.startsWith('text ') && k.length > 5 && key.endsWith(k.slice(5))) return v;
      return null;
    };
    for (const st of steps) {
      const owners: (string | null)[] = [];
      let cur: string | null = null;
      for (const m of st.request!.messages) {
        if (m.role === 'assistant') cur = owner(m);
        owners.push(m.role === 'system' ? null : cur);
      }
      st.request!.owners = owners;
      bySig.set(sig(replies.get(st.key)!), st.key);
    }
    // Rebuilt from Inspect's messages (a provider whose request is not chat-completions, a
    // cached reply): not the wire, so not exact.
    if (fromInput) context = 'derived';
    if (fromInput && fromInput < steps.length) notes.push(`${fromInput} of ${steps.length} model call(s) have no chat-completions request in the log: their contexts are Inspect's messages as given to the provider, before its own conversion.`);
    if (failed.length) {
      notes.push(`${failed.length} model call(s) failed, and the log holds the API's error where the reply would be: their replies are left empty (never trained). ${failed.join('; ')}`);
    }
  } else {
    context = 'derived';
    const whose = [graderCalls ? 'its scorers\'' : '', others.count ? 'other conversations\'' : ''].filter(Boolean).join(' and ');
    notes.push(`This sample has no model events${whose ? ` of the agent (only ${whose})` : ''}: its steps come from its messages, and their contexts are the messages before them.`);
    const conv = conversationSteps((s.messages ?? []).map(wire), { toolMode: 'tools', where: (i) => `${where}, messages[${i}]` });
    steps = conv.steps;
  }
  if (s.target !== undefined) notes.push(`Target: ${JSON.stringify(s.target)}`);
  if (s.scores) notes.push(`Scores: ${JSON.stringify(s.scores).slice(0, 4000)}`);
  if (s.error) notes.push(`The sample ended with an error: ${JSON.stringify(s.error).slice(0, 2000)}`);
  const version = h.eval.packages?.inspect_ai;
  return {
    name: `${h.eval.task ?? input.name} ${item}`, task, model, config, context, steps, item, notes, unknown,
    toolVersion: version ? `inspect_ai ${version}` : `Inspect log v${h.version ?? '?'}`,
    end: s.error ? { state: 'failed', reason: 'the sample ended with an error' } : { state: 'finished', reason: h.status ?? 'imported' },
  };
}
