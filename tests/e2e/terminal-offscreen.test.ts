// A terminal tab that is not shown costs the page nothing (issue 10, item 6), in real
// Chromium against `apollo serve`: while a hidden tab floods, the page is sent none of
// its output and the tab shown answers keys promptly; shown again, the hidden tab
// catches up from the recording and shows its latest output.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openPage, startServerAndBrowser, waitFor, type Server } from './harness';

let home: string;
let server: Server;
let browser: Browser;
let page: Page;
let pageErrors: string[];

/** What the page's socket carried for the `flood` terminal. */
const wire = { dataWhileHidden: 0, hidden: false, detachId: -1, attaches: [] as Array<Record<string, unknown>> };

const SHELL = 'bash --norc --noprofile';
const screen = (id: string) => page.locator(`[data-testid="terminal"][data-terminal-id="${id}"]`);
const rowsText = (id: string) => screen(id).locator('.xterm-rows').innerText();

async function show(id: string): Promise<void> {
  await page.locator(`[data-testid="terminal-tab"][data-terminal-id="${id}"]`).click();
  await screen(id).locator('.xterm-screen').click();
}

async function recordingTail(sessionId: string, terminalId: string): Promise<string> {
  const f = await open(join(home, 'sessions', sessionId, 'terminals', `${terminalId}.out`), 'r');
  try {
    const { size } = await f.stat();
    const buf = Buffer.alloc(Math.min(size, 4096));
    await f.read(buf, 0, buf.length, size - buf.length);
    return buf.toString('latin1');
  } finally {
    await f.close();
  }
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-offscreen-'));
  ({ server, browser } = await startServerAndBrowser(home, { env: { SHELL: '/bin/bash', HISTFILE: '/dev/null' } }));
  ({ page, pageErrors } = await openPage(browser, server.url));
  page.on('websocket', (ws) => {
    ws.on('framesent', ({ payload }) => {
      const m = JSON.parse(String(payload)) as { kind: string; id: number; cmd?: string; args?: Record<string, unknown> };
      if (m.kind !== 'req' || m.args?.terminalId !== 'flood') return;
      if (m.cmd === 'terminal.detach') wire.detachId = m.id;
      if (m.cmd === 'terminal.attach') {
        wire.attaches.push(m.args);
        wire.hidden = false;
      }
    });
    ws.on('framereceived', ({ payload }) => {
      const m = JSON.parse(String(payload)) as { kind: string; id?: number; name?: string; payload?: { terminalId: string } };
      // Output pushed before the host handled the detach may still arrive; after its answer, none may.
      if (m.kind === 'res' && m.id === wire.detachId) wire.hidden = true;
      if (m.kind === 'evt' && m.name === 'terminal.data' && m.payload?.terminalId === 'flood' && wire.hidden) wire.dataWhileHidden++;
    });
  });
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('a terminal tab that is not shown', () => {
  it('is sent nothing while it floods, leaves the shown tab responsive, and shows its latest output when shown', async () => {
    await page.getByTestId('new-session').click();
    await page.getByTestId('session-name-input').fill('offscreen');
    await page.getByTestId('session-cwd-input').fill(home);
    await page.getByTestId('session-command-input').fill(SHELL);
    await page.getByTestId('create-session').click();
    await screen('main').locator('.xterm-rows', { hasText: /[#$]/ }).waitFor();
    const sessionId = (await page.locator('[data-testid="session-item"][data-active="true"]').getAttribute('data-session-id'))!;
    await page.getByTestId('add-terminal').click();
    await page.getByTestId('terminal-name-input').fill('flood');
    await page.getByTestId('terminal-command-input').fill(SHELL);
    await page.getByTestId('create-terminal').click();
    await screen('flood').locator('.xterm-rows', { hasText: /[#$]/ }).waitFor();

    // Flood for 10 s in `flood` (long enough that the shown tab's echo comes back before it ends, under load), then hide it.
    await screen('flood').locator('.xterm-screen').click();
    // `timeout` may stop `yes` in the middle of its "y\n" (seen under CPU load): the
    // first echo ends that line, so the marker is a line of its own either way.
    await page.keyboard.type('timeout 10 yes; echo; echo hidden-$((6*7))-end\n');
    await waitFor(async () => (await recordingTail(sessionId, 'flood')).includes('y\r\ny\r\n'), 'the flood to start');
    await show('main');
    await waitFor(() => wire.hidden, 'the hidden tab to be detached');

    // The tab shown answers while the other floods.
    const t0 = Date.now();
    await page.keyboard.type('echo typed-$((2+3))\n');
    await screen('main').locator('.xterm-rows', { hasText: 'typed-5' }).waitFor({ timeout: 10_000 });
    const echoMs = Date.now() - t0;
    expect((await recordingTail(sessionId, 'flood')).includes('hidden-42-end')).toBe(false); // still flooding meanwhile

    await waitFor(async () => /hidden-42-end\r\n/.test(await recordingTail(sessionId, 'flood')), 'the hidden flood to end', 30_000);
    expect(wire.dataWhileHidden).toBe(0);

    // Shown again: it attaches with what its screen has and catches up to the end.
    await show('flood');
    await waitFor(async () => /^hidden-42-end\s*$/m.test(await rowsText('flood')), 'the hidden tab to show its latest output').catch(async (e: Error) => {
      throw new Error(`${e.message}; its rows:\n${await rowsText('flood')}\nnotes: ${await page.locator('[data-testid="terminal-truncated"]').allTextContents().catch(() => [])}`);
    });
    expect(wire.attaches.at(-1)).toMatchObject({ terminalId: 'flood', since: expect.any(Number) });
    await page.keyboard.type('echo back-$((1+1))\n');
    await waitFor(async () => /^back-2\s*$/m.test(await rowsText('flood')), 'the tab shown again to take keys');
    console.log(`offscreen: echo in the shown tab during a hidden flood ${echoMs} ms (typing and round trips included)`);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
