// Which step a point of a terminal's recording belongs to. One rule for every view that
// names one (the replay bar, the search's terminal hits), so they never disagree: the
// last of the terminal's markers (in the order the steps started) that the point has
// reached, by byte offset where the step ran a command in this terminal, else by time.
import type { ReplayMarker } from './contract/replay';

/** Index in `markers` of the step running at `offset` (or at `ts`), -1 when none has started. */
export function markerAt(markers: readonly ReplayMarker[], offset: number, ts: number | null): number {
  let found = -1;
  for (let i = 0; i < markers.length; i++) {
    const m = markers[i]!;
    const reached = m.offset !== null ? m.offset <= offset : ts !== null && m.ts <= ts;
    if (reached) found = i;
  }
  return found;
}
