// Web host robustness: a malformed URL must not bring the server (and every
// terminal in it) down; a second client on a slow link must not make terminal output
// pile up in the server's memory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import WebSocket from 'ws';
import { startTestHost, type TestHost } from '../fixtures/web-host';
import type { WebHost } from '../../electron/web/server';
import type { HostMessage } from '../../shared/contract/index';

/** The server's limit (MAX_BUFFERED_TERMINAL_BYTES). */
const MAX_BUFFERED_TERMINAL_BYTES = 16 * 1024 * 1024;

let testHost: TestHost;
let home: string;
let host: WebHost;

beforeAll(async () => {
  testHost = await startTestHost('apollo-webhost-robustness-');
  ({ home, host } = testHost);
});
afterAll(() => testHost.close());

function rawGet(path: string): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = request({ host: '127.0.0.1', port: host.port, path, method: 'GET' }, (res) => {
      res.resume();
      resolveStatus(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

function connect(): Promise<WebSocket> {
  return new Promise((res, rej) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/ws?token=${host.token}`);
    ws.once('open', () => res(ws));
    ws.once('error', rej);
  });
}

describe('web host robustness', () => {
  it('answers a malformed percent-encoding with 400 and keeps serving', async () => {
    const unhandled: unknown[] = [];
    const on = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', on);
    try {
      expect(await rawGet('/%E0%A4%A')).toBe(400);
      expect(await rawGet('/%')).toBe(400);
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
      expect(await rawGet('/')).toBe(200);
    } finally {
      process.off('unhandledRejection', on);
    }
  });

  it('bounds what it buffers for a client that does not read while another keeps a flood flowing', async () => {
    // Measure what the server queues on each of its sockets.
    let maxServerBuffered = 0;
    const proto = WebSocket.prototype as unknown as { send: (...a: unknown[]) => void; _isServer?: boolean };
    const send = proto.send;
    proto.send = function (this: WebSocket & { _isServer: boolean }, ...a: unknown[]) {
      if (this._isServer) maxServerBuffered = Math.max(maxServerBuffered, this.bufferedAmount);
      return send.apply(this, a);
    };
    const fast = await connect();
    const slow = await connect();
    try {
      let id = 0;
      const call = (ws: WebSocket, cmd: string, args: unknown) =>
        new Promise<HostMessage>((res) => {
          const my = ++id;
          const on = (d: WebSocket.RawData) => {
            const m = JSON.parse(d.toString()) as HostMessage;
            if (m.kind === 'res' && m.id === my) {
              ws.off('message', on);
              res(m);
            }
          };
          ws.on('message', on);
          ws.send(JSON.stringify({ kind: 'req', id: my, cmd, args }));
        });
      let received = 0;
      fast.on('message', (d) => {
        const m = JSON.parse(d.toString()) as HostMessage;
        if (m.kind === 'evt' && m.name === 'terminal.data') {
          const p = m.payload as { sessionId: string; terminalId: string; bytes: number };
          received += p.bytes;
          fast.send(JSON.stringify({ kind: 'req', id: 1e9, cmd: 'terminal.ack', args: { sessionId: p.sessionId, terminalId: p.terminalId, bytes: p.bytes } }));
        }
      });
      const created = await call(fast, 'sessions.create', { name: 'flood', cwd: home, terminals: [{ id: 'main', command: 'sleep', args: ['1'] }] });
      const sessionId = (created as { result: { id: string } }).result.id;
      const made = await call(fast, 'terminal.create', { sessionId, id: 'yes', command: 'yes', args: ['0123456789abcdef0123456789abcdef'] });
      expect(made).toMatchObject({ ok: true });
      // The fast client attaches first: flow control follows it.
      await call(fast, 'terminal.attach', { sessionId, terminalId: 'yes', maxBytes: 0 });
      await call(slow, 'terminal.attach', { sessionId, terminalId: 'yes', maxBytes: 0 });
      // The slow client stops reading altogether.
      (slow as unknown as { _socket: { pause(): void } })._socket.pause();
      const until = Date.now() + 20_000;
      while (Date.now() < until && received < 2.5 * MAX_BUFFERED_TERMINAL_BYTES) await new Promise((r) => setTimeout(r, 100));
      expect(received).toBeGreaterThan(2.5 * MAX_BUFFERED_TERMINAL_BYTES); // the flood did flow
      // One batch (≤ 200 KB of output, JSON-escaped) may go past the limit, never more.
      expect(maxServerBuffered).toBeLessThan(MAX_BUFFERED_TERMINAL_BYTES + 2 * 1024 * 1024);
      await call(fast, 'terminal.kill', { sessionId, terminalId: 'yes' });
    } finally {
      proto.send = send;
      fast.terminate();
      slow.terminate();
    }
  });
});

describe('web host behind an SSH tunnel', () => {
  function tryConnect(headers: Record<string, string>): Promise<'open' | string> {
    return new Promise((res) => {
      const ws = new WebSocket(`ws://127.0.0.1:${host.port}/ws?token=${host.token}`, { headers });
      ws.once('open', () => {
        ws.close();
        res('open');
      });
      ws.once('unexpected-response', (_q, r) => res(String(r.statusCode)));
      ws.once('error', (e) => res(e.message));
    });
  }

  it('accepts the page of a forwarded local port, still refuses other sites', async () => {
    // `ssh -L 8080:127.0.0.1:<port>`: the browser talks to 127.0.0.1:8080.
    expect(await tryConnect({ Origin: 'http://127.0.0.1:8080', Host: '127.0.0.1:8080' })).toBe('open');
    expect(await tryConnect({ Origin: 'http://localhost:8080', Host: 'localhost:8080' })).toBe('open');
    // DNS rebinding: a site whose name now points to 127.0.0.1.
    expect(await tryConnect({ Origin: 'http://evil.example:8080', Host: 'evil.example:8080' })).toBe('403');
    // A page elsewhere, whatever Host it claims.
    expect(await tryConnect({ Origin: 'http://evil.example', Host: '127.0.0.1:8080' })).toBe('403');
    expect(await tryConnect({ Origin: 'null', Host: '127.0.0.1:8080' })).toBe('403');
  });
});
