// Push events from the host → store. Terminal output is not handled here (TerminalView
// consumes `terminal.data` directly). Session events and streamed model text are
// batched together, in arrival order, so a delta never outlives the response that
// supersedes it.
import type { SessionEvent } from '../../../shared/events';
import type { Transport } from '../../../shared/transport';
import type { AppStore } from './index';

/** Session events can arrive by the hundred during a fast rollout: fold them in ~1 frame batches. */
const EVENT_BATCH_MS = 16;

export function connectPushEvents(transport: Transport, store: AppStore): () => void {
  const s = () => store.getState();
  type Item =
    | { kind: 'events'; sessionId: string; events: SessionEvent[] }
    | { kind: 'delta'; sessionId: string; stepId: string; content: string; reasoning: string };
  let queued: Item[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;
  const flush = () => {
    timer = null;
    const batch = queued;
    queued = [];
    for (const it of batch) {
      if (it.kind === 'events') {
        s().applySessionEvents(it.sessionId, it.events);
        s().noteEndpointEvents(it.sessionId, it.events);
      } else s().appendDelta(it.sessionId, it.stepId, it.content, it.reasoning);
    }
  };
  const schedule = () => {
    timer ??= setTimeout(flush, EVENT_BATCH_MS);
  };

  const offs = [
    transport.on('sessions.changed', ({ sessions }) => s().applySessionList(sessions)),
    transport.on('terminal.changed', ({ sessionId, terminal }) => s().applyTerminalChanged(sessionId, terminal)),
    transport.on('rollout.control', (status) => s().applyControl(status)),
    transport.on('merge.progress', (p) => s().applyMergeProgress(p)),
    transport.on('session.event', ({ sessionId, event }) => {
      if (event.type === 'terminal.closed') s().removeTerminal(sessionId, event.terminalId);
      const last = queued[queued.length - 1];
      if (last?.kind === 'events' && last.sessionId === sessionId) last.events.push(event);
      else queued.push({ kind: 'events', sessionId, events: [event] });
      schedule();
    }),
    transport.on('rollout.delta', ({ sessionId, stepId, content, reasoning }) => {
      const last = queued[queued.length - 1];
      if (last?.kind === 'delta' && last.sessionId === sessionId && last.stepId === stepId) {
        last.content += content ?? '';
        last.reasoning += reasoning ?? '';
      } else queued.push({ kind: 'delta', sessionId, stepId, content: content ?? '', reasoning: reasoning ?? '' });
      schedule();
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
