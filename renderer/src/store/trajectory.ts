// The trajectory of the open session: a fold of its event log (shared/trajectory.ts),
// kept up to date incrementally from `session.event` pushes. The fold mutates Maps in
// place, so each update swaps in a new entry object (with a bumped version) to notify.
import type { SessionEvent } from '../../../shared/events';
import { applyEvent, emptyTrajectory, type Trajectory } from '../../../shared/trajectory';
import type { Slice } from './types';

export interface TrajectoryEntry {
  t: Trajectory;
  /** Highest event seq folded in; pushes at or below it are duplicates. */
  lastSeq: number;
  version: number;
}

export interface TrajectorySlice {
  trajectories: Record<string, TrajectoryEntry>;
  /** A sessions.open is in flight: buffer pushes for this session until the log arrives. */
  beginTrajectoryLoad(sessionId: string): void;
  loadTrajectory(sessionId: string, events: SessionEvent[]): void;
  applySessionEvents(sessionId: string, events: SessionEvent[]): void;
  dropTrajectory(sessionId: string): void;
}

/** Pushes that arrived while the session's log was being fetched. Not state: never rendered. */
const pendingLoads = new Map<string, SessionEvent[]>();

export const createTrajectorySlice: Slice<TrajectorySlice> = (set, get) => ({
  trajectories: {},

  beginTrajectoryLoad: (sessionId) => {
    if (!pendingLoads.has(sessionId)) pendingLoads.set(sessionId, []);
  },

  loadTrajectory: (sessionId, events) => {
    const t = emptyTrajectory();
    let lastSeq = 0;
    const fold = (ev: SessionEvent) => {
      if (ev.seq <= lastSeq) return;
      applyEvent(t, ev);
      lastSeq = ev.seq;
    };
    for (const ev of events) fold(ev);
    for (const ev of pendingLoads.get(sessionId) ?? []) fold(ev);
    pendingLoads.delete(sessionId);
    set({ trajectories: { ...get().trajectories, [sessionId]: { t, lastSeq, version: 1 } } });
    get().setSessionSteps(sessionId, t.order.length);
  },

  applySessionEvents: (sessionId, events) => {
    const pending = pendingLoads.get(sessionId);
    if (pending) {
      pending.push(...events);
      return;
    }
    const entry = get().trajectories[sessionId];
    if (!entry) return; // not open here: nothing to keep up to date
    let lastSeq = entry.lastSeq;
    let changed = false;
    for (const ev of events) {
      if (ev.seq <= lastSeq) continue;
      lastSeq = ev.seq;
      if (applyEvent(entry.t, ev)) changed = true;
    }
    if (lastSeq === entry.lastSeq) return;
    set({
      trajectories: {
        ...get().trajectories,
        [sessionId]: { t: entry.t, lastSeq, version: changed ? entry.version + 1 : entry.version },
      },
    });
    get().setSessionSteps(sessionId, entry.t.order.length);
  },

  dropTrajectory: (sessionId) => {
    pendingLoads.delete(sessionId);
    if (!(sessionId in get().trajectories)) return;
    const { [sessionId]: _gone, ...rest } = get().trajectories;
    set({ trajectories: rest });
  },
});
