// The checkpoint flags of apollo rollout, branch and rewind. A module of its own (no
// CLI imports) so that every command can use it at load time whatever the import order.
import { checkLimit, parseByteSize, type CheckpointLimits } from '../../shared/checkpoint-limits';
import type { CliCommand } from './index';

/** Checkpoint limits for this run (rollout, branch, rewind); the saved settings apply otherwise. */
export const checkpointOptions: CliCommand['options'] = {
  'checkpoint-budget': { type: 'string' },
  'checkpoint-max-file': { type: 'string' },
};

export const CHECKPOINT_USAGE =
  '  --checkpoint-budget SIZE and --checkpoint-max-file SIZE (e.g. 2G, 500M; K/M/G/T are powers of 1024) set the checkpoint disk budget\n' +
  "  of the session and the size over which files are left out, for this run (saved settings: checkpointBudgetBytes, checkpointMaxFileBytes).";

/** The checkpointOptions given; a string is a usage error. */
export function checkpointLimitsFrom(v: Record<string, unknown>): Partial<CheckpointLimits> | string {
  const out: Partial<CheckpointLimits> = {};
  for (const [flag, kind] of [['checkpoint-budget', 'budgetBytes'], ['checkpoint-max-file', 'maxFileBytes']] as const) {
    const text = v[flag];
    if (text === undefined) continue;
    const n = parseByteSize(String(text));
    if (n === null) return `--${flag} takes a size such as 2G, 500M or 1048576, got ${JSON.stringify(text)}.`;
    const problem = checkLimit(kind, n);
    if (problem) return `--${flag}: ${problem}`;
    out[kind] = n;
  }
  return out;
}
