// The full results and reasoning of a step as React hooks of the open session
// (lib/stepDetail.ts fetches and remembers them): the previews while loading, then the whole text.
import { useEffect, useState } from 'react';
import type { Step, StepResult } from '../../../shared/trajectory';
import type { Transport } from '../../../shared/transport';
import { useApp, useTransport } from '../context';
import { describeError } from './errors';
import { cachedFullReasoning, cachedFullResults, fullReasoning, fullResults, hasElided, hasElidedReasoning } from './stepDetail';

/** The whole of something the compact log may have cut: `value` is the preview until it is `ready`. */
export type Full<T> =
  | { state: 'ready'; value: T }
  | { state: 'loading'; value: T }
  | { state: 'error'; value: T; message: string };

/**
 * One step's whole text, fetched when the compact log cut it. `key` names the step and
 * what was cut (the step object is mutated in place, so its identity says nothing).
 */
function useFull<T>(step: Step, key: string, cut: boolean, preview: T, cachedOf: (sessionId: string, step: Step) => T | null, fetch: (t: Transport, sessionId: string, step: Step) => Promise<T>): Full<T> {
  const transport = useTransport();
  const sessionId = useApp((s) => s.openSessionId);
  const cached = cut && sessionId ? cachedOf(sessionId, step) : null;
  const [fetched, setFetched] = useState<{ key: string; value: T } | { key: string; error: string } | null>(null);
  const fullKey = sessionId ? `${sessionId}\n${step.id}\n${key}` : '';

  useEffect(() => {
    if (!cut || cached !== null || !sessionId) return;
    let cancelled = false;
    fetch(transport, sessionId, step).then(
      (value) => !cancelled && setFetched({ key: fullKey, value }),
      (err: unknown) => !cancelled && setFetched({ key: fullKey, error: describeError(err).message }),
    );
    return () => {
      cancelled = true;
    };
  }, [transport, fullKey, cut, cached === null]);

  if (!cut) return { state: 'ready', value: preview };
  if (cached !== null) return { state: 'ready', value: cached };
  if (fetched?.key === fullKey) return 'error' in fetched ? { state: 'error', value: preview, message: fetched.error } : { state: 'ready', value: fetched.value };
  return { state: 'loading', value: preview };
}

export type FullResults = Full<StepResult[]>;
export type FullReasoning = Full<string>;

/** Every result of the step whole; `value` holds the previews of the cut ones while loading. */
export function useFullResults(step: Step): FullResults {
  return useFull(step, String(step.results.length), hasElided(step), step.results, cachedFullResults, fullResults);
}

/** The step's whole reasoning; `value` is the preview while loading. */
export function useFullReasoning(step: Step): FullReasoning {
  return useFull(step, String(step.response?.reasoningElided ?? ''), hasElidedReasoning(step), step.response?.reasoning ?? '', cachedFullReasoning, fullReasoning);
}
