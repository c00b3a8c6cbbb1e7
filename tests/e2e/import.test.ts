// Importing from the session list in the browser: a file through the picker and a
// file dropped on the list, each with its progress until its sessions appear; a
// second import of the same file offers to import it again; a malformed file shows
// its error and adds nothing; a folder is imported by its path on the host's machine,
// and the imported session shows where it came from.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { openPage, ROOT, screenshot, startServerAndBrowser, waitFor, type Server } from './harness';

const SAMPLES = resolve(ROOT, '../shared/samples');
let home: string;
let browser: Browser;
let server: Server;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-import-e2e-'));
  ({ server, browser } = await startServerAndBrowser(home));
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rm(home, { recursive: true, force: true });
});

describe('import from the session list', () => {
  it('imports a picked file and a dropped file, with progress, and offers to import a file again', async () => {
    const { page, pageErrors } = await openPage(browser, server.url);
    const items = page.getByTestId('session-item');
    await items.first().waitFor();
    const before = await items.count();

    const cast = join(home, 'demo.cast');
    await writeFile(cast, [
      JSON.stringify({ version: 2, width: 80, height: 24, title: 'picked recording' }),
      JSON.stringify([0.1, 'o', 'hello\r\n']),
      JSON.stringify([0.2, 'm', 'greeting']),
      JSON.stringify([0.3, 'o', 'world\r\n']),
    ].join('\n') + '\n');
    await page.getByTestId('import-file').setInputFiles(cast);
    await page.getByTestId('import-job').filter({ hasText: 'demo.cast' }).and(page.locator('[data-stage="done"]')).waitFor();
    await waitFor(async () => (await items.count()) === before + 1, 'the imported session in the list');
    await expect(page.getByTestId('session-name').filter({ hasText: 'picked recording' }).count()).resolves.toBe(1);

    // Dropped onto the list: a DataTransfer with a File, as a drag from the desktop makes.
    const sft = JSON.stringify({ messages: [{ role: 'user', content: 'hi' }, { role: 'assistant', content: 'hello' }] });
    const drop = await page.evaluateHandle((text) => {
      const dt = new DataTransfer();
      dt.items.add(new File([text + '\n'], 'chat.jsonl', { type: 'application/jsonl' }));
      return dt;
    }, sft);
    const list = page.getByTestId('session-import');
    await list.dispatchEvent('dragover', { dataTransfer: drop });
    await list.dispatchEvent('drop', { dataTransfer: drop });
    await page.getByTestId('import-job').filter({ hasText: 'chat.jsonl' }).and(page.locator('[data-stage="done"]')).waitFor();
    await waitFor(async () => (await items.count()) === before + 2, 'the dropped file\'s session in the list');

    // The same file again: refused, with a button to import it anyway.
    await page.getByTestId('import-file').setInputFiles(cast);
    const again = page.getByTestId('import-job').filter({ hasText: 'demo.cast' }).and(page.locator('[data-stage="failed"]'));
    await again.waitFor();
    await expect(again.getByTestId('import-error').textContent()).resolves.toMatch(/already imported \(same SHA-256\)/);
    await again.getByTestId('import-again').click();
    await waitFor(async () => (await items.count()) === before + 3, 'the second copy in the list');
    expect(pageErrors).toEqual([]);
  });

  it('shows the error of a malformed file and adds nothing', async () => {
    const { page } = await openPage(browser, server.url);
    const items = page.getByTestId('session-item');
    await items.first().waitFor();
    const before = await items.count();
    const bad = join(home, 'broken.traj');
    await writeFile(bad, '{"trajectory": [{"action": "ls"');
    await page.getByTestId('import-file').setInputFiles(bad);
    const job = page.getByTestId('import-job').filter({ hasText: 'broken.traj' }).and(page.locator('[data-stage="failed"]'));
    await job.waitFor();
    await expect(job.getByTestId('import-error').textContent()).resolves.toMatch(/broken\.traj/);
    expect(await items.count()).toBe(before);
  });

  it('cancels a large upload part-way: nothing is imported', async () => {
    const { page } = await openPage(browser, server.url);
    const items = page.getByTestId('session-item');
    await items.first().waitFor();
    const before = await items.count();
    const big = join(home, 'big.cast');
    const line = JSON.stringify([0.001, 'o', 'x'.repeat(4000)]);
    await writeFile(big, `${JSON.stringify({ version: 2, width: 80, height: 24 })}\n${`${line}\n`.repeat(10_000)}`);
    await page.getByTestId('import-file').setInputFiles(big);
    const job = page.getByTestId('import-job').filter({ hasText: 'big.cast' });
    await job.getByTestId('import-progress').waitFor();
    await screenshot(page, 'import-progress.png');
    await job.getByTestId('import-cancel').click();
    await job.and(page.locator('[data-stage="cancelled"]')).waitFor();
    await new Promise((r) => setTimeout(r, 500));
    expect(await items.count()).toBe(before);
  });

  it('imports a folder by its path on this machine, and shows where the session came from', async () => {
    // An OpenHands session folder (events/<n>.json): a folder cannot be uploaded from a browser.
    const dir = join(home, 'inputs', 'oh-run');
    await mkdir(join(dir, 'events'), { recursive: true });
    const events = [
      { id: 0, source: 'user', action: 'message', args: { content: 'List the files.' } },
      { id: 1, source: 'agent', action: 'run', args: { command: 'ls', thought: 'Look first.' }, tool_call_metadata: { tool_call_id: 'call_1', function_name: 'execute_bash' } },
      { id: 2, source: 'agent', observation: 'run', cause: 1, content: 'a.txt\n', extras: { metadata: { exit_code: 0 } } },
    ];
    for (const e of events) await writeFile(join(dir, 'events', `${e.id}.json`), JSON.stringify(e));

    const { page, pageErrors } = await openPage(browser, server.url);
    await page.getByTestId('session-item').first().waitFor();
    await page.getByTestId('import-path-open').click();
    await page.getByTestId('import-path-input').fill(dir);
    await page.getByTestId('import-path-submit').click();
    const job = page.getByTestId('import-job').filter({ hasText: 'oh-run' }).and(page.locator('[data-stage="done"]'));
    await job.waitFor();
    await job.getByRole('button', { name: 'open' }).click();

    // The header says where it came from; its contexts were rebuilt, and the session says so.
    const badge = page.locator('[data-testid="session-origin"][data-format="openhands"]');
    await badge.waitFor({ timeout: 15_000 });
    await expect(page.getByTestId('origin-derived-warning').innerText()).resolves.toMatch(/^Contexts derived\. oh-run does not record what the model was sent/);
    await expect(page.getByTestId('session-ended-banner').getAttribute('data-kind')).resolves.toBe('imported');
    await badge.click();
    const popover = page.getByTestId('origin-popover');
    await expect(popover.getByTestId('origin-format').innerText()).resolves.toBe('openhands');
    await expect(popover.getByTestId('origin-file').innerText()).resolves.toBe('oh-run');
    await expect(popover.getByTestId('origin-tool').innerText()).resolves.toMatch(/\S/);
    await expect(popover.getByTestId('origin-context').getAttribute('data-context')).resolves.toBe('derived');
    await screenshot(page, 'import-origin.png');
    await page.keyboard.press('Escape');
    await popover.waitFor({ state: 'detached' });

    // A path that is not there: the host says so, and nothing is added.
    const items = page.getByTestId('session-item');
    const before = await items.count();
    await page.getByTestId('import-path-input').fill(join(home, 'inputs', 'missing'));
    await page.getByTestId('import-path-submit').click();
    const failed = page.getByTestId('import-job').filter({ hasText: 'missing' }).and(page.locator('[data-stage="failed"]'));
    await expect(failed.getByTestId('import-error').textContent()).resolves.toMatch(/no file or folder .*missing on this machine/);
    expect(await items.count()).toBe(before);
    expect(pageErrors).toEqual([]);
  });

  it('marks the steps an import says no model produced as they stand: "not trained", with why', async () => {
    // A call whose result the line does not hold: the step after it has a repaired context.
    await mkdir(join(home, 'inputs'), { recursive: true });
    const file = join(home, 'inputs', 'missing-result.jsonl');
    const calls = { role: 'assistant', content: null, tool_calls: [{ id: 'ca', type: 'function', function: { name: 'bash', arguments: '{"command": "ls"}' } }, { id: 'cb', type: 'function', function: { name: 'bash', arguments: '{"command": "pwd"}' } }] };
    await writeFile(file, `${JSON.stringify({ messages: [{ role: 'user', content: 'go' }, calls, { role: 'tool', tool_call_id: 'ca', content: 'a.py' }, { role: 'assistant', content: 'done' }] })}\n`);
    const { page, pageErrors } = await openPage(browser, server.url);
    await page.getByTestId('session-item').first().waitFor();
    await page.getByTestId('import-path-open').click();
    await page.getByTestId('import-path-input').fill(file);
    await page.getByTestId('import-path-submit').click();
    const job = page.getByTestId('import-job').filter({ hasText: 'missing-result' }).and(page.locator('[data-stage="done"]'));
    await job.waitFor();
    await job.getByRole('button', { name: 'open' }).click();
    const marks = page.getByTestId('step-not-trained');
    await marks.first().waitFor({ timeout: 15_000 });
    expect(await marks.count()).toBe(1);
    await expect(marks.first().getAttribute('title')).resolves.toMatch(/^not trained: .*not valid wire/);
    for (const [w, h] of [[1280, 720], [1400, 900]] as const) {
      await page.setViewportSize({ width: w, height: h });
      await screenshot(page, `import-not-trained-${w}x${h}.png`);
    }
    expect(pageErrors).toEqual([]);
  });

  it.skipIf(!existsSync(join(SAMPLES, 'README.md')))('imports a real sample from ../shared/samples', async () => {
    const file = join(SAMPLES, 'swe-agent/v1x_gpt4o_sweagenttestrepo-1c2844.traj');
    const { page } = await openPage(browser, server.url);
    await page.getByTestId('import-file').setInputFiles(file);
    await page.getByTestId('import-job').filter({ hasText: 'v1x_gpt4o' }).and(page.locator('[data-stage="done"]')).waitFor();
  });
});
