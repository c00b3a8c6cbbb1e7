// Shared helpers of the annotation domain: the session's trajectory (its one owner is
// session-trajectory.ts), step look-ups with clear errors, step references as
// people type them, and a per-session lock for operations that change the
// environment (branch actions, rewinds).
import { ApolloError } from '../../../shared/errors';
import { branchPath, type Step, type Trajectory } from '../../../shared/trajectory';
import type { ApolloCore } from '../app';
import { trajectoryOf } from '../session-trajectory';

export { trajectoryOf };

/** What the annotation functions need of the core (ApolloCore satisfies it). */
export type AnnotateCore = Pick<ApolloCore, 'session' | 'ws' | 'pty' | 'rollouts' | 'profiles' | 'annotator'>;

export function requireStep(t: Trajectory, sessionId: string, stepId: string): Step {
  const s = t.steps.get(stepId);
  if (!s) throw new ApolloError('NOT_FOUND', `No step ${stepId} in session ${sessionId}`);
  return s;
}

/** The branch the session's first rollout ran on ('main' unless it said otherwise). */
export function mainBranchId(t: Trajectory): string {
  const first = [...t.rollouts.values()][0];
  if (first) return first.branchId;
  const firstStep = t.order[0];
  return firstStep ? t.steps.get(firstStep)!.branchId : 'main';
}

/**
 * A step as given on the command line: its id, a unique id prefix (at least 4
 * characters, also when it is all digits), or a 1-based depth number on the main
 * branch (the branch of the first rollout), or on `branchId`'s path when given. "0" or "root" mean the start,
 * before any step (null).
 */
export function resolveStepRef(t: Trajectory, sessionId: string, ref: string, branchId?: string): string | null {
  const r = ref.trim();
  if (r === '0' || r.toLowerCase() === 'root') return null;
  if (t.steps.has(r)) return r;
  const onBranch = branchId === undefined ? 'the main branch' : `branch ${branchId}`;
  // Ids are hex, so a short id such as "50069072" is all digits too (about one 8-character
  // prefix in 40): digits are a step number, or an id prefix when no step has that number,
  // and a ref that is both is refused rather than guessed.
  const prefixed = r.length >= 4 ? t.order.filter((id) => id.startsWith(r)) : [];
  if (/^\d+$/.test(r)) {
    const depth = Number(r);
    const branch = branchId ?? mainBranchId(t);
    if (branchId !== undefined && !t.branches.has(branchId)) throw new ApolloError('NOT_FOUND', `Session ${sessionId} has no branch ${branchId}.`);
    const path = branchPath(t, branch);
    const step = path.find((s) => s.depth === depth);
    if (step && prefixed.length) throw new ApolloError('BAD_REQUEST', `"${r}" is both step ${depth} on ${onBranch} and the start of a step id in session ${sessionId}: give the whole step id.`);
    if (step) return step.id;
    if (!prefixed.length) {
      const n = path.length;
      const where = branchId === undefined ? `its main branch "${branch}"` : `branch "${branch}"`;
      throw new ApolloError('NOT_FOUND', `Session ${sessionId} has no step ${depth} on ${where} (it has ${n} step${n === 1 ? '' : 's'}).`);
    }
  }
  if (prefixed.length === 1) return prefixed[0]!;
  if (prefixed.length > 1) throw new ApolloError('BAD_REQUEST', `Step prefix "${r}" is ambiguous in session ${sessionId} (${prefixed.length} steps match).`);
  throw new ApolloError('NOT_FOUND', `No step "${r}" in session ${sessionId}: give a step id, a unique id prefix, or a step number on ${onBranch}.`);
}

/** Human label of a step for messages and default branch names. */
export function stepLabel(step: Step | null | undefined): string {
  return step ? `step ${step.depth}` : 'the start';
}

/**
 * A new set of per-session locks: the function returned waits until the earlier
 * holders of that session's lock have released it, then returns the release
 * (calling it again does nothing).
 */
export function sessionLocks(): (sessionId: string) => Promise<() => void> {
  const locks = new Map<string, Promise<void>>();
  return async (sessionId) => {
    const prev = locks.get(sessionId) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    locks.set(sessionId, tail);
    await prev;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
      if (locks.get(sessionId) === tail) locks.delete(sessionId);
    };
  };
}

/**
 * Serialize environment-changing operations of one session (a hand-written action
 * must not run twice; a rewind must not interleave with one). Returns the release.
 */
export const lockSession = sessionLocks();
