// The two checkpoint settings (workspace.json `settings`), their defaults and bounds,
// and the byte sizes people type for them ("2G", "500M"). Shared by the core, the CLI
// flags and the Settings dialog so that all three accept and show the same thing.

export interface CheckpointLimits {
  /** Disk the session's checkpoint store may use; a step that would go over is not checkpointed. */
  budgetBytes: number;
  /** Files bigger than this are left out of checkpoints (and listed as skipped). */
  maxFileBytes: number;
}

export const CHECKPOINT_SETTING_KEYS = { budgetBytes: 'checkpointBudgetBytes', maxFileBytes: 'checkpointMaxFileBytes' } as const;

export const DEFAULT_CHECKPOINT_BUDGET_BYTES = 2 * 1024 ** 3;
export const DEFAULT_CHECKPOINT_MAX_FILE_BYTES = 10 * 1024 ** 2;

/** Accepted ranges. Below 1 MiB a budget cannot hold the first commit of a small project. */
export const CHECKPOINT_BUDGET_RANGE = { min: 1024 ** 2, max: 2 ** 50 } as const;
export const CHECKPOINT_MAX_FILE_RANGE = { min: 1024, max: 2 ** 40 } as const;

/** Where a person changes each setting, for error messages. */
export const CHECKPOINT_SETTING_HELP = {
  budgetBytes: 'setting checkpointBudgetBytes: Settings → Checkpoints, or --checkpoint-budget on apollo rollout/branch/rewind',
  maxFileBytes: 'setting checkpointMaxFileBytes: Settings → Checkpoints, or --checkpoint-max-file',
} as const;

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * "2G", "500M", "1.5GiB", "750 KB", "1048576" → bytes. Units are binary (K = 1024), as
 * in `du -h` and most tools that take such sizes; null when it is not a size.
 */
export function parseByteSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) return null;
  const n = Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? NaN);
  if (!Number.isFinite(n)) return null;
  return Math.round(n);
}

/** Bytes for people: "2.00 GiB", "500.0 MiB", "12 B". */
export function formatByteSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (n < 1024 ** 4) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  return `${(n / 1024 ** 4).toFixed(2)} TiB`;
}

/** The first problem with a limit value, or null when it is in range. */
export function checkLimit(kind: keyof CheckpointLimits, n: number): string | null {
  const r = kind === 'budgetBytes' ? CHECKPOINT_BUDGET_RANGE : CHECKPOINT_MAX_FILE_RANGE;
  const name = kind === 'budgetBytes' ? 'The checkpoint budget' : 'The checkpoint file size limit';
  if (!Number.isSafeInteger(n) || n < r.min || n > r.max) return `${name} must be between ${formatByteSize(r.min)} and ${formatByteSize(r.max)}.`;
  return null;
}

/**
 * The limits in force: `overrides` (CLI flags), else the stored settings (read through
 * `setting`; a value out of range, e.g. a hand-edited workspace.json, counts as unset),
 * else the defaults.
 */
export function resolveCheckpointLimits(setting: (key: string) => unknown, overrides: Partial<CheckpointLimits> = {}): CheckpointLimits {
  const pick = (kind: keyof CheckpointLimits, fallback: number): number => {
    const o = overrides[kind];
    if (o !== undefined) return o;
    const v = setting(CHECKPOINT_SETTING_KEYS[kind]);
    return typeof v === 'number' && checkLimit(kind, v) === null ? v : fallback;
  };
  return { budgetBytes: pick('budgetBytes', DEFAULT_CHECKPOINT_BUDGET_BYTES), maxFileBytes: pick('maxFileBytes', DEFAULT_CHECKPOINT_MAX_FILE_BYTES) };
}
