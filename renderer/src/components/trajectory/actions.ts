import type { Step } from '../../../../shared/trajectory';
import type { AppStore } from '../../store';
import type { InspectorTab } from '../../store/view';
import { branchContains, branchTerminal, stepRange } from '../../lib/trajectoryView';
import { effectiveBranch } from './useTrajectoryView';

/** Switch the terminal tabs to the terminal the branch worked in last. */
export function showBranchTerminal(store: AppStore, sessionId: string, branchId: string): void {
  const st = store.getState();
  const entry = st.trajectories[sessionId];
  if (!entry) return;
  const steps: Step[] = [];
  for (const s of entry.t.steps.values()) if (s.branchId === branchId) steps.push(s);
  steps.sort((a, b) => a.depth - b.depth);
  const term = branchTerminal(steps, branchId);
  if (term && (st.terminals[sessionId] ?? []).some((x) => x.id === term)) st.setActiveTerminal(sessionId, term);
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
  const terminal = opts.terminalId ?? stepRange(step)?.terminalId;
  if (terminal && (st.terminals[sessionId] ?? []).some((x) => x.id === terminal)) st.setActiveTerminal(sessionId, terminal);
  else if (elsewhere) showBranchTerminal(store, sessionId, step.branchId);
  if (opts.tab) st.setInspectorTab(opts.tab);
}
