// The full results and reasoning of a step as React hooks of the open session
// (lib/stepDetail.ts fetches and remembers them): the previews while loading, then the whole text.
import { useEffect, useState } from 'react';
import type { Step, StepResult } from '../../../shared/trajectory';
import { useApp, useTransport } from '../context';
import { describeError } from './errors';
import { cachedFullReasoning, cachedFullResults, fullReasoning, fullResults, hasElided, hasElidedReasoning } from './stepDetail';

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

export type FullReasoning =
  /** The whole reasoning (fetched, or never cut). */
  | { state: 'ready'; reasoning: string }
  /** `reasoning` is still the preview. */
  | { state: 'loading'; reasoning: string }
  | { state: 'error'; reasoning: string; message: string };

/** fullReasoning as a hook of the open session: the preview while loading, then the whole reasoning. */
export function useFullReasoning(step: Step): FullReasoning {
  const transport = useTransport();
  const sessionId = useApp((s) => s.openSessionId);
  const preview = step.response?.reasoning ?? '';
  const cut = hasElidedReasoning(step);
  const cached = cut && sessionId ? cachedFullReasoning(sessionId, step) : null;
  const [fetched, setFetched] = useState<{ key: string; reasoning: string } | { key: string; error: string } | null>(null);
  const key = sessionId ? `${sessionId}\n${step.id}\n${step.response?.reasoningElided ?? ''}` : '';

  useEffect(() => {
    if (!cut || cached !== null || !sessionId) return;
    let cancelled = false;
    fullReasoning(transport, sessionId, step).then(
      (reasoning) => !cancelled && setFetched({ key, reasoning }),
      (err: unknown) => !cancelled && setFetched({ key, error: describeError(err).message }),
    );
    return () => {
      cancelled = true;
    };
    // `key` names the step and its reasoning (the step object is mutated in place).
  }, [transport, key, cut, cached === null]);

  if (!cut) return { state: 'ready', reasoning: preview };
  if (cached !== null) return { state: 'ready', reasoning: cached };
  if (fetched?.key === key) return 'error' in fetched ? { state: 'error', reasoning: preview, message: fetched.error } : { state: 'ready', reasoning: fetched.reasoning };
  return { state: 'loading', reasoning: preview };
}
