// The agent chooses terminal ids, and a recording's file in the bundle was named by its
// id: a token in the id went out as a file name (the header inside is redacted). The
// name must hold no secret, stay unique and the same from one export to the next, and
// names without a secret must not change (dataset-export-identical.test.ts).
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { castPath, castPaths, exportBundle } from '../../electron/core/dataset/bundle';
import { realisticSession, writeRecording } from '../fixtures/sessions';
import { treeHashes } from '../fixtures/tree-hashes';

const GHP_A = ['ghp_', 'TermIdTok3nAAAAbCdEfGhIjKlMnOpQrSt12'].join('');
const GHP_B = ['ghp_', 'TermIdTok3nBBBBbCdEfGhIjKlMnOpQrSt34'].join('');
const CONFIGURED = ['term', 'configured', 'Secret77'].join('-');
const IDS = ['main', GHP_A, `build-${GHP_B}`, GHP_B, `job-${CONFIGURED}`, '_REDACTED_github-token_'];

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-leak-cast-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the file names of exported recordings', () => {
  it('name an id holding a secret by its redacted form, unique, and leave the others as they were', () => {
    const paths = castPaths('S1', IDS, [CONFIGURED]);
    expect(paths[0]).toBe('terminals/S1/main.cast');
    // A literal id that looks like a redacted one keeps its name; the redacted ones go round it.
    expect(paths[5]).toBe('terminals/S1/_REDACTED_github-token_.cast');
    expect(paths[1]).toBe('terminals/S1/_REDACTED_github-token_-2.cast');
    expect(paths[3]).toBe('terminals/S1/_REDACTED_github-token_-3.cast');
    expect(paths[2]).toBe('terminals/S1/build-_REDACTED_github-token_.cast');
    expect(paths[4]).toBe('terminals/S1/job-_REDACTED_configured-secret_.cast');
    expect(new Set(paths).size).toBe(paths.length);
    for (const p of paths) for (const s of [GHP_A, GHP_B, CONFIGURED]) expect(p).not.toContain(s);
    expect(castPaths('S1', IDS, [CONFIGURED])).toEqual(paths);
    expect(castPath('S1', 'main')).toBe('terminals/S1/main.cast');
    expect(castPath('S1', 'a b:c')).toBe('terminals/S1/a_b_c.cast');
  });

  it('an export holds no secret in any path, its manifest names the files it has, and a second export is the same', async () => {
    const { events } = realisticSession();
    const dir = join(root, 'home', 'sessions', 'S1');
    await mkdir(dir, { recursive: true });
    const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
    for (const [i, id] of IDS.entries()) await writeRecording(dir, id, [{ ts: t0 + 10 + i, data: `$ echo ${i}\r\n${i}\r\n` }]);

    // What the export reports as it goes is shown in the window and printed by the CLI.
    const reports: string[] = [];
    const exportTo = async (name: string) => {
      const outDir = join(root, 'out', name);
      await exportBundle({
        home: join(root, 'home'), sessions: [{ sessionId: 'S1', events, sessionDir: dir }], outDir, formats: ['openai', 'asciicast'],
        secrets: [CONFIGURED], appVersion: '0.1.0-test', castCache: false, onProgress: (_d, _t, what) => void reports.push(what),
      });
      return { outDir, hashes: await treeHashes(outDir) };
    };
    const one = await exportTo('one');
    expect(reports.some((r) => r.startsWith('asciicast '))).toBe(true);
    for (const r of reports) for (const s of [GHP_A, GHP_B, CONFIGURED]) expect(r).not.toContain(s);
    const files = Object.keys(one.hashes);
    for (const f of files) for (const s of [GHP_A, GHP_B, CONFIGURED]) expect(f).not.toContain(s);
    const casts = files.filter((f) => f.endsWith('.cast')).sort();
    expect(casts).toEqual([...castPaths('S1', IDS, [CONFIGURED])].sort());
    expect(casts).toContain('terminals/S1/main.cast');

    const manifestText = await readFile(join(one.outDir, 'manifest.json'), 'utf8');
    for (const s of [GHP_A, GHP_B, CONFIGURED]) expect(manifestText).not.toContain(s);
    const manifest = JSON.parse(manifestText) as { files: Array<{ path: string; format: string; sha256: string }> };
    const listed = manifest.files.filter((f) => f.format === 'asciicast');
    expect(listed.map((f) => f.path).sort()).toEqual(casts);
    for (const f of listed) expect(f.sha256).toBe(one.hashes[f.path]);
    for (const f of files) {
      const body = await readFile(join(one.outDir, f), 'utf8');
      for (const s of [GHP_A, GHP_B, CONFIGURED]) expect(body, f).not.toContain(s);
    }

    // Stable: the same names (and bytes) on the next run.
    const two = await exportTo('two');
    expect(two.hashes).toEqual(one.hashes);
  });
});
