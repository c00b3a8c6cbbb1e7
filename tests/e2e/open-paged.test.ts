// A paged open in the real page (issue 10): a session of 260 steps opens with its tree and
// its newest steps' details; the page fetches the other steps' details by page after its
// first frame and then shows every step as recorded: the oldest step's action once
// scrolled to, and the Filter view (which waits for them all) with every row. A session
// with a terminal paints its steps before its terminal is made.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPage, screenshot, startServerAndBrowser, waitFor, type Server } from './harness';
import { ok, run, SessionBuilder, writeRecording } from '../fixtures/sessions';

const ID = 'paged-open';
const WITH_TERMINAL = 'paged-open-terminal';
const STEPS = 260;

let root: string;
let server: Server;
let browser: Browser;
let page: Page;
let pageErrors: string[];
let steps: string[];
let lastCount = '';

async function writeSession(home: string): Promise<void> {
  const b = new SessionBuilder({ name: 'Paged open' });
  b.rollout({ task: 'Count to 260.' });
  steps = Array.from({ length: STEPS }, (_, i) => b.step({ content: `Step ${i + 1}.`, calls: [run(`echo number-${i + 1}`)], results: [ok(`{"success": true, "output": "number-${i + 1}"}`)] }));
  const dir = join(home, 'sessions', ID);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'events.jsonl'), b.events.map((e) => JSON.stringify(e)).join('\n') + '\n');

  const t = new SessionBuilder({ name: 'With a terminal' });
  t.terminal('main');
  t.rollout({ task: 'Count to 40.' });
  for (let i = 0; i < 40; i++) lastCount = t.step({ content: `Count ${i + 1}.`, calls: [run(`echo count-${i + 1}`)], results: [ok(`{"success": true, "output": "count-${i + 1}"}`)] });
  const tdir = join(home, 'sessions', WITH_TERMINAL);
  await mkdir(tdir, { recursive: true });
  await writeFile(join(tdir, 'events.jsonl'), t.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const t0 = t.events.find((e) => e.type === 'terminal.started')!.ts;
  await writeRecording(tdir, 'main', Array.from({ length: 40 }, (_, i) => ({ ts: t0 + 10 + i, data: `$ echo count-${i + 1}\r\ncount-${i + 1}\r\n` })));
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-e2e-paged-'));
  const home = join(root, 'home');
  ({ server, browser } = await startServerAndBrowser(home, { prepare: () => writeSession(home) }));
  ({ page, pageErrors } = await openPage(browser, server.url));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('a paged open', () => {
  it('shows the newest steps at once, then every step as recorded', async () => {
    const replies: string[] = [];
    page.on('websocket', (ws) => ws.on('framereceived', (f) => {
      const text = String(f.payload);
      if (text.startsWith('{"kind":"res"')) replies.push(text.slice(0, 200));
    }));
    await page.locator(`[data-testid="session-item"][data-session-id="${ID}"]`).click();
    await page.getByTestId('view-live').click();
    const row = (id: string) => page.locator(`[data-testid="step"][data-step-id="${id}"]`);
    await row(steps.at(-1)!).waitFor();
    expect(await row(steps.at(-1)!).getByTestId('step-action').innerText()).toContain(`number-${STEPS}`);
    await waitFor(async () => (await page.locator('[data-testid="step"][data-loading="true"]').count()) === 0 && replies.some((r) => r.includes('"events"') && !r.includes('"session"')), 'every page of details');

    // The oldest step, scrolled to, shows its own action (it came by page).
    await page.getByTestId('step-list').evaluate((el) => (el.scrollTop = 0));
    await row(steps[0]!).waitFor();
    expect(await row(steps[0]!).getByTestId('step-action').innerText()).toContain('number-1');
    expect(await row(steps[0]!).getAttribute('data-loading')).toBeNull();
    await screenshot(page, 'paged-open-top.png');

    await page.getByTestId('view-filter').click();
    const count = page.getByTestId('filter-count');
    await count.waitFor();
    expect(await count.getAttribute('data-total')).toBe(String(STEPS));
    await page.getByTestId('filter-search').fill('number-7');
    // number-7 and number-70…79: steps that all came by page (the open sent steps 201–260).
    let shown: string | null = null;
    await waitFor(async () => (shown = await count.getAttribute('data-shown')) === '11', () => `the filter over every step (it shows ${shown})`);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('paints the steps of a session before it makes its terminal, which takes no focus from a field in use', async () => {
    await page.getByTestId('view-live').click();
    const last = `[data-testid="step"][data-step-id="${lastCount}"]:not([data-loading])`;
    // Frame by frame, from the click: the first frame with a step row, and with an xterm.
    await page.evaluate((sel) => {
      const w = window as unknown as { order?: { step?: number; xterm?: number } };
      const order: { step?: number; xterm?: number } = {};
      w.order = order;
      let frame = 0;
      const tick = () => {
        frame++;
        if (order.step === undefined && document.querySelector(sel)) {
          order.step = frame;
          // The annotator goes to the guidance field as soon as the steps show.
          document.querySelector<HTMLElement>('[data-testid="guidance-input"]')?.focus();
        }
        if (order.xterm === undefined && document.querySelector('.session-view .terminal-pane .xterm')) order.xterm = frame;
        if (order.xterm === undefined) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    }, last);
    await page.locator(`[data-testid="session-item"][data-session-id="${WITH_TERMINAL}"]`).click();
    await page.locator('.session-view .terminal-pane .xterm-rows').filter({ hasText: 'count-40' }).waitFor();
    const order = await page.evaluate(() => (window as unknown as { order: { step?: number; xterm?: number } }).order);
    expect(order.step).toBeDefined();
    expect(order.xterm).toBeGreaterThan(order.step!);
    // The terminal, made after, left the focus where the annotator put it.
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('guidance-input');
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('says a step is loading, not that it waits for its model or has no output, until its page is in', async () => {
    // A page whose answers to sessions.page are held back until released.
    const p = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(e.message));
    const pageRequests = new Set<number>();
    let holding = true;
    const held: Array<() => void> = [];
    await p.routeWebSocket(/.*/, (ws) => {
      const host = ws.connectToServer();
      ws.onMessage((m) => {
        if (typeof m === 'string' && m.includes('"cmd":"sessions.page"')) pageRequests.add((JSON.parse(m) as { id: number }).id);
        host.send(m);
      });
      host.onMessage((m) => {
        const id = typeof m === 'string' && m.startsWith('{"kind":"res"') ? (JSON.parse(m) as { id: number }).id : null;
        if (holding && id !== null && pageRequests.has(id)) held.push(() => ws.send(m));
        else ws.send(m);
      });
    });
    try {
      await p.goto(server.url);
      await p.locator(`[data-testid="session-item"][data-session-id="${ID}"]`).click();
      await p.getByTestId('view-live').click();
      await p.locator(`[data-testid="step"][data-step-id="${steps.at(-1)}"]`).waitFor();
      await expect.poll(() => held.length, { timeout: 10_000 }).toBeGreaterThan(0);
      // The first step: its details are in a page not yet answered.
      await p.keyboard.press('g');
      const inspector = p.locator(`[data-testid="step-inspector"][data-step-id="${steps[0]}"]`);
      await inspector.waitFor();
      await p.getByTestId('step-tab-output').click();
      await expect.poll(() => p.getByTestId('step-terminal-status').innerText()).toBe('Loading this step\'s details…');
      expect(await inspector.locator('.inspector-title').innerText()).toContain('loading…');
      expect(await inspector.locator('.inspector-title').innerText()).not.toMatch(/awaiting/i);
      holding = false;
      for (const send of held.splice(0)) send();
      // Its page in: the step as recorded.
      await expect.poll(() => p.getByTestId('step-terminal-status').innerText(), { timeout: 10_000 }).toMatch(/^No terminal output recorded for this step \(/);
      await expect.poll(() => inspector.locator('.inspector-title').innerText()).toContain('number-1');
      expect(errors).toEqual([]);
    } finally {
      await p.close();
    }
  }, 60_000);
});
