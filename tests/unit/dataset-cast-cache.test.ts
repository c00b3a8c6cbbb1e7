// A recording's conversion kept beside its session (cast-cache.ts) is reused only for
// the same bytes, secrets and code: the bundle is byte for byte what a fresh conversion
// writes, a new secret, a grown recording or a changed cache file each make the export
// convert again, and a failed export keeps nothing. The kept file and each bundle's
// are copies, never one inode: editing or chmodding one bundle's file in place changes
// no other bundle and not the cache. A file whose stat is what the entry saw, read more
// than the margin after its last write, is not read again; any other is hashed.
import { createHash } from 'node:crypto';
import { appendFile, chmod, mkdir, mkdtemp, open, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { exportBundle, type ExportBundleOptions, type ExportFormat } from '../../electron/core/dataset/bundle';
import { CAST_CACHE_DIR, CAST_CACHE_RESERVE_BYTES, RACY_MARGIN_NS } from '../../electron/core/dataset/cast-cache';
import { builtCode } from '../../electron/core/dataset/code-digest';
import { DISK_FAULT_ENV } from '../../electron/core/store/disk';
import type { SessionEvent } from '../../shared/events';
import { realisticSession, writeRecording } from '../fixtures/sessions';
import { treeHashes } from '../fixtures/tree-hashes';
import { fingerprintKey } from '../../electron/core/dataset/key-fingerprint';

// Every file the exporter opens (hashing and converting both open it): what a hit read.
const opened = vi.hoisted(() => [] as string[]);
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>();
  const open = ((path: Parameters<typeof actual.open>[0], ...rest: [never?, never?]) => {
    // Opened for writing (r+: the fsync of a placed copy) is no read.
    if (rest[0] !== 'r+') opened.push(String(path));
    return actual.open(path, ...rest);
  }) as typeof actual.open;
  return { ...actual, open, default: { ...actual, open } };
});

const TOKEN = ['ghp_', 'Cache9Test8Token7Abcdef6Ghijkl5Mnopqr4'].join('');
// A value no built-in pattern finds: only the configured secret redacts it.
const CONFIGURED = 'plain-words-cache-secret-42';

let root: string;
let events: SessionEvent[];
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-cast-cache-'));
  events = realisticSession().events;
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function session(name: string): Promise<string> {
  const dir = join(root, name, 'sessions', 'S1');
  await mkdir(dir, { recursive: true });
  const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
  const chunks = [];
  for (let i = 0; i < 300; i++) {
    const extra = i === 17 ? ` export GITHUB_TOKEN=${TOKEN}` : i === 200 ? ` echo ${CONFIGURED}` : '';
    chunks.push({ ts: t0 + 10 + i * 40, data: `\r step ${i}/300 — ✓${extra}${'.'.repeat(200)}\r\n` });
  }
  await writeRecording(dir, 'main', chunks);
  return dir;
}

async function run(dir: string, o: Partial<ExportBundleOptions> & { formats?: ExportFormat[] } = {}) {
  const outDir = join(root, `out-${++n}`);
  const r = await exportBundle({
    home: join(dir, '..', '..'), sessions: [{ sessionId: 'S1', events, sessionDir: dir }], outDir,
    formats: ['openai', 'asciicast'], secrets: [], appVersion: 'test', castWorker: false, ...o,
  });
  const cast = join(outDir, 'terminals', 'S1', 'main.cast');
  return { r, outDir, cast, text: await readFile(cast, 'utf8'), ino: (await stat(cast)).ino, files: await treeHashes(outDir) };
}

async function cacheInodes(dir: string): Promise<number[]> {
  const d = join(dir, CAST_CACHE_DIR);
  const names = (await readdir(d).catch(() => [] as string[])).filter((f) => f.endsWith('.cast'));
  return Promise.all(names.map(async (f) => (await stat(join(d, f))).ino));
}

/** The session's files, written an hour ago: read more than the margin after their last write. */
async function aged(dir: string, ...names: string[]): Promise<void> {
  const old = new Date(Date.now() - 60 * 60 * 1000);
  for (const name of names) await utimes(join(dir, name), old, old);
}

async function keptFiles(dir: string): Promise<{ cast: string; meta: string }> {
  const [entry] = (await readdir(join(dir, CAST_CACHE_DIR))).filter((f) => f.endsWith('.cast'));
  return { cast: join(dir, CAST_CACHE_DIR, entry!), meta: join(dir, CAST_CACHE_DIR, entry!.replace(/\.cast$/, '.json')) };
}

/**
 * Which of the recording, its timing log and the kept file `f` read: the kept file is
 * hashed as its copy in the bundle (which a hit opens for nothing else).
 */
async function readsOf<T>(dir: string, f: () => Promise<T>): Promise<{ value: T; read: string[] }> {
  const { cast } = await keptFiles(dir).catch(() => ({ cast: '(none)' }));
  const watched: Record<string, (p: string) => boolean> = {
    recording: (p) => p === join(dir, 'terminals', 'main.out'),
    timing: (p) => p === join(dir, 'terminals', 'main.timing.jsonl'),
    kept: (p) => p === cast || p.endsWith('/terminals/S1/main.cast'),
  };
  opened.length = 0;
  const value = await f();
  return { value, read: Object.entries(watched).filter(([, is]) => opened.some(is)).map(([k]) => k) };
}

describe('converted recordings kept beside the session', () => {
  it('are reused for the same recording, giving the bundle a fresh conversion gives, byte for byte', async () => {
    const dir = await session('same');
    const fresh = await run(dir, { castCache: false });
    expect(await cacheInodes(dir)).toEqual([]);
    const first = await run(dir);
    // Kept as a copy of the bundle's file (its own inode), 0600.
    const kept = await cacheInodes(dir);
    expect(kept).toHaveLength(1);
    expect(kept).not.toContain(first.ino);
    const [entry] = (await readdir(join(dir, CAST_CACHE_DIR))).filter((f) => f.endsWith('.cast'));
    expect((await stat(join(dir, CAST_CACHE_DIR, entry!))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, CAST_CACHE_DIR, entry!), 'utf8')).toBe(first.text);
    const again = await run(dir);
    // Taken from the cache (which a conversion would have replaced), as a file of its own.
    expect(await cacheInodes(dir)).toEqual(kept);
    expect(again.ino).not.toBe(kept[0]);
    expect((await stat(again.cast)).mode & 0o777).toBe(0o600);
    for (const x of [first, again]) {
      expect(x.files).toEqual(fresh.files);
      expect(x.r.manifest).toEqual(fresh.r.manifest);
      expect(x.r.redactions).toEqual(fresh.r.redactions);
    }
    expect(again.r.redactions.filter((x) => x.file === 'terminals/S1/main.cast').map((x) => x.kind)).toEqual(['github-token']);
    expect(again.text).not.toContain(TOKEN);
  });

  it('are not reused once a key is known by its fingerprint (a keychain the exporter cannot read)', async () => {
    const dir = await session('fingerprint');
    const before = await run(dir);
    expect(before.text).toContain(CONFIGURED);
    const keptBefore = await cacheInodes(dir);
    const prints = fingerprintKey(CONFIGURED);
    const after = await run(dir, { secrets: prints });
    expect(await cacheInodes(dir)).not.toEqual(keptBefore);
    expect(after.text).not.toContain(CONFIGURED);
    expect(after.files).toEqual((await run(dir, { secrets: [CONFIGURED], castCache: false })).files);
  });

  it('are not reused once a secret is configured: the new secret is redacted', async () => {
    const dir = await session('secret');
    const before = await run(dir);
    expect(before.text).toContain(CONFIGURED);
    const keptBefore = await cacheInodes(dir);
    const after = await run(dir, { secrets: [CONFIGURED] });
    expect(await cacheInodes(dir)).not.toEqual(keptBefore);
    expect(after.text).not.toContain(CONFIGURED);
    expect(after.r.redactions.filter((x) => x.file === 'terminals/S1/main.cast').map((x) => x.kind).sort()).toEqual(['configured-secret', 'github-token']);
    expect(after.files).toEqual((await run(dir, { secrets: [CONFIGURED], castCache: false })).files);
    // And the entry now kept is the one with the secret: an export without it converts again.
    const keptAfter = await cacheInodes(dir);
    const without = await run(dir);
    expect(await cacheInodes(dir)).not.toEqual(keptAfter);
    expect(without.files).toEqual(before.files);
  });

  it('are not reused once the recording has grown', async () => {
    const dir = await session('grown');
    await run(dir);
    const keptBefore = await cacheInodes(dir);
    const tail = Buffer.from(`later output, then a token: hf_${'Q'.repeat(34)}\r\n`);
    const size = (await stat(join(dir, 'terminals', 'main.out'))).size;
    const last = events.find((e) => e.type === 'terminal.started')!.ts + 20_000;
    await appendFile(join(dir, 'terminals', 'main.out'), tail);
    await appendFile(join(dir, 'terminals', 'main.timing.jsonl'), `[${last},${size},${tail.length}]\n`);
    const after = await run(dir);
    expect(await cacheInodes(dir)).not.toEqual(keptBefore);
    expect(after.text).toContain('later output, then a token: [REDACTED:hf-token]');
    expect(after.files).toEqual((await run(dir, { castCache: false })).files);
  });

  it('are dropped when the kept file no longer matches what was recorded of it', async () => {
    const dir = await session('changed');
    const before = await run(dir);
    // Same length, one byte different, written over the kept file in place.
    const [entry] = (await readdir(join(dir, CAST_CACHE_DIR))).filter((f) => f.endsWith('.cast'));
    await writeFile(join(dir, CAST_CACHE_DIR, entry!), before.text.replace('step 5/300', 'step 6/300'));
    const after = await run(dir);
    expect(after.text).toContain('step 5/300');
    expect(after.files).toEqual((await run(dir, { castCache: false })).files);
  });

  it('are taken without reading the recording, its timing log or the kept file once their stats stand for them', async () => {
    const dir = await session('stat');
    await aged(dir, 'terminals/main.out', 'terminals/main.timing.jsonl');
    const fresh = await run(dir, { castCache: false });
    await run(dir);
    // The kept file was just written: the first export that takes it hashes it (it is racy as well).
    const first = await readsOf(dir, () => run(dir));
    expect(first.read).toEqual(['kept']);
    const { cast } = await keptFiles(dir);
    await aged(dir, join(CAST_CACHE_DIR, cast.split('/').pop()!));
    const second = await readsOf(dir, () => run(dir));
    expect(second.read).toEqual(['kept']);
    // Its stat (aged, so read more than the margin after its last write) is now in the entry: nothing is read.
    const third = await readsOf(dir, () => run(dir));
    expect(third.read).toEqual([]);
    for (const x of [first.value, second.value, third.value]) {
      expect(x.files).toEqual(fresh.files);
      expect(x.r.manifest).toEqual(fresh.r.manifest);
    }
    // The kept file edited in place once trusted, its size and mtime put back: its ctime moved, so it is hashed and dropped.
    const kst = await stat(cast);
    const fh = await open(cast, 'r+');
    await fh.write(Buffer.from('EDITED'), 0, 6, 200);
    await fh.close();
    await utimes(cast, kst.atime, kst.mtime);
    const edited = await readsOf(dir, () => run(dir));
    expect(edited.read).toContain('recording');
    expect(edited.value.text).not.toContain('EDITED');
    expect(edited.value.files).toEqual(fresh.files);
    await aged(dir, join(CAST_CACHE_DIR, cast.split('/').pop()!));
    await run(dir);
    expect((await readsOf(dir, () => run(dir))).read).toEqual([]);
    // A chmod (a new ctime) makes it read again, as a hit; then the entry trusts the new stat.
    const rec = join(dir, 'terminals', 'main.out');
    await chmod(rec, 0o400);
    const chmodded = await readsOf(dir, () => run(dir));
    expect(chmodded.read).toEqual(['recording']);
    expect(chmodded.value.files).toEqual(fresh.files);
    expect((await readsOf(dir, () => run(dir))).read).toEqual([]);
    // A recording that cannot be read once its stat changed: the export says so, the bundle is not made.
    if (process.getuid?.() !== 0) {
      await chmod(rec, 0o000);
      await expect(run(dir)).rejects.toThrow(/EACCES|permission/i);
      await chmod(rec, 0o600);
    }
  });

  it('are not reused after an in-place edit that keeps the size and puts the mtime back (the ctime moved)', async () => {
    const dir = await session('edit-in-place');
    const rec = join(dir, 'terminals', 'main.out');
    await aged(dir, 'terminals/main.out', 'terminals/main.timing.jsonl');
    const before = await run(dir);
    await run(dir);
    expect((await readsOf(dir, () => run(dir))).read).not.toContain('recording');
    const st = await stat(rec);
    const text = await readFile(rec, 'latin1');
    const at = text.indexOf('step 5/300');
    const fh = await open(rec, 'r+');
    await fh.write(Buffer.from('step 8'), 0, 6, at);
    await fh.close();
    await utimes(rec, st.atime, st.mtime);
    const now = await stat(rec);
    expect([now.size, now.mtimeMs]).toEqual([st.size, st.mtimeMs]);
    const after = await readsOf(dir, () => run(dir));
    expect(after.read).toContain('recording');
    expect(after.value.text).toContain('step 8/300');
    expect(after.value.text).not.toContain('step 5/300');
    expect(after.value.files).not.toEqual(before.files);
    expect(after.value.files).toEqual((await run(dir, { castCache: false })).files);
  });

  it('hash a file whose stat was taken within the margin of its last write (racy)', async () => {
    const dir = await session('racy');
    await aged(dir, 'terminals/main.out', 'terminals/main.timing.jsonl');
    await run(dir);
    await run(dir);
    const { cast, meta } = await keptFiles(dir);
    await aged(dir, join(CAST_CACHE_DIR, cast.split('/').pop()!));
    await run(dir);
    expect((await readsOf(dir, () => run(dir))).read).toEqual([]);
    // The entry as it would be had each file been read in the tick it was last written:
    // the stats still match, but a write in that tick after the read would have left them so.
    const entry = JSON.parse(await readFile(meta, 'utf8')) as { inputs: Record<string, { stat: string[]; readNs: string }>; kept: { stat: string[]; readNs: string } };
    for (const seen of [entry.inputs.recording!, entry.inputs.timing!, entry.kept]) seen.readNs = seen.stat[3]!;
    await writeFile(meta, JSON.stringify(entry));
    const racy = await readsOf(dir, () => run(dir));
    expect(racy.read.sort()).toEqual(['kept', 'recording', 'timing']);
    // Hashed, they were the same bytes; read now, more than the margin after their writes, they are trusted again.
    expect((await readsOf(dir, () => run(dir))).read).toEqual([]);
    // Just past the margin is still racy; the margin itself is what a coarse clock can hide.
    const again = JSON.parse(await readFile(meta, 'utf8')) as typeof entry;
    again.inputs.recording!.readNs = (BigInt(again.inputs.recording!.stat[3]!) + RACY_MARGIN_NS).toString();
    await writeFile(meta, JSON.stringify(again));
    expect((await readsOf(dir, () => run(dir))).read).toEqual(['recording']);
  });

  it('are kept only by an export that was published', async () => {
    const dir = await session('failed');
    await mkdir(join(dir, 'terminals', 'broken.out'));
    await expect(run(dir)).rejects.toThrow(/EISDIR/);
    expect(await readdir(dir)).not.toContain(CAST_CACHE_DIR);
  });

  it("stay apart from every bundle: a bundle's .cast edited or chmodded in place changes no other bundle and not the cache", async () => {
    const dir = await session('apart');
    const a = await run(dir);
    const b = await run(dir);
    // A user's tool rewriting part of bundle A's recording in place, then sharing it.
    const fh = await open(a.cast, 'r+');
    await fh.write(Buffer.from('EDITED'), 0, 6, 200);
    await fh.close();
    await chmod(a.cast, 0o644);
    const bBytes = await readFile(b.cast);
    const listed = b.r.manifest.files.find((f) => f.path === 'terminals/S1/main.cast')!;
    expect(createHash('sha256').update(bBytes).digest('hex')).toBe(listed.sha256);
    expect((await stat(b.cast)).mode & 0o777).toBe(0o600);
    const kept = await cacheInodes(dir);
    const [entry] = (await readdir(join(dir, CAST_CACHE_DIR))).filter((f) => f.endsWith('.cast'));
    expect((await stat(join(dir, CAST_CACHE_DIR, entry!))).mode & 0o777).toBe(0o600);
    // The cache still holds the conversion, and the next export takes it.
    const c = await run(dir);
    expect(await cacheInodes(dir)).toEqual(kept);
    expect(c.files).toEqual(b.files);
    expect(c.text).not.toContain('EDITED');
  });

  it('leave a bundle whole and 0600 once the cache is deleted', async () => {
    const dir = await session('deleted');
    await run(dir);
    const hit = await run(dir);
    await rm(join(dir, CAST_CACHE_DIR), { recursive: true });
    const listed = hit.r.manifest.files.find((f) => f.path === 'terminals/S1/main.cast')!;
    expect(createHash('sha256').update(await readFile(hit.cast)).digest('hex')).toBe(listed.sha256);
    expect((await stat(hit.cast)).mode & 0o777).toBe(0o600);
    expect(await treeHashes(hit.outDir)).toEqual(hit.files);
  });

  it('clean up what a crash left mid-copy, not a copy another export is making', async () => {
    const dir = await session('crashed');
    await mkdir(join(dir, CAST_CACHE_DIR), { recursive: true });
    const stale = join(dir, CAST_CACHE_DIR, 'f00.cast.tmp-0123456789ab');
    const young = join(dir, CAST_CACHE_DIR, 'f00.cast.tmp-ba9876543210');
    await writeFile(stale, 'half a copy');
    await writeFile(young, 'a copy being made');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(stale, old, old);
    await run(dir);
    const left = await readdir(join(dir, CAST_CACHE_DIR));
    expect(left).not.toContain('f00.cast.tmp-0123456789ab');
    expect(left).toContain('f00.cast.tmp-ba9876543210');
  });

  it('are not kept when the copy would leave the disk under its reserve', async () => {
    const dir = await session('low-disk');
    const free = join(root, 'disk-free');
    process.env[DISK_FAULT_ENV] = free;
    try {
      // Room for the bundle, not for the reserve a live recording may need.
      await writeFile(free, String(CAST_CACHE_RESERVE_BYTES - 1));
      const tight = await run(dir);
      expect(await readdir(dir)).not.toContain(CAST_CACHE_DIR);
      expect(tight.files).toEqual((await run(dir, { castCache: false })).files);
      await writeFile(free, String(4 * CAST_CACHE_RESERVE_BYTES));
      await run(dir);
      expect(await cacheInodes(dir)).toHaveLength(1);
    } finally {
      delete process.env[DISK_FAULT_ENV];
    }
  });

  it('are right after two exports with different secrets ran at once', async () => {
    const dir = await session('concurrent');
    const [plain, secret] = await Promise.all([run(dir), run(dir, { secrets: [CONFIGURED] })]);
    expect(plain.text).toContain(CONFIGURED);
    expect(secret.text).not.toContain(CONFIGURED);
    // Whichever entry won (or a mix of one's file and the other's entry), each export is still what a fresh one writes.
    for (const secrets of [[], [CONFIGURED], [], [CONFIGURED]]) {
      expect((await run(dir, { secrets })).files).toEqual((await run(dir, { secrets, castCache: false })).files);
    }
  });
});

// Needs the build (`npx electron-vite build`): recordings converted two at a time in out/main/cast-worker.js.
describe('a recording worker that dies or throws mid-export', () => {
  const REAL = join(__dirname, '..', '..', 'out', 'main', 'cast-worker.js');
  for (const [how, death, message] of [
    ['is killed', 'writeFileSync(workerData.outPath, \'{"version": 2, "wid\'); setTimeout(() => process.exit(3), 20);', /stopped \(exit code 3\) before finishing/],
    ['throws', 'writeFileSync(workerData.outPath, \'{"version": 2\'); throw new Error(\'boom in the worker\');', /failed: boom in the worker/],
  ] as const) {
    it(`${how}: the export fails with what happened, and nothing partial is left or kept`, async () => {
      const dir = await session(`worker-${how.replace(' ', '-')}`);
      const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
      await writeRecording(dir, 'dies', [{ ts: t0 + 5, data: 'output of a terminal whose conversion dies\r\n' }]);
      const worker = join(root, `worker-${how.replace(' ', '-')}.mjs`);
      // The other recording is converted by the real worker meanwhile, in the other lane.
      await writeFile(worker, `import { workerData } from 'node:worker_threads';\nimport { writeFileSync } from 'node:fs';\nif (workerData.terminalId === 'dies') { ${death} } else await import(${JSON.stringify(REAL)});\n`);
      const outDir = join(root, `out-${++n}`);
      await expect(exportBundle({
        home: join(dir, '..', '..'), sessions: [{ sessionId: 'S1', events, sessionDir: dir }], outDir,
        formats: ['openai', 'asciicast'], secrets: [], appVersion: 'test', castWorker: { path: worker },
      })).rejects.toThrow(message);
      expect(await stat(outDir).catch(() => null)).toBeNull();
      // No staging folder beside the target, nothing kept beside the session.
      expect((await readdir(root)).filter((f) => f.startsWith(`out-${n}`))).toEqual([]);
      expect(await readdir(dir)).not.toContain(CAST_CACHE_DIR);
    });
  }
});

describe('the code a kept conversion is keyed by', () => {
  it('is every module the built worker imports, transitively', async () => {
    const d = join(root, 'built');
    await mkdir(join(d, 'chunks'), { recursive: true });
    await writeFile(join(d, 'cast-worker.js'), 'import { c } from "./chunks/job-A1.js";\nc();\n');
    await writeFile(join(d, 'chunks', 'job-A1.js'), 'import { t } from "./timing-B2.js";\nexport const c = () => t();\n');
    await writeFile(join(d, 'chunks', 'timing-B2.js'), 'export const t = () => 1;\n');
    const before = builtCode(join(d, 'cast-worker.js'));
    expect(before).toContain('export const t = () => 1;');
    // A helper two imports away changed in another build (a bundler may keep its chunk's name).
    await writeFile(join(d, 'chunks', 'timing-B2.js'), 'export const t = () => 2;\n');
    expect(builtCode(join(d, 'cast-worker.js'))).not.toBe(before);
    expect(builtCode(join(d, 'missing.js'))).toBeNull();
  });
});
