// `npm start` without the Electron binary falls back to the browser mode, says why in
// one line, and prints the URL to open.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, requireBuild } from './harness';

describe('npm start', () => {
  it('starts the browser mode where Electron is missing and serves the app at the printed URL', async () => {
    requireBuild();
    const home = await mkdtemp(join(tmpdir(), 'apollo-start-'));
    const p = spawn(process.execPath, [join(ROOT, 'scripts/start.mjs'), '--port', '0', '--home', home], {
      cwd: ROOT,
      env: { ...process.env, APOLLO_BROWSER_MODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no URL printed:\n${out}`)), 60_000);
        p.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /Open: (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(out);
          if (m) {
            clearTimeout(t);
            resolve(m[1]!);
          }
        });
        p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      });
      expect(out).toMatch(/Electron binary not installed.*browser mode/);
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('<div id="root">');
    } finally {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
      await rm(home, { recursive: true, force: true });
    }
  });
});
