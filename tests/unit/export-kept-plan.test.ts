// The Export dialog plans (a dry run) what its Export button then writes: the plan's
// examples, built and redacted, are kept for the export of exactly the same inputs, so it
// does not build them again. Anything else (a label set since, other secrets, branches,
// options or formats) builds anew, and every bundle is byte for byte the one built
// without a plan: its redaction report too, the manifest's own redactions counted once.
// A plan whose contexts were rebuilt (a log older than the request record) is not kept.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSession, type GeneratedSession } from '../../electron/bench/generate';
import { ApolloCore } from '../../electron/core/app';
import { exportBundle, type ExportBundleOptions } from '../../electron/core/dataset/bundle';
import { TOKEN_STORE_FILE } from '../../electron/core/dataset/token-store';
import { tokenizedTexts } from '../../electron/core/dataset/tokens';
import { exportInputs } from '../../electron/core/exports';
import { resourcesDir } from '../../electron/core/paths';
import { trajectoryOf } from '../../electron/core/session-trajectory';
import { readEventLog } from '../../electron/core/store/event-log';
import { realisticSession } from '../fixtures/sessions';
import { treeHashes } from '../fixtures/tree-hashes';

let root: string;
let home: string;
let core: ApolloCore;
let g: GeneratedSession;
let n = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-kept-plan-'));
  home = join(root, 'home');
  g = await generateSession({ home, steps: 50, hours: 2, terminalMb: 1, seed: 5, id: 'S1' });
  core = await ApolloCore.open({ home, resourcesDir: resourcesDir(), host: 'web', samples: false });
});
afterAll(async () => {
  await core?.close();
  await rm(root, { recursive: true, force: true });
});

type Options = Partial<Omit<ExportBundleOptions, 'sessions'>> & { branchIds?: string[] };

async function run(o: Options & { dryRun?: boolean }) {
  const { branchIds, ...rest } = o;
  const outDir = join(root, `out-${++n}`);
  const sessions = await exportInputs(core, [g.id], branchIds);
  const before = tokenizedTexts();
  await exportBundle({ home, sessions, outDir, formats: ['openai', 'sharegpt', 'trajectory'], secrets: [], appVersion: 'test', castWorker: false, bundleCache: false, ...rest });
  return { tokenized: tokenizedTexts() - before, files: o.dryRun ? {} : await treeHashes(outDir) };
}

/** Nothing counted beside the log: a pass then tokenizes, which tells whether the export built its examples. */
async function uncounted(): Promise<void> {
  await rm(join(g.dir, TOKEN_STORE_FILE), { force: true });
}

async function plan(o: Options): Promise<void> {
  await uncounted();
  await run({ ...o, dryRun: true, keepPlan: true });
}

describe('a plan kept for its export', () => {
  it('is taken by the export of the same inputs, which writes what a build writes', async () => {
    await uncounted();
    const built = await run({});
    expect(built.tokenized).toBeGreaterThan(0);
    await plan({});
    const taken = await run({});
    expect(taken.tokenized).toBe(0);
    expect(taken.files).toEqual(built.files);
  });

  it('is not taken for other inputs: each export is the bundle a build of its own inputs writes', async () => {
    const secret = 'plainword-configured-secret-4242';
    const session = await core.session(g.id);
    const branches = [...trajectoryOf(session).branches.keys()];
    const cases: Array<[string, Options, () => Promise<void>]> = [
      ['other secrets', { secrets: [secret] }, async () => undefined],
      ['another branch', { branchIds: [branches[0]!] }, async () => undefined],
      ['another option', { maxTokens: 2048 }, async () => undefined],
      ['other formats', { formats: ['openai'] }, async () => undefined],
      // A label set after the plan: the same request, other events.
      ['a label since', {}, async () => {
        const step = [...trajectoryOf(session).steps.values()].find((s) => s.response && !s.labelHistory.length)!;
        await session.append({ type: 'label.set', stepId: step.id, label: 'mask', tags: ['error'], note: 'after the plan', source: 'annotator', author: 'lead' });
      }],
    ];
    for (const [what, o, change] of cases) {
      // The plan is of the defaults; the export of `o` (after `change`).
      await plan({});
      await change();
      const exported = await run(o);
      expect(exported.tokenized, what).toBeGreaterThan(0);
      await uncounted();
      const built = await run(o);
      expect(exported.files, what).toEqual(built.files);
    }
  });
});

describe('a plan kept for its export, with a secret in the names the manifest gives', () => {
  it('reports each redaction of the manifest once, as a build does, from the dialog and under the refuse policy', async () => {
    const secret = 'plainword-session-secret-5150';
    const session = await core.session(g.id);
    await session.append({ type: 'session.renamed', name: `tuning run ${secret}` });
    const manifestHits = async (outDir: string) => {
      const { redactions } = JSON.parse(await readFile(join(outDir, 'redactions.json'), 'utf8')) as { redactions: Array<{ file: string; path: string; count: number }> };
      return redactions.filter((r) => r.file === 'manifest.json');
    };
    const exportTo = async (o: Options) => {
      const outDir = join(root, `named-${++n}`);
      await exportBundle({ home, sessions: await exportInputs(core, [g.id]), outDir, formats: ['openai'], secrets: [secret], appVersion: 'test', castWorker: false, bundleCache: false, ...o });
      return outDir;
    };
    const built = await manifestHits(await exportTo({}));
    expect(built).toContainEqual(expect.objectContaining({ path: '/sessions/0/name', count: 1 }));
    await plan({ formats: ['openai'], secrets: [secret] });
    expect(await manifestHits(await exportTo({}))).toEqual(built);

    // The refuse policy plans inside the export (every action labelled first) and writes from that plan.
    for (const s of trajectoryOf(session).steps.values()) {
      if (s.response && !s.labelHistory.length) await session.append({ type: 'label.set', stepId: s.id, label: 'keep', tags: [], note: '', source: 'annotator', author: 'lead' });
    }
    const refused = await manifestHits(await exportTo({ labelPolicy: { unlabelled: 'refuse' } }));
    expect(refused.map((r) => r.count)).toEqual(built.map((r) => r.count));
    expect(refused.length).toBeGreaterThan(0);
  });
});

describe('a plan of a log older than the request record', () => {
  it('is not kept: its contexts are rebuilt, every text a copy, and the export builds them again', async () => {
    const story = realisticSession();
    const dir = join(root, 'old-log');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'events.jsonl'), story.events.map((e) => `${JSON.stringify(e)}\n`).join(''));
    const log = await readEventLog(join(dir, 'events.jsonl'));
    const input = { sessionId: 'OLD', events: log.events, sessionDir: dir, eventsDigest: log.content!.digest('hex') };
    const go = async (o: Partial<ExportBundleOptions>) => {
      await rm(join(dir, TOKEN_STORE_FILE), { force: true });
      const outDir = join(root, `old-${++n}`);
      const before = tokenizedTexts();
      await exportBundle({ home: root, sessions: [input], outDir, formats: ['openai'], secrets: [], appVersion: 'test', castWorker: false, bundleCache: false, ...o });
      return { tokenized: tokenizedTexts() - before, files: o.dryRun ? {} : await treeHashes(outDir) };
    };
    const built = await go({});
    await go({ dryRun: true, keepPlan: true });
    const exported = await go({});
    expect(exported.tokenized).toBeGreaterThan(0);
    expect(exported.files).toEqual(built.files);
  });
});

describe('a plan kept for its export, and the other ways an export goes', () => {
  it('is what the refuse policy checks and writes from; an export that takes a kept bundle drops it', async () => {
    const session = await core.session(g.id);
    for (const s of trajectoryOf(session).steps.values()) {
      if (s.response && !s.labelHistory.length) await session.append({ type: 'label.set', stepId: s.id, label: 'keep', tags: [], note: '', source: 'annotator', author: 'lead' });
    }
    const refuse = { labelPolicy: { unlabelled: 'refuse' as const } };
    await uncounted();
    const built = await run(refuse);
    await plan(refuse);
    const taken = await run(refuse);
    expect(taken.tokenized).toBe(0);
    expect(taken.files).toEqual(built.files);

    // Exported once with its bundle kept; planned again; the next export copies the kept bundle, and the plan goes.
    await run({ bundleCache: true });
    await plan({});
    const copied = await run({ bundleCache: true });
    expect(copied.tokenized).toBe(0);
    await uncounted();
    expect((await run({})).tokenized).toBeGreaterThan(0);
  });
});
