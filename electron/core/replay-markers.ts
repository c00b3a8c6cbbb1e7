// The steps of a terminal's recording as the replay bar and the search place them
// (shared/replay-markers.ts says which step a point belongs to).
import type { ReplayMarker } from '../../shared/contract/replay';
import type { Trajectory } from '../../shared/trajectory';

/**
 * The steps that ran a command in `terminalId`, each at the first byte of its output
 * there, in the order they started; when none did (a terminal only a person typed in),
 * every step, placed by time.
 */
export function terminalMarkers(t: Trajectory, terminalId: string): ReplayMarker[] {
  const all = t.order.map((stepId, i): ReplayMarker => {
    const step = t.steps.get(stepId)!;
    let offset: number | null = null;
    for (const r of step.results) if (r.terminalId === terminalId && r.range) offset = offset === null ? r.range[0] : Math.min(offset, r.range[0]);
    return { stepId, n: i + 1, branchId: step.branchId, ts: step.startedAt, offset };
  });
  const here = all.filter((m) => m.offset !== null);
  return (here.length ? here : all).sort((a, b) => a.ts - b.ts);
}
