// Keeps the address bar and the screen in step (see lib/route.ts): at start-up and
// when the user edits the address or goes back, the session, view, branch and step it
// names are opened; from then on every change of them is written back (a new history
// entry for another session or view, the same entry for another step), after the
// next paint.
import { useEffect } from 'react';
import { branchPath } from '../../../shared/trajectory';
import { useAppStore, useEnv } from '../context';
import { formatRoute, isNewPlace, parseRoute, type Route } from '../lib/route';
import { afterNextPaint } from '../lib/afterPaint';
import { defaultBranchId } from '../lib/trajectoryView';
import type { AppState } from '../store';
import { modeOf } from '../store/labels';
import { effectiveBranch } from './trajectory/useTrajectoryView';

/** The route of what the state shows (null: no session open). */
export function routeOf(s: AppState): Route | null {
  const id = s.openSessionId;
  if (!id) return null;
  const mode = modeOf(s, id);
  const entry = s.trajectories[id];
  if (!entry) return { sessionId: id, mode, branchId: null, step: null };
  const t = entry.t;
  const depth = (stepId: string | null | undefined) => (stepId ? (t.steps.get(stepId)?.depth ?? null) : null);
  if (mode === 'filter') {
    const fc = s.filterCursors[id];
    const pick = (b: string | null | undefined) => (b && t.branches.has(b) ? b : null);
    return { sessionId: id, mode, branchId: pick(fc?.branchId) ?? pick(s.views[id]?.branchId) ?? defaultBranchId(t), step: depth(fc?.cursor) };
  }
  const view = s.viewOf(id);
  return { sessionId: id, mode, branchId: effectiveBranch(entry, view), step: depth(view.stepId) };
}

/**
 * Bring the state to `r` as far as it can now: 'done', 'wait' (a session still
 * loading) or 'gone' (the session is not in this workspace).
 */
function applyRoute(s: AppState, r: Route): 'done' | 'wait' | 'gone' {
  if (!s.sessionsLoaded) return 'wait';
  if (!s.sessions.some((x) => x.id === r.sessionId)) return 'gone';
  if (modeOf(s, r.sessionId) !== r.mode) s.setSessionMode(r.sessionId, r.mode);
  if (s.openSessionId !== r.sessionId) {
    if (s.openingSessionId !== r.sessionId) void s.openSession(r.sessionId);
    return 'wait';
  }
  const entry = s.trajectories[r.sessionId];
  if (!entry) return 'wait';
  const t = entry.t;
  const branchId = r.branchId && t.branches.has(r.branchId) ? r.branchId : null;
  const target = branchId ?? defaultBranchId(t);
  const step = r.step !== null && target ? branchPath(t, target).find((x) => x.depth === r.step) : undefined;
  if (r.mode === 'filter') {
    s.setFilterCursor(r.sessionId, { branchId, cursor: step?.id ?? null, anchor: step?.id ?? null, selection: [] });
  } else if (branchId || step) {
    s.selectBranch(r.sessionId, target!, { follow: !step, stepId: step?.id ?? null });
  }
  return 'done';
}

export function useRouteSync(): void {
  const env = useEnv();
  const store = useAppStore();
  useEffect(() => {
    const nav = env.route;
    if (!nav) return;
    /** A route from the address still to be brought on screen (null: the screen leads). */
    let pending: Route | null = parseRoute(nav.get());

    /** Cancels the address write waiting for the next paint (null: none waiting). */
    let cancelWrite: (() => void) | null = null;
    const write = () => {
      cancelWrite = null;
      if (pending) return;
      const want = formatRoute(routeOf(store.getState()));
      const have = nav.get();
      if (want !== have) nav.set(want, isNewPlace(parseRoute(have), parseRoute(want)));
    };

    let busy = false;
    const sync = () => {
      // Applying a route sets state, which calls sync again: once at a time.
      if (busy) return;
      busy = true;
      try {
        const s = store.getState();
        if (pending) {
          const r = pending;
          const res = applyRoute(s, r);
          if (res === 'wait') return;
          pending = null;
          if (res === 'gone') s.pushToast({ level: 'warning', title: 'Link not found', message: `This workspace has no session “${r.sessionId}”.` });
        }
        // Written after the next paint, all changes until then at once: in the task that
        // brings a session's reply, Chromium's pushState held the main thread 40-500 ms
        // (waiting in its same-document commit, no work of the page's) before the steps
        // could paint, where the same call once the page is idle costs under 1 ms.
        if (!cancelWrite && formatRoute(routeOf(store.getState())) !== nav.get()) cancelWrite = afterNextPaint(write);
      } finally {
        busy = false;
      }
    };
    const unsubscribe = store.subscribe(sync);
    const unlisten = nav.subscribe(() => {
      // The user edited the address or went back / forward: show what it names.
      const r = parseRoute(nav.get());
      if (formatRoute(r) === formatRoute(routeOf(store.getState()))) return;
      // A write still waiting holds the place left: the address now leads.
      cancelWrite?.();
      cancelWrite = null;
      if (r) pending = r;
      else store.getState().closeSession();
      sync();
    });
    sync();
    return () => {
      cancelWrite?.();
      unsubscribe();
      unlisten();
    };
  }, [env, store]);
}
