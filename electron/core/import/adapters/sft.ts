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
//                 (OpenHands-style datasets) stay text actions, parsed for display. A
//                 `mask` column (turn indices) marks masked turns; a llamafactory.yaml
//                 beside the file with `mask_history: true` (as this app's bundles have)
//                 means only the last turn of each line was trained.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import type { ToolCall, WireMessage } from '../../../../shared/events';
import { readFunctionCallValue, splitResults } from '../../dataset/sharegpt-values';
import { conversationSteps, textOf } from '../conversation';
import { check, readRecords } from '../source';
import { ImportError, type ImportAdapter, type ImportContext, type ImportInput, type RunIR } from '../types';

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

// ---------------------------------------------------------------- OpenAI

export const openaiChatAdapter: ImportAdapter = {
  format: 'openai-chat',
  description: 'OpenAI chat fine-tuning JSONL ({messages, tools}), one session per line',
  detect(input) {
    if (input.isDir) return 0;
    const t = headText(input);
    if (/"trajectory_format"|"mini_version"|"node_type"|"parentUuid"/.test(t)) return 0;
    if (/^\s*[[{]\s*"messages"\s*:\s*\[/.test(t) && /"role"\s*:/.test(t)) return 0.9;
    if (/"messages"\s*:\s*\[\s*{/.test(t) && /"role"\s*:\s*"(system|user)"/.test(t) && /\.jsonl$/i.test(input.name)) return 0.6;
    return 0;
  },
  read: (input, ctx) => openaiRuns(input, ctx),
};

async function* openaiRuns(input: ImportInput, ctx: ImportContext): AsyncGenerator<RunIR> {
  for await (const rec of readRecords(input.path, input.name, input.head, (n) => ctx.progress(n))) {
    const r = check(openaiRecord, rec.value, input.name, rec.where, 'an OpenAI chat record ({messages: [...], tools?})');
    const item = rec.where ?? 'record 1';
    const weights = r.messages.map((m) => m.weight);
    const hasWeights = weights.some((w) => w !== undefined);
    // The wire messages: everything but the training attribute. A `name` on a tool
    // turn (older function-calling datasets) is not part of OpenAI's tool message and
    // its checks refuse it; the call id already names the tool.
    let named = 0;
    const messages = r.messages.map((m) => {
      const { weight: _w, ...rest } = m;
      if (rest.role === 'tool' && 'name' in rest) {
        if (rest.name !== null && rest.name !== undefined) named++;
        delete (rest as { name?: unknown }).name;
      }
      return rest as WireMessage;
    });
    const hasCalls = messages.some((m) => Array.isArray(m.tool_calls) && m.tool_calls.length > 0);
    const config: Record<string, unknown> = {};
    const notes: string[] = [];
    if (named) notes.push(`${item}: the "name" field of ${named} tool message(s) is left out of the recorded requests (OpenAI's tool messages have none; the tool_call_id names the call).`);
    if (r.tools?.length) config.tools = r.tools.map((t, i) => withoutNullFields(t, `${item}, tools[${i}]`, notes));
    else if (hasCalls) config.tools = []; // tool calls were made; their schemas are not in the file
    if (r.parallel_tool_calls !== undefined) config.parallel_tool_calls = r.parallel_tool_calls;
    const toolMode = 'tools' in config ? 'tools' : 'text';
    const conv = conversationSteps(messages, { toolMode, where: (i) => `${item}, message ${i + 1}`, userTurn: () => 'guidance' });
    let n = 0;
    for (const [i, m] of r.messages.entries()) {
      if (m.role !== 'assistant') continue;
      const step = conv.steps[n++]!;
      if (hasWeights) step.label = { label: weights[i] === 0 ? 'mask' : 'keep', note: `weight ${weights[i] ?? 1} in ${input.name}` };
    }
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
  read: (input, ctx) => sharegptRuns(input, ctx),
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

async function maskHistory(input: ImportInput): Promise<boolean> {
  const yaml = await readFile(join(dirname(input.path), 'llamafactory.yaml'), 'utf8').catch(() => '');
  return /^\s*mask_history\s*:\s*true\b/m.test(yaml);
}

async function* sharegptRuns(input: ImportInput, ctx: ImportContext): AsyncGenerator<RunIR> {
  const lastOnly = await maskHistory(input);
  for await (const rec of readRecords(input.path, input.name, input.head, (n) => ctx.progress(n))) {
    const r = check(sharegptRecord, rec.value, input.name, rec.where, 'a ShareGPT record ({conversations: [{from, value}]})');
    const item = rec.where ?? 'record 1';
    const tools = sharegptTools(r.tools, input.name, rec.where);
    const messages: WireMessage[] = [];
    const turnOfMessage: number[] = [];
    if (r.system) {
      messages.push({ role: 'system', content: r.system });
      turnOfMessage.push(-1);
    }
    let pending: string[] = [];
    let jsonCallsSeen = false;
    let textCalls = false;
    r.conversations.forEach((t, i) => {
      const push = (m: WireMessage) => {
        messages.push(m);
        turnOfMessage.push(i);
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
          const parsed = jsonCalls(t.value);
          if (parsed) {
            const { text, calls } = parsed;
            jsonCallsSeen = true;
            pending = calls.map((_, k) => `call_${i}_${k}`);
            push({
              role: 'assistant', content: text === '' ? null : text,
              tool_calls: calls.map((c, k) => ({ id: pending[k], type: 'function', function: { name: c.name, arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments ?? {}) } })),
            });
          } else {
            textCalls = true;
            pending = [];
            push({ role: 'assistant', content: t.value });
          }
          break;
        }
        case 'observation': {
          if (!pending.length) {
            push({ role: textCalls || !jsonCallsSeen ? 'user' : 'tool', content: t.value });
            break;
          }
          // Each call's result, else one result for all of them.
          const parts = splitResults(t.value, pending.length) ?? [t.value];
          parts.forEach((p, k) => push({ role: 'tool', tool_call_id: pending[Math.min(k, pending.length - 1)], content: p }));
          pending = [];
          break;
        }
        default:
          throw new ImportError(input.name, rec.where, `conversations[${i}] has an unknown "from": ${JSON.stringify(t.from)} (expected human, gpt, function_call, observation or system)`);
      }
    });
    const toolMode = tools?.length || jsonCallsSeen ? 'tools' : 'text';
    const config: Record<string, unknown> = {};
    if (tools?.length) config.tools = tools;
    else if (jsonCallsSeen) config.tools = [];
    const conv = conversationSteps(messages, {
      toolMode, where: (i) => `${item}, conversations[${turnOfMessage[i]}]`,
      parseActions: (text, n) => functionTagCalls(text, n),
      // A user message is an observation when it came from an observation turn, a person's otherwise.
      userTurn: (_m, i) => (r.conversations[turnOfMessage[i]!]?.from === 'observation' ? 'observation' : 'guidance'),
    });
    const masked = new Set(r.mask ?? []);
    let n = 0;
    messages.forEach((m, i) => {
      if (m.role !== 'assistant') return;
      const step = conv.steps[n++]!;
      const turn = turnOfMessage[i]!;
      if (masked.has(turn)) step.label = { label: 'mask', note: `turn ${turn} is in the mask column of ${input.name}` };
      else if (lastOnly && n < conv.steps.length) step.label = { label: 'mask', note: `context only: ${input.name} is trained with mask_history (only the last turn of a line)` };
      else if (r.mask || lastOnly) step.label = { label: 'keep', note: `trained turn of ${input.name}` };
    });
    const task = firstUserText(messages);
    yield {
      name: runName(input, r.id !== undefined ? `${item} (${r.id})` : item, task), task, config, context: 'exact', steps: conv.steps,
      initialGuidance: conv.initialGuidance, item, notes: conv.notes, unknown: [],
    };
  }
}
