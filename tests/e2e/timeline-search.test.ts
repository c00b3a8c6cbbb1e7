// The session timeline and the session search (issue 10, items 8 and 9) in Chromium:
// the strip paints the sample's steps where they happened and its guidance, a hover
// says what is there, a click and the keyboard go to a step; on a 2,500-step, 48-hour
// session it shows labels, a branch, sleeps and an idle gap, and zooms. The search box
// (/ or Ctrl+F) finds text in an observation and in the terminal output, and Enter
// goes to the step.
import { mkdir, readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { openPage, screenshot, startServerAndBrowser, type Server } from './harness';
import { SessionBuilder, failed, run } from '../fixtures/sessions';

const SAMPLE_EVENTS = resolve(__dirname, '../../resources/samples/sample-sales-report/events.jsonl');
const LONG_ID = 'long-run';
const HOUR = 3_600_000;

let home: string;
let browser: Browser;
let server: Server;

/** 2,500 steps over 48 hours: long commands, sleeps, errors, a 3-hour idle gap, guidance, labels, a branch and a comment. */
async function writeLongSession(dir: string): Promise<void> {
  const b = new SessionBuilder({ name: 'Long run (48 h)', tickMs: 1000 });
  b.rollout({ task: 'Train and evaluate.' });
  let fork = '';
  for (let i = 1; i <= 2500; i++) {
    if (i === 1200) b.ts += 3 * HOUR;
    if (i % 400 === 0) b.guidance(`Check the validation loss (${i}).`, { after: null, deliver: false });
    const sleep = i % 25 === 0;
    const id = b.step({
      calls: [sleep ? { name: 'sleep', args: { sleep_time: 600 } } : run(`python train.py --seed ${i}`)],
      results: i % 150 === 0 ? [{ ...failed('CUDA out of memory'), isError: true }] : undefined,
    });
    b.stretch(id, sleep ? 600_000 : i % 60 === 0 ? 25 * 60_000 : 20_000);
    if (i % 10 === 0) b.label(id, i % 20 === 0 ? 'mask' : 'keep');
    if (i === 2000) fork = id;
    if (i === 700) b.comment(id, 'The loss spikes here.');
  }
  b.branch({ branchId: 'retry', from: fork, name: 'retry' });
  for (let i = 0; i < 5; i++) b.step({ branchId: 'retry', calls: [run(`python train.py --lr 1e-4 --try ${i}`)] });
  const sdir = join(dir, 'sessions', LONG_ID);
  await mkdir(sdir, { recursive: true });
  await writeFile(join(sdir, 'events.jsonl'), b.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
}

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-timeline-'));
  ({ server, browser } = await startServerAndBrowser(home, { prepare: () => writeLongSession(home) }));
});
afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await rm(home, { recursive: true, force: true });
});

const step = (page: Page, depth: number) => page.locator(`[data-testid="step"][data-depth="${depth}"]`);
const selectedDepth = async (page: Page) => page.locator('[data-testid="step"][data-selected="true"]').getAttribute('data-depth', { timeout: 5_000 });

interface Strip {
  from: number;
  to: number;
  width: number;
  box: { x: number; y: number };
}

async function strip(page: Page): Promise<Strip> {
  const host = page.locator('[data-testid="timeline"] [role="slider"]');
  await expect.poll(async () => Number(await host.getAttribute('data-width'))).toBeGreaterThan(100);
  const box = (await page.getByTestId('timeline-canvas').boundingBox())!;
  return { from: Number(await host.getAttribute('data-from')), to: Number(await host.getAttribute('data-to')), width: Number(await host.getAttribute('data-width')), box };
}

const xOf = (s: Strip, ts: number) => Math.floor(((ts - s.from) / (s.to - s.from)) * s.width);

type Rgba = [number, number, number, number];

/** The colours painted at css (x, y) of the timeline canvas for every x of `xs` (one round trip to the page for the lot). */
async function pixels(page: Page, xs: readonly number[], y: number): Promise<Rgba[]> {
  return page.getByTestId('timeline-canvas').evaluate((c: HTMLCanvasElement, [pxs, py]) => {
    const dpr = c.width / c.getBoundingClientRect().width;
    const ctx = c.getContext('2d')!;
    return pxs.map((px) => {
      const d = ctx.getImageData(Math.floor(px * dpr), Math.floor(py * dpr), 1, 1).data;
      return [d[0]!, d[1]!, d[2]!, d[3]!] as Rgba;
    });
  }, [xs, y] as const);
}

/** The colour painted at css (x, y) of the timeline canvas. */
async function pixel(page: Page, x: number, y: number): Promise<Rgba> {
  return (await pixels(page, [x], y))[0]!;
}

/** 0, step, 2·step, … below `width`. */
const every = (step: number, width: number): number[] => Array.from({ length: Math.ceil(width / step) }, (_, i) => i * step);

/** Rows of the canvas (Timeline.tsx): marks 1–8, steps 10–23, other branches 24–27, labels 29–32. */
const Y = { mark: 5, step: 18, other: 25, label: 30 };
const BACKGROUND = [0x16, 0x1b, 0x24];
const isBackground = (p: number[]) => p[3] === 0 || (Math.abs(p[0]! - BACKGROUND[0]!) < 6 && Math.abs(p[1]! - BACKGROUND[1]!) < 6 && Math.abs(p[2]! - BACKGROUND[2]!) < 6);

describe('session timeline', () => {
  it("paints the sample's steps and guidance where they happened; hover says what; click and keys go to a step", async () => {
    const { page, pageErrors } = await openPage(browser, server.url);
    page.setDefaultTimeout(10_000);
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
    await step(page, 8).waitFor({ timeout: 15_000 });
    const host = page.locator('[data-testid="timeline"] [role="slider"]');
    await expect(host.getAttribute('data-steps')).resolves.toBe('8');
    await expect(host.getAttribute('data-guidance')).resolves.toBe('1');

    const events = (await readFile(SAMPLE_EVENTS, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { type: string; ts: number; stepId?: string });
    const started = events.filter((e) => e.type === 'step.started');
    const finished = new Map(events.filter((e) => e.type === 'step.finished').map((e) => [e.stepId, e.ts]));
    const guidance = events.find((e) => e.type === 'guidance.queued')!;
    const s = await strip(page);
    // Every step is painted in the step lane at its middle; the guidance mark above its moment.
    for (const e of started) {
      const mid = (e.ts + finished.get(e.stepId)!) / 2;
      expect(isBackground(await pixel(page, Math.min(s.width - 1, xOf(s, mid)), Y.step)), `step ${e.stepId}`).toBe(false);
    }
    const gx = Math.min(s.width - 1, xOf(s, guidance.ts));
    const gp = await pixel(page, gx, 2);
    expect(gp[0]).toBeGreaterThan(180); // amber
    expect(gp[2]).toBeLessThan(120);

    // Hover on step 3: the tip names it.
    const s3 = started[2]!;
    const x3 = xOf(s, (s3.ts + finished.get(s3.stepId)!) / 2) + 0.5;
    await page.mouse.move(s.box.x + x3, s.box.y + Y.step);
    const tip = page.getByTestId('timeline-tip');
    await expect.poll(() => tip.innerText()).toMatch(/step 3 · run_command · awk/);
    await screenshot(page, 'timeline-sample-1400.png');
    // A click there selects step 3 in the trajectory.
    await page.mouse.click(s.box.x + x3, s.box.y + Y.step);
    await expect.poll(() => selectedDepth(page)).toBe('3');
    // A click on the guidance goes to the step it was delivered after.
    const delivered = events.find((e) => e.type === 'guidance.delivered')!;
    const after = started.find((e) => e.stepId === delivered.stepId)!;
    await page.mouse.click(s.box.x + gx + 0.5, s.box.y + 3);
    const afterDepth = await page.locator(`[data-testid="step"][data-step-id="${after.stepId}"]`).getAttribute('data-depth');
    await expect.poll(() => selectedDepth(page)).toBe(afterDepth);

    // The keyboard: the strip is a slider over the steps; ← / → move, and the trajectory's ←/→ (parent/child) do not also run.
    await host.focus();
    await page.keyboard.press('Home');
    await expect.poll(() => selectedDepth(page)).toBe('1');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowRight');
    await expect.poll(() => selectedDepth(page)).toBe('3');
    await expect(host.getAttribute('aria-valuenow')).resolves.toBe('3');
    await expect(host.getAttribute('aria-valuetext')).resolves.toMatch(/^step 3 of 8, run_command/);
    await page.keyboard.press('End');
    await expect.poll(() => selectedDepth(page)).toBe('8');
    await page.keyboard.press('ArrowLeft');
    await expect.poll(() => selectedDepth(page)).toBe('7');

    // Hidden and shown again from the header and with Shift+T.
    await page.getByTestId('timeline-toggle').click();
    await page.getByTestId('timeline').waitFor({ state: 'detached' });
    await page.keyboard.press('Shift+T');
    await page.getByTestId('timeline').waitFor();
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.mouse.move(s.box.x + 40, s.box.y + Y.step);
    await screenshot(page, 'timeline-sample-1280.png');
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('pictures 2,500 steps over 48 hours: labels, sleeps, the idle gap, the branch; wheel zooms, 0 shows the whole', async () => {
    const { page, pageErrors } = await openPage(browser, server.url);
    page.setDefaultTimeout(10_000);
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.getByTestId('session-item').filter({ hasText: /Long run/ }).click();
    const host = page.locator('[data-testid="timeline"] [role="slider"]');
    await expect.poll(() => host.getAttribute('data-steps'), { timeout: 20_000 }).toBe('2505');
    // The branch shown is the latest rollout's: 2,000 steps of main, then the retry's 5.
    await expect(host.getAttribute('data-path-steps')).resolves.toBe('2005');
    await expect(host.getAttribute('data-keep')).resolves.toBe('100');
    await expect(host.getAttribute('data-mask')).resolves.toBe('100');
    await expect(host.getAttribute('data-errors')).resolves.toBe('16');
    await expect(host.getAttribute('data-guidance')).resolves.toBe('6');
    await expect(host.getAttribute('data-branches')).resolves.toBe('1');
    await expect(host.getAttribute('data-comments')).resolves.toBe('1');
    await expect(host.getAttribute('data-gaps')).resolves.toBe('1');
    const s = await strip(page);
    expect(s.to - s.from).toBeGreaterThan(40 * HOUR);
    // Work all along the session except in the idle gap (hatched, no step colour): on the
    // branch shown, or past its fork (step 2,000) in the lane of the other branches below.
    let painted = 0;
    let other = 0;
    const xs10 = every(10, s.width);
    const otherLane = await pixels(page, xs10, Y.other);
    const stepLane = await pixels(page, xs10, Y.step);
    for (let i = 0; i < xs10.length; i++) {
      const below = !isBackground(otherLane[i]!);
      if (below) other++;
      if (below || !isBackground(stepLane[i]!)) painted++;
    }
    expect(painted).toBeGreaterThan(Math.floor(s.width / 10) * 0.85);
    expect(other).toBeGreaterThan(Math.floor(s.width / 10) * 0.1);
    // Labels below: green and red both appear.
    let green = 0;
    let red = 0;
    for (const p of await pixels(page, every(3, s.width), Y.label)) {
      if (p[1] > 150 && p[0] < 120) green++;
      if (p[0] > 200 && p[1] < 130) red++;
    }
    expect(green).toBeGreaterThan(10);
    expect(red).toBeGreaterThan(10);
    const drawMs = Number(await page.getByTestId('timeline-canvas').getAttribute('data-draw-ms'));
    console.log(`timeline: 2,505 steps over ${((s.to - s.from) / HOUR).toFixed(1)} h painted in ${drawMs.toFixed(1)} ms at ${s.width} px`);
    await page.mouse.move(s.box.x + s.width * 0.4, s.box.y + Y.step);
    await page.getByTestId('timeline-tip').waitFor();
    await screenshot(page, 'timeline-long-1400.png');

    // Wheel in: a narrower window around the pointer; the whole session again with 0.
    await page.mouse.wheel(0, -400);
    await expect.poll(() => host.getAttribute('data-zoomed')).toBe('true');
    const z = await strip(page);
    expect(z.to - z.from).toBeLessThan((s.to - s.from) / 2);
    await screenshot(page, 'timeline-long-zoomed-1400.png');
    // A click in the zoomed strip goes to a step of that moment.
    await page.mouse.click(s.box.x + s.width * 0.4, s.box.y + Y.step);
    const picked = Number(await selectedDepth(page));
    expect(picked).toBeGreaterThan(0);
    await host.focus();
    await page.keyboard.press('0');
    await expect.poll(() => host.getAttribute('data-zoomed')).toBe('false');
    await page.setViewportSize({ width: 1280, height: 720 });
    await screenshot(page, 'timeline-long-1280.png');
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});

describe('session search', () => {
  it('finds text in an observation and in the terminal output; ↑/↓ and Enter go to the step', async () => {
    const { page, pageErrors } = await openPage(browser, server.url);
    page.setDefaultTimeout(10_000);
    await page.setViewportSize({ width: 1400, height: 900 });
    await page.getByTestId('session-item').filter({ hasText: /sales report/i }).click();
    await step(page, 8).waitFor({ timeout: 15_000 });
    // The terminal is made once the page is idle, and takes the focus when nothing has it.
    await page.locator('.terminal-pane:not(.hidden) .xterm').waitFor();
    // Not from the terminal (a / there is the shell's): with nothing focused.
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    // Typed at once after the /: no letter is lost while the box opens.
    await page.keyboard.press('/');
    await page.keyboard.type('Syn');
    const input = page.getByTestId('search-input');
    await expect.poll(() => input.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await input.inputValue()).toBe('Syn');
    const status = page.getByTestId('search-status');
    // Done, and for what is typed: never an earlier query's results counted as this one's.
    const settled = async (q: string) => {
      await expect.poll(async () => `${await status.getAttribute('data-status')} ${await status.getAttribute('data-query')}`, { timeout: 10_000 }).toBe(`done ${q}`);
    };
    await input.pressSequentially('tax');
    await settled('Syntax');
    await input.pressSequentially(' error');
    // While the longer query waits out its debounce, the status is not the shorter one's "done".
    expect(await status.evaluate((el, q) => el.getAttribute('data-status') !== 'done' || el.getAttribute('data-query') === q, await input.inputValue())).toBe(true);
    const results = page.getByTestId('search-result');
    await settled('Syntax error');
    const kinds = await results.evaluateAll((els) => els.map((e) => e.getAttribute('data-kind')));
    expect(kinds).toContain('observation');
    expect(kinds).toContain('terminal');
    await expect(page.getByTestId('search-status').innerText()).resolves.toMatch(new RegExp(`^${kinds.length} results? · \\d+ ms$`));
    // The match is highlighted as typed, whatever its case.
    await expect(results.first().locator('mark').first().innerText()).resolves.toMatch(/^syntax error$/i);
    await screenshot(page, 'search-sample-1400.png');

    // Enter on the first result: its step is selected (step 3, the awk with the typo).
    const first = await results.first().getAttribute('data-step-id');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('[data-testid="step"][data-selected="true"]').getAttribute('data-step-id')).toBe(first);
    await expect(selectedDepth(page)).resolves.toBe('3');
    // ↓ to the terminal hit, Enter: its step, and its terminal shown.
    const ti = kinds.indexOf('terminal');
    for (let i = 0; i < ti; i++) await page.keyboard.press('ArrowDown');
    await expect(results.nth(ti).getAttribute('aria-selected')).resolves.toBe('true');
    const termStep = await results.nth(ti).getAttribute('data-step-id');
    expect(termStep).toBeTruthy();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('[data-testid="step"][data-selected="true"]').getAttribute('data-step-id')).toBe(termStep);
    await expect(page.locator('[data-testid="terminal-tab"][aria-selected="true"]').getAttribute('data-terminal-id')).resolves.toBe(await results.nth(ti).getAttribute('data-terminal-id'));
    // And the terminal's replay opened at the hit, the match marked (tests/e2e/replay.test.ts checks the screen).
    await expect.poll(() => page.getByTestId('replay-hit').getAttribute('data-marked')).toMatch(/^syntax error$/i);
    // A query that matches nothing says so; Esc closes and the trajectory keys work again.
    await input.fill('zzz-no-such-text');
    await expect.poll(() => page.getByTestId('search-status').innerText(), { timeout: 10_000 }).toMatch(/^No match · \d+ ms$/);
    await page.keyboard.press('Escape');
    await page.getByTestId('search-panel').waitFor({ state: 'detached' });
    await page.getByTestId('replay-close').click();
    // Ctrl+F opens it again from the terminal (before xterm takes the key), the last query kept.
    await page.locator('[data-testid="terminal"] .xterm').first().click();
    await page.keyboard.press('Control+f');
    await expect.poll(() => input.inputValue()).toBe('zzz-no-such-text');
    await input.fill('north 260');
    await expect.poll(() => results.count(), { timeout: 10_000 }).toBeGreaterThan(0);
    await page.setViewportSize({ width: 1280, height: 720 });
    await screenshot(page, 'search-sample-1280.png');
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
