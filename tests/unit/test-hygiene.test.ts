// Tests that leave nothing behind and do not pass quietly: a test run removes every
// temp folder it made (the home folder it gave the tests, the core's scratch folders), and a disk-full test that cannot mount its tmpfs
// says loudly that the kernel's ENOSPC went untested.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { withTinyDisk } from '../fixtures/tiny-disk';

const ROOT = resolve(__dirname, '../..');
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-hygiene-'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

describe('test hygiene', () => {
  it('a vitest run leaves no temp folder behind (its home, the checkpoint reader\'s scratch folder, Chromium\'s), nor a process', { timeout: 120_000 }, async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: dir, NO_COLOR: '1', FORCE_COLOR: '0' };
    delete env.APOLLO_TEST_HOME; // as `npm test` starts: the run makes its own
    const vitest = async (...args: string[]): Promise<string> => {
      const p = spawn(process.execPath, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((r) => p.on('exit', r));
      expect([code, out.slice(-2000)]).toEqual([0, expect.any(String)]);
      return out;
    };
    const [core, browser, remote] = await Promise.all([
      // Reading a checkpoint whose working directory is gone makes a scratch folder in the core.
      vitest('tests/unit/annotate-offline.test.ts', '-t', 'checkpoint files'),
      // The worker's Chromium (tests/e2e/harness.ts) outlives the file: it is closed when
      // vitest stops the worker, and its profile and temp folders go with it.
      vitest('tests/e2e/asciicast.test.ts'),
      // An ssh session of a core closed after its sshd: its remote shell got no hangup and ran on.
      vitest('tests/unit/env-contract.test.ts'),
    ]);
    expect(core).toMatch(/Tests +1 passed/);
    expect(browser).toMatch(/Tests +1 passed/);
    expect(remote).toMatch(/Tests +2 passed/);
    expect(await readdir(dir)).toEqual([]);
    // Nothing started from the run's temp folders still runs (a shell, a job, an ssh client),
    // but Apollo's tmux server (`tmux -L apollo`): one per user, shared with other files' sessions.
    const left = await new Promise<string>((r) => execFile('pgrep', ['-af', dir], (_e, out) => r(String(out).trim())));
    expect(left.split('\n').filter((l) => l && !/^\d+ tmux /.test(l))).toEqual([]);
  });

  it('a disk-full test that cannot mount its tmpfs is skipped loudly', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const skipped: string[] = [];
    let ran = false;
    // An invalid size makes the mount fail here, as a missing root would elsewhere.
    await withTinyDisk('tmpfs', dir, { skip: (note) => void skipped.push(note ?? ''), task: { name: 'probe' } }, async () => {
      ran = true;
    }, { size: 'not-a-size' });
    expect(ran).toBe(false);
    expect(skipped).toHaveLength(1);
    expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(/\*\*\* SKIPPED disk-full test "probe" on a real tmpfs: .*The kernel's ENOSPC is NOT tested in this run \(the simulated disk's is\)\. \*\*\*/);
  });
});
