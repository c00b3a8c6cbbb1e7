// Workspace files are private to their owner: folders 0700, files 0600, including what
// older versions left readable (tightened when the workspace is opened).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmod, lstat, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApolloCore } from '../../electron/core/app';
import { AppendLog } from '../../electron/core/store/append-log';
import { PrivateJSONFile } from '../../electron/core/store/private-files';
import { CheckpointStore } from '../../electron/core/checkpoints/shadow-git';
import { exportBundle } from '../../electron/core/dataset/bundle';

const modeOf = async (p: string): Promise<number> => (await lstat(p)).mode & 0o777;

/** Every folder and file under `dir` with its mode (symlinks skipped), for one readable assertion. */
async function modes(dir: string, skip: (rel: string) => boolean = () => false): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string, rel: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip(r)) continue;
      if (e.isDirectory()) {
        out[`${r}/`] = (await modeOf(join(d, e.name))).toString(8);
        await walk(join(d, e.name), r);
      } else if (e.isFile()) out[r] = (await modeOf(join(d, e.name))).toString(8);
    }
  };
  await walk(dir, '');
  return out;
}

/**
 * What is inside a checkpoint store and the seeded sample's working directory: the
 * store is private by its 0700 folder (git writes its own modes inside, see
 * shadow-git.ts), and project files keep the modes they were made with. The folders
 * themselves are still checked.
 */
const insideStoreOrWork = (rel: string): boolean => /^sessions\/[^/]+\/(checkpoints\.git|work)\/./.test(rel);

let dir: string;
let oldUmask: number;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-private-'));
  // The usual umask: without the code asking for private modes, files would be 0644.
  oldUmask = process.umask(0o022);
});
afterEach(async () => {
  process.umask(oldUmask);
  await rm(dir, { recursive: true, force: true });
});

async function openCore(home: string): Promise<ApolloCore> {
  return ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web' });
}

describe('workspace file modes', () => {
  it('creates the workspace, sessions, recordings and index owner-only', async () => {
    const home = join(dir, 'ws');
    const core = await openCore(home);
    try {
      const s = await core.ws.create({ name: 'private', cwd: dir });
      const rec = await s.recording('main');
      await rec.append(Buffer.from('export TOKEN=hunter2\r\n')).durable;
      await rec.flush();
      await core.ws.setSetting('annotator', 'ann');
      expect(await modeOf(home)).toBe(0o700);
      expect(await modeOf(join(home, 'workspace.lock'))).toBe(0o600);
      const all = await modes(home, insideStoreOrWork);
      // Something of each kind is there (a test of nothing would pass too).
      expect(Object.keys(all)).toEqual(
        expect.arrayContaining([
          'workspace.json',
          'workspace.lock',
          'sessions/',
          `sessions/${s.id}/`,
          `sessions/${s.id}/events.jsonl`,
          `sessions/${s.id}/terminals/`,
          `sessions/${s.id}/terminals/main.out`,
          `sessions/${s.id}/terminals/main.timing.jsonl`,
          'sessions/sample-sales-report/events.jsonl',
          'sessions/sample-sales-report/checkpoints.git/',
          'sessions/sample-sales-report/work/',
        ]),
      );
      for (const [path, mode] of Object.entries(all)) expect([path, mode]).toEqual([path, path.endsWith('/') ? '700' : '600']);
    } finally {
      await core.close();
    }
  });

  it('tightens a workspace that an older version left 0644/0755 when it is opened', async () => {
    const home = join(dir, 'ws');
    const first = await openCore(home);
    const s = await first.ws.create({ name: 'old', cwd: dir });
    const rec = await s.recording('main');
    await rec.append(Buffer.from('secret output\r\n')).durable;
    await first.close();
    // What an older version left: everything readable by every local user, one file executable.
    const loosen = async (d: string): Promise<void> => {
      await chmod(d, 0o755);
      for (const e of await readdir(d, { withFileTypes: true })) {
        if (e.isDirectory()) await loosen(join(d, e.name));
        else if (e.isFile()) await chmod(join(d, e.name), 0o644);
      }
    };
    await loosen(home);
    await mkdir(join(home, 'keys'), { mode: 0o755 });
    await writeFile(join(home, 'keys', 'p.bin'), 'x', { mode: 0o644 });
    await chmod(join(home, 'sessions', s.id, 'terminals', 'main.out'), 0o755);
    expect(await modeOf(join(home, 'workspace.json'))).toBe(0o644);

    const again = await openCore(home);
    try {
      const all = await modes(home, insideStoreOrWork);
      expect(Object.keys(all).length).toBeGreaterThan(8);
      for (const [path, mode] of Object.entries(all)) {
        // The owner's own bits are kept: an executable stays executable for its owner.
        const want = path.endsWith('/') || path === `sessions/${s.id}/terminals/main.out` ? '700' : '600';
        expect([path, mode]).toEqual([path, want]);
      }
    } finally {
      await again.close();
    }
  });

  it('keeps the index private across its atomic rewrites, and a leftover temporary file too', async () => {
    const file = join(dir, 'index.json');
    await writeFile(join(dir, '.index.json.tmp'), 'torn', { mode: 0o644 });
    const a = new PrivateJSONFile<{ n: number }>(file);
    await Promise.all([a.write({ n: 1 }), a.write({ n: 2 }), a.write({ n: 3 })]);
    expect(await a.read()).toEqual({ n: 3 });
    expect(await modeOf(file)).toBe(0o600);
    expect(await readdir(dir)).toEqual(['index.json']);
  });

  it('tightens an existing append-only log when it is opened, and creates new ones 0600', async () => {
    await writeFile(join(dir, 'old.log'), 'abc', { mode: 0o644 });
    const old = await AppendLog.open(join(dir, 'old.log'));
    const fresh = await AppendLog.open(join(dir, 'new.log'));
    await Promise.all([old.close(), fresh.close()]);
    expect(await modeOf(join(dir, 'old.log'))).toBe(0o600);
    expect(await modeOf(join(dir, 'new.log'))).toBe(0o600);
  });

  it('makes the checkpoint store folder owner-only, also an existing one', async () => {
    const work = join(dir, 'work');
    await mkdir(work);
    await writeFile(join(work, '.env'), 'API_KEY=x');
    const storeDir = join(dir, 'store.git');
    await mkdir(storeDir, { mode: 0o755 });
    const store = await CheckpointStore.open({ storeDir, workDir: work });
    await store.snapshot('step 1');
    expect(await modeOf(storeDir)).toBe(0o700);
  });

  it('writes export bundles owner-only', async () => {
    const home = join(dir, 'ws');
    const core = await openCore(home);
    try {
      const sample = await core.ws.session('sample-sales-report');
      const outDir = join(dir, 'exports', 'bundle');
      await exportBundle({
        home,
        sessions: [{ sessionId: sample.id, events: sample.events, sessionDir: sample.dir }],
        outDir,
        formats: ['openai', 'sharegpt', 'trajectory', 'asciicast'],
        secrets: [],
        appVersion: 'test',
      });
      const all = await modes(outDir);
      expect(Object.keys(all)).toEqual(expect.arrayContaining(['openai.jsonl', 'manifest.json', 'terminals/']));
      expect(await modeOf(outDir)).toBe(0o700);
      for (const [path, mode] of Object.entries(all)) expect([path, mode]).toEqual([path, path.endsWith('/') ? '700' : '600']);
    } finally {
      await core.close();
    }
  });
});
