// Whose labels a merge counts, and what it says when its inputs do not say what the lead
// meant: two people who export under one annotator name (the app's default is the OS user
// name) sign with different keys, so their labels of one action are two votes, not one
// person's older and newer label (under any-mask the mask of either keeps the action out of
// training); settlements that match no action, or that overrule a label given after them,
// are said. One person's two exports (one key) are still their latest label.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { mergeBundles, type MergeBundlesOptions } from '../../electron/core/dataset/merge';
import { fileKeyStore, loadSigningKey } from '../../electron/core/dataset/signing';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

type L = 'keep' | 'mask';
const b = new SessionBuilder({ name: 'S' });
b.rollout({ task: 'T' });
const ids: Record<string, string> = {};
for (const m of ['X1', 'X2', 'X3']) ids[m] = b.step({ content: `Step MARK-${m}.`, calls: [run(`echo MARK-${m}`)], results: [ok()] });
ids.X4 = b.step({ calls: [{ name: 'finish', args: { summary: 'MARK-X4 done' } }], results: [ok()] });
const base = b.events;

function copy(author: string, labels: Record<string, L>, t0: number): SessionEvent[] {
  const out = base.slice();
  let seq = out.at(-1)!.seq;
  let ts = t0;
  for (const [m, label] of Object.entries(labels)) out.push({ seq: ++seq, ts: (ts += 1000), type: 'label.set', stepId: ids[m]!, label, tags: [], note: '', source: 'annotator', author } as SessionEvent);
  return out;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-merge-same-name-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** An export signed with the key in keys/<machine>, made for annotator `name` (as `apollo keys` would). */
async function exported(dir: string, machine: string, name: string, events: SessionEvent[]): Promise<string> {
  const outDir = join(root, 'bundles', dir);
  const sign = (await loadSigningKey(fileKeyStore(join(root, 'keys', machine)), name, { create: true }))!;
  await exportBundle({ home: join(root, 'home'), sessions: [{ sessionId: 'S', events, sessionDir: join(root, 'nowhere') }], outDir, formats: ['openai', 'trajectory'], secrets: [], appVersion: '0.1.0-test', sign });
  return outDir;
}

let n = 0;
const merge = (inputs: string[], over: Partial<MergeBundlesOptions> = {}) => mergeBundles({ inputs, outDir: join(root, 'merged', `m${++n}`), appVersion: '0.1.0-test', policy: { kind: 'any-mask' }, ...over });

async function trained(dir: string): Promise<string[]> {
  const lines = (await readFile(join(dir, 'openai.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { messages: Array<{ role: string; weight?: number }> });
  return lines.flatMap((l) => l.messages.filter((m) => m.role === 'assistant' && m.weight === 1).map((m) => /MARK-(X\d)/.exec(JSON.stringify(m))![1]!)).sort();
}

describe('one annotator name, two signing keys', () => {
  it('counts both labels of an action: the mask of one is not lost to the later keep of the other', async () => {
    const laptop = await exported('ann-laptop', 'laptop', 'ann', copy('ann', { X1: 'mask', X2: 'keep', X3: 'keep' }, base.at(-1)!.ts + 60_000));
    const desktop = await exported('ann-desktop', 'desktop', 'ann', copy('ann', { X1: 'keep', X2: 'keep', X3: 'keep' }, base.at(-1)!.ts + 160_000));
    const r = await merge([laptop, desktop]);
    expect(await trained(r.dir)).toEqual(['X2', 'X3', 'X4']);
    const c = r.report.conflicts.find((x) => x.stepId === ids.X1)!;
    expect(c.votes.map((v) => [v.annotator.replace(/\(key \S+\)/, '(key …)'), v.label]).sort()).toEqual([['ann (key …)', 'keep'], ['ann (key …)', 'mask']]);
    expect(r.report.warnings.some((w) => /annotator name\(s\) ann: the same action is labelled differently in bundles signed by different keys/.test(w))).toBe(true);
    // Where both agree they are one label, as before.
    expect(r.report.conflicts.some((x) => x.stepId === ids.X2)).toBe(false);
  });

  it('one person\'s two exports with one key: the later label stands', async () => {
    const first = await exported('ann-first', 'one', 'ann', copy('ann', { X1: 'mask' }, base.at(-1)!.ts + 60_000));
    const later = await exported('ann-later', 'one', 'ann', copy('ann', { X1: 'keep' }, base.at(-1)!.ts + 160_000));
    const r = await merge([first, later]);
    expect(await trained(r.dir)).toContain('X1');
    expect(r.report.warnings.some((w) => /signed by different keys/.test(w))).toBe(false);
  });
});

describe('settlements that match no action of the bundles', () => {
  it('are said, not ignored in silence', async () => {
    const a = await exported('set-a', 'a', 'alice', copy('alice', { X1: 'keep', X2: 'mask' }, base.at(-1)!.ts + 60_000));
    const bb = await exported('set-b', 'b', 'bob', copy('bob', { X1: 'keep', X2: 'keep' }, base.at(-1)!.ts + 60_000));
    const r = await merge([a, bb], { policy: { kind: 'majority' }, settlements: [{ sessionId: 'S', stepId: 'no-such-step', label: 'keep' }, { sessionId: 's-typo', stepId: ids.X2!, label: 'keep' }, { sessionId: 'S', stepId: ids.X2!, label: 'keep' }] });
    const w = r.report.warnings.find((x) => /settlement\(s\) name an action none of these bundles holds/.test(x));
    expect(w).toMatch(/^2 settlement/);
    expect(w).toContain('S/no-such-step');
    expect(w).toContain(`s-typo/${ids.X2}`);
  });
});

describe('a settlement and a label given after it', () => {
  it('the settlement stands, and the merge says whose label it overruled', async () => {
    const a = await exported('ovr-a', 'oa', 'alice', copy('alice', { X2: 'keep' }, base.at(-1)!.ts + 60_000));
    const bb = await exported('ovr-b', 'ob', 'bob', copy('bob', { X2: 'mask' }, base.at(-1)!.ts + 60_000));
    const e = await exported('ovr-e', 'oe', 'eve', copy('eve', { X2: 'mask' }, base.at(-1)!.ts + 260_000));
    const settled = { sessionId: 'S', stepId: ids.X2!, label: 'keep' as const, votes: [{ annotator: 'alice', source: 'annotator' as const, label: 'keep' as const }, { annotator: 'bob', source: 'annotator' as const, label: 'mask' as const }] };
    const r = await merge([a, bb, e], { policy: { kind: 'manual' }, settlements: [settled] });
    expect(await trained(r.dir)).toContain('X2');
    const w = r.report.warnings.find((x) => /settlement\(s\) decide against a label given since/.test(x));
    expect(w).toContain(`S/${ids.X2} (eve: mask)`);
  });
});
