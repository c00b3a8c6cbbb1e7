// The trajectory tree as a pure fold over a session's events, shared by the
// rollout engine (to rebuild a step's context), the exporters and the UI.
import { elidedOf } from './compact-events';
import type { EndpointRecord, LabelSource, LabelTag, LabelValue, RolloutState, SessionEvent, SkippedFile, StepWorld, ToolCall, Usage, WireMessage } from './events';

export interface StepResult {
  toolCallId: string;
  name: string;
  observation: string;
  isError: boolean;
  durationMs: number;
  terminalId?: string;
  range?: [number, number];
  /**
   * Folded from a compact event (shared/compact-events.ts): `observation` is a preview
   * and this is the full observation's length; the full text is fetched on demand.
   */
  elided?: number;
}

export interface Guidance {
  id: string;
  text: string;
  author: string;
  queuedAt: number;
  branchId?: string;
  /** Set once delivered: the step after which it reached the agent (null: before the first). */
  delivered?: { stepId: string | null; at: number };
}

export interface LabelRecord {
  label: LabelValue;
  tags: LabelTag[];
  note: string;
  source: LabelSource;
  author: string;
  at: number;
  seq: number;
  rule?: string;
  rationale?: string;
}

export interface Comment {
  id: string;
  stepId: string;
  text: string;
  author: string;
  createdAt: number;
  editedAt?: number;
}

export interface Step {
  id: string;
  parentId: string | null;
  branchId: string;
  rolloutId: string;
  depth: number;
  startedAt: number;
  finishedAt?: number;
  /** Time paused and time waiting on the endpoint (absent in logs older than the request record). */
  pausedMs?: number;
  modelMs?: number;
  /** The latest model request built for this step (the one that produced its response). */
  requestId?: string;
  /** Hand-written and human steps: the world the action ran in. */
  world?: StepWorld;
  /** An imported step no model produced as it stands, and why (step.started): never trained. */
  notTrained?: string;
  /** An imported step whose times or durations its source does not record (step.started). */
  timing?: 'none' | 'no-durations';
  response?: {
    content: string;
    reasoning: string;
    toolCalls: ToolCall[];
    usage: Usage | null;
    finishReason: string | null;
    durationMs: number;
    humanAuthored: boolean;
    author?: string;
    requestId?: string;
    toolMode?: 'tools' | 'text';
    origin?: 'model' | 'hand' | 'terminal' | 'replay';
    /**
     * Folded from a compact event (shared/compact-events.ts): `reasoning` is a preview
     * and this is the full reasoning's length; the full text is fetched on demand.
     */
    reasoningElided?: number;
  };
  results: StepResult[];
  /** Guidance inserted after this step's results. */
  guidance: string[];
  retries: number;
  promptTokens?: number;
  /** `coveredElided`: folded from a compact event, whose `coveredStepIds` is empty; this is how many it had. */
  summary?: { text: string; coveredStepIds: string[]; requestId?: string; coveredElided?: number };
  checkpoint?: {
    commit: string; cwd: string; shellCwd?: string; env?: Record<string, string>;
    /** What the checkpoint left out (bounded list) and how many paths in all. */
    skipped?: SkippedFile[]; skippedCount?: number;
  };
  checkpointError?: string;
  /** Every label ever set, oldest first (the history). */
  labelHistory: LabelRecord[];
  comments: string[];
  children: string[];
}

export interface Branch {
  id: string;
  name: string;
  fromStepId: string | null;
  createdAt: number;
  author: string;
  reason: 'root' | 'branch' | 'rewind';
}

export interface Rollout {
  id: string;
  branchId: string;
  task: string;
  endpoint: EndpointRecord | null;
  policy: 'model' | 'replay' | 'human';
  maxSteps: number;
  parentStepId: string | null;
  state: RolloutState;
  error?: string;
  reason?: string;
  startedAt: number;
}

/** One model request as recorded: the messages of `base` cut to `keep`, then `append`. */
export interface RequestRecord {
  id: string;
  stepId: string;
  purpose: 'step' | 'summary';
  base: string | null;
  keep: number;
  append: WireMessage[];
  /** Parallel to `append`: the step each message belongs to (null: none; absent: unknown). */
  owners?: (string | null)[];
  config: string;
  /** Folded from a compact event: its messages were not sent, so it cannot be rebuilt here. */
  elided?: true;
}

export interface Trajectory {
  steps: Map<string, Step>;
  requests: Map<string, RequestRecord>;
  /** Request configs (wire body without messages) by hash. */
  configs: Map<string, Record<string, unknown>>;
  /** Step ids in the order they started. */
  order: string[];
  branches: Map<string, Branch>;
  rollouts: Map<string, Rollout>;
  guidance: Map<string, Guidance>;
  comments: Map<string, Comment>;
}

export function emptyTrajectory(): Trajectory {
  return { steps: new Map(), requests: new Map(), configs: new Map(), order: [], branches: new Map(), rollouts: new Map(), guidance: new Map(), comments: new Map() };
}

/** Apply one event; returns true when it changed the trajectory. Usable incrementally. */
export function applyEvent(t: Trajectory, ev: SessionEvent): boolean {
  switch (ev.type) {
    case 'rollout.started':
      t.rollouts.set(ev.rolloutId, {
        id: ev.rolloutId, branchId: ev.branchId, task: ev.task, endpoint: ev.endpoint, policy: ev.policy,
        maxSteps: ev.maxSteps, parentStepId: ev.parentStepId, state: 'running', startedAt: ev.ts,
      });
      if (!t.branches.has(ev.branchId)) {
        t.branches.set(ev.branchId, { id: ev.branchId, name: ev.branchId, fromStepId: ev.parentStepId, createdAt: ev.ts, author: 'agent', reason: 'root' });
      }
      return true;
    case 'rollout.state': {
      const r = t.rollouts.get(ev.rolloutId);
      if (!r) return false;
      r.state = ev.state;
      r.error = ev.error;
      r.reason = ev.reason;
      return true;
    }
    case 'branch.created':
      t.branches.set(ev.branchId, { id: ev.branchId, name: ev.name, fromStepId: ev.fromStepId, createdAt: ev.ts, author: ev.author, reason: ev.reason });
      return true;
    case 'step.started': {
      const step: Step = {
        id: ev.stepId, parentId: ev.parentId, branchId: ev.branchId, rolloutId: ev.rolloutId, depth: ev.depth,
        startedAt: ev.ts, results: [], guidance: [], retries: 0, labelHistory: [], comments: [], children: [],
        ...(ev.world ? { world: ev.world } : {}),
        ...(ev.notTrained ? { notTrained: ev.notTrained } : {}),
        ...(ev.timing ? { timing: ev.timing } : {}),
      };
      t.steps.set(ev.stepId, step);
      t.order.push(ev.stepId);
      if (ev.parentId) t.steps.get(ev.parentId)?.children.push(ev.stepId);
      if (!t.branches.has(ev.branchId)) {
        t.branches.set(ev.branchId, { id: ev.branchId, name: ev.branchId, fromStepId: ev.parentId, createdAt: ev.ts, author: 'agent', reason: 'root' });
      }
      return true;
    }
    case 'model.response': {
      const s = t.steps.get(ev.stepId);
      if (!s) return false;
      s.response = {
        content: ev.content, reasoning: ev.reasoning, toolCalls: ev.toolCalls, usage: ev.usage,
        finishReason: ev.finishReason, durationMs: ev.durationMs, humanAuthored: ev.humanAuthored ?? false, author: ev.author,
        requestId: ev.requestId, toolMode: ev.toolMode, origin: ev.origin,
        ...(elidedOf(ev)?.reasoning !== undefined ? { reasoningElided: elidedOf(ev)!.reasoning } : {}),
      };
      return true;
    }
    case 'request.config':
      // A compact view's config has no body: leave it unknown rather than empty.
      if (!elidedOf(ev)?.config) t.configs.set(ev.hash, ev.config);
      return true;
    case 'model.request': {
      t.requests.set(ev.requestId, {
        id: ev.requestId, stepId: ev.stepId, purpose: ev.purpose, base: ev.base, keep: ev.keep, append: ev.append, config: ev.config,
        ...(ev.owners ? { owners: ev.owners } : {}),
        ...(elidedOf(ev)?.messages !== undefined ? { elided: true as const } : {}),
      });
      const s = t.steps.get(ev.stepId);
      if (s && ev.purpose === 'step') s.requestId = ev.requestId;
      return true;
    }
    case 'action.result': {
      const s = t.steps.get(ev.stepId);
      if (!s) return false;
      const full = elidedOf(ev)?.observation;
      const result: StepResult = {
        toolCallId: ev.toolCallId, name: ev.name, observation: '', isError: ev.isError,
        durationMs: ev.durationMs, terminalId: ev.terminalId, range: ownRange(ev.name, ev.range),
        ...(full !== undefined ? { elided: full } : {}),
      };
      // The host keeps a long observation on disk, behind a getter (store/event-log.ts):
      // the step reads it through the event rather than holding the text.
      const lazy = Object.getOwnPropertyDescriptor(ev, 'observation')?.get;
      if (lazy) Object.defineProperty(result, 'observation', { get: lazy, enumerable: true, configurable: true });
      else result.observation = ev.observation;
      s.results.push(result);
      return true;
    }
    case 'step.finished': {
      const s = t.steps.get(ev.stepId);
      if (!s) return false;
      s.finishedAt = ev.ts;
      s.promptTokens = ev.promptTokens;
      if (ev.pausedMs !== undefined) s.pausedMs = ev.pausedMs;
      if (ev.modelMs !== undefined) s.modelMs = ev.modelMs;
      return true;
    }
    case 'llm.retry': {
      const s = t.steps.get(ev.stepId);
      if (s) s.retries = Math.max(s.retries, ev.attempt);
      return !!s;
    }
    case 'guidance.queued':
      t.guidance.set(ev.guidanceId, { id: ev.guidanceId, text: ev.text, author: ev.author, queuedAt: ev.ts, branchId: ev.branchId });
      return true;
    case 'guidance.delivered': {
      const g = t.guidance.get(ev.guidanceId);
      if (!g) return false;
      g.delivered = { stepId: ev.stepId, at: ev.ts };
      if (ev.stepId) t.steps.get(ev.stepId)?.guidance.push(ev.guidanceId);
      return true;
    }
    case 'summary.created': {
      const s = t.steps.get(ev.stepId);
      if (!s) return false;
      const covered = elidedOf(ev)?.covered;
      s.summary = { text: ev.summary, coveredStepIds: ev.coveredStepIds, ...(ev.requestId ? { requestId: ev.requestId } : {}), ...(covered !== undefined ? { coveredElided: covered } : {}) };
      return true;
    }
    case 'checkpoint.taken': {
      const s = t.steps.get(ev.stepId);
      if (!s) return false;
      s.checkpoint = {
        commit: ev.commit, cwd: ev.cwd, shellCwd: ev.shellCwd, env: ev.env,
        ...(ev.skipped ? { skipped: ev.skipped, skippedCount: ev.skippedCount ?? ev.skipped.length } : {}),
      };
      return true;
    }
    case 'checkpoint.failed': {
      const s = t.steps.get(ev.stepId);
      if (s) s.checkpointError = ev.error;
      return !!s;
    }
    case 'comment.added':
      t.comments.set(ev.commentId, { id: ev.commentId, stepId: ev.stepId, text: ev.text, author: ev.author, createdAt: ev.ts });
      t.steps.get(ev.stepId)?.comments.push(ev.commentId);
      return true;
    case 'comment.edited': {
      const c = t.comments.get(ev.commentId);
      if (!c) return false;
      c.text = ev.text;
      c.editedAt = ev.ts;
      return true;
    }
    case 'comment.deleted': {
      const c = t.comments.get(ev.commentId);
      if (!c) return false;
      t.comments.delete(ev.commentId);
      const s = t.steps.get(c.stepId);
      if (s) s.comments = s.comments.filter((id) => id !== ev.commentId);
      return true;
    }
    case 'label.set': {
      const s = t.steps.get(ev.stepId);
      if (!s) return false;
      s.labelHistory.push({
        label: ev.label, tags: ev.tags, note: ev.note, source: ev.source, author: ev.author, at: ev.ts, seq: ev.seq,
        rule: ev.rule, rationale: ev.rationale,
      });
      return true;
    }
    case 'label.cleared': {
      const s = t.steps.get(ev.stepId);
      if (!s) return false;
      // A cleared source no longer counts; history keeps the earlier entries for audit.
      s.labelHistory.push({ label: 'keep', tags: [], note: '', source: ev.source, author: ev.author, at: ev.ts, seq: ev.seq, rule: '__cleared__' });
      return true;
    }
    default:
      return false;
  }
}

/**
 * Each call with its result: the next one recorded for its id (results are logged in
 * call order), so parallel calls that share an id (some servers repeat one) get their own.
 */
export function pairResults<R extends { toolCallId: string }>(calls: ReadonlyArray<{ id: string }>, results: readonly R[]): Array<R | undefined> {
  const byId = new Map<string, R[]>();
  for (const r of results) {
    const same = byId.get(r.toolCallId);
    if (same) same.push(r);
    else byId.set(r.toolCallId, [r]);
  }
  return calls.map((c) => byId.get(c.id)?.shift());
}

/**
 * The recording span a result is credited with. A read-back (get_session_output)
 * causes no output of its own: logs before it was fixed recorded the window it read,
 * which belongs to earlier steps, so it is placed where that window ended, as newer
 * logs record it (replay markers, search hits, the step's output and trajectory.jsonl
 * would otherwise credit this step with earlier steps' output).
 */
function ownRange(name: string, range: [number, number] | undefined): [number, number] | undefined {
  return range && name === 'get_session_output' ? [range[1], range[1]] : range;
}

export function foldTrajectory(events: readonly SessionEvent[]): Trajectory {
  const t = emptyTrajectory();
  for (const ev of events) applyEvent(t, ev);
  return t;
}

const PRECEDENCE: LabelSource[] = ['annotator', 'judge', 'rule'];

/**
 * The label in force: the latest of the highest-precedence source (annotator >
 * judge > rule); a clear hides that source. `sources` restricts which count (an
 * export policy may honour only some).
 */
export function effectiveLabel(step: Step, sources: readonly LabelSource[] = PRECEDENCE): LabelRecord | null {
  for (const source of PRECEDENCE) {
    if (!sources.includes(source)) continue;
    for (let i = step.labelHistory.length - 1; i >= 0; i--) {
      const l = step.labelHistory[i]!;
      if (l.source !== source) continue;
      if (l.rule === '__cleared__') break;
      return l;
    }
  }
  return null;
}

/** Steps from the root down to `stepId`, inclusive. */
export function pathTo(t: Trajectory, stepId: string | null): Step[] {
  const out: Step[] = [];
  let cur = stepId ? t.steps.get(stepId) : undefined;
  // A damaged or hand-edited log may make a step its own ancestor: never loop forever.
  const seen = new Set<string>();
  while (cur && !seen.has(cur.id)) {
    seen.add(cur.id);
    out.push(cur);
    cur = cur.parentId ? t.steps.get(cur.parentId) : undefined;
  }
  return out.reverse();
}

/** The last step started on a branch, or null if it has none yet. */
export function branchLeaf(t: Trajectory, branchId: string): Step | null {
  for (let i = t.order.length - 1; i >= 0; i--) {
    const s = t.steps.get(t.order[i]!)!;
    if (s.branchId === branchId) return s;
  }
  return null;
}

/**
 * Every step once, in the order they started (its first step.started): the order a paged
 * open's pages are ranges of (electron/core/open-pages.ts).
 */
export function stepOrder(t: Trajectory): string[] {
  return [...new Set(t.order)];
}

/** The latest rollout (of a branch, or of the session). */
export function latestRollout(t: Trajectory, branchId?: string): Rollout | null {
  let last: Rollout | null = null;
  for (const r of t.rollouts.values()) if (!branchId || r.branchId === branchId) last = r;
  return last;
}

/** What a session shows when nobody picked a branch: the latest rollout's, else main, else the first. */
export function defaultBranchId(t: Trajectory): string | null {
  const r = latestRollout(t);
  if (r) return r.branchId;
  if (t.branches.has('main')) return 'main';
  const first = t.branches.keys().next();
  return first.done ? null : first.value;
}

/** The full path of a branch: its ancestors on other branches, then its own steps. */
export function branchPath(t: Trajectory, branchId: string): Step[] {
  const leaf = branchLeaf(t, branchId);
  if (leaf) return pathTo(t, leaf.id);
  const b = t.branches.get(branchId);
  return b ? pathTo(t, b.fromStepId) : [];
}

/**
 * The messages of a recorded request: its base's messages cut to `keep`, then its
 * own `append`, applied from the oldest request of the chain. Null when the chain
 * is broken (a request missing from a damaged log) or cyclic.
 */
export function requestMessages(t: Trajectory, requestId: string): WireMessage[] | null {
  return ownedRequestMessages(t, requestId)?.messages ?? null;
}

export type OwnedMessages = { messages: WireMessage[]; owners: (string | null)[] };

/**
 * requestMessages with, for each message, the step it belongs to (null: none or
 * unknown). With `memo`, results are remembered and a chain stops at the first
 * request already known: each request extends its base, so rebuilding every request
 * of a long branch costs what each adds, not the whole chain each time. The arrays
 * returned are shared with the memo: never change them.
 */
export function ownedRequestMessages(t: Trajectory, requestId: string, memo?: Map<string, OwnedMessages | null>): OwnedMessages | null {
  const remember = (v: OwnedMessages | null): OwnedMessages | null => {
    if (memo) {
      memo.set(requestId, v);
      // Only recent requests are bases of the next ones.
      if (memo.size > 16) memo.delete(memo.keys().next().value!);
    }
    return v;
  };
  const hit = memo?.get(requestId);
  if (hit !== undefined) return hit;
  const chain: RequestRecord[] = [];
  const seen = new Set<string>();
  let cur: string | null = requestId;
  let base: OwnedMessages | null = null;
  while (cur !== null) {
    const known = memo?.get(cur);
    if (known !== undefined) {
      if (known === null) return remember(null);
      base = known;
      break;
    }
    if (seen.has(cur)) return remember(null);
    seen.add(cur);
    const r = t.requests.get(cur);
    // An elided request (a compact view's) has no messages to rebuild from.
    if (!r || r.elided) return remember(null);
    chain.push(r);
    cur = r.base;
  }
  const messages: WireMessage[] = base ? base.messages.slice() : [];
  const owners: (string | null)[] = base ? base.owners.slice() : [];
  for (let i = chain.length - 1; i >= 0; i--) {
    const r = chain[i]!;
    if (r.keep > messages.length) return remember(null);
    messages.length = r.keep;
    owners.length = r.keep;
    r.append.forEach((m, j) => {
      messages.push(m);
      owners.push(r.owners?.[j] ?? null);
    });
  }
  return remember({ messages, owners });
}
