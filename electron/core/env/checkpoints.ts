// What the rest of the core asks of a checkpoint store, wherever the files are: the
// local shadow repository (checkpoints/shadow-git.ts, in the session folder) and the
// one kept inside a remote environment (remote-checkpoints.ts) both provide it, with
// the same budget, exclusions and all-or-nothing restore.
import type { CheckpointLimits } from '../../../shared/checkpoint-limits';
import type { CheckpointChange, CheckpointFile, CheckpointUsage, SnapshotResult } from '../checkpoints/shadow-git';

export type { CheckpointChange, CheckpointFile, CheckpointUsage, SnapshotResult };

export interface Checkpoints {
  readonly workDir: string;
  readonly maxFileBytes: number;
  readonly budgetBytes: number;
  setLimits(limits: Partial<CheckpointLimits>): void;
  snapshot(label: string): Promise<SnapshotResult>;
  restore(commit: string): Promise<void>;
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
