// The filter's search beyond the previews: the page holds long observations and
// reasoning cut (shared/compact-events.ts), so for each search word the core is asked
// which steps' whole texts hold it (sessions.search over the log's observations and
// actions, no terminal output). Until it answers, rows match on what the page holds.
import { useEffect, useState } from 'react';
import { useTransport } from '../../context';
import type { FilterRow } from './model';

/** Enough for every step of a long session several times over; a word matching more is matched on the previews anyway. */
const LIMIT = 10_000;

export function useFullTextMatches(sessionId: string, terms: readonly string[], rows: readonly FilterRow[], version: number): ReadonlyMap<string, ReadonlySet<string>> | undefined {
  const transport = useTransport();
  const [found, setFound] = useState<{ key: string; matches: Map<string, Set<string>> } | null>(null);
  // Only a session with cut texts needs the core; asked again when the log grows.
  const cut = rows.some((r) => r.step.response?.reasoningElided !== undefined || r.step.results.some((x) => x.elided !== undefined));
  const key = cut && terms.length ? `${sessionId}\n${version}\n${terms.join('\n')}` : '';

  useEffect(() => {
    if (!key) return;
    let cancelled = false;
    Promise.all(
      terms.map((t) =>
        transport.request('sessions.search', { sessionId, query: t, kinds: ['observation', 'action'], limit: LIMIT }).then(
          (res) => [t, new Set(res.results.flatMap((r) => (r.stepId ? [r.stepId] : [])))] as const,
          // A failed search leaves the previews' matches: the filter still works on what the page holds.
          () => [t, new Set<string>()] as const,
        ),
      ),
    ).then((pairs) => !cancelled && setFound({ key, matches: new Map(pairs) }));
    return () => {
      cancelled = true;
    };
    // `key` names the session, its version and the words.
  }, [key, transport]);

  return found && found.key === key ? found.matches : undefined;
}
