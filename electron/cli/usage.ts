// Usage errors: every `apollo` command answers a wrong invocation the same way, with
// one line saying what is wrong, the command's usage, and exit code 2 (scripts tell
// "you called it wrong" from "it ran and failed", which is 1).
import type { ParseArgsConfig } from 'node:util';

export const USAGE_EXIT = 2;

/**
 * Exit codes: scripts can tell how a headless rollout (or a branch continued by the agent) ended.
 * Here rather than in rollout.ts so that branch.ts and rollout.ts do not import each other: with
 * each command loaded on its own, such a cycle can run one module's top level before the other's.
 */
export const EXIT = { finished: 0, failed: 1, usage: USAGE_EXIT, stopped: 3, paused: 4 } as const;

/** Thrown by a command for a wrong invocation; `apollo` prints it with the command's usage and exits 2. */
export class UsageError extends Error {}

/**
 * One line for an error of node:util parseArgs. Node's own messages quote the option
 * with an unbalanced quote and suggest `--` positionals, which no command here needs.
 */
export function describeParseError(err: unknown, options: NonNullable<ParseArgsConfig['options']>): string {
  const e = err as { code?: string; message?: string };
  const msg = e.message ?? String(err);
  const opt = /'(-{1,2}[^'\s<]+)/.exec(msg)?.[1] ?? '';
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const near = closestOption(opt, options);
    return `unknown option ${opt}${near ? ` (did you mean ${near}?)` : ''}`;
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    if (/does not take an argument/.test(msg)) return `option ${opt} takes no value`;
    if (/argument missing/.test(msg)) return `option ${opt} needs a value`;
  }
  return msg.replace(/\. To specify a positional argument.*$/s, '');
}

/** The known option nearest to a mistyped one (edit distance ≤ 2), spelled as typed. */
function closestOption(typed: string, options: NonNullable<ParseArgsConfig['options']>): string | null {
  const name = typed.replace(/^-+/, '');
  if (!name || typed.startsWith('-') && !typed.startsWith('--') && name.length === 1) return null;
  let best: { name: string; d: number } | null = null;
  for (const known of Object.keys(options)) {
    const d = distance(name, known);
    if (d <= 2 && (!best || d < best.d)) best = { name: known, d };
  }
  return best ? `--${best.name}` : null;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
