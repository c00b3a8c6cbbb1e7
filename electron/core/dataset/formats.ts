// The full-fidelity trajectory JSONL of a bundle, as pure functions of the trajectory
// fold: same input, byte-identical output (fixed key order, no clock). Per session one
// {"kind":"session"} line (rollouts, branches, all guidance, exported branches), then
// one {"kind":"step"} line per step on an exported branch, in start order, with
// everything the fold knows about it. The training files are built elsewhere, from
// the request record (examples.ts, trainers.ts).
import type { ToolCall } from '../../../shared/events';
import { branchPath, type Step, type Trajectory } from '../../../shared/trajectory';
import { stepDecision } from './examples';
import { parseArguments } from './messages';
import { labelUnder, type LabelPolicy, type WeightReason } from './policy';

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

// ---------------------------------------------------------------- trajectory

export interface TrajectoryExportOptions {
  sessionId: string;
  /** Branches exported; steps on their paths get a line. */
  branchIds: readonly string[];
  policy: LabelPolicy;
  /** Step id → exported branch ids whose path contains it (computed when absent). */
  onBranches?: Map<string, string[]>;
  /**
   * Why the training files did not train a step its label would train; only the example
   * pass knows, and a merge reads the reason here. 'empty-context': its context holds an
   * empty reply as an older version sent it (examples.ts); 'secret': its trained turn held
   * a secret and was masked; 'no-context': no example holds it as a model turn (an
   * import's context shows it otherwise). Absent: a trajectory-only view, the label decides.
   */
  untrained?: (stepId: string) => UntrainedReason | null;
}

export type UntrainedReason = 'empty-context' | 'secret' | 'no-context';

function toolCallRecord(c: ToolCall): Record<string, unknown> {
  return { id: c.id, name: c.name, arguments: c.arguments, argumentsValid: parseArguments(c.arguments).valid };
}

function stepRecord(t: Trajectory, s: Step, o: TrajectoryExportOptions, onBranches: string[]): Record<string, unknown> {
  const label = labelUnder(s, o.policy.sources);
  // As the OpenAI lines decide it (a merge reads it here): an empty reply, replayed, a nameless call, the label under the policy,
  // and what only the example pass knows.
  const decided = s.response ? stepDecision(t, s, o.policy) : null;
  const untrained = decided?.weight === 1 ? o.untrained?.(s.id) : null;
  const decision = untrained ? { weight: 0, reason: untrained } : decided;
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
    // Only where it was not the parent's own (a hand-written action's says which checkpoint it ran on).
    ...(s.world ? { world: s.world } : {}),
    ...(s.notTrained ? { notTrained: s.notTrained } : {}),
    // Imported: startedAt / finishedAt / durations stand in where the source has none.
    ...(s.timing ? { timing: s.timing } : {}),
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
