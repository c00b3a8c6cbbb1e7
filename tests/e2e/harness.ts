// Shared set-up for end-to-end tests: the real built CLI serving the real renderer,
// driven by Debian's Chromium through playwright-core.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const ROOT = resolve(__dirname, '../..');
export const CLI = resolve(ROOT, 'out/main/cli.js');

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error('out/main/cli.js is missing: run `npm run build` first (npm test does).');
}

export interface Server {
  url: string;
  port: number;
  proc: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Start `apollo serve` and wait for the URL it prints. */
export async function startServer(home: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Server> {
  requireBuild();
  const proc = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--home', home, ...extra], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /Open: (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]!);
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    proc.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}`)));
  });
  return {
    url,
    port: Number(new URL(url).port),
    proc,
    output: () => out,
    stop: () =>
      new Promise<void>((r) => {
        if (proc.exitCode !== null) return r();
        proc.once('exit', () => r());
        proc.kill('SIGTERM');
      }),
  };
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
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
