import type { Step } from '../../../../shared/trajectory';
import type { AppStore } from '../../store';
import type { InspectorTab } from '../../store/view';
import { branchContains, branchTerminal, stepRange } from '../../lib/trajectoryView';
import { effectiveBranch } from './useTrajectoryView';
import { stepDetailsReady } from '../../store/trajectory';

/**
 * Run `fn` once these steps' details are in (at once when they are, or when their page
 * failed): a paged open sends the results, which name the terminals, after the tree.
 */
function whenDetailsIn(store: AppStore, sessionId: string, stepIds: readonly string[], fn: () => void): void {
  const ready = (): boolean => {
    const e = store.getState().trajectories[sessionId];
    return !e || !!e.pending?.error || stepIds.every((id) => stepDetailsReady(e, id));
  };
  if (ready()) return fn();
  const stop = store.subscribe(() => {
    if (!ready()) return;
    stop();
    fn();
  });
}

/** Switch the terminal tabs to the terminal the branch worked in last. */
export function showBranchTerminal(store: AppStore, sessionId: string, branchId: string): void {
  const st = store.getState();
  const entry = st.trajectories[sessionId];
  if (!entry) return;
  const steps: Step[] = [];
  for (const s of entry.t.steps.values()) if (s.branchId === branchId) steps.push(s);
  steps.sort((a, b) => a.depth - b.depth);
  whenDetailsIn(store, sessionId, steps.map((s) => s.id), () => {
    const now = store.getState();
    const e = now.trajectories[sessionId];
    // Still the branch shown: the annotator may have gone elsewhere while the details came.
    if (!e || effectiveBranch(e, now.viewOf(sessionId)) !== branchId) return;
    const term = branchTerminal(steps.map((s) => e.t.steps.get(s.id) ?? s), branchId);
    if (term && (now.terminals[sessionId] ?? []).some((x) => x.id === term)) now.setActiveTerminal(sessionId, term);
  });
}

/**
 * Go to a step from elsewhere (the timeline, a search result): select it and scroll
 * it into view, showing its branch when the branch shown does not hold it, and its
 * terminal (`terminalId` when given: where a search hit was written).
 */
export function jumpToStep(store: AppStore, sessionId: string, stepId: string, opts: { terminalId?: string; tab?: InspectorTab } = {}): void {
  const st = store.getState();
  const entry = st.trajectories[sessionId];
  const step = entry?.t.steps.get(stepId);
  if (!entry || !step) return;
  const shown = effectiveBranch(entry, st.viewOf(sessionId));
  const elsewhere = !shown || !branchContains(entry.t, stepId, shown);
  st.selectStep(sessionId, stepId, { reveal: true, ...(elsewhere ? { branchId: step.branchId } : {}) });
  if (opts.tab) st.setInspectorTab(opts.tab);
  // Its terminal from its results, once they are in; only while it is still the step selected.
  whenDetailsIn(store, sessionId, opts.terminalId ? [] : [stepId], () => {
    const now = store.getState();
    const current = now.trajectories[sessionId]?.t.steps.get(stepId) ?? step;
    if (now.views[sessionId]?.stepId !== stepId) return;
    const terminal = opts.terminalId ?? stepRange(current)?.terminalId;
    if (terminal && (now.terminals[sessionId] ?? []).some((x) => x.id === terminal)) now.setActiveTerminal(sessionId, terminal);
    else if (elsewhere) showBranchTerminal(store, sessionId, step.branchId);
  });
}
