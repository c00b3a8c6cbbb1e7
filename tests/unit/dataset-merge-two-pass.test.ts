// Merge reads its inputs twice: pass 1 verifies them and keeps only what the plan
// needs (no record's text), pass 2 reads the chosen step records again while writing.
// What pass 2 must get right: a record changed between the passes is refused (nothing
// written), the reasoning a trained turn shows comes from the step record of the input
// its example is written from, and a bundle merged with an identical copy of itself is
// that bundle.
import { readFileSync, writeFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloError } from '../../shared/errors';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { mergeBundles, type MergeBundlesOptions } from '../../electron/core/dataset/merge';
import { fileKeyStore, loadSigningKey } from '../../electron/core/dataset/signing';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

let root: string;
let n = 0;
const ids: string[] = [];

/** Three steps, each with its own reasoning; `labels` by `author`. */
function session(author: string, labels: Array<'keep' | 'mask'>): SessionBuilder {
  const b = new SessionBuilder({ name: 'Two pass' });
  b.rollout({ task: 'Count the files' });
  ids.length = 0;
  for (const i of [1, 2, 3]) ids.push(b.step({ content: `Step MARK-${i}.`, reasoning: `WHY-${i}`, calls: [run(`echo MARK-${i}`)], results: [ok()] }));
  labels.forEach((l, i) => b.label(ids[i]!, l, { author }));
  return b;
}

async function exportOf(author: string, labels: Array<'keep' | 'mask'>): Promise<string> {
  const outDir = join(root, 'bundles', author);
  const sign = (await loadSigningKey(fileKeyStore(join(root, 'keys', author)), author, { create: true }))!;
  await exportBundle({
    home: join(root, 'home'), sessions: [{ sessionId: 'tp', events: session(author, labels).events, sessionDir: join(root, 'nowhere') }], outDir,
    formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: [], appVersion: '0.1.0-test', sign, openai: { reasoning: 'field' },
  });
  return outDir;
}

const merge = (inputs: string[], over: Partial<MergeBundlesOptions> = {}) => mergeBundles({ inputs, outDir: join(root, 'merged', `m${++n}`), appVersion: '0.1.0-test', ...over });
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
const text = (dir: string, f: string): Promise<string> => readFile(join(dir, f), 'utf8');
type Turn = { role: string; weight?: number; content?: string; reasoning_content?: string };
const assistantTurns = async (dir: string): Promise<Turn[]> =>
  (JSON.parse((await text(dir, 'openai.jsonl')).split('\n')[0]!) as { messages: Turn[] }).messages.filter((m) => m.role === 'assistant');

let alice: string;
let bob: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-merge2-'));
  alice = await exportOf('alice', ['keep', 'keep', 'mask']);
  bob = await exportOf('bob', ['keep', 'keep', 'keep']);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('merge pass 2', () => {
  it('shows the reasoning of a turn its writer input masked, from that input\'s step record, on the last trained turn only', async () => {
    // Alice masked step 3, so her line shows step 2's reasoning (her last trained turn) and none on step 3.
    expect((await assistantTurns(alice)).map((t) => [t.weight, t.reasoning_content])).toEqual([[1, undefined], [1, 'WHY-2'], [0, undefined]]);
    // Bob's keep wins and her line is written: step 3, now the last trained turn, shows the reasoning of her step record;
    // the turns before it show none (a template rendering it would put it in step 3's context, which no request held).
    const r = await merge([alice, bob], { policy: { kind: 'prefer', annotators: ['bob'] } });
    const turns = await assistantTurns(r.dir);
    expect(turns.map((t) => [t.weight, t.reasoning_content])).toEqual([[1, undefined], [1, undefined], [1, 'WHY-3']]);
  });

  it('refuses a step record changed after it was verified, and writes nothing', async () => {
    const copy = join(root, 'bundles', 'changing');
    await cp(alice, copy, { recursive: true });
    await mkdir(join(root, 'refused'), { recursive: true });
    const outDir = join(root, 'refused', 'changed');
    const traj = join(copy, 'trajectory.jsonl');
    let changed = false;
    const err = await mergeBundles({
      inputs: [copy, bob], outDir,
      onProgress: (_d, _t, stage) => {
        // The copy is verified once Bob's files are being verified: edit one of its step records in place, same size.
        if (changed || !stage.startsWith(`verify ${bob}`)) return;
        changed = true;
        writeFileSync(traj, readFileSync(traj, 'utf8').replace('WHY-2', 'WHO-2'));
      },
    }).catch((e: unknown) => e);
    expect(changed).toBe(true);
    expect(err).toBeInstanceOf(ApolloError);
    expect((err as ApolloError).message).toBe(`Bundle ${copy}: file trajectory.jsonl changed while it was being merged`);
    expect(await exists(outDir)).toBe(false);
    expect((await readdir(join(root, 'refused'))).filter((x) => x.includes('.tmp-'))).toEqual([]);
  });
});

describe('the same bundle twice', () => {
  it('merges to itself: the same training files, one origin, no conflict', async () => {
    const twin = join(root, 'bundles', 'alice-twin');
    await cp(alice, twin, { recursive: true });
    const one = await merge([alice]);
    const two = await merge([alice, twin]);
    for (const f of ['openai.jsonl', 'sharegpt.jsonl', 'mistral.jsonl', 'trajectory.jsonl', 'axolotl.yml', 'llamafactory.yaml']) {
      expect(await text(two.dir, f), f).toBe(await text(one.dir, f));
    }
    // …and it trains what Alice's export trains.
    expect((await assistantTurns(two.dir)).map((t) => t.weight)).toEqual((await assistantTurns(alice)).map((t) => t.weight));
    expect(two.manifest.merge.origins).toHaveLength(1);
    expect(two.report.actions.conflicts).toBe(0);
    expect(two.report.examples).toMatchObject({ in: 2, distinct: 1, out: 1, duplicates: 1 });
  });
});
