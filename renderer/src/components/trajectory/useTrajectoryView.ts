// The open session's trajectory as the panels see it: the branch shown (picked by
// the user, else the active rollout's), its path from the root, and the selected
// step. The path is computed once per trajectory version and shared by the panels.
import { useMemo } from 'react';
import type { Step } from '../../../../shared/trajectory';
import { useApp } from '../../context';
import type { TrajectoryEntry } from '../../store/trajectory';
import type { SessionViewState } from '../../store/view';
import { defaultBranchId, pathOf } from '../../lib/trajectoryView';

const NO_VIEW: SessionViewState = { branchId: null, stepId: null, follow: true };
const NO_STEPS: Step[] = [];

/**
 * Fold → (version, branch → path). Keyed by the fold, not the entry: an entry is
 * replaced whenever its lastSeq moves, also by events that change no step, and a new
 * path array there would re-run every memo that depends on the path (the timeline's).
 */
const pathCache = new WeakMap<TrajectoryEntry['t'], { version: number; byBranch: Map<string, Step[]> }>();

export function cachedPath(entry: TrajectoryEntry, branchId: string | null): Step[] {
  if (!branchId) return NO_STEPS;
  let c = pathCache.get(entry.t);
  if (!c || c.version !== entry.version) pathCache.set(entry.t, (c = { version: entry.version, byBranch: new Map() }));
  let p = c.byBranch.get(branchId);
  if (!p) c.byBranch.set(branchId, (p = pathOf(entry.t, branchId)));
  return p;
}

export function effectiveBranch(entry: TrajectoryEntry | undefined, view: SessionViewState): string | null {
  if (!entry) return null;
  if (view.branchId && entry.t.branches.has(view.branchId)) return view.branchId;
  return defaultBranchId(entry.t);
}

export interface TrajectoryView {
  sessionId: string | null;
  entry: TrajectoryEntry | undefined;
  view: SessionViewState;
  branchId: string | null;
  path: Step[];
  selected: Step | null;
}

export function useTrajectoryView(): TrajectoryView {
  const sessionId = useApp((s) => s.openSessionId);
  const entry = useApp((s) => (s.openSessionId ? s.trajectories[s.openSessionId] : undefined));
  const view = useApp((s) => (s.openSessionId ? s.views[s.openSessionId] : undefined)) ?? NO_VIEW;
  const branchId = effectiveBranch(entry, view);
  const path = entry ? cachedPath(entry, branchId) : NO_STEPS;
  const selected = useMemo(() => (entry && view.stepId ? entry.t.steps.get(view.stepId) ?? null : null), [entry, view.stepId]);
  return { sessionId, entry, view, branchId, path, selected };
}
