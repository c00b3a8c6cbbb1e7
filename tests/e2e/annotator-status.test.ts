// Run state at a glance (issue 13): the sidebar says idle / running / paused / error /
// finished for a session, each in its own colour (it showed one green "live" for all),
// and exporting a session does not make its "last activity" time "now".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { createSession, saveProfile, screenshot, startServerAndBrowser, type Server } from './harness';
import { startFakeLlm, status, text, tool, type FakeLlm, type FakeReply } from '../fixtures/fake-llm-server';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

const OLD_ID = 'old-recording';
/** 2026-01-05 09:00 UTC: long before the test runs. */
const OLD_TS = Date.UTC(2026, 0, 5, 9, 0, 0);

let home: string;
let cwd: string;
let fake: FakeLlm;
let server: Server;
let browser: Browser;
let page: Page;

/** Agent requests wait here until the test lets them through. */
let gate: (() => void) | null = null;
const held = () => new Promise<void>((r) => (gate = r));
let agentRequests = 0;
const PLAN: Array<() => FakeReply | Promise<FakeReply>> = [
  // 1: held, so the session is seen running.
  async () => (await held(), tool('run_command', { session_id: 'main', command: 'echo status-one' }, { content: 'First.' })),
  // 2: slow: paused while in flight (redone on resume).
  () => ({ ...tool('run_command', { session_id: 'main', command: 'echo never' }), delayMs: 5_000 }),
  // 3: a refused key: the rollout pauses with an error.
  () => status(401, { message: 'Incorrect API key provided' }),
  // 4: done.
  () => tool('finish', { message: 'done' }, { content: 'Done.' }),
];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-e2e-status-'));
  cwd = await mkdtemp(join(tmpdir(), 'apollo-e2e-status-cwd-'));
  const b = new SessionBuilder({ name: 'Old recording', startTs: OLD_TS });
  b.rollout({ task: 'List the files.' });
  b.step({ calls: [run('ls')], results: [ok()] });
  b.step({ calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] });
  await mkdir(join(home, 'sessions', OLD_ID), { recursive: true });
  await writeFile(join(home, 'sessions', OLD_ID, 'events.jsonl'), b.events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  fake = await startFakeLlm((req) => {
    const msgs = (req.body?.messages ?? []) as Array<{ content: unknown }>;
    if (req.body?.stream !== true && msgs.length === 1) return text('ok');
    return (PLAN[agentRequests++] ?? (() => tool('finish', { message: 'extra' })))();
  });
  ({ server, browser } = await startServerAndBrowser(home, { env: { SHELL: '/bin/bash', HISTFILE: '/dev/null' } }));
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
});
afterAll(async () => {
  gate?.();
  await browser?.close();
  await server?.stop();
  await fake?.close();
  await rm(home, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

const item = (name: RegExp): Locator => page.getByTestId('session-item').filter({ hasText: name });
const runOf = (name: RegExp) => item(name).getByTestId('session-run').getAttribute('data-run');
/** How the status dot looks: colour and shape (what tells states apart at a glance). */
const look = (name: RegExp) =>
  item(name)
    .getByTestId('session-run')
    .evaluate((el) => {
      const cs = getComputedStyle(el);
      return `${cs.backgroundColor}|${cs.borderTopColor}|${cs.borderTopStyle}|${cs.borderRadius}|${cs.transform}`;
    });

describe('sidebar run state', () => {
  it('shows idle, running, paused, error and finished, each in its own colour', async () => {
    await page.goto(server.url);
    await saveProfile(page, { annotator: 'ivy', name: 'fake', model: 'fake-model', baseUrl: fake.url });
    await page.getByTestId('settings-close').click();
    await createSession(page, 'status e2e', cwd);
    const me = /status e2e/;
    const looks = new Map<string, string>();

    await expect.poll(() => runOf(me)).toBe('idle');
    looks.set('idle', await look(me));
    await expect.poll(() => runOf(/Old recording/)).toBe('recorded');
    looks.set('recorded', await look(/Old recording/));
    // A session never opened here shows its step count and the time of its last step (from the index).
    await expect(item(/Old recording/).getByTestId('session-steps').innerText()).resolves.toBe('2 steps');
    await expect(item(/Old recording/).getByTestId('session-ago').getAttribute('data-of')).resolves.toBe('step');
    await expect(item(/Old recording/).getByTestId('session-ago').innerText()).resolves.toMatch(/^2026-01-05/);
    await expect(item(me).getByTestId('session-steps').innerText()).resolves.toBe('no steps');
    // A second tab that opens no session: its list follows the steps from the host's events.
    const watcher = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await watcher.goto(server.url);
    const watched = watcher.getByTestId('session-item').filter({ hasText: me });
    await expect(watched.getByTestId('session-steps').innerText()).resolves.toBe('no steps');

    await page.getByTestId('start-rollout').click();
    await page.getByTestId('rollout-task').fill('Echo a few things.');
    await page.getByTestId('rollout-submit').click();
    await expect.poll(() => runOf(me), { timeout: 15_000 }).toBe('running');
    await expect(item(me).getByTestId('session-run-text').innerText()).resolves.toBe('running');
    looks.set('running', await look(me));
    await screenshot(page, 'status-running-1400.png');
    // The session shows running before request 1 reaches the fake endpoint: let it through once it is held.
    await expect.poll(() => gate !== null, { timeout: 15_000 }).toBe(true);
    gate?.();

    // Request 2 is slow: pause while it is in flight.
    await expect.poll(() => agentRequests, { timeout: 15_000 }).toBe(2);
    await page.getByTestId('pause-rollout').click();
    await expect.poll(() => runOf(me), { timeout: 15_000 }).toBe('paused');
    looks.set('paused', await look(me));
    await page.setViewportSize({ width: 1280, height: 720 });
    await screenshot(page, 'status-paused-1280.png');
    await page.setViewportSize({ width: 1400, height: 900 });

    // Resume: the redone request is refused, the rollout pauses with the error.
    await page.getByTestId('resume-rollout').click();
    await expect.poll(() => runOf(me), { timeout: 15_000 }).toBe('error');
    looks.set('error', await look(me));

    await page.getByTestId('resume-rollout').click();
    await expect.poll(() => runOf(me), { timeout: 15_000 }).toBe('finished');
    await expect(item(me).getByTestId('session-run-text').innerText()).resolves.toBe('finished');
    looks.set('finished', await look(me));
    const steps = await page.getByTestId('step').count();
    expect(steps).toBeGreaterThan(1);
    await expect(item(me).getByTestId('session-steps').innerText()).resolves.toBe(`${steps} steps`);
    await expect(item(me).getByTestId('session-ago').innerText()).resolves.toBe('now');
    await expect.poll(() => watched.getByTestId('session-steps').innerText()).toBe(`${steps} steps`);
    await expect(watched.getByTestId('session-ago').innerText()).resolves.toBe('now');
    await expect(watcher.getByTestId('step').count()).resolves.toBe(0);
    await watcher.close();
    // A new tab, which has opened no session, gets the same count from the host's session index.
    const other = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    await other.goto(server.url);
    const there = other.getByTestId('session-item').filter({ hasText: me });
    await expect(there.getByTestId('session-steps').innerText()).resolves.toBe(`${steps} steps`);
    await expect(other.getByTestId('step').count()).resolves.toBe(0);
    await screenshot(other.locator('aside.sidebar'), 'sidebar-steps-1280.png');
    await other.close();
    await screenshot(page.locator('aside.sidebar'), 'sidebar-steps-1400.png');
    await screenshot(page, 'status-finished-1400.png');

    // Every state looks different.
    expect(new Set(looks.values()).size).toBe(looks.size);
  });

  it('keeps a session\'s last-activity time when it is exported', async () => {
    const old = /Old recording/;
    const before = await item(old).getByTestId('session-ago').innerText();
    expect(before).toMatch(/^2026-01-05/);
    await item(old).click();
    await page.locator('h1', { hasText: 'Old recording' }).first().waitFor();
    await page.getByTestId('view-filter').click();
    await page.getByTestId('filter-panel').waitFor();
    await page.getByTestId('export-open').click();
    await page.getByTestId('export-out').fill(join(home, 'exports', 'old'));
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-result').waitFor({ timeout: 30_000 });
    await page.getByTestId('export-close').click();
    // The host announces the new session list after the export; the time is still the recording's.
    await page.reload();
    await item(old).waitFor();
    await expect(item(old).getByTestId('session-ago').innerText()).resolves.toBe(before);
  });
});
