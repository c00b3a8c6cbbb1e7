import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApolloCore } from '../core/app';
import type { Connection } from '../core/dispatch';
import type { PushEvents } from '../../shared/contract/index';
import { answerStatic } from './static-files';
import { encodeHostMessage } from '../core/json-text';

export interface WebHostOptions {
  core: ApolloCore;
  rendererDir: string;
  port?: number;
  token?: string;
}

export interface WebHost {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

/** WebSocket close code for a missing or wrong access token (4000-4999 are the application's). */
export const CLOSE_UNAUTHORIZED = 4401;

/**
 * The cookie that keeps a browser authorised after its first visit with the token,
 * as Jupyter does: a second tab, a reload or a bookmark (the page strips the token
 * from the address bar) then works until the host restarts with a new token. Cookies
 * are shared by every port of a host name, so its name carries the port; HttpOnly
 * keeps page scripts from reading it, SameSite=Strict keeps other sites' pages from
 * sending it (the Origin check refuses them as well).
 */
export function tokenCookieName(port: number): string {
  return `apollo-token-${port}`;
}

/** Largest message a client may send; terminal paste is the biggest legitimate one. */
const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * Terminal output is flow-controlled by the first client showing a terminal; another
 * client on a slower link would let it pile up here without bound. Past this many
 * unsent bytes a client skips terminal output (it sees the jump in `offset`; the
 * skipped bytes count as acknowledged, so flow control does not wait for them);
 * everything else still reaches it.
 */
export const MAX_BUFFERED_TERMINAL_BYTES = 16 * 1024 * 1024;

/** The renderer's CSP; `port` is the web host's (its WebSocket), null in Electron (IPC only, no sockets). */
export function contentSecurityPolicy(port: number | null): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    // xterm.js and React set element styles at run time.
    "style-src 'self' 'unsafe-inline'",
    port === null ? "connect-src 'self'" : `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
    "img-src 'self' data:",
    "font-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/**
 * Serves the renderer and the contract over WebSocket on 127.0.0.1. Like Jupyter, a
 * random token printed in the URL guards the socket; the Origin check keeps other
 * web pages in the user's browser from driving the user's shells.
 */
export async function startWebHost(opts: WebHostOptions): Promise<WebHost> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  let port = opts.port ?? 0;

  const server = createServer((req, res) => {
    if (!loopbackHost(req.headers.host)) {
      res.writeHead(403, { 'Content-Type': 'text/plain' }).end('Forbidden: this server answers only to 127.0.0.1, localhost and [::1]\n');
      return;
    }
    // A rejection here would be unhandled and end the process (and every terminal in it).
    serveStatic(opts.rendererDir, port, token, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end();
    });
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });

  server.on('upgrade', (req, socket, head) => {
    const reject = (status: number, text: string) => {
      socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${text}\n`);
      socket.destroy();
    };
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/ws') return reject(404, 'Not Found');
    if (!loopbackHost(req.headers.host)) return reject(403, 'Forbidden: unexpected Host');
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigin(origin, port, req.headers.host)) return reject(403, 'Forbidden: cross-origin connection refused');
    const authorized = tokenMatches(url.searchParams.get('token'), token) || tokenMatches(cookieValue(req.headers.cookie, tokenCookieName(port)), token);
    wss.handleUpgrade(req, socket, head, (ws) => {
      // A browser cannot read the status of a refused upgrade, so a wrong token is
      // told with a close code instead; the socket never reaches the core.
      if (!authorized) ws.close(CLOSE_UNAUTHORIZED, 'Access token missing or wrong');
      else serveSocket(opts.core, ws);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;

  return {
    port,
    token,
    url: `http://127.0.0.1:${port}/?token=${token}`,
    close: async () => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function serveSocket(core: ApolloCore, ws: WebSocket): void {
  let conn: Connection | null = null;
  const link = core.connect((msg) => {
    if (ws.readyState !== ws.OPEN) return;
    if (msg.kind === 'evt' && msg.name === 'terminal.data' && ws.bufferedAmount > MAX_BUFFERED_TERMINAL_BYTES) {
      const d = msg.payload as PushEvents['terminal.data'];
      if (conn) core.ack(conn, d.sessionId, d.terminalId, d.bytes);
      return;
    }
    // A reply with fields the core holds serialized is sent as bytes: a text frame all the same.
    ws.send(encodeHostMessage(msg), { binary: false });
  }, { jsonText: true });
  conn = link.conn;
  ws.on('message', (data, isBinary) => {
    let raw: unknown;
    try {
      raw = JSON.parse(isBinary ? '' : data.toString());
    } catch {
      raw = null; // answered as a malformed message by the dispatcher
    }
    void link.receive(raw);
  });
  ws.on('close', () => link.close());
  ws.on('error', () => link.close());
}

/** The value of cookie `name` in a Cookie header (null: absent). */
function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

function tokenMatches(given: string | null, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Is the Host header a loopback name? A DNS-rebinding page (evil.example resolved to
 * 127.0.0.1) reaches this port with its own name in Host, so only loopback names are
 * answered. Any port is accepted: behind an SSH tunnel (`ssh -L 8080:127.0.0.1:<port>`)
 * the browser names the tunnel's local port, and a port says nothing about who is
 * asking (every page that reaches this server directly sends this server's port).
 */
export function loopbackHost(host: string | undefined): boolean {
  // Only name[:port]: "127.0.0.1@evil.example" or "127.0.0.1/x" would parse to other names or parts.
  if (!host || /[/\\@?#]/.test(host)) return false;
  try {
    return LOOPBACK_NAMES.has(new URL(`http://${host}`).hostname);
  } catch {
    return false;
  }
}

function allowedOrigin(origin: string, port: number, host: string | undefined): boolean {
  if (origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`) return true;
  // Through an SSH tunnel (`ssh -L 8080:127.0.0.1:<port> gpu-box`) the page comes
  // from another local port: accept the page's own origin, as long as it is a
  // loopback name (a DNS-rebinding page would carry its own host name).
  if (!host) return false;
  try {
    const u = new URL(`http://${host}`);
    return LOOPBACK_NAMES.has(u.hostname) && origin === u.origin;
  } catch {
    return false;
  }
}

async function serveStatic(root: string, port: number, token: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {
    'Content-Security-Policy': contentSecurityPolicy(port),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-cache',
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, headers).end();
    return;
  }
  let pathname: string;
  let withCookie = false;
  try {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    pathname = u.pathname;
    // The page opened with the right token: remember it for this browser (see tokenCookieName).
    withCookie = tokenMatches(u.searchParams.get('token'), token);
    if (withCookie) headers['Set-Cookie'] = `${tokenCookieName(port)}=${token}; HttpOnly; SameSite=Strict; Path=/`;
  } catch {
    res.writeHead(400, { ...headers, 'Content-Type': 'text/plain' }).end('Bad request: malformed URL');
    return;
  }
  const found = await answerStatic(root, pathname, req.headers['if-none-match']);
  if (!found.ok) {
    const text = found.status === 400 ? 'Bad request: malformed URL' : found.status === 403 ? 'Forbidden' : 'Not found';
    res.writeHead(found.status, { ...headers, 'Content-Type': 'text/plain' }).end(text);
    return;
  }
  // An answer that sets the token's cookie is nobody else's to keep, even for an immutable file.
  const cache = withCookie ? { 'Cache-Control': 'private, no-cache' } : {};
  res.writeHead(found.status, { ...headers, ...found.headers, ...cache });
  res.end(req.method === 'HEAD' || found.body === null ? undefined : found.body);
}
