// The full tool results and reasoning of a step whose observations or reasoning the
// compact log cut (shared/compact-events.ts: such a result has `elided`, the full
// length; such a response `reasoningElided`), fetched from the core on demand
// (sessions.stepDetail) and remembered for the steps looked at lately. Views that show
// an observation or a thought whole go through here, so a preview is never shown as if
// it were the whole text. Plain code (no React): the hooks are useFullResults.ts.
import type { Step, StepResult } from '../../../shared/trajectory';
import type { Transport } from '../../../shared/transport';

/** Steps remembered; an observation can be megabytes, so only a few. */
const KEEP = 24;
/** What sessions.stepDetail answers for one step. */
interface Detail {
  results: StepResult[];
  reasoning?: string;
}
const cache = new Map<string, Detail>();
const inflight = new Map<string, Promise<Detail>>();

export function hasElided(step: Step): boolean {
  return step.results.some((r) => r.elided !== undefined);
}

export function hasElidedReasoning(step: Step): boolean {
  return step.response?.reasoningElided !== undefined;
}

const keyOf = (sessionId: string, stepId: string) => `${sessionId}\n${stepId}`;

/** The step's results with the cut ones whole, from what was fetched (null: not yet). */
function merged(step: Step, full: StepResult[] | undefined): StepResult[] | null {
  // A running step may have gained results since: fetch again.
  if (!full || full.length < step.results.length) return null;
  return step.results.map((r, i) => (r.elided !== undefined ? full[i]! : r));
}

function remember(key: string, detail: Detail): void {
  cache.delete(key);
  cache.set(key, detail);
  while (cache.size > KEEP) cache.delete(cache.keys().next().value!);
}

/** The step's detail from the core (one request at a time per step). */
function fetchDetail(transport: Transport, sessionId: string, step: Step): Promise<Detail> {
  const key = keyOf(sessionId, step.id);
  let p = inflight.get(key);
  if (!p) {
    p = transport
      .request('sessions.stepDetail', { sessionId, stepIds: [step.id] })
      .then((res) => {
        const d = res.steps.find((s) => s.stepId === step.id);
        if (!d) throw new Error(`The core has no step ${step.id} in this session.`);
        const detail: Detail = { results: d.results, ...(d.reasoning !== undefined ? { reasoning: d.reasoning } : {}) };
        remember(key, detail);
        return detail;
      })
      .finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  return p;
}

/** The step's results, every observation whole (asks the core when some were cut). */
export async function fullResults(transport: Transport, sessionId: string, step: Step): Promise<StepResult[]> {
  if (!hasElided(step)) return step.results;
  const hit = merged(step, cache.get(keyOf(sessionId, step.id))?.results);
  if (hit) return hit;
  const { results } = await fetchDetail(transport, sessionId, step);
  return merged(step, results) ?? step.results.map((r, i) => (r.elided !== undefined && results[i] ? results[i] : r));
}

/** The step's results whole from what was fetched lately, without asking (null: not fetched). */
export function cachedFullResults(sessionId: string, step: Step): StepResult[] | null {
  return merged(step, cache.get(keyOf(sessionId, step.id))?.results);
}

/** The step's whole reasoning (asks the core when the compact log cut it). */
export async function fullReasoning(transport: Transport, sessionId: string, step: Step): Promise<string> {
  if (!hasElidedReasoning(step)) return step.response?.reasoning ?? '';
  const hit = cachedFullReasoning(sessionId, step);
  if (hit !== null) return hit;
  const { reasoning } = await fetchDetail(transport, sessionId, step);
  if (reasoning === undefined) throw new Error(`The core has no response for step ${step.id}.`);
  return reasoning;
}

/** The step's whole reasoning from what was fetched lately, without asking (null: not fetched). */
export function cachedFullReasoning(sessionId: string, step: Step): string | null {
  return cache.get(keyOf(sessionId, step.id))?.reasoning ?? null;
}
