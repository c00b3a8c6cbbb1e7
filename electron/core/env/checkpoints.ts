// What the rest of the core asks of a checkpoint store, wherever the files are: the
// local shadow repository (checkpoints/shadow-git.ts, in the session folder) and the
// one kept inside a remote environment (remote-checkpoints.ts) both provide it, with
// the same budget, exclusions and all-or-nothing restore.
import type { CheckpointLimits } from '../../../shared/checkpoint-limits';
import type { RestoreProgress } from '../../../shared/contract/annotate';
import type { CheckpointChange, CheckpointFile, CheckpointUsage, SnapshotResult } from '../checkpoints/shadow-git';

export type { CheckpointChange, CheckpointFile, CheckpointUsage, SnapshotResult };

export interface Checkpoints {
  readonly workDir: string;
  readonly maxFileBytes: number;
  readonly budgetBytes: number;
  setLimits(limits: Partial<CheckpointLimits>): void;
  snapshot(label: string): Promise<SnapshotResult>;
  /** `onProgress`: each stage as it starts (a restore of a large folder takes a while), and counts where a stage has them. */
  restore(commit: string, onProgress?: (p: RestoreProgress) => void): Promise<void>;
  files(commit: string): Promise<CheckpointFile[]>;
  diff(from: string | null, to: string): Promise<CheckpointChange[]>;
  readFile(commit: string, path: string): Promise<Buffer>;
  usage(): Promise<CheckpointUsage>;
  verify(): Promise<{ ok: boolean; error?: string }>;
  idle(): Promise<void>;
  close(): Promise<void>;
}

export interface CheckpointOpenOptions {
  sessionId: string;
  /** The folder whose files are checkpointed, in the environment. */
  workDir: string;
  /** The local store's folder (the session's checkpoints.git); remote stores live in the environment. */
  localStoreDir: string;
  excludes?: string[];
  maxFileBytes?: number;
  budgetBytes?: number;
}

const files = (n: number): string => `${n.toLocaleString('en')} file${n === 1 ? '' : 's'}`;

/** What a restore says it is doing, the same for every store. */
export const RESTORE_STAGES = {
  scan: (): RestoreProgress => ({ stage: 'scan', text: 'Looking at the working directory' }),
  save: (): RestoreProgress => ({ stage: 'save', text: 'Keeping its current files in a checkpoint of their own' }),
  write: (n: number): RestoreProgress => ({ stage: 'write', text: `Writing ${files(n)} from the checkpoint` }),
  swap: (into: number, aside: number, done: number): RestoreProgress => ({
    stage: 'swap', text: `Putting ${files(into)} in place${aside ? `, ${files(aside)} aside` : ''}`, done, total: into + aside,
  }),
  shell: (): RestoreProgress => ({ stage: 'shell', text: 'Starting a fresh shell' }),
};
