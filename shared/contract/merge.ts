// Merging dataset bundles from the UI (the Merge view), as `apollo merge` does: the
// bundles are folders on the host, named by path (browser mode sees no host paths,
// so they are typed or pasted; the desktop app also offers a folder picker and
// drag-and-drop). merge.plan is the merge's own dry run (every input verified, the
// labels decided, nothing written); merge.start writes, with progress pushed.
import { z } from 'zod';
import { command } from './define';
import type { MergeReport } from '../merge-report';

const id = z.string().min(1).max(200);
const path = z.string().min(1).max(4096);

/** What a merge takes, planned (merge.plan) or written (merge.start). */
const mergeSelection = {
  /** Bundle folders on the host, in merge order. */
  inputs: z.array(path).min(1).max(500),
  /** any-mask | majority | prefer:NAME[,NAME…] | manual */
  policy: z.string().min(1).max(2000),
  /** The lead's decisions on conflicts (over any policy; required for every conflict under manual). */
  settlements: z.array(z.object({
    sessionId: id, stepId: id, label: z.enum(['keep', 'mask']),
    /** The conflicting labels it settles: when one of them changes, the conflict opens again. */
    votes: z.array(z.object({ annotator: z.string().max(200), source: z.enum(['annotator', 'judge', 'rule']), label: z.enum(['keep', 'mask']) })).max(1000).optional(),
  })).max(20_000).optional(),
  /** Earlier merged bundles (or their manifest/report, or settlement files) whose settlements apply too. */
  settlementsFrom: z.array(path).max(100).optional(),
  /** Trust files (lines of `apollo keys export-public`): a signed input must be signed by one of these keys. */
  trust: z.array(path).max(100).optional(),
  /** Accept unsigned bundles (flagged in the report); refused otherwise. */
  allowUnsigned: z.boolean().optional(),
  allowMixedPolicies: z.boolean().optional(),
};

/** A conflict's step, as the bundle's trajectory.jsonl recorded it (long texts cut). */
export interface MergeConflictStep {
  sessionId: string;
  stepId: string;
  sessionName: string | null;
  branchName: string;
  /** Its step number on its branch. */
  depth: number;
  content: string;
  reasoning: string | null;
  toolCalls: Array<{ name: string; arguments: string }>;
  results: Array<{ name: string; observation: string; isError: boolean }>;
  /** False when a fact decides it whatever the labels (a secret in it, invalid call arguments). */
  settleable: boolean;
}

/** What merge.start with the same arguments would write. */
export interface MergePlanResult {
  report: MergeReport;
  /** One per report conflict, in the same order. */
  steps: MergeConflictStep[];
}

export const mergeCommands = {
  'merge.plan': command<MergePlanResult>()(z.object(mergeSelection)),
  'merge.start': command<{ mergeId: string }>()(z.object({ ...mergeSelection, outDir: path })),
  'merge.cancel': command<{ ok: true }>()(z.object({ mergeId: id })),
  /** Let the user choose bundle folders in the host's own dialog (the desktop app); UNAVAILABLE elsewhere. */
  'merge.pickFolders': command<{ paths: string[] }>()(z.object({})),
};

export interface MergePushEvents {
  'merge.progress': {
    mergeId: string;
    done: number;
    total: number;
    stage: string;
    state: 'running' | 'done' | 'failed' | 'cancelled';
    /** With state 'done'. */
    dir?: string;
    report?: MergeReport;
    /** With state 'failed'. */
    error?: string;
  };
}
