// The conversation of one branch path, rebuilt from the trajectory fold. Every
// exporter (OpenAI, ShareGPT) and the LLM judge start from this neutral form.
//
// Shape, in order:
//   system (the rollout's system prompt, passed in by the caller)
//   user   the task (rollout.started.task of the path's root rollout)
//   user   guidance delivered before the first step (stepId null), `<real_user>…</real_user>`
//   then for each step on the path that has a model response:
//     assistant  content, reasoning (kept apart), tool_calls; carries stepId and label
//     tool       one per tool call, in call order, tool_call_id = the call's id. A call
//                without a recorded result (interrupted step) still gets an error turn,
//                so every call is answered exactly once; surplus results are dropped.
//     user       guidance delivered after this step's results, `<real_user>…</real_user>`
//
// Summaries. A step carrying `summary` replaced the steps it covers in the context the
// model saw afterwards. Two modes:
//   'verbatim' (default, used for training export): every step of the path verbatim and
//     no summary turn. Training on the full path teaches each action from what was
//     actually observed; the summary was a context-length device of the rollout, not
//     behaviour to imitate. (The trajectory JSONL keeps the summaries.)
//   'context': what the model saw at the end of the path: covered steps are replaced by
//     one user turn holding the summary, at the place of the first covered step; the
//     guidance delivered during the covered steps is kept (guidance survives summaries).
import type { LabelSource } from '../../../shared/events';
import { branchPath, type LabelRecord, type Step, type Trajectory } from '../../../shared/trajectory';
import { ApolloError } from '../../../shared/errors';
import { labelUnder } from './policy';

export interface ExportToolCall {
  /** Id used in the export: the model's id unless it was empty or repeated in this conversation. */
  id: string;
  /** The id the model produced. */
  originalId: string;
  name: string;
  /** Arguments as exported: the model's JSON text, or `{"_raw": "<text>"}` when it was not a JSON object. */
  arguments: string;
  /** The model's raw argument text. */
  rawArguments: string;
  /** True when the raw text parsed as a JSON object (empty text counts as `{}`). */
  argumentsValid: boolean;
}

export type ChatTurn =
  | { role: 'system'; content: string }
  | { role: 'user'; kind: 'task' | 'guidance' | 'summary'; content: string; guidanceId?: string; stepId?: string; author?: string }
  | {
      role: 'assistant';
      stepId: string;
      content: string;
      reasoning: string;
      toolCalls: ExportToolCall[];
      /** Label in force among the honoured sources (see LabelPolicy.sources); null = unlabelled. */
      label: LabelRecord | null;
      humanAuthored: boolean;
    }
  | { role: 'tool'; stepId: string; toolCallId: string; name: string; content: string; isError: boolean; missing: boolean };

export type AssistantTurn = Extract<ChatTurn, { role: 'assistant' }>;

export interface Conversation {
  branchId: string;
  branchName: string;
  task: string;
  systemPrompt: string;
  turns: ChatTurn[];
  /** Ids of the steps on the path (all of them, with or without a response), root first. */
  pathStepIds: string[];
}

export interface ConversationOptions {
  systemPrompt: string;
  mode?: 'verbatim' | 'context';
  /** Label sources honoured for `label` (default all). */
  sources?: readonly LabelSource[];
}

export const MISSING_RESULT = 'Error: no result was recorded for this tool call (the step was interrupted before it finished).';

export function formatGuidance(text: string): string {
  return `<real_user>${text}</real_user>`;
}

/** Parse model argument text; valid means a JSON object (empty text counts as {}). */
export function parseArguments(raw: string): { valid: boolean; value: Record<string, unknown> | null } {
  if (raw.trim() === '') return { valid: true, value: {} };
  try {
    const v: unknown = JSON.parse(raw);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return { valid: true, value: v as Record<string, unknown> };
  } catch {
    // fall through
  }
  return { valid: false, value: null };
}

function exportArguments(raw: string): { text: string; valid: boolean } {
  const p = parseArguments(raw);
  if (!p.valid) return { text: JSON.stringify({ _raw: raw }), valid: false };
  return { text: raw.trim() === '' ? '{}' : raw, valid: true };
}

/** Guidance delivered before the first step of a path whose root is on `rootBranch`. */
function leadingGuidance(t: Trajectory, rootBranch: string): Array<{ id: string; text: string; author: string }> {
  let firstRolloutBranch: string | undefined;
  for (const r of t.rollouts.values()) {
    firstRolloutBranch = r.branchId;
    break;
  }
  const out: Array<{ id: string; text: string; author: string; at: number; q: number }> = [];
  for (const g of t.guidance.values()) {
    if (!g.delivered || g.delivered.stepId !== null) continue;
    if ((g.branchId ?? firstRolloutBranch) !== rootBranch) continue;
    out.push({ id: g.id, text: g.text, author: g.author, at: g.delivered.at, q: g.queuedAt });
  }
  // Stable sort keeps map (event) order for ties.
  return out.sort((a, b) => a.at - b.at || a.q - b.q).map(({ id, text, author }) => ({ id, text, author }));
}

export function buildConversation(t: Trajectory, branchId: string, opts: ConversationOptions): Conversation {
  const branch = t.branches.get(branchId);
  if (!branch) throw new ApolloError('NOT_FOUND', `No branch ${branchId}`);
  const path = branchPath(t, branchId);
  const pathBranches = new Set([branchId, ...path.map((p) => p.branchId)]);
  const rootStep = path[0];
  const rootBranch = rootStep ? rootStep.branchId : branchId;
  const rollout = (rootStep && t.rollouts.get(rootStep.rolloutId)) ?? [...t.rollouts.values()].find((r) => r.branchId === branchId) ?? [...t.rollouts.values()][0];
  const task = rollout?.task ?? '';
  const mode = opts.mode ?? 'verbatim';

  const turns: ChatTurn[] = [{ role: 'system', content: opts.systemPrompt }, { role: 'user', kind: 'task', content: task }];
  for (const g of leadingGuidance(t, rootBranch)) {
    turns.push({ role: 'user', kind: 'guidance', content: formatGuidance(g.text), guidanceId: g.id, author: g.author });
  }

  // Context mode: each covered step belongs to the latest summary (deepest owner on the path) covering it.
  const summaryOf = new Map<string, Step>();
  if (mode === 'context') {
    const onPath = new Set(path.map((s) => s.id));
    for (const s of path) {
      if (!s.summary) continue;
      for (const id of s.summary.coveredStepIds) if (onPath.has(id)) summaryOf.set(id, s);
    }
  }
  const emittedSummaries = new Set<string>();
  const usedIds = new Set<string>();

  for (const step of path) {
    const owner = summaryOf.get(step.id);
    if (owner) {
      if (!emittedSummaries.has(owner.id)) {
        emittedSummaries.add(owner.id);
        turns.push({ role: 'user', kind: 'summary', content: owner.summary!.text, stepId: owner.id });
      }
    } else if (step.response) {
      const r = step.response;
      const calls: ExportToolCall[] = r.toolCalls.map((c, i) => {
        let id = c.id;
        if (!id || usedIds.has(id)) {
          let n = 0;
          do id = `call_${step.id}_${i}${n ? `_${n}` : ''}`;
          while (usedIds.has(id) && ++n);
        }
        usedIds.add(id);
        const a = exportArguments(c.arguments);
        return { id, originalId: c.id, name: c.name, arguments: a.text, rawArguments: c.arguments, argumentsValid: a.valid };
      });
      turns.push({
        role: 'assistant', stepId: step.id, content: r.content, reasoning: r.reasoning, toolCalls: calls,
        label: labelUnder(step, opts.sources), humanAuthored: r.humanAuthored,
      });
      const used = new Set<number>();
      r.toolCalls.forEach((c, i) => {
        const call = calls[i]!;
        // First result recorded for this call id (by position when ids repeat inside the step).
        let idx = step.results.findIndex((res, j) => !used.has(j) && res.toolCallId === c.id);
        if (idx < 0 && !c.id) idx = step.results.findIndex((res, j) => !used.has(j) && !res.toolCallId && res.name === c.name);
        const res = idx >= 0 ? step.results[idx] : undefined;
        if (res) used.add(idx);
        turns.push({
          role: 'tool', stepId: step.id, toolCallId: call.id, name: c.name,
          content: res ? res.observation : MISSING_RESULT, isError: res ? res.isError : true, missing: !res,
        });
      });
    }
    // Guidance survives summaries and steps without a response; guidance given to a
    // sibling branch at a shared step belongs to that branch only.
    for (const gid of step.guidance) {
      const g = t.guidance.get(gid);
      if (g && (!g.branchId || pathBranches.has(g.branchId))) turns.push({ role: 'user', kind: 'guidance', content: formatGuidance(g.text), guidanceId: g.id, stepId: step.id, author: g.author });
    }
  }
  return { branchId, branchName: branch.name, task, systemPrompt: opts.systemPrompt, turns, pathStepIds: path.map((s) => s.id) };
}

export function assistantTurns(c: Conversation): AssistantTurn[] {
  return c.turns.filter((x): x is AssistantTurn => x.role === 'assistant');
}
