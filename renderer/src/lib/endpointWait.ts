// Is the agent waiting on its model endpoint, and since when? A hung request can take
// minutes per attempt before the client's timeout and retry; the UI says "waiting for
// the endpoint" with the elapsed time once nothing has come back for a while.
//
// The state is that of the session's latest event of these kinds (by seq, so the events
// of a log loaded while pushes arrive can be fed in any order):
//   model.request   a request was sent: waiting since its ts
//   llm.retry       the next attempt starts after the backoff: waiting since ts + delayMs
//   model.response, step.started, rollout.state   nothing in flight
// Streamed text (rollout.delta, not an event) shows the endpoint is alive: the wait
// counts from the last delta of the step instead.
import type { SessionEvent } from '../../../shared/events';

/** Past this long without an answer or a streamed token, the UI says it is waiting. */
export const ENDPOINT_WAIT_NOTICE_MS = 30_000;

export interface EndpointWait {
  /** seq of the event this state comes from. */
  seq: number;
  /** The step whose request is in flight; null when none is. */
  stepId: string | null;
  /** Host time (ms) the current attempt was sent. */
  since: number;
}

const RELEVANT = new Set<SessionEvent['type']>(['model.request', 'llm.retry', 'model.response', 'step.started', 'rollout.state']);

/** Fold `events` (any order, duplicates allowed) into `cur`. Returns `cur` itself when nothing changes. */
export function nextEndpointWait(cur: EndpointWait | null, events: readonly SessionEvent[]): EndpointWait | null {
  let out = cur;
  for (const ev of events) {
    if (!RELEVANT.has(ev.type) || (out && ev.seq <= out.seq)) continue;
    if (ev.type === 'model.request') out = { seq: ev.seq, stepId: ev.stepId, since: ev.ts };
    else if (ev.type === 'llm.retry') out = { seq: ev.seq, stepId: ev.stepId, since: ev.ts + ev.delayMs };
    else out = { seq: ev.seq, stepId: null, since: ev.ts };
  }
  return out;
}

/**
 * How long the endpoint has been silent, when that is worth saying (at least
 * ENDPOINT_WAIT_NOTICE_MS); null otherwise. `lastDelta` is the latest streamed text
 * seen (its step, and when it arrived).
 */
export function endpointSilentMs(wait: EndpointWait | null, lastDelta: { stepId: string; at: number } | null | undefined, now: number): number | null {
  if (!wait?.stepId) return null;
  const since = lastDelta && lastDelta.stepId === wait.stepId ? Math.max(wait.since, lastDelta.at) : wait.since;
  const silent = now - since;
  return silent >= ENDPOINT_WAIT_NOTICE_MS ? silent : null;
}
