// The branches of a session as a tree: each branch under the one it forks from, at
// its fork point, with its own steps and their labels summed up (keep / mask /
// unreviewed) and its rollout's state. A dropdown and a fork badge did not show how
// the branches hang together. Click a branch to show it.
import { useMemo } from 'react';
import { effectiveLabel, type Trajectory } from '../../../../shared/trajectory';
import { useApp, useAppStore } from '../../context';
import { branchContains, branchLabel, listBranches, type BranchInfo } from '../../lib/trajectoryView';
import { Icon } from '../Icon';
import { showBranchTerminal } from './actions';
import type { TrajectoryView } from './useTrajectoryView';

interface Node {
  info: BranchInfo;
  children: Node[];
  keep: number;
  mask: number;
  unreviewed: number;
}

/** Branches nested under the branch of their fork step, each with its own actions' labels counted. */
export function branchForest(t: Trajectory, pending: ReadonlySet<string> | null = null): Node[] {
  const nodes = new Map<string, Node>();
  for (const info of listBranches(t)) nodes.set(info.branch.id, { info, children: [], keep: 0, mask: 0, unreviewed: 0 });
  for (const s of t.steps.values()) {
    const n = nodes.get(s.branchId);
    // A step whose reply is still on its way (a paged open) is an action all the same: its label is in.
    if (!n || !(s.response || pending?.has(s.id))) continue;
    const l = effectiveLabel(s);
    if (!l) n.unreviewed++;
    else n[l.label]++;
  }
  const roots: Node[] = [];
  for (const n of nodes.values()) {
    const from = n.info.branch.fromStepId ? t.steps.get(n.info.branch.fromStepId) : undefined;
    const parent = from && from.branchId !== n.info.branch.id ? nodes.get(from.branchId) : undefined;
    if (parent) parent.children.push(n);
    else roots.push(n);
  }
  // Children in the order they fork along the parent (then by creation).
  const sort = (list: Node[]) => {
    list.sort((a, b) => a.info.forkDepth - b.info.forkDepth || a.info.branch.createdAt - b.info.branch.createdAt);
    for (const n of list) sort(n.children);
  };
  sort(roots);
  return roots;
}

export function BranchTree({ tv }: { tv: TrajectoryView }) {
  const store = useAppStore();
  const selectBranch = useApp((s) => s.selectBranch);
  const { entry, sessionId } = tv;
  const forest = useMemo(() => (entry ? branchForest(entry.t, entry.pending?.steps ?? null) : []), [entry]);
  if (!entry || !sessionId) return null;

  const pick = (id: string) => {
    const sel = tv.view.stepId;
    const b = entry.t.branches.get(id);
    // As the selector does: keep the selected step when the branch shares it, else show the fork.
    if (!sel) selectBranch(sessionId, id, { follow: true, stepId: null });
    else selectBranch(sessionId, id, { follow: false, stepId: branchContains(entry.t, sel, id) ? sel : (b?.fromStepId ?? null) });
    showBranchTerminal(store, sessionId, id);
  };

  const render = (list: Node[], depth: number) => (
    <ul className={depth === 0 ? 'btree' : 'btree-children'} role={depth === 0 ? 'tree' : 'group'} aria-label={depth === 0 ? 'Branches' : undefined}>
      {list.map((n) => {
        const b = n.info.branch;
        const on = tv.branchId === b.id;
        return (
          <li key={b.id} role="treeitem" aria-selected={on} aria-expanded={n.children.length ? true : undefined}>
            <button
              type="button"
              className={`btree-row${on ? ' on' : ''}`}
              data-testid="branch-node"
              data-branch-id={b.id}
              data-depth={depth}
              data-selected={on ? 'true' : 'false'}
              title={`${branchLabel(b)}${b.reason === 'rewind' ? ' (rewind)' : ''} · ${b.author}`}
              onClick={() => pick(b.id)}
            >
              <Icon name="branch" size={11} />
              <span className="btree-name">{branchLabel(b)}</span>
              <span className="btree-from">{n.info.forkDepth > 0 ? `from step ${n.info.forkDepth}` : depth > 0 ? 'from the start' : 'root'}</span>
              <span className="btree-steps">
                {n.info.ownSteps} step{n.info.ownSteps === 1 ? '' : 's'}
              </span>
              <span className="btree-labels" data-testid="branch-labels" data-keep={n.keep} data-mask={n.mask} data-unreviewed={n.unreviewed} title="Labels of this branch's own actions: keep · mask · unreviewed">
                {n.keep + n.mask + n.unreviewed === 0 && <span className="btree-unrev">no actions</span>}
                {n.keep > 0 && <span className="k-keep">{n.keep} keep</span>}
                {n.mask > 0 && <span className="k-mask">{n.mask} mask</span>}
                {n.unreviewed > 0 && <span className="btree-unrev">{n.unreviewed} unreviewed</span>}
              </span>
              {n.info.rollout && (n.info.rollout.state === 'running' || n.info.rollout.state === 'paused') && <span className={`run-text run-${n.info.rollout.state}`}>{n.info.rollout.state}</span>}
            </button>
            {n.children.length > 0 && render(n.children, depth + 1)}
          </li>
        );
      })}
    </ul>
  );

  return (
    <div className="btree-wrap" data-testid="branch-tree">
      {render(forest, 0)}
    </div>
  );
}
