// The sample a fresh workspace gets, in the browser, offline: it says it is a
// recording (not that the host restarted), its Files tab shows what each step's
// checkpoint holds and changed, and Rewind restores a step's files on disk.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { openPage, startServerAndBrowser, waitFor, type Server } from './harness';

const SAMPLE = 'sample-sales-report';
let home: string;
let browser: Browser;
let server: Server;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-sample-e2e-'));
  ({ server, browser } = await startServerAndBrowser(home));
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rm(home, { recursive: true, force: true });
});

const step = (page: Page, depth: number) => page.locator(`[data-testid="step"][data-depth="${depth}"]`);

describe('the shipped sample on a fresh workspace', () => {
  it('is a recording whose Files tab lists each checkpoint, and Rewind restores step 3', async () => {
    const { page, pageErrors } = await openPage(browser, server.url);
    await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
    await step(page, 1).waitFor({ timeout: 15_000 });

    const banner = page.getByTestId('session-ended-banner');
    await expect(banner.getAttribute('data-kind')).resolves.toBe('recorded');
    const text = await banner.innerText();
    expect(text).toMatch(/^Recording\./);
    expect(text).not.toMatch(/restart/i);

    // Step 6 wrote report.md: the change against step 5, then the whole checkpoint.
    await step(page, 6).getByTestId('step-tool').click();
    await page.getByTestId('step-tab-files').click();
    await page.getByTestId('step-diff').waitFor({ timeout: 10_000 });
    await expect(page.getByTestId('step-diff-base').innerText()).resolves.toMatch(/Against step 5's checkpoint · 1 changed/);
    await expect(page.locator('[data-testid="step-change"][data-path="report.md"]').getAttribute('data-status')).resolves.toBe('added');
    await page.getByTestId('files-mode-all').click();
    const files = page.getByTestId('step-file');
    await files.first().waitFor({ timeout: 10_000 });
    await expect(files.evaluateAll((els) => els.map((e) => e.getAttribute('data-path')))).resolves.toEqual(['report.md', 'sales.csv']);
    await page.locator('[data-testid="step-file"][data-path="report.md"]').click();
    await expect.poll(() => page.getByTestId('file-preview').innerText(), { timeout: 10_000 }).toContain('Total: 495');

    // Rewind to step 3 (before report.md), nobody continuing: the working directory goes back.
    await step(page, 3).getByTestId('step-tool').click();
    await page.getByTestId('rewind-here').click();
    await page.getByTestId('rewind-dialog').waitFor();
    await page.getByTestId('rewind-profile').selectOption('');
    await page.getByTestId('rewind-confirm').click();
    await page.getByTestId('rewind-dialog').waitFor({ state: 'detached', timeout: 20_000 });
    const work = join(home, 'sessions', SAMPLE, 'work');
    await waitFor(async () => (await readdir(work)).join(',') === 'sales.csv', 'the files of step 3 in the working directory');
    // Its restored shell runs here now: the session is live, and the banner is gone.
    await page.locator('[data-testid="session-status"][data-status="live"]').waitFor({ timeout: 10_000 });
    await expect(banner.count()).resolves.toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
