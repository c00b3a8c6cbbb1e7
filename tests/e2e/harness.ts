// Shared set-up for end-to-end tests: the real built CLI serving the real renderer,
// driven by Debian's Chromium through playwright-core.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, type WorkerGlobalState } from 'vitest';
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

/** Write a generated session into the workspace `home` (`apollo bench --generate home ARGS`); what it printed is the error if it fails. */
export async function generateInto(home: string, args: string[]): Promise<void> {
  const r = await runCli(['bench', '--generate', home, ...args]);
  if (r.code !== 0) throw new Error(`apollo bench --generate exited ${r.code}:\n${r.out}`);
}

export function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error('out/main/cli.js is missing: run `npm run build` first (npm test does).');
}

// What the current file opened through the harness, checked by closeFileLeftovers after
// its own hooks: the e2e files share their worker (vitest.config.ts), so a server or a
// page one file leaves open would otherwise live on into the next.
const fileServers = new Set<Server>();
const fileContexts = new Set<BrowserContext>();

/** Start `apollo serve` and wait for the URL it prints. */
export async function startServer(home: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Server> {
  requireBuild();
  const server = await startServe(CLI, ROOT, home, extra, env);
  fileServers.add(server);
  server.proc.once('exit', () => fileServers.delete(server));
  return server;
}

// One Chromium per worker, launched by the first file that asks: a launch is ~0.5-1 s of
// a loaded core, paid once instead of once per file.
let chromiumOfWorker: Promise<Browser> | null = null;
let closesWithWorker = false;

function workerChromium(): Promise<Browser> {
  if (chromiumOfWorker) return chromiumOfWorker;
  if (!closesWithWorker) {
    closesWithWorker = true;
    // Closed when vitest stops the worker (its cleanup listeners run before the kill):
    // a graceful close, so Chromium removes its own temp folders too.
    const worker = (globalThis as { __vitest_worker__?: WorkerGlobalState }).__vitest_worker__;
    worker?.onCleanup(async () => {
      await (await chromiumOfWorker?.catch(() => null))?.close();
    });
    // Should the worker be killed without that (SIGTERM, then SIGKILL 500 ms later):
    // Playwright's own SIGTERM handler only starts a graceful close, which the kill
    // cuts short; exiting runs its exit handler instead, which kills Chromium and
    // removes its profile folder synchronously.
    process.once('SIGTERM', () => process.exit(143));
  }
  const launching = chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, handleSIGTERM: false });
  chromiumOfWorker = launching;
  const forget = () => {
    if (chromiumOfWorker === launching) chromiumOfWorker = null;
  };
  launching.then((b) => b.once('disconnected', forget), forget);
  return launching;
}

/**
 * Playwright checks a locator that does not match yet (a `waitFor`, or a click, fill or
 * read of an element still to come) again after 20, 50, 100, 100 ms and then every
 * 500 ms: a wait past ~0.3 s ended 60-510 ms after its element was there. Over the
 * e2e files that was 0-1.7 s a file, ~15 s in all. Every 100 ms at most instead: the
 * same checks, only sooner. Its server runs in this process, so the frame class is
 * reached through the first page; should a Playwright update rename these internals,
 * waits keep its own pace (nothing breaks, they are only slower).
 */
let locatorPollSet = false;
function pollLocatorsOften(page: Page): void {
  if (locatorPollSet) return;
  locatorPollSet = true;
  type Retry = (progress: { timeout?: number }, timeouts: number[], action: unknown) => Promise<unknown>;
  interface FrameImpl {
    retryWithProgressAndBackoff?: (progress: { timeout?: number }, action: unknown) => Promise<unknown>;
    retryWithProgressAndTimeouts?: Retry;
  }
  const connection = (page as unknown as { _connection?: { toImpl?: (o: unknown) => object | undefined } })._connection;
  const frame = connection?.toImpl?.(page.mainFrame());
  const proto = frame ? (Object.getPrototypeOf(frame) as FrameImpl) : null;
  if (typeof proto?.retryWithProgressAndBackoff !== 'function' || typeof proto.retryWithProgressAndTimeouts !== 'function') return;
  proto.retryWithProgressAndBackoff = function (this: Required<FrameImpl>, progress, action) {
    // As Playwright's own: no wait longer than a fifth of the call's timeout.
    const scale = [20, 50, 100].filter((ms, i) => i === 0 || !progress.timeout || ms <= progress.timeout / 5);
    return this.retryWithProgressAndTimeouts(progress, scale, action);
  };
}

/**
 * This file's browser: the worker's Chromium, in which the file opens its own contexts
 * (each `newPage` is a fresh context too) and whose `close()` closes only those. Files
 * share no cookies, storage or pages, only the Chromium process.
 */
export async function launchBrowser(): Promise<Browser> {
  const browser = await workerChromium();
  const own = new Set<BrowserContext>();
  let closed = false;
  const track = (context: BrowserContext): BrowserContext => {
    context.once('page', pollLocatorsOften);
    own.add(context);
    fileContexts.add(context);
    context.once('close', () => {
      own.delete(context);
      fileContexts.delete(context);
    });
    return context;
  };
  const usable = () => {
    if (closed) throw new Error('this browser was closed (a file closes its view of the shared Chromium once)');
  };
  const view: Pick<Browser, 'newContext' | 'newPage' | 'contexts' | 'close'> = {
    newContext: async (options) => (usable(), track(await browser.newContext(options))),
    newPage: async (options) => {
      usable();
      const page = await browser.newPage(options);
      pollLocatorsOften(page);
      track(page.context());
      return page;
    },
    contexts: () => [...own],
    close: async () => {
      closed = true;
      await Promise.all([...own].map((c) => c.close()));
    },
  };
  return new Proxy(browser, {
    get(target, key) {
      if (Object.hasOwn(view, key)) return view[key as keyof typeof view];
      const value: unknown = Reflect.get(target, key, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/**
 * After a file's own hooks (tests/e2e/leftovers.ts): closes what it left open (browser
 * contexts, `apollo serve` processes) and names it, so the file that leaked fails, not
 * the one after it.
 */
export async function closeFileLeftovers(): Promise<string[]> {
  const left = [
    ...[...fileContexts].map((c) => `a browser context with ${c.pages().length} page(s) (${c.pages().map((p) => p.url()).join(', ')})`),
    ...[...fileServers].map((s) => `apollo serve at ${s.url}`),
  ];
  await Promise.all([...fileContexts].map((c) => c.close()));
  await Promise.all([...fileServers].map((s) => s.stop()));
  fileContexts.clear();
  fileServers.clear();
  return left;
}

export interface ServeOptions {
  extra?: string[];
  env?: NodeJS.ProcessEnv;
  /** Fills the workspace before the server opens it (its index is built from what is there). */
  prepare?: () => Promise<void>;
}

/**
 * `apollo serve` on `home` and this file's browser, started side by side: the server
 * takes about a second, as does Chromium for a worker's first file, mostly waiting on a
 * process of their own, and `prepare` runs meanwhile. When either fails, the one that
 * started is closed before the error is thrown.
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
  // Wait for the host to confirm: what later annotations are recorded under.
  await page.locator('[data-testid="annotator-msg"][data-ok="true"]').waitFor();
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
