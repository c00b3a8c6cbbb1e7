// Training examples as views over the request record: one example per context
// window, exactly as the model saw it. A window is a run of steps whose requests
// each extend the previous one (no summary replaced the context in between); its
// example is the last request of the window, verbatim, plus that step's reply. Each
// assistant turn in it belongs to a step (the record names the owner of every
// message), so its weight comes from that step's label.
//
// Every trainer writer (OpenAI, Axolotl, LLaMA-Factory, mistral) is an adapter over
// this one stream; none rebuilds a prompt of its own.
//
// Rules that hold for the whole stream:
//   - a step is trained in at most one example (the first that holds it with weight
//     1, in branch order, then window order): a prefix shared by several exported
//     branches stays weight-0 context elsewhere; and only in a window of its own (the
//     context before its turn is the request it answered), so the recent steps a
//     summary kept, repeated after it, are context there whatever their label;
//   - an example with nothing to train is left out and counted;
//   - with maxTokens, an over-long example is split into examples that each end on
//     an assistant turn and keep the fixed head (system, task, summary) plus as many
//     earlier turns as fit, as weight-0 context; turns that do not fit are dropped.
//   - a step whose log predates the request record gets the context today's prompt
//     code builds, and the example says `source: 'reconstructed'`;
//   - the requests of a session an importer derived from a transcript (import.origin
//     context 'derived': no system prompt or tool schemas, rebuilt from the messages)
//     are not the wire, and the example says `source: 'derived'`;
//   - a replayed step (a replay rollout re-ran a recorded action with no model) is
//     never trained: no model produced it from the context it is in here;
//   - an empty reply (no text, no tool call) is never trained: there is nothing in it,
//     and a model taught to answer with nothing learns to stall. Later requests do not
//     carry it (context.ts), but versions before that sent it back as
//     {"role":"assistant","content":""}, which OpenAI's and mistral's fine-tuning
//     reject. An example whose context holds such a turn ends before it; the steps
//     after it are left out (never trained elsewhere either: no other context is the
//     one they were produced in) and counted, never the context rewritten.
import type { WireMessage } from '../../../shared/events';
import { branchPath, effectiveLabel, ownedRequestMessages, type OwnedMessages, type Step, type Trajectory } from '../../../shared/trajectory';
import { assistantMessage, buildOwnedMessages, emptyResponse, stepMessages, type ToolMode } from '../rollout/context';
import { canonicalJson } from '../rollout/request-record';
import { TOOL_SCHEMAS } from '../rollout/tools';
import { validToolCall } from './messages';
import { decideWeight, type LabelPolicy, type WeightDecision } from './policy';
import { messageTokens, toolsTokens } from './tokens';
import { fixedHead } from './trainers';

export type ExampleSource = 'recorded' | 'extended' | 'reconstructed' | 'derived';

export interface Example {
  sessionId: string;
  branchId: string;
  kind: 'window' | 'summary';
  /** The messages as the model saw them, ending on the trained reply. */
  messages: WireMessage[];
  /** The step each message belongs to (null: system, task, summary turns). */
  owners: (string | null)[];
  /** Per message: 0/1 for assistant turns, null for the rest. */
  weights: (0 | 1 | null)[];
  /** Tool schemas the requests carried (undefined: text-action mode, none were sent). */
  tools: unknown[] | undefined;
  toolMode: ToolMode;
  /**
   * 'recorded': every message is from the request record. 'extended': a recorded
   * request plus the steps after it that no request carried yet (hand-written or
   * human steps at the end of a branch), rendered as the next request would carry
   * them. 'reconstructed': the log predates the record. 'derived': the record is an
   * importer's, rebuilt from a transcript that does not say what the model was sent
   * (and the steps after it, rendered as for 'extended').
   */
  source: ExampleSource;
  /** Steps trained (weight 1) in this example, in order. */
  trainedSteps: string[];
  /** Steps present with weight 0. */
  contextSteps: string[];
  /**
   * The steps whose replies were produced in this example's context: the window's own
   * steps, each preceded here by exactly the request it answered. The others are
   * context only (the recent steps a summary kept, before the summary's step), and no
   * weight of theirs may be 1 here, whoever labels them (a merge re-weighs turns).
   */
  ownSteps: ReadonlySet<string>;
  /** Set when a split could not bring the example under maxTokens. */
  overLimit?: boolean;
  /**
   * A split of an over-long window that leaves out turns between its fixed head and its
   * first turn: the messages before each of its turns are a cut of the request it answered.
   */
  truncated?: boolean;
}

export interface ExampleOptions {
  policy: LabelPolicy;
  /** Split examples longer than this (tokens, tools included). */
  maxTokens?: number;
  /** Export each summary request with its summary as an example of its own (default false). */
  includeSummaries?: boolean;
  /** The session's working directory, named in old rollouts' system prompts (reconstruction). */
  cwd?: string;
  /**
   * The session's requests were derived by an importer from the source's transcript
   * (its import.origin says context 'derived'): nothing runs in an imported session, so
   * every request in it is the importer's.
   */
  derivedContext?: boolean;
}

export interface SkippedExample {
  sessionId: string;
  branchId: string;
  reason: 'nothing-to-train' | 'no-actions';
  steps: number;
}

/**
 * Actions an example would have trained but left out, because its context holds an
 * empty assistant turn an older version sent (see the header).
 */
export interface EmptyContextLoss {
  sessionId: string;
  branchId: string;
  /** The steps whose empty replies the context holds, in order. */
  emptySteps: string[];
  /** The steps (`summary:<step>` for a summary example) not trained because of it. */
  steps: string[];
}

/**
 * Why a step got its weight: the label policy's reasons, 'replayed' (replayedStep),
 * 'empty' (an empty reply) or 'not-model' (an imported step its importer says no model
 * produced as it stands: Step.notTrained).
 */
export type ExampleDecision = Omit<WeightDecision, 'reason'> & { reason: WeightDecision['reason'] | 'replayed' | 'empty' | 'not-model' };

const REPLAYED: ExampleDecision = Object.freeze({ weight: 0, reason: 'replayed', unlabelled: false });
const EMPTY: ExampleDecision = Object.freeze({ weight: 0, reason: 'empty', unlabelled: false });
const NOT_MODEL: ExampleDecision = Object.freeze({ weight: 0, reason: 'not-model', unlabelled: false });

/**
 * True for a step a replay rollout copied from its source (engine.ts replayLoop): the
 * source model's reply re-run with no model and no request, so the context it is in here
 * (this run's observations, today's prompt code) is not one any model answered. Steps
 * of logs older than `origin` are known by their rollout's policy; a person's command
 * while a replay was held (origin 'terminal') is that person's own.
 */
export function replayedStep(t: Trajectory, step: Step): boolean {
  const origin = step.response?.origin;
  return origin === 'replay' || (!!step.response && origin === undefined && t.rollouts.get(step.rolloutId)?.policy === 'replay');
}

/**
 * Decisions shared by the whole stream (one per step), and which steps an example
 * already trains. Keyed by session and step: step ids are unique within a session
 * only (two copies of one recording, or logs built by the same tool, repeat them), and
 * one session's labels must never decide another's weights.
 */
export class ExampleLedger {
  private readonly trainedKeys = new Set<string>();
  private readonly leftOutKeys = new Set<string>();
  private readonly decided = new Map<string, ExampleDecision>();
  readonly skipped: SkippedExample[] = [];
  readonly emptyContext: EmptyContextLoss[] = [];

  private static key(sessionId: string, stepId: string): string {
    return `${sessionId}\u0000${stepId}`;
  }

  isTrained(sessionId: string, stepId: string): boolean {
    return this.trainedKeys.has(ExampleLedger.key(sessionId, stepId));
  }

  markTrained(sessionId: string, stepId: string): void {
    this.trainedKeys.add(ExampleLedger.key(sessionId, stepId));
  }

  /** True for a step left out because its context holds an old empty reply (EmptyContextLoss). */
  isLeftOut(sessionId: string, stepId: string): boolean {
    return this.leftOutKeys.has(ExampleLedger.key(sessionId, stepId));
  }

  leaveOut(loss: EmptyContextLoss): void {
    for (const id of loss.steps) this.leftOutKeys.add(ExampleLedger.key(loss.sessionId, id));
    this.emptyContext.push(loss);
  }

  decision(sessionId: string, stepId: string): ExampleDecision | undefined {
    return this.decided.get(ExampleLedger.key(sessionId, stepId));
  }

  decide(sessionId: string, stepId: string, d: ExampleDecision): void {
    this.decided.set(ExampleLedger.key(sessionId, stepId), d);
  }
}

interface Ctx {
  messages: WireMessage[];
  owners: (string | null)[];
  tools: unknown[] | undefined;
  toolMode: ToolMode;
  source: ExampleSource;
  /** A recorded context's request: its id, the request it extends and how many of that one's messages it keeps. */
  request?: { id: string; base: string | null; keep: number };
}

function sameMessage(a: WireMessage | undefined, b: WireMessage | undefined): boolean {
  return a === b || (!!a && !!b && canonicalJson(a) === canonicalJson(b));
}

/** True when `next` starts with every message of `prev`. */
function extendsCtx(prev: Ctx, next: Ctx): boolean {
  if (next.messages.length < prev.messages.length) return false;
  // A request made on the previous one that keeps all of it starts with its messages
  // (ownedRequestMessages builds it so): no need to compare a long window message by message at every step.
  if (prev.request && next.request?.base === prev.request.id && next.request.keep >= prev.messages.length) return true;
  for (let i = 0; i < prev.messages.length; i++) if (!sameMessage(prev.messages[i], next.messages[i])) return false;
  return true;
}

function asWire(messages: readonly unknown[]): WireMessage[] {
  return JSON.parse(JSON.stringify(messages)) as WireMessage[];
}

/** A step's weight and why: never trained when its reply is empty or replayed, else as its label and the policy say (decisionFor). */
export function stepDecision(t: Trajectory, step: Step, policy: LabelPolicy): ExampleDecision {
  if (step.response && emptyResponse(step.response)) return EMPTY;
  // A fact of the source, not a label: no annotator's keep or merge vote trains it.
  if (step.notTrained) return NOT_MODEL;
  return replayedStep(t, step) ? REPLAYED : decisionFor(step, policy);
}

export function decisionFor(step: Step, policy: LabelPolicy): WeightDecision {
  const valid = (step.response?.toolCalls ?? []).every(validToolCall);
  return decideWeight(effectiveLabel(step, policy.sources), valid, policy);
}

/** An assistant turn with neither text nor tool calls teaches nothing (and trainers reject it). */
function emptyReply(m: WireMessage): boolean {
  const calls = Array.isArray(m.tool_calls) ? m.tool_calls.length : 0;
  return m.role === 'assistant' && calls === 0 && (typeof m.content !== 'string' || m.content === '');
}

/** The owners of the empty assistant turns among `messages[from..]`, distinct, in order. */
function emptyOwners(messages: readonly WireMessage[], owners: readonly (string | null)[], from: number): string[] {
  const out: string[] = [];
  for (let i = from; i < messages.length; i++) {
    const o = owners[i];
    if (emptyReply(messages[i]!) && o && !out.includes(o)) out.push(o);
  }
  return out;
}

/**
 * The examples of one session's exported branches, in branch order. `ledger` is
 * shared across the sessions of one export.
 */
export function* sessionExamples(t: Trajectory, sessionId: string, branchIds: readonly string[], opts: ExampleOptions, ledger: ExampleLedger): Generator<Example> {
  for (const branchId of branchIds) {
    const path = branchPath(t, branchId);
    const acted = path.filter((s) => s.response);
    if (!acted.length) {
      ledger.skipped.push({ sessionId, branchId, reason: 'no-actions', steps: path.length });
      continue;
    }
    let emitted = 0;
    for (const ex of branchExamples(t, sessionId, branchId, path, opts, ledger)) {
      emitted++;
      yield ex;
    }
    if (!emitted) ledger.skipped.push({ sessionId, branchId, reason: 'nothing-to-train', steps: path.length });
  }
  if (opts.includeSummaries) yield* summaryExamples(t, sessionId, branchIds, opts, ledger);
}

function* branchExamples(t: Trajectory, sessionId: string, branchId: string, path: Step[], opts: ExampleOptions, ledger: ExampleLedger): Generator<Example> {
  if (!path.some((s) => s.requestId || s.response?.requestId)) {
    yield* reconstructedExamples(t, sessionId, branchId, path, opts, ledger);
    return;
  }
  const requests: RequestMessages = new Map();
  let prev: { step: Step; ctx: Ctx } | null = null;
  let own = new Set<string>();
  for (const step of path) {
    const ctx = contextOf(t, step, branchId, path, prev, opts, requests);
    if (prev && !extendsCtx(prev.ctx, ctx)) {
      yield* finish(t, sessionId, branchId, prev.step, prev.ctx, own, opts, ledger);
      own = new Set();
    }
    // A reply to a request the log names but cannot give back (left out of a damaged log, its
    // base missing): the extended context stands in for it, so it is context, never trained.
    if (!(ctx.source === 'extended' && (step.response?.requestId ?? step.requestId))) own.add(step.id);
    prev = { step, ctx };
  }
  if (prev) yield* finish(t, sessionId, branchId, prev.step, prev.ctx, own, opts, ledger);
}

/**
 * A log older than the request record: its windows end where a summary replaced
 * the context (the step carrying the summary starts a new one), and only each
 * window's last context is rebuilt, so the cost follows the path, not its square.
 */
function* reconstructedExamples(t: Trajectory, sessionId: string, branchId: string, path: Step[], opts: ExampleOptions, ledger: ExampleLedger): Generator<Example> {
  const ends: number[] = [];
  path.forEach((s, i) => {
    if (i > 0 && s.summary) ends.push(i - 1);
  });
  ends.push(path.length - 1);
  const requests: RequestMessages = new Map();
  let from = 0;
  for (const i of ends) {
    const own = new Set(path.slice(from, i + 1).map((s) => s.id));
    from = i + 1;
    yield* finish(t, sessionId, branchId, path[i]!, contextOf(t, path[i]!, branchId, path, null, opts, requests), own, opts, ledger);
  }
}

/** Remembered request contexts of one branch walk (see ownedRequestMessages). */
type RequestMessages = Map<string, OwnedMessages | null>;

/** The context `step`'s reply was produced in. */
function contextOf(t: Trajectory, step: Step, branchId: string, path: Step[], prev: { step: Step; ctx: Ctx } | null, opts: ExampleOptions, requests: RequestMessages): Ctx {
  const rid = step.response?.requestId ?? step.requestId;
  const rec = rid ? t.requests.get(rid) : undefined;
  if (rec) {
    const owned = ownedRequestMessages(t, rec.id, requests);
    const config = t.configs.get(rec.config);
    if (owned && config) {
      const tools = Array.isArray(config.tools) ? (config.tools as unknown[]) : undefined;
      return {
        messages: owned.messages, owners: owned.owners, tools, toolMode: tools ? 'tools' : 'text', source: opts.derivedContext ? 'derived' : 'recorded',
        request: { id: rec.id, base: rec.base, keep: rec.keep },
      };
    }
  }
  if (prev && prev.ctx.source !== 'reconstructed') {
    // A step no request carried (hand-written, human, or the steps after the last
    // request): the previous context plus what the previous step added, as the
    // next request would carry it. Extending a derived context leaves it derived.
    const added = asWire(stepMessages(t, prev.step, prev.ctx.toolMode, branchId, path));
    return {
      messages: [...prev.ctx.messages, ...added], owners: [...prev.ctx.owners, ...added.map(() => prev.step.id)],
      tools: prev.ctx.tools, toolMode: prev.ctx.toolMode, source: prev.ctx.source === 'derived' ? 'derived' : 'extended',
    };
  }
  const rollout = t.rollouts.get(step.rolloutId) ?? [...t.rollouts.values()].find((r) => r.branchId === branchId);
  const toolMode: ToolMode = step.response?.toolMode ?? 'tools';
  const owned = buildOwnedMessages(t, step.id, { task: rollout?.task ?? '', toolMode, cwd: opts.cwd, branchId });
  return { messages: asWire(owned.messages), owners: owned.owners, tools: toolMode === 'tools' ? TOOL_SCHEMAS : undefined, toolMode, source: 'reconstructed' };
}

/** The example of the window that ends at `last` (its steps `own`): its context plus its reply. */
function* finish(t: Trajectory, sessionId: string, branchId: string, last: Step, ctx: Ctx, own: ReadonlySet<string>, opts: ExampleOptions, ledger: ExampleLedger): Generator<Example> {
  const messages = [...ctx.messages];
  const owners = [...ctx.owners];
  const reply = assistantMessage(last, ctx.toolMode);
  if (reply) {
    messages.push(asWire([reply])[0]!);
    owners.push(last.id);
  }
  const weightOf = (m: WireMessage, owner: string | null | undefined): 0 | 1 => {
    if (!owner || !own.has(owner) || ledger.isTrained(sessionId, owner) || ledger.isLeftOut(sessionId, owner) || emptyReply(m)) return 0;
    const step = t.steps.get(owner);
    if (!step?.response) return 0;
    let d = ledger.decision(sessionId, owner);
    if (!d) {
      d = stepDecision(t, step, opts.policy);
      ledger.decide(sessionId, owner, d);
    }
    return d.weight;
  };
  // An old empty reply in the context: the example ends before it (what comes before
  // is a prefix of the request, as sent); what it would have trained after it is left out.
  const cut = messages.findIndex(emptyReply);
  if (cut >= 0) {
    const lost: string[] = [];
    for (let i = cut + 1; i < messages.length; i++) {
      const owner = owners[i];
      if (owner && messages[i]!.role === 'assistant' && weightOf(messages[i]!, owner) === 1 && !lost.includes(owner)) lost.push(owner);
    }
    if (lost.length) ledger.leaveOut({ sessionId, branchId, emptySteps: emptyOwners(messages, owners, cut), steps: lost });
    messages.length = cut;
    owners.length = cut;
  }
  // End on the last assistant turn: what follows it trains nothing.
  let end = messages.length;
  while (end > 0 && messages[end - 1]!.role !== 'assistant') end--;
  messages.length = end;
  owners.length = end;

  const weights: (0 | 1 | null)[] = messages.map((m, i) => (m.role === 'assistant' ? weightOf(m, owners[i]) : null));
  const whole: Example = {
    sessionId, branchId, kind: 'window', messages, owners, weights, tools: ctx.tools, toolMode: ctx.toolMode, source: ctx.source,
    trainedSteps: [], contextSteps: [], ownSteps: own,
  };
  for (const ex of split(whole, opts.maxTokens)) {
    fillStats(ex);
    if (!ex.trainedSteps.length) continue;
    for (const id of ex.trainedSteps) ledger.markTrained(sessionId, id);
    yield ex;
  }
}

function fillStats(ex: Example): void {
  ex.trainedSteps = [];
  ex.contextSteps = [];
  ex.messages.forEach((m, i) => {
    const w = ex.weights[i];
    const owner = ex.owners[i];
    if (w === null || w === undefined || !owner || m.role !== 'assistant') return;
    (w === 1 ? ex.trainedSteps : ex.contextSteps).push(owner);
  });
}

export function exampleTokens(messages: readonly WireMessage[], tools: readonly unknown[] | undefined): number {
  let n = toolsTokens(tools);
  for (const m of messages) n += messageTokens(m);
  return n;
}

/**
 * Split an over-long example into examples ending on an assistant turn, each
 * holding the fixed head and as many of the turns before its end as fit; every
 * weight-1 turn is trained in exactly one of them.
 */
function split(ex: Example, maxTokens: number | undefined): Example[] {
  if (!maxTokens || exampleTokens(ex.messages, ex.tools) <= maxTokens) return [ex];
  // The head: the leading turns no step owns (system, task, summary, continue).
  const head = fixedHead(ex.owners);
  const headTokens = exampleTokens(ex.messages.slice(0, head), ex.tools);
  const cost = ex.messages.map(messageTokens);
  const out: Example[] = [];
  let end = ex.messages.length; // exclusive
  for (;;) {
    while (end > head && ex.messages[end - 1]!.role !== 'assistant') end--;
    if (end <= head) break;
    // Nothing left to train before `end`: stop.
    let trainable = false;
    for (let i = head; i < end; i++) if (ex.weights[i] === 1) trainable = true;
    if (!trainable) break;
    let start = end - 1;
    let total = headTokens + cost[end - 1]!;
    while (start > head && total + cost[start - 1]! <= maxTokens) {
      start--;
      total += cost[start]!;
    }
    // A chunk never opens on a tool turn, whose call would be cut off.
    while (start < end - 1 && ex.messages[start]!.role === 'tool') start++;
    const idx = [...Array(head).keys(), ...Array.from({ length: end - start }, (_, k) => start + k)];
    const chunk: Example = {
      ...ex,
      messages: idx.map((i) => ex.messages[i]!),
      owners: idx.map((i) => ex.owners[i]!),
      weights: idx.map((i) => ex.weights[i]!),
    };
    chunk.overLimit = exampleTokens(chunk.messages, chunk.tools) > maxTokens;
    if (start > head) chunk.truncated = true;
    out.push(chunk);
    end = start;
  }
  return out.reverse();
}

/** Summary requests with the summary the model wrote, as examples (opt-in). */
function* summaryExamples(t: Trajectory, sessionId: string, branchIds: readonly string[], opts: ExampleOptions, ledger: ExampleLedger): Generator<Example> {
  const seen = new Set<string>();
  for (const branchId of branchIds) {
    for (const step of branchPath(t, branchId)) {
      const rid = step.summary?.requestId;
      if (!rid || seen.has(rid)) continue;
      seen.add(rid);
      const rec = t.requests.get(rid);
      const owned = rec ? ownedRequestMessages(t, rid) : null;
      const config = rec ? t.configs.get(rec.config) : undefined;
      if (!rec || !owned || !config) continue;
      const empty = emptyOwners(owned.messages, owned.owners, 0);
      if (empty.length) {
        // Its context holds an old empty reply (see the header): left out, not rewritten.
        ledger.leaveOut({ sessionId, branchId, emptySteps: empty, steps: [`summary:${step.id}`] });
        continue;
      }
      const tools = Array.isArray(config.tools) ? (config.tools as unknown[]) : undefined;
      const messages = [...owned.messages, { role: 'assistant', content: step.summary!.text }];
      const ex: Example = {
        sessionId, branchId, kind: 'summary', messages, owners: [...owned.owners, null],
        weights: messages.map((m, i) => (m.role !== 'assistant' ? null : i === messages.length - 1 ? 1 : 0)),
        tools, toolMode: tools ? 'tools' : 'text', source: opts.derivedContext ? 'derived' : 'recorded', trainedSteps: [], contextSteps: [], ownSteps: new Set(),
      };
      fillStats(ex);
      ex.trainedSteps = [`summary:${step.id}`];
      ledger.markTrained(sessionId, `summary:${step.id}`);
      yield ex;
    }
  }
}
