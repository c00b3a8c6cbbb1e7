// Message wires the shared Transport runs over. These factories are handed everything
// they need by main.tsx; they never reach for window.* themselves.
import type { HostMessage, RequestMessage } from '../../shared/contract/index';
import type { Wire } from '../../shared/transport';
import type { ApolloBridge } from './env';

export const TOKEN_HELP = 'Open the URL printed by `apollo serve` (it carries the access token).';

/** How a page authorises its socket: the token it was opened with, or the host's cookie from an earlier visit. */
export type WireAuth = 'token' | 'cookie';

/**
 * Why the host refused the socket, for each way the page authorised it. Reloading does
 * not help with either, so the words say what does.
 */
export const AUTH_REFUSED: Record<WireAuth, string> = {
  token:
    "This page's access token is wrong or expired: the host was probably restarted with a new one. Open the new URL that `apollo serve` printed (or paste it below); other tabs and bookmarks then work again until the host restarts.",
  cookie:
    'This tab has no access token, and this browser has none remembered for the host (or the host restarted since). Open the URL that `apollo serve` printed (it ends in `?token=…`, or paste it below) once: other tabs and bookmarks then work until the host restarts.',
};

/** Whether a connection failure is a refused token (reloading cannot help; a new URL can). */
export function isAuthRefusal(reason: string): boolean {
  return reason === AUTH_REFUSED.token || reason === AUTH_REFUSED.cookie;
}

/** The token in what the user pasted: a whole URL with `?token=`, or the token itself (null: neither). */
export function tokenFromInput(text: string): string | null {
  const v = text.trim();
  if (!v) return null;
  try {
    const t = new URL(v).searchParams.get('token');
    if (t) return t;
  } catch {
    /* not a URL */
  }
  return /^[A-Za-z0-9_-]{8,200}$/.test(v) ? v : null;
}

export function createBridgeWire(bridge: ApolloBridge): Wire {
  return {
    send: (msg) => bridge.send(msg),
    onMessage: (cb) => bridge.onMessage(cb),
  };
}

/** Close codes a host may use to reject the token after accepting the socket. */
const AUTH_CLOSE_CODES = new Set([1008, 4001, 4401, 4403]);

/**
 * A WebSocket wire. Requests sent before the socket opens are queued. When the socket
 * closes, onClose listeners get a human-readable reason; a socket that never opened is
 * reported as unreachable or refused (browsers hide the HTTP status of a refused upgrade).
 */
export function createWebSocketWire(url: string, auth: WireAuth = 'token'): Wire {
  const ws = new WebSocket(url);
  let opened = false;
  let closed = false;
  let lastReason = 'Not connected to the host.';
  const queue: string[] = [];
  const messageListeners: ((msg: HostMessage) => void)[] = [];
  const closeListeners: ((reason: string) => void)[] = [];

  ws.addEventListener('open', () => {
    opened = true;
    for (const m of queue) ws.send(m);
    queue.length = 0;
  });
  ws.addEventListener('message', (ev) => {
    if (typeof ev.data !== 'string') return;
    let msg: HostMessage;
    try {
      msg = JSON.parse(ev.data) as HostMessage;
    } catch {
      console.warn('apollo: dropped a malformed message from the host');
      return;
    }
    for (const cb of messageListeners) cb(msg);
  });
  ws.addEventListener('close', (ev) => {
    if (closed) return;
    closed = true;
    let reason: string;
    if (AUTH_CLOSE_CODES.has(ev.code)) {
      reason = AUTH_REFUSED[auth];
    } else if (!opened) {
      // A refused upgrade (401/403) looks the same as a dead host to a browser.
      reason = `Access token missing or wrong, or the host at ${new URL(url).host} is not running. ${TOKEN_HELP}`;
    } else {
      reason = ev.reason
        ? `The host closed the connection: ${ev.reason} (code ${ev.code}).`
        : `The host stopped or the network dropped (WebSocket code ${ev.code}).`;
    }
    lastReason = reason;
    for (const cb of closeListeners) cb(reason);
  });

  return {
    send(msg: RequestMessage) {
      const text = JSON.stringify(msg);
      if (closed) {
        // Answer at once so that callers never wait on a dead socket.
        const res: HostMessage = { kind: 'res', id: msg.id, ok: false, error: { code: 'UNAVAILABLE', message: lastReason } };
        queueMicrotask(() => { for (const cb of messageListeners) cb(res); });
      } else if (opened && ws.readyState === WebSocket.OPEN) ws.send(text);
      else queue.push(text);
    },
    onMessage(cb) {
      messageListeners.push(cb);
    },
    onClose(cb) {
      closeListeners.push(cb);
    },
  };
}

/** A wire that is closed from the start (e.g. no token): every request fails with `reason`. */
export function createDeadWire(reason: string): Wire {
  const messageListeners: ((msg: HostMessage) => void)[] = [];
  return {
    send(msg) {
      const res: HostMessage = { kind: 'res', id: msg.id, ok: false, error: { code: 'UNAUTHORIZED', message: reason } };
      queueMicrotask(() => { for (const cb of messageListeners) cb(res); });
    },
    onMessage(cb) {
      messageListeners.push(cb);
    },
    onClose(cb) {
      queueMicrotask(() => cb(reason));
    },
  };
}

/**
 * Whether the host at `url` takes a WebSocket now: it opens within `timeoutMs` (and is
 * closed again at once). A refused token looks the same as a host that is down.
 */
export function probeWebSocket(url: string, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    let ws: WebSocket;
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try {
        ws.close();
      } catch {
        /* already closed */
      }
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    try {
      ws = new WebSocket(url);
    } catch {
      finish(false);
      return;
    }
    ws.addEventListener('open', () => finish(true));
    ws.addEventListener('close', () => finish(false));
    ws.addEventListener('error', () => finish(false));
  });
}
