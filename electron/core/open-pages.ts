// A paged open (issue 10): sessions.open with `paged` sends a session's tree (every event
// but the steps' details, shared/compact-events.ts isStepDetail) and the details of its
// newest steps, the ones a reviewer sees first; the page fetches the others by page
// (sessions.page) after its first frame. Pages are ranges of steps in the order they
// started, read at the version the open answered with: the log only grows, so a range
// always names the same events, from the view kept beside the log (open-view.ts) or
// from the log itself.
import type { CompactEvent } from '../../shared/compact-events';
import { isStepDetail } from '../../shared/compact-events';

/** Steps per page: ~100 kB of details on the generated session. */
export const PAGE_STEPS = 50;

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
  return { tree, byStep };
}

/** The details of the steps [from, to), in seq order. */
export function pageOf(split: PageSplit, from: number, to: number): CompactEvent[] {
  return split.byStep.slice(from, to).flat().sort((a, b) => a.seq - b.seq);
}

/** A paged open's reply from the compact events of a loaded log: the tree, the newest steps' details, and which pages are left. */
export function pagedOpen(events: readonly CompactEvent[]): { events: CompactEvent[]; tail: CompactEvent[]; pages: { from: number; to: number; size: number } } {
  const split = splitForPages(events);
  const from = tailFrom(split.byStep.length);
  return { events: split.tree, tail: pageOf(split, from, split.byStep.length), pages: { from: 0, to: from, size: PAGE_STEPS } };
}
