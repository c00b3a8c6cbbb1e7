// Supervised fine-tuning datasets: one session per example.
//
//   openai-chat   OpenAI chat fine-tuning JSONL: {messages, tools?, parallel_tool_calls?}.
//                 The messages are the wire messages, so each assistant turn's request
//                 is exactly the messages before it; `weight` (0/1 on assistant turns)
//                 is a training attribute, not part of what the model saw: it becomes
//                 the step's label (0 mask, 1 keep) and is left out of the request.
//   sharegpt      ShareGPT / LLaMA-Factory: {conversations: [{from, value}], system?,
//                 tools? (JSON text)}. human → user, gpt → assistant, function_call →
//                 an assistant tool call (its JSON {name, arguments}, or a list of them,
//                 alone or after the reply's text in <tool_call> words),
//                 observation → the tool results (for parallel calls joined by
//                 LLaMA-Factory's tool_response separator, or a JSON list).
//                 Text-form calls such as `<function=NAME><parameter=k>v</parameter>`
//                 (OpenHands-style datasets) stay text actions, parsed for display (not
//                 trained: LLaMA-Factory cannot read them). A `mask` column (turn
//                 indices) marks masked turns; a llamafactory.yaml beside the file with
//                 `mask_history: true` (as this app's bundles have) means only the last
//                 turn of each line was trained.
//
// Both are read as their trainers read them (LLaMA-Factory at ff6d4d12: data/converter.py,
// formatter.py, processor/; axolotl at 067b021c: prompt_strategies/chat_template.py), since
// the export must train exactly what they would: axolotl's `train` / `weight` flags on a
// message, a turn or a content part; LLaMA-Factory's KTO `label` and preference
// (`chosen` / `rejected`) columns, the lines its ShareGPT converter skips as abnormal, and
// the function_call values it cannot read. What they would not train is kept for review,
// not trained, and said in the notes; the last session of a file also counts the cases.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { ToolCall, WireMessage } from '../../../../shared/events';
import { readFunctionCallValue, splitResults } from '../../dataset/sharegpt-values';
import { conversationSteps, textOf, type Conversation } from '../conversation';
import { check, readRecords } from '../source';
import { ImportError, type ImportAdapter, type ImportContext, type ImportInput, type RunIR, type StepIR } from '../types';

const content = z.union([z.string(), z.array(z.unknown()), z.null()]).optional();
const openaiMessage = z.looseObject({
  role: z.string().min(1),
  content,
  tool_calls: z.array(z.looseObject({ id: z.string().optional(), function: z.looseObject({ name: z.string(), arguments: z.unknown() }) })).nullable().optional(),
  tool_call_id: z.string().nullable().optional(),
  weight: z.union([z.literal(0), z.literal(1)]).optional(),
});
const openaiRecord = z.looseObject({
  messages: z.array(openaiMessage).min(1),
  tools: z.array(z.unknown()).nullable().optional(),
  parallel_tool_calls: z.boolean().optional(),
});

const sharegptTurn = z.looseObject({ from: z.string(), value: z.string() });
const sharegptRecord = z.looseObject({
  conversations: z.array(sharegptTurn).min(1),
  system: z.string().optional(),
  tools: z.union([z.string(), z.array(z.unknown())]).optional(),
  mask: z.array(z.number().int().nonnegative()).optional(),
  id: z.union([z.string(), z.number()]).optional(),
});

function headText(input: ImportInput): string {
  return input.head.toString('utf8').slice(0, 16 * 1024);
}

function firstUserText(messages: readonly WireMessage[]): string {
  const u = messages.find((m) => m.role === 'user');
  return u ? textOf(u.content) : '';
}

function runName(input: ImportInput, item: string, task: string): string {
  const t = task.replace(/\s+/g, ' ').trim().slice(0, 60);
  return `${input.name} ${item}${t ? `: ${t}` : ''}`;
}

/** Marks a step not trained; a reason it already has stands unless `over` (a reason for the whole line). */
function untrain(step: StepIR, why: string, over = false): void {
  if (over || !step.notTrained) step.notTrained = `not trained: ${why}`;
}

// ---------------------------------------------------------------- what a file held

/**
 * Counts over a whole file, said once on its last session: each line's own notes say
 * which of its steps, but a dataset of thousands of lines needs the totals somewhere.
 */
class Tally {
  private readonly n = new Map<string, number>();
  add(what: string): void {
    this.n.set(what, (this.n.get(what) ?? 0) + 1);
  }
  note(file: string): string | null {
    if (!this.n.size) return null;
    return `${file}, over the whole file: ${[...this.n].map(([what, k]) => `${k} ${what}`).join('; ')} (each session's notes say which of its steps).`;
  }
}

/** The runs, the last with the file's counts in its notes (one run held back to know which is last). */
async function* withTally(runs: AsyncIterable<RunIR>, tally: Tally, file: string): AsyncGenerator<RunIR> {
  let held: RunIR | undefined;
  for await (const run of runs) {
    if (held) yield held;
    held = run;
  }
  if (!held) return;
  const note = tally.note(file);
  if (note) held.notes.push(note);
  yield held;
}

// ---------------------------------------------------------------- axolotl's training flags

/** How a message's own flags train it: a whole reply or not, or parts of it only ('split'). */
interface Flag {
  train: boolean | 'split';
  why: string;
}

/** Python's truth of a JSON value: axolotl tests its flags with `if`. */
function pyTruthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (v && typeof v === 'object') return Object.keys(v).length > 0;
  return !!v;
}

/** A turn's `train` / `weight` (axolotl's message_field_training, which names one of them: when both are there, either saying no wins). */
function turnFlag(m: Record<string, unknown>): Flag | undefined {
  const said: Flag[] = [];
  if (m.train !== undefined && m.train !== null) said.push({ train: pyTruthy(m.train), why: `train ${JSON.stringify(m.train)}` });
  if (m.weight !== undefined && m.weight !== null) said.push({ train: pyTruthy(m.weight), why: `weight ${JSON.stringify(m.weight)}` });
  return said.find((f) => !f.train) ?? said[0];
}

/**
 * A content list's per-part flags as axolotl's _convert_content_parts reads them: a part
 * with text is trained unless its `train` (else `weight`) says no; a part without a flag
 * is trained. Undefined when no part has a flag.
 */
function partsFlag(parts: unknown): Flag | undefined {
  if (!Array.isArray(parts)) return undefined;
  let flagged = false;
  const trains: boolean[] = [];
  for (const p of parts) {
    if (!p || typeof p !== 'object') continue;
    const o = p as Record<string, unknown>;
    const train = o.train ?? null;
    const weight = o.weight ?? null;
    if (train !== null || weight !== null) flagged = true;
    const text = o.text || o.content || o.value;
    if (text) trains.push(train !== null ? pyTruthy(train) : weight !== null ? weight !== 0 && weight !== false : true);
  }
  if (!flagged || !trains.length) return undefined;
  if (trains.every(Boolean)) return { train: true, why: 'its content parts all flagged trained' };
  if (!trains.some(Boolean)) return { train: false, why: 'its content parts all flagged not trained' };
  return { train: 'split', why: 'its content parts carry differing train/weight flags: axolotl trains only some of its text, which a step (trained or not as a whole) cannot say' };
}

/**
 * How axolotl's chat_template strategy trains a message by its own flags (chat_template.py
 * _tokenize_single_prompt): a turn flag saying no wins; else its parts' flags decide, else
 * the turn flag. Undefined when it has none (the trainer's role rule decides).
 */
function ownFlag(m: Record<string, unknown>): Flag | undefined {
  const turn = turnFlag(m);
  if (turn && !turn.train) return turn;
  return partsFlag(m.content) ?? turn;
}

/** A content list without its parts' training flags: they are for the trainer, not what the model was sent. */
function withoutPartFlags(parts: unknown[]): unknown[] {
  return parts.map((p) => {
    if (!p || typeof p !== 'object' || Array.isArray(p) || !('train' in p || 'weight' in p)) return p;
    const { train: _t, weight: _w, ...rest } = p as Record<string, unknown>;
    return rest;
  });
}

/** A step's label from its message's flag; a split reply cannot be labelled, so it is not trained. */
function applyFlag(step: StepIR, flag: Flag | undefined, file: string, where: string, notes: string[], tally: Tally): void {
  if (flag?.train === 'split') {
    untrain(step, flag.why);
    notes.push(`${where}: ${flag.why}; the reply is kept but not trained.`);
    tally.add('reply(ies) whose content parts differ in train/weight (not trained)');
    return;
  }
  step.label = flag
    ? { label: flag.train ? 'keep' : 'mask', note: `${flag.why} in ${file}` }
    : { label: 'keep', note: `no train/weight flag in ${file} (an assistant reply is trained)` };
}

/** Turns other than the replies that their flags train: axolotl would train them, a session trains replies only. */
function flaggedOthers(turns: ReadonlyArray<{ flag: Flag | undefined; reply: boolean }>, item: string, notes: string[]): void {
  const n = turns.filter((t) => !t.reply && t.flag && t.flag.train !== false).length;
  if (n) notes.push(`${item}: ${n} turn(s) other than the replies are flagged trained (train/weight); axolotl would train them, but only a reply can be trained here, so they are context only.`);
}

// ---------------------------------------------------------------- KTO and preference lines

/**
 * A KTO example (LLaMA-Factory's kto_tag, here the `label` column: converter.py and
 * processor/feedback.py): its last reply is the response, desirable or not; the turns
 * before it are the prompt, which no stage trains.
 */
function applyKto(steps: StepIR[], label: boolean, item: string, notes: string[], tally: Tally): void {
  steps.forEach((s, k) => {
    if (k < steps.length - 1) untrain(s, 'in the prompt of a KTO example (label column): LLaMA-Factory trains only its last reply');
    else if (!label) untrain(s, 'its KTO label marks it undesirable (label: false): a KTO trainer learns away from it, so it is no reply to imitate');
  });
  notes.push(`${item}: a KTO example, label: ${label} (read as LLaMA-Factory's kto_tag): ${label ? 'its last reply is trained as desirable' : 'its last reply is undesirable and not trained'}${steps.length > 1 ? ', and the replies before it are its prompt, not trained' : ''}.`);
  tally.add(`KTO label(s) read (${label ? 'label: true' : 'label: false, reply not trained'})`);
}

interface Preference {
  chosen: WireMessage | null;
  rejected: WireMessage | null;
  /** Columns that hold a reply this importer cannot read, with their text for the notes. */
  unread: string[];
}

/** A chosen / rejected reply: text, a message ({from, value} or {role, content}), or a list ending in one (axolotl). */
function preferenceMessage(raw: unknown, idPrefix: string): WireMessage | null {
  const v = Array.isArray(raw) ? (raw[raw.length - 1] as unknown) : raw;
  if (typeof v === 'string') return { role: 'assistant', content: v };
  if (!v || typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  if (Array.isArray(o.tool_calls) && o.tool_calls.length) return { role: 'assistant', content: typeof o.content === 'string' ? o.content : null, tool_calls: o.tool_calls };
  const text = typeof o.value === 'string' ? o.value : typeof o.content === 'string' || Array.isArray(o.content) ? o.content : null;
  if (text === null) return null;
  const parsed = o.from === 'function_call' && typeof text === 'string' ? jsonCalls(text) : null;
  return parsed ? callMessage(parsed, idPrefix).message : { role: 'assistant', content: text };
}

function readPreference(o: Record<string, unknown>): Preference | null {
  if ((o.chosen ?? null) === null && (o.rejected ?? null) === null) return null;
  const unread: string[] = [];
  const one = (k: 'chosen' | 'rejected') => {
    if ((o[k] ?? null) === null) return null;
    const m = preferenceMessage(o[k], `call_${k}`);
    if (!m) unread.push(`${k} (${JSON.stringify(o[k]).slice(0, 200)})`);
    return m;
  };
  return { chosen: one('chosen'), rejected: one('rejected'), unread };
}

const PREFERENCE_PROMPT = 'in the prompt of a preference (DPO) example (chosen/rejected columns): LLaMA-Factory\'s SFT stage refuses a dataset marked ranking, and a preference trainer trains no turn of the prompt';

/**
 * A preference line's steps: the prompt's replies, then the chosen reply, the rejected one a
 * branch beside it (both answer the whole prompt). None is trained: SFT data cannot say that
 * one reply is preferred to the other.
 */
function preferenceSteps(base: WireMessage[], pref: Preference, build: (messages: WireMessage[], which: string) => Conversation, item: string, notes: string[], tally: Tally): Conversation {
  const conv = build(pref.chosen ? [...base, pref.chosen] : base, 'chosen');
  const before = conv.steps.length - (pref.chosen ? 1 : 0);
  conv.steps.forEach((s, k) => untrain(s, k < before ? PREFERENCE_PROMPT : 'the chosen reply of a preference (DPO) example: a preference trainer learns it only against the rejected reply, which SFT data cannot say', true));
  const rejected = pref.rejected ? build([...base, pref.rejected], 'rejected').steps.at(-1) : undefined;
  if (rejected) {
    conv.steps.push({ ...rejected, key: 'rejected', parent: conv.steps[before - 1]?.key ?? null, branchName: 'Rejected reply' });
    untrain(conv.steps.at(-1)!, 'the rejected reply of a preference (DPO) example: a preference trainer learns away from it', true);
  }
  const kept = [pref.chosen ? 'its chosen reply is the step after the prompt' : '', rejected ? 'its rejected reply a branch beside it' : ''].filter(Boolean).join(' and ');
  notes.push(`${item}: a preference (DPO) example (chosen/rejected columns), which no SFT trainer trains as it is: none of its steps is trained${kept ? `; ${kept}` : ''}.`);
  for (const u of pref.unread) notes.push(`${item}: its ${u} is not a reply this importer reads (a text or a message); it is not imported.`);
  tally.add('preference (DPO) line(s), not trained');
  return conv;
}

/** The line's KTO label (LLaMA-Factory reads one only when it is a boolean). */
function ktoLabel(o: Record<string, unknown>): boolean | undefined {
  return typeof o.label === 'boolean' ? o.label : undefined;
}

// ---------------------------------------------------------------- OpenAI

export const openaiChatAdapter: ImportAdapter = {
  format: 'openai-chat',
  description: 'OpenAI chat fine-tuning JSONL ({messages, tools}), one session per line',
  detect(input) {
    if (input.isDir) return 0;
    const t = headText(input);
    if (/"trajectory_format"|"mini_version"|"node_type"|"parentUuid"/.test(t)) return 0;
    // One record, or a JSON list of them (LLaMA-Factory's kto_en_demo.json), compact or indented.
    if (/^\s*\[?\s*{\s*"messages"\s*:\s*\[/.test(t) && /"role"\s*:/.test(t)) return 0.9;
    if (/"messages"\s*:\s*\[\s*{/.test(t) && /"role"\s*:\s*"(system|user)"/.test(t) && /\.jsonl$/i.test(input.name)) return 0.6;
    return 0;
  },
  read: (input, ctx) => {
    const tally = new Tally();
    return withTally(openaiRuns(input, ctx, tally), tally, input.name);
  },
};

async function* openaiRuns(input: ImportInput, ctx: ImportContext, tally: Tally): AsyncGenerator<RunIR> {
  for await (const rec of readRecords(input.path, input.name, input.head, (n) => ctx.progress(n))) {
    const r = check(openaiRecord, rec.value, input.name, rec.where, 'an OpenAI chat record ({messages: [...], tools?})');
    const item = rec.where ?? 'record 1';
    const flags = r.messages.map((m) => ownFlag(m));
    const hasFlags = flags.some((f) => f !== undefined);
    // The wire messages: everything but the training attributes. A `name` on a tool
    // turn (older function-calling datasets) is not part of OpenAI's tool message and
    // its checks refuse it; the call id already names the tool.
    let named = 0;
    const messages = r.messages.map((m) => {
      const { weight: _w, train: _t, ...rest } = m;
      if (Array.isArray(rest.content)) rest.content = withoutPartFlags(rest.content);
      if (rest.role === 'tool' && 'name' in rest) {
        if (rest.name !== null && rest.name !== undefined) named++;
        delete (rest as { name?: unknown }).name;
      }
      return rest as WireMessage;
    });
    const pref = readPreference(r);
    const hasCalls = [...messages, pref?.chosen, pref?.rejected].some((m) => Array.isArray(m?.tool_calls) && m.tool_calls.length > 0);
    const config: Record<string, unknown> = {};
    const notes: string[] = [];
    if (named) notes.push(`${item}: the "name" field of ${named} tool message(s) is left out of the recorded requests (OpenAI's tool messages have none; the tool_call_id names the call).`);
    if (r.tools?.length) config.tools = r.tools.map((t, i) => withoutNullFields(t, `${item}, tools[${i}]`, notes));
    else if (hasCalls) config.tools = []; // tool calls were made; their schemas are not in the file
    if (r.parallel_tool_calls !== undefined) config.parallel_tool_calls = r.parallel_tool_calls;
    const toolMode = 'tools' in config ? 'tools' : 'text';
    const build = (msgs: WireMessage[], which = '') => conversationSteps(msgs, {
      toolMode, where: (i) => (i < messages.length ? `${item}, message ${i + 1}` : `${item}, ${which}`), userTurn: () => 'guidance',
    });
    const conv = pref ? preferenceSteps(messages, pref, build, item, notes, tally) : build(messages);
    let n = 0;
    for (const [i, m] of r.messages.entries()) {
      if (m.role !== 'assistant') continue;
      const step = conv.steps[n++]!;
      if (hasFlags) applyFlag(step, flags[i], input.name, `${item}, message ${i + 1}`, notes, tally);
    }
    flaggedOthers(r.messages.map((m, i) => ({ flag: flags[i], reply: m.role === 'assistant' })), item, notes);
    const label = ktoLabel(r);
    if (!pref && label !== undefined) applyKto(conv.steps, label, item, notes, tally);
    const task = firstUserText(messages);
    yield {
      name: runName(input, item, task), task, config, context: 'exact', steps: conv.steps, initialGuidance: conv.initialGuidance, item,
      notes: conv.steps.length ? [...notes, ...conv.notes] : [...notes, ...conv.notes, `${item} has no assistant turn: the session has no steps.`], unknown: [],
    };
  }
}

/**
 * A tool schema with its null fields (`"parameters": null`) left out: null means
 * "none" there, and OpenAI's format (and this app's export checks) want the field
 * absent instead. Said in a note, since the request record is otherwise verbatim.
 */
function withoutNullFields(tool: unknown, where: string, notes: string[]): unknown {
  const t = tool as { function?: Record<string, unknown> } | null;
  const f = t?.function;
  if (!f || typeof f !== 'object') return tool;
  const nulls = Object.keys(f).filter((k) => f[k] === null);
  if (!nulls.length) return tool;
  notes.push(`${where}: ${nulls.map((k) => `function.${k}`).join(', ')} was null in the source and is left out of the recorded tool schema.`);
  return { ...t, function: Object.fromEntries(Object.entries(f).filter(([, v]) => v !== null)) };
}

// ---------------------------------------------------------------- ShareGPT

export const sharegptAdapter: ImportAdapter = {
  format: 'sharegpt',
  description: 'ShareGPT / LLaMA-Factory JSON or JSONL ({conversations: [{from, value}]}), one session per example',
  detect(input) {
    if (input.isDir) return 0;
    const t = headText(input);
    if (/"conversations"\s*:\s*\[/.test(t) && /"from"\s*:\s*"(human|gpt|user|system|function_call|observation)"/.test(t)) return 0.9;
    return 0;
  },
  read: async (input, ctx) => {
    const lastOnly = await maskHistory(input);
    const tally = new Tally();
    return withTally(sharegptRuns(input, ctx, lastOnly, tally), tally, input.name);
  },
};

interface ToolSpec {
  name?: unknown;
  description?: unknown;
  parameters?: unknown;
}

/** LLaMA-Factory's tool list (JSON text of [{name, description, parameters}]) as OpenAI tool schemas. */
function sharegptTools(tools: string | unknown[] | undefined, file: string, where: string | null): unknown[] | undefined {
  if (tools === undefined || tools === '') return undefined;
  let list: unknown = tools;
  if (typeof tools === 'string') {
    try {
      list = JSON.parse(tools);
    } catch {
      throw new ImportError(file, where, 'field tools is not JSON text of a tool list');
    }
  }
  if (!Array.isArray(list)) return undefined;
  return list.map((t: unknown) => {
    const o = (t ?? {}) as ToolSpec & { type?: unknown; function?: unknown };
    if (o.type === 'function' && o.function) return o;
    return { type: 'function', function: { name: o.name, description: o.description ?? '', parameters: o.parameters ?? { type: 'object', properties: {} } } };
  });
}

/** `<function=NAME><parameter=K>V</parameter>…</function>` blocks as tool calls. */
export function functionTagCalls(text: string, stepIndex: number): ToolCall[] {
  const out: ToolCall[] = [];
  const re = /<function=([^>\s]+)>([\s\S]*?)<\/function>/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    const args: Record<string, string> = {};
    const pre = /<parameter=([^>\s]+)>\n?([\s\S]*?)\n?<\/parameter>/g;
    let p: RegExpExecArray | null;
    while ((p = pre.exec(m[2]!))) args[p[1]!] = p[2]!;
    out.push({ id: `call_${stepIndex}_${out.length}`, name: m[1]!, arguments: JSON.stringify(args) });
  }
  return out;
}

interface ParsedCall {
  name: string;
  arguments: unknown;
}

/** A function_call value's text and calls, as LLaMA-Factory reads it (sharegpt-values.ts); null when it holds none. */
function jsonCalls(value: string): { text: string; calls: ParsedCall[] } | null {
  const read = readFunctionCallValue(value);
  if (!read) return null;
  const list = Array.isArray(read.calls) ? read.calls : [read.calls];
  if (!list.length || !list.every((c) => c && typeof c === 'object' && typeof (c as { name?: unknown }).name === 'string')) return null;
  return { text: read.text, calls: list as ParsedCall[] };
}

/** The assistant message of parsed calls, and the ids its results answer. */
function callMessage({ text, calls }: { text: string; calls: ParsedCall[] }, idPrefix: string): { message: WireMessage; ids: string[] } {
  const ids = calls.map((_, k) => `${idPrefix}_${k}`);
  return {
    ids,
    message: {
      role: 'assistant', content: text === '' ? null : text,
      tool_calls: calls.map((c, k) => ({ id: ids[k], type: 'function', function: { name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {}) } })),
    },
  };
}

/**
 * Why LLaMA-Factory cannot read a function_call value, or null: formatter.py's
 * FunctionFormatter json.loads it and reads each call's "name" and "arguments", and raises
 * otherwise, which stops the training run.
 */
function unreadableCall(value: string): string | null {
  const read = readFunctionCallValue(value);
  if (!read) return 'its function_call value is not JSON of calls: LLaMA-Factory\'s FunctionFormatter raises "Invalid JSON format in function message" on it, and the training run stops';
  const list = Array.isArray(read.calls) ? read.calls : [read.calls];
  if (!list.every((c) => c && typeof c === 'object' && !Array.isArray(c) && 'name' in c && 'arguments' in c)) {
    return 'its function_call JSON has a call without "name" or "arguments": LLaMA-Factory\'s FunctionFormatter fails on it, and the training run stops';
  }
  return null;
}

const USER_TAGS = new Set(['human', 'user', 'observation']);
const REPLY_TAGS = new Set(['gpt', 'assistant', 'function_call']);

/**
 * Why LLaMA-Factory's SharegptDatasetConverter skips a line as abnormal (converter.py: after
 * an optional leading system turn, human/observation turns at even positions, gpt/
 * function_call at odd ones, and an even count), or null. Its supervised processor then
 * drops the empty example, so no turn of it is trained.
 */
function abnormal(turns: ReadonlyArray<{ from: string }>): string | null {
  const start = turns[0]?.from === 'system' ? 1 : 0;
  for (let i = start; i < turns.length; i++) {
    const even = (i - start) % 2 === 0;
    if (!(even ? USER_TAGS : REPLY_TAGS).has(turns[i]!.from)) {
      return `conversations[${i}] is "${turns[i]!.from}" where it wants ${even ? 'human or observation' : 'gpt or function_call'} (after an optional leading system turn, human/observation turns alternate with gpt/function_call turns)`;
    }
  }
  const n = turns.length - start;
  return n % 2 ? `it has an odd count of turns (${n}${start ? ' after the system turn' : ''}): a line must end on a gpt or function_call turn` : null;
}

/**
 * mask_history as LLaMA-Factory reads its YAML (OmegaConf over PyYAML, YAML 1.1, handed to
 * the dataclass unconverted, then tested with `if`): the Python truth of the value. So
 * True / yes / on and any other text are true, false / no / off / null / 0 are not.
 */
function yamlTruth(raw: string): boolean {
  let v = raw.replace(/(^|\s)#.*$/, '').trim();
  const quoted = /^(["'])([\s\S]*)\1$/.exec(v);
  if (quoted) return quoted[2] !== '';
  if (/^(false|False|FALSE|no|No|NO|off|Off|OFF|null|Null|NULL|~|\[\]|\{\})?$/.test(v)) return false;
  v = v.replace(/_/g, '');
  if (/^[-+]?(0x0+|0o?0+|0b0+|0*\.?0*(e[-+]?\d+)?)$/i.test(v) && /0/.test(v)) return false;
  return true;
}

async function maskHistory(input: ImportInput): Promise<boolean> {
  const yaml = await readFile(join(dirname(input.path), 'llamafactory.yaml'), 'utf8').catch(() => '');
  // A top-level key; a later one wins, as in PyYAML's mapping.
  const all = [...yaml.matchAll(/^mask_history[ \t]*:(.*)$/gm)];
  return all.length > 0 && yamlTruth(all.at(-1)![1]!);
}

/** A line's conversation as wire messages, with where each came from and what LLaMA-Factory cannot read of it. */
interface SharegptWire {
  messages: WireMessage[];
  /** The conversation turn of each message (-1: the system column). */
  turnOfMessage: number[];
  jsonCallsSeen: boolean;
  /** Function_call turns LLaMA-Factory cannot read, and why. */
  unreadable: Map<number, string>;
  /** Observation turns that answer no call (after a gpt turn, or a second one). */
  bare: number[];
  /** Turns whose `from` is none LLaMA-Factory reads (carried as user turns). */
  unknownTags: number[];
}

function sharegptWire(r: z.infer<typeof sharegptRecord>): SharegptWire {
  const out: SharegptWire = { messages: [], turnOfMessage: [], jsonCallsSeen: false, unreadable: new Map(), bare: [], unknownTags: [] };
  // LLaMA-Factory takes a leading system turn for the system prompt, and then ignores the column.
  if (r.system && r.conversations[0]?.from !== 'system') {
    out.messages.push({ role: 'system', content: r.system });
    out.turnOfMessage.push(-1);
  }
  let pending: string[] = [];
  r.conversations.forEach((t, i) => {
    const push = (m: WireMessage) => {
      out.messages.push(m);
      out.turnOfMessage.push(i);
    };
    switch (t.from) {
      case 'system':
        push({ role: 'system', content: t.value });
        break;
      case 'human':
      case 'user':
        push({ role: 'user', content: t.value });
        break;
      case 'gpt':
      case 'assistant':
        push({ role: 'assistant', content: t.value });
        break;
      case 'function_call': {
        const why = unreadableCall(t.value);
        if (why) out.unreadable.set(i, why);
        const parsed = jsonCalls(t.value);
        if (parsed) {
          out.jsonCallsSeen = true;
          const { message, ids } = callMessage(parsed, `call_${i}`);
          pending = ids;
          push(message);
        } else {
          pending = [];
          push({ role: 'assistant', content: t.value });
        }
        break;
      }
      case 'observation': {
        if (!pending.length) {
          // It answers no call: a tool turn would have to name one, so the requests carry
          // it as a user turn (as for text actions), the result of the reply before it.
          out.bare.push(i);
          push({ role: 'user', content: t.value });
          break;
        }
        // Each call's result, else one result for all of them.
        const parts = splitResults(t.value, pending.length) ?? [t.value];
        parts.forEach((p, k) => push({ role: 'tool', tool_call_id: pending[Math.min(k, pending.length - 1)], content: p }));
        pending = [];
        break;
      }
      default:
        // LLaMA-Factory skips such a line (abnormal: its tag is in neither list), and one odd
        // line must not refuse a dataset: kept as a user turn, none of the line trained.
        out.unknownTags.push(i);
        push({ role: 'user', content: t.value });
    }
  });
  return out;
}

async function* sharegptRuns(input: ImportInput, ctx: ImportContext, lastOnly: boolean, tally: Tally): AsyncGenerator<RunIR> {
  for await (const rec of readRecords(input.path, input.name, input.head, (n) => ctx.progress(n))) {
    const r = check(sharegptRecord, rec.value, input.name, rec.where, 'a ShareGPT record ({conversations: [{from, value}]})');
    const item = rec.where ?? 'record 1';
    const tools = sharegptTools(r.tools, input.name, rec.where);
    const notes: string[] = [];
    const { messages, turnOfMessage, jsonCallsSeen, unreadable, bare, unknownTags } = sharegptWire(r);
    for (const i of unknownTags) notes.push(`${item}, conversations[${i}]: "from" is ${JSON.stringify(r.conversations[i]!.from)}, which LLaMA-Factory does not read (human, gpt, function_call, observation, system); the turn is kept as a person's.`);
    if (r.system && r.conversations[0]?.from === 'system') notes.push(`${item}: the system column is ignored: the first turn is a system turn, which LLaMA-Factory takes for the system prompt instead.`);
    const pref = readPreference(r);
    const toolMode = tools?.length || jsonCallsSeen || pref?.chosen?.tool_calls || pref?.rejected?.tool_calls ? 'tools' : 'text';
    if (toolMode === 'tools' && bare.length) notes.push(`${item}: ${bare.map((i) => `conversations[${i}]`).join(', ')}: an observation that answers no tool call; the requests carry it as a user turn (a tool turn must answer a call), as the result of the reply before it.`);
    const config: Record<string, unknown> = {};
    if (tools?.length) config.tools = tools;
    else if (toolMode === 'tools') config.tools = [];
    const build = (msgs: WireMessage[], which = '') => conversationSteps(msgs, {
      toolMode, where: (i) => (i < messages.length ? `${item}, conversations[${turnOfMessage[i]}]` : `${item}, ${which}`),
      parseActions: (text, n) => functionTagCalls(text, n),
      // A user message is an observation when it came from an observation turn, a person's otherwise.
      userTurn: (_m, i) => (r.conversations[turnOfMessage[i]!]?.from === 'observation' ? 'observation' : 'guidance'),
    });
    const conv = pref ? preferenceSteps(messages, pref, build, item, notes, tally) : build(messages);
    labelTurns(r, messages, turnOfMessage, conv.steps, lastOnly, input.name, item, notes);
    const label = ktoLabel(r);
    if (!pref && label !== undefined) applyKto(conv.steps, label, item, notes, tally);
    for (const [turn, why] of unreadable) {
      const k = messages.filter((m, i) => m.role === 'assistant' && turnOfMessage[i]! < turn).length;
      untrain(conv.steps[k]!, why);
      notes.push(`${item}, conversations[${turn}]: ${why}; the step is kept but not trained, and the rest of the line imported.`);
      tally.add('function_call value(s) LLaMA-Factory cannot read (not trained)');
    }
    // Last, since it overrides every other reason: LLaMA-Factory trains nothing of such a line.
    const skipped = pref ? null : abnormal(r.conversations);
    if (skipped) {
      for (const s of conv.steps) untrain(s, `LLaMA-Factory skips this example as abnormal: ${skipped}`, true);
      notes.push(`${item}: LLaMA-Factory skips this example as abnormal (${skipped}); none of its ${conv.steps.length} replies is trained.`);
      tally.add('line(s) LLaMA-Factory skips as abnormal (none of their replies trained)');
    }
    const task = firstUserText(messages);
    yield {
      name: runName(input, r.id !== undefined ? `${item} (${r.id})` : item, task), task, config, context: 'exact', steps: conv.steps,
      initialGuidance: conv.initialGuidance, item, notes: [...notes, ...conv.notes], unknown: [],
    };
  }
}

/** Labels of a line's replies: its mask column, the turns' own flags, mask_history. */
function labelTurns(
  r: z.infer<typeof sharegptRecord>, messages: WireMessage[], turnOfMessage: number[], steps: StepIR[], lastOnly: boolean,
  file: string, item: string, notes: string[],
): void {
  const flags = r.conversations.map((t) => ownFlag(t));
  const hasFlags = flags.some((f) => f !== undefined);
  const masked = new Set(r.mask ?? []);
  const replies = messages.filter((m) => m.role === 'assistant').length;
  let n = 0;
  messages.forEach((m, i) => {
    if (m.role !== 'assistant') return;
    const step = steps[n++]!;
    const turn = turnOfMessage[i]!;
    const flag = flags[turn];
    if (masked.has(turn)) step.label = { label: 'mask', note: `turn ${turn} is in the mask column of ${file}` };
    else if (flag?.train === false) step.label = { label: 'mask', note: `${flag.why} on turn ${turn} of ${file}` };
    else if (lastOnly && n < replies) step.label = { label: 'mask', note: `context only: ${file} is trained with mask_history (only the last turn of a line)` };
    else if (r.mask || lastOnly || hasFlags) step.label = { label: 'keep', note: `trained turn of ${file}` };
  });
  flaggedOthers(r.conversations.map((t, k) => ({ flag: flags[k], reply: REPLY_TAGS.has(t.from) })), item, notes);
}
