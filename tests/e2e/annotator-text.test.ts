// Text you can read and messages that tell the truth (issue 13): comments render as
// Markdown, safely (no raw HTML, no script, links only http(s) and outside the app);
// a failed "create session" toast goes once a retry succeeded and never covers the
// Send button; Settings says when a key variable is unset; the judge preselects the
// profile used last (kept across a reload), not the alphabetically first.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { screenshot, startServerAndBrowser, waitForTerminalText, type Server } from './harness';
import { startFakeLlm, text, type FakeLlm } from '../fixtures/fake-llm-server';


let home: string;
let cwd: string;
let fake: FakeLlm;
let server: Server;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-text-'));
  cwd = await mkdtemp(join(tmpdir(), 'apollo-e2e-text-cwd-'));
  // A judge that answers "ok" to the connection test and labels nothing.
  fake = await startFakeLlm(() => text('{"results": []}'));
  // Three profiles: "a-remote" sorts first but names a key variable that is not set.
  await writeFile(
    join(home, 'workspace.json'),
    JSON.stringify({
      version: 1,
      sessions: {},
      settings: {
        annotator: 'jo',
        profiles: [
          { name: 'a-remote', baseUrl: 'https://api.example.invalid/v1', model: 'big-model', apiKeyEnv: 'APOLLO_E2E_UNSET_KEY' },
          { name: 'b-judge', baseUrl: fake.url, model: 'judge-model' },
          { name: 'c-other', baseUrl: fake.url, model: 'other-model' },
        ],
      },
    }),
  );
  ({ server, browser } = await startServerAndBrowser(home, { env: { SHELL: '/bin/bash', HISTFILE: '/dev/null', APOLLO_E2E_UNSET_KEY: '' } }));
  page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.on('pageerror', (e) => console.error('[page error]', e));
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await fake?.close();
  await rm(home, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

describe('Markdown comments', () => {
  it('renders Markdown and nothing else: no raw HTML, no script, safe links only', async () => {
    await page.goto(server.url);
    await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
    await page.locator('[data-testid="step"][data-depth="3"] [data-testid="step-tool"]').click();
    await page.getByTestId('step-tab-comments').click();
    const md = [
      '**Failed** on a typo, see [the docs](https://example.com/docs) and `awk -F,`.',
      '',
      '- retried once',
      '- then *fixed*',
      '',
      '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> [bad](javascript:window.__pwned=3)',
    ].join('\n');
    await page.getByTestId('comment-input').fill(md);
    await page.getByTestId('add-comment').click();
    const body = page.getByTestId('comment-text').last();
    await body.waitFor();
    await expect(body.locator('strong').innerText()).resolves.toBe('Failed');
    await expect(body.locator('em').innerText()).resolves.toBe('fixed');
    await expect(body.locator('code').first().innerText()).resolves.toBe('awk -F,');
    await expect(body.locator('li').count()).resolves.toBe(2);
    const link = body.locator('a', { hasText: 'the docs' });
    await expect(link.getAttribute('href')).resolves.toBe('https://example.com/docs');
    await expect(link.getAttribute('target')).resolves.toBe('_blank');
    await expect(link.getAttribute('rel')).resolves.toMatch(/noopener/);
    // Raw HTML shows as text; nothing of it runs or loads.
    await expect(body.locator('script, img, iframe').count()).resolves.toBe(0);
    await expect(body.innerText()).resolves.toContain('<script>');
    // Every link left points to http(s) or mail: the javascript: one is not a link.
    const hrefs = await body.locator('a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
    expect(hrefs.filter((h) => h !== null && !/^(https?:|mailto:)/.test(h))).toEqual([]);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    await expect(body.innerText()).resolves.not.toContain('**');
    // The step list's one-line preview reads as text too.
    const preview = page.locator('[data-testid="step"][data-depth="3"] [data-testid="step-comment"]');
    await expect(preview.innerText()).resolves.toMatch(/Failed on a typo, see the docs/);
    await expect(preview.innerText()).resolves.not.toMatch(/\*\*|\[the docs\]|`/);
    await screenshot(page, 'comments-markdown-1280.png');
    await page.setViewportSize({ width: 1400, height: 900 });
    await screenshot(page, 'comments-markdown-1400.png');
    await page.setViewportSize({ width: 1280, height: 720 });
  });
});

describe('messages that tell the truth', () => {
  it('drops a failed create-session toast once the retry succeeds, and keeps toasts off the Send button', async () => {
    await page.getByTestId('new-session').click();
    await page.getByTestId('session-name-input').fill('toast e2e');
    await page.getByTestId('session-cwd-input').fill('/definitely/not/here');
    await page.getByTestId('create-session').click();
    const toast = page.locator('[data-testid="toast"]', { hasText: /Could not create the session/ });
    await toast.waitFor({ timeout: 10_000 });
    // The dialog stays open with the error: fix the folder and create again.
    await page.getByTestId('session-cwd-input').fill(cwd);
    await page.getByTestId('create-session').click();
    await page.locator('[data-testid="terminal"] .xterm').waitFor();
    await waitForTerminalText(page, /[#$]/);
    // The failure is stale news once the retry worked.
    await expect.poll(() => toast.count(), { timeout: 5_000 }).toBe(0);

    // A toast that does show stays clear of Send: follow a link to a session that is not there.
    await page.goto(`${new URL(page.url()).origin}/#/s/no-such-session/live`);
    const notFound = page.locator('[data-testid="toast"]', { hasText: /no session/ });
    await notFound.waitFor({ timeout: 15_000 });
    await page.getByTestId('session-item').filter({ hasText: /toast e2e/ }).click();
    await page.getByTestId('send-guidance').waitFor();
    const box = await notFound.boundingBox();
    const sendBox = await page.getByTestId('send-guidance').boundingBox();
    expect(box && sendBox).toBeTruthy();
    const overlap = !(box!.x + box!.width <= sendBox!.x || sendBox!.x + sendBox!.width <= box!.x || box!.y + box!.height <= sendBox!.y || sendBox!.y + sendBox!.height <= box!.y);
    expect(overlap).toBe(false);
    await screenshot(page, 'toast-1280.png');
  });

  it('says when the key variable of a profile is unset, and the judge preselects the profile used last', async () => {
    await page.getByTestId('settings-open').click();
    await page.getByTestId('settings-dialog').waitFor();
    await page.locator('[data-testid="profile-item"][data-name="a-remote"]').click();
    await expect(page.getByTestId('profile-key-source').innerText()).resolves.toMatch(/\$APOLLO_E2E_UNSET_KEY is not set/);
    await expect(page.getByTestId('profile-key-source').innerText()).resolves.not.toMatch(/fine/);
    await screenshot(page, 'settings-key-1280.png');
    await page.getByTestId('settings-close').click();

    // The judge: not the alphabetically first (its key is missing) but one that can answer …
    await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
    await page.getByTestId('view-filter').click();
    await page.getByTestId('judge-profile').waitFor();
    await expect(page.getByTestId('judge-profile').inputValue()).resolves.toBe('b-judge');
    // … and, once another is used, that one, also after a reload.
    await page.getByTestId('judge-profile').selectOption('c-other');
    await page.getByTestId('judge-run').click();
    await expect.poll(() => page.getByTestId('judge-status').getAttribute('data-state'), { timeout: 30_000 }).not.toBe('running');
    await page.reload();
    await page.getByTestId('judge-profile').waitFor({ timeout: 15_000 });
    await expect.poll(() => page.getByTestId('judge-profile').inputValue()).toBe('c-other');
  });
});
