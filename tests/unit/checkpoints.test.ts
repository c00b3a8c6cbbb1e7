import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CheckpointStore, SKIPPED_LIST_MAX, type OverBudgetDetails } from '../../electron/core/checkpoints/shadow-git';
import { ApolloError } from '../../shared/errors';
import type { RestoreProgress } from '../../shared/contract/annotate';
import { mulberry32 as rng } from '../../shared/random';

const MAX = 64 * 1024; // maxFileBytes used by the scenario; big.bin is over it

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'apollo-ckpt-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------
// helpers

/** A clean environment for the test's own git calls (user-side git, not the store's). */
function userGitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('GIT_') && v !== undefined) env[k] = v;
  return {
    ...env,
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_OPTIONAL_LOCKS: '0',
    GIT_AUTHOR_NAME: 'User',
    GIT_AUTHOR_EMAIL: 'user@example.com',
    GIT_COMMITTER_NAME: 'User',
    GIT_COMMITTER_EMAIL: 'user@example.com',
  };
}
function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: userGitEnv(), encoding: 'utf8' });
}

const EXCLUDED_DIRS = new Set(['.git', 'node_modules', '__pycache__', '.cache', '.venv']);

/** path -> sha256+kind of every file the store is meant to track (excluded paths left out). */
async function trackedState(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      const abs = join(root, p);
      if (e.isDirectory()) {
        if (!EXCLUDED_DIRS.has(e.name)) await walk(p);
      } else if (e.isSymbolicLink()) {
        out.set(p, `link:${await readlink(abs)}`);
      } else if (e.isFile()) {
        if (e.name === '.git' || e.name.endsWith('.pyc')) continue;
        const st = await stat(abs);
        if (st.size > MAX) continue;
        const h = createHash('sha256').update(await readFile(abs)).digest('hex');
        out.set(p, `${st.mode & 0o111 ? 'x' : '-'}:${h}`);
      }
    }
  };
  await walk('');
  return out;
}

/** Byte-level fingerprint of everything under a directory (for .git, node_modules, big files). */
async function fingerprint(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      const abs = join(root, p);
      const st = await lstat(abs);
      if (e.isDirectory()) {
        out.set(`${p}/`, `dir:${st.mode}`);
        await walk(p);
      } else if (e.isSymbolicLink()) {
        out.set(p, `link:${await readlink(abs)}`);
      } else {
        out.set(p, `${st.mode}:${createHash('sha256').update(await readFile(abs)).digest('hex')}`);
      }
    }
  };
  await walk('');
  return out;
}

async function put(root: string, rel: string, data: string | Buffer, mode?: number): Promise<void> {
  const abs = join(root, rel);
  await mkdir(join(abs, '..'), { recursive: true });
  await writeFile(abs, data);
  if (mode !== undefined) await chmod(abs, mode);
}

function shuffle<T>(xs: T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

async function expectApollo(p: Promise<unknown>, code: string, message?: RegExp): Promise<ApolloError> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ApolloError);
  const a = err as ApolloError;
  expect(a.code).toBe(code);
  if (message) expect(a.message).toMatch(message);
  return a;
}

/** An agent's steps: creates, modifies, deletes; nested repos; odd names; modes; symlinks. */
function agentSteps(w: string): Array<() => Promise<void>> {
  return [
    async () => {
      await put(w, 'src/a.txt', 'alpha\n');
      await put(w, 'src/deep/nested/b.txt', 'bravo\n');
      await put(w, 'empty.txt', '');
      await put(w, 'bin.dat', randomBytes(4096));
      await put(w, 'file with spaces.txt', 'spaces\n');
      await put(w, 'run.sh', '#!/bin/sh\necho hi\n', 0o755);
      await put(w, 'lf.txt', 'line1\nline2\n'); // .gitattributes below asks for CRLF: must be ignored
      await put(w, '.gitattributes', '* text eol=crlf\n');
      await put(w, 'node_modules/pkg/index.js', 'module.exports = 1;\n');
      await put(w, 'big.bin', randomBytes(MAX + 1));
      await put(w, 'pkg/__pycache__/m.cpython-311.pyc', 'pyc');
      await put(w, 'pkg/m.pyc', 'pyc');
    },
    async () => {
      await put(w, 'src/a.txt', 'alpha v2\n');
      await unlink(join(w, 'empty.txt'));
      await put(w, 'dir with space/x y.txt', 'xy\n');
      await chmod(join(w, 'run.sh'), 0o644);
      await symlink('src/a.txt', join(w, 'link'));
      await put(w, 'node_modules/pkg/index.js', 'module.exports = 2;\n');
      // A nested repository with a commit: its files are snapshotted as plain files.
      await put(w, 'vendor/lib/lib.c', 'int x;\n');
      git(join(w, 'vendor/lib'), 'init', '-q');
      git(join(w, 'vendor/lib'), 'add', '-A');
      git(join(w, 'vendor/lib'), 'commit', '-q', '-m', 'lib');
    },
    async () => {
      await rm(join(w, 'src/deep'), { recursive: true });
      await put(w, 'bin.dat', randomBytes(2048));
      await rm(join(w, 'file with spaces.txt'));
      await put(w, 'renamed with spaces.txt', 'spaces\n');
      await put(w, 'ünïcødé ✓.txt', 'utf8\n');
      await put(w, 'vendor/lib/new.h', '#pragma once\n');
      // A nested repository without any commit (plain `git add` fails on these).
      await put(w, 'scratch/notes.md', '# notes\n');
      git(join(w, 'scratch'), 'init', '-q');
    },
    async () => {
      // file -> directory, symlink -> file, empty file back, exec bit back, a big file edit
      await unlink(join(w, 'src/a.txt'));
      await put(w, 'src/a.txt/inner.txt', 'now a dir\n');
      await unlink(join(w, 'link'));
      await put(w, 'link', 'now a file\n');
      await put(w, 'empty.txt', '');
      await chmod(join(w, 'run.sh'), 0o755);
      await put(w, 'big.bin', randomBytes(MAX + 10));
      await put(w, 'vendor/lib/lib.c', 'int x = 2;\n');
    },
    async () => {
      // directory -> file again; a deep new tree; delete most things
      await rm(join(w, 'src'), { recursive: true });
      await put(w, 'src', 'src is a file now\n');
      for (let i = 0; i < 20; i++) await put(w, `gen/d${i % 4}/f${i}.txt`, `gen ${i}\n`);
      await rm(join(w, 'bin.dat'));
      await rm(join(w, 'scratch/notes.md'));
    },
  ];
}

interface Step {
  commit: string;
  state: Map<string, string>;
}

async function runScenario(work: string, store: CheckpointStore): Promise<Step[]> {
  const steps: Step[] = [];
  for (const step of agentSteps(work)) {
    await step();
    const snap = await store.snapshot(`step ${steps.length + 1}`);
    expect(snap.changed).toBe(true);
    expect(snap.skipped.filter((f) => f.reason !== 'excluded')).toEqual([{ path: 'big.bin', bytes: (await stat(join(work, 'big.bin'))).size, reason: 'too-big' }]);
    // Excluded folders are one entry each (never walked); ignored files are listed with their size.
    expect(snap.skipped).toContainEqual({ path: 'node_modules/', reason: 'excluded' });
    expect(snap.skipped).toContainEqual({ path: 'pkg/m.pyc', bytes: 3, reason: 'excluded' });
    expect(snap.skippedCount).toBe(snap.skipped.length);
    steps.push({ commit: snap.commit, state: await trackedState(work) });
  }
  return steps;
}

/** Restores every step `rounds` times, in an order shuffled by `seed`, checking the whole tree after each. */
async function rewindEverywhere(work: string, store: CheckpointStore, steps: Step[], seed: number, rounds = 3): Promise<void> {
  const order = shuffle(Array.from({ length: rounds }, () => [...steps.keys()]).flat(), rng(seed));
  const protectedBefore = {
    nodeModules: await fingerprint(join(work, 'node_modules')),
    big: createHash('sha256').update(await readFile(join(work, 'big.bin'))).digest('hex'),
    nestedGit: await fingerprint(join(work, 'vendor/lib/.git')),
    scratchGit: await fingerprint(join(work, 'scratch/.git')),
  };
  for (const i of order) {
    const step = steps[i] as Step;
    await store.restore(step.commit);
    const now = await trackedState(work);
    expect([...now.keys()].sort(), `files after rewinding to step ${i + 1} (seed ${seed})`).toEqual([...step.state.keys()].sort());
    expect(now, `contents after rewinding to step ${i + 1} (seed ${seed})`).toEqual(step.state);
    // excluded things are never touched
    expect(await fingerprint(join(work, 'node_modules'))).toEqual(protectedBefore.nodeModules);
    expect(createHash('sha256').update(await readFile(join(work, 'big.bin'))).digest('hex')).toBe(protectedBefore.big);
    expect(await fingerprint(join(work, 'vendor/lib/.git'))).toEqual(protectedBefore.nestedGit);
    expect(await fingerprint(join(work, 'scratch/.git'))).toEqual(protectedBefore.scratchGit);
    expect(existsSync(join(work, 'pkg/m.pyc'))).toBe(true);
  }
}

// ---------------------------------------------------------------------------------------

describe('CheckpointStore', () => {
  it('rewinds to every step in random order with byte-exact files', async () => {
    const work = join(tmp, 'work');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 'session', 'checkpoints'), workDir: work, maxFileBytes: MAX });
    const steps = await runScenario(work, store);

    // an unchanged tree still gets its own commit, marked unchanged
    const again = await store.snapshot('no-op');
    expect(again.changed).toBe(false);
    expect(again.commit).not.toBe(steps[steps.length - 1]?.commit);

    // nested repositories are plain files, never gitlinks
    const files3 = await store.files((steps[2] as Step).commit);
    const paths3 = files3.map((f) => f.path);
    expect(paths3).toEqual(expect.arrayContaining(['vendor/lib/lib.c', 'vendor/lib/new.h', 'scratch/notes.md']));
    expect(files3.every((f) => f.mode !== '160000')).toBe(true);
    expect(paths3.some((p) => p.includes('.git/') || p.startsWith('node_modules') || p === 'big.bin' || p.endsWith('.pyc'))).toBe(false);
    expect(paths3.some((p) => p.includes('.apollo-checkpoint-nested'))).toBe(false);

    const seed = Number(process.env.CKPT_SEED ?? Date.now() % 100000);
    await rewindEverywhere(work, store, steps, seed);
    expect((await store.verify()).ok).toBe(true);
  });

  it('works in a workDir that is itself a git repository and never touches its .git', async () => {
    const work = join(tmp, 'repo');
    await mkdir(work);
    git(work, 'init', '-q', '-b', 'trunk');
    await put(work, 'README.md', 'user project\n');
    await put(work, 'tracked.txt', 'v1\n');
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', 'initial');
    await put(work, 'tracked.txt', 'v2 staged\n');
    git(work, 'add', 'tracked.txt');
    await put(work, 'tracked.txt', 'v3 unstaged\n');
    // hooks that would leave a mark if anything ran them
    const marker = join(tmp, 'hook-ran');
    for (const h of ['pre-commit', 'post-commit', 'post-checkout', 'post-index-change']) {
      await put(work, `.git/hooks/${h}`, `#!/bin/sh\ntouch '${marker}'\n`, 0o755);
    }
    const dotGitBefore = await fingerprint(join(work, '.git'));

    const store = await CheckpointStore.open({ storeDir: join(tmp, 'session', 'ckpt'), workDir: work, maxFileBytes: MAX });
    const steps = await runScenario(work, store);
    const statusAfterSteps = git(work, 'status', '--porcelain=v1', '--untracked-files=all');
    expect(await fingerprint(join(work, '.git'))).toEqual(dotGitBefore);

    // Every step once: the random-order rewinds are the test above; this one is about the user's .git.
    await rewindEverywhere(work, store, steps, 4242, 1);
    await store.restore((steps[steps.length - 1] as Step).commit);

    expect(await fingerprint(join(work, '.git'))).toEqual(dotGitBefore);
    expect(git(work, 'status', '--porcelain=v1', '--untracked-files=all')).toBe(statusAfterSteps);
    expect(git(work, 'diff', '--cached', '--name-only')).toBe('tracked.txt\n');
    expect(git(work, 'rev-list', '--count', 'HEAD')).toBe('1\n');
    expect(existsSync(marker)).toBe(false);
    expect(await fingerprint(join(work, '.git'))).toEqual(dotGitBefore);
  });

  it('says each stage of a restore, and how far the swap of many files is, ending at all of them', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    for (let i = 0; i < 600; i++) await put(work, `src/m${i}.py`, `x = ${i}\n`);
    const s1 = await store.snapshot('one');
    // 500 changed, 100 deleted, 50 added: 600 to put in place, 550 to move aside.
    for (let i = 0; i < 500; i++) await put(work, `src/m${i}.py`, `x = ${i + 1}\n`);
    for (let i = 500; i < 600; i++) await rm(join(work, `src/m${i}.py`));
    for (let i = 0; i < 50; i++) await put(work, `new/n${i}.py`, '');
    const said: RestoreProgress[] = [];
    await store.restore(s1.commit, (p) => said.push(p));
    expect(said.map((p) => p.stage).filter((st, i, a) => a.indexOf(st) === i)).toEqual(['scan', 'save', 'write', 'swap']);
    expect(said.find((p) => p.stage === 'write')!.text).toBe('Writing 600 files from the checkpoint');
    const swaps = said.filter((p) => p.stage === 'swap');
    expect(swaps[0]).toMatchObject({ text: 'Putting 600 files in place, 550 files aside', done: 0, total: 1150 });
    expect(swaps.at(-1)).toMatchObject({ done: 1150, total: 1150 });
    // Rising, and said about once per 1/100 of the moves, not per file.
    expect(swaps.every((p, i) => i === 0 || p.done! > swaps[i - 1]!.done!)).toBe(true);
    expect(swaps.length).toBeGreaterThan(50);
    expect(swaps.length).toBeLessThanOrEqual(102);
    expect(await readFile(join(work, 'src/m599.py'), 'utf8')).toBe('x = 599\n');
    expect(existsSync(join(work, 'new/n0.py'))).toBe(false);
    // Nothing to change: the stages before the swap only.
    const again: RestoreProgress[] = [];
    await store.restore(s1.commit, (p) => again.push(p));
    expect(again.map((p) => p.stage)).toEqual(['scan', 'save']);
  });

  it('lists, diffs and reads the files of a snapshot', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    await put(work, 'a.txt', 'hello\n');
    await put(work, 'dir/b.bin', Buffer.from([0, 1, 2, 255]));
    await put(work, 'x.sh', 'echo\n', 0o755);
    const s1 = await store.snapshot('one');
    await put(work, 'a.txt', 'hello world\n');
    await rm(join(work, 'dir'), { recursive: true });
    await put(work, 'c d.txt', '');
    const s2 = await store.snapshot('two');

    const f1 = await store.files(s1.commit);
    const blobSha = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
    expect(f1).toEqual([
      { path: 'a.txt', size: 6, sha: blobSha(Buffer.from('hello\n')), mode: '100644' },
      { path: 'dir/b.bin', size: 4, sha: blobSha(Buffer.from([0, 1, 2, 255])), mode: '100644' },
      { path: 'x.sh', size: 5, sha: blobSha(Buffer.from('echo\n')), mode: '100755' },
    ]);
    expect(await store.readFile(s1.commit, 'dir/b.bin')).toEqual(Buffer.from([0, 1, 2, 255]));
    expect((await store.readFile(s2.commit.slice(0, 10), './a.txt')).toString()).toBe('hello world\n');
    await expectApollo(store.readFile(s2.commit, 'dir/b.bin'), 'NOT_FOUND');
    await expectApollo(store.readFile(s1.commit, 'dir'), 'BAD_REQUEST');
    await expectApollo(store.readFile(s1.commit, '../etc/passwd'), 'BAD_REQUEST');

    const d = await store.diff(s1.commit, s2.commit);
    expect(d.map((c) => [c.path, c.status])).toEqual([
      ['a.txt', 'modified'],
      ['c d.txt', 'added'],
      ['dir/b.bin', 'deleted'],
    ]);
    expect(d[0]?.before?.size).toBe(6);
    expect(d[0]?.after?.size).toBe(12);
    expect(d[1]?.before).toBeNull();
    expect(d[2]?.after).toBeNull();
    expect((await store.diff(null, s1.commit)).map((c) => c.status)).toEqual(['added', 'added', 'added']);

    await expectApollo(store.restore('not a commit; rm -rf /'), 'BAD_REQUEST');
    await expectApollo(store.restore('deadbeefdeadbeef'), 'NOT_FOUND');
    await expectApollo(store.files('HEAD~1'), 'BAD_REQUEST');
  });

  it('keeps files that grew over the size limit, and reports them as skipped', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work, maxFileBytes: 1000 });
    await put(work, 'grow.txt', 'small\n');
    await put(work, 'keep.txt', 'keep\n');
    const s1 = await store.snapshot('small');
    expect(s1.skipped).toEqual([]);
    expect(s1.skippedCount).toBe(0);
    const big = randomBytes(5000);
    await put(work, 'grow.txt', big);
    await put(work, 'later.txt', 'later\n');
    const s2 = await store.snapshot('big');
    expect(s2.skipped).toEqual([{ path: 'grow.txt', bytes: 5000, reason: 'too-big' }]);
    expect((await store.files(s2.commit)).map((f) => f.path)).toEqual(['keep.txt', 'later.txt']);
    await store.restore(s1.commit);
    expect(await readFile(join(work, 'grow.txt'))).toEqual(big); // untouched
    expect(existsSync(join(work, 'later.txt'))).toBe(false);
    // shrinking back under the limit makes it a normal file again
    await put(work, 'grow.txt', 'small again\n');
    const s3 = await store.snapshot('shrunk');
    expect(s3.skipped).toEqual([]);
    expect((await store.readFile(s3.commit, 'grow.txt')).toString()).toBe('small again\n');
  });

  it.skipIf(process.platform !== 'linux')('restores file names that are not valid UTF-8', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    const odd = Buffer.concat([Buffer.from(work + '/'), Buffer.from([0x66, 0xff, 0xfe, 0x2e, 0x74])]);
    const odd2 = Buffer.concat([Buffer.from(work + '/'), Buffer.from([0x67, 0xc3, 0x28])]);
    await writeFile(odd, 'one');
    const s1 = await store.snapshot('1');
    await unlink(odd);
    await writeFile(odd2, 'two');
    const s2 = await store.snapshot('2');
    await store.restore(s1.commit);
    expect(await readFile(odd, 'utf8')).toBe('one');
    expect(existsSync(odd2)).toBe(false);
    await store.restore(s2.commit);
    expect(existsSync(odd)).toBe(false);
    expect(await readFile(odd2, 'utf8')).toBe('two');
  });

  it('honours caller exclude patterns', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work, excludes: ['build/', '*.tmp'] });
    await put(work, 'build/out.o', 'obj');
    await put(work, 'x.tmp', 'tmp');
    await put(work, 'src.c', 'c');
    const s1 = await store.snapshot('one');
    expect((await store.files(s1.commit)).map((f) => f.path)).toEqual(['src.c']);
    await put(work, 'new.c', 'n');
    await store.snapshot('two');
    await store.restore(s1.commit);
    expect(existsSync(join(work, 'new.c'))).toBe(false);
    expect(await readFile(join(work, 'build/out.o'), 'utf8')).toBe('obj');
    expect(await readFile(join(work, 'x.tmp'), 'utf8')).toBe('tmp');
  });

  it('serializes concurrent calls on one store', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    await put(work, 'f.txt', '0');
    const first = await store.snapshot('0');
    const results = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        await put(work, `f${i}.txt`, String(i));
        return i === 6 ? store.restore(first.commit).then(() => null) : store.snapshot(String(i));
      }),
    );
    const commits = results.filter((r) => r !== null).map((r) => r.commit);
    expect(new Set(commits).size).toBe(11);
    expect((await store.verify()).ok).toBe(true);
  });

  it('leaves out a store that lies inside the working directory', async () => {
    const work = join(tmp, 'home');
    await mkdir(work);
    await expectApollo(CheckpointStore.open({ storeDir: work, workDir: work }), 'BAD_REQUEST', /working directory itself/);
    const store = await CheckpointStore.open({ storeDir: join(work, '.local/share/apollo/ckpt'), workDir: work });
    await put(work, 'notes.txt', 'n');
    const s1 = await store.snapshot('1');
    expect((await store.files(s1.commit)).map((f) => f.path)).toEqual(['notes.txt']);
    await put(work, 'later.txt', 'l');
    await store.restore(s1.commit);
    expect(existsSync(join(work, 'later.txt'))).toBe(false);
    expect(existsSync(join(work, '.local/share/apollo/ckpt/HEAD'))).toBe(true);
  });

  it('survives reopening', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    await expectApollo(CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: join(tmp, 'missing') }), 'NOT_FOUND');
    let store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    await put(work, 'a', '1');
    const s1 = await store.snapshot('1');
    await put(work, 'a', '2');
    const s2 = await store.snapshot('2');
    await writeFile(join(tmp, 's', 'index.lock'), ''); // left by a killed git
    store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    expect((await store.snapshot('again')).changed).toBe(false);
    await store.restore(s1.commit);
    expect(await readFile(join(work, 'a'), 'utf8')).toBe('1');
    await store.restore(s2.commit);
    expect(await readFile(join(work, 'a'), 'utf8')).toBe('2');
  });

  it('still lists and reads snapshots when the working directory is gone', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    await put(work, 'a.txt', 'kept in the store\n');
    const s1 = await store.snapshot('1');
    await rm(work, { recursive: true });
    expect((await store.files(s1.commit)).map((f) => f.path)).toEqual(['a.txt']);
    expect((await store.readFile(s1.commit, 'a.txt')).toString()).toBe('kept in the store\n');
    expect((await store.verify()).ok).toBe(true);
    await expectApollo(store.snapshot('2'), 'NOT_FOUND', /no longer exists/);
    await expectApollo(store.restore(s1.commit), 'NOT_FOUND', /no longer exists/);
    const gone = await store.usage();
    expect(gone.bytes).toBeGreaterThan(0);
  });

  it('reports a damaged store clearly while a healthy store keeps working', async () => {
    const mk = async (name: string): Promise<{ work: string; storeDir: string; store: CheckpointStore }> => {
      const work = join(tmp, `w-${name}`);
      await mkdir(work);
      await put(work, 'f.txt', name);
      const storeDir = join(tmp, `s-${name}`);
      return { work, storeDir, store: await CheckpointStore.open({ storeDir, workDir: work }) };
    };
    const bad = await mk('bad');
    const garbage = await mk('garbage');
    const good = await mk('good');
    const b1 = await bad.store.snapshot('1');
    await garbage.store.snapshot('1');
    const g1 = await good.store.snapshot('1');

    const vanished = await mk('vanished');
    await vanished.store.snapshot('1');
    await rm(vanished.storeDir, { recursive: true });
    await expectApollo(vanished.store.snapshot('2'), 'IO', /is damaged/);
    await expectApollo(vanished.store.files(b1.commit), 'IO', /is damaged/);

    await rm(join(bad.storeDir, 'objects'), { recursive: true });
    await writeFile(join(garbage.storeDir, 'HEAD'), 'this is not a ref\n\0\0garbage');

    for (const s of [bad, garbage]) {
      await expectApollo(s.store.snapshot('2'), 'IO', /^Checkpoint store for .* is damaged: /);
      await expectApollo(s.store.restore(b1.commit), 'IO', /is damaged/);
      await expectApollo(s.store.usage(), 'IO', /is damaged/);
      const v = await s.store.verify();
      expect(v.ok).toBe(false);
      expect(v.error).toMatch(/is damaged/);
      await expectApollo(CheckpointStore.open({ storeDir: s.storeDir, workDir: s.work }), 'IO', /is damaged/);
    }

    await put(good.work, 'f.txt', 'changed');
    const g2 = await good.store.snapshot('2');
    expect(g2.changed).toBe(true);
    await good.store.restore(g1.commit);
    expect(await readFile(join(good.work, 'f.txt'), 'utf8')).toBe('good');
    expect(await good.store.verify()).toEqual({ ok: true });
  });

  it('detects a missing object with verify()', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const storeDir = join(tmp, 's');
    const store = await CheckpointStore.open({ storeDir, workDir: work });
    await put(work, 'f.txt', 'content that becomes a blob\n');
    const s1 = await store.snapshot('1');
    const [file] = await store.files(s1.commit);
    await rm(join(storeDir, 'objects', file!.sha.slice(0, 2), file!.sha.slice(2)));
    const v = await store.verify();
    expect(v.ok).toBe(false);
    await expectApollo(store.readFile(s1.commit, 'f.txt'), 'IO', /is damaged/);
  });

  it('refuses a snapshot that would go over budget at once, writing nothing; the next one that fits is taken', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const storeDir = join(tmp, 's');
    const store = await CheckpointStore.open({ storeDir, workDir: work, budgetBytes: 256 * 1024 });
    await put(work, 'small.txt', 'small\n');
    const first = await store.snapshot('first');
    const before = await store.usage();
    expect(before.overBudget).toBe(false);

    await put(work, 'big.bin', randomBytes(512 * 1024)); // incompressible, more than the room left
    const t0 = performance.now();
    const err = await expectApollo(
      store.snapshot('second'),
      'DISK_FULL',
      /^not checkpointed: over budget \(.+ of 256\.0 KiB used; this step would add about .+\)\. Raise the checkpoint budget \(setting checkpointBudgetBytes/,
    );
    // Refused from the estimate alone: no gc, no packing on the step's path.
    expect(performance.now() - t0).toBeLessThan(3000);
    const details = err.details as OverBudgetDetails;
    expect(details).toMatchObject({ reason: 'over-budget', budgetBytes: 256 * 1024, setting: 'checkpointBudgetBytes', skippedCount: 0 });
    expect(details.addBytes).toBeGreaterThan(512 * 1024);
    expect(details.bytes + details.addBytes).toBeGreaterThan(256 * 1024);
    // Nothing was written: the big blob is not in the store, which did not grow.
    const sha = execFileSync('git', ['hash-object', join(work, 'big.bin')], { encoding: 'utf8' }).trim();
    expect(() => execFileSync('git', ['--git-dir', storeDir, 'cat-file', '-e', sha], { stdio: 'ignore' })).toThrow();
    await store.idle(); // a background repack may run; it never grows the store
    expect((await store.usage()).bytes).toBeLessThanOrEqual(before.bytes);

    // The big file gone, the next step fits again.
    await rm(join(work, 'big.bin'));
    await put(work, 'small.txt', 'small v2\n');
    expect((await store.snapshot('third')).changed).toBe(true);

    // Rewinding works even when it takes the store over budget: it is how one gets out
    // of trouble. What was not snapshotted is kept in a commit of its own first.
    const big = randomBytes(512 * 1024);
    await put(work, 'big.bin', big);
    await expectApollo(store.snapshot('fourth'), 'DISK_FULL', /over budget/);
    await store.restore(first.commit);
    expect(await readFile(join(work, 'small.txt'), 'utf8')).toBe('small\n');
    expect(existsSync(join(work, 'big.bin'))).toBe(false);
    const u = await store.usage();
    expect(u.overBudget).toBe(true);
    await expectApollo(store.snapshot('fifth'), 'DISK_FULL', new RegExp(`^not checkpointed: over budget \\(.+ of 256\\.0 KiB used`));
    await store.idle();
  });

  it('counts only new blobs near the budget: a copy of a stored file fits', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work, budgetBytes: 700 * 1024 });
    const data = randomBytes(400 * 1024);
    await put(work, 'a.bin', data);
    await store.snapshot('a');
    // Upper bound (stat sums) of the copy: ~400 KiB, over what is left; its blob is already stored.
    await put(work, 'copy/a.bin', data);
    const s = await store.snapshot('copy');
    expect(s.changed).toBe(true);
    expect((await store.usage()).overBudget).toBe(false);
    // A different file of that size is refused.
    await put(work, 'b.bin', randomBytes(400 * 1024));
    await expectApollo(store.snapshot('b'), 'DISK_FULL', /over budget/);
    await store.idle();
  });

  it('applies new limits to an open store (the settings)', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    await put(work, 'f.bin', randomBytes(3000));
    expect((await store.snapshot('1')).skipped).toEqual([]);
    store.setLimits({ maxFileBytes: 2048 });
    expect(store.maxFileBytes).toBe(2048);
    await put(work, 'f.bin', randomBytes(3000)); // the limit applies to what is written from now on
    expect((await store.snapshot('2')).skipped).toEqual([{ path: 'f.bin', bytes: 3000, reason: 'too-big' }]);
    store.setLimits({ budgetBytes: 1 });
    await expectApollo(store.snapshot('3'), 'DISK_FULL', /of 1 B used/);
    expect(() => store.setLimits({ budgetBytes: 0 })).toThrow(ApolloError);
    expect(store.budgetBytes).toBe(1);
    await store.idle();
  });

  it('bounds the skipped list and counts all of it', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work, maxFileBytes: 1024 });
    for (let i = 0; i < SKIPPED_LIST_MAX + 10; i++) await put(work, `logs/l${String(i).padStart(3, '0')}.pyc`, 'x');
    await put(work, 'huge.dat', randomBytes(2048));
    const s = await store.snapshot('1');
    expect(s.skippedCount).toBe(SKIPPED_LIST_MAX + 11);
    expect(s.skipped).toHaveLength(SKIPPED_LIST_MAX);
    // The size-limited ones come first: they are the surprising ones.
    expect(s.skipped[0]).toEqual({ path: 'huge.dat', bytes: 2048, reason: 'too-big' });
    expect(s.skipped[1]).toEqual({ path: 'logs/l000.pyc', bytes: 1, reason: 'excluded' });
  });

  it('refuses, touching nothing, a restore through a symlinked folder that .gitignore names, and says so', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    await put(work, 'data/x.csv', 'x,y\n');
    await put(work, 'a.txt', 'a\n');
    const s1 = await store.snapshot('1');
    // The data folder becomes a link to elsewhere, ignored; other files change.
    await rm(join(work, 'data'), { recursive: true });
    const elsewhere = join(tmp, 'elsewhere');
    await mkdir(elsewhere);
    await put(elsewhere, 'theirs.csv', 'not ours\n');
    await symlink(elsewhere, join(work, 'data'));
    await put(work, '.gitignore', 'data\n');
    await put(work, 'a.txt', 'a v2\n');
    await put(work, 'b.txt', 'b\n');
    await store.snapshot('2');
    await put(work, 'unsaved.txt', 'not snapshotted yet\n');

    const tree = await fingerprint(work);
    const outside = await fingerprint(elsewhere);
    const err = await expectApollo(
      store.restore(s1.commit),
      'CONFLICT',
      /^a \.gitignore names a symlinked folder: "data" is a symbolic link that \.gitignore:1 \("data"\) keeps out of checkpoints, and checkpoint [0-9a-f]{12} has files under it \(data\/x\.csv\)/,
    );
    expect(err.message).not.toMatch(/damaged/);
    expect(await fingerprint(work)).toEqual(tree);
    expect(await fingerprint(elsewhere)).toEqual(outside);

    // With the link out of the way the same restore succeeds.
    await unlink(join(work, 'data'));
    await store.restore(s1.commit);
    expect(await readFile(join(work, 'data/x.csv'), 'utf8')).toBe('x,y\n');
    expect(await readFile(join(work, 'a.txt'), 'utf8')).toBe('a\n');
    expect(existsSync(join(work, 'b.txt'))).toBe(false);
    expect(existsSync(join(work, '.gitignore'))).toBe(false);
  });

  it('refuses a restore that would write under an excluded file, naming it', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work, maxFileBytes: 1024 });
    await put(work, 'out/report.txt', 'r\n');
    const s1 = await store.snapshot('1');
    await rm(join(work, 'out'), { recursive: true });
    await put(work, 'out', randomBytes(4096)); // over the limit: never snapshotted
    await store.snapshot('2');
    const tree = await fingerprint(work);
    await expectApollo(store.restore(s1.commit), 'CONFLICT', /^"out" is a file kept out of checkpoints \(over the 1\.0 KiB file size limit\)/);
    expect(await fingerprint(work)).toEqual(tree);
  });

  it('undoes a restore that fails halfway: the tree is byte-identical and the error names the cause', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    let failAt: { step: 'move-out' | 'move-in'; n: number } | null = null;
    let seen = 0;
    const store = await CheckpointStore.open({
      storeDir: join(tmp, 's'),
      workDir: work,
      maxFileBytes: MAX,
      faults: {
        beforeSwapStep(step, path) {
          if (failAt?.step !== step || ++seen !== failAt.n) return;
          throw Object.assign(new Error(`EACCES: permission denied, rename '${path}'`), { code: 'EACCES' });
        },
      },
    });
    const steps = await runScenario(work, store);
    // From the last step to the first: files become folders and back, links, modes, deletions.
    const target = steps[0] as Step;
    const tree = await fingerprint(work);
    const changes = await store.diff((steps.at(-1) as Step).commit, target.commit);
    const outs = changes.filter((c) => c.status !== 'added').length; // present now: moved aside
    const ins = changes.filter((c) => c.status !== 'deleted').length; // in the checkpoint: moved in
    expect(outs).toBeGreaterThanOrEqual(3);
    expect(ins).toBeGreaterThanOrEqual(3);
    // The first move, moves in the middle, and the very last one (after every other step).
    const points: Array<{ step: 'move-out' | 'move-in'; n: number }> = [
      { step: 'move-out', n: 1 },
      { step: 'move-out', n: outs },
      { step: 'move-in', n: 1 },
      { step: 'move-in', n: Math.ceil(ins / 2) },
      { step: 'move-in', n: ins },
    ];
    for (const at of points) {
      failAt = at;
      seen = 0;
      const err = await expectApollo(
        store.restore(target.commit),
        'IO',
        /^restore to checkpoint [0-9a-f]{12} failed, and the working directory was left exactly as it was: could not (move aside|put in place) ".+": EACCES: permission denied/,
      );
      expect(err.message).not.toMatch(/damaged/);
      expect(seen, `the fault at ${at.step} #${at.n} was reached`).toBe(at.n);
      expect(await fingerprint(work), `tree after a failure at ${at.step} #${at.n}`).toEqual(tree);
    }
    failAt = null;
    await store.restore(target.commit);
    expect(await trackedState(work)).toEqual(target.state);
    expect((await readdir(work)).filter((n) => n.startsWith('.apollo-restore-'))).toEqual([]);
  });

  it.skipIf(process.getuid?.() === 0)('refuses a restore into a folder it cannot change, touching nothing (not as root: root may write anywhere)', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    await put(work, 'locked/a.txt', 'a\n');
    const s1 = await store.snapshot('1');
    await put(work, 'locked/b.txt', 'b\n');
    await put(work, 'top.txt', 't\n');
    await store.snapshot('2');
    await chmod(join(work, 'locked'), 0o555);
    try {
      const tree = await fingerprint(work);
      await expectApollo(store.restore(s1.commit), 'IO', /no permission to change the folder "locked"/);
      expect(await fingerprint(work)).toEqual(tree);
    } finally {
      await chmod(join(work, 'locked'), 0o755);
    }
  });

  it('snapshots a 1,000-file tree one changed file at a time, and restores each step (times printed; speed is the bench\'s)', async () => {
    const work = join(tmp, 'w');
    await mkdir(work);
    for (let i = 0; i < 1000; i++) await put(work, `d${i % 25}/sub${i % 5}/file${i}.txt`, `content ${i}\n`.repeat(20));
    const store = await CheckpointStore.open({ storeDir: join(tmp, 's'), workDir: work });
    let t = performance.now();
    const first = await store.snapshot('initial');
    const initialMs = performance.now() - t;

    const snapMs: number[] = [];
    const unchangedMs: number[] = [];
    const commits: string[] = [first.commit];
    for (let i = 0; i < 10; i++) {
      await put(work, `d3/sub3/file${i * 25 + 3}.txt`, `edit ${i}\n`);
      t = performance.now();
      const s = await store.snapshot(`edit ${i}`);
      snapMs.push(performance.now() - t);
      expect(s.changed).toBe(true);
      commits.push(s.commit);
      t = performance.now();
      expect((await store.snapshot(`noop ${i}`)).changed).toBe(false);
      unchangedMs.push(performance.now() - t);
    }
    const restoreMs: number[] = [];
    for (let i = commits.length - 2; i >= commits.length - 6; i--) {
      t = performance.now();
      await store.restore(commits[i] as string);
      restoreMs.push(performance.now() - t);
      // Step i holds the edits up to i - 1; the file edited at step i is back to that state.
      const edited = i - 1;
      expect(await readFile(join(work, `d3/sub3/file${edited * 25 + 3}.txt`), 'utf8')).toBe(`edit ${edited}\n`);
      expect(await readFile(join(work, `d3/sub3/file${i * 25 + 3}.txt`), 'utf8')).toBe(`content ${i * 25 + 3}\n`.repeat(20));
    }
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const fmt = (n: number): string => n.toFixed(1);
    console.log(
      `[checkpoints] 1,000-file tree: initial snapshot ${fmt(initialMs)} ms; one changed file: snapshot median ${fmt(median(snapMs))} ms ` +
        `(max ${fmt(Math.max(...snapMs))}); unchanged: median ${fmt(median(unchangedMs))} ms; restore one-file step: median ${fmt(median(restoreMs))} ms`,
    );
  });
});
