import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchBrowser, screenshot, startServer, waitForTerminalText } from './harness';

let home: string;
let browser: Browser;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-'));
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await rm(home, { recursive: true, force: true });
});

describe('browser mode: live terminal and durable history', () => {
  it('creates a session, runs echo hello, and finds it again after a restart', async () => {
    let server = await startServer(home);
    let page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(server.url);
    await page.getByTestId('new-session').click();
    await page.getByTestId('session-name-input').fill('e2e session');
    await page.getByTestId('create-session').click();
    await page.locator('[data-testid="terminal"] .xterm').waitFor();
    await page.locator('[data-testid="terminal"] .xterm').click();
    await page.keyboard.type('echo "hel""lo from e2e"\n');
    await waitForTerminalText(page, /hello from e2e/);
    await screenshot(page, 'terminal-live.png');
    await page.close();
    await server.stop();

    server = await startServer(home);
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(server.url);
    const item = page.getByTestId('session-item').filter({ hasText: 'e2e session' });
    await item.click();
    const text = await waitForTerminalText(page, /hello from e2e/);
    expect(text).toContain('hello from e2e');
    await expect(page.getByTestId('session-status').innerText()).resolves.toMatch(/ended|recorded/i);
    await page.close();
    await server.stop();
  });

  it('shows a clear error for a wrong token', async () => {
    // Its own workspace: a server the test before left running (it failed) holds that one's lock.
    const own = await mkdtemp(join(tmpdir(), 'apollo-e2e-'));
    const server = await startServer(own);
    try {
      const page = await browser.newPage();
      await page.goto(server.url.replace(/token=[^&]+/, 'token=wrong'));
      await expect(page.getByTestId('connection-error').innerText()).resolves.toMatch(/token/i);
      await page.close();
    } finally {
      await server.stop();
      await rm(own, { recursive: true, force: true });
    }
  });
});
