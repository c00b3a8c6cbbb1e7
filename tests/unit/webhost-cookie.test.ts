// The web host keeps a browser authorised after its first visit with the token (an
// HttpOnly, SameSite=Strict cookie named for the host's port, as Jupyter does), so a
// second tab or a bookmark without the token connects; a wrong cookie does not, and
// other sites' pages are still refused by the Origin check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestHost, type TestHost } from '../fixtures/web-host';
import { CLOSE_UNAUTHORIZED, tokenCookieName } from '../../electron/web/server';

let t: TestHost;
beforeAll(async () => {
  t = await startTestHost('apollo-web-cookie-');
});
afterAll(() => t.close());

/** Connect, ask for the session list, and tell whether it was answered or the socket closed (with its code). */
function tryConnect(headers: Record<string, string>): Promise<{ answered: boolean; code?: number; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${t.host.port}/ws`, { headers });
    ws.once('unexpected-response', (_req, res) => resolve({ answered: false, status: res.statusCode }));
    ws.once('open', () => ws.send(JSON.stringify({ kind: 'req', id: 1, cmd: 'sessions.list', args: {} })));
    ws.once('message', () => {
      resolve({ answered: true });
      ws.close();
    });
    ws.once('close', (code) => resolve({ answered: false, code }));
    ws.once('error', () => undefined);
  });
}

describe('web host token cookie', () => {
  it('sets an HttpOnly SameSite=Strict cookie for the port on a visit with the right token only', async () => {
    const page = await fetch(`http://127.0.0.1:${t.host.port}/?token=${t.host.token}`);
    expect(page.status).toBe(200);
    const cookie = page.headers.get('set-cookie') ?? '';
    expect(cookie).toContain(`${tokenCookieName(t.host.port)}=${t.host.token}`);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const wrong = await fetch(`http://127.0.0.1:${t.host.port}/?token=wrong`);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const bare = await fetch(`http://127.0.0.1:${t.host.port}/`);
    expect(bare.headers.get('set-cookie')).toBeNull();
  });

  it('accepts the socket of a tab that has the cookie but no token, and refuses a wrong cookie or another origin', async () => {
    const name = tokenCookieName(t.host.port);
    const origin = `http://127.0.0.1:${t.host.port}`;
    expect(await tryConnect({ Cookie: `other=1; ${name}=${t.host.token}`, Origin: origin })).toEqual({ answered: true });
    expect(await tryConnect({ Cookie: `${name}=wrong`, Origin: origin })).toEqual({ answered: false, code: CLOSE_UNAUTHORIZED });
    // A cookie of another port's host is not this one's.
    expect(await tryConnect({ Cookie: `${tokenCookieName(t.host.port + 1)}=${t.host.token}`, Origin: origin })).toEqual({ answered: false, code: CLOSE_UNAUTHORIZED });
    expect(await tryConnect({ Cookie: `${name}=${t.host.token}`, Origin: 'http://evil.example' })).toEqual({ answered: false, status: 403 });
  });
});
