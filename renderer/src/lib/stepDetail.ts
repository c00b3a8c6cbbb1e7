// The full tool results of a step whose observations the compact log cut
// (shared/compact-events.ts: such a result has `elided`, the full length), fetched
// from the core on demand (sessions.stepDetail) and remembered for the steps looked
// at lately. Views that show an observation whole go through here, so a preview is
// never shown as if it were the whole text.
import { useEffect, useState } from 'react';
import type { Step, StepResult } from '../../../shared/trajectory';
import type { Transport } from '../../../shared/transport';
import { useApp, useTransport } from '../context';
import { describeError } from './errors';

export type FullResults =
  /** Every result whole (fetched, or never cut). */
  | { state: 'ready'; results: StepResult[] }
  /** `results` still holds the previews of the cut ones. */
  | { state: 'loading'; results: StepResult[] }
  | { state: 'error'; results: StepResult[]; message: string };

/** Steps remembered; an observation can be megabytes, so only a few. */
const KEEP = 24;
const cache = new Map<string, StepResult[]>();
const inflight = new Map<string, Promise<StepResult[]>>();

export function hasElided(step: Step): boolean {
  return step.results.some((r) => r.elided !== undefined);
}

const keyOf = (sessionId: string, stepId: string) => `${sessionId}\n${stepId}`;

/** The step's results with the cut ones whole, from what was fetched (null: not yet). */
function merged(step: Step, full: StepResult[] | undefined): StepResult[] | null {
  // A running step may have gained results since: fetch again.
  if (!full || full.length < step.results.length) return null;
  return step.results.map((r, i) => (r.elided !== undefined ? full[i]! : r));
}

function remember(key: string, results: StepResult[]): void {
  cache.delete(key);
  cache.set(key, results);
  while (cache.size > KEEP) cache.delete(cache.keys().next().value!);
}

/** The step's results, every observation whole (asks the core when some were cut). */
export async function fullResults(transport: Transport, sessionId: string, step: Step): Promise<StepResult[]> {
  if (!hasElided(step)) return step.results;
  const key = keyOf(sessionId, step.id);
  const hit = merged(step, cache.get(key));
  if (hit) return hit;
  let p = inflight.get(key);
  if (!p) {
    p = transport
      .request('sessions.stepDetail', { sessionId, stepIds: [step.id] })
      .then((res) => {
        const results = res.steps.find((s) => s.stepId === step.id)?.results;
        if (!results) throw new Error(`The core has no step ${step.id} in this session.`);
        remember(key, results);
        return results;
      })
      .finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  const results = await p;
  return merged(step, results) ?? step.results.map((r, i) => (r.elided !== undefined && results[i] ? results[i] : r));
}

/** fullResults as a hook of the open session: the previews while loading, then the whole results. */
export function useFullResults(step: Step): FullResults {
  const transport = useTransport();
  const sessionId = useApp((s) => s.openSessionId);
  const cut = hasElided(step);
  const cached = cut && sessionId ? merged(step, cache.get(keyOf(sessionId, step.id))) : null;
  const [fetched, setFetched] = useState<{ key: string; results: StepResult[] } | { key: string; error: string } | null>(null);
  const key = sessionId ? `${keyOf(sessionId, step.id)}\n${step.results.length}` : '';

  useEffect(() => {
    if (!cut || cached || !sessionId) return;
    let cancelled = false;
    fullResults(transport, sessionId, step).then(
      (results) => !cancelled && setFetched({ key, results }),
      (err: unknown) => !cancelled && setFetched({ key, error: describeError(err).message }),
    );
    return () => {
      cancelled = true;
    };
    // `key` names the step and how many results it has (the step object is mutated in place).
  }, [transport, key, cut, cached === null]);

  if (!cut) return { state: 'ready', results: step.results };
  if (cached) return { state: 'ready', results: cached };
  if (fetched?.key === key) return 'error' in fetched ? { state: 'error', results: step.results, message: fetched.error } : { state: 'ready', results: fetched.results };
  return { state: 'loading', results: step.results };
}
