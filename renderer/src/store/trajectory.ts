// The trajectory of the open session: a fold of its event log (shared/trajectory.ts),
// kept up to date incrementally from `session.event` pushes. The log arrives compact
// (shared/compact-events.ts): long observations are previews, fetched whole on demand
// (lib/stepDetail.ts). The fold mutates Maps in place, so each update swaps in a new
// entry object (with a bumped version) to notify.
import type { EventOf, SessionEvent } from '../../../shared/events';
import { applyEvent, emptyTrajectory, stepOrder, type Trajectory } from '../../../shared/trajectory';
import type { PageRanges } from '../../../shared/contract/sessions';
import type { PauseSpan } from '../lib/steps';
import type { Slice } from './types';
import type { Transport } from '../../../shared/transport';
import { mergeBySeq } from '../../../shared/compact-events';
import { describeError } from '../lib/errors';

/** The latest model-request retry of the running step (from llm.retry), until the step gets its response. */
export interface RetryInfo {
  stepId: string;
  attempt: number;
  delayMs: number;
  error: string;
  /** Host time of the event. */
  ts: number;
}

export interface TrajectoryEntry {
  t: Trajectory;
  /**
   * Highest event seq folded in: the core's version of the log (sessions.open answers
   * with it, each push carries its own); pushes at or below it are duplicates.
   */
  lastSeq: number;
  version: number;
  retry: RetryInfo | null;
  /**
   * rolloutId → the spans it spent paused (host times of its rollout.state events), so
   * the timer of a running step stops while its rollout is paused. A new array per
   * change: rows compare it by identity.
   */
  pauses: Record<string, PauseSpan[]>;
  /** Where an imported session came from (its import.origin event); null for a session recorded here. */
  origin: ImportOrigin | null;
  /** The log's warning events, oldest first (an import's notes among them). A new array per change. */
  warnings: string[];
  /**
   * A paged open (sessions.open with `paged`) still fetching what some steps said and got
   * (sessions.page): those steps, shown as loading until a fold of every event replaces
   * this one. Null once complete.
   */
  pending: PendingDetails | null;
}

/**
 * Whether a step's details (its reply and results) are in: a paged open holds them back
 * until their page arrives, and until then the step looks finished but empty (no reply,
 * no results, no terminal range). Everything that reads them asks this first.
 */
export function stepDetailsReady(entry: { pending: PendingDetails | null } | undefined, stepId: string): boolean {
  return !entry?.pending?.steps.has(stepId);
}

export interface PendingDetails {
  steps: ReadonlySet<string>;
  /** Why a page could not be fetched (the steps stay marked). */
  error?: string;
}


export type ImportOrigin = Omit<EventOf<'import.origin'>, 'type' | 'seq' | 'ts'>;

/** The origin and warnings after `ev` (the same objects when it changes neither). */
function nextNotes(cur: { origin: ImportOrigin | null; warnings: string[] }, ev: SessionEvent): { origin: ImportOrigin | null; warnings: string[] } {
  if (ev.type === 'import.origin') {
    const { type: _t, seq: _s, ts: _ts, ...origin } = ev;
    return { ...cur, origin };
  }
  if (ev.type === 'warning') return { ...cur, warnings: [...cur.warnings, ev.message] };
  return cur;
}

/** Track pauses across the fold: a span opens on 'paused' and closes on the next other state. */
function nextPauses(cur: Record<string, PauseSpan[]>, ev: SessionEvent): Record<string, PauseSpan[]> {
  if (ev.type !== 'rollout.state') return cur;
  const spans = cur[ev.rolloutId] ?? [];
  const open = spans.length > 0 && spans[spans.length - 1]!.to === undefined;
  if (ev.state === 'paused') return open ? cur : { ...cur, [ev.rolloutId]: [...spans, { from: ev.ts }] };
  if (!open) return cur;
  return { ...cur, [ev.rolloutId]: [...spans.slice(0, -1), { from: spans[spans.length - 1]!.from, to: ev.ts }] };
}

/** Track llm.retry across the fold: set by a retry, cleared once the step answers or the rollout changes state. */
function nextRetry(cur: RetryInfo | null, ev: SessionEvent): RetryInfo | null {
  switch (ev.type) {
    case 'llm.retry':
      return { stepId: ev.stepId, attempt: ev.attempt, delayMs: ev.delayMs, error: ev.error, ts: ev.ts };
    case 'model.response':
      return cur && cur.stepId === ev.stepId ? null : cur;
    case 'step.started':
      return cur && cur.stepId !== ev.stepId ? null : cur;
    case 'rollout.state':
      return null;
    default:
      return cur;
  }
}

export interface TrajectorySlice {
  trajectories: Record<string, TrajectoryEntry>;
  /** A sessions.open is in flight: buffer pushes for this session until the log arrives. */
  beginTrajectoryLoad(sessionId: string): void;
  /**
   * `version`: the core's version of the log with `events` (sessions.open's). `pages`: a
   * paged open's (its `events` hold the tree and the newest steps' details): the other
   * steps' details are fetched, then everything is folded again at once.
   */
  loadTrajectory(sessionId: string, events: SessionEvent[], version?: number, pages?: PageRanges): void;
  applySessionEvents(sessionId: string, events: SessionEvent[]): void;
  dropTrajectory(sessionId: string): void;
}

/** Pushes that arrived while the session's log was being fetched. Not state: never rendered. */
const pendingLoads = new Map<string, SessionEvent[]>();
/**
 * Per session whose paged open is still fetching pages: the pushes folded meanwhile, to
 * fold again after its pages (the final fold reads every event in seq order).
 */
const pagedPushes = new Map<string, SessionEvent[]>();
/** Pages per sessions.page request: a few hundred kB, one short task each in the page. */
const PAGES_PER_REQUEST = 4;

export const createTrajectorySlice = (transport: Transport): Slice<TrajectorySlice> => (set, get) => {
  /**
   * Fetch the steps' details a paged open left out, then fold everything (the open's
   * events, the pages, the pushes since) in seq order: the trajectory an open that is not
   * paged gives. Given up once the entry was replaced (the session closed or opened again).
   */
  const loadPages = async (sessionId: string, first: SessionEvent[], version: number, pages: PageRanges, pending: PendingDetails, early: SessionEvent[]): Promise<void> => {
    const current = () => get().trajectories[sessionId]?.pending === pending;
    // The pushes folded so far (those that came while the open was on its way), then every later one.
    pagedPushes.set(sessionId, [...early]);
    const got: SessionEvent[][] = [];
    // Whole pages (the host serves those from its kept view as read).
    const step = pages.size * PAGES_PER_REQUEST;
    const requests = pages.left.flatMap(([a, b]) => Array.from({ length: Math.ceil((b - a) / step) }, (_, i) => [a + i * step, Math.min(b, a + (i + 1) * step)] as const));
    // Two requests in flight: the host reads the next page while the page parses one.
    let next = 0;
    let failed: { err: unknown } | null = null;
    const fetchSome = async (): Promise<void> => {
      while (next < requests.length && !failed && current()) {
        const [from, to] = requests[next++]!;
        try {
          got.push((await transport.request('sessions.page', { sessionId, version, from, to })).events);
        } catch (err) {
          failed ??= { err };
        }
      }
    };
    await Promise.all([fetchSome(), fetchSome()]);
    if (!current()) return;
    if (failed) {
      const { err } = failed;
      const entry = get().trajectories[sessionId]!;
      set({ trajectories: { ...get().trajectories, [sessionId]: { ...entry, version: entry.version + 1, pending: { ...pending, error: describeError(err).message } } } });
      get().reportError('Could not load the earlier steps of the session', err);
      return;
    }
    pendingLoads.set(sessionId, pagedPushes.get(sessionId) ?? []);
    pagedPushes.delete(sessionId);
    get().loadTrajectory(sessionId, mergeBySeq(first, ...got), version);
  };

  return {
  trajectories: {},

  beginTrajectoryLoad: (sessionId) => {
    if (!pendingLoads.has(sessionId)) pendingLoads.set(sessionId, []);
  },

  loadTrajectory: (sessionId, events, version = 0, pages) => {
    const t = emptyTrajectory();
    let lastSeq = 0;
    let retry: RetryInfo | null = null;
    let pauses: Record<string, PauseSpan[]> = {};
    let notes: { origin: ImportOrigin | null; warnings: string[] } = { origin: null, warnings: [] };
    const fold = (ev: SessionEvent) => {
      if (ev.seq <= lastSeq) return;
      applyEvent(t, ev);
      retry = nextRetry(retry, ev);
      pauses = nextPauses(pauses, ev);
      notes = nextNotes(notes, ev);
      lastSeq = ev.seq;
    };
    for (const ev of events) fold(ev);
    // Pushes the view already holds (events at or below its version) are skipped.
    lastSeq = Math.max(lastSeq, version);
    const early = pendingLoads.get(sessionId) ?? [];
    for (const ev of early) fold(ev);
    pendingLoads.delete(sessionId);
    const paging = !!pages && pages.left.some(([a, b]) => b > a);
    const order = paging ? stepOrder(t) : [];
    const pending = paging ? { steps: new Set(pages.left.flatMap(([a, b]) => order.slice(a, b))) } : null;
    // A new number even when it replaces an entry (a paged open's final fold): rows compare it.
    const prev = get().trajectories[sessionId]?.version ?? 0;
    set({ trajectories: { ...get().trajectories, [sessionId]: { t, lastSeq, version: prev + 1, retry, pauses, ...notes, pending } } });
    get().setSessionSteps(sessionId, t.order.length, lastStepAt(t));
    if (paging) void loadPages(sessionId, events, version, pages, pending!, early);
    else {
      pagedPushes.delete(sessionId);
      // Read by the bench (electron/bench/open-page.ts): every step's details are in.
      performance.mark('apollo:open:complete');
    }
  },

  applySessionEvents: (sessionId, events) => {
    const pending = pendingLoads.get(sessionId);
    if (pending) {
      pending.push(...events);
      return;
    }
    pagedPushes.get(sessionId)?.push(...events);
    const entry = get().trajectories[sessionId];
    if (!entry) {
      // Not open here: only its step count and last-step time in the session list follow it.
      get().countSessionSteps(sessionId, events);
      return;
    }
    let lastSeq = entry.lastSeq;
    let changed = false;
    let retry = entry.retry;
    let pauses = entry.pauses;
    let notes = { origin: entry.origin, warnings: entry.warnings };
    let stateChanged = false;
    for (const ev of events) {
      if (ev.seq <= lastSeq) continue;
      lastSeq = ev.seq;
      if (applyEvent(entry.t, ev)) changed = true;
      retry = nextRetry(retry, ev);
      pauses = nextPauses(pauses, ev);
      notes = nextNotes(notes, ev);
      // The streamed text of a step is superseded by its response, a retry, or the next step.
      if (ev.type === 'model.response' || ev.type === 'llm.retry') get().clearStreaming(sessionId, ev.stepId);
      else if (ev.type === 'step.started') {
        const cur = get().streaming[sessionId];
        if (cur && cur.stepId !== ev.stepId) get().clearStreaming(sessionId);
      } else if (ev.type === 'rollout.state') {
        stateChanged = true;
        if (ev.state !== 'running') get().clearStreaming(sessionId);
      }
    }
    if (lastSeq === entry.lastSeq) return;
    set({
      trajectories: {
        ...get().trajectories,
        [sessionId]: {
          t: entry.t, lastSeq, retry, pauses, ...notes, pending: entry.pending,
          version: changed || retry !== entry.retry || pauses !== entry.pauses || notes.origin !== entry.origin || notes.warnings !== entry.warnings ? entry.version + 1 : entry.version,
        },
      },
    });
    if (stateChanged) get().clearControlPending(sessionId);
    const sent = get().pendingGuidance[sessionId];
    if (sent?.some((g) => g.guidanceId && entry.t.guidance.has(g.guidanceId))) {
      set({ pendingGuidance: { ...get().pendingGuidance, [sessionId]: sent.filter((g) => !(g.guidanceId && entry.t.guidance.has(g.guidanceId))) } });
    }
    get().setSessionSteps(sessionId, entry.t.order.length, lastStepAt(entry.t));
  },

  dropTrajectory: (sessionId) => {
    pendingLoads.delete(sessionId);
    pagedPushes.delete(sessionId);
    if (!(sessionId in get().trajectories)) return;
    const { [sessionId]: _gone, ...rest } = get().trajectories;
    set({ trajectories: rest });
  },
  };
};

/** When the trajectory's newest step started (undefined: no step). */
function lastStepAt(t: Trajectory): number | undefined {
  const id = t.order[t.order.length - 1];
  return id ? t.steps.get(id)?.startedAt : undefined;
}
