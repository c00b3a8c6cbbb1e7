// Where long text is cut to a head and a tail (an observation over its cap, the judge's
// view of one), a cut through a secret leaves a piece of it that no rule finds: neither
// the configured value nor a pattern matches part of a key, nor a value whose name
// (`PASSWORD=`) went with the other side. The export redacts what was recorded, and let
// 119 of a configured key's 132 characters through, unreported. So a cut never falls
// inside a secret or between a secret and the name that marks it: it moves to that
// match's edge, and the secret is either whole on one side (redacted there like any
// other) or wholly left out.
import { Redactor } from './redact';
import type { SecretSpec } from './key-fingerprint';

/** How far from a cut a secret may begin or end: more than the longest match the rules make (a private key block, ~17 KB). */
const REACH = 20_000;
/**
 * How far back a match's span takes in the word it begins in. Some rules find a secret
 * by a literal in it (`_KEY=`, `://`) and check what comes before in a look-behind (the
 * name, the scheme): a cut there left `_KEY=…` or `s://…@`, which no rule matches.
 */
const WORD_REACH = 256;

/** One redactor per list of secrets (a rollout cuts every long observation with the same). */
const redactors = new Map<string, Redactor>();

function redactorFor(secrets: readonly SecretSpec[]): Redactor {
  const key = JSON.stringify(secrets);
  let r = redactors.get(key);
  if (!r) {
    if (redactors.size >= 16) redactors.clear();
    r = new Redactor([...secrets]);
    redactors.set(key, r);
  }
  return r;
}

/**
 * `at`, a cut of `text`, moved out of every secret (with the name that marks it) it falls
 * in: to the secret's start for the end of a head (`toward` 'start'), to its end for the
 * start of a tail ('end'). `secrets`: exact values to treat as secrets besides the patterns.
 */
export function cutOutsideSecrets(text: string, at: number, toward: 'start' | 'end', secrets: readonly SecretSpec[] = []): number {
  const from = Math.max(0, at - REACH);
  const spans = redactorFor(secrets).findWithContext(text.slice(from, Math.min(text.length, at + REACH)))
    .map((m) => [wordStart(text, from + Math.min(m.from, m.start)), from + m.end] as const);
  let cut = at;
  // Moving out of one span can land in another (a name's context overlapping the secret before it): until none holds the cut.
  for (let moved = true; moved;) {
    moved = false;
    for (const [a, b] of spans) {
      if (a < cut && cut < b) {
        cut = toward === 'start' ? a : b;
        moved = true;
      }
    }
  }
  return cut;
}

/** Where the word holding `i` begins (whitespace ends a word), at most WORD_REACH back. */
function wordStart(text: string, i: number): number {
  let a = i;
  while (a > 0 && i - a < WORD_REACH && !/\s/.test(text[a - 1]!)) a--;
  return a;
}

/**
 * `text` as its first `head` and last `tail` characters around a note of what was left
 * out (`note(omitted)`), the cuts moved out of any secret (cutOutsideSecrets); `text`
 * itself when it is not longer than the two.
 */
export function headAndTail(text: string, head: number, tail: number, note: (omitted: number) => string, secrets: readonly SecretSpec[] = []): string {
  if (text.length <= head + tail) return text;
  const headEnd = cutOutsideSecrets(text, head, 'start', secrets);
  const tailStart = Math.max(headEnd, cutOutsideSecrets(text, text.length - tail, 'end', secrets));
  return `${text.slice(0, headEnd)}${note(tailStart - headEnd)}${text.slice(tailStart)}`;
}
