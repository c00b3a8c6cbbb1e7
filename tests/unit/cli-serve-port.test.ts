// `apollo serve` without --port serves a workspace on the same port at every start (a
// browser keeps its cache and the page's settings per origin), and on a free one, saying
// so, when another program holds that port; --port still names one.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WORKSPACE_PORTS, workspacePort } from '../../electron/cli/serve';

const CLI = resolve(__dirname, '../../out/main/cli.js');
let home: string;
let running: ChildProcess[] = [];

/** Start `apollo serve`, wait for the URL it prints; returns the port and everything it printed before. */
function serve(args: string[] = []): Promise<{ port: number; output: string; proc: ChildProcess }> {
  const proc = spawn(process.execPath, [CLI, 'serve', '--home', home, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(proc);
  let output = '';
  return new Promise((res, rej) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      const m = /Open: http:\/\/127\.0\.0\.1:(\d+)\//.exec(output);
      if (m) res({ port: Number(m[1]), output, proc });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    proc.once('exit', (code) => rej(new Error(`serve exited ${code}: ${output}`)));
  });
}

function stop(proc: ChildProcess): Promise<void> {
  return new Promise((r) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return r();
    proc.once('exit', () => r());
    proc.kill('SIGTERM');
  });
}

function listenOn(port: number): Promise<Server> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(port, '127.0.0.1', () => res(s));
  });
}

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-serve-port-'));
});
afterEach(async () => {
  await Promise.all(running.map(stop));
  running = [];
  await rm(home, { recursive: true, force: true });
});

describe('apollo serve, its port', () => {
  it('is the workspace\'s own at every start, from its path, within the range', async () => {
    const own = workspacePort(home);
    expect(own).toBeGreaterThanOrEqual(WORKSPACE_PORTS.first);
    expect(own).toBeLessThan(WORKSPACE_PORTS.first + WORKSPACE_PORTS.count);
    expect(workspacePort(join(home, '.'))).toBe(own);
    // Another program may hold it on this machine: then this test can only check the fallback below.
    const free = await listenOn(own).then((s) => new Promise<boolean>((r) => s.close(() => r(true))), () => false);
    if (!free) return;
    const first = await serve();
    expect(first.port).toBe(own);
    await stop(first.proc);
    const again = await serve();
    expect(again.port).toBe(own);
    expect(again.output).not.toMatch(/in use/);
  });

  it('falls back to a free port when another program holds it, and says so; --port 0 and --port N are obeyed', async () => {
    const own = workspacePort(home);
    const holder = await listenOn(own).catch(() => null);
    try {
      const s = await serve();
      expect(s.port).not.toBe(own);
      expect(s.output).toContain(`Port ${own}, this workspace's, is in use: serving on ${s.port} instead`);
      await stop(s.proc);
    } finally {
      await new Promise((r) => holder?.close(r) ?? r(undefined));
    }
    const any = await serve(['--port', '0']);
    expect(any.output).not.toMatch(/in use/);
    await stop(any.proc);
    // A port named and taken is an error, not a silent move.
    const taken = await listenOn(0);
    const port = (taken.address() as { port: number }).port;
    try {
      await expect(serve(['--port', String(port)])).rejects.toThrow(/EADDRINUSE|in use/);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});
