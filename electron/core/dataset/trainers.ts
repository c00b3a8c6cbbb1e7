// Trainer files of a bundle, each a small adapter over one form: the OpenAI record
// of an example (messages as the model saw them, `weight` 0/1 on assistant turns).
// Merge re-derives every other trainer file from the merged OpenAI lines, so there
// is one example stream and one place per trainer that knows its rules.
//
//   openai.jsonl      one line per example (a context window, or a split of one):
//                     weight 1 exactly on the turns to train. OpenAI honours `weight`
//                     on assistant messages.
//   axolotl.yml       loads openai.jsonl with `type: chat_template` and
//                     `message_field_training: weight`: axolotl's chat_template strategy
//                     (src/axolotl/prompt_strategies/chat_template.py) only reads a
//                     per-message training flag when that field is named, and otherwise
//                     trains every turn of `roles_to_train`.
//   sharegpt.jsonl    LLaMA-Factory has no per-turn mask: it trains every gpt /
//   dataset_info.json function_call turn (src/llamafactory/data/processor/supervised.py),
//   llamafactory.yaml and `mask_history` (a training argument, hparams/data_args.py) trains
//                     only the last. So: one line per trained action, ending on it, its
//                     context as history, and the training config sets mask_history.
//                     With mask_history, cutoff_len drops the EARLIEST turns first,
//                     system and tools included, so the config sets cutoff_len above the
//                     longest line.
//   mistral.jsonl     mistral-finetune (finetune/data/tokenize.py) trains only the last
//                     assistant message when tools are present, and with
//                     dynamic_chunk_fn_call also every earlier one whose weight is not 0;
//                     mistral-common's validator needs call ids ^[a-zA-Z0-9]{9}$, the last
//                     message the assistant's, content XOR tool_calls, and no user turn
//                     right after a tool turn. So: one line per trained action, ending on
//                     it, every earlier assistant turn weight 0.
import { createHash } from 'node:crypto';
import type { WireMessage } from '../../../shared/events';
import { parseArguments } from './messages';
import { functionCallValue, joinResults, textFitsBesideCalls } from './sharegpt-values';
import { messageTokens, toolsTokens } from './tokens';

export interface OpenAIMessage {
  role: string;
  content?: string;
  reasoning_content?: string;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
  name?: string;
  weight?: 0 | 1;
}

export interface OpenAIRecord {
  messages: OpenAIMessage[];
  tools?: unknown[];
}

type WireToolCall = { id?: string; type?: string; function?: { name?: string; arguments?: string } };

/**
 * Where a record may show reasoning_content: on its last trained turn only. No request
 * carried a reply's reasoning (the engine never sends it back; an importer's context that
 * did is not trained), but a chat template that renders it for every turn after the last
 * user query (Qwen3's, which axolotl's chat_template strategy copies it for) would put an
 * earlier trained turn's reasoning into the context of each later one. Tokens after the
 * last trained turn train nothing, so its reasoning is the one that can be shown; the
 * trained turns before it are trained on their text alone.
 */
function reasoningShownAt(weights: readonly (0 | 1 | null)[]): number {
  return weights.lastIndexOf(1);
}

/**
 * One example in OpenAI's fine-tuning form: the wire messages, `content: null` left out,
 * weights on assistant turns; `reasoning(i)`, the reasoning of turn i where one is shown
 * (reasoningShownAt).
 */
export function openaiRecord(messages: readonly WireMessage[], weights: readonly (0 | 1 | null)[], tools: unknown[] | undefined, reasoning?: (i: number) => string | undefined): OpenAIRecord {
  const shown = reasoningShownAt(weights);
  const out: OpenAIMessage[] = messages.map((m, i) => {
    const o: OpenAIMessage = { role: m.role };
    // Key order is fixed so the same example always serialises to the same bytes.
    if (typeof m.content === 'string') o.content = m.content;
    const r = m.role === 'assistant' && i === shown ? reasoning?.(i) : undefined;
    if (r) o.reasoning_content = r;
    if (Array.isArray(m.tool_calls) && m.tool_calls.length) {
      o.tool_calls = (m.tool_calls as WireToolCall[]).map((c) => ({
        id: c.id ?? '', type: 'function' as const, function: { name: c.function?.name ?? '', arguments: c.function?.arguments ?? '' },
      }));
    }
    if (typeof m.tool_call_id === 'string') o.tool_call_id = m.tool_call_id;
    if (typeof m.name === 'string') o.name = m.name;
    if (m.role === 'assistant') o.weight = weights[i] === 1 ? 1 : 0;
    return o;
  });
  uniqueCallIds(out);
  return tools && tools.length ? { messages: out, tools } : { messages: out };
}

/**
 * Some OpenAI-compatible servers repeat call ids from one response to the next (or
 * send none). The request carried them so, but OpenAI's fine-tuning checks reject an
 * example whose ids are not unique and non-empty, and one such call would fail the
 * whole export. So a repeated or empty id gets a fresh one, and the tool turns that
 * answer it (those after it, before the next assistant turn, in call order) follow.
 * Unique ids are left as they are, so a well-formed request is exported verbatim.
 */
function uniqueCallIds(messages: OpenAIMessage[]): void {
  const used = new Set<string>();
  let calls = 0;
  for (const m of messages) {
    for (const c of m.tool_calls ?? []) {
      used.add(c.id);
      calls++;
    }
  }
  // Every id given once, none empty (a well-formed request): nothing to renumber.
  if (used.size === calls && !used.has('')) return;
  const seen = new Set<string>();
  let answers = new Map<string, string[]>();
  for (const m of messages) {
    if (m.role === 'assistant') {
      answers = new Map();
      for (const c of m.tool_calls ?? []) {
        let id = c.id;
        if (id === '' || seen.has(id)) {
          for (let n = 1; id === '' || seen.has(id) || used.has(id); n++) id = `${c.id || 'call'}_${n}`;
          used.add(id);
        }
        seen.add(id);
        answers.set(c.id, [...(answers.get(c.id) ?? []), id]);
        c.id = id;
      }
    } else if (m.role === 'tool' && m.tool_call_id !== undefined) {
      const ids = answers.get(m.tool_call_id);
      const id = ids?.shift();
      if (id !== undefined) m.tool_call_id = id;
    }
  }
}

function recordTokens(r: OpenAIRecord, upto: number): number[] {
  return r.messages.slice(0, upto).map((m) => messageTokens(m as unknown as WireMessage));
}

/**
 * The fixed head of an example: its leading turns no step owns (the system prompt, the
 * task and, after a summary, the summary and the turn that continues from it). Every
 * line cut from an example keeps it, a split of an over-long example (examples.ts) as
 * a per-action line whose history is capped: the requests after a summary carried the
 * summary, never the steps it replaced. `owners` is the step of each message (null: no
 * step; undefined: not known, so not head).
 */
export function fixedHead(owners: readonly (string | null | undefined)[]): number {
  let head = 0;
  while (head < owners.length && owners[head] === null) head++;
  return head;
}

/** Where one per-action line of a record starts and ends, and its tokens: enough to plan it without building it. */
export interface ActionPlan {
  /** Index of the trained turn the line ends on. */
  index: number;
  /** The fixed head kept at the start of the line (fixedHead, never past the trained turn). */
  head: number;
  /** First message of the history after the head. */
  start: number;
  /** Tokens of the line (recordTokenCount of the record perActionRecord builds). */
  tokens: number;
}

/**
 * The per-action lines of `r`, one per trained turn, planned: each ends on its turn,
 * weight 1 there and 0 on every earlier assistant turn. With `historyTokens`, history
 * that does not fit is dropped from the oldest turns after the fixed head (fixedHead of
 * `owners`, the step of each message of `r`): the line then starts at a turn boundary
 * that is not a tool result. Without `owners` only the turns before the first reply are
 * known to be no step's, and they are the head.
 */
export function perActionPlans(r: OpenAIRecord, historyTokens?: number, owners?: readonly (string | null)[]): ActionPlan[] {
  const out: ActionPlan[] = [];
  const fixed = fixedHead(owners ?? r.messages.map((m) => (m.role === 'assistant' ? undefined : null)));
  const cost = recordTokens(r, r.messages.length);
  const tools = toolsTokens(r.tools);
  // Running sums, so a line's tokens cost O(1) however long its history.
  const sum = [0];
  for (const c of cost) sum.push(sum[sum.length - 1]! + c);
  r.messages.forEach((m, i) => {
    if (m.role !== 'assistant' || m.weight !== 1) return;
    // A trained turn no step owns (a summary example's summary) is never head.
    const head = Math.min(fixed, i);
    const headTokens = tools + sum[head]!;
    let start = head;
    if (historyTokens) {
      let total = headTokens + cost[i]!;
      start = i;
      while (start > head && total + cost[start - 1]! <= historyTokens) {
        start--;
        total += cost[start]!;
      }
      while (start < i && r.messages[start]!.role === 'tool') start++;
    }
    out.push({ index: i, head, start, tokens: headTokens + sum[i + 1]! - sum[start]! });
  });
  return out;
}

/** The per-action line `p` of `r` (see perActionPlans), built when it is written. */
export function perActionRecord(r: OpenAIRecord, p: ActionPlan): OpenAIRecord {
  const msgs = [...r.messages.slice(0, p.head), ...r.messages.slice(p.start, p.index + 1)].map((x, k, all) =>
    x.role === 'assistant' ? { ...x, weight: (k === all.length - 1 ? 1 : 0) as 0 | 1 } : x,
  );
  return r.tools ? { messages: msgs, tools: r.tools } : { messages: msgs };
}

/** Where message `i` of the example is in its per-action line `p` (perActionRecord), or null when the line leaves it out. */
export function perActionIndex(p: ActionPlan, i: number): number | null {
  if (i < p.head) return i;
  return i >= p.start && i <= p.index ? p.head + i - p.start : null;
}

/** One record per trained turn of `r`, ending on it (perActionPlans, each built). */
export function perActionRecords(r: OpenAIRecord, historyTokens?: number, owners?: readonly (string | null)[]): OpenAIRecord[] {
  return perActionPlans(r, historyTokens, owners).map((p) => perActionRecord(r, p));
}

export function recordTokenCount(r: OpenAIRecord): number {
  return toolsTokens(r.tools) + recordTokens(r, r.messages.length).reduce((a, b) => a + b, 0);
}

/**
 * The same example with new weights on its assistant turns (in turn order), as merge
 * re-weighs one context window by merged labels. Reasoning is shown on the last trained
 * turn only, as the export does (reasoningShownAt): `reasoning(i)` gives the text for turn i.
 */
export function reweighRecord(r: OpenAIRecord, weights: readonly (0 | 1)[], reasoning?: (turn: number) => string | undefined): OpenAIRecord {
  const shown = reasoningShownAt(weights);
  let turn = 0;
  const messages = r.messages.map((m) => {
    if (m.role !== 'assistant') return m;
    const t = turn++;
    const w = weights[t] === 1 ? 1 : 0;
    // Rebuilt in openaiRecord's key order, so a re-weighed example serialises as an exported one.
    const o: OpenAIMessage = { role: m.role };
    if (m.content !== undefined) o.content = m.content;
    const why = t === shown ? reasoning?.(t) : undefined;
    if (why) o.reasoning_content = why;
    if (m.tool_calls) o.tool_calls = m.tool_calls;
    if (m.tool_call_id !== undefined) o.tool_call_id = m.tool_call_id;
    if (m.name !== undefined) o.name = m.name;
    o.weight = w;
    return o;
  });
  return r.tools ? { messages, tools: r.tools } : { messages };
}

/** One per-action line of an example, in every per-action trainer's form. */
export interface ActionLine {
  /** Index (among the example's assistant turns) of the turn it trains. */
  turn: number;
  plan: ActionPlan;
  tokens: number;
  sharegpt: ShareGPTRecord;
  mistral: OpenAIRecord;
}

/**
 * The per-action lines (LLaMA-Factory, mistral-finetune) of one OpenAI example, one
 * per trained turn in message order: what an export writes for it, so a merge that
 * re-derives them from merged OpenAI lines follows the same rules.
 */
export function actionLines(r: OpenAIRecord, historyTokens?: number, owners?: readonly (string | null)[]): ActionLine[] {
  const trainedTurns: number[] = [];
  let turn = 0;
  for (const m of r.messages) {
    if (m.role !== 'assistant') continue;
    if (m.weight === 1) trainedTurns.push(turn);
    turn++;
  }
  return perActionPlans(r, historyTokens, owners).map((plan, k) => {
    const rec = perActionRecord(r, plan);
    return { turn: trainedTurns[k]!, plan, tokens: recordTokenCount(rec), sharegpt: sharegptRecord(rec), mistral: mistralRecord(rec) };
  });
}

// ---------------------------------------------------------------- LLaMA-Factory

export interface ShareGPTRecord {
  conversations: Array<{ from: 'human' | 'gpt' | 'function_call' | 'observation'; value: string }>;
  system: string;
  tools: string;
}

/** A reply with tool calls as LLaMA-Factory's function_call value: its text (when it fits) and its calls. */
function sharegptCallValue(m: OpenAIMessage): string {
  const calls = m.tool_calls!;
  const one = (c: (typeof calls)[number]) => {
    const p = parseArguments(c.function.arguments);
    return { name: c.function.name, arguments: p.valid ? p.value : { _raw: c.function.arguments } };
  };
  return functionCallValue(m.content, calls.length === 1 ? one(calls[0]!) : calls.map(one));
}

/** LLaMA-Factory's tool list: the JSON text of [{name, description, parameters}]. */
function sharegptTools(tools: unknown[] | undefined): string {
  if (!tools?.length) return '';
  return JSON.stringify(tools.map((t) => {
    const f = (t as { function?: Record<string, unknown> }).function ?? {};
    return { name: f.name, description: f.description ?? '', parameters: f.parameters ?? { type: 'object', properties: {} } };
  }));
}

/**
 * A per-action record as a LLaMA-Factory ShareGPT line. Its converter wants
 * human/observation turns at even positions and gpt/function_call at odd ones, so:
 * guidance after a tool result joins that observation, parallel results are one
 * observation (joined as LLaMA-Factory joins them), two replies in a row get an empty
 * human turn between them, and the text beside a tool call goes before the calls in
 * their tool-call words (sharegpt-values.ts). The last turn is the trained action.
 *
 * `at`, when given, is filled with where each message of `r` went: its turn's index, -1
 * for the system prompt (see sharegptPlace).
 */
export function sharegptRecord(r: OpenAIRecord, at?: number[]): ShareGPTRecord {
  const conv: ShareGPTRecord['conversations'] = [];
  let system = '';
  let results: string[] = [];
  const last = () => conv[conv.length - 1];
  const flush = () => {
    if (!results.length) return;
    conv.push({ from: 'observation', value: joinResults(results) });
    results = [];
  };
  r.messages.forEach((m, i) => {
    if (m.role !== 'tool') flush();
    if (m.role === 'system') {
      system = system ? `${system}\n\n${m.content ?? ''}` : m.content ?? '';
      if (at) at[i] = -1;
    } else if (m.role === 'tool') {
      results.push(m.content ?? '');
      if (at) at[i] = conv.length; // the observation the flush pushes
    } else if (m.role === 'user') {
      const l = last();
      if (l && (l.from === 'human' || l.from === 'observation')) l.value = l.value === '' ? m.content ?? '' : `${l.value}\n\n${m.content ?? ''}`;
      else conv.push({ from: 'human', value: m.content ?? '' });
      if (at) at[i] = conv.length - 1;
    } else if (m.role === 'assistant') {
      const l = last();
      if (!l || l.from === 'gpt' || l.from === 'function_call') conv.push({ from: 'human', value: '' });
      if (m.tool_calls?.length) conv.push({ from: 'function_call', value: sharegptCallValue(m) });
      else conv.push({ from: 'gpt', value: m.content ?? '' });
      if (at) at[i] = conv.length - 1;
    }
  });
  flush();
  while (conv.length && last()!.from !== 'gpt' && last()!.from !== 'function_call') conv.pop();
  return { conversations: conv, system, tools: sharegptTools(r.tools) };
}

export function llamaFactoryDatasetInfo(fileName: string, name = 'apollo'): string {
  return `${JSON.stringify({
    [name]: {
      file_name: fileName,
      formatting: 'sharegpt',
      columns: { messages: 'conversations', system: 'system', tools: 'tools' },
      tags: { role_tag: 'from', content_tag: 'value', user_tag: 'human', assistant_tag: 'gpt', observation_tag: 'observation', function_tag: 'function_call', system_tag: 'system' },
    },
  }, null, 2)}\n`;
}

/** Round a token count up, with headroom for the target model's own tokenizer. */
export function cutoffFor(tokens: number): number {
  return Math.max(2048, Math.ceil((tokens * 1.25) / 1024) * 1024);
}

/** The LLaMA-Factory training arguments the bundle's sharegpt.jsonl needs (merged into the user's own YAML). */
export function llamaFactoryTrainConfig(datasetName: string, longestTokens: number): string {
  return [
    '# LLaMA-Factory training arguments for this bundle (merge into your llamafactory-cli YAML).',
    '# Each line of sharegpt.jsonl ends on one action to train; earlier turns are context.',
    '# mask_history: true trains only that last turn, so masked actions are never trained,',
    '# except with templates registered with efficient_eos (glm4, glm4_moe, glm4_7, glmz1, gemma2,',
    '# chatglm3, gpt_oss, falcon, yi_vl, …): they also train the end-of-turn token after each',
    '# earlier reply but the last two, whatever its label. For those, train openai.jsonl with',
    '# axolotl.yml (a weight per turn) instead.',
    '# With mask_history, cutoff_len drops the earliest turns first (system prompt and',
    '# tools included): keep it above the longest line (o200k_base count plus 25%).',
    "# default_system: a line without a system prompt (the model was sent none) stays without",
    "# one; LLaMA-Factory would otherwise put in the template's own (qwen: \"You are Qwen, …\").",
    '# enable_thinking: false: the lines hold no reasoning, and a reasoning template (qwen3, …)',
    '# with true would train an empty thought block before every action.',
    '# A reply\'s text comes before its calls, in <tool_call> words: LLaMA-Factory 0.9.4 or later',
    '# (lfm2 templates name other words and stop at such a line).',
    'stage: sft',
    `dataset: ${datasetName}`,
    'dataset_dir: .',
    'mask_history: true',
    'train_on_prompt: false',
    'default_system: ""',
    'enable_thinking: false',
    `cutoff_len: ${cutoffFor(longestTokens)}`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- Axolotl

export function axolotlConfig(fileName: string, longestTokens: number): string {
  return [
    '# Axolotl dataset entry for this bundle (merge into your axolotl config).',
    '# chat_template honours the per-message `weight` only with message_field_training.',
    'datasets:',
    `  - path: ${fileName}`,
    '    ds_type: json',
    '    type: chat_template',
    '    field_messages: messages',
    '    message_property_mappings:',
    '      role: role',
    '      content: content',
    '    message_field_training: weight',
    '    roles_to_train: ["assistant"]',
    '    train_on_eos: turn',
    `sequence_len: ${cutoffFor(longestTokens)}`,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------- mistral-finetune

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A 9-character alphanumeric id derived from the original (stable across exports). */
export function mistralCallId(original: string, salt: number): string {
  const h = createHash('sha256').update(`${salt}\u0000${original}`).digest();
  let s = '';
  for (let i = 0; i < 9; i++) s += ALNUM[h[i]! % ALNUM.length];
  return s;
}

/**
 * A per-action record as a mistral-finetune line: 9-character call ids (consistent
 * between a call and its result, unique in the line), the text beside a tool call
 * left out (content XOR tool_calls), guidance after a tool result joined to that
 * result (no user turn may follow a tool turn), tools with name, description and
 * parameters.
 *
 * `at`, when given, is filled with the index in the line of each message of `r` (see mistralPlace).
 */
export function mistralRecord(r: OpenAIRecord, at?: number[]): OpenAIRecord {
  const ids = new Map<string, string>();
  const used = new Set<string>();
  const idFor = (orig: string) => {
    let id = ids.get(orig);
    if (id) return id;
    for (let salt = 0; !id || used.has(id); salt++) id = mistralCallId(orig, salt);
    ids.set(orig, id);
    used.add(id);
    return id;
  };
  const out: OpenAIMessage[] = [];
  for (const [i, m] of r.messages.entries()) {
    const prev = out[out.length - 1];
    if (at) at[i] = m.role === 'user' && prev?.role === 'tool' ? out.length - 1 : out.length;
    if (m.role === 'user' && prev?.role === 'tool') {
      prev.content = `${prev.content ?? ''}\n\n${m.content ?? ''}`;
      continue;
    }
    if (m.role === 'assistant') {
      const o: OpenAIMessage = { role: 'assistant' };
      if (m.tool_calls?.length) o.tool_calls = m.tool_calls.map((c) => ({ ...c, id: idFor(c.id), function: { ...c.function } }));
      else o.content = m.content ?? '';
      o.weight = m.weight ?? 0;
      out.push(o);
    } else if (m.role === 'tool') {
      out.push({ role: 'tool', content: m.content ?? '', tool_call_id: idFor(m.tool_call_id ?? '') });
    } else out.push({ role: m.role, content: m.content ?? '' });
  }
  const tools = r.tools?.map((t) => {
    const f = (t as { function?: Record<string, unknown> }).function ?? {};
    return { type: 'function', function: { name: f.name, description: f.description ?? '', parameters: f.parameters ?? { type: 'object', properties: {} } } };
  });
  return tools?.length ? { messages: out, tools } : { messages: out };
}

// ---------------------------------------------------------------- where a redaction lands

/**
 * Where a string of a per-action record lands in one trainer's line: `message` its
 * message's index (null: the record's `tools`), `field` the JSON pointer of the string
 * in it (`/content`, `/tool_calls/0/function/arguments`, for tools `/0/function/description`).
 * Null when the line leaves that string out. The redaction report names each redacted
 * string in every file that holds it, at the place it is there.
 */
export type LinePlace = (message: number | null, field: string) => string | null;

const CALL_FIELD = /^\/tool_calls\/\d+\/function\/(?:name|arguments)$/;
const TOOL_FIELD = /^\/\d+\/function\/(?:name|description|parameters)(?:\/|$)/;

/**
 * Of a message's strings, the ones a mistral line keeps (content XOR tool_calls) or, with
 * `besideCalls`, a ShareGPT line (a reply's calls, and its text when it fits beside them).
 */
function keptField(m: OpenAIMessage, field: string, besideCalls = false): boolean {
  if (!(m.role === 'assistant' && m.tool_calls?.length)) return field === '/content';
  return CALL_FIELD.test(field) || (besideCalls && field === '/content' && textFitsBesideCalls(m.content));
}

/** Where each redacted string of `r` lands in its ShareGPT line (sharegptRecord). */
export function sharegptPlace(r: OpenAIRecord): LinePlace {
  const at: number[] = [];
  const turns = sharegptRecord(r, at).conversations.length;
  return (i, field) => {
    if (i === null) return TOOL_FIELD.test(field) && r.tools?.length ? '/tools' : null;
    const m = r.messages[i];
    const j = at[i];
    if (!m || j === undefined || j >= turns || !keptField(m, field, true)) return null;
    // A turn's value is text; a call's name and arguments are JSON text inside it.
    return j === -1 ? '/system' : `/conversations/${j}/value`;
  };
}

/** Where each redacted string of `r` lands in its mistral-finetune line (mistralRecord). */
export function mistralPlace(r: OpenAIRecord): LinePlace {
  const at: number[] = [];
  mistralRecord(r, at);
  return (i, field) => {
    if (i === null) return TOOL_FIELD.test(field) && r.tools?.length ? `/tools${field}` : null;
    const m = r.messages[i];
    const j = at[i];
    if (!m || j === undefined || !keptField(m, field)) return null;
    return `/messages/${j}${field}`;
  };
}
