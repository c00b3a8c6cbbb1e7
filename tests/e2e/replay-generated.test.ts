// The replay on a generated session with branches (apollo bench --generate: 200 steps,
// 4 branches, a training job's progress bars): its step jumps select the step they name,
// shown in the trajectory (on its branch), and it names steps as the trajectory does
// (number on the branch), not by the order the steps of every branch started.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateInto, screenshot, startServerAndBrowser, waitFor, type Server } from './harness';

let root: string;
let server: Server;
let browser: Browser;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-e2e-replay-gen-'));
  const home = join(root, 'home');
  const prepare = () => generateInto(home, ['--steps', '200', '--hours', '4', '--terminal-mb', '4']);
  ({ server, browser } = await startServerAndBrowser(home, { prepare }));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('replay of a generated session', () => {
  it('jumps step by step through the training terminal, each step selected and named as in the trajectory', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(server.url);
    await page.getByTestId('session-item').filter({ hasText: /Fine-tuning/ }).click();
    await page.locator('[data-testid="terminal-tab"][data-terminal-id="train"]').click();
    await page.getByTestId('replay-toggle').click();
    await waitFor(async () => (await page.locator('.replay-markers span').count()) > 10, 'the steps on the scrubber');
    // From the middle of the recording on: past the first branch, whose steps started before later main steps.
    const max = Number(await page.getByTestId('replay-scrubber').getAttribute('max'));
    await page.getByTestId('replay-scrubber').fill(String(Math.round(max / 2)));
    await waitFor(async () => (await page.getByTestId('replay-status').innerText()) === '', 'the scrub settled');
    const seen: string[] = [];
    for (let i = 0; i < 8 && (await page.getByTestId('replay-next-step').isEnabled()); i++) {
      const before = await page.getByTestId('replay-time').innerText();
      await page.getByTestId('replay-next-step').click();
      await waitFor(async () => (await page.getByTestId('replay-time').innerText()) !== before, 'the jump');
      const selected = page.locator('[data-testid="step"][data-selected="true"]');
      // In the trajectory's list (revealed, on its branch), and named alike.
      await selected.waitFor({ timeout: 10_000 });
      const depth = await selected.getAttribute('data-depth');
      const branch = await selected.getAttribute('data-branch-id');
      const label = await page.getByTestId('replay-step').innerText();
      expect(label).toBe(`step ${depth}${branch !== 'main' ? ` · ${branch}` : ''}`);
      expect(await page.getByTestId('terminal-tab').and(page.locator('[aria-selected="true"]')).getAttribute('data-terminal-id')).toBe('train');
      seen.push(label);
    }
    expect(seen.length).toBeGreaterThan(3);
    await screenshot(page, 'replay-generated-1400x900.png');
    expect(errors).toEqual([]);
    await page.close();
  });
});
