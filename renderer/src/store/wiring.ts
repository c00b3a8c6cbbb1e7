// Push events from the host → store. Terminal output is not handled here (TerminalView
// consumes `terminal.data` directly).
import type { SessionEvent } from '../../../shared/events';
import type { Transport } from '../../../shared/transport';
import type { AppStore } from './index';

/** Session events can arrive by the hundred during a fast rollout: fold them in ~1 frame batches. */
const EVENT_BATCH_MS = 16;

export function connectPushEvents(transport: Transport, store: AppStore): () => void {
  const s = () => store.getState();
  let queued = new Map<string, SessionEvent[]>();
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    timer = null;
    const batch = queued;
    queued = new Map();
    for (const [sessionId, events] of batch) s().applySessionEvents(sessionId, events);
  };

  const offs = [
    transport.on('sessions.changed', ({ sessions }) => s().applySessionList(sessions)),
    transport.on('terminal.changed', ({ sessionId, terminal }) => s().applyTerminalChanged(sessionId, terminal)),
    transport.on('session.event', ({ sessionId, event }) => {
      if (event.type === 'terminal.closed') s().removeTerminal(sessionId, event.terminalId);
      let list = queued.get(sessionId);
      if (!list) queued.set(sessionId, (list = []));
      list.push(event);
      timer ??= setTimeout(flush, EVENT_BATCH_MS);
    }),
    transport.on('notice', ({ level, message, sessionId }) => {
      const name = sessionId ? s().sessions.find((x) => x.id === sessionId)?.name : undefined;
      s().pushToast({ level, message, title: name ? `Session “${name}”` : undefined });
    }),
    transport.onClose((reason) => {
      const wasReady = s().connection.state === 'ready';
      s().setConnection(wasReady ? { state: 'lost', reason } : { state: 'failed', reason });
    }),
  ];
  return () => {
    for (const off of offs) off();
    if (timer) clearTimeout(timer);
  };
}
