// Inspect AI logs: an .eval archive (header.json + samples/<id>_epoch_<n>.json) or a
// .json log ({version, eval, plan, results, samples: [...]}); one session per sample.
//
//   model events   → a step each: `input` is the conversation the model was given
//                    (exact, in Inspect's message form, here as OpenAI wire messages),
//                    `tools` and `config` its request config, `output` the reply
//   tool events    → the results of the calls they answer (by id), errors included
//   a sample with no model events falls back to its `messages` (derived context)
//   model events of scorers → not steps: a grader's call (model_graded_qa) is another
//                    model judging the agent, not the agent, and training its verdict as
//                    the agent's next turn would be false; kept verbatim and noted. A call
//                    is a scorer's when its span (span_id, or the spans open around it),
//                    or an older log's `step` events around it, are of type scorer(s),
//                    or its model role is "grader"
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
  call: z.looseObject({ response: z.unknown().optional() }).nullable().optional(),
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

function calls(m: Msg): ToolCall[] {
  return (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function, arguments: argsText(c.arguments) }));
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

/**
 * Tells, event by event in log order, whether an event runs inside a scorer: from its
 * span_id and the span tree when the log names spans, else from the spans and steps
 * open around it (logs without span ids, or older ones with `step` begin/end events).
 */
class ScorerSpans {
  private readonly byId = new Map<string, { type?: unknown; name?: unknown; parent: string | null }>();
  private readonly open: Array<{ id: string | null; step: boolean; name: unknown; scoring: boolean }> = [];

  /** Follow the spans and steps opened and closed by `e` (any other event: nothing). */
  track(e: Record<string, unknown>): void {
    const id = typeof e.id === 'string' ? e.id : null;
    if (e.event === 'span_begin') {
      if (id) this.byId.set(id, { type: e.type, name: e.name, parent: typeof e.parent_id === 'string' ? e.parent_id : null });
      this.open.push({ id, step: false, name: e.name, scoring: scoring(e) });
    } else if (e.event === 'span_end') {
      this.close((o) => !o.step && (id === null || o.id === id));
    } else if (e.event === 'step' && e.action === 'begin') {
      this.open.push({ id: null, step: true, name: e.name, scoring: scoring(e) });
    } else if (e.event === 'step' && e.action === 'end') {
      this.close((o) => o.step && o.name === e.name);
    }
  }

  /** Close the innermost open span matching `match` (and any left open inside it). */
  private close(match: (o: ScorerSpans['open'][number]) => boolean): void {
    for (let i = this.open.length - 1; i >= 0; i--) {
      if (match(this.open[i]!)) {
        this.open.length = i;
        return;
      }
    }
  }

  inScorer(e: { span_id?: string | null }): boolean {
    if (e.span_id && this.byId.has(e.span_id)) {
      const seen = new Set<string>();
      for (let id: string | null = e.span_id; id && !seen.has(id); ) {
        seen.add(id);
        const sp = this.byId.get(id);
        if (!sp) break;
        if (scoring(sp)) return true;
        id = sp.parent;
      }
      return false;
    }
    return this.open.some((o) => o.scoring);
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

function sampleRun(input: ImportInput, h: Header, raw: Sample, where: string): RunIR {
  const s = resolveAttachments(raw, raw.attachments);
  const item = `sample ${s.id}${s.epoch !== undefined ? ` epoch ${s.epoch}` : ''}`;
  const unknown: RunIR['unknown'] = [];
  const notes: string[] = [];
  const model = h.eval.model;
  const task = typeof s.input === 'string' ? s.input : textOf((Array.isArray(s.input) ? (s.input as Msg[]).find((m) => m.role === 'user')?.content : '') ?? '');
  const modelEvents: Array<z.infer<typeof modelEvent> & { n: number }> = [];
  const toolEvents = new Map<string, z.infer<typeof toolEvent>>();
  const spans = new ScorerSpans();
  const graders = new Set<string>();
  let graderCalls = 0;
  (s.events ?? []).forEach((e, n) => {
    spans.track(e);
    if (e.event === 'model') {
      const m = { ...check(modelEvent, e, input.name, `${where}, events[${n}]`, 'an Inspect model event'), n };
      if (m.role === 'grader' || spans.inScorer(m)) {
        graderCalls++;
        graders.add(m.model ?? m.output?.model ?? 'a model');
        unknown.push({ type: 'scorer model call', record: e });
      } else modelEvents.push(m);
    } else if (e.event === 'tool') {
      const t = check(toolEvent, e, input.name, `${where}, events[${n}]`, 'an Inspect tool event');
      toolEvents.set(t.id, t);
    } else unknown.push({ type: `event ${e.event}`, record: e });
  });
  if (graderCalls) notes.push(`${graderCalls} model call(s) of scorers (${[...graders].join(', ')}) grade the agent: they are not steps of the agent; kept in import/unknown.jsonl.`);
  let steps: StepIR[];
  let context: RunIR['context'] = 'exact';
  let config: Record<string, unknown> = { ...(model ? { model } : {}) };
  if (modelEvents.length) {
    /** Per step, its reply as later inputs carry it (a failed call's error text included), to find its turns there. */
    const replies = new Map<string, WireMessage>();
    const failed: string[] = [];
    steps = modelEvents.map((e, k): StepIR => {
      const reply = e.output?.choices?.[0];
      const msg = reply?.message;
      const { text: said, reasoning: thought } = contentText(msg?.content);
      const saidCalls = msg ? calls(msg) : [];
      replies.set(`m${k}`, replyWire(said, saidCalls));
      const error = failedCall(e);
      if (error !== null) failed.push(`step ${k + 1} (${where}, events[${e.n}]): ${error.slice(0, 300)}`);
      // A failed call's text is the API's, not the model's: the reply is empty, which no export trains.
      const text = error === null ? said : '';
      const reasoning = error === null ? thought : '';
      const cs = error === null ? saidCalls : [];
      const tools = openaiTools(e.tools);
      const cfg: Record<string, unknown> = { ...(e.model ? { model: e.model } : {}), ...(tools ? { tools } : {}), ...(e.tool_choice !== undefined && tools ? { tool_choice: e.tool_choice } : {}), ...(e.config ?? {}) };
      if (k === 0) config = cfg;
      const messages = e.input.map(wire);
      return {
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
    // Owners: an assistant turn of a later input is the step whose reply it is (same calls or text).
    const sig = (m: WireMessage) => JSON.stringify([m.content, m.tool_calls]);
    const bySig = new Map<string, string>();
    for (const st of steps) {
      const owners: (string | null)[] = [];
      let cur: string | null = null;
      for (const m of st.request!.messages) {
        if (m.role === 'assistant') cur = bySig.get(sig(m)) ?? null;
        owners.push(m.role === 'system' ? null : cur);
      }
      st.request!.owners = owners;
      bySig.set(sig(replies.get(st.key)!), st.key);
    }
    if (failed.length) {
      notes.push(`${failed.length} model call(s) failed, and the log holds the API's error where the reply would be: their replies are left empty (never trained). ${failed.join('; ')}`);
    }
  } else {
    context = 'derived';
    notes.push(`This sample has no model events${graderCalls ? ' of the agent (only its scorers\')' : ''}: its steps come from its messages, and their contexts are the messages before them.`);
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
