// A merge redacts what it writes with the lead's secrets, but named the recordings it
// wrote by their input paths: an annotator's export named a terminal's file by its id
// (redacted with that annotator's secrets only), so a terminal `job-<team key>` went into
// the merged bundle as terminals/S1/job-<team key>.cast (and its ~2 variant), and into
// manifest.json files[].path, redactions.byFile, redactions.json `file`, mergedFrom's
// renamed and the progress lines. The merged recordings are now named as the exporter
// names them (bundle.ts castNames): redacted, unique, the same from one merge to the next,
// every reference to them consistent; without a secret in them, as they were.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { exportBundle } from '../../electron/core/dataset/index';
import { mergeBundles } from '../../electron/core/dataset/merge';
import type { RedactionReport } from '../../electron/core/dataset/redact';
import { ok, run, SessionBuilder, writeRecording } from '../fixtures/sessions';
import { treeHashes } from '../fixtures/tree-hashes';

// No built-in pattern matches it: only a configured secret redacts it.
const TEAM = ['corgi', 'Lantern', '51', 'velvetQz'].join('-');
// Found by a pattern, so the exporters redact it in the recording (their redactions.json names the file).
const GHP = ['ghp_', 'CastNameTok3nAAAAbCdEfGhIjKlMnOpQr12'].join('');
const TID = `job-${TEAM}`;
// A terminal whose id reads as the redacted name: the redacted one goes round it.
const LOOKALIKE = 'job-_REDACTED_configured-secret_';

let root: string;
const bundles: string[] = [];
let n = 0;

function session(): { events: SessionEvent[]; start: number } {
  const b = new SessionBuilder({ name: 'plain' });
  b.terminal(TID);
  b.terminal(LOOKALIKE);
  b.terminal('main');
  const start = b.ts;
  b.rollout({ task: 'Deploy' });
  const s1 = b.step({ content: 'x', calls: [run('echo hi', TID)], results: [ok()] });
  b.label(s1, 'keep', { author: 'alice' });
  const s2 = b.step({ calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] });
  b.label(s2, 'keep', { author: 'alice' });
  return { events: b.events, start };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-leak2-castnames-'));
  // Alice and Bob record different output in the same terminals: two recordings at each path.
  for (const who of ['alice', 'bob']) {
    const { events, start } = session();
    const dir = join(root, who, 'sessions', 'S1');
    await writeRecording(dir, TID, [{ ts: start + 10, data: `$ echo hi\r\nhi ${who} ${GHP}\r\n` }]);
    await writeRecording(dir, LOOKALIKE, [{ ts: start + 11, data: `$ echo look\r\nlook ${who}\r\n` }]);
    await writeRecording(dir, 'main', [{ ts: start + 12, data: '$ ls\r\nREADME\r\n' }]);
    const outDir = join(root, 'bundles', who);
    await exportBundle({
      home: root, sessions: [{ sessionId: 'S1', events, sessionDir: dir }], outDir,
      formats: ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'], secrets: [], appVersion: 'test', castCache: false, bundleCache: false,
    });
    bundles.push(outDir);
  }
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function merge(secrets: string[]): Promise<{ dir: string; stages: string[] }> {
  const stages: string[] = [];
  const r = await mergeBundles({
    inputs: bundles, outDir: join(root, 'merged', String(++n)), allowUnsigned: true, appVersion: 'test', secrets,
    onProgress: (_d, _t, stage) => void stages.push(stage),
  });
  return { dir: r.dir, stages };
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) if (d.isFile()) out.push(relative(dir, join(d.parentPath, d.name)));
  return out.sort();
}

interface Manifest {
  files: Array<{ path: string; format: string; sha256: string }>;
  redactions: { byFile: Record<string, number> };
  mergedFrom: Array<{ renamed: Record<string, string> }>;
}

describe("a merge's recordings", () => {
  it("are named as the exporter names them, with no secret of the lead's in any name or reference", async () => {
    const { dir, stages } = await merge([TEAM]);
    const all = await files(dir);
    for (const f of all) {
      expect(f).not.toContain(TEAM);
      expect(await readFile(join(dir, f), 'utf8'), f).not.toContain(TEAM);
    }
    const casts = all.filter((f) => f.endsWith('.cast'));
    // The redacted name is numbered past the look-alike id's; Bob's other recordings are the ~2 variants.
    expect(casts).toEqual([
      'terminals/S1/job-_REDACTED_configured-secret_-2.cast',
      'terminals/S1/job-_REDACTED_configured-secret_-2~2.cast',
      'terminals/S1/job-_REDACTED_configured-secret_.cast',
      'terminals/S1/job-_REDACTED_configured-secret_~2.cast',
      'terminals/S1/main.cast',
    ]);
    // Which is which: the look-alike keeps its name, so its content is the look-alike's.
    expect(await readFile(join(dir, 'terminals/S1/job-_REDACTED_configured-secret_.cast'), 'utf8')).toContain('look alice');
    expect(await readFile(join(dir, 'terminals/S1/job-_REDACTED_configured-secret_-2~2.cast'), 'utf8')).toContain('hi bob');

    const manifestText = await readFile(join(dir, 'manifest.json'), 'utf8');
    const manifest = JSON.parse(manifestText) as Manifest;
    expect(manifest.files.filter((f) => f.format === 'asciicast').map((f) => f.path).sort()).toEqual(casts);
    const hashes = await treeHashes(dir);
    for (const f of manifest.files) expect(hashes[f.path], f.path).toBe(f.sha256);
    // The exporters' redactions of the recordings (the ghp token in the output) moved to the
    // redacted names, beside what the merge redacted there itself (the id in the header's title).
    const { redactions } = JSON.parse(await readFile(join(dir, 'redactions.json'), 'utf8')) as { redactions: RedactionReport[] };
    const castEntries = redactions.filter((r) => r.file.endsWith('.cast'));
    expect(castEntries.map((r) => `${r.file}:${r.line} ${r.kind}`).sort()).toEqual([
      'terminals/S1/job-_REDACTED_configured-secret_-2.cast:1 configured-secret',
      'terminals/S1/job-_REDACTED_configured-secret_-2.cast:2 github-token',
      'terminals/S1/job-_REDACTED_configured-secret_-2~2.cast:1 configured-secret',
      'terminals/S1/job-_REDACTED_configured-secret_-2~2.cast:2 github-token',
    ]);
    for (const r of redactions) expect(all, r.file).toContain(r.file);
    for (const f of Object.keys(manifest.redactions.byFile)) expect(all, f).toContain(f);
    // Where each input's recording went, by the redacted name.
    for (const m of manifest.mergedFrom) for (const to of Object.values(m.renamed)) expect(casts).toContain(to);
    expect(Object.values(manifest.mergedFrom[1]!.renamed).sort()).toEqual([
      'terminals/S1/job-_REDACTED_configured-secret_-2~2.cast',
      'terminals/S1/job-_REDACTED_configured-secret_~2.cast',
    ]);
    expect(Object.values(manifest.mergedFrom[0]!.renamed)).toEqual(['terminals/S1/job-_REDACTED_configured-secret_-2.cast']);

    // What it reports as it goes is shown in the window and printed by the command line.
    expect(stages.some((s) => s.startsWith('copy terminals/S1/job-_REDACTED_configured-secret_-2.cast'))).toBe(true);
    expect(stages.some((s) => s.startsWith('verify ') && s.includes('terminals/S1/job-[REDACTED:configured-secret].cast'))).toBe(true);
    for (const s of stages) expect(s).not.toContain(TEAM);

    // The same on the next merge of the same inputs.
    expect(await treeHashes((await merge([TEAM])).dir)).toEqual(hashes);
  });

  it('keep their input names when they hold none of its secrets', async () => {
    const { dir } = await merge([]);
    expect((await files(dir)).filter((f) => f.endsWith('.cast'))).toEqual([
      `terminals/S1/${LOOKALIKE}.cast`,
      `terminals/S1/${LOOKALIKE}~2.cast`,
      `terminals/S1/${TID}.cast`,
      `terminals/S1/${TID}~2.cast`,
      'terminals/S1/main.cast',
    ]);
  });
});
