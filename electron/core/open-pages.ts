// A paged open (issue 10): sessions.open with `paged` sends a session's tree (every event
// but the steps' details, shared/compact-events.ts isStepDetail) and the details of its
// newest steps, the ones a reviewer sees first; the page fetches the others by page
// (sessions.page) after its first frame. Pages are ranges of steps in the order they
// started, read at the version the open answered with: the log only grows, so a range
// always names the same events, from the view kept beside the log (open-view.ts) or
// from the log itself.
import type { CompactEvent } from '../../shared/compact-events';
import { isStepDetail } from '../../shared/compact-events';
import { branchPath, defaultBranchId, stepOrder, type Trajectory } from '../../shared/trajectory';
import type { PageRanges } from '../../shared/contract/sessions';

/** Steps per page: ~100 kB of details on the generated session. */
export const PAGE_STEPS = 50;
/**
 * The newest steps of the branch a session opens on (shared/trajectory.ts defaultBranchId)
 * whose details come with the open: the rows on screen first, wherever they started
 * (a branch forked long ago, a rewind).
 */
const FIRST_PATH_STEPS = 100;

/**
 * Where the details sent with the open begin, in step order: the last one or two pages
 * (51–100 steps), so that the rows on screen at the end of the list have theirs.
 */
export function tailFrom(steps: number): number {
  return steps <= 2 * PAGE_STEPS ? 0 : (Math.ceil(steps / PAGE_STEPS) - 2) * PAGE_STEPS;
}

export interface PageSplit {
  /** Every event but the steps' details, in seq order. */
  tree: CompactEvent[];
  /** Per step, in the order steps started: its details, in seq order. */
  byStep: CompactEvent[][];
  /** Each step's place in that order. */
  index: Map<string, number>;
}

/**
 * `events` (seq order) up to `maxSeq`, split for a paged open. A detail whose step has not
 * started (a damaged log) stays in the tree, where the fold skips it as it always did.
 */
export function splitForPages(events: readonly CompactEvent[], maxSeq = Infinity): PageSplit {
  const index = new Map<string, number>();
  const tree: CompactEvent[] = [];
  const byStep: CompactEvent[][] = [];
  for (const ev of events) {
    if (ev.seq > maxSeq) break;
    if (ev.type === 'step.started' && !index.has(ev.stepId)) {
      index.set(ev.stepId, byStep.length);
      byStep.push([]);
    } else if (isStepDetail(ev)) {
      const i = index.get((ev as { stepId: string }).stepId);
      if (i !== undefined) {
        byStep[i]!.push(ev);
        continue;
      }
    }
    tree.push(ev);
  }
  return { tree, byStep, index };
}

/** The details of the steps [from, to), grouped by step (as the kept view holds them). */
export function pageOf(split: PageSplit, from: number, to: number): CompactEvent[] {
  return split.byStep.slice(from, to).flat();
}

/**
 * The pages before the tail (their indexes, ascending) that hold the newest steps of the
 * branch the session opens on: sent with the open too.
 */
export function firstPages(t: Trajectory, index: ReadonlyMap<string, number>, steps: number): number[] {
  const branch = defaultBranchId(t);
  if (!branch) return [];
  const from = tailFrom(steps);
  const pages = new Set<number>();
  for (const step of branchPath(t, branch).slice(-FIRST_PATH_STEPS)) {
    const i = index.get(step.id);
    if (i !== undefined && i < from) pages.add(Math.floor(i / PAGE_STEPS));
  }
  return [...pages].sort((a, b) => a - b);
}

/** The ranges of steps [from, to) left to fetch after an open that sent the tail and the `first` pages. */
function leftRanges(steps: number, first: readonly number[]): Array<[number, number]> {
  const to = tailFrom(steps);
  const out: Array<[number, number]> = [];
  let at = 0;
  for (const p of first) {
    if (p * PAGE_STEPS > at) out.push([at, p * PAGE_STEPS]);
    at = (p + 1) * PAGE_STEPS;
  }
  if (at < to) out.push([at, to]);
  return out;
}

export interface PagedOpening {
  /** The ranges of steps [from, to) whose details come with the open: the `first` pages, then the tail. */
  sent: Array<[number, number]>;
  pages: PageRanges;
}

/** What a paged open of a log with `steps` steps sends, and what it leaves for sessions.page. */
export function opening(steps: number, first: readonly number[]): PagedOpening {
  const sent = first.map((p): [number, number] => [p * PAGE_STEPS, (p + 1) * PAGE_STEPS]);
  sent.push([tailFrom(steps), steps]);
  return { sent, pages: { size: PAGE_STEPS, left: leftRanges(steps, first) } };
}

/** A paged open's reply from the compact events of a loaded log and its trajectory: the tree, the details it sends, and the ranges left. */
export function pagedOpen(events: readonly CompactEvent[], t: Trajectory): { events: CompactEvent[]; tail: CompactEvent[]; pages: PagedOpening['pages'] } {
  const split = splitForPages(events);
  const { sent, pages } = opening(split.byStep.length, firstPages(t, split.index, split.byStep.length));
  return { events: split.tree, tail: sent.flatMap(([a, b]) => pageOf(split, a, b)), pages };
}

/** Each step's place in the order steps started (its first step.started), as splitForPages counts them. */
export function stepIndex(t: Trajectory): Map<string, number> {
  return new Map(stepOrder(t).map((id, i) => [id, i]));
}
