// Time spent per annotator, an estimate from the label times (merge-report.ts says how
// it is reported): the gaps between one person's consecutive labels, in time order, each
// capped at TIME_GAP_CAP_MS (a longer gap is a break, counted as that much reading).
import { TIME_GAP_CAP_MS } from '../../../shared/merge-report';

/** Σ min(gap, cap) over times added in increasing order. */
export class TimeTally {
  ms = 0;
  private last: number | null = null;

  constructor(private readonly capMs = TIME_GAP_CAP_MS) {}

  add(t: number): void {
    if (this.last !== null) this.ms += Math.min(t - this.last, this.capMs);
    this.last = t;
  }
}

/** Σ min(gap, cap) over consecutive times. */
export function estimateTimeSpent(times: readonly number[], capMs = TIME_GAP_CAP_MS): number {
  const t = new TimeTally(capMs);
  for (const x of [...times].sort((a, b) => a - b)) t.add(x);
  return t.ms;
}
