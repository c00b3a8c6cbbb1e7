// Readable at 1280×720 (issue 13): both side panels fold to a rail and back (the
// terminal was 67 columns wide between them), faint text has at least 4.5:1 contrast,
// the focus ring is 2 px, and the terminal tab's stop button says "stop".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { createSession, screenshot, startServerAndBrowser, type Server } from './harness';


let home: string;
let cwd: string;
let server: Server;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-layout-'));
  cwd = await mkdtemp(join(tmpdir(), 'apollo-e2e-layout-cwd-'));
  ({ server, browser } = await startServerAndBrowser(home, { env: { SHELL: '/bin/bash', HISTFILE: '/dev/null' } }));
  page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rm(home, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

/** WCAG contrast of an element's text against the first opaque background up its ancestors. */
function contrastOf(page: Page, selector: string): Promise<number> {
  return page.locator(selector).first().evaluate((el) => {
    const rgb = (s: string) => (s.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]: number[]) => {
      const f = (c: number) => ((c /= 255) <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r!) + 0.7152 * f(g!) + 0.0722 * f(b!);
    };
    let bg: number[] = [0, 0, 0];
    for (let n: Element | null = el; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3]! >= 0.99)) {
        bg = c.slice(0, 3);
        break;
      }
    }
    const a = lum(rgb(getComputedStyle(el).color));
    const b = lum(bg);
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  });
}

describe('layout at 1280×720', () => {
  it('folds both side panels for a wider terminal, and keeps text and focus visible', async () => {
    await page.goto(server.url);
    await createSession(page, 'layout e2e', cwd);
    const term = page.getByTestId('terminal');
    const before = (await term.boundingBox())!.width;

    await page.getByTestId('sidebar-collapse').click();
    await page.getByTestId('sidebar-rail').waitFor();
    await page.getByTestId('panel-collapse').click();
    await page.getByTestId('trajectory-rail').waitFor();
    await expect.poll(async () => (await term.boundingBox())!.width).toBeGreaterThan(before + 600);
    await screenshot(page, 'layout-folded-1280.png');
    // The rail still shows each session's state and opens it.
    await expect(page.getByTestId('sidebar-rail').locator('.rail-item').count()).resolves.toBeGreaterThanOrEqual(2);
    await page.getByTestId('sidebar-expand').click();
    await page.getByTestId('panel-expand').click();
    await page.getByTestId('trajectory-panel').waitFor();
    await expect.poll(async () => Math.round((await term.boundingBox())!.width)).toBe(Math.round(before));

    // Text that was 2.4–3:1 is readable now.
    for (const sel of ['.session-meta', '.status-bar', '.kbd-hint', '.section-label']) {
      expect(await contrastOf(page, sel), sel).toBeGreaterThanOrEqual(4.5);
    }
    // The stop button of a terminal tab is labelled, not a bare square.
    await expect(page.getByTestId('kill-terminal').innerText()).resolves.toMatch(/stop/);
    // A 2 px focus ring.
    await page.getByTestId('new-session').focus();
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Tab');
    const ring = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      return getComputedStyle(el).outlineWidth;
    });
    expect(ring).toBe('2px');
    await screenshot(page, 'layout-1280.png');
  });

  it('resizes both side panels by dragging or with the arrow keys, within limits, and keeps the widths', async () => {
    const sidebar = page.locator('aside.sidebar');
    const panel = page.getByTestId('trajectory-panel');
    const term = page.getByTestId('terminal');
    const width = async (l: typeof sidebar) => Math.round((await l.boundingBox())!.width);
    const side0 = await width(sidebar);
    const panel0 = await width(panel);

    // Drag the session list's edge 80 px to the right.
    const handle = page.getByTestId('sidebar-resizer');
    const box = (await handle.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + 200);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 40, box.y + 200, { steps: 4 });
    await page.mouse.move(box.x + box.width / 2 + 80, box.y + 200, { steps: 4 });
    await page.mouse.up();
    await expect.poll(() => width(sidebar)).toBe(side0 + 80);
    await expect(handle.getAttribute('aria-valuenow')).resolves.toBe(String(side0 + 80));

    // The trajectory's edge from the keyboard: ← widens it (the edge moves left), → narrows, Shift takes larger steps.
    const edge = page.getByTestId('panel-resizer');
    await edge.focus();
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => width(panel)).toBe(panel0 + 32);
    await page.keyboard.press('Shift+ArrowRight');
    await expect.poll(() => width(panel)).toBe(panel0 + 32 - 64);
    // Arrow keys on the handle do not also move the trajectory's selection or reach the terminal.
    await expect(edge.evaluate((el) => el === document.activeElement)).resolves.toBe(true);
    // Home: its narrowest (440: its tools fit); End: as wide as leaves the terminal 400 px.
    await page.keyboard.press('Home');
    await expect.poll(() => width(panel)).toBe(440);
    await page.keyboard.press('End');
    await expect.poll(async () => (await term.boundingBox())!.width).toBeGreaterThanOrEqual(380);
    expect(await width(panel)).toBeLessThanOrEqual(900);
    expect(await width(panel)).toBeGreaterThan(panel0);
    // A drag far past the limit stops at it.
    const b2 = (await handle.boundingBox())!;
    await page.mouse.move(b2.x + b2.width / 2, b2.y + 200);
    await page.mouse.down();
    await page.mouse.move(b2.x - 600, b2.y + 200, { steps: 5 });
    await page.mouse.up();
    await expect.poll(() => width(sidebar)).toBe(220);
    await page.getByTestId('panel-resizer').focus();
    await page.keyboard.press('Home');
    await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
    await page.getByTestId('step').first().waitFor();
    await screenshot(page, 'layout-narrowest-1280.png');
    await page.getByTestId('sidebar-resizer').focus();
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    await expect.poll(() => width(sidebar)).toBe(220 + 48);
    await page.getByTestId('panel-resizer').focus();
    await page.keyboard.press('Home');
    for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowLeft');
    await expect.poll(() => width(panel)).toBe(440 + 80);
    await screenshot(page, 'layout-resized-1280.png');

    // The widths survive a reload, and a larger window.
    await page.reload();
    await page.getByTestId('trajectory-panel').waitFor();
    await expect.poll(() => width(sidebar)).toBe(220 + 48);
    await expect.poll(() => width(panel)).toBe(440 + 80);
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.getByTestId('sidebar-resizer').focus();
    await page.keyboard.press('Shift+ArrowRight');
    await expect.poll(() => width(sidebar)).toBe(220 + 48 + 64);
    await screenshot(page, 'layout-resized-1400.png');
    await page.setViewportSize({ width: 1280, height: 720 });
  });
});
