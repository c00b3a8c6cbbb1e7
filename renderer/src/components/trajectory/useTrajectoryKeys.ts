// Keyboard navigation of the trajectory (only while focus is not in a text field or
// a terminal). The bindings come from the one keymap (lib/keymap.ts) shared with the
// filter view and the help overlay: j/k or ↓/↑ next/previous step, h/l or ←/→
// parent/child, b next branch, c comment, Shift+B branch here, Shift+R rewind here,
// Enter expand the selected step, g/G first/last, f follow, Esc deselect, ? help.
import { useAppStore } from '../../context';
import { actionFor } from '../../lib/keymap';
import { inModal, isTypingTarget, useDocumentKeys } from '../keys';
import { branchContains, listBranches } from '../../lib/trajectoryView';
import { showBranchTerminal } from './actions';
import type { TrajectoryView } from './useTrajectoryView';

export function useTrajectoryKeys(tv: TrajectoryView) {
  const store = useAppStore();
  useDocumentKeys((e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    if (isTypingTarget(e.target) || inModal(e.target)) return;
    const target = e.target as HTMLElement | null;
    // Enter and Space on a focused control are the control's own, except the toggles
    // inside the step list: clicking one leaves the focus on it, and Enter then
    // flipped that step's section after j/k had moved to another step. In the list,
    // Enter means the selected step.
    if ((e.key === 'Enter' || e.key === ' ') && target?.closest?.('button, a, [role="button"]') && !target.closest('[data-testid="step-list"]')) return;
    const st = store.getState();
    if (st.dialog) return;
    const { sessionId, entry, path, view, branchId } = tv;
    if (!sessionId || !entry) return;
    // Another view of the session (e.g. the filter table) may own the keys.
    if ((st as { sessionMode?: Record<string, string | undefined> }).sessionMode?.[sessionId] === 'filter') return;
    const t = entry.t;
    const idx = view.stepId ? path.findIndex((s) => s.id === view.stepId) : -1;
    const selected = view.stepId ? t.steps.get(view.stepId) : undefined;
    const select = (id: string | undefined, branch?: string) => {
      if (!id) return;
      st.selectStep(sessionId, id, { reveal: true, branchId: branch });
    };
    const last = path[path.length - 1];
    let handled = true;

    const action = e.key === ' ' ? null : actionFor('live', e, st.keymap);
    switch (action) {
      case 'next':
        select(idx < 0 ? last?.id : path[Math.min(path.length - 1, idx + 1)]?.id);
        break;
      case 'prev':
        select(idx < 0 ? last?.id : path[Math.max(0, idx - 1)]?.id);
        break;
      case 'parent':
        if (!selected) select(last?.id);
        else if (selected.parentId) select(selected.parentId);
        break;
      case 'child': {
        if (!selected) {
          select(path[0]?.id);
          break;
        }
        const onPath = idx >= 0 ? path[idx + 1] : undefined;
        if (onPath) select(onPath.id);
        else {
          // The selected step is off this branch's path or at its end: go down the first child.
          const child = selected.children.map((c) => t.steps.get(c)).find(Boolean);
          if (child) {
            select(child.id, child.branchId);
            showBranchTerminal(store, sessionId, child.branchId);
          }
        }
        break;
      }
      case 'nextBranch': {
        const branches = listBranches(t);
        if (branches.length < 2) break;
        const i = branches.findIndex((b) => b.branch.id === branchId);
        const next = branches[(i + 1) % branches.length]!.branch;
        // Stay on the selected step when the next branch shares it, else show its fork point.
        const nextLeafShares = selected ? branchContains(t, selected.id, next.id) : false;
        st.selectBranch(sessionId, next.id, selected ? { follow: false, stepId: nextLeafShares ? selected.id : next.fromStepId } : { follow: true, stepId: null });
        showBranchTerminal(store, sessionId, next.id);
        break;
      }
      case 'branchHere':
        if (selected) st.openDialog({ kind: 'branch', sessionId, fromStepId: selected.id });
        else handled = false;
        break;
      case 'rewindHere':
        if (selected) st.openDialog({ kind: 'rewind', sessionId, toStepId: selected.id });
        else handled = false;
        break;
      case 'comment':
        if (selected) st.focusComment();
        else handled = false;
        break;
      case 'toggleStep':
        if (selected) {
          st.toggleSection(`${selected.id}:thought`);
          st.toggleSection(`${selected.id}:obs`);
        } else handled = false;
        break;
      case 'toggleObs':
        if (selected) st.toggleSection(`${selected.id}:obs`);
        else handled = false;
        break;
      case 'toggleThought':
        if (selected) st.toggleSection(`${selected.id}:thought`);
        else handled = false;
        break;
      case 'first':
        select(path[0]?.id);
        break;
      case 'last':
        select(last?.id);
        break;
      case 'follow':
        st.setFollow(sessionId, !view.follow);
        break;
      case 'escape':
        if (view.stepId) {
          st.selectStep(sessionId, null);
          st.setFollow(sessionId, true);
        } else handled = false;
        break;
      case 'help':
        st.openDialog({ kind: 'shortcuts' });
        break;
      default:
        handled = false;
    }
    if (handled) e.preventDefault();
  });
}

