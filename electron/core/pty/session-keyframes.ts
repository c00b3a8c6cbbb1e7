// The keyframes of a session's terminals, one TerminalKeyframes per recording, opened on
// first use and closed with the session. Sizes come from the session log (when the
// terminal started, each resize); a live terminal also tells its changes directly, so a
// build never runs ahead of a resize whose event is not in the log yet.
import { join } from 'node:path';
import type { SessionEvent } from '../../../shared/events';
import type { SessionLog } from '../store/workspace';
import { TerminalKeyframes, type SizeChange } from './keyframes';

const bySession = new WeakMap<SessionLog, Map<string, Promise<TerminalKeyframes>>>();

/** The terminal's sizes as its log records them, in log order. */
export function sizeChanges(events: readonly SessionEvent[], terminalId: string): SizeChange[] {
  const out: SizeChange[] = [];
  for (const e of events) {
    if ((e.type === 'terminal.started' || e.type === 'terminal.resized') && e.terminalId === terminalId) out.push({ offset: e.offset, cols: e.cols, rows: e.rows });
  }
  return out;
}

export function terminalKeyframes(session: SessionLog, terminalId: string): Promise<TerminalKeyframes> {
  let map = bySession.get(session);
  if (!map) bySession.set(session, (map = new Map()));
  let p = map.get(terminalId);
  if (!p) {
    p = (async () => {
      const rec = await session.recording(terminalId);
      const k = await TerminalKeyframes.open(join(session.dir, 'terminals'), terminalId, rec, sizeChanges(session.events, terminalId));
      // Said in the session log once, as a recording's repairs are.
      k.onReport = (message) => void session.append({ type: 'warning', message }).catch(() => undefined);
      session.onClose(() => k.close());
      return k;
    })();
    const mine = p;
    // A failure to open must not stick for the life of the session.
    p.catch(() => {
      if (map.get(terminalId) === mine) map.delete(terminalId);
    });
    map.set(terminalId, p);
  }
  return p;
}
