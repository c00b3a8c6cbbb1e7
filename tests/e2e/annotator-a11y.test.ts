// Automated accessibility checks (issue 13): axe-core finds no serious or critical
// violation on the screens an annotator uses all day, at 1280×720: the session list,
// a live session with its terminal, the trajectory and the step inspector, the branch
// and rewind dialogs, the Filter view and its export dialog, Settings, the keyboard help
// and the Merge view. (axe is evaluated into the page; the context
// bypasses the page's CSP, which allows no script but the app's own.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createSession, startServerAndBrowser, type Server } from './harness';

let home: string;
let cwd: string;
let server: Server;
let browser: Browser;
let page: Page;
let axeSource: string;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-a11y-'));
  cwd = await mkdtemp(join(tmpdir(), 'apollo-e2e-a11y-cwd-'));
  axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  ({ server, browser } = await startServerAndBrowser(home, { env: { SHELL: '/bin/bash', HISTFILE: '/dev/null' } }));
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 }, bypassCSP: true });
  page = await ctx.newPage();
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rm(home, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

/** Serious and critical axe violations on the page as it is now, one line each. */
async function violations(): Promise<string[]> {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  return page.evaluate(async () => {
    interface Result { violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: string[] }> }> }
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<Result> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
  });
}

describe('accessibility', () => {
  it('has no serious or critical axe violations on the everyday screens', async () => {
    await page.goto(server.url);
    await page.getByTestId('session-list').waitFor();
    const found: Record<string, string[]> = {};
    found['start'] = await violations();

    await createSession(page, 'a11y e2e', cwd);
    found['live session'] = await violations();

    await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
    await page.locator('[data-testid="step"][data-depth="3"] [data-testid="step-tool"]').click();
    await page.getByTestId('step-inspector').waitFor();
    found['trajectory + inspector'] = await violations();
    // The timeline strip is on that screen; the search box over it with results.
    await page.getByTestId('search-open').click();
    await page.getByTestId('search-input').fill('north');
    await page.locator('[data-testid="search-status"][data-status="done"]').waitFor();
    found['session search'] = await violations();
    await page.keyboard.press('Escape');
    await page.getByTestId('search-panel').waitFor({ state: 'detached' });
    await page.getByTestId('branch-tree-toggle').click();
    found['branch tree'] = await violations();
    await page.getByTestId('branch-here').click();
    await page.getByTestId('branch-dialog').waitFor();
    found['branch dialog'] = await violations();
    await page.getByTestId('branch-mode-manual').click();
    found['branch dialog (by hand)'] = await violations();
    await page.keyboard.press('Escape');
    await page.getByTestId('branch-dialog').waitFor({ state: 'detached' });
    await page.getByTestId('rewind-here').click();
    await page.getByTestId('rewind-dialog').waitFor();
    found['rewind dialog'] = await violations();
    await page.keyboard.press('Escape');
    await page.getByTestId('rewind-dialog').waitFor({ state: 'detached' });

    await page.getByTestId('view-filter').click();
    await page.getByTestId('filter-row').first().waitFor();
    found['filter'] = await violations();
    await page.getByTestId('export-open').click();
    await page.getByTestId('export-dialog').waitFor();
    found['export dialog'] = await violations();
    await page.getByTestId('export-close').click();
    await page.getByTestId('export-dialog').waitFor({ state: 'detached' });
    await page.keyboard.press('?');
    await page.getByTestId('shortcuts-dialog').waitFor();
    found['keyboard help'] = await violations();
    await page.keyboard.press('Escape');

    await page.getByTestId('settings-open').click();
    await page.getByTestId('settings-dialog').waitFor();
    found['settings'] = await violations();
    await page.keyboard.press('Escape');
    await page.getByTestId('settings-dialog').waitFor({ state: 'detached' });

    await page.getByTestId('merge-open').click();
    await page.getByTestId('merge-view').waitFor();
    found['merge view'] = await violations();
    // With an input it cannot read: the list of bundles and the dry run's error.
    await page.getByTestId('merge-path').fill(join(cwd, 'not-a-bundle'));
    await page.getByTestId('merge-add').click();
    await page.getByTestId('merge-plan-error').waitFor({ timeout: 15_000 });
    found['merge view (error)'] = await violations();

    for (const [screen, list] of Object.entries(found)) expect(list, screen).toEqual([]);
  });
});
