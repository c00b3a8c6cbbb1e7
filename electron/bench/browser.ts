// Running the built app in real Chromium: `apollo serve` as a child process and
// Debian's chromium through playwright-core. Shared by the end-to-end tests
// (tests/e2e/harness.ts) and the bench rows that need a real renderer (terminal-ui.ts).
import { spawn, type ChildProcess } from 'node:child_process';

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

export interface Server {
  url: string;
  port: number;
  proc: ChildProcess;
  output: () => string;
  stop(): Promise<void>;
}

/** Start `node <cli> serve` on a free port (or the `--port` in `extra`) and wait for the URL it prints. */
export async function startServe(cli: string, cwd: string, home: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}, nodeFlags: string[] = []): Promise<Server> {
  const port = extra.includes('--port') ? [] : ['--port', '0'];
  const proc = spawn(process.execPath, [...nodeFlags, cli, 'serve', ...port, '--home', home, ...extra], {
    cwd,
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
