import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApolloCore } from '../core/app';
import type { Connection } from '../core/dispatch';
import type { PushEvents } from '../../shared/contract/index';

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

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};

/** WebSocket close code for a missing or wrong access token (4000-4999 are the application's). */
export const CLOSE_UNAUTHORIZED = 4401;

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

export function contentSecurityPolicy(port: number): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    // xterm.js and React set element styles at run time.
    "style-src 'self' 'unsafe-inline'",
    `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
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
    // A rejection here would be unhandled and end the process (and every terminal in it).
    serveStatic(opts.rendererDir, port, req, res).catch(() => {
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
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigin(origin, port, req.headers.host)) return reject(403, 'Forbidden: cross-origin connection refused');
    const authorized = tokenMatches(url.searchParams.get('token'), token);
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
    ws.send(JSON.stringify(msg));
  });
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

function tokenMatches(given: string | null, token: string): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]']);

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

async function serveStatic(root: string, port: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const headers = {
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
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
  } catch {
    res.writeHead(400, { ...headers, 'Content-Type': 'text/plain' }).end('Bad request: malformed URL');
    return;
  }
  const rel = normalize(pathname === '/' ? '/index.html' : pathname);
  const file = join(root, rel);
  if (!file.startsWith(root + sep) && file !== root) {
    res.writeHead(403, headers).end();
    return;
  }
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error('not a file');
    const body = await readFile(file);
    res.writeHead(200, { ...headers, 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream' });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('Not found');
  }
}
