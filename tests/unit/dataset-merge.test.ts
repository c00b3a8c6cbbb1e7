// Merging dataset bundles by action. One session (a main branch and a branch that
// shares its first three steps) is labelled differently by three annotators, each
// exporting their own bundle; the merged bundles are read with the trainers' ported
// rules (tests/fixtures/trainers) and must train exactly the actions the policy keeps,
// each once. Then provenance and agreement (against hand-computed figures), bundles
// tampered with, a file slipped in, and merges of merged bundles.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloError } from '../../shared/errors';
import type { SessionEvent } from '../../shared/events';
import { exportBundle, type ExportBundleOptions, type Manifest } from '../../electron/core/dataset/bundle';
import { mergeBundles, type MergeBundlesOptions, type MergeBundlesResult, type MergedManifest } from '../../electron/core/dataset/merge';
import { mergedManifestSchema } from '../../electron/core/dataset/manifest-schema';
import { cohensKappa, fleissKappa } from '../../electron/core/dataset/merge-agreement';
import { fileKeyStore, loadSigningKey, signBundle, type SigningKey } from '../../electron/core/dataset/signing';
import { ok, run, SessionBuilder, writeRecording } from '../fixtures/sessions';
import * as ax from '../fixtures/trainers/axolotl';
import * as lf from '../fixtures/trainers/llamafactory';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';
import { parseYamlSubset } from '../fixtures/trainers/yaml-subset';

const CLI = resolve(__dirname, '../../out/main/cli.js');
const SECRET = ['gh', 'p_', 'Mm3rg3Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0'].join('');

type L = 'keep' | 'mask';
type Marker = 'M1' | 'M2' | 'M3' | 'M4' | 'M5' | 'MS' | 'M6' | 'A1' | 'A2';

/**
 * main: M1 … M5, MS (its command holds a token: the exporter masks that trained turn),
 * M6 (finish); branch alt from M3: A1, A2 (finish). A judge masked M6 and kept A2
 * before the session was copied to the annotators.
 */
function baseSession(): { events: SessionEvent[]; ids: Record<Marker, string> } {
  const b = new SessionBuilder({ name: 'Lab session' });
  b.terminal('main');
  b.rollout({ task: 'Prepare the lab report' });
  const step = (m: Marker, branchId = 'main'): string => m === 'M6' || m === 'A2'
    ? b.step({ branchId, calls: [{ name: 'finish', args: { summary: `MARK-${m} done` } }], results: [ok()] })
    : b.step({ branchId, content: `Step MARK-${m}.`, calls: [run(m === 'MS' ? `echo MARK-MS && git push https://${SECRET}@github.com/x/y` : `echo MARK-${m}`)], results: [ok()] });
  const ids = {} as Record<Marker, string>;
  for (const m of ['M1', 'M2', 'M3', 'M4', 'M5', 'MS', 'M6'] as const) ids[m] = step(m);
  b.branch({ branchId: 'alt', from: ids.M3, name: 'alt', author: 'lead' });
  ids.A1 = step('A1', 'alt');
  ids.A2 = step('A2', 'alt');
  b.label(ids.M6, 'mask', { source: 'judge', author: 'judge:test', rationale: 'judge thinks it is early' });
  b.label(ids.A2, 'keep', { source: 'judge', author: 'judge:test', rationale: 'fine' });
  return { events: b.events, ids };
}

const base = baseSession();
const ids = base.ids;
const markerOfStep = new Map(Object.entries(ids).map(([m, id]) => [id, m as Marker]));

/** Each annotator's labels (absent: not labelled by them). */
const LABELS: Record<'alice' | 'bob' | 'carol', Partial<Record<Marker, L>>> = {
  alice: { M1: 'keep', M2: 'mask', M3: 'keep', M4: 'keep', M5: 'keep', MS: 'keep', M6: 'keep', A1: 'mask' },
  bob: { M1: 'keep', M2: 'mask', M3: 'keep', M4: 'mask', M5: 'keep', MS: 'keep', M6: 'keep', A1: 'keep' },
  carol: { M1: 'keep', M2: 'keep', M3: 'keep', M4: 'mask', M5: 'mask', MS: 'keep', M6: 'keep' },
};

/** A session as an annotator's copy: their labels appended after it, at their own times. */
function withLabels(events: SessionEvent[], stepIds: Record<string, string>, author: string, labels: Record<string, L>, t0: number): SessionEvent[] {
  const out = events.slice();
  let seq = out.at(-1)!.seq;
  let ts = t0;
  for (const [m, label] of Object.entries(labels)) {
    out.push({ seq: ++seq, ts: (ts += 1000), type: 'label.set', stepId: stepIds[m]!, label, tags: label === 'mask' ? ['error'] : [], note: `${author} says ${label}`, source: 'annotator', author } as SessionEvent);
  }
  return out;
}

const annotatorCopy = (author: keyof typeof LABELS, t0: number): SessionEvent[] => withLabels(base.events, ids, author, LABELS[author], t0);

/** A session only Alice exported. */
function soloSession(): SessionEvent[] {
  const b = new SessionBuilder({ name: 'Solo' });
  b.rollout({ task: 'Solo task' });
  const s1 = b.step({ calls: [run('echo MARK-S1')], results: [ok()] });
  const s2 = b.step({ calls: [run('echo MARK-S2')], results: [ok()] });
  b.step({ calls: [{ name: 'finish', args: { summary: 'MARK-S3 done' } }], results: [ok()] });
  b.label(s1, 'keep', { author: 'alice' });
  b.label(s2, 'mask', { author: 'alice' });
  return b.events;
}

let root: string;
const bundles: Record<'alice' | 'bob' | 'carol', string> = { alice: '', bob: '', carol: '' };
const exported: Record<string, Manifest> = {};

/** Each person's signing key, as the app makes one on their first export. */
const keys = new Map<string, SigningKey>();
async function keyOf(name: string): Promise<SigningKey> {
  let k = keys.get(name);
  if (!k) keys.set(name, (k = (await loadSigningKey(fileKeyStore(join(root, 'keys', name)), name, { create: true }))!));
  return k;
}

/** An export as the app writes it: signed by the annotator it is named after. */
async function exportCopy(name: string, sessions: Array<{ id: string; events: SessionEvent[]; dir: string }>, over: Partial<ExportBundleOptions> = {}): Promise<string> {
  const outDir = join(root, 'bundles', name);
  const r = await exportBundle({
    home: join(root, 'home'),
    sessions: sessions.map((s) => ({ sessionId: s.id, events: s.events, sessionDir: s.dir })),
    outDir, formats: ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'], secrets: [], appVersion: '0.1.0-test', sign: await keyOf(name), ...over,
  });
  exported[name] = r.manifest;
  return outDir;
}

let n = 0;
/** A merge signed by the lead, so that merged bundles merge again under the default (signatures required). */
async function merge(inputs: string[], over: Partial<MergeBundlesOptions> = {}): Promise<MergeBundlesResult> {
  return mergeBundles({ inputs, outDir: join(root, 'merged', `m${++n}`), appVersion: '0.1.0-test', signWith: await keyOf('lead'), ...over });
}

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const text = (dir: string, f: string): Promise<string> => readFile(join(dir, f), 'utf8');
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
const leftovers = async (parent: string): Promise<string[]> => (await readdir(parent)).filter((x) => x.includes('.tmp-'));

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) if (d.isFile()) out.push(relative(dir, join(d.parentPath, d.name)));
  return out.sort();
}

/** Which step marker a trained turn carries. */
function markerIn(v: unknown): string {
  const m = /MARK-([A-Z0-9]+)/.exec(JSON.stringify(v));
  return m ? m[1]! : `?${JSON.stringify(v).slice(0, 80)}`;
}

/** The markers each trainer trains from a bundle, read with that trainer's ported rules. */
async function trainedBy(dir: string): Promise<Record<'openai' | 'axolotl' | 'llamafactory' | 'mistral', string[]>> {
  const openai = parseJsonl(await text(dir, 'openai.jsonl'));
  const oaTrained = openai.flatMap((l) => {
    expect(oa.validate(l)).toEqual([]);
    return oa.trainedTurns(l).trained.map((t) => markerIn([t.text, t.toolCalls]));
  });
  const cfg = parseYamlSubset(await text(dir, 'axolotl.yml')) as ax.AxolotlConfig;
  const [ds] = ax.chatTemplateDatasets(cfg);
  const axTrained = openai.flatMap((l) => {
    const r = ax.trainedTurns(l, ds!, cfg);
    expect(r.error ?? r.dropped).toBeUndefined();
    return r.trained.map((t) => markerIn([t.text, t.toolCalls]));
  });
  const info = JSON.parse(await text(dir, 'dataset_info.json')) as Record<string, unknown>;
  const train = parseYamlSubset(await text(dir, 'llamafactory.yaml')) as { mask_history: boolean; dataset: string };
  expect(train.mask_history).toBe(true);
  const lfTrained = lf.trainedTurnsOfFile(parseJsonl(await text(dir, 'sharegpt.jsonl')), info, train.dataset, { mask_history: true }).flatMap((r) => {
    expect(r.dropped).toBeUndefined();
    return r.trained.map((t) => markerIn(t.text));
  });
  const miTrained = parseJsonl(await text(dir, 'mistral.jsonl')).flatMap((l) => {
    const r = mi.trainedTurns(l, { dynamicChunkFnCall: true });
    expect(r.error).toBeUndefined();
    return r.trained.map((t) => markerIn([t.text, t.toolCalls]));
  });
  return { openai: oaTrained.sort(), axolotl: axTrained.sort(), llamafactory: lfTrained.sort(), mistral: miTrained.sort() };
}

/** Every trainer trains exactly `expected`, each once. */
async function expectTrained(dir: string, expected: string[]): Promise<void> {
  const t = await trainedBy(dir);
  const want = [...expected].sort();
  expect(t.openai).toEqual(want);
  expect(t.axolotl).toEqual(want);
  expect(t.llamafactory).toEqual(want);
  expect(t.mistral).toEqual(want);
}

// Solo's kept actions: S1 (alice keep) and S3 (unlabelled, trained by default); S2 masked.
const SOLO = ['S1', 'S3'];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-merge-'));
  const t0 = base.events.at(-1)!.ts + 60_000;
  const dirOf = async (who: string): Promise<string> => {
    const d = join(root, who, 'sessions', 'lab');
    const start = base.events.find((e) => e.type === 'terminal.started')!.ts;
    await writeRecording(d, 'main', [{ ts: start + 10, data: '$ echo MARK-M1\r\n' }, { ts: start + 20, data: 'MARK-M1\r\n' }]);
    return d;
  };
  bundles.alice = await exportCopy('alice', [{ id: 'lab', events: annotatorCopy('alice', t0), dir: await dirOf('alice') }, { id: 'solo', events: soloSession(), dir: join(root, 'nowhere') }]);
  bundles.bob = await exportCopy('bob', [{ id: 'lab', events: annotatorCopy('bob', t0 + 100_000), dir: await dirOf('bob') }]);
  bundles.carol = await exportCopy('carol', [{ id: 'lab', events: annotatorCopy('carol', t0 + 200_000), dir: await dirOf('carol') }]);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('the exported bundles', () => {
  it('each train their annotator\'s labels (the fixture is what the merge tests assume)', async () => {
    await expectTrained(bundles.alice, ['M1', 'M3', 'M4', 'M5', 'M6', 'A2', ...SOLO]);
    await expectTrained(bundles.bob, ['M1', 'M3', 'M5', 'M6', 'A1', 'A2']);
    // Carol did not look at alt: A1 is unreviewed, trained by the default policy.
    await expectTrained(bundles.carol, ['M1', 'M2', 'M3', 'M6', 'A1', 'A2']);
    // MS held a token: masked in every bundle although everyone kept it.
    const red = JSON.parse(await text(bundles.alice, 'redactions.json')) as { maskedTurns: unknown[] };
    expect(red.maskedTurns).toHaveLength(1);
  });
});

describe('mergeBundles by action', () => {
  const ABC = (): string[] => [bundles.alice, bundles.bob, bundles.carol];

  it('any-mask: an action anyone masked is not trained; kept actions are trained once each', async () => {
    const r = await merge(ABC(), { policy: { kind: 'any-mask' } });
    await expectTrained(r.dir, ['M1', 'M3', 'M6', 'A2', ...SOLO]);
    expect(r.report.policy).toBe('any-mask');
  });

  it('majority: more keeps than masks trains, a tie masks', async () => {
    const r = await merge(ABC(), { policy: { kind: 'majority' } });
    // M2 1–2 mask, M4 1–2 mask, M5 2–1 keep, A1 1–1 tie → mask.
    await expectTrained(r.dir, ['M1', 'M3', 'M5', 'M6', 'A2', ...SOLO]);
    const how = Object.fromEntries(r.report.conflicts.map((c) => [markerOfStep.get(c.stepId), `${c.decision}: ${c.settledBy}`]));
    expect(how).toEqual({ M2: 'mask: majority 2–1 mask', M4: 'mask: majority 2–1 mask', M5: 'keep: majority 2–1 keep', A1: 'mask: majority tie 1–1 → mask' });
  });

  it('prefer:carol,bob: the first named annotator who labelled it wins', async () => {
    const r = await merge(ABC(), { policy: { kind: 'prefer', annotators: ['carol', 'bob'] } });
    // Carol keeps M2, masks M4 and M5; she did not label A1, so Bob's keep decides it.
    await expectTrained(r.dir, ['M1', 'M2', 'M3', 'M6', 'A1', 'A2', ...SOLO]);
    expect(r.report.conflicts.find((c) => c.stepId === ids.A1)!.settledBy).toBe('prefer bob');
  });

  it('manual: refused with the conflicts listed and nothing written; settled by the lead it merges', async () => {
    const outDir = join(root, 'merged', 'manual');
    const err = await mergeBundles({ inputs: ABC(), outDir, policy: { kind: 'manual' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApolloError);
    expect((err as ApolloError).message).toMatch(/^4 conflict\(s\) to settle under the manual policy/);
    const listed = ((err as ApolloError).details as { conflicts: Array<{ stepId: string; votes: string }> }).conflicts;
    expect(listed.map((c) => markerOfStep.get(c.stepId))).toEqual(['M2', 'M4', 'M5', 'A1']);
    expect(listed[0]!.votes).toBe('alice mask, bob mask, carol keep');
    expect(await exists(outDir)).toBe(false);
    const settlements = (['M2', 'M4', 'M5', 'A1'] as const).map((m) => ({ sessionId: 'lab', stepId: ids[m], label: 'keep' as const }));
    const r = await merge(ABC(), { policy: { kind: 'manual' }, settlements });
    await expectTrained(r.dir, ['M1', 'M2', 'M3', 'M4', 'M5', 'M6', 'A1', 'A2', ...SOLO]);
    expect(r.report.conflicts.every((c) => c.settledBy === 'manual')).toBe(true);
  });

  it('a differently labelled copy of a branch is one example: the shared windows are written once', async () => {
    const r = await merge(ABC(), { policy: { kind: 'majority' } });
    const lines = parseJsonl(await text(r.dir, 'openai.jsonl'));
    // lab/main, lab/alt, solo/main: one window each, whatever the three annotators labelled.
    expect(r.manifest.trajectories.map((t) => `${t.sessionId}/${t.branchId}`)).toEqual(['lab/main', 'lab/alt', 'solo/main']);
    expect(lines).toHaveLength(3);
    expect(r.report.examples).toEqual({ in: 7, distinct: 3, out: 3, duplicates: 4, nothingToTrain: 0 });
    // The shared prefix (M1–M3) is context on alt, trained on main only.
    expect(r.manifest.trajectories[1]!.trainedSteps.map((id) => markerOfStep.get(id))).toEqual(['A2']);
    // A turn that held a secret stays masked, whatever the votes.
    const ms = r.manifest.counts.maskedBy.secret;
    expect(ms).toBe(1);
  });

  it('writes a bundle like an export: every trainer file, listed with its hash, valid against the manifest schema', async () => {
    const progress: Array<[number, number, string]> = [];
    const r = await merge(ABC(), { onProgress: (d, t, s) => progress.push([d, t, s]) });
    // One total from the start; progress only moves forward and ends on it.
    const total = progress[0]![1];
    expect(progress.every(([d, t]) => t === total && d <= total)).toBe(true);
    for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
    expect(progress.at(-1)).toEqual([progress.at(-1)![1], progress.at(-1)![1], 'done']);
    expect(progress.at(-2)![0]).toBe(progress.at(-1)![1] - 1);
    const files = await listFiles(r.dir);
    expect(files).toEqual([
      'axolotl.yml', 'dataset_info.json', 'llamafactory.yaml', 'manifest.json', 'manifest.sig', 'merge-report.html', 'merge-report.json', 'mistral.jsonl', 'openai.jsonl',
      'redactions.json', 'sharegpt.jsonl', 'terminals/lab/main.cast', 'trajectory.jsonl',
    ]);
    // Everything but the manifest and its signature is listed, the report too.
    expect(r.manifest.files.map((f) => f.path)).toEqual(files.filter((f) => f !== 'manifest.json' && f !== 'manifest.sig'));
    for (const f of r.manifest.files) {
      const buf = await readFile(join(r.dir, f.path));
      expect(sha256(buf), f.path).toBe(f.sha256);
      expect(buf.length, f.path).toBe(f.bytes);
    }
    const onDisk = JSON.parse(await text(r.dir, 'manifest.json')) as unknown;
    expect(onDisk).toEqual(r.manifest);
    expect(mergedManifestSchema.safeParse(onDisk).success).toBe(true);
    expect(r.manifest.actions.length).toBe(parseJsonl(await text(r.dir, 'sharegpt.jsonl')).length);
    expect(r.manifest.counts).toMatchObject({ sessions: 2, trajectories: 3, actions: 12, kept: 6, masked: 6, actionLines: 6 });
    // Identical recordings from the three bundles: stored once.
    expect(r.report.casts).toEqual({ written: 1, duplicatesDropped: 2, renamed: 0 });
    const all = (await Promise.all(files.map((f) => text(r.dir, f)))).join('\n');
    expect(all.includes(SECRET)).toBe(false);
    expect(await leftovers(join(root, 'merged'))).toEqual([]);
  });

  it('records provenance: per example the bundles and annotators, per conflict the labels, who gave them and how it was settled', async () => {
    const r = await merge(ABC(), { policy: { kind: 'majority' } });
    const m = r.manifest;
    expect(m.merge.origins.map((o) => o.path)).toEqual(ABC());
    expect(m.merge.origins.map((o) => o.manifestSha256)).toEqual(await Promise.all(ABC().map(async (d) => sha256(await readFile(join(d, 'manifest.json'))))));
    expect(m.trajectories.map((t) => t.bundles)).toEqual([[0, 1, 2], [0, 1, 2], [0]]);
    expect(m.trajectories[0]!.annotators).toEqual(['alice', 'bob', 'carol']);
    // Solo: S1 by alice, S3 unreviewed.
    expect(m.trajectories[2]!.annotators).toEqual(['alice']);
    const m2 = m.merge.conflicts.find((c) => c.stepId === ids.M2)!;
    expect(m2).toEqual({
      sessionId: 'lab', stepId: ids.M2, branchIds: ['main', 'alt'],
      votes: [
        { annotator: 'alice', source: 'annotator', label: 'mask', tags: ['error'], note: 'alice says mask', bundles: [bundles.alice] },
        { annotator: 'bob', source: 'annotator', label: 'mask', tags: ['error'], note: 'bob says mask', bundles: [bundles.bob] },
        { annotator: 'carol', source: 'annotator', label: 'keep', tags: [], note: 'carol says keep', bundles: [bundles.carol] },
      ],
      decision: 'mask', settledBy: 'majority 2–1 mask',
    });
    // The judge's mask on M6 is outranked by the annotators (no conflict); A2 rests on the judge alone.
    expect(m.merge.conflicts.map((c) => markerOfStep.get(c.stepId))).toEqual(['M2', 'M4', 'M5', 'A1']);
    const traj = parseJsonl(await text(r.dir, 'trajectory.jsonl')) as Array<{ kind: string; stepId?: string; weight?: number | null; weightReason?: string; merge?: { votes: Array<{ author: string; origin: number }> } }>;
    const a2 = traj.find((x) => x.stepId === ids.A2)!;
    expect(a2).toMatchObject({ weight: 1, weightReason: 'judge' });
    expect(a2.merge!.votes.map((v) => v.author)).toEqual(['judge:test']);
    const m5 = traj.find((x) => x.stepId === ids.M5)!;
    expect(m5.merge!.votes.map((v) => [v.author, v.origin])).toEqual([['alice', 0], ['bob', 1], ['carol', 2]]);
    expect(m.merge.annotators.map((a) => [a.annotator, a.actions, a.keep, a.mask])).toEqual([['alice', 10, 7, 3], ['bob', 8, 6, 2], ['carol', 7, 5, 2]]);
    expect(m.mergedFrom.map((x) => [x.path, x.examples])).toEqual([[bundles.alice, { total: 3, used: 3 }], [bundles.bob, { total: 2, used: 2 }], [bundles.carol, { total: 2, used: 2 }]]);
  });

  it('agreement: Cohen\'s kappa per pair and Fleiss\' kappa equal the hand-computed figures', async () => {
    const { report } = await merge(ABC());
    const a = report.agreement;
    // 8 actions with two or more annotator labels: M1–M6 and MS by three, A1 by two (A2 and solo by one or none).
    expect(a.items).toBe(8);
    const pair = (x: string, y: string) => a.pairs.find((p) => p.annotators[0] === x && p.annotators[1] === y)!;
    // alice–bob on 8: agree 6 (not M4, A1), each kept 6; p_o = .75, p_e = (6/8)² + (2/8)² = .625 → κ = .125/.375 = 1/3
    expect(pair('alice', 'bob')).toEqual({ annotators: ['alice', 'bob'], items: 8, agreed: 6, agreement: 0.75, kappa: 0.3333 });
    // alice–carol on 7: agree 4; p_e = 6/7·5/7 + 1/7·2/7 = 32/49 → κ = (28/49 − 32/49)/(17/49) = −4/17
    expect(pair('alice', 'carol')).toEqual({ annotators: ['alice', 'carol'], items: 7, agreed: 4, agreement: 0.5714, kappa: -0.2353 });
    // bob–carol on 7: agree 5; p_e = (5/7)² + (2/7)² = 29/49 → κ = (35/49 − 29/49)/(20/49) = .3
    expect(pair('bob', 'carol')).toEqual({ annotators: ['bob', 'carol'], items: 7, agreed: 5, agreement: 0.7143, kappa: 0.3 });
    // Fleiss–Cuzick: N = 8, Σ n_i = 23, n̄ − 1 = 15/8, p̄ = 17/23; within Σ x(n − x)/n = 3 · 2/3 (M2, M4,
    // M5) + 1/2 (A1) = 5/2; N(n̄ − 1)p̄q̄ = 1530/529 → κ = 1 − 2645/3060 = 83/612; agreeing pairs 15 of 22.
    expect(a.fleissKappa).toBe(Math.round((83 / 612) * 10_000) / 10_000);
    expect(a.pairwise).toBe(Math.round((15 / 22) * 10_000) / 10_000);
  });

  it('kappa helpers: perfect agreement is 1, one label only is undefined', () => {
    expect(cohensKappa([['keep', 'keep'], ['mask', 'mask']]).kappa).toBe(1);
    expect(cohensKappa([['keep', 'keep'], ['keep', 'keep']]).kappa).toBeNull();
    expect(fleissKappa([{ keep: 3, mask: 0 }, { keep: 0, mask: 3 }]).kappa).toBe(1);
    expect(fleissKappa([{ keep: 1, mask: 0 }])).toEqual({ items: 0, pairwise: null, kappa: null });
    expect(fleissKappa([{ keep: 2, mask: 0 }, { keep: 3, mask: 0 }]).kappa).toBeNull();
  });

  it('Fleiss\' kappa with the same raters on every item is Fleiss\' (1971): P̄ against P̄e', () => {
    // Four raters on five items; Fleiss (1971): P_i = Σ_k n_ik(n_ik − 1)/(n(n − 1)), p_k over all ratings.
    const items = [{ keep: 4, mask: 0 }, { keep: 3, mask: 1 }, { keep: 2, mask: 2 }, { keep: 0, mask: 4 }, { keep: 1, mask: 3 }];
    const pBar = items.reduce((s, { keep, mask }) => s + (keep * (keep - 1) + mask * (mask - 1)) / 12, 0) / items.length;
    const pk = 10 / 20;
    const pe = pk * pk + (1 - pk) * (1 - pk);
    expect(fleissKappa(items).kappa).toBe(Math.round(((pBar - pe) / (1 - pe)) * 10_000) / 10_000);
    // Two raters each: Scott's pi, (p_o − p_e)/(1 − p_e) with pooled marginals.
    const two = [{ keep: 2, mask: 0 }, { keep: 1, mask: 1 }, { keep: 0, mask: 2 }, { keep: 2, mask: 0 }];
    const po = 3 / 4;
    const p2 = 5 / 8;
    const pe2 = p2 * p2 + (1 - p2) * (1 - p2);
    expect(fleissKappa(two).kappa).toBe(Math.round(((po - pe2) / (1 - pe2)) * 10_000) / 10_000);
  });
});

describe('windows after a summary, split differently by each annotator', () => {
  /** L1, L2, then L3 carries a summary of L1–L2 (a new window starts), L4. */
  function longSession(): { events: SessionEvent[]; ids: Record<string, string> } {
    const b = new SessionBuilder({ name: 'Long' });
    b.rollout({ task: 'Long task' });
    const ids: Record<string, string> = {};
    for (const m of ['L1', 'L2', 'L3', 'L4']) ids[m] = b.step({ content: `Step MARK-${m}.`, calls: [run(`echo MARK-${m}`)], results: [ok()] });
    b.summary(ids.L3!, 'Listed the files twice.', [ids.L1!, ids.L2!]);
    return { events: b.events, ids };
  }

  it('trains each kept action once and never a summary turn', async () => {
    const long = longSession();
    const dana = await exportCopy('dana', [{ id: 'long', events: withLabels(long.events, long.ids, 'dana', { L1: 'keep', L2: 'keep', L3: 'mask', L4: 'keep' }, 1e12), dir: join(root, 'nowhere') }]);
    // Erin exported with a token limit: her examples are cut into other windows than Dana's.
    const erin = await exportCopy('erin', [{ id: 'long', events: withLabels(long.events, long.ids, 'erin', { L1: 'mask', L2: 'keep', L3: 'keep', L4: 'keep' }, 2e12), dir: join(root, 'nowhere') }], { maxTokens: 2300 });
    expect(exported.erin!.trajectories.length).toBeGreaterThan(exported.dana!.trajectories.length);
    expect(exported.dana!.trajectories[1]!.turnSteps[0]).toBeNull();
    const anyMask = await merge([dana, erin]);
    await expectTrained(anyMask.dir, ['L2', 'L4']);
    expect(anyMask.manifest.warnings.join('\n')).toMatch(/different token limits/);
    const preferErin = await merge([dana, erin], { policy: { kind: 'prefer', annotators: ['erin'] } });
    await expectTrained(preferErin.dir, ['L2', 'L3', 'L4']);
    const preferDana = await merge([erin, dana], { policy: { kind: 'prefer', annotators: ['dana'] } });
    await expectTrained(preferDana.dir, ['L1', 'L2', 'L4']);
  });

  it('trains a turn in a split that cut its request only when no copy holds the whole request', async () => {
    const long = longSession();
    const all = { L1: 'keep', L2: 'keep', L3: 'keep', L4: 'keep' } as const;
    const whole = await exportCopy('dana-all', [{ id: 'long', events: withLabels(long.events, long.ids, 'dana', all, 1e12), dir: join(root, 'nowhere') }]);
    const split = await exportCopy('erin-all', [{ id: 'long', events: withLabels(long.events, long.ids, 'erin', all, 2e12), dir: join(root, 'nowhere') }], { maxTokens: 2300 });
    // Erin's export trains some turns in a split whose request is cut; Dana's holds every request whole.
    expect(exported['erin-all']!.trajectories.some((t) => t.truncated && t.trainedSteps.length)).toBe(true);
    expect(exported['dana-all']!.trajectories.some((t) => t.truncated)).toBe(false);
    for (const inputs of [[split, whole], [whole, split]]) {
      const m = await merge(inputs);
      await expectTrained(m.dir, ['L1', 'L2', 'L3', 'L4']);
      expect(m.manifest.trajectories.filter((t) => t.truncated).flatMap((t) => t.trainedSteps)).toEqual([]);
    }
    // Alone, the split trains where it can.
    const alone = await merge([split]);
    await expectTrained(alone.dir, ['L1', 'L2', 'L3', 'L4']);
    expect(alone.manifest.trajectories.some((t) => t.truncated && t.trainedSteps.length)).toBe(true);
  });
});

describe('an action repeated after a summary', () => {
  /** L1, L2, then L3 carries a summary of L1 only: L2 is in L3's and L4's context again, after the summary. */
  function recentKept(): { events: SessionEvent[]; ids: Record<string, string> } {
    const b = new SessionBuilder({ name: 'Recent kept' });
    b.rollout({ task: 'Recent task' });
    const ids: Record<string, string> = {};
    for (const m of ['L1', 'L2', 'L3', 'L4']) ids[m] = b.step({ content: `Step MARK-${m}.`, calls: [run(`echo MARK-${m}`)], results: [ok()] });
    b.summary(ids.L3!, 'SUMMARY-OF-L1 listed the files.', [ids.L1!]);
    return { events: b.events, ids };
  }

  /** The bundle as a version before ownContext wrote it (no ownContext, no truncated), signed again by `who`. */
  async function asOlderVersion(dir: string, who: string): Promise<void> {
    const manifest = JSON.parse(await text(dir, 'manifest.json')) as Manifest;
    for (const t of manifest.trajectories) {
      delete (t as { ownContext?: boolean[] }).ownContext;
      delete (t as { truncated?: true }).truncated;
    }
    await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await signBundle(dir, await keyOf(who));
  }

  /** Per trained marker of openai.jsonl, whether the messages before that turn hold the summary. */
  async function trainedAfterSummary(dir: string): Promise<Record<string, boolean>> {
    const out: Record<string, boolean> = {};
    for (const l of parseJsonl(await text(dir, 'openai.jsonl'))) {
      const messages = (l as { messages: unknown[] }).messages;
      for (const t of oa.trainedTurns(l).trained) out[markerIn([t.text, t.toolCalls])] = JSON.stringify(messages.slice(0, t.index)).includes('SUMMARY-OF-L1');
    }
    return out;
  }

  it('is trained only in the context its reply was produced in, whatever the order of the bundles', async () => {
    const r = recentKept();
    // Frank masked L1 and L2: his window before the summary trains nothing and is not in his
    // bundle; his window after it holds L2 as context (weight 0).
    const frank = await exportCopy('frank', [{ id: 'recent', events: withLabels(r.events, r.ids, 'frank', { L1: 'mask', L2: 'mask', L3: 'keep', L4: 'keep' }, 1e12), dir: join(root, 'nowhere') }]);
    const gina = await exportCopy('gina', [{ id: 'recent', events: withLabels(r.events, r.ids, 'gina', { L1: 'mask', L2: 'keep', L3: 'keep', L4: 'keep' }, 2e12), dir: join(root, 'nowhere') }]);
    // (The first turn is the summary, no step's.)
    expect(exported.frank!.trajectories.map((t) => t.turnSteps)).toEqual([[null, r.ids.L2, r.ids.L3, r.ids.L4]]);
    expect(exported.frank!.trajectories[0]!.ownContext).toEqual([false, false, true, true]);
    expect(await trainedAfterSummary(gina)).toEqual({ L2: false, L3: true, L4: true });
    for (const inputs of [[frank, gina], [gina, frank]]) {
      const m = await merge(inputs, { policy: { kind: 'prefer', annotators: ['gina'] } });
      await expectTrained(m.dir, ['L2', 'L3', 'L4']);
      expect(await trainedAfterSummary(m.dir)).toEqual({ L2: false, L3: true, L4: true });
      // A merged bundle says so too, and merges again to the same lines.
      expect(m.manifest.trajectories.find((t) => t.turnSteps.length === 4)?.ownContext).toEqual([false, false, true, true]);
      const again = await merge([m.dir], { policy: { kind: 'prefer', annotators: ['gina'] } });
      expect(await text(again.dir, 'openai.jsonl')).toBe(await text(m.dir, 'openai.jsonl'));
    }
  });

  it('is trained where a newer copy says its context is its own, even after an older copy that did not train it', async () => {
    const r = recentKept();
    // Frank (an older version) kept L1 and masked L2: his window before the summary is there, L2 at weight 0.
    const frank = await exportCopy('frank-older', [{ id: 'recent', events: withLabels(r.events, r.ids, 'frank', { L1: 'keep', L2: 'mask', L3: 'keep', L4: 'keep' }, 1e12), dir: join(root, 'nowhere') }]);
    const gina = await exportCopy('gina-newer', [{ id: 'recent', events: withLabels(r.events, r.ids, 'gina', { L1: 'keep', L2: 'keep', L3: 'keep', L4: 'keep' }, 2e12), dir: join(root, 'nowhere') }]);
    await asOlderVersion(frank, 'frank-older');
    for (const inputs of [[frank, gina], [gina, frank]]) {
      const m = await merge(inputs, { policy: { kind: 'prefer', annotators: ['gina'] } });
      await expectTrained(m.dir, ['L1', 'L2', 'L3', 'L4']);
      expect(await trainedAfterSummary(m.dir)).toEqual({ L1: false, L2: false, L3: true, L4: true });
    }
  });

  it('in a merged bundle from before turns said so, is trained only where another copy says its context is its own', async () => {
    const r = recentKept();
    const gina = await exportCopy('gina-m', [{ id: 'recent', events: withLabels(r.events, r.ids, 'gina', { L1: 'keep', L2: 'keep', L3: 'keep', L4: 'keep' }, 2e12), dir: join(root, 'nowhere') }]);
    const m = await merge([gina]);
    await asOlderVersion(m.dir, 'lead');
    const alone = await merge([m.dir]);
    await expectTrained(alone.dir, []);
    expect(alone.manifest.warnings.join('\n')).toMatch(/merged by a version that did not record which turns are in a context of their own/);
    const withCopy = await merge([m.dir, gina]);
    await expectTrained(withCopy.dir, ['L1', 'L2', 'L3', 'L4']);
  });

  it('in a bundle exported before turns said so, is trained only where an export trained it', async () => {
    const r = recentKept();
    const frank = await exportCopy('frank-old', [{ id: 'recent', events: withLabels(r.events, r.ids, 'frank', { L1: 'mask', L2: 'mask', L3: 'keep', L4: 'keep' }, 1e12), dir: join(root, 'nowhere') }]);
    const gina = await exportCopy('gina-old', [{ id: 'recent', events: withLabels(r.events, r.ids, 'gina', { L1: 'mask', L2: 'keep', L3: 'keep', L4: 'keep' }, 2e12), dir: join(root, 'nowhere') }]);
    await asOlderVersion(frank, 'frank-old');
    await asOlderVersion(gina, 'gina-old');
    const m = await merge([frank, gina], { policy: { kind: 'prefer', annotators: ['gina'] } });
    await expectTrained(m.dir, ['L2', 'L3', 'L4']);
    expect(await trainedAfterSummary(m.dir)).toEqual({ L2: false, L3: true, L4: true });
  });
});

describe('merging merged bundles', () => {
  it('a merged bundle merges to itself, and an input merged again counts once', async () => {
    const abc = await merge([bundles.alice, bundles.bob, bundles.carol], { policy: { kind: 'majority' } });
    const again = await merge([abc.dir], { policy: { kind: 'majority' } });
    for (const f of ['openai.jsonl', 'sharegpt.jsonl', 'mistral.jsonl', 'axolotl.yml', 'llamafactory.yaml', 'trajectory.jsonl']) {
      expect(await text(again.dir, f), f).toBe(await text(abc.dir, f));
    }
    expect(again.manifest.merge.origins).toEqual(abc.manifest.merge.origins);
    expect(again.manifest.merge.agreement).toEqual(abc.manifest.merge.agreement);
    // Bob's bundle again: his votes are already in; nothing changes.
    const plusBob = await merge([abc.dir, bundles.bob], { policy: { kind: 'majority' } });
    expect(await text(plusBob.dir, 'openai.jsonl')).toBe(await text(abc.dir, 'openai.jsonl'));
    expect(plusBob.manifest.merge.conflicts).toEqual(abc.manifest.merge.conflicts);
  });

  it('a merge of merges equals the merge of the originals', async () => {
    const abc = await merge([bundles.alice, bundles.bob, bundles.carol], { policy: { kind: 'majority' } });
    const ab = await merge([bundles.alice, bundles.bob], { policy: { kind: 'majority' } });
    // Alice and Bob alone tie on M4 and A1: both masked.
    await expectTrained(ab.dir, ['M1', 'M3', 'M5', 'M6', 'A2', ...SOLO]);
    const abThenC = await merge([ab.dir, bundles.carol], { policy: { kind: 'majority' } });
    for (const f of ['openai.jsonl', 'sharegpt.jsonl', 'mistral.jsonl', 'trajectory.jsonl']) {
      expect(await text(abThenC.dir, f), f).toBe(await text(abc.dir, f));
    }
    expect(abThenC.manifest.merge.conflicts).toEqual(abc.manifest.merge.conflicts);
    expect(abThenC.manifest.merge.agreement).toEqual(abc.manifest.merge.agreement);
    expect(abThenC.manifest.trajectories.map((t) => t.bundles)).toEqual(abc.manifest.trajectories.map((t) => t.bundles));
  });

  it('is deterministic: the same inputs give byte-identical files', async () => {
    const a = await merge([bundles.alice, bundles.bob]);
    const b = await merge([bundles.alice, bundles.bob]);
    const files = await listFiles(a.dir);
    expect(await listFiles(b.dir)).toEqual(files);
    for (const f of files) expect(sha256(await readFile(join(b.dir, f))), f).toBe(sha256(await readFile(join(a.dir, f))));
  });
});

describe('settlements outlive their merge', () => {
  const ABC = (): string[] => [bundles.alice, bundles.bob, bundles.carol];
  // The lead settles the four conflicts in the Merge view (no labels named: the current work).
  const leads = (): Array<{ sessionId: string; stepId: string; label: L }> =>
    (['M2', 'M4', 'M5', 'A1'] as const).map((m) => ({ sessionId: 'lab', stepId: ids[m], label: m === 'M4' ? 'mask' : 'keep' }));
  const SETTLED = ['M1', 'M2', 'M3', 'M5', 'M6', 'A1', 'A2', ...SOLO];
  let first: MergeBundlesResult;

  beforeAll(async () => {
    first = await merge(ABC(), { policy: { kind: 'manual' }, settlements: leads() });
  });

  it('are stored with the merge: each with the labels it settled', () => {
    const m4 = first.manifest.merge.conflicts.find((c) => c.stepId === ids.M4)!;
    expect([m4.decision, m4.settledBy, m4.votes.map((v) => `${v.annotator} ${v.label}`)]).toEqual(['mask', 'manual', ['alice keep', 'bob mask', 'carol mask']]);
  });

  it('apply again to the same bundles given the earlier merge (its folder, its manifest or its report), and to a merge of it', async () => {
    await expectTrained(first.dir, SETTLED);
    for (const from of [first.dir, join(first.dir, 'manifest.json'), join(first.dir, 'merge-report.json')]) {
      const again = await merge(ABC(), { policy: { kind: 'manual' }, settlementsFrom: [from] });
      expect(await text(again.dir, 'openai.jsonl'), from).toBe(await text(first.dir, 'openai.jsonl'));
      expect(again.manifest.merge.conflicts).toEqual(first.manifest.merge.conflicts);
    }
    // Its step records carry them too: merged again under any policy, the lead's decisions stand.
    const ofMerge = await merge([first.dir], { policy: { kind: 'any-mask' } });
    await expectTrained(ofMerge.dir, SETTLED);
  });

  it('apply to a superset: a new annotator\'s label does not re-open a settled conflict', async () => {
    const dave = await exportCopy('dave', [{ id: 'lab', events: withLabels(base.events, ids, 'dave', { M2: 'mask', M5: 'mask' }, 9e12), dir: join(root, 'nowhere') }]);
    const r = await merge([...ABC(), dave], { policy: { kind: 'manual' }, settlementsFrom: [first.dir] });
    await expectTrained(r.dir, SETTLED);
    expect(r.report.conflicts.filter((c) => c.stepId === ids.M2 || c.stepId === ids.M5).map((c) => c.votes.length)).toEqual([4, 4]);
  });

  it('a label that changed re-opens its conflict, and says so', async () => {
    // Bob changes his mind on M4 (mask → keep) and exports again.
    const bob2 = await exportCopy('bob2', [{ id: 'lab', events: withLabels(base.events, ids, 'bob', { ...LABELS.bob, M4: 'keep' }, 5e12), dir: join(root, 'nowhere') }]);
    const plan = await mergeBundles({ inputs: [bundles.alice, bob2, bundles.carol], outDir: '', policy: { kind: 'manual' }, settlementsFrom: [first.dir], dryRun: true });
    expect(plan.report.actions.unsettled).toBe(1);
    expect(plan.report.conflicts.filter((c) => c.settledBy !== 'manual').map((c) => markerOfStep.get(c.stepId))).toEqual(['M4']);
    expect(plan.report.warnings.join('\n')).toContain(`1 earlier settlement(s) no longer apply, as a label they settled has changed: lab/${ids.M4}`);
    // A settlements file works the same, and a bad one is refused naming it.
    const file = join(root, 'settlements.json');
    await writeFile(file, JSON.stringify([{ sessionId: 'lab', stepId: ids.M4, label: 'keep' }]));
    const settled = await mergeBundles({ inputs: [bundles.alice, bob2, bundles.carol], outDir: '', policy: { kind: 'manual' }, settlementsFrom: [first.dir, file], dryRun: true });
    expect(settled.report.actions.unsettled).toBe(0);
    await writeFile(file, '{"nope": 1}');
    await expect(mergeBundles({ inputs: ABC(), outDir: '', settlementsFrom: [file], dryRun: true })).rejects.toThrow(`Settlements ${file}: expected a merged bundle`);
  });
});

describe('mergeBundles refuses', () => {
  async function copyOf(name: string, from = bundles.alice): Promise<string> {
    const copy = join(root, 'bundles', name);
    await cp(from, copy, { recursive: true });
    return copy;
  }

  /** Rewrite a file of a bundle and, like a careful forger, its size and hash in the manifest. */
  async function forge(dir: string, file: string, edit: (s: string) => string): Promise<void> {
    const body = edit(await text(dir, file));
    await writeFile(join(dir, file), body);
    const m = JSON.parse(await text(dir, 'manifest.json')) as Manifest;
    const f = m.files.find((x) => x.path === file)!;
    f.sha256 = sha256(body);
    f.bytes = Buffer.byteLength(body);
    await writeFile(join(dir, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`);
  }

  async function expectNothingWritten(inputs: string[], pattern: RegExp, code = 'BAD_REQUEST', over: Partial<MergeBundlesOptions> = {}): Promise<void> {
    await mkdir(join(root, 'refused'), { recursive: true });
    const outDir = join(root, 'refused', 'out');
    const err = await mergeBundles({ inputs, outDir, ...over }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApolloError);
    expect((err as ApolloError).message).toMatch(pattern);
    expect((err as ApolloError).code).toBe(code);
    expect(await exists(outDir)).toBe(false);
    expect(await leftovers(join(root, 'refused'))).toEqual([]);
  }

  it('a flipped byte', async () => {
    const bad = await copyOf('flipped');
    const buf = await readFile(join(bad, 'openai.jsonl'));
    const i = buf.indexOf('MARK-M1');
    buf[i + 5] = 'X'.charCodeAt(0);
    await writeFile(join(bad, 'openai.jsonl'), buf);
    await expectNothingWritten([bundles.bob, bad], new RegExp(`Bundle ${bad}: file openai\\.jsonl does not match its SHA-256`));
  });

  it('a re-hashed forgery: a masked turn made trained, the manifest hashes updated', async () => {
    const bad = await copyOf('forged');
    // Alice masked M2: turn it into a trained turn in her openai.jsonl.
    await forge(bad, 'openai.jsonl', (s) => {
      const [first, ...rest] = s.split('\n');
      const rec = JSON.parse(first!) as { messages: Array<{ role: string; weight?: number; tool_calls?: unknown }> };
      const m2 = rec.messages.find((m) => m.role === 'assistant' && JSON.stringify(m).includes('MARK-M2'))!;
      expect(m2.weight).toBe(0);
      m2.weight = 1;
      return [JSON.stringify(rec), ...rest].join('\n');
    });
    // Its signature no longer matches the re-hashed manifest.
    await expectNothingWritten([bad, bundles.bob], /forged: the signature in manifest\.sig does not match manifest\.json/);
    // The forger drops the signature: unsigned, refused; and allowed, the files still disagree with each other.
    await rm(join(bad, 'manifest.sig'));
    await expectNothingWritten([bad, bundles.bob], /forged: is not signed/);
    await expectNothingWritten([bad, bundles.bob], /forged: openai\.jsonl:1: the turns with weight 1 are not the steps the manifest says are trained there/, 'BAD_REQUEST', { allowUnsigned: true });
  });

  it('a file the manifest does not list', async () => {
    const bad = await copyOf('extra');
    await writeFile(join(bad, 'notes.txt'), 'hello');
    await expectNothingWritten([bad], /extra: file notes\.txt is not listed in its manifest/);
    await mkdir(join(bad, 'terminals', 'lab'), { recursive: true });
    await writeFile(join(bad, 'terminals', 'lab', 'other.cast'), '{}\n');
    await expectNothingWritten([bad], /files notes\.txt, terminals\/lab\/other\.cast are not listed/);
  });

  it('a malformed manifest, with the field named; a missing manifest; an unknown version', async () => {
    const bad = await copyOf('malformed');
    const m = JSON.parse(await text(bad, 'manifest.json')) as Record<string, unknown>;
    (m.trajectories as Array<Record<string, unknown>>)[0]!.turnSteps = 'oops';
    await writeFile(join(bad, 'manifest.json'), JSON.stringify(m));
    // The schema is checked before the signature (which this edit broke).
    await expectNothingWritten([bad], /malformed: manifest\.json is malformed: trajectories\.0\.turnSteps: /);
    await writeFile(join(bad, 'manifest.json'), JSON.stringify({ ...m, formatVersion: 1 }));
    await expectNothingWritten([bad], /unsupported bundle formatVersion 1 \(this version reads 2\)/);
    await rm(join(bad, 'manifest.json'));
    await expectNothingWritten([bad], /malformed: no manifest\.json/);
    await expectNothingWritten([join(root, 'bundles', 'ghost')], /ghost does not exist/, 'NOT_FOUND');
    await expectNothingWritten([bundles.alice, bundles.alice], /listed twice/);
  });

  it('a bundle without step records, and copies of a "session" that are not the same session', async () => {
    const slim = await exportCopy('slim', [{ id: 'lab', events: annotatorCopy('bob', 0), dir: join(root, 'nowhere') }], { formats: ['openai', 'sharegpt'] });
    await expectNothingWritten([bundles.alice, slim], /slim: has no trajectory\.jsonl: merge decides labels per action/);
    const b = new SessionBuilder({ name: 'Not the lab' });
    b.rollout({ task: 'Other' });
    b.step({ calls: [run('echo other')], results: [ok()] });
    const other = await exportCopy('other-lab', [{ id: 'lab', events: b.events, dir: join(root, 'nowhere') }]);
    await expectNothingWritten([bundles.alice, other], /Session lab step s1 differs between bundles .*alice and .*other-lab/);
  });

  it('different label policies unless allowed', async () => {
    const strict = await exportCopy('strict', [{ id: 'lab', events: annotatorCopy('carol', 0), dir: join(root, 'nowhere') }], { labelPolicy: { unlabelled: 'mask' } });
    await expectNothingWritten([bundles.alice, strict], /different label policies/);
    const r = await merge([bundles.alice, strict], { allowMixedPolicies: true });
    expect(r.manifest.labelPolicy).toBeNull();
    expect(r.manifest.mergedFrom.map((x) => x.labelPolicy?.unlabelled)).toEqual(['keep', 'mask']);
  });

  it('and leaves nothing behind when cancelled', async () => {
    const ctl = new AbortController();
    await mkdir(join(root, 'refused'), { recursive: true });
    const outDir = join(root, 'refused', 'cancelled');
    const err = await mergeBundles({
      inputs: [bundles.alice, bundles.bob], outDir, signal: ctl.signal,
      onProgress: (_d, _t, stage) => {
        if (stage.startsWith('write')) ctl.abort();
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CANCELLED' });
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

  it('merges under a policy and prints conflicts, agreement and files', async () => {
    const out = join(root, 'cli', 'merged');
    const r = await apollo(['merge', bundles.alice, bundles.bob, bundles.carol, '--out', out, '--policy', 'majority']);
    expect(r.stderr).toMatch(/merge \d+\/\d+ done/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`bundle ${out}`);
    expect(r.stdout).toMatch(/merged 3 bundles \(3 exports\), policy majority: 3 examples written of 7/);
    expect(r.stdout).toMatch(/actions 12: kept 7, masked 5 .* 4 conflicts/);
    expect(r.stdout).toContain(`conflict lab/${ids.M2} (main, alt): alice mask [error], bob mask [error], carol keep → mask (majority 2–1 mask)`);
    expect(r.stdout).toMatch(/agreement on 8 actions labelled by 2\+ annotators: pairwise 0\.68, Fleiss' kappa 0\.14/);
    expect(r.stdout).toContain('alice–bob: 6/8 agree (0.75), Cohen\'s kappa 0.33');
    expect(r.stdout).toContain('mistral.jsonl');
    expect(r.stdout).toMatch(/annotator alice: 10 labelled \(keep 7, mask 3; \d+ trained\) .*; \d+ label events, about .* spent/);
    expect(r.stdout).toContain('report: merge-report.html (readable) and merge-report.json');
    const m = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as MergedManifest;
    expect(m.merge.policy).toEqual({ kind: 'majority' });
  });

  it('manual: exits 1 listing the conflicts; a bad policy or no --out exits 2', async () => {
    const out = join(root, 'cli', 'manual');
    const r = await apollo(['merge', bundles.alice, bundles.bob, bundles.carol, '--out', out, '--policy', 'manual']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('4 conflicts to settle (policy manual); nothing was written');
    expect(r.stderr).toContain(`lab/${ids.A1}: alice mask, bob keep`);
    expect(await exists(out)).toBe(false);
    expect((await apollo(['merge', bundles.alice, '--out', out, '--policy', 'loudest'])).code).toBe(2);
    expect((await apollo(['merge', bundles.alice])).code).toBe(2);
  });

  it('manual with --settlements: an earlier merge\'s settlements settle the same conflicts', async () => {
    const settlements = (['M2', 'M4', 'M5', 'A1'] as const).map((m) => ({ sessionId: 'lab', stepId: ids[m], label: 'keep' as const }));
    const earlier = await merge([bundles.alice, bundles.bob, bundles.carol], { policy: { kind: 'manual' }, settlements });
    const out = join(root, 'cli', 'resettled');
    const r = await apollo(['merge', bundles.alice, bundles.bob, bundles.carol, '--out', out, '--policy', 'manual', '--settlements', join(earlier.dir, 'merge-report.json')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`conflict lab/${ids.M4} (main): alice keep, bob mask [error], carol mask [error] → keep (manual)`);
    expect(await text(out, 'openai.jsonl')).toBe(await text(earlier.dir, 'openai.jsonl'));
  });

  it('exits 1 naming a tampered bundle', async () => {
    const bad = join(root, 'bundles', 'cli-tampered');
    await cp(bundles.alice, bad, { recursive: true });
    await writeFile(join(bad, 'stray.json'), '{}');
    const r = await apollo(['merge', bundles.bob, bad, '--out', join(root, 'cli', 'refused')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/apollo merge: Bundle .*cli-tampered: file stray\.json is not listed in its manifest .*\[BAD_REQUEST\]/);
  });
});
