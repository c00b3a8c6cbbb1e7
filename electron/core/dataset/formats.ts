// Text formats of a dataset bundle, as pure functions of a Conversation (or the
// trajectory fold): same input, byte-identical output. Objects are built with a fixed
// key order and no clock is read. Redaction is applied by the caller (bundle.ts) on the
// record objects, before serialisation.
//
// OpenAI chat fine-tuning JSONL (one line per branch):
//   {"messages":[…],"tools":[…]}; assistant turns carry "weight": 0|1 (Axolotl and
//   mistral-finetune read the same key). Choices:
//   - reasoning is omitted by default (OpenAI rejects unknown message keys); with
//     `reasoning: 'field'` it is written as "reasoning_content" (vLLM/DeepSeek convention).
//   - an assistant turn with neither text nor tool calls is left out (nothing to learn,
//     and OpenAI's checks reject it).
//   - an assistant turn with tool calls has "content" only when the model wrote text.
//   - arguments that are not a JSON object are exported as the JSON text of
//     {"_raw": "<what the model wrote>"} (so `arguments` always parses, as OpenAI
//     requires) and, under the default policy, the turn gets weight 0.
//   - an empty system prompt is left out.
//
// ShareGPT / LLaMA-Factory JSONL (one line per branch):
//   {"conversations":[{"from","value"}…],"system","tools":"<json>","mask":[…]}
//   LLaMA-Factory requires human/observation at even indices and gpt/function_call at odd
//   ones, and an even number of turns. So:
//   - function_call value is {"name","arguments":{…}} (a JSON array of those for parallel
//     calls); the observation of parallel calls is a JSON array of the result strings.
//   - the assistant's text beside tool calls and its reasoning are not representable
//     without breaking LLaMA-Factory's parser and are left out (the trajectory JSONL keeps them).
//   - guidance right after an observation is appended to that observation
//     ("\n\n<real_user>…</real_user>"); guidance after a text-only reply is a human turn;
//     consecutive human texts are joined with a blank line.
//   - two assistant turns in a row (a text-only reply followed by another step) get an
//     empty human turn between them.
//   - trailing observation/human turns after the last gpt/function_call are dropped.
//   - "tools" is the JSON text of [{"name","description","parameters"}].
//   - masking: LLaMA-Factory has no per-turn weight and trains every gpt/function_call
//     turn, ignoring unknown columns. We keep masked turns (their context matters) and list
//     their indices in "mask" (0-based into "conversations") for loaders that honour it;
//     for per-turn masking with stock trainers use the OpenAI JSONL with "weight".
//
// Full-fidelity trajectory JSONL: per session one {"kind":"session"} line (rollouts,
// branches, all guidance, exported branches) then one {"kind":"step"} line per step on
// an exported branch, in start order, with everything the fold knows about it.
import type { ToolCall } from '../../../shared/events';
import { branchPath, type Step, type Trajectory } from '../../../shared/trajectory';
import { assistantTurns, parseArguments, type AssistantTurn, type Conversation, type ExportToolCall } from './messages';
import { decideWeight, labelUnder, type LabelPolicy, type WeightReason } from './policy';

export interface ToolSchema {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown> };
}

export interface TrajectoryStats {
  /** Assistant turns exported. */
  actions: number;
  kept: number;
  masked: number;
  /** Actions without a label from an honoured source (counted in kept or masked per policy). */
  unlabelled: number;
  maskedBy: Record<WeightReason, number>;
  /** Assistant turns left out: no text and no tool call. */
  empty: number;
}

export function emptyStats(): TrajectoryStats {
  return { actions: 0, kept: 0, masked: 0, unlabelled: 0, maskedBy: { annotator: 0, judge: 0, rule: 0, unlabelled: 0, 'invalid-arguments': 0 }, empty: 0 };
}

function isEmptyTurn(t: AssistantTurn): boolean {
  return t.toolCalls.length === 0 && t.content === '';
}

/** Weight of every exported assistant turn, by step id, plus the counts. */
export function weighConversation(conv: Conversation, policy: LabelPolicy): { weights: Map<string, 0 | 1>; stats: TrajectoryStats } {
  const weights = new Map<string, 0 | 1>();
  const stats = emptyStats();
  for (const t of assistantTurns(conv)) {
    if (isEmptyTurn(t)) {
      stats.empty++;
      continue;
    }
    const d = decideWeight(t.label, t.toolCalls.every((c) => c.argumentsValid), policy);
    weights.set(t.stepId, d.weight);
    stats.actions++;
    if (d.unlabelled) stats.unlabelled++;
    if (d.weight === 1) stats.kept++;
    else {
      stats.masked++;
      stats.maskedBy[d.reason]++;
    }
  }
  return { weights, stats };
}

// ---------------------------------------------------------------- OpenAI

export interface OpenAIMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content?: string;
  reasoning_content?: string;
  tool_calls?: Array<{ id: string; type: 'function'; function: { name: string; arguments: string } }>;
  tool_call_id?: string;
  weight?: 0 | 1;
}

export interface OpenAIRecord {
  messages: OpenAIMessage[];
  tools: ToolSchema[];
}

export interface OpenAIOptions {
  reasoning?: 'omit' | 'field';
}

export function openaiRecord(conv: Conversation, tools: readonly ToolSchema[], policy: LabelPolicy, opts: OpenAIOptions = {}): { record: OpenAIRecord; stats: TrajectoryStats } {
  const { weights, stats } = weighConversation(conv, policy);
  const messages: OpenAIMessage[] = [];
  for (const t of conv.turns) {
    switch (t.role) {
      case 'system':
        if (t.content !== '') messages.push({ role: 'system', content: t.content });
        break;
      case 'user':
        messages.push({ role: 'user', content: t.content });
        break;
      case 'assistant': {
        if (isEmptyTurn(t)) break;
        const m: OpenAIMessage = { role: 'assistant' };
        if (t.content !== '' || t.toolCalls.length === 0) m.content = t.content;
        if (opts.reasoning === 'field' && t.reasoning !== '') m.reasoning_content = t.reasoning;
        if (t.toolCalls.length) {
          m.tool_calls = t.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } }));
        }
        m.weight = weights.get(t.stepId) ?? 1;
        messages.push(m);
        break;
      }
      case 'tool':
        messages.push({ role: 'tool', tool_call_id: t.toolCallId, content: t.content });
        break;
    }
  }
  return { record: { messages, tools: tools.map(normalizeTool) }, stats };
}

function normalizeTool(t: ToolSchema): ToolSchema {
  const f: ToolSchema['function'] = { name: t.function.name };
  if (t.function.description !== undefined) f.description = t.function.description;
  if (t.function.parameters !== undefined) f.parameters = t.function.parameters;
  return { type: 'function', function: f };
}

export function openaiLine(conv: Conversation, tools: readonly ToolSchema[], policy: LabelPolicy, opts?: OpenAIOptions): string {
  return JSON.stringify(openaiRecord(conv, tools, policy, opts).record);
}

export function toOpenAIJsonl(convs: readonly Conversation[], tools: readonly ToolSchema[], policy: LabelPolicy, opts?: OpenAIOptions): string {
  return convs.map((c) => `${openaiLine(c, tools, policy, opts)}\n`).join('');
}

// ---------------------------------------------------------------- ShareGPT

export type ShareGPTFrom = 'human' | 'gpt' | 'function_call' | 'observation' | 'system';

export interface ShareGPTRecord {
  conversations: Array<{ from: ShareGPTFrom; value: string }>;
  system: string;
  tools: string;
  mask: number[];
}

function functionCallValue(calls: readonly ExportToolCall[]): string {
  const one = (c: ExportToolCall): { name: string; arguments: unknown } => ({
    name: c.name,
    arguments: c.argumentsValid ? parseArguments(c.rawArguments).value : { _raw: c.rawArguments },
  });
  return JSON.stringify(calls.length === 1 ? one(calls[0]!) : calls.map(one));
}

export function sharegptTools(tools: readonly ToolSchema[]): string {
  return JSON.stringify(tools.map((t) => {
    const o: Record<string, unknown> = { name: t.function.name };
    if (t.function.description !== undefined) o.description = t.function.description;
    if (t.function.parameters !== undefined) o.parameters = t.function.parameters;
    return o;
  }));
}

export function sharegptRecord(conv: Conversation, tools: readonly ToolSchema[], policy: LabelPolicy): { record: ShareGPTRecord; stats: TrajectoryStats } {
  const { weights, stats } = weighConversation(conv, policy);
  const out: ShareGPTRecord['conversations'] = [];
  const masked = new Set<number>();
  const last = (): ShareGPTRecord['conversations'][number] | undefined => out[out.length - 1];
  const human = (text: string): void => {
    const l = last();
    if (l && l.from === 'human') l.value = l.value === '' ? text : `${l.value}\n\n${text}`;
    else out.push({ from: 'human', value: text });
  };
  let system = '';
  let results: string[] = [];
  const flushResults = (): void => {
    if (!results.length) return;
    out.push({ from: 'observation', value: results.length === 1 ? results[0]! : JSON.stringify(results) });
    results = [];
  };
  for (const t of conv.turns) {
    if (t.role !== 'tool') flushResults();
    switch (t.role) {
      case 'system':
        system = t.content;
        break;
      case 'user': {
        const l = last();
        if (t.kind === 'guidance' && l && l.from === 'observation') l.value = `${l.value}\n\n${t.content}`;
        else human(t.content);
        break;
      }
      case 'assistant': {
        if (isEmptyTurn(t)) break;
        const l = last();
        if (!l || l.from === 'gpt' || l.from === 'function_call') out.push({ from: 'human', value: '' });
        if (t.toolCalls.length) out.push({ from: 'function_call', value: functionCallValue(t.toolCalls) });
        else out.push({ from: 'gpt', value: t.content });
        if ((weights.get(t.stepId) ?? 1) === 0) masked.add(out.length - 1);
        break;
      }
      case 'tool':
        results.push(t.content);
        break;
    }
  }
  flushResults();
  while (out.length && last()!.from !== 'gpt' && last()!.from !== 'function_call') out.pop();
  return {
    record: { conversations: out, system, tools: sharegptTools(tools), mask: [...masked].filter((i) => i < out.length).sort((a, b) => a - b) },
    stats,
  };
}

export function sharegptLine(conv: Conversation, tools: readonly ToolSchema[], policy: LabelPolicy): string {
  return JSON.stringify(sharegptRecord(conv, tools, policy).record);
}

export function toShareGPTJsonl(convs: readonly Conversation[], tools: readonly ToolSchema[], policy: LabelPolicy): string {
  return convs.map((c) => `${sharegptLine(c, tools, policy)}\n`).join('');
}

/** LLaMA-Factory dataset_info.json entry for the ShareGPT file of a bundle. */
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

// ---------------------------------------------------------------- trajectory

export interface TrajectoryExportOptions {
  sessionId: string;
  /** Branches exported; steps on their paths get a line. */
  branchIds: readonly string[];
  policy: LabelPolicy;
  /** Step id → exported branch ids whose path contains it (computed when absent). */
  onBranches?: Map<string, string[]>;
}

function toolCallRecord(c: ToolCall): Record<string, unknown> {
  return { id: c.id, name: c.name, arguments: c.arguments, argumentsValid: parseArguments(c.arguments).valid };
}

function stepRecord(t: Trajectory, s: Step, o: TrajectoryExportOptions, onBranches: string[]): Record<string, unknown> {
  const label = labelUnder(s, o.policy.sources);
  const argsValid = (s.response?.toolCalls ?? []).every((c) => parseArguments(c.arguments).valid);
  const empty = !!s.response && s.response.toolCalls.length === 0 && s.response.content === '';
  const decision = s.response && !empty ? decideWeight(label, argsValid, o.policy) : null;
  const r = s.response;
  return {
    kind: 'step',
    sessionId: o.sessionId,
    stepId: s.id,
    parentId: s.parentId,
    branchId: s.branchId,
    branchName: t.branches.get(s.branchId)?.name ?? s.branchId,
    rolloutId: s.rolloutId,
    depth: s.depth,
    onBranches,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt ?? null,
    promptTokens: s.promptTokens ?? null,
    retries: s.retries,
    response: r
      ? {
          content: r.content, reasoning: r.reasoning, toolCalls: r.toolCalls.map(toolCallRecord), usage: r.usage,
          finishReason: r.finishReason, durationMs: r.durationMs, humanAuthored: r.humanAuthored, author: r.author ?? null,
        }
      : null,
    results: s.results.map((x) => ({
      toolCallId: x.toolCallId, name: x.name, observation: x.observation, isError: x.isError, durationMs: x.durationMs,
      terminalId: x.terminalId ?? null, range: x.range ?? null,
    })),
    guidance: s.guidance.map((id) => guidanceRecord(t, id)).filter((g) => g !== null),
    summary: s.summary ? { text: s.summary.text, coveredStepIds: s.summary.coveredStepIds } : null,
    checkpoint: s.checkpoint
      ? { commit: s.checkpoint.commit, cwd: s.checkpoint.cwd, shellCwd: s.checkpoint.shellCwd ?? null, env: s.checkpoint.env ?? null }
      : null,
    checkpointError: s.checkpointError ?? null,
    label: label ? labelRecord(label) : null,
    weight: decision ? decision.weight : null,
    weightReason: decision ? decision.reason : null,
    labelHistory: s.labelHistory.map(labelRecord),
    comments: s.comments.map((id) => t.comments.get(id)).filter((c) => c !== undefined).map((c) => ({
      id: c.id, text: c.text, author: c.author, createdAt: c.createdAt, editedAt: c.editedAt ?? null,
    })),
    children: s.children,
  };
}

function labelRecord(l: Step['labelHistory'][number]): Record<string, unknown> {
  return {
    label: l.label, tags: l.tags, note: l.note, source: l.source, author: l.author, at: l.at, seq: l.seq,
    rule: l.rule ?? null, rationale: l.rationale ?? null, cleared: l.rule === '__cleared__',
  };
}

function guidanceRecord(t: Trajectory, id: string): Record<string, unknown> | null {
  const g = t.guidance.get(id);
  if (!g) return null;
  return {
    id: g.id, text: g.text, author: g.author, branchId: g.branchId ?? null, queuedAt: g.queuedAt,
    deliveredAt: g.delivered?.at ?? null, deliveredAfterStepId: g.delivered ? g.delivered.stepId : null, delivered: !!g.delivered,
  };
}

/** Step id → exported branches whose path contains it. */
export function stepBranches(t: Trajectory, branchIds: readonly string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const b of branchIds) {
    for (const { id } of branchPath(t, b)) {
      const l = m.get(id);
      if (l) l.push(b);
      else m.set(id, [b]);
    }
  }
  return m;
}

export function trajectorySessionRecord(t: Trajectory, o: TrajectoryExportOptions): Record<string, unknown> {
  return {
    kind: 'session',
    sessionId: o.sessionId,
    exportedBranches: [...o.branchIds],
    labelPolicy: o.policy,
    rollouts: [...t.rollouts.values()].map((r) => ({
      id: r.id, branchId: r.branchId, task: r.task, endpoint: r.endpoint, policy: r.policy, maxSteps: r.maxSteps,
      parentStepId: r.parentStepId, state: r.state, error: r.error ?? null, reason: r.reason ?? null, startedAt: r.startedAt,
    })),
    branches: [...t.branches.values()].map((b) => ({ id: b.id, name: b.name, fromStepId: b.fromStepId, createdAt: b.createdAt, author: b.author, reason: b.reason })),
    guidance: [...t.guidance.keys()].map((id) => guidanceRecord(t, id)),
  };
}

/** The record objects of the trajectory JSONL of one session (session line first). */
export function trajectoryRecords(t: Trajectory, o: TrajectoryExportOptions): Array<Record<string, unknown>> {
  const onBranches = o.onBranches ?? stepBranches(t, o.branchIds);
  const out: Array<Record<string, unknown>> = [trajectorySessionRecord(t, o)];
  for (const id of t.order) {
    const b = onBranches.get(id);
    if (!b) continue;
    out.push(stepRecord(t, t.steps.get(id)!, o, b));
  }
  return out;
}

export function toTrajectoryJsonl(t: Trajectory, o: TrajectoryExportOptions): string {
  return trajectoryRecords(t, o).map((r) => `${JSON.stringify(r)}\n`).join('');
}
