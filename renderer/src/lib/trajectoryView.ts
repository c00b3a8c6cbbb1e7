// Derived views of a trajectory fold for the UI: branches with their sizes and
// rollouts, the branch shown by default, where guidance was delivered, and which
// part of which terminal recording a step or a branch produced.
import { branchPath, latestRollout, type Branch, type Guidance, type Rollout, type Step, type Trajectory } from '../../../shared/trajectory';

export interface BranchInfo {
  branch: Branch;
  /** Steps recorded on this branch itself (not its ancestors). */
  ownSteps: number;
  /** Step number (depth) it forks from; 0 = from the start. */
  forkDepth: number;
  rollout: Rollout | null;
}

// The rule of which branch a session opens on is shared with the host, whose paged open
// sends the details of that branch's newest steps first (electron/core/open-pages.ts).
export { defaultBranchId, latestRollout } from '../../../shared/trajectory';

export function isActive(r: Rollout | null): boolean {
  return !!r && (r.state === 'running' || r.state === 'paused');
}

/** Branches in creation order, the root branch first. */
export function listBranches(t: Trajectory): BranchInfo[] {
  const counts = new Map<string, number>();
  for (const s of t.steps.values()) counts.set(s.branchId, (counts.get(s.branchId) ?? 0) + 1);
  const out: BranchInfo[] = [];
  for (const b of t.branches.values()) {
    const from = b.fromStepId ? t.steps.get(b.fromStepId) : undefined;
    out.push({ branch: b, ownSteps: counts.get(b.id) ?? 0, forkDepth: from?.depth ?? 0, rollout: latestRollout(t, b.id) });
  }
  return out.sort((a, b) => Number(b.branch.reason === 'root' && b.branch.fromStepId === null) - Number(a.branch.reason === 'root' && a.branch.fromStepId === null) || a.branch.createdAt - b.branch.createdAt);
}

export function branchLabel(b: Branch): string {
  return b.name && b.name !== b.id ? b.name : b.id.length > 12 ? b.id.slice(0, 8) : b.id;
}

/** The step number whose prompt first carried this guidance (1 = before the first step). */
export function deliveredAtStep(t: Trajectory, g: Guidance): number | null {
  if (!g.delivered) return null;
  if (g.delivered.stepId === null) return 1;
  const s = t.steps.get(g.delivered.stepId);
  return s ? s.depth + 1 : null;
}

export interface RecordingRange {
  terminalId: string;
  start: number;
  end: number;
}

/** The recording bytes a step's tool calls produced (the first terminal that has a range). */
export function stepRange(step: Step): RecordingRange | null {
  let r: RecordingRange | null = null;
  for (const res of step.results) {
    if (!res.terminalId || !res.range) continue;
    if (!r) r = { terminalId: res.terminalId, start: res.range[0], end: res.range[1] };
    else if (res.terminalId === r.terminalId) {
      r.start = Math.min(r.start, res.range[0]);
      r.end = Math.max(r.end, res.range[1]);
    }
  }
  return r;
}

/** The terminal the branch's newest steps used (to show with the branch). */
export function branchTerminal(path: readonly Step[], branchId: string): string | null {
  for (let i = path.length - 1; i >= 0; i--) {
    const s = path[i]!;
    if (s.branchId !== branchId) break;
    for (let j = s.results.length - 1; j >= 0; j--) if (s.results[j]!.terminalId) return s.results[j]!.terminalId!;
  }
  return null;
}

export function pathOf(t: Trajectory, branchId: string | null): Step[] {
  return branchId ? branchPath(t, branchId) : [];
}

/** Whether a step lies on a branch's path (the branch's own steps or the ones it forks from). */
export function branchContains(t: Trajectory, stepId: string, branchId: string): boolean {
  return branchPath(t, branchId).some((s) => s.id === stepId);
}
