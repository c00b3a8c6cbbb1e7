// The full results of a step as a React hook of the open session (lib/stepDetail.ts
// fetches and remembers them): the previews while loading, then the whole results.
import { useEffect, useState } from 'react';
import type { Step, StepResult } from '../../../shared/trajectory';
import { useApp, useTransport } from '../context';
import { describeError } from './errors';
import { cachedFullResults, fullResults, hasElided } from './stepDetail';

export type FullResults =
  /** Every result whole (fetched, or never cut). */
  | { state: 'ready'; results: StepResult[] }
  /** `results` still holds the previews of the cut ones. */
  | { state: 'loading'; results: StepResult[] }
  | { state: 'error'; results: StepResult[]; message: string };

/** fullResults as a hook of the open session: the previews while loading, then the whole results. */
export function useFullResults(step: Step): FullResults {
  const transport = useTransport();
  const sessionId = useApp((s) => s.openSessionId);
  const cut = hasElided(step);
  const cached = cut && sessionId ? cachedFullResults(sessionId, step) : null;
  const [fetched, setFetched] = useState<{ key: string; results: StepResult[] } | { key: string; error: string } | null>(null);
  const key = sessionId ? `${sessionId}\n${step.id}\n${step.results.length}` : '';

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
