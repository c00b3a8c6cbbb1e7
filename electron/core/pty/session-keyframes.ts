// The keyframes of a session's terminals, one TerminalKeyframes per recording, opened on
// first use and closed with the session. Sizes come from the session log (when the
// terminal started, each resize); a live terminal also tells its changes directly, so a
// build never runs ahead of a resize whose event is not in the log yet.
import { join } from 'node:path';
import { terminalSizes } from '../session-trajectory';
import type { SessionLog } from '../store/workspace';
import { TerminalKeyframes } from './keyframes';

const bySession = new WeakMap<SessionLog, Map<string, Promise<TerminalKeyframes>>>();

export function terminalKeyframes(session: SessionLog, terminalId: string): Promise<TerminalKeyframes> {
  let map = bySession.get(session);
  if (!map) bySession.set(session, (map = new Map()));
  let p = map.get(terminalId);
  if (!p) {
    p = (async () => {
      const rec = await session.recording(terminalId);
      const k = await TerminalKeyframes.open(join(session.dir, 'terminals'), terminalId, rec, terminalSizes(session, terminalId));
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
