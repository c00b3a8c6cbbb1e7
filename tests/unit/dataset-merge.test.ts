// Merging dataset bundles: real bundles from exportBundle (two annotators sharing a
// session exported identically, a branch labelled differently, sessions of their own),
// merged through the API and through the built CLI.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloError } from '../../shared/errors';
import type { SessionEvent } from '../../shared/events';
import { exportBundle, type ExportBundleOptions, type ExportFormat, type Manifest } from '../../electron/core/dataset/bundle';
import { mergeBundles, type MergedManifest, type MergeReport } from '../../electron/core/dataset/merge';
import { validateAsciicast, validateOpenAIJsonl, validateShareGPTJsonl } from '../../electron/core/dataset/validate';
import { ok, realisticSession, run, SessionBuilder, SYSTEM_PROMPT, TOOLS, writeRecording } from '../fixtures/sessions';

const CLI = resolve(__dirname, '../../out/main/cli.js');
const SECRET = ['gh', 'p_', 'Mm3rg3Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0'].join('');

let root: string;
let bundleA: string;
let bundleB: string;
let manifestA: Manifest;
let manifestB: Manifest;

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** The same small rollout; the annotator's label on its first step differs. */
function conflictSession(label: 'keep' | 'mask', author: string): SessionEvent[] {
  const b = new SessionBuilder({ name: 'Count lines' });
  b.terminal('main');
  b.rollout({ task: 'Count the lines of data.csv' });
  const s1 = b.step({ content: 'Counting.', calls: [run('wc -l data.csv')], results: [ok('{"success": true, "output": "42 data.csv"}')] });
  b.step({ calls: [{ name: 'finish', args: { summary: '42 lines' } }], results: [ok()] });
  b.label(s1, label, { author, note: `${author} says ${label}` });
  return b.events;
}

function soloSession(name: string, command: string, author: string): SessionEvent[] {
  const b = new SessionBuilder({ name });
  b.rollout({ task: name });
  const s1 = b.step({ calls: [run(command)], results: [ok()] });
  b.step({ content: 'Done.', calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] });
  b.label(s1, 'keep', { author });
  return b.events;
}

async function recording(dir: string, events: SessionEvent[], text: string): Promise<void> {
  const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
  await writeRecording(dir, 'main', [{ ts: t0 + 10, data: '$ run\r\n' }, { ts: t0 + 20, data: `${text}\r\n` }]);
}

async function bundle(name: string, sessions: Array<{ id: string; events: SessionEvent[]; dir?: string }>, over: Partial<ExportBundleOptions> = {}): Promise<{ dir: string; manifest: Manifest }> {
  const outDir = join(root, 'bundles', name);
  const res = await exportBundle({
    home: join(root, 'home'),
    sessions: sessions.map((s) => ({ sessionId: s.id, events: s.events, sessionDir: s.dir ?? join(root, 'nowhere', s.id), systemPrompt: SYSTEM_PROMPT, tools: TOOLS })),
    outDir,
    formats: ['openai', 'sharegpt', 'trajectory', 'asciicast'],
    secrets: [],
    appVersion: '0.1.0-test',
    ...over,
  });
  return { dir: outDir, manifest: res.manifest };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) if (d.isFile()) out.push(relative(dir, join(d.parentPath, d.name)));
  return out.sort();
}

const lines = async (dir: string, file: string): Promise<string[]> => (await readFile(join(dir, file), 'utf8')).split('\n').slice(0, -1);
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
const leftovers = async (parent: string): Promise<string[]> => (await readdir(parent)).filter((n) => n.includes('.tmp-'));

const shared = realisticSession().events;
const confA = conflictSession('keep', 'alice');
const confB = conflictSession('mask', 'bob');
const onlyA = soloSession('Alice task', 'python prepare.py', 'alice');
const onlyB = soloSession('Bob task', `git push https://${SECRET}@github.com/x/y`, 'bob');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-merge-'));
  const sharedDir = join(root, 'home', 'sessions', 'shared');
  await recording(sharedDir, shared, 'epoch 1/3 loss 2.31');
  const confDirA = join(root, 'alice', 'sessions', 'conf');
  const confDirB = join(root, 'bob', 'sessions', 'conf');
  await recording(confDirA, confA, '42 data.csv');
  await recording(confDirB, confB, '42 data.csv (bob reran it)');
  ({ dir: bundleA, manifest: manifestA } = await bundle('alice', [{ id: 'shared', events: shared, dir: sharedDir }, { id: 'conf', events: confA, dir: confDirA }, { id: 'alice-only', events: onlyA }]));
  ({ dir: bundleB, manifest: manifestB } = await bundle('bob', [{ id: 'shared', events: shared, dir: sharedDir }, { id: 'conf', events: confB, dir: confDirB }, { id: 'bob-only', events: onlyB }]));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('mergeBundles', () => {
  let dir: string;
  let manifest: MergedManifest;
  let report: MergeReport;
  const progress: Array<[number, number, string]> = [];

  beforeAll(async () => {
    expect(manifestA.trajectories.map((t) => `${t.sessionId}/${t.branchId}`)).toEqual(['shared/main', 'shared/alt', 'conf/main', 'alice-only/main']);
    expect(manifestB.trajectories.map((t) => `${t.sessionId}/${t.branchId}`)).toEqual(['shared/main', 'shared/alt', 'conf/main', 'bob-only/main']);
    ({ dir, manifest, report } = await mergeBundles({ inputs: [bundleA, bundleB], outDir: join(root, 'merged', 'ab'), appVersion: '0.1.0-test', onProgress: (d, t, s) => progress.push([d, t, s]) }));
  });

  it('de-duplicates the identical shared trajectories and keeps both versions of the conflicting one', async () => {
    expect(report).toMatchObject({ bundles: 2, trajectoriesIn: 8, trajectories: 6, duplicatesDropped: 2, sessions: 4, formats: ['openai', 'sharegpt', 'trajectory', 'asciicast'], formatsDropped: [], labelPolicies: 'uniform', countsExact: true });
    expect(report.duplicates).toEqual([
      { sessionId: 'shared', branchId: 'main', bundle: bundleB, line: 1, keptLine: 1 },
      { sessionId: 'shared', branchId: 'alt', bundle: bundleB, line: 2, keptLine: 2 },
    ]);
    expect(report.conflicts).toEqual([{
      sessionId: 'conf', branchId: 'main', branchName: 'main', annotators: ['alice', 'bob'],
      variants: [{ line: 3, bundles: [bundleA], annotators: ['alice'] }, { line: 5, bundles: [bundleB], annotators: ['bob'] }],
    }]);
    expect(manifest.merge.conflicts).toEqual(report.conflicts);

    const a = await lines(bundleA, 'openai.jsonl');
    const b = await lines(bundleB, 'openai.jsonl');
    expect(a[0]).toBe(b[0]);
    expect(a[2]).not.toBe(b[2]);
    const merged = await lines(dir, 'openai.jsonl');
    expect(merged).toEqual([a[0], a[1], a[2], a[3], b[2], b[3]]);
    // the conflicting versions differ in the weight of the labelled action
    const weights = (l: string): unknown[] => (JSON.parse(l) as { messages: Array<{ role: string; weight?: number }> }).messages.filter((m) => m.role === 'assistant').map((m) => m.weight);
    expect(weights(merged[2]!)).toEqual([1, 1]);
    expect(weights(merged[4]!)).toEqual([0, 1]);
    const sa = await lines(bundleA, 'sharegpt.jsonl');
    const sb = await lines(bundleB, 'sharegpt.jsonl');
    expect(await lines(dir, 'sharegpt.jsonl')).toEqual([sa[0], sa[1], sa[2], sa[3], sb[2], sb[3]]);
    expect(manifest.trajectories.map((t) => [t.line, t.sessionId, t.branchId, t.source])).toEqual([
      [1, 'shared', 'main', 0], [2, 'shared', 'alt', 0], [3, 'conf', 'main', 0], [4, 'alice-only', 'main', 0], [5, 'conf', 'main', 1], [6, 'bob-only', 'main', 1],
    ]);
  });

  it('writes valid files listed in the manifest with matching SHA-256', async () => {
    const files = await listFiles(dir);
    expect(files).toEqual([
      'dataset_info.json', 'manifest.json', 'openai.jsonl', 'redactions.json', 'sharegpt.jsonl',
      'terminals/conf/main.cast', 'terminals/conf/main~2.cast', 'terminals/shared/main.cast', 'trajectory.jsonl',
    ]);
    expect(manifest.files.map((f) => f.path)).toEqual(files.filter((f) => f !== 'manifest.json'));
    for (const f of manifest.files) {
      const buf = await readFile(join(dir, f.path));
      expect(sha256(buf), f.path).toBe(f.sha256);
      expect(buf.length, f.path).toBe(f.bytes);
    }
    expect(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'))).toEqual(manifest);
    expect(validateOpenAIJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8'))).toEqual([]);
    expect(validateShareGPTJsonl(await readFile(join(dir, 'sharegpt.jsonl'), 'utf8'))).toEqual([]);
    for (const c of files.filter((f) => f.endsWith('.cast'))) expect(validateAsciicast(await readFile(join(dir, c), 'utf8')), c).toEqual([]);
    expect(await readFile(join(dir, 'dataset_info.json'), 'utf8')).toBe(await readFile(join(bundleA, 'dataset_info.json'), 'utf8'));
    // identical recordings stored once, the other version of conf/main under a fresh name
    expect(await readFile(join(dir, 'terminals/shared/main.cast'), 'utf8')).toBe(await readFile(join(bundleB, 'terminals/shared/main.cast'), 'utf8'));
    expect(await readFile(join(dir, 'terminals/conf/main~2.cast'), 'utf8')).toBe(await readFile(join(bundleB, 'terminals/conf/main.cast'), 'utf8'));
    expect(report.casts).toEqual({ written: 3, duplicatesDropped: 1, renamed: 1 });
    expect(manifest.mergedFrom[1]!.renamed).toEqual({ 'terminals/conf/main.cast': 'terminals/conf/main~2.cast' });
    expect(await leftovers(join(root, 'merged'))).toEqual([]);
    // one total from the start, one step per input file verified, output file written and validated
    const total = progress[0]![1];
    expect(progress.every(([d, t]) => t === total && d <= total)).toBe(true);
    expect(total).toBe(manifestA.files.length + manifestB.files.length + 2 * (manifest.files.length - 1) + 1);
    expect(progress.at(-1)).toEqual([total, total, 'done']);
    expect(progress.at(-2)![0]).toBe(total - 1);
    for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
  });

  it('concatenates trajectory.jsonl per session record, identical records once', async () => {
    const ta = await lines(bundleA, 'trajectory.jsonl');
    const tb = await lines(bundleB, 'trajectory.jsonl');
    const sessionOf = (l: string): string => (JSON.parse(l) as { sessionId: string }).sessionId;
    const merged = await lines(dir, 'trajectory.jsonl');
    expect(merged).toEqual([...ta, ...tb.filter((l) => sessionOf(l) !== 'shared')]);
    expect(report.sessionRecords).toEqual({ written: 5, duplicatesDropped: 1 });
    // each trajectory points at its session record
    for (const t of manifest.trajectories) {
      const rec = JSON.parse(merged[t.trajectoryLine! - 1]!) as { kind: string; sessionId: string };
      expect(rec).toMatchObject({ kind: 'session', sessionId: t.sessionId });
    }
    expect(manifest.trajectories[4]!.trajectoryLine).toBe(ta.length + 1);
  });

  it('records the inputs, the union of sessions and annotators, and recomputed counts', async () => {
    expect(manifest).toMatchObject({ format: 'apollo-dataset-bundle', formatVersion: 1, appVersion: '0.1.0-test', formats: ['openai', 'sharegpt', 'trajectory', 'asciicast'] });
    expect(manifest.labelPolicy).toEqual(manifestA.labelPolicy);
    expect(manifest.mergedFrom.map((m) => [m.path, m.annotators, m.counts, m.trajectories])).toEqual([
      [bundleA, manifestA.annotators, manifestA.counts, { total: 4, kept: 4, duplicates: 0 }],
      [bundleB, manifestB.annotators, manifestB.counts, { total: 4, kept: 2, duplicates: 2 }],
    ]);
    expect(manifest.mergedFrom[0]!.manifestSha256).toBe(sha256(await readFile(join(bundleA, 'manifest.json'))));
    expect(manifest.mergedFrom[1]!.manifestSha256).toBe(sha256(await readFile(join(bundleB, 'manifest.json'))));
    expect(manifest.mergedFrom[0]!.labelPolicy).toEqual(manifestA.labelPolicy);
    expect(manifest.sessions.map((s) => s.sessionId)).toEqual(['shared', 'conf', 'alice-only', 'bob-only']);
    expect(manifest.sessions[0]).toEqual(manifestA.sessions[0]);
    expect(manifest.annotators).toEqual([...new Set([...manifestA.annotators, ...manifestB.annotators])].sort());
    expect(manifest.annotators).toEqual(expect.arrayContaining(['alice', 'bob']));
    // shared: counted once; conf: the differently labelled action counts per version, the other once
    const c = manifest.counts;
    expect(c.sessions).toBe(4);
    expect(c.trajectories).toBe(6);
    expect(c.actions).toBe(manifestA.counts.actions + manifestB.counts.actions - 11 - 1);
    expect(c.steps).toBe(manifestA.counts.steps + manifestB.counts.steps - 11 - 1);
    expect(c.kept + c.masked).toBe(c.actions);
    expect(c.labelledBy.annotator).toBe(manifestA.counts.labelledBy.annotator + manifestB.counts.labelledBy.annotator - 2);
  });

  it('moves the redaction report to the merged lines', async () => {
    const { redactions } = JSON.parse(await readFile(join(dir, 'redactions.json'), 'utf8')) as { redactions: Array<{ file: string; line: number; kind: string }> };
    const bob = (JSON.parse(await readFile(join(bundleB, 'redactions.json'), 'utf8')) as { redactions: Array<{ file: string; line: number; kind: string }> }).redactions;
    expect(bob.find((r) => r.file === 'openai.jsonl')).toMatchObject({ line: 4, kind: 'github-token' });
    expect(redactions.find((r) => r.file === 'openai.jsonl')).toMatchObject({ line: 6, kind: 'github-token' });
    expect(redactions.find((r) => r.file === 'sharegpt.jsonl')).toMatchObject({ line: 6 });
    const all = (await Promise.all((await listFiles(dir)).map((f) => readFile(join(dir, f), 'utf8')))).join('\n');
    expect(all.includes(SECRET)).toBe(false);
    expect(manifest.redactions.total).toBe(redactions.reduce((n, r) => n + (r as unknown as { count: number }).count, 0));
  });

  it('is deterministic: merging again gives byte-identical files', async () => {
    const again = join(root, 'merged', 'ab-again');
    await mergeBundles({ inputs: [bundleA, bundleB], outDir: again, appVersion: '0.1.0-test' });
    const fa = await listFiles(dir);
    expect(await listFiles(again)).toEqual(fa);
    for (const f of fa) expect(sha256(await readFile(join(again, f))), f).toBe(sha256(await readFile(join(dir, f))));
  });

  it('gives the input counts back when merging one bundle, and nothing new when a merged bundle is merged with one of its inputs', async () => {
    const one = await mergeBundles({ inputs: [bundleA], outDir: join(root, 'merged', 'a-only'), appVersion: '0.1.0-test' });
    expect(one.manifest.counts).toEqual(manifestA.counts);
    expect(await readFile(join(one.dir, 'openai.jsonl'), 'utf8')).toBe(await readFile(join(bundleA, 'openai.jsonl'), 'utf8'));
    expect(await readFile(join(one.dir, 'trajectory.jsonl'), 'utf8')).toBe(await readFile(join(bundleA, 'trajectory.jsonl'), 'utf8'));

    const re = await mergeBundles({ inputs: [dir, bundleB], outDir: join(root, 'merged', 'ab-b'), appVersion: '0.1.0-test' });
    expect(re.report).toMatchObject({ trajectoriesIn: 10, trajectories: 6, duplicatesDropped: 4 });
    expect(re.report.conflicts).toHaveLength(1);
    expect(await readFile(join(re.dir, 'openai.jsonl'), 'utf8')).toBe(await readFile(join(dir, 'openai.jsonl'), 'utf8'));
    expect(re.manifest.counts).toEqual(manifest.counts);
    expect(re.manifest.mergedFrom[0]!.manifestSha256).toBe(sha256(await readFile(join(dir, 'manifest.json'))));
  });

  it('refuses an existing output folder', async () => {
    await expect(mergeBundles({ inputs: [bundleA, bundleB], outDir: dir })).rejects.toMatchObject({ code: 'CONFLICT' });
  });
});

describe('mergeBundles refuses', () => {
  async function tampered(name: string, edit: (buf: Buffer) => Buffer, file = 'openai.jsonl'): Promise<string> {
    const copy = join(root, 'bundles', name);
    await cp(bundleA, copy, { recursive: true });
    await writeFile(join(copy, file), edit(await readFile(join(copy, file))));
    return copy;
  }

  async function expectNothingWritten(inputs: string[], pattern: RegExp, code = 'BAD_REQUEST'): Promise<void> {
    const outDir = join(root, 'refused', 'out');
    await mkdir(join(root, 'refused'), { recursive: true });
    const err = await mergeBundles({ inputs, outDir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApolloError);
    expect((err as ApolloError).code).toBe(code);
    expect((err as ApolloError).message).toMatch(pattern);
    expect(await exists(outDir)).toBe(false);
    expect(await leftovers(join(root, 'refused'))).toEqual([]);
  }

  it('a bundle with one byte of openai.jsonl changed', async () => {
    const bad = await tampered('tampered', (b) => {
      const i = b.indexOf('Counting.');
      b[i] = 'K'.charCodeAt(0);
      return b;
    });
    await expectNothingWritten([bundleB, bad], new RegExp(`Bundle ${bad}: file openai\\.jsonl does not match its SHA-256`));
  });

  it('a truncated file, a missing file, a missing manifest, a foreign manifest', async () => {
    const truncated = await tampered('truncated', (b) => b.subarray(0, b.length - 10), 'trajectory.jsonl');
    await expectNothingWritten([bundleA, truncated], /truncated: file trajectory\.jsonl is \d+ bytes, the manifest says \d+/);
    const missing = await tampered('missing', (b) => b);
    await rm(join(missing, 'terminals/shared/main.cast'));
    await expectNothingWritten([missing], /missing: file terminals\/shared\/main\.cast listed in the manifest is missing/);
    const noManifest = await tampered('no-manifest', (b) => b);
    await rm(join(noManifest, 'manifest.json'));
    await expectNothingWritten([bundleA, noManifest], /no-manifest: no manifest\.json/);
    const foreign = await tampered('foreign', (b) => Buffer.from(b.toString('utf8').replace('"formatVersion": 1', '"formatVersion": 2')), 'manifest.json');
    await expectNothingWritten([foreign], /unsupported bundle formatVersion 2/);
    await expectNothingWritten([join(root, 'bundles', 'ghost')], /ghost does not exist/, 'NOT_FOUND');
    await expectNothingWritten([bundleA, bundleA], /listed twice/);
  });

  it('different label policies unless allowed, recording each policy', async () => {
    const strict = await bundle('strict', [{ id: 'strict-only', events: soloSession('Strict', 'make test', 'carol') }], { labelPolicy: { unlabelled: 'mask' } });
    await expectNothingWritten([bundleA, strict.dir], /different label policies/);
    const res = await mergeBundles({ inputs: [bundleA, strict.dir], outDir: join(root, 'merged', 'mixed'), allowMixedPolicies: true });
    expect(res.report.labelPolicies).toBe('mixed');
    expect(res.manifest.labelPolicy).toBeNull();
    expect(res.manifest.mergedFrom.map((m) => m.labelPolicy?.unlabelled)).toEqual(['keep', 'mask']);
  });

  it('to mix formats silently: merges the shared ones and reports the dropped', async () => {
    const formats: ExportFormat[] = ['openai', 'trajectory'];
    const slim = await bundle('slim', [{ id: 'slim-only', events: soloSession('Slim', 'ls', 'dave') }], { formats });
    const res = await mergeBundles({ inputs: [bundleA, slim.dir], outDir: join(root, 'merged', 'slim') });
    expect(res.manifest.formats).toEqual(formats);
    expect(res.report.formatsDropped).toEqual([{ format: 'sharegpt', missingFrom: [slim.dir] }, { format: 'asciicast', missingFrom: [slim.dir] }]);
    expect(await listFiles(res.dir)).toEqual(['manifest.json', 'openai.jsonl', 'redactions.json', 'trajectory.jsonl']);
    expect(res.manifest.sessions.every((s) => s.terminals.length === 0)).toBe(true);
    expect(res.manifest.counts.trajectories).toBe(5);
  });

  it('and leaves nothing behind when cancelled', async () => {
    const ctl = new AbortController();
    const outDir = join(root, 'refused', 'cancelled');
    let calls = 0;
    const err = await mergeBundles({ inputs: [bundleA, bundleB], outDir, signal: ctl.signal, onProgress: (_d, _t, stage) => {
      calls++;
      if (stage.startsWith('write')) ctl.abort();
    } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CANCELLED' });
    expect(calls).toBeGreaterThan(1);
    expect(await exists(outDir)).toBe(false);
    expect(await leftovers(join(root, 'refused'))).toEqual([]);
  });
});

describe('apollo merge', () => {
  function apollo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((r) => p.on('exit', (code) => r({ code, stdout, stderr })));
  }

  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error('run `npm run build` first (npm test does)');
  });

  it('merges and prints a summary', async () => {
    const out = join(root, 'cli', 'merged');
    const r = await apollo(['merge', bundleA, bundleB, '--out', out]);
    expect(r.stderr).toMatch(/merge \d+\/\d+ done/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`bundle ${out}`);
    expect(r.stdout).toMatch(/merged 2 bundles: 6 trajectories written of 8, 2 duplicates dropped, 1 conflict/);
    expect(r.stdout).toMatch(/conflict conf\/main: line 3 \(alice; from .*alice\) vs line 5 \(bob; from .*bob\)/);
    expect(r.stdout).toContain('openai.jsonl');
    const m = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as MergedManifest;
    expect(m.mergedFrom.map((x) => x.path)).toEqual([bundleA, bundleB]);
    expect(validateOpenAIJsonl(await readFile(join(out, 'openai.jsonl'), 'utf8'))).toEqual([]);
  });

  it('exits 1 with the error for a tampered bundle, 2 without --out', async () => {
    const bad = join(root, 'bundles', 'cli-tampered');
    await cp(bundleA, bad, { recursive: true });
    const buf = await readFile(join(bad, 'openai.jsonl'));
    buf[10] = buf[10] === 0x41 ? 0x42 : 0x41;
    await writeFile(join(bad, 'openai.jsonl'), buf);
    const out = join(root, 'cli', 'refused');
    const r = await apollo(['merge', bundleB, bad, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/apollo merge: Bundle .*cli-tampered: file openai\.jsonl does not match its SHA-256 .*\[BAD_REQUEST\]/);
    expect(await exists(out)).toBe(false);
    expect((await readdir(join(root, 'cli'))).filter((n) => n.includes('.tmp-'))).toEqual([]);
    expect((await apollo(['merge', bundleA])).code).toBe(2);
  });
});
