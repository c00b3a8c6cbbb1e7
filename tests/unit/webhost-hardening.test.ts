// The web host against a local attacker and a DNS-rebinding page: only regular files
// of the renderer folder are served (no symlink out of it), only loopback names in
// Host are answered, and a message nested 100k deep is a BAD_REQUEST, not a crash.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { connect } from 'node:net';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebSocket from 'ws';
import { startTestHost, type TestHost } from '../fixtures/web-host';
import { resolveStaticFile } from '../../electron/web/static-files';
import { MAX_MESSAGE_DEPTH, nestedDeeperThan } from '../../shared/contract/depth';
import type { HostMessage } from '../../shared/contract/index';

let t: TestHost;
let renderer: string;
beforeAll(async () => {
  t = await startTestHost('apollo-web-hard-');
  renderer = join(t.home, 'renderer');
  await writeFile(join(renderer, 'app.js'), 'console.log(1)');
  await mkdir(join(renderer, 'assets'));
  await writeFile(join(renderer, 'assets', 'a.css'), 'body{}');
  // Planted by someone else: links out of the folder, to a file and to a folder.
  await writeFile(join(t.home, 'secret.txt'), 'TOP SECRET');
  await symlink(join(t.home, 'secret.txt'), join(renderer, 'leak.txt'));
  await symlink(join(t.home, 'ws'), join(renderer, 'ws'));
  await symlink(join(renderer, 'app.js'), join(renderer, 'inside.js'));
});
afterAll(() => t.close());

/** A raw HTTP GET with the Host header we choose (fetch does not let us set it). */
function get(path: string, host = `127.0.0.1:${t.host.port}`): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: t.host.port, path, headers: { Host: host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('static files of the web host', () => {
  it('serves regular files of the renderer folder', async () => {
    expect(await get('/')).toMatchObject({ status: 200, body: '<!doctype html><title>t</title>' });
    expect(await get('/app.js')).toMatchObject({ status: 200, body: 'console.log(1)' });
    expect(await get('/assets/a.css')).toMatchObject({ status: 200, body: 'body{}' });
  });

  it('refuses a symlink pointing outside, into the workspace, or even inside', async () => {
    for (const path of ['/leak.txt', '/ws/workspace.json', '/ws/sessions/sample-sales-report/events.jsonl', '/inside.js']) {
      const res = await get(path);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.body).not.toContain('SECRET');
    }
  });

  it('refuses folders, traversal and NUL bytes', async () => {
    expect((await get('/assets')).status).toBe(404);
    expect((await get('/..%2fsecret.txt')).status).toBe(404); // normalized into the folder: no such file
    expect((await get('/%2e%2e/%2e%2e/secret.txt')).body).not.toContain('SECRET');
    expect((await get('/app.js%00.png')).status).toBe(400);
  });

  it('resolves paths the same way for the Electron protocol', async () => {
    expect(await resolveStaticFile(renderer, '/')).toEqual({ ok: true, path: join(renderer, 'index.html'), rel: '/index.html' });
    expect(await resolveStaticFile(renderer, '/leak.txt')).toMatchObject({ ok: false, status: 404, reason: 'symlink' });
    expect(await resolveStaticFile(renderer, '/ws/workspace.json')).toMatchObject({ ok: false, status: 404, reason: 'symlink' });
    expect(await resolveStaticFile(renderer, '%E0%A4%A')).toMatchObject({ ok: false, status: 400 });
    // A folder reached through a symlink is fine: only what is inside must be real.
    const via = join(t.home, 'renderer-link');
    await symlink(renderer, via);
    expect(await resolveStaticFile(via, '/app.js')).toEqual({ ok: true, path: join(renderer, 'app.js'), rel: '/app.js' });
  });
});

describe('Host header (DNS rebinding)', () => {
  it('answers only to loopback names', async () => {
    const port = t.host.port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `[::1]:${port}`, 'localhost:8080']) {
      expect([host, (await get('/', host)).status]).toEqual([host, 200]);
    }
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`, `127.0.0.1@evil.example:${port}`, `evil.example@127.0.0.1:${port}`]) {
      const res = await get('/', host);
      expect([host, res.status]).toEqual([host, 403]);
      expect(res.body).not.toContain('<title>');
    }
  });

  it('refuses a request without Host (HTTP/1.0)', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = connect(t.host.port, '127.0.0.1', () => sock.end('GET / HTTP/1.0\r\n\r\n'));
      let text = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => (text += d));
      sock.on('end', () => resolve(text));
      sock.on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.[01] 403/);
  });

  it('refuses a WebSocket upgrade under a foreign Host, even with the token and no Origin', async () => {
    const status = await new Promise<string>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${t.host.port}/ws?token=${t.host.token}`, { headers: { Host: `evil.example:${t.host.port}` } });
      ws.once('open', () => {
        ws.close();
        resolve('open');
      });
      ws.once('unexpected-response', (_q, r) => resolve(String(r.statusCode)));
      ws.once('error', (e) => resolve(e.message));
    });
    expect(status).toBe('403');
  });
});

describe('deeply nested messages', () => {
  it('counts depth without recursion', () => {
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
    expect(nestedDeeperThan(deep, MAX_MESSAGE_DEPTH)).toBe(true);
    expect(nestedDeeperThan({ a: [{ b: [1, 2, { c: 'x' }] }] }, MAX_MESSAGE_DEPTH)).toBe(false);
    const exactly = JSON.parse('['.repeat(MAX_MESSAGE_DEPTH) + ']'.repeat(MAX_MESSAGE_DEPTH)) as unknown;
    expect(nestedDeeperThan(exactly, MAX_MESSAGE_DEPTH)).toBe(false);
    expect(nestedDeeperThan([exactly], MAX_MESSAGE_DEPTH)).toBe(true);
  });

  it('answers 100k nested arrays with BAD_REQUEST over the WebSocket, and keeps serving', async () => {
    const ws = await new Promise<WebSocket>((resolve, reject) => {
      const s = new WebSocket(`ws://127.0.0.1:${t.host.port}/ws?token=${t.host.token}`);
      s.once('open', () => resolve(s));
      s.once('error', reject);
    });
    const answers = new Map<number, HostMessage>();
    const waiters = new Map<number, () => void>();
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString()) as HostMessage;
      if (m.kind !== 'res') return;
      answers.set(m.id, m);
      waiters.get(m.id)?.();
    });
    const send = (id: number, text: string) =>
      new Promise<HostMessage>((resolve) => {
        waiters.set(id, () => resolve(answers.get(id)!));
        ws.send(text);
      });
    try {
      const nest = (n: number) => '['.repeat(n) + ']'.repeat(n);
      // In the arguments of a command whose handler would serialize them (a hand-written action).
      const action = `{"kind":"req","id":1,"cmd":"branch.create","args":{"sessionId":"sample-sales-report","fromStepId":null,"action":{"name":"run_command","arguments":{"x":${nest(100_000)}}}}}`;
      expect(await send(1, action)).toMatchObject({ id: 1, ok: false, error: { code: 'BAD_REQUEST', message: expect.stringContaining('nested deeper') } });
      // The whole message an array nested 100k deep: no id to answer to.
      expect(await send(-1, nest(100_000))).toMatchObject({ id: -1, ok: false, error: { code: 'BAD_REQUEST' } });
      expect(await send(2, '{"kind":"req","id":2,"cmd":"sessions.list","args":{}}')).toMatchObject({ id: 2, ok: true });
    } finally {
      ws.close();
    }
  });
});
