// Links and reloads (issue 13): the address names the session, view, branch and step;
// a reload returns there; a second tab opened from the address bar (no token in it)
// works through the host's cookie; a browser without the cookie is told how to get
// in, and can paste the URL the host printed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { screenshot, startServerAndBrowser, type Server } from './harness';

const SAMPLE = 'sample-sales-report';

let home: string;
let browser: Browser;
let server: Server;
let ctx: BrowserContext;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-links-'));
  ({ server, browser } = await startServerAndBrowser(home));
  ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rm(home, { recursive: true, force: true });
});

const origin = () => `http://127.0.0.1:${server.port}`;
const hashOf = (page: Page) => new URL(page.url()).hash;
const selectedDepth = (page: Page) => page.locator('[data-testid="step"][data-selected="true"]').getAttribute('data-depth');
const cursorRow = (page: Page) => page.locator('[data-testid="filter-row"][data-cursor="true"]').getAttribute('data-n');

describe('links that survive a reload', () => {
  it('names session, view, branch and step in the URL; reload and a second tab return there', async () => {
    const page = await ctx.newPage();
    page.on('pageerror', (e) => console.error('[page error]', e));
    await page.goto(server.url);
    await page.getByTestId('session-list').waitFor();
    // The token leaves the address bar at once (it would end up in screenshots and history).
    await expect.poll(() => page.url()).not.toContain('token=');

    await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
    await page.locator('[data-testid="step"]').first().waitFor({ timeout: 15_000 });
    await expect.poll(() => hashOf(page)).toMatch(new RegExp(`^#/s/${SAMPLE}/live`));
    await page.locator('[data-testid="step"][data-depth="3"] [data-testid="step-tool"]').click();
    await expect.poll(() => hashOf(page)).toBe(`#/s/${SAMPLE}/live/b/main/step/3`);
    await page.keyboard.press('j');
    await expect.poll(() => hashOf(page)).toBe(`#/s/${SAMPLE}/live/b/main/step/4`);

    // Reload: the same session, view and step, not the empty screen.
    await page.reload();
    await expect.poll(() => selectedDepth(page), { timeout: 15_000 }).toBe('4');
    await expect(page.getByTestId('step-inspector').getAttribute('data-step-id')).resolves.toBeTruthy();

    // The Filter view and its cursor are in the address too.
    await page.getByTestId('view-filter').click();
    await expect.poll(() => page.getByTestId('filter-row').count(), { timeout: 15_000 }).toBe(8);
    await page.locator('[data-testid="filter-row"][data-n="6"]').click();
    await expect.poll(() => hashOf(page)).toBe(`#/s/${SAMPLE}/filter/b/main/step/6`);
    await page.reload();
    await expect.poll(() => cursorRow(page), { timeout: 15_000 }).toBe('6');
    await page.setViewportSize({ width: 1280, height: 720 });
    await screenshot(page, 'links-reloaded-filter-1280.png');

    // Back goes to the previous view.
    await page.goBack();
    await expect.poll(() => hashOf(page)).toMatch(new RegExp(`^#/s/${SAMPLE}/live`));
    await page.getByTestId('trajectory-panel').waitFor();

    // A second tab from the address bar: no token in its URL, the cookie lets it in.
    const tab2 = await ctx.newPage();
    await tab2.goto(`${origin()}/#/s/${SAMPLE}/live/b/main/step/2`);
    await expect.poll(() => selectedDepth(tab2), { timeout: 15_000 }).toBe('2');
    await expect(tab2.getByTestId('connection-error').count()).resolves.toBe(0);
    await tab2.close();
    await page.close();
  });

  it('tells a browser without the token how to get in, and takes the pasted URL', async () => {
    const other = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await other.newPage();
    await page.goto(`${origin()}/#/s/${SAMPLE}/filter/b/main/step/2`);
    const screen = page.getByTestId('connection-error');
    await screen.waitFor({ timeout: 15_000 });
    await expect(screen.innerText()).resolves.toMatch(/no access token/i);
    await expect(screen.innerText()).resolves.toMatch(/apollo serve/);
    // Reloading cannot help: no Reload button, a field for the URL instead.
    await expect(page.getByTestId('connection-retry').count()).resolves.toBe(0);
    await screenshot(page, 'links-no-token-1280.png');
    await page.getByTestId('token-input').fill(server.url);
    await page.getByTestId('token-open').click();
    // In, at the place the link named.
    await expect.poll(() => cursorRow(page), { timeout: 15_000 }).toBe('2');
    await expect.poll(() => page.url()).not.toContain('token=');
    expect(hashOf(page)).toBe(`#/s/${SAMPLE}/filter/b/main/step/2`);
    // A link to a session this workspace does not have says so.
    await page.goto(`${origin()}/#/s/no-such-session/live`);
    await expect.poll(() => page.getByTestId('toast').innerText().catch(() => ''), { timeout: 15_000 }).toMatch(/no session “no-such-session”/);
    await other.close();
  });
});
