// `npm start` in a terminal, then Ctrl-C: the terminal signals the whole process
// group (start.mjs and the server it runs). The server must still shut down in
// order: its terminals ended and recorded, the workspace released.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';

const ROOT = resolve(__dirname, '../..');

describe.skipIf(process.platform === 'win32')('npm start and Ctrl-C', () => {
  it('shuts the server down in order when the whole process group gets SIGINT', async () => {
    if (!existsSync(join(ROOT, 'out/main/cli.js'))) throw new Error('build first: npx electron-vite build');
    const root = await mkdtemp(join(tmpdir(), 'apollo-npm-start-sigint-'));
    const home = join(root, 'ws');
    // detached: a process group of its own, as a shell gives a foreground job.
    const p = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs'), '--port', '0', '--home', home], {
      cwd: ROOT,
      env: { ...process.env, APOLLO_BROWSER_MODE: '1', SHELL: '/bin/bash' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    try {
      const url = await new Promise<string>((res, rej) => {
        const t = setTimeout(() => rej(new Error(`no URL:\n${out}`)), 120_000);
        const check = () => {
          const m = /Open: http:\/\/127\.0\.0\.1:(\d+)\/\?token=(\S+)/.exec(out);
          if (m) {
            clearTimeout(t);
            res(`ws://127.0.0.1:${m[1]}/ws?token=${m[2]}`);
          } else setTimeout(check, 50);
        };
        check();
      });
      const ws = new WebSocket(url);
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      const created = await new Promise<{ result: { id: string } }>((r) => {
        ws.on('message', (d) => {
          const m = JSON.parse(d.toString()) as { kind: string; id?: number };
          if (m.kind === 'res' && m.id === 1) r(m as never);
        });
        ws.send(JSON.stringify({ kind: 'req', id: 1, cmd: 'sessions.create', args: { name: 'ctrl-c', cwd: root } }));
      });
      const sessionId = created.result.id;
      ws.close();
      process.kill(-p.pid!, 'SIGINT');
      await exited;
      const events = (await readFile(join(home, 'sessions', sessionId, 'events.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string });
      // The live shell was ended by the orderly shutdown, which recorded it.
      expect(events.map((e) => e.type)).toContain('terminal.exited');
      expect(existsSync(join(home, 'workspace.lock'))).toBe(false);
    } finally {
      if (p.exitCode === null && p.signalCode === null) process.kill(-p.pid!, 'SIGKILL');
      await rm(root, { recursive: true, force: true });
    }
  });
});
