// The full tool results of a step whose observations the compact log cut
// (shared/compact-events.ts: such a result has `elided`, the full length), fetched
// from the core on demand (sessions.stepDetail) and remembered for the steps looked
// at lately. Views that show an observation whole go through here, so a preview is
// never shown as if it were the whole text. Plain code (no React): the hook is useFullResults.ts.
import type { Step, StepResult } from '../../../shared/trajectory';
import type { Transport } from '../../../shared/transport';

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

/** The step's results whole from what was fetched lately, without asking (null: not fetched). */
export function cachedFullResults(sessionId: string, step: Step): StepResult[] | null {
  return merged(step, cache.get(keyOf(sessionId, step.id)));
}
