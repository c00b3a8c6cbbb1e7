// The annotator's day, the keyboard part (issue 13): one keymap in every view (j/k
// move in Live and in Filter; labelling never moves the cursor unless asked), `?`
// lists the keys of the view in front of the user, undo / redo take back a whole
// rules application, the rules preview marks the rows it would change (with
// conflicts in words) and Apply counts what changed, rows the search hides are not
// selected, and Enter in the Live view toggles the selected step. Driven on the
// seeded sample session (8 actions; the rules flag steps 3, 4 and 5).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { screenshot, startServerAndBrowser, type Server } from './harness';


let home: string;
let browser: Browser;
let server: Server;
let page: Page;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-keys-'));
  ({ server, browser } = await startServerAndBrowser(home));
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on('pageerror', (e) => console.error('[page error]', e));
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rm(home, { recursive: true, force: true });
});

const row = (n: number): Locator => page.locator(`[data-testid="filter-row"][data-n="${n}"]`);
const state = async (n: number) => `${await row(n).getAttribute('data-label')}/${await row(n).getAttribute('data-source')}`;
/** Wait until row n shows `label/source`, settled (written by the host, not only the optimistic overlay). */
async function expectRow(n: number, want: string): Promise<void> {
  await expect.poll(() => state(n), { timeout: 10_000 }).toBe(want);
  await expect.poll(() => row(n).getAttribute('data-pending'), { timeout: 10_000 }).toBe('false');
}
async function expectCursor(n: number): Promise<void> {
  await expect.poll(() => page.locator('[data-testid="filter-row"][data-cursor="true"]').getAttribute('data-n')).toBe(String(n));
}
async function openSample(view: 'live' | 'filter'): Promise<void> {
  if (!page.url().startsWith('http')) await page.goto(server.url);
  await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
  await page.locator('h1', { hasText: /sales report/i }).first().waitFor({ timeout: 20_000 });
  await page.getByTestId(`view-${view}`).click();
  if (view === 'filter') await expect.poll(() => page.getByTestId('filter-row').count(), { timeout: 15_000 }).toBe(8);
  else await page.locator('[data-testid="step"]').first().waitFor({ timeout: 15_000 });
}

describe('one keymap, labels where the cursor is', () => {
  it('j/k move in Filter as in Live, a/m label the row under the cursor and stay there, ? lists the view keys', async () => {
    await page.goto(server.url);
    await openSample('filter');

    // j k j k walks rows 1 2 1 2: k moves up, it does not label.
    await page.keyboard.press('j');
    await expectCursor(1);
    await page.keyboard.press('j');
    await expectCursor(2);
    await page.keyboard.press('k');
    await expectCursor(1);
    for (let n = 1; n <= 8; n++) expect(await row(n).getAttribute('data-label')).toBe('unreviewed');

    // Label, move, label: every row gets the label meant for it, none is skipped.
    await page.keyboard.press('a');
    await expectRow(1, 'keep/annotator');
    await expectCursor(1);
    await page.keyboard.press('j');
    await page.keyboard.press('m');
    await expectRow(2, 'mask/annotator');
    await expectCursor(2);
    await page.keyboard.press('j');
    await page.keyboard.press('a');
    await expectRow(3, 'keep/annotator');
    await page.keyboard.press('j');
    await page.keyboard.press('m');
    await expectRow(4, 'mask/annotator');
    await expect(row(5).getAttribute('data-label')).resolves.toBe('unreviewed');
    // The buttons say which key they are.
    await expect(page.getByTestId('label-keep').innerText()).resolves.toMatch(/Keep\s*a/);
    await expect(page.getByTestId('label-mask').innerText()).resolves.toMatch(/Mask\s*m/);

    // "advance after label" is a visible toggle; on, a label moves to the next row.
    await page.getByTestId('advance-toggle').check();
    await row(5).click();
    await page.keyboard.press('a');
    await expectRow(5, 'keep/annotator');
    await expectCursor(6);
    await page.getByTestId('advance-toggle').uncheck();
    await page.keyboard.press('u');
    await expectRow(5, 'unreviewed/none');

    // ? lists the keys of this view, from the same table as the key strip.
    await page.keyboard.press('?');
    const dlg = page.getByTestId('shortcuts-dialog');
    await dlg.waitFor();
    await expect(page.getByTestId('shortcuts-table').getAttribute('data-view')).resolves.toBe('filter');
    await expect(dlg.locator('[data-action="keep"]').innerText()).resolves.toMatch(/^a\s+keep/);
    await expect(dlg.locator('[data-action="prev"]').innerText()).resolves.toMatch(/k\s+↑\s+previous step/);
    await page.setViewportSize({ width: 1280, height: 720 });
    await screenshot(page, 'keys-filter-help-1280.png');
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached' });
    await screenshot(page, 'keys-filter-1280.png');
    await page.setViewportSize({ width: 1400, height: 900 });
    await screenshot(page, 'keys-filter-1400.png');

    // The Live view: k is previous there too; ? lists the live keys.
    await page.getByTestId('view-live').click();
    const steps = page.locator('[data-testid="step"]');
    await steps.first().waitFor();
    await page.locator('[data-testid="step"][data-depth="4"] [data-testid="step-tool"]').click();
    await page.keyboard.press('k');
    await expect.poll(() => page.locator('[data-testid="step"][data-selected="true"]').getAttribute('data-depth')).toBe('3');
    await page.keyboard.press('j');
    await expect.poll(() => page.locator('[data-testid="step"][data-selected="true"]').getAttribute('data-depth')).toBe('4');
    await page.keyboard.press('?');
    await expect(page.getByTestId('shortcuts-table').getAttribute('data-view')).resolves.toBe('live');
    await expect(dlg.locator('[data-action="prev"]').innerText()).resolves.toMatch(/k\s+↑\s+previous step/);
    await expect(dlg.locator('[data-action="keep"]').count()).resolves.toBe(0);
    await screenshot(page, 'keys-live-help-1400.png');
    await page.keyboard.press('Escape');
  });

  it('Enter in the Live view toggles the selected step, not the one whose toggle was clicked last', async () => {
    await openSample('live');
    const step = (d: number) => page.locator(`[data-testid="step"][data-depth="${d}"]`);
    // Clicking step 2's observation toggle selects step 2, expands it, and leaves the focus on the toggle.
    await step(2).getByTestId('toggle-observation').click();
    await step(2).getByTestId('step-observation').waitFor();
    await expect(page.locator(':focus').getAttribute('data-testid')).resolves.toBe('toggle-observation');
    await page.keyboard.press('j');
    await expect.poll(() => step(3).getAttribute('data-selected')).toBe('true');
    await page.keyboard.press('Enter');
    await step(3).getByTestId('step-observation').waitFor();
    // Step 2 is as it was.
    await expect(step(2).getByTestId('step-observation').count()).resolves.toBe(1);
    await page.keyboard.press('Enter');
    await step(3).getByTestId('step-observation').waitFor({ state: 'detached' });
    await expect(step(2).getByTestId('step-observation').count()).resolves.toBe(1);
  });
});

describe('undo, redo and the rules preview', () => {
  it('marks the rows the rules would change, counts what Apply changed, and undoes the whole application at once', async () => {
    await openSample('filter');
    // From the first test: 1 keep, 2 mask, 3 keep, 4 mask (the annotator's). Steps 3-5 are flagged by rules.
    await expectRow(3, 'keep/annotator');
    await page.getByTestId('rules-preview').click();
    await expect.poll(() => page.getByTestId('rules-would').getAttribute('data-count'), { timeout: 10_000 }).toBe('3');
    // Step 5 (unreviewed) changes; step 3 (your keep) conflicts; step 4 (your mask) agrees.
    await expect.poll(() => row(5).getAttribute('data-preview')).toBe('change');
    await expect(row(3).getAttribute('data-preview')).resolves.toBe('conflict');
    await expect(row(4).getAttribute('data-preview')).resolves.toBe('agree');
    for (const n of [1, 2, 6, 7, 8]) await expect(row(n).getAttribute('data-preview')).resolves.toBe('');
    await expect(row(5).getByTestId('row-preview').innerText()).resolves.toMatch(/—\s*→\s*mask/i);
    await expect(row(3).getByTestId('row-conflict').innerText()).resolves.toMatch(/would say mask · you said keep/);
    await expect(page.getByTestId('rules-would').getAttribute('data-changed')).resolves.toBe('1');
    await expect(page.getByTestId('rules-would').innerText()).resolves.toMatch(/1 row changes to mask · 1 conflict/);
    // Nothing was written by the preview.
    await expectRow(5, 'unreviewed/none');
    await page.setViewportSize({ width: 1280, height: 720 });
    await screenshot(page, 'rules-preview-1280.png');
    await page.setViewportSize({ width: 1400, height: 900 });
    await screenshot(page, 'rules-preview-1400.png');

    const labelsBefore: string[] = [];
    for (let n = 1; n <= 8; n++) labelsBefore.push(await state(n));
    await page.getByTestId('rules-apply').click();
    await page.getByTestId('rules-applied').waitFor();
    await expectRow(5, 'mask/rule');
    const labelsAfter: string[] = [];
    for (let n = 1; n <= 8; n++) labelsAfter.push(await state(n));
    const changed = labelsAfter.filter((l, i) => l !== labelsBefore[i]).length;
    // Apply says how many rows changed, and that is how many did.
    await expect(page.getByTestId('rules-applied').getAttribute('data-changed')).resolves.toBe(String(changed));
    await expect(page.getByTestId('rules-applied').getAttribute('data-count')).resolves.toBe('3');
    expect(changed).toBe(1);
    // The marks are gone (applied); the conflict stays, in words.
    await expect.poll(() => row(5).getAttribute('data-preview')).toBe('');
    await expect(row(3).getByTestId('row-conflict').innerText()).resolves.toMatch(/rule says mask · you said keep/);
    await screenshot(page, 'rules-applied-1400.png');

    // u takes back the whole application (not an older label of yours) …
    await expect(page.getByTestId('label-undo').getAttribute('data-what')).resolves.toMatch(/^rules /);
    await page.keyboard.press('u');
    await expectRow(5, 'unreviewed/none');
    await expect.poll(() => row(3).getByTestId('row-conflict').count()).toBe(0);
    for (let n = 1; n <= 8; n++) expect(await state(n)).toBe(labelsBefore[n - 1]);
    // … Shift+U redoes it …
    await page.keyboard.press('U');
    await expectRow(5, 'mask/rule');
    await expect.poll(() => row(3).getByTestId('row-conflict').count()).toBe(1);
    // … and the history says what the next undo takes back.
    await page.getByTestId('undo-history').locator('summary').click();
    await expect(page.getByTestId('history-undo').first().innerText()).resolves.toMatch(/next undo:\s*rules .*failed-retry.*\(3 labels\)/);
    await screenshot(page, 'undo-history-1400.png');
    await page.getByTestId('undo-history').locator('summary').click();
    // Undo again, then the next undo is the annotator's own last label (step 4 mask from the first test).
    await page.keyboard.press('u');
    await expectRow(5, 'unreviewed/none');
    await expect(page.getByTestId('label-undo').getAttribute('data-what')).resolves.toMatch(/step/);
  });

  it('never keeps a row the search hides in the selection', async () => {
    await openSample('filter');
    await row(6).click();
    await page.keyboard.press('Shift+ArrowDown');
    await page.keyboard.press('Shift+ArrowDown');
    await expect.poll(() => page.locator('[data-testid="filter-row"][data-selected="true"]').count()).toBe(3);
    await expect(page.getByTestId('label-target').innerText()).resolves.toBe('3 selected');
    // Search for what only step 7 shows: the other selected rows are hidden, and unselected.
    const detail = (await row(7).locator('.ft-args').innerText()).trim();
    await page.keyboard.press('/');
    await page.keyboard.type(detail);
    await expect.poll(() => page.getByTestId('filter-count').getAttribute('data-shown')).not.toBe('8');
    const shown = Number(await page.getByTestId('filter-count').getAttribute('data-shown'));
    await expect.poll(() => page.getByTestId('label-target').innerText()).toMatch(new RegExp(`^(${shown} selected|1 selected)$`));
    await page.keyboard.press('Escape');
    await page.keyboard.press('m');
    await page.getByTestId('filter-reset').click();
    await expect.poll(() => page.getByTestId('filter-count').getAttribute('data-shown')).toBe('8');
    await expectRow(7, 'mask/annotator');
    // Rows 6 and 8 were hidden when m was pressed: unlabelled.
    expect(await state(6)).toBe('unreviewed/none');
    expect(await state(8)).toBe('unreviewed/none');
  });
});

describe('keys of your own', () => {
  it('changes a binding in Settings, refuses a key bound twice, and keeps it across a reload', async () => {
    await openSample('filter');
    await page.getByTestId('settings-open').click();
    await page.getByTestId('key-settings').locator('summary').click();
    const keep = page.locator('[data-testid="key-input"][data-action="keep"]');
    await expect(keep.inputValue()).resolves.toBe('a');
    // j is "next" in the Filter view: binding it to mask too is refused.
    await page.locator('[data-testid="key-input"][data-action="mask"]').fill('j');
    await expect(page.getByTestId('key-conflicts').innerText()).resolves.toMatch(/j: next, mask \(Filter\)/);
    await expect(page.getByTestId('keys-save').isDisabled()).resolves.toBe(true);
    await page.locator('[data-testid="key-input"][data-action="mask"]').fill('m');
    await keep.fill('y');
    await page.getByTestId('keys-save').click();
    await expect(page.getByTestId('keys-msg').innerText()).resolves.toMatch(/1 key of your own/);
    await screenshot(page, 'settings-keys-1400.png');
    await page.getByTestId('settings-close').click();

    // Stored with the settings: after a reload, y keeps and a does nothing.
    await page.reload();
    await expect.poll(() => page.getByTestId('filter-row').count(), { timeout: 15_000 }).toBe(8);
    await row(8).click();
    await expect(page.getByTestId('label-keep').innerText()).resolves.toMatch(/Keep\s*y/);
    const history = () => page.getByTestId('undo-history').locator('summary').innerText();
    const before = await history();
    await page.keyboard.press('a');
    await page.keyboard.press('y');
    await expectRow(8, 'keep/annotator');
    // One labelling action: y's. a is nobody's key now.
    const n = Number(/\((\d+)\)/.exec(before)![1]);
    await expect(history()).resolves.toContain(`(${n + 1})`);
    await page.keyboard.press('u');
    await expectRow(8, 'unreviewed/none');
    await page.keyboard.press('?');
    await expect(page.locator('[data-testid="shortcuts-dialog"] [data-action="keep"]').innerText()).resolves.toMatch(/^y\s+keep/);
    await page.keyboard.press('Escape');

    // Back to the defaults.
    await page.getByTestId('settings-open').click();
    await page.getByTestId('key-settings').locator('summary').click();
    await page.getByTestId('keys-reset').click();
    await expect(page.getByTestId('keys-msg').innerText()).resolves.toMatch(/defaults/);
    await page.getByTestId('settings-close').click();
    await expect(page.getByTestId('label-keep').innerText()).resolves.toMatch(/Keep\s*a/);
  });
});
