// Shared set-up for end-to-end tests: the real built CLI serving the real renderer,
// driven by Debian's Chromium through playwright-core.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { CHROMIUM, CHROMIUM_ARGS, startServe, type Server } from '../../electron/bench/browser';
import { startFakeLlm, type FakeLlm, type FakeReply, type FakeRequest } from '../fixtures/fake-llm-server';

export const ROOT = resolve(__dirname, '../..');
export const CLI = resolve(ROOT, 'out/main/cli.js');

export { CHROMIUM, CHROMIUM_ARGS, type Server };

/** Runs the built CLI (`apollo ARGS`) to its exit; stdout and stderr together. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string }> {
  const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((r) => p.on('exit', (code) => r({ code, out })));
}

export function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error('out/main/cli.js is missing: run `npm run build` first (npm test does).');
}

/** Start `apollo serve` and wait for the URL it prints. */
export async function startServer(home: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Server> {
  requireBuild();
  return startServe(CLI, ROOT, home, extra, env);
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

export interface ServeOptions {
  extra?: string[];
  env?: NodeJS.ProcessEnv;
  /** Fills the workspace before the server opens it (its index is built from what is there). */
  prepare?: () => Promise<void>;
}

/**
 * `apollo serve` on `home` and Chromium, started side by side: each takes about a
 * second, mostly waiting on a process of its own, and `prepare` runs while Chromium
 * launches. When either fails, the one that started is closed before the error is thrown.
 */
export async function startServerAndBrowser(home: string, opts: ServeOptions = {}): Promise<{ server: Server; browser: Browser }> {
  const [browser, server] = await Promise.allSettled([
    launchBrowser(),
    (async () => {
      await opts.prepare?.();
      return startServer(home, opts.extra, opts.env);
    })(),
  ]);
  if (browser.status === 'fulfilled' && server.status === 'fulfilled') return { server: server.value, browser: browser.value };
  if (browser.status === 'fulfilled') await browser.value.close();
  if (server.status === 'fulfilled') await server.value.stop();
  throw browser.status === 'rejected' ? browser.reason : (server as PromiseRejectedResult).reason;
}

/**
 * A picture for people reviewing the UI, written to $APOLLO_SHOTS/`name` only when that
 * is set: no test reads them, and each costs 0.1-0.4 s of a loaded core (~90 a run).
 */
export async function screenshot(target: Page | Locator, name: string): Promise<void> {
  const dir = process.env.APOLLO_SHOTS;
  if (dir) await target.screenshot({ path: join(dir, name) });
}

/** Text currently rendered in the visible xterm.js terminal. */
export async function terminalText(page: Page): Promise<string> {
  return page.locator('[data-testid="terminal"] .xterm-rows').innerText();
}

export async function waitForTerminalText(page: Page, re: RegExp, timeout = 15_000): Promise<string> {
  const deadline = Date.now() + timeout;
  let text = '';
  while (Date.now() < deadline) {
    text = await terminalText(page).catch(() => '');
    if (re.test(text)) return text;
    await page.waitForTimeout(100);
  }
  throw new Error(`terminal never showed ${re}; it shows:\n${text}`);
}

/**
 * Poll `cond` every 50 ms until it holds; a check that throws counts as not yet (its error is reported on timeout).
 * `what` may be a function, to name what was last seen when it times out.
 */
export async function waitFor(cond: () => boolean | Promise<boolean>, what: string | (() => string), timeout = 15_000): Promise<void> {
  const deadline = Date.now() + timeout;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    try {
      if (await cond()) return;
    } catch (e) {
      lastError = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${typeof what === 'function' ? what() : what}${lastError ? ` (last check failed: ${lastError instanceof Error ? lastError.message : String(lastError)})` : ''}`);
}

/** A new page at `url` that collects uncaught page errors. */
export async function openPage(browser: Browser, url: string): Promise<{ page: Page; pageErrors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1500, height: 920 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(url);
  return { page, pageErrors };
}

export interface ProfileFields {
  annotator: string;
  name: string;
  model: string;
  baseUrl: string;
  temperature?: string;
}

/** Open the settings dialog, set the annotator's name and save an endpoint profile; the dialog stays open. */
export async function saveProfile(page: Page, p: ProfileFields): Promise<void> {
  await page.getByTestId('settings-open').click();
  await page.getByTestId('settings-dialog').waitFor();
  await page.getByTestId('annotator-input').fill(p.annotator);
  await page.getByTestId('annotator-save').click();
  await page.getByTestId('profile-name').fill(p.name);
  await page.getByTestId('profile-model').fill(p.model);
  await page.getByTestId('profile-base-url').fill(p.baseUrl);
  if (p.temperature !== undefined) await page.getByTestId('profile-temperature').fill(p.temperature);
  await page.getByTestId('profile-save').click();
  await page.locator(`[data-testid="profile-item"][data-name="${p.name}"]`).waitFor();
}

/** Create a session in `cwd` from the UI and wait for its shell's first prompt (an agent's first command would find the shell busy before it). */
export async function createSession(page: Page, name: string, cwd: string): Promise<void> {
  await page.getByTestId('new-session').click();
  await page.getByTestId('session-name-input').fill(name);
  await page.getByTestId('session-cwd-input').fill(cwd);
  await page.getByTestId('create-session').click();
  await page.locator('[data-testid="terminal"] .xterm').waitFor();
  await waitForTerminalText(page, /[#$]/);
}

export interface AgentUi {
  /** The workspace `apollo serve` uses. */
  home: string;
  /** An empty folder for the session the agent works in. */
  cwd: string;
  fake: FakeLlm;
  server: Server;
  browser: Browser;
}

/**
 * Before all tests of the file: a temporary workspace and working folder, a scripted
 * OpenAI-compatible server answering with `reply`, `apollo serve` with bash terminals
 * and a browser; all closed and removed after them. The fields are set once tests run.
 */
export function agentUi(name: string, reply: (req: FakeRequest) => FakeReply, opts: { seed?(home: string): Promise<void> } = {}): AgentUi {
  const ui = {} as AgentUi;
  beforeAll(async () => {
    ui.home = await mkdtemp(join(tmpdir(), `apollo-e2e-${name}-`));
    // The agent's working directory (checkpointed after every step): keep it small.
    ui.cwd = await mkdtemp(join(tmpdir(), `apollo-e2e-${name}-cwd-`));
    ui.fake = await startFakeLlm(reply);
    ({ server: ui.server, browser: ui.browser } = await startServerAndBrowser(ui.home, {
      env: { SHELL: '/bin/bash', HISTFILE: '/dev/null' },
      ...(opts.seed ? { prepare: () => opts.seed!(ui.home) } : {}),
    }));
  });
  afterAll(async () => {
    await ui.browser?.close();
    await ui.server?.stop();
    await ui.fake?.close();
    await rm(ui.home, { recursive: true, force: true });
    await rm(ui.cwd, { recursive: true, force: true });
  });
  return ui;
}
