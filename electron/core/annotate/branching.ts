// Branch and rewind: the trajectory is a tree, and annotators add to it.
//
// createBranch records a new branch from any step. The original branch is never
// touched: every fact is appended. The branch continues
//   - with a hand-written action: a step whose model.response is marked
//     humanAuthored (recorded at once, no model, no network). It runs in the world of
//     the step it branches from: that step's checkpoint (files, shell directory,
//     environment) is restored in fresh terminals first, exactly as rewind does, and
//     the step records which checkpoint it ran on. Without a usable checkpoint it is
//     refused, or run in the current state when the caller explicitly accepts that
//     (and the step says so). The action runs now when the working directory is
//     there, else it waits for runPendingActions (the world is restored then);
//   - with the agent (profile or endpoint): a rollout on the branch from that step
//     (or from the hand-written step), with the guidance delivered first;
//   - or with nothing yet (guidance waits, recorded, for the next rollout on it).
//
// rewind additionally brings the environment back to a step: the working
// directory's files from the step's checkpoint, and fresh terminals (new ids; the
// old ones are closed) in the step's shell directory with its recorded environment
// variables. A missing checkpoint or a damaged store fails that rewind with a clear
// error and changes nothing else.
import { randomUUID } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { isAbsolute, posix, relative, resolve } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import type { StepWorld, ToolCall } from '../../../shared/events';
import type { HandActionPlan, RestoreProgress } from '../../../shared/contract/annotate';
import type { Step, Trajectory } from '../../../shared/trajectory';
import type { ResolvedEndpoint } from '../profiles';
import type { StartRollout } from '../rollouts';
import type { RunResult } from '../rollout/index';
import { DEFAULT_TOOL_OPTIONS, executeToolCall, parseToolCall, type ToolOptions } from '../rollout/tools';
import type { LiveTerminal } from '../pty/types';
import { ENV_DEFAULT_VARS } from '../pty/osc-parser';
import type { SessionLog } from '../store/workspace';
import { RESTORE_STAGES, type Checkpoints } from '../env/checkpoints';
import { environmentFor } from '../env/registry';
import { sessionCheckpointsOff, skippedFields } from '../rollouts';
import { checkpointReader } from './checkpoint-files';
import { lockSession, requireStep, stepLabel, trajectoryOf, type AnnotateCore } from './state';
import { agentTerminalNames, aliasesFor, freshTerminalId, primaryTerminal, setAliases } from './terminals';

/** A tool call written by the annotator, with its arguments as an object. */
export interface HandAction {
  name: string;
  arguments: Record<string, unknown>;
}

/** How the agent continues on the new branch (nothing given: it does not). */
export interface Continuation {
  /** A saved endpoint profile. */
  profile?: string;
  /** Or an endpoint given directly (the CLI's --base-url/--model). */
  endpoint?: ResolvedEndpoint;
  /** Step budget of the continuation (default 200). */
  maxSteps?: number;
  /** Client and tool tuning (tests, CLI). */
  tuning?: StartRollout['tuning'];
}

export interface CreateBranchOptions extends Continuation {
  sessionId: string;
  /** The step to branch from; null = from the start (before the first step). */
  fromStepId: string | null;
  name?: string;
  guidance?: string;
  action?: HandAction;
  /**
   * When the hand-written action runs: 'auto' (default) now if the working directory
   * is there and a shell can be started, else it waits; 'later' always waits for
   * runPendingActions.
   */
  runAction?: 'auto' | 'later';
  /** Resolve before the hand-written action has run (it goes on in the background). Default false. */
  background?: boolean;
  /**
   * When the step's checkpoint cannot be restored (none at the start, checkpoints
   * off, taking it failed, store gone or damaged), run the hand-written action in the
   * working directory as it is instead of refusing; the step records
   * `world: {kind: 'current', reason}`. Ignored when the checkpoint is usable.
   */
  runInCurrentState?: boolean;
}

export interface BranchResult {
  branchId: string;
  /** The hand-written step, when an action was given. */
  stepId?: string;
  rolloutId?: string;
  /** What became of the hand-written action. */
  action?: 'ran' | 'pending' | 'running';
  /** Settles when the hand-written action has run or stays pending (background mode). */
  actionDone?: Promise<'ran' | 'pending'>;
  /** Settles when the agent continuation ends. */
  done?: Promise<RunResult>;
  /** The agent continues in a world other than the step's (see agentWorld); its first step records it. */
  agentWorld?: StepWorld;
}

export interface RewindOptions extends Continuation {
  sessionId: string;
  toStepId: string;
  name?: string;
  guidance?: string;
  /** Each stage of the restore as it starts (files, then the fresh shell). */
  onProgress?: (p: RestoreProgress) => void;
}

export interface RewindResult {
  branchId: string;
  rolloutId?: string;
  /** The fresh terminals (the first one holds the step's directory and environment). */
  terminalIds: string[];
  /** Agent terminal name → new terminal id. */
  aliases: Record<string, string>;
  done?: Promise<RunResult>;
}

/** How long a fresh shell may take to show its first prompt. */
const SHELL_READY_MS = 10_000;

// ---- createBranch ----------------------------------------------------------------

export async function createBranch(core: AnnotateCore, o: CreateBranchOptions): Promise<BranchResult> {
  const session = await core.session(o.sessionId);
  const cwd = core.ws.entry(o.sessionId).cwd;
  const t = trajectoryOf(session);
  const from = o.fromStepId === null ? null : requireStep(t, o.sessionId, o.fromStepId);
  if (from && !from.response) {
    throw new ApolloError('CONFLICT', `Step ${from.depth} of session ${o.sessionId} has no response yet: branch from a step that has one.`);
  }
  const call = o.action ? handCall(o.action) : null;
  const guidance = o.guidance?.trim() ? o.guidance : undefined;
  const endpoint = await resolveEndpoint(core, o);
  if (endpoint) {
    assertNoActiveRollout(core, o.sessionId, 'continue a branch with the agent');
    if (call && !(await isDirIn(session, cwd))) {
      throw new ApolloError('UNAVAILABLE', `The working directory ${cwd} of session ${o.sessionId} is not available, so the hand-written action cannot run and the agent cannot continue. Record the branch without a profile instead.`);
    }
  }
  const task = taskFor(t, from, !!endpoint);
  const author = core.annotator();

  const release = await lockSession(o.sessionId);
  let background: Promise<'ran' | 'pending'> | null = null;
  try {
    // The agent continues from results: a hand-written step that waits must run first.
    if (endpoint && from && pendingHandSteps(trajectoryOf(session)).some((p) => p.id === from.id)) {
      if (!(await runHandStep(core, session, cwd, from.id, o.tuning?.tools))) {
        throw new ApolloError('UNAVAILABLE', `Step ${from.depth} is a hand-written action that has not run yet, and no shell could be started in ${cwd}; the agent cannot continue from it.`);
      }
    }
    // The world the hand-written action runs in, settled before anything is recorded:
    // a refusal leaves the log as it was.
    let world: StepWorld | undefined;
    let store: Checkpoints | undefined;
    if (call) {
      const plan = await planWorld(core, session, cwd, from);
      if (plan.mode === 'checkpoint') {
        world = { kind: 'checkpoint', stepId: plan.stepId, commit: plan.commit };
        if ((o.runAction !== 'later' || endpoint) && (await isDirIn(session, cwd))) {
          // It runs now: its restore closes the session's terminals, and must be able to succeed.
          assertNoActiveRollout(core, o.sessionId, `run a hand-written action on the checkpoint of step ${plan.stepNumber} (it restores it in fresh terminals)`);
          try {
            store = await verifiedStore(core, session, cwd, plan.commit, `Cannot run a hand-written action on the checkpoint of step ${plan.stepNumber} of session ${o.sessionId}`);
          } catch (err) {
            // The full check found the store unusable: the same choice as having no checkpoint.
            const e = err instanceof ApolloError ? err : new ApolloError('IO', (err as Error)?.message ?? String(err));
            if (!o.runInCurrentState) throw new ApolloError(e.code, e.message, { cause: 'store-damaged' });
            world = { kind: 'current', reason: e.message };
          }
        }
      } else if (o.runInCurrentState) {
        world = { kind: 'current', reason: plan.reason };
      } else {
        throw new ApolloError(
          plan.cause === 'store-damaged' ? 'IO' : 'NOT_FOUND',
          `Cannot run a hand-written action in the world of ${stepLabel(from)} of session ${o.sessionId}: ${plan.reason} Nothing was recorded.`,
          { cause: plan.cause },
        );
      }
    }

    const branchId = newBranchId(trajectoryOf(session));
    await session.append({
      type: 'branch.created', branchId, fromStepId: from?.id ?? null, author, reason: 'branch',
      name: o.name?.trim() || `Branch from ${stepLabel(from)}`,
    });
    const result: BranchResult = { branchId };

    if (call) {
      const rolloutId = randomUUID();
      const stepId = randomUUID();
      await session.append({ type: 'rollout.started', rolloutId, branchId, task, endpoint: null, policy: 'human', maxSteps: 1, parentStepId: from?.id ?? null });
      await session.append({ type: 'step.started', stepId, parentId: from?.id ?? null, branchId, depth: from ? from.depth + 1 : 1, rolloutId, ...(world ? { world } : {}) });
      await session.append({
        type: 'model.response', stepId, content: '', reasoning: '', toolCalls: [call], usage: null, finishReason: null, durationMs: 0,
        humanAuthored: true, author, origin: 'hand',
      });
      result.stepId = stepId;
      result.rolloutId = rolloutId;
      const run = async (): Promise<'ran' | 'pending'> => {
        // The agent cannot continue from an action that did not run: then it must run now.
        if (o.runAction === 'later' && !endpoint) return markPending(session, rolloutId);
        return (await runHandStep(core, session, cwd, stepId, o.tuning?.tools, store)) ? 'ran' : markPending(session, rolloutId);
      };
      if (o.background && !endpoint) {
        background = run().catch(async (err: unknown) => {
          await session.append({ type: 'warning', message: `The hand-written action of step ${stepId} could not run: ${(err as Error).message}` }).catch(() => undefined);
          return 'pending' as const;
        });
        result.action = 'running';
        result.actionDone = background;
      } else {
        result.action = await run();
        if (endpoint && result.action !== 'ran') {
          throw new ApolloError('UNAVAILABLE', `The hand-written action could not run (no shell could be started in ${cwd}); it is recorded and waits. The agent was not started.`);
        }
      }
    }

    if (guidance) await session.append({ type: 'guidance.queued', guidanceId: randomUUID(), text: guidance, author, branchId });

    if (endpoint) {
      // After a hand-written step the world is that step's own; straight from `from` it is whatever ran last.
      const firstStepWorld = result.stepId ? undefined : agentWorld(trajectoryOf(session), from);
      if (firstStepWorld) result.agentWorld = firstStepWorld;
      const { rollout, done } = core.rollouts.start({
        session, task, endpoint, policy: 'model', maxSteps: o.maxSteps ?? 200, cwd, branchId,
        parentStepId: result.stepId ?? from?.id ?? null, aliases: aliasesFor(core.pty, o.sessionId), tuning: o.tuning,
        ...(firstStepWorld ? { firstStepWorld } : {}),
      });
      result.rolloutId = rollout.id;
      result.done = done;
    }
    return result;
  } finally {
    if (background) void background.finally(release);
    else release();
  }
}

// ---- hand-written actions ---------------------------------------------------------

function handCall(action: HandAction): ToolCall {
  const call: ToolCall = { id: `hand_${randomUUID().replace(/-/g, '').slice(0, 12)}`, name: action.name, arguments: JSON.stringify(action.arguments ?? {}) };
  const p = parseToolCall(call);
  if (!p.ok) throw new ApolloError('BAD_REQUEST', p.error);
  return call;
}

async function markPending(session: SessionLog, rolloutId: string): Promise<'pending'> {
  const r = trajectoryOf(session).rollouts.get(rolloutId);
  if (r?.state !== 'paused') {
    await session.append({ type: 'rollout.state', rolloutId, state: 'paused', reason: 'the hand-written action waits for the environment (a shell in the working directory) to run' });
  }
  return 'pending';
}

/** Hand-written steps whose action has not run yet, oldest first. */
export function pendingHandSteps(t: Trajectory): Step[] {
  return t.order
    .map((id) => t.steps.get(id)!)
    .filter((s) => s.response?.humanAuthored && !s.finishedAt && s.results.length < s.response.toolCalls.length && t.rollouts.get(s.rolloutId)?.policy === 'human');
}

/**
 * Run the hand-written actions that wait (recorded offline, or when no shell could be
 * started). Returns the steps that ran and those that still wait.
 */
export async function runPendingActions(core: AnnotateCore, sessionId: string, tools?: Partial<ToolOptions>): Promise<{ ran: string[]; pending: string[] }> {
  const session = await core.session(sessionId);
  const cwd = core.ws.entry(sessionId).cwd;
  const release = await lockSession(sessionId);
  try {
    const ran: string[] = [];
    const steps = pendingHandSteps(trajectoryOf(session));
    for (let i = 0; i < steps.length; i++) {
      if (!(await runHandStep(core, session, cwd, steps[i]!.id, tools))) return { ran, pending: steps.slice(i).map((s) => s.id) };
      ran.push(steps[i]!.id);
    }
    return { ran, pending: [] };
  } finally {
    release();
  }
}

/**
 * Run the remaining calls of a hand-written step and finish it (results, checkpoint,
 * rollout state). A step recorded on a checkpoint first gets that world back (files,
 * shell directory, environment in fresh terminals: restoreWorld, as rewind); `store`
 * is the store already verified for it, if any. Returns false, recording nothing, when
 * the environment is not available (no working directory, no shell could be started);
 * a checkpoint that can no longer be restored throws, and the step keeps waiting.
 */
async function runHandStep(core: AnnotateCore, session: SessionLog, cwd: string, stepId: string, tools?: Partial<ToolOptions>, store?: Checkpoints): Promise<boolean> {
  if (!(await isDirIn(session, cwd))) return false;
  const t = trajectoryOf(session);
  const step = t.steps.get(stepId);
  if (!step?.response || step.finishedAt) return true;
  const world = step.world;
  // A step that already has results was interrupted after running part of its calls in
  // its world: restoring again would undo them.
  if (world?.kind === 'checkpoint' && step.results.length === 0) {
    const source = world.stepId ? t.steps.get(world.stepId) : undefined;
    const what = `Cannot run the hand-written action of step ${step.depth} on the checkpoint of ${stepLabel(source)} of session ${session.id}`;
    assertNoActiveRollout(core, session.id, `run the hand-written action of step ${step.depth} (it restores ${stepLabel(source)} in fresh terminals)`);
    const verified = store ?? (await verifiedStore(core, session, cwd, world.commit, what));
    const cp = source?.checkpoint;
    try {
      await restoreWorld(core, session, cwd, verified, { commit: world.commit, shellCwd: cp?.shellCwd, env: cp?.env }, agentTerminalNames(t, step.id), what);
    } catch (err) {
      // No shell could start in the restored world: the step waits (it is restored again then).
      if (err instanceof ApolloError && (err.code === 'SPAWN_FAILED' || err.code === 'UNAVAILABLE')) return false;
      throw err;
    }
  }
  const aliases = new Map(Object.entries(aliasesFor(core.pty, session.id)));
  const calls = step.response.toolCalls.slice(step.results.length);
  // A shell the calls need is started first: if that is impossible the step waits.
  for (const call of calls) {
    const p = parseToolCall(call);
    if (!p.ok || p.name !== 'run_command') continue;
    const id = aliases.get(p.args.session_id as string) ?? (p.args.session_id as string);
    const live = core.pty.list(session.id).find((x) => x.id === id && x.info().status === 'running');
    if (live) continue;
    try {
      const term = await core.pty.create(session, { id, cwd });
      await waitReady(term);
    } catch (err) {
      if (err instanceof ApolloError && (err.code === 'SPAWN_FAILED' || err.code === 'UNAVAILABLE')) return false;
      throw err;
    }
  }
  const ctx = { session, pty: core.pty, cwd, options: { ...DEFAULT_TOOL_OPTIONS, ...tools }, aliases };
  let finished: string | null = null;
  for (const call of calls) {
    const t0 = Date.now();
    const o = await executeToolCall(call, ctx);
    await session.append({
      type: 'action.result', stepId, toolCallId: call.id, name: call.name, observation: o.observation, isError: o.isError, durationMs: Date.now() - t0,
      ...(o.terminalId ? { terminalId: o.terminalId } : {}), ...(o.range ? { range: o.range } : {}), ...(o.env ? { env: o.env } : {}),
    });
    if (o.finish) finished = o.finish.message;
  }
  await session.append({ type: 'step.finished', stepId, promptTokens: 0 });
  await takeCheckpoint(core, session, cwd, stepId);
  await session.append({ type: 'rollout.state', rolloutId: step.rolloutId, state: 'finished', reason: finished ?? 'hand-written action' });
  return true;
}

/** Checkpoint after a step, as the rollout manager does after an agent step. */
export async function takeCheckpoint(core: AnnotateCore, session: SessionLog, cwd: string, stepId: string): Promise<void> {
  // A home folder or the root is never snapshotted, nor an environment without git (see sessionCheckpointsOff).
  const off = await sessionCheckpointsOff(session, cwd);
  if (off) {
    await session.append({ type: 'checkpoint.failed', stepId, error: off });
    return;
  }
  try {
    const store = await core.rollouts.checkpoints(session, cwd);
    const snap = await store.snapshot(`step ${stepId}`);
    const shell = primaryTerminal(core.pty.list(session.id));
    const shellCwd = shell?.shellCwd();
    const env = shell?.shellEnv();
    await session.append({ type: 'checkpoint.taken', stepId, commit: snap.commit, cwd, ...(shellCwd ? { shellCwd } : {}), ...(env ? { env } : {}), ...skippedFields(snap) });
  } catch (err) {
    await session.append({ type: 'checkpoint.failed', stepId, error: (err as Error).message, ...skippedFields(err) });
  }
}

// ---- rewind -----------------------------------------------------------------------

export async function rewind(core: AnnotateCore, o: RewindOptions): Promise<RewindResult> {
  const session = await core.session(o.sessionId);
  const cwd = core.ws.entry(o.sessionId).cwd;
  const t = trajectoryOf(session);
  const step = requireStep(t, o.sessionId, o.toStepId);
  const cp = step.checkpoint;
  if (!cp) {
    const why = step.checkpointError ? `: taking it failed (${step.checkpointError})` : '';
    throw new ApolloError('NOT_FOUND', `Step ${step.depth} of session ${o.sessionId} has no checkpoint${why}. Its files cannot be restored; branch from it instead (same context, current files), or rewind to another step.`);
  }
  const endpoint = await resolveEndpoint(core, o);
  assertNoActiveRollout(core, o.sessionId, 'rewind');
  const task = taskFor(t, step, !!endpoint);
  if (!(await isDirIn(session, cwd))) throw new ApolloError('NOT_FOUND', `Cannot rewind session ${o.sessionId}: its working directory ${cwd} no longer exists${whereIs(session)}.`);

  const release = await lockSession(o.sessionId);
  try {
    const what = `Cannot rewind session ${o.sessionId}`;
    const store = await verifiedStore(core, session, cwd, cp.commit, what);
    const { term, aliases } = await restoreWorld(core, session, cwd, store, cp, agentTerminalNames(t, step.id), what, o.onProgress);

    const author = core.annotator();
    const branchId = newBranchId(trajectoryOf(session));
    await session.append({ type: 'branch.created', branchId, fromStepId: step.id, author, reason: 'rewind', name: o.name?.trim() || `Rewind to ${stepLabel(step)}` });
    if (o.guidance?.trim()) await session.append({ type: 'guidance.queued', guidanceId: randomUUID(), text: o.guidance, author, branchId });
    const result: RewindResult = { branchId, terminalIds: [term.id], aliases };
    if (endpoint) {
      const { rollout, done } = core.rollouts.start({
        session, task, endpoint, policy: 'model', maxSteps: o.maxSteps ?? 200, cwd, branchId, parentStepId: step.id, aliases, tuning: o.tuning,
      });
      result.rolloutId = rollout.id;
      result.done = done;
    }
    return result;
  } finally {
    release();
  }
}

// ---- a step's world: checking and restoring its checkpoint -------------------------

/**
 * The step whose world (files, shells) the session's terminals hold now: the step that
 * last ran actions, or the step a rewind restored, whichever came later; null for the
 * start. A read-only step counts as changing the world: which of them did is unknown.
 */
export function currentWorldStep(t: Trajectory): Step | null {
  let at = -Infinity;
  let head: Step | null = null;
  for (const s of t.steps.values()) {
    if (s.finishedAt !== undefined && s.results.length > 0 && s.finishedAt >= at) {
      at = s.finishedAt;
      head = s;
    }
  }
  for (const b of t.branches.values()) {
    if (b.reason === 'rewind' && b.createdAt >= at) {
      at = b.createdAt;
      head = b.fromStepId ? t.steps.get(b.fromStepId) ?? null : null;
    }
  }
  return head;
}

/**
 * The world an agent continuing straight from `from` acts in, when it is not `from`'s
 * own: a branch keeps the session's current files and shells (only a rewind or a
 * hand-written action restores a checkpoint, and closing the shells would end what
 * runs in them). Undefined when the current world is `from`'s. The branch's first step
 * records it, so its actions are not read as run against `from`'s files.
 */
export function agentWorld(t: Trajectory, from: Step | null): StepWorld | undefined {
  const head = currentWorldStep(t);
  if ((head?.id ?? null) === (from?.id ?? null)) return undefined;
  const where = head ? `${stepLabel(head)} of branch "${t.branches.get(head.branchId)?.name ?? head.branchId}"` : 'the start';
  return {
    kind: 'current',
    reason: `Branched from ${stepLabel(from)}, but the files and shells were as they were after ${where}: a branch continues in the current state. Rewind to ${stepLabel(from)} to continue in its files.`,
  };
}

/** The world an agent continuing from a step would act in (the contract's branch.agentWorld); changes nothing. */
export async function agentWorldFor(core: AnnotateCore, sessionId: string, fromStepId: string | null): Promise<StepWorld | null> {
  const t = trajectoryOf(await core.session(sessionId));
  const from = fromStepId === null ? null : requireStep(t, sessionId, fromStepId);
  return agentWorld(t, from) ?? null;
}

/**
 * Where a hand-written action branched from `from` would run: on `from`'s checkpoint,
 * or nowhere (with the reason). Only cheap checks (the commit is in the store); the
 * store is verified in full when the action runs. Changes nothing.
 */
async function planWorld(core: AnnotateCore, session: SessionLog, cwd: string, from: Step | null): Promise<HandActionPlan> {
  const refuse = (cause: Extract<HandActionPlan, { mode: 'refuse' }>['cause'], reason: string): HandActionPlan => ({ mode: 'refuse', cause, reason });
  // Checkpoints are taken after steps: the state before the first one was never saved.
  if (!from) return refuse('root', 'There is no checkpoint of the start: checkpoints are taken after each step, so the state before the first step was never saved.');
  const off = await sessionCheckpointsOff(session, cwd);
  if (off) return refuse('checkpoints-off', `Step ${from.depth} has no checkpoint. ${off}`);
  const cp = from.checkpoint;
  if (!cp) {
    if (pendingHandSteps(trajectoryOf(session)).some((p) => p.id === from.id)) {
      return refuse('not-run', `Step ${from.depth} is a hand-written action that has not run yet, so its world has no checkpoint: run the waiting actions first, then branch from it.`);
    }
    if (from.checkpointError) return refuse('checkpoint-failed', `Step ${from.depth} has no checkpoint: taking it failed (${from.checkpointError}).`);
    return refuse('no-checkpoint', `Step ${from.depth} has no checkpoint${from.finishedAt ? '' : ' (it has not finished)'}.`);
  }
  try {
    await (await checkpointReader(core, session)).files(cp.commit);
  } catch (err) {
    const e = err instanceof ApolloError ? err : new ApolloError('IO', (err as Error)?.message ?? String(err));
    if (e.code === 'NOT_FOUND' && /no checkpoint store/.test(e.message)) {
      return refuse('store-missing', `Session ${session.id} has no checkpoint store any more, so the files of step ${from.depth} cannot be restored.`);
    }
    return refuse('store-damaged', `The checkpoint of step ${from.depth} cannot be read from the session's checkpoint store (${e.message.replace(/\.$/, '')}).`);
  }
  const plan: HandActionPlan = { mode: 'checkpoint', stepId: from.id, stepNumber: from.depth, commit: cp.commit };
  if (!(await isDirIn(session, cwd))) plan.waits = `The working directory ${cwd} is not available now: the action is recorded and runs on this checkpoint once it is.`;
  return plan;
}

/** The plan for a hand-written action branched from a step (the contract's branch.handActionPlan). */
export async function handActionPlan(core: AnnotateCore, sessionId: string, fromStepId: string | null): Promise<HandActionPlan> {
  const session = await core.session(sessionId);
  const from = fromStepId === null ? null : requireStep(trajectoryOf(session), sessionId, fromStepId);
  return planWorld(core, session, core.ws.entry(sessionId).cwd, from);
}

/**
 * The session's checkpoint store, checked whole and holding `commit`, before anything
 * is touched. Errors start with `what` and change nothing.
 */
async function verifiedStore(core: AnnotateCore, session: SessionLog, cwd: string, commit: string, what: string): Promise<Checkpoints> {
  let store: Checkpoints;
  try {
    store = await core.rollouts.checkpoints(session, cwd);
  } catch (err) {
    throw prefixed(what, err);
  }
  const health = await store.verify();
  if (!health.ok) throw new ApolloError('IO', `${what}: ${health.error ?? 'its checkpoint store is damaged'}. Nothing was changed.`);
  try {
    await store.files(commit);
  } catch (err) {
    throw prefixed(what, err);
  }
  return store;
}

/**
 * Bring a step's world back, for rewinds and hand-written actions alike: close the
 * session's terminals, restore the files of `cp.commit`, and start a fresh terminal
 * (new id) in the recorded shell directory with the recorded environment; the agent's
 * terminal names (`names`, the first one gets the shell) map onto new ids.
 */
async function restoreWorld(
  core: AnnotateCore, session: SessionLog, cwd: string, store: Checkpoints,
  cp: { commit: string; shellCwd?: string; env?: Record<string, string> }, names: string[], what: string,
  onProgress?: (p: RestoreProgress) => void,
): Promise<{ term: LiveTerminal; aliases: Record<string, string> }> {
  // Old shells (and what runs in them) go first: nothing may write while files are restored.
  for (const term of core.pty.list(session.id)) await core.pty.close(session, term.id);
  try {
    await store.restore(cp.commit, onProgress);
  } catch (err) {
    throw prefixed(what, err);
  }
  onProgress?.(RESTORE_STAGES.shell());

  // Fresh terminals: the agent's names map onto new ids.
  if (!names.length) names = ['main'];
  const aliases: Record<string, string> = {};
  const taken = new Set<string>();
  for (const name of names) {
    const id = freshTerminalId(session, core.pty.list(session.id), name, taken);
    taken.add(id);
    aliases[name] = id;
  }
  const shellCwd = await shellDirFor(session, cwd, cp.shellCwd);
  const term = await core.pty.create(session, { id: aliases[names[0]!]!, cwd: shellCwd, env: restoreEnv(cp.env) });
  await waitReady(term);
  setAliases(core.pty, session.id, aliases);
  return { term, aliases };
}

/** Variables to restore: the recorded ones; default ones not recorded were unset then. */
function restoreEnv(env: Record<string, string> | undefined): Record<string, string | null> | undefined {
  if (!env) return undefined;
  const out: Record<string, string | null> = {};
  for (const name of ENV_DEFAULT_VARS) if (name !== 'PATH') out[name] = null;
  for (const [k, v] of Object.entries(env)) if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !k.startsWith('APOLLO_RESTORE_')) out[k] = v;
  return out;
}

/**
 * The rewound shell's directory: the recorded one. An empty folder is not in a
 * checkpoint, so one inside the working directory is created again; one outside
 * that no longer exists falls back to the working directory (with a warning).
 */
async function shellDirFor(session: SessionLog, cwd: string, shellCwd: string | undefined): Promise<string> {
  if (!shellCwd) return cwd;
  if (await isDirIn(session, shellCwd)) return shellCwd;
  const env = environmentFor(session);
  const path = env.kind === 'local' ? { relative, resolve, isAbsolute } : { relative: posix.relative, resolve: posix.resolve, isAbsolute: posix.isAbsolute };
  const rel = path.relative(path.resolve(cwd), path.resolve(shellCwd));
  if (rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)) {
    try {
      if (env.kind === 'local') await mkdir(shellCwd, { recursive: true });
      else await env.mkdirp(shellCwd);
      return shellCwd;
    } catch {
      // fall through
    }
  }
  await session.append({ type: 'warning', message: `The shell directory ${shellCwd} recorded at this step no longer exists; the terminal starts in ${cwd}.` });
  return cwd;
}

// ---- shared -----------------------------------------------------------------------

async function resolveEndpoint(core: AnnotateCore, c: Continuation): Promise<ResolvedEndpoint | null> {
  if (c.endpoint) return c.endpoint;
  if (c.profile) return core.profiles.resolve(c.profile);
  return null;
}

function assertNoActiveRollout(core: AnnotateCore, sessionId: string, what: string): void {
  const r = core.rollouts.get(sessionId);
  // 'idle' is a rollout that was just started and has not recorded its start yet.
  if (r && (r.state === 'running' || r.state === 'paused' || r.state === 'idle')) {
    throw new ApolloError('CONFLICT', `A rollout is ${r.state === 'idle' ? 'starting' : r.state} in session ${sessionId}: stop it before you ${what}.`);
  }
}

/** The task the agent works on: that of the rollout which produced the step, else the session's first. */
function taskFor(t: Trajectory, from: Step | null, required: boolean): string {
  const own = from ? t.rollouts.get(from.rolloutId)?.task : undefined;
  const task = own || [...t.rollouts.values()].find((r) => r.task)?.task;
  if (task) return task;
  if (required) throw new ApolloError('NOT_FOUND', 'This session has no recorded rollout, so there is no task for the agent to continue.');
  return '';
}

function newBranchId(t: Trajectory): string {
  for (;;) {
    const id = `b-${randomUUID().slice(0, 8)}`;
    if (!t.branches.has(id)) return id;
  }
}

/** `err` as an ApolloError whose message starts with `what` (code and details kept). */
function prefixed(what: string, err: unknown): ApolloError {
  const e = err instanceof ApolloError ? err : new ApolloError('IO', (err as Error)?.message ?? String(err));
  return new ApolloError(e.code, `${what}: ${e.message}`, e.details);
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isDirectory(), () => false);
}

/** A folder of the session's environment (this machine, or where it works remotely) is there. */
async function isDirIn(session: SessionLog, p: string): Promise<boolean> {
  const env = environmentFor(session);
  if (env.kind === 'local') return isDir(p);
  return env.stat(p).then((s) => s?.kind === 'dir', () => false);
}

/** " in <environment>" for a remote session's messages. */
function whereIs(session: SessionLog): string {
  const env = environmentFor(session);
  return env.kind === 'local' ? '' : ` in environment ${env.name}`;
}

async function waitReady(term: LiveTerminal): Promise<void> {
  const deadline = Date.now() + SHELL_READY_MS;
  while (!term.isIdle() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
