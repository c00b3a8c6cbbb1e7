// The renderer's only way to the host: a request/response + push-event client over
// any message wire (Electron IPC or WebSocket). Components receive it; none of them
// touch a global bridge.
import type { ArgsOf, CommandName, HostMessage, PushEventName, PushEvents, RequestMessage, ResultOf } from './contract/index';
import { ApolloError, isApolloErrorShape } from './errors';

export interface Wire {
  send(msg: RequestMessage): void;
  onMessage(cb: (msg: HostMessage) => void): void;
  /** Called when the wire is lost for good (e.g. the server went away). */
  onClose?(cb: (reason: string) => void): void;
}

export interface Transport {
  request<K extends CommandName>(cmd: K, args: ArgsOf<K>): Promise<ResultOf<K>>;
  on<E extends PushEventName>(name: E, cb: (payload: PushEvents[E]) => void): () => void;
  onClose(cb: (reason: string) => void): () => void;
}

export function createTransport(wire: Wire): Transport {
  let nextId = 1;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const listeners = new Map<string, Set<(payload: never) => void>>();
  const closeListeners = new Set<(reason: string) => void>();

  wire.onMessage((msg) => {
    if (msg.kind === 'res') {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      if (msg.ok) p.resolve(msg.result);
      else p.reject(isApolloErrorShape(msg.error) ? ApolloError.from(msg.error) : new ApolloError('INTERNAL', 'Malformed error from host'));
    } else if (msg.kind === 'evt') {
      for (const cb of listeners.get(msg.name) ?? []) cb(msg.payload as never);
    }
  });
  wire.onClose?.((reason) => {
    for (const p of pending.values()) p.reject(new ApolloError('UNAVAILABLE', `Connection to the host lost: ${reason}`));
    pending.clear();
    for (const cb of closeListeners) cb(reason);
  });

  return {
    request(cmd, args) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        wire.send({ kind: 'req', id, cmd, args });
      });
    },
    on(name, cb) {
      let set = listeners.get(name);
      if (!set) listeners.set(name, (set = new Set()));
      set.add(cb as (payload: never) => void);
      return () => set.delete(cb as (payload: never) => void);
    },
    onClose(cb) {
      closeListeners.add(cb);
      return () => closeListeners.delete(cb);
    },
  };
}
