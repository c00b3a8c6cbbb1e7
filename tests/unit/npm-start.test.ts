// Stopping `npm start` by npm's pid (a process manager, `kill <pid>`): npm passes the
// signal to the `sh -c` it runs the script in, which dies without passing it on. The
// server must still shut down in order and free the workspace lock.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';

const ROOT = resolve(__dirname, '../..');

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(process.platform === 'win32')('npm start stopped by npm’s pid', () => {
  it('stops the server, records its terminals and frees the lock', { timeout: 180_000 }, async () => {
    const root = await mkdtemp(join(tmpdir(), 'apollo-npm-start-'));
    const home = join(root, 'ws');
    // A process group of its own, as a service manager gives it.
    const npm = spawn('npm', ['start', '--', '--port', '0', '--home', home], {
      cwd: ROOT,
      env: { ...process.env, APOLLO_BROWSER_MODE: '1', SHELL: '/bin/bash' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    npm.stdout.on('data', (d: Buffer) => (out += d.toString()));
    npm.stderr.on('data', (d: Buffer) => (out += d.toString()));
    let serverPid: number | null = null;
    try {
      await until(() => /Open: http:\/\/127\.0\.0\.1:\d+\/\?token=\S+/.test(out), 150_000, `the URL:\n${out}`);
      const m = /Open: http:\/\/127\.0\.0\.1:(\d+)\/\?token=(\S+)/.exec(out)!;
      serverPid = (JSON.parse(await readFile(join(home, 'workspace.lock'), 'utf8')) as { pid: number }).pid;
      const ws = new WebSocket(`ws://127.0.0.1:${m[1]}/ws?token=${m[2]}`);
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      const created = await new Promise<{ result: { id: string } }>((r) => {
        ws.on('message', (d) => {
          const msg = JSON.parse(d.toString()) as { kind: string; id?: number };
          if (msg.kind === 'res' && msg.id === 1) r(msg as never);
        });
        ws.send(JSON.stringify({ kind: 'req', id: 1, cmd: 'sessions.create', args: { name: 'stop', cwd: root } }));
      });
      ws.close();

      process.kill(npm.pid!, 'SIGTERM'); // npm's pid only, not the group
      await until(() => !existsSync(join(home, 'workspace.lock')), 20_000, 'the server to free the lock');
      await until(() => !alive(serverPid!), 10_000, 'the server to exit');
      const events = (await readFile(join(home, 'sessions', created.result.id, 'events.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string });
      expect(events.map((e) => e.type)).toContain('terminal.exited');
    } finally {
      if (serverPid && alive(serverPid)) process.kill(serverPid, 'SIGKILL');
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // gone
      }
      await rm(root, { recursive: true, force: true });
    }
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
