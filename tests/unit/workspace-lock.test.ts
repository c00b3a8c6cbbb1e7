// One writer per workspace: a second core (another `apollo serve`, the app beside a
// server) is refused with a clear message; a lock left by a dead process is not.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApolloCore } from '../../electron/core/app';
import { acquireWorkspaceLock, LOCK_FILE } from '../../electron/core/store/lock';

let root: string;
let home: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-workspace-lock-'));
  home = join(root, 'ws');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const open = () => ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web' });

describe('workspace lock', () => {
  it('refuses a second core on the same workspace, and frees it on close', async () => {
    const first = await open();
    try {
      await expect(open()).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/in use by .*process \d+.*--home/s) });
    } finally {
      await first.close();
    }
    await expect(stat(join(home, LOCK_FILE))).rejects.toMatchObject({ code: 'ENOENT' });
    const again = await open();
    await again.close();
    await again.close(); // closing twice is harmless
  });

  it('refuses while another live process holds it', async () => {
    await mkdir(home, { recursive: true });
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      // Written now, by a process that is running.
      await writeFile(join(home, LOCK_FILE), JSON.stringify({ pid: child.pid, host: hostname(), what: '`apollo serve`', since: Date.now() + 5000 }));
      await expect(open()).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('`apollo serve`') });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('takes over a lock left by a process that is gone', async () => {
    await mkdir(home, { recursive: true });
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    const pid = child.pid!;
    await new Promise((r) => child.once('exit', r));
    await writeFile(join(home, LOCK_FILE), JSON.stringify({ pid, host: hostname(), what: '`apollo serve`', since: Date.now() - 60_000 }));
    const core = await open();
    expect(JSON.parse(await readFile(join(home, LOCK_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    await core.close();
  });

  it('does not count a pid reused after the lock was taken (a restarted container)', async () => {
    await mkdir(home, { recursive: true });
    // Our own pid, from long before this process started.
    await writeFile(join(home, LOCK_FILE), JSON.stringify({ pid: process.pid, host: hostname(), what: 'x', since: Date.now() - 10 * 24 * 3600_000 }));
    const lock = await acquireWorkspaceLock(home, 'test');
    await lock.release();
    // Some other running process (pid 1 here) that started after the lock was written.
    if (process.platform === 'linux') {
      await writeFile(join(home, LOCK_FILE), JSON.stringify({ pid: 1, host: hostname(), what: 'x', since: 0 }));
      const l2 = await acquireWorkspaceLock(home, 'test');
      await l2.release();
    }
  });

  it('waits out a lock file that is still being written, then calls it stale when old', async () => {
    await mkdir(home, { recursive: true });
    await writeFile(join(home, LOCK_FILE), '');
    await expect(acquireWorkspaceLock(home, 'test')).rejects.toMatchObject({ code: 'CONFLICT' });
    const old = new Date(Date.now() - 60_000);
    const { utimes } = await import('node:fs/promises');
    await utimes(join(home, LOCK_FILE), old, old);
    const lock = await acquireWorkspaceLock(home, 'test');
    await lock.release();
  });
});
