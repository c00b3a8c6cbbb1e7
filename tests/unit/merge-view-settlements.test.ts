// A decision the lead makes in the Merge view names the labels it settled, as
// `apollo merge --settlements` does: the store sends the conflict's labels as shown with
// each decision, the merged manifest records them, and when one of them changes (a
// bundle replaced by a newer export) the decision no longer applies and the conflict
// opens again instead of silently deciding labels the lead never saw.
// The renderer's store, over a transport that hands its requests to the host's MergeManager.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MergedManifest } from '../../electron/core/dataset/manifest-schema';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { MergeManager, type MergeRequest, type MergeProgress } from '../../electron/core/merges';
import { createAppStore } from '../../renderer/src/store/index';
import { conflictKey } from '../../renderer/src/store/merge';
import { FakeTransport } from '../fixtures/fake-transport';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

let root: string;
const bundles: Record<string, string> = {};

async function bundle(name: string, author: string, label: 'keep' | 'mask'): Promise<string> {
  const b = new SessionBuilder({ name: 'View settlements' });
  b.rollout({ task: 'Settle in the view' });
  const s1 = b.step({ content: 'MARK-1', calls: [run('echo MARK-1')], results: [ok()] });
  b.step({ calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] });
  b.label(s1, label, { author });
  const outDir = join(root, 'bundles', name);
  await exportBundle({ home: root, sessions: [{ sessionId: 'view', events: b.events, sessionDir: join(root, 'nowhere') }], outDir, formats: ['openai', 'trajectory'], secrets: [], appVersion: 'test' });
  return outDir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-merge-view-'));
  bundles.alice = await bundle('alice', 'alice', 'keep');
  bundles.bob = await bundle('bob', 'bob', 'mask');
  bundles.carol = await bundle('carol', 'carol', 'mask');
  // Carol's newer export: she changed her mind on the settled action.
  bundles.carol2 = await bundle('carol2', 'carol', 'keep');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function setup() {
  const t = new FakeTransport();
  const m = new MergeManager({ sink: (_p: MergeProgress) => undefined, throttleMs: 0 });
  let finished: Promise<MergeProgress> | null = null;
  t.handle('merge.plan', (a) => m.plan({ allowUnsigned: true, ...a } as MergeRequest));
  t.handle('merge.start', (a) => {
    const job = m.start({ allowUnsigned: true, ...a } as MergeRequest);
    finished = job.finished;
    return { mergeId: job.mergeId };
  });
  const store = createAppStore(t);
  return { t, s: () => store.getState(), finished: () => finished! };
}

describe('Merge view settlements', () => {
  it('carry the labels they settled into the merged manifest, and stop applying when one changes', async () => {
    const { t, s, finished } = setup();
    s().updateMergeForm({ inputs: [bundles.alice!, bundles.bob!, bundles.carol!], policy: 'manual', outDir: join(root, 'merged'), allowUnsigned: true });
    await s().planMerge();
    const plan = s().mergeLastPlan!;
    expect(plan.report.actions).toMatchObject({ conflicts: 1, unsettled: 1 });
    const c = plan.report.conflicts[0]!;
    const key = conflictKey(c.sessionId, c.stepId);
    s().settleConflict(key, 'keep');
    const labels = [{ annotator: 'alice', source: 'annotator', label: 'keep' }, { annotator: 'bob', source: 'annotator', label: 'mask' }, { annotator: 'carol', source: 'annotator', label: 'mask' }];
    expect(s().mergeForm.settledLabels[key]).toEqual(labels);

    await s().planMerge();
    expect(t.argsOf('merge.plan').at(-1)!.settlements).toEqual([{ sessionId: c.sessionId, stepId: c.stepId, label: 'keep', votes: labels }]);
    expect(s().mergeLastPlan!.report.actions).toMatchObject({ conflicts: 1, unsettled: 0 });
    expect((await s().startMerge()).ok).toBe(true);
    expect(t.argsOf('merge.start')[0]!.settlements).toEqual([{ sessionId: c.sessionId, stepId: c.stepId, label: 'keep', votes: labels }]);
    expect((await finished()).state).toBe('done');
    const manifest = JSON.parse(await readFile(join(root, 'merged', 'manifest.json'), 'utf8')) as MergedManifest;
    expect(manifest.merge.conflicts.map((x) => ({ decision: x.decision, settledBy: x.settledBy, votes: x.votes.map((v) => `${v.annotator} ${v.label}`) })))
      .toEqual([{ decision: 'keep', settledBy: 'manual', votes: ['alice keep', 'bob mask', 'carol mask'] }]);

    // Carol's newer export replaces her bundle: the decision named "carol mask", so it no longer applies.
    s().updateMergeForm({ inputs: [bundles.alice!, bundles.bob!, bundles.carol2!] });
    await s().planMerge();
    const again = s().mergeLastPlan!.report;
    expect(again.actions).toMatchObject({ conflicts: 1, unsettled: 1 });
    expect(again.warnings.join('\n')).toMatch(/1 earlier settlement\(s\) no longer apply, as a label they settled has changed/);
    // Settled again, it names the labels now shown.
    s().settleConflict(key, 'keep');
    expect(s().mergeForm.settledLabels[key]!.map((v) => `${v.annotator} ${v.label}`)).toEqual(['alice keep', 'bob mask', 'carol keep']);
    await s().planMerge();
    expect(s().mergeLastPlan!.report.actions).toMatchObject({ conflicts: 1, unsettled: 0 });
    // Undo takes the decision and its labels back together.
    s().undoSettlement();
    expect(s().mergeForm.settledLabels[key]).toEqual(labels);
    s().undoSettlement();
    expect([s().mergeForm.settlements[key], s().mergeForm.settledLabels[key]]).toEqual([undefined, undefined]);
  });
});
