// The one owner of each open session's trajectory: a fold of its log kept in step
// with it incrementally (the log only grows), which the engine, the rollouts, the
// annotation functions, the exports and the hosts all read instead of folding the log
// again. Its version is the seq of the last event folded: the same number the
// `session.event` pushes carry, so a client can tell what it already has.
//
// The compact view sessions.open sends (shared/compact-events.ts) is built here too,
// once per event and only for sessions a client opened; so are the sizes of each
// terminal, which every window of a replay asks for.
import { compactEvent, type CompactEvent } from '../../shared/compact-events';
import type { SessionEvent } from '../../shared/events';
import { applyEvent, emptyTrajectory, type Trajectory } from '../../shared/trajectory';
import type { SizeChange } from './pty/keyframes';

/** What the owner needs of a session: its append-only event list (a SessionLog). */
export interface EventSource {
  readonly events: readonly SessionEvent[];
}

interface Fold {
  t: Trajectory;
  applied: number;
  version: number;
  compact: CompactEvent[];
  /** Per terminal: its size when it started, then each resize, in log order. */
  sizes: Map<string, SizeChange[]>;
}

const NO_SIZES: readonly SizeChange[] = [];

const folds = new WeakMap<EventSource, Fold>();

function advance(session: EventSource): Fold {
  let f = folds.get(session);
  if (!f) folds.set(session, (f = { t: emptyTrajectory(), applied: 0, version: 0, compact: [], sizes: new Map() }));
  const events = session.events;
  for (; f.applied < events.length; f.applied++) {
    const ev = events[f.applied]!;
    applyEvent(f.t, ev);
    if (ev.type === 'terminal.started' || ev.type === 'terminal.resized') {
      let list = f.sizes.get(ev.terminalId);
      if (!list) f.sizes.set(ev.terminalId, (list = []));
      list.push({ offset: ev.offset, cols: ev.cols, rows: ev.rows });
    }
    f.version = ev.seq;
  }
  return f;
}

/** The session's trajectory, up to date with its log. Shared by every reader: treat it as read-only. */
export function trajectoryOf(session: EventSource): Trajectory {
  return advance(session).t;
}

/** The seq of the last event in the trajectory (0: none yet). */
export function trajectoryVersion(session: EventSource): number {
  return advance(session).version;
}

/** The terminal's sizes as its log records them (when it started, each resize), in log order. Shared: never change it. */
export function terminalSizes(session: EventSource, terminalId: string): readonly SizeChange[] {
  return advance(session).sizes.get(terminalId) ?? NO_SIZES;
}

/** The compact form of the whole log, and the version it is at. The array is shared: never change it. */
export function compactLog(session: EventSource): { events: readonly CompactEvent[]; version: number } {
  const f = advance(session);
  const events = session.events;
  for (let i = f.compact.length; i < f.applied; i++) f.compact.push(compactEvent(events[i]!));
  return { events: f.compact, version: f.version };
}

/**
 * The session's own fold as a reader of a snapshot of its events may borrow it: the
 * trajectory of exactly its first `events.length` events, and whether it still is. The
 * fold is extended in place as events are appended, so a reader that awaits (an export)
 * checks `current()` before it trusts what it built: false once a later event was folded.
 */
export function borrowFold(session: EventSource): { trajectory: Trajectory; length: number; current(): boolean } {
  const f = advance(session);
  const length = f.applied;
  return { trajectory: f.t, length, current: () => f.applied === length };
}
