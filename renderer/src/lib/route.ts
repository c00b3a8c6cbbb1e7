// The address of what is on screen: `#/s/<session>/<live|filter>/b/<branch>/step/<n>`.
// The URL names the session, view, branch and step so that a reload returns there and
// a link or bookmark opens it (it landed on the empty screen before). `n` is the step
// number on the branch path (its depth), as the step list shows it; ids are encoded.

export interface Route {
  sessionId: string;
  mode: 'live' | 'filter';
  branchId: string | null;
  /** Step number on the branch path (1-based); null: none selected. */
  step: number | null;
}

/** Parse a location hash; null when it names no session (or is malformed). */
export function parseRoute(hash: string): Route | null {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  if (parts[0] !== 's' || !parts[1]) return null;
  let sessionId: string;
  try {
    sessionId = decodeURIComponent(parts[1]);
  } catch {
    return null;
  }
  const route: Route = { sessionId, mode: 'live', branchId: null, step: null };
  let i = 2;
  if (parts[i] === 'live' || parts[i] === 'filter') route.mode = parts[i++] as Route['mode'];
  while (i < parts.length) {
    const key = parts[i++];
    const value = parts[i++];
    if (value === undefined) break;
    if (key === 'b') {
      try {
        route.branchId = decodeURIComponent(value);
      } catch {
        /* a malformed branch: the default one */
      }
    } else if (key === 'step' && /^\d+$/.test(value)) route.step = Number(value);
  }
  return route;
}

/** The hash for a route ('' for no session: the start screen). */
export function formatRoute(r: Route | null): string {
  if (!r) return '';
  let h = `#/s/${encodeURIComponent(r.sessionId)}/${r.mode}`;
  if (r.branchId) h += `/b/${encodeURIComponent(r.branchId)}`;
  if (r.step !== null) h += `/step/${r.step}`;
  return h;
}

/** Whether two routes name a different session or view (a new history entry), not only another step. */
export function isNewPlace(a: Route | null, b: Route | null): boolean {
  return (a?.sessionId ?? null) !== (b?.sessionId ?? null) || (a?.mode ?? null) !== (b?.mode ?? null);
}
