import type { Step } from '../../../../shared/trajectory';
import type { AppStore } from '../../store';
import { branchTerminal } from '../../lib/trajectoryView';

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
