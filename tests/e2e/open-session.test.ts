// Opening a long session in Chromium paints its steps before anything that can wait:
// the terminal on screen is made, the timeline strip built and the address bar written only after a frame showing
// the trajectory, and a tab never shown has no terminal at all until it is. The session is a generated one (the
// bench's generator, three recorded terminals); how fast it opens is the bench's row
// (`bench.js --open`), not this test's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateInto, launchBrowser, openPage, requireBuild, startServer, waitFor, type Server } from './harness';

const SESSION = 'bench-20-steps-1h';

let root: string;
let server: Server;
let browser: Browser;


beforeAll(async () => {
  requireBuild();
  root = await mkdtemp(join(tmpdir(), 'apollo-e2e-open-'));
  const home = join(root, 'home');
  await generateInto(home, ['--steps', '20', '--hours', '1', '--terminal-mb', '1']);
  server = await startServer(home);
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('opening a session', () => {
  it('paints the steps a frame before the terminal is made, the timeline built and the address written, and makes a hidden tab\'s terminal only when shown', async () => {
    const { page, pageErrors } = await openPage(browser, server.url);
    const item = page.locator(`[data-testid="session-item"][data-session-id="${SESSION}"]`);
    await item.waitFor();
    // Frame by frame, from the click: the first frame with a step row, the first with an xterm, and the first after the address names the session.
    await page.evaluate(() => {
      const w = window as unknown as { seen: { frame: number; step?: number; xterm?: number; hash?: number; timeline?: number } };
      w.seen = { frame: 0 };
      const tick = () => {
        w.seen.frame++;
        if (w.seen.step === undefined && document.querySelector('[data-testid="step"]')) w.seen.step = w.seen.frame;
        if (w.seen.xterm === undefined && document.querySelector('[data-testid="terminal"] .xterm')) w.seen.xterm = w.seen.frame;
        if (w.seen.timeline === undefined && document.querySelector('[data-testid="timeline"]')) w.seen.timeline = w.seen.frame;
        if (w.seen.hash === undefined && location.hash.startsWith('#/s/')) w.seen.hash = w.seen.frame;
        if (w.seen.xterm === undefined || w.seen.hash === undefined || w.seen.timeline === undefined) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    await item.click();
    await page.locator('[data-testid="terminal"] .xterm').first().waitFor();
    await waitFor(() => page.evaluate(() => (window as unknown as { seen: { hash?: number } }).seen.hash !== undefined), 'the address to name the session');
    await page.getByTestId('timeline').waitFor();
    await waitFor(() => page.evaluate(() => (window as unknown as { seen: { timeline?: number } }).seen.timeline !== undefined), 'the timeline strip');
    const seen = await page.evaluate(() => (window as unknown as { seen: { step?: number; xterm?: number; hash?: number; timeline?: number } }).seen);
    expect(seen.step).toBeDefined();
    expect(seen.xterm!).toBeGreaterThan(seen.step!);
    expect(seen.hash!).toBeGreaterThan(seen.step!);
    // The strip (a pass over the whole session) is built after the frame with the steps too.
    expect(seen.timeline!).toBeGreaterThan(seen.step!);
    expect(new URL(page.url()).hash).toMatch(new RegExp(`^#/s/${SESSION}/live`));

    const tabs = page.locator('[data-testid="terminal-tab"]');
    expect(await tabs.count()).toBeGreaterThan(1);
    const shown = await page.locator('[data-testid="terminal-tab"][aria-selected="true"]').getAttribute('data-terminal-id');
    const hidden = (await tabs.evaluateAll((els) => els.map((e) => e.getAttribute('data-terminal-id')!))).find((id) => id !== shown)!;
    const hiddenHost = page.locator(`[data-testid="terminal"][data-terminal-id="${hidden}"]`);
    expect(await hiddenHost.locator('.xterm').count()).toBe(0);
    expect(await page.locator(`[data-testid="terminal"][data-terminal-id="${shown}"] .xterm`).count()).toBe(1);

    // Shown, it is made and shows its recording.
    await page.locator(`[data-testid="terminal-tab"][data-terminal-id="${hidden}"]`).click();
    await waitFor(async () => /\S/.test(await hiddenHost.locator('.xterm-rows').innerText()), `terminal ${hidden} to show its recording`);
    expect(pageErrors).toEqual([]);
  });
});
