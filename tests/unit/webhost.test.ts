import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestHost, type TestHost } from '../fixtures/web-host';
import { CLOSE_UNAUTHORIZED, type WebHost } from '../../electron/web/server';
import type { HostMessage } from '../../shared/contract/index';

let testHost: TestHost;
let home: string;
let host: WebHost;

beforeAll(async () => {
  testHost = await startTestHost('apollo-web-');
  ({ home, host } = testHost);
});
afterAll(() => testHost.close());

function connect(query: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${host.port}/ws${query}`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function client(ws: WebSocket) {
  const waiting = new Map<number, (m: HostMessage) => void>();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString()) as HostMessage;
    if (m.kind === 'res') waiting.get(m.id)?.(m);
  });
  return (raw: unknown, id: number) =>
    new Promise<HostMessage>((resolve) => {
      waiting.set(id, resolve);
      ws.send(typeof raw === 'string' ? raw : JSON.stringify(raw));
    });
}

describe('web host', () => {
  it('serves the renderer with a strict CSP and refuses path traversal', async () => {
    const res = await fetch(`http://127.0.0.1:${host.port}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const trav = await fetch(`http://127.0.0.1:${host.port}/..%2f..%2fetc%2fpasswd`);
    expect([403, 404]).toContain(trav.status);
  });

  it('refuses a missing or wrong token and a cross-origin socket', async () => {
    for (const q of ['', '?token=wrong']) {
      const ws = await connect(q);
      const got: string[] = [];
      ws.on('message', (d) => got.push(d.toString()));
      ws.send(JSON.stringify({ kind: 'req', id: 1, cmd: 'sessions.list', args: {} }));
      const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
      expect(code).toBe(CLOSE_UNAUTHORIZED);
      expect(got).toEqual([]);
    }
    await expect(connect(`?token=${host.token}`, { Origin: 'http://evil.example' })).rejects.toThrow('403');
    const ok = await connect(`?token=${host.token}`, { Origin: `http://127.0.0.1:${host.port}` });
    ok.close();
  });

  it('answers malformed messages with typed errors and keeps serving', async () => {
    const ws = await connect(`?token=${host.token}`);
    const send = client(ws);
    const bad = await new Promise<HostMessage>((resolve) => {
      ws.once('message', (d) => resolve(JSON.parse(d.toString())));
      ws.send('this is not json');
    });
    expect(bad).toMatchObject({ kind: 'res', ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await send({ kind: 'req', id: 1, cmd: 'no.such', args: {} }, 1)).toMatchObject({ ok: false, error: { code: 'UNKNOWN_COMMAND' } });
    expect(await send({ kind: 'req', id: 2, cmd: 'sessions.rename', args: { sessionId: 5 } }, 2)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(await send({ kind: 'req', id: 3, cmd: 'sessions.open', args: { sessionId: 'missing' } }, 3)).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    expect(await send({ kind: 'req', id: 4, cmd: 'sessions.create', args: { cwd: '/definitely/not/here' } }, 4)).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    const ok = await send({ kind: 'req', id: 5, cmd: 'sessions.list', args: {} }, 5);
    expect(ok).toMatchObject({ ok: true, result: [{ id: 'sample-sales-report' }] });
    ws.close();
  });

  it('runs a session terminal end to end over the socket', async () => {
    const ws = await connect(`?token=${host.token}`);
    const send = client(ws);
    let output = '';
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as HostMessage;
      if (m.kind === 'evt' && m.name === 'terminal.data') output += (m.payload as { data: string }).data;
    });
    const created = await send({ kind: 'req', id: 1, cmd: 'sessions.create', args: { name: 'web', cwd: home } }, 1);
    expect(created).toMatchObject({ ok: true });
    const session = (created as { result: { id: string; terminals: Array<{ id: string; status: string }> } }).result;
    expect(session.terminals[0]).toMatchObject({ id: 'main', status: 'running' });
    await send({ kind: 'req', id: 2, cmd: 'terminal.attach', args: { sessionId: session.id, terminalId: 'main' } }, 2);
    await send({ kind: 'req', id: 3, cmd: 'terminal.input', args: { sessionId: session.id, terminalId: 'main', data: 'echo "he""llo"\r' } }, 3);
    const deadline = Date.now() + 10_000;
    while (!/hello\r\n/.test(output) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(output).toMatch(/hello\r\n/);
    const spawnFail = await send({ kind: 'req', id: 4, cmd: 'terminal.create', args: { sessionId: session.id, id: 'bad', command: '/no/such/shell' } }, 4);
    expect(spawnFail).toMatchObject({ ok: false, error: { code: 'SPAWN_FAILED' } });
    const opened = await send({ kind: 'req', id: 5, cmd: 'sessions.open', args: { sessionId: session.id } }, 5);
    const types = (opened as { result: { events: Array<{ type: string }> } }).result.events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['session.created', 'terminal.started', 'terminal.input', 'terminal.failed']));
    ws.close();
  });
});
