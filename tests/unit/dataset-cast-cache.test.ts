// A recording's conversion kept beside its session (cast-cache.ts) is reused only for
// the same bytes, secrets and code: the bundle is byte for byte what a fresh conversion
// writes, a new secret, a grown recording or a changed cache file each make the export
// convert again, and a failed export keeps nothing.
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBundle, type ExportBundleOptions, type ExportFormat } from '../../electron/core/dataset/bundle';
import { CAST_CACHE_DIR } from '../../electron/core/dataset/cast-cache';
import type { SessionEvent } from '../../shared/events';
import { realisticSession, writeRecording } from '../fixtures/sessions';
import { treeHashes } from '../fixtures/tree-hashes';

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

describe('converted recordings kept beside the session', () => {
  it('are reused for the same recording, giving the bundle a fresh conversion gives, byte for byte', async () => {
    const dir = await session('same');
    const fresh = await run(dir, { castCache: false });
    expect(await cacheInodes(dir)).toEqual([]);
    const first = await run(dir);
    // Kept as the bundle's own file (a hard link), 0600.
    expect(await cacheInodes(dir)).toEqual([first.ino]);
    const [entry] = (await readdir(join(dir, CAST_CACHE_DIR))).filter((f) => f.endsWith('.cast'));
    expect((await stat(join(dir, CAST_CACHE_DIR, entry!))).mode & 0o777).toBe(0o600);
    const again = await run(dir);
    // Taken from the cache: the same file, not a new conversion.
    expect(again.ino).toBe(first.ino);
    for (const x of [first, again]) {
      expect(x.files).toEqual(fresh.files);
      expect(x.r.manifest).toEqual(fresh.r.manifest);
      expect(x.r.redactions).toEqual(fresh.r.redactions);
    }
    expect(again.r.redactions.filter((x) => x.file === 'terminals/S1/main.cast').map((x) => x.kind)).toEqual(['github-token']);
    expect(again.text).not.toContain(TOKEN);
  });

  it('are not reused once a secret is configured: the new secret is redacted', async () => {
    const dir = await session('secret');
    const before = await run(dir);
    expect(before.text).toContain(CONFIGURED);
    const after = await run(dir, { secrets: [CONFIGURED] });
    expect(after.ino).not.toBe(before.ino);
    expect(after.text).not.toContain(CONFIGURED);
    expect(after.r.redactions.filter((x) => x.file === 'terminals/S1/main.cast').map((x) => x.kind).sort()).toEqual(['configured-secret', 'github-token']);
    expect(after.files).toEqual((await run(dir, { secrets: [CONFIGURED], castCache: false })).files);
    // And the entry now kept is the one with the secret: an export without it converts again.
    const without = await run(dir);
    expect(without.ino).not.toBe(after.ino);
    expect(without.files).toEqual(before.files);
  });

  it('are not reused once the recording has grown', async () => {
    const dir = await session('grown');
    const before = await run(dir);
    const tail = Buffer.from(`later output, then a token: hf_${'Q'.repeat(34)}\r\n`);
    const size = (await stat(join(dir, 'terminals', 'main.out'))).size;
    const last = events.find((e) => e.type === 'terminal.started')!.ts + 20_000;
    await appendFile(join(dir, 'terminals', 'main.out'), tail);
    await appendFile(join(dir, 'terminals', 'main.timing.jsonl'), `[${last},${size},${tail.length}]\n`);
    const after = await run(dir);
    expect(after.ino).not.toBe(before.ino);
    expect(after.text).toContain('later output, then a token: [REDACTED:hf-token]');
    expect(after.files).toEqual((await run(dir, { castCache: false })).files);
  });

  it('are dropped when the kept file no longer matches what was recorded of it', async () => {
    const dir = await session('changed');
    const before = await run(dir);
    // Same length, one byte different (the kept file is the bundle's, so editing either changes both).
    const text = await readFile(before.cast, 'utf8');
    await writeFile(before.cast, text.replace('step 5/300', 'step 6/300'));
    const after = await run(dir);
    expect(after.text).toContain('step 5/300');
    expect(after.files).toEqual((await run(dir, { castCache: false })).files);
  });

  it('are kept only by an export that was published', async () => {
    const dir = await session('failed');
    await mkdir(join(dir, 'terminals', 'broken.out'));
    await expect(run(dir)).rejects.toThrow(/EISDIR/);
    expect(await readdir(dir)).not.toContain(CAST_CACHE_DIR);
  });
});
