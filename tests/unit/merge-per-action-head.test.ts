// A merge re-derives the per-action lines (sharegpt.jsonl, mistral.jsonl) from the merged
// OpenAI lines; their fixed head must be the exporter's (trainers.ts fixedHead: the leading
// messages no step owns), or a line cut to its history cap keeps a message the request did
// not have there. A step whose model call failed but that got guidance owns the one
// <real_user> message rendered for it: before the first reply it is not head. The
// manifest names the owners of assistant turns only, so the merge places such messages
// from the step records. A merge of one bundle gives the lines its export wrote.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { exportBundle, type ExportBundleOptions } from '../../electron/core/dataset/bundle';
import { mergeBundles } from '../../electron/core/dataset/merge';
import { ownedMessagesForPath, SUMMARY_PROMPT } from '../../electron/core/rollout/context';
import { foldTrajectory, pathTo } from '../../shared/trajectory';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-merge-head-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const pad = 'pad '.repeat(60);
const act = (b: SessionBuilder, n: string, branchId?: string): string =>
  b.step({ ...(branchId ? { branchId } : {}), content: `MARK-${n} ${pad}`, calls: [run(`echo MARK-${n}`)], results: [ok()] });

let n = 0;
/** Export `events` as one bundle, merge that bundle alone, and give both folders. */
async function exportAndMerge(events: SessionEvent[], over: Partial<ExportBundleOptions> = {}): Promise<{ exported: string; merged: string }> {
  const exported = join(root, `b${++n}`);
  await exportBundle({
    home: root, sessions: [{ sessionId: 'head', events, sessionDir: join(root, 'nowhere') }], outDir: exported,
    formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: [], appVersion: 'test', historyTokens: 1500, ...over,
  });
  const merged = join(root, `m${n}`);
  await mergeBundles({ inputs: [exported], outDir: merged, allowUnsigned: true, appVersion: 'test' });
  return { exported, merged };
}

async function expectSameLines(exported: string, merged: string): Promise<void> {
  for (const f of ['openai.jsonl', 'sharegpt.jsonl', 'mistral.jsonl']) {
    expect(await readFile(join(merged, f), 'utf8'), f).toBe(await readFile(join(exported, f), 'utf8'));
  }
}

/** The per-action lines open on the task alone: the cap cut the history, and the guidance of the reply-less step with it. */
async function headsOf(dir: string): Promise<string[]> {
  const lines = (await readFile(join(dir, 'sharegpt.jsonl'), 'utf8')).trim().split('\n');
  return lines.map((l) => (JSON.parse(l) as { conversations: Array<{ value: string }> }).conversations[0]!.value);
}

describe('a merge of one bundle writes the per-action lines of its export', () => {
  it('when the first step has guidance and no reply', async () => {
    const b = new SessionBuilder({ name: 'head' });
    b.rollout({ task: 'Do it' });
    const s1 = b.step({ noResponse: true });
    b.guidance('GUIDE-FIRST be careful', { after: s1 });
    for (let i = 1; i <= 5; i++) act(b, String(i));
    const { exported, merged } = await exportAndMerge(b.events);
    // The export's lines: the history cap left only the head (system, task), not the guidance.
    const heads = await headsOf(exported);
    expect(heads.length).toBe(5);
    expect(heads.slice(1).every((h) => !h.includes('GUIDE-FIRST'))).toBe(true);
    await expectSameLines(exported, merged);
  });

  it('when the first reply was empty (later requests carry only what answers it: its guidance)', async () => {
    const b = new SessionBuilder({ name: 'head' });
    b.rollout({ task: 'Do it' });
    const s1 = b.step({ content: '' });
    b.guidance('GUIDE-AFTER-EMPTY say something', { after: s1 });
    for (let i = 1; i <= 4; i++) act(b, String(i));
    const { exported, merged } = await exportAndMerge(b.events);
    await expectSameLines(exported, merged);
  });

  it('with reply-less steps before the first reply and between replies, with and without guidance', async () => {
    const b = new SessionBuilder({ name: 'head' });
    b.rollout({ task: 'Do it' });
    b.step({ noResponse: true });
    const s2 = b.step({ noResponse: true });
    b.guidance('GUIDE-A', { after: s2 });
    act(b, '1');
    act(b, '2');
    const mid = b.step({ noResponse: true });
    b.guidance('GUIDE-MID', { after: mid });
    act(b, '3');
    b.step({ noResponse: true });
    act(b, '4');
    act(b, '5');
    const { exported, merged } = await exportAndMerge(b.events);
    await expectSameLines(exported, merged);
  });

  it('after a summary, when the first step it kept has guidance and no reply, or one it covered', async () => {
    const b = new SessionBuilder({ name: 'head' });
    b.rollout({ task: 'Do it' });
    const covered = b.step({ noResponse: true });
    b.guidance('GUIDE-COVERED', { after: covered });
    const done = [covered, act(b, '1'), act(b, '2'), act(b, '3')];
    const r = b.step({ noResponse: true });
    b.guidance('GUIDE-KEPT', { after: r });
    const s = act(b, '4');
    b.summary(s, 'SUMMARY of 1-3', done);
    act(b, '5');
    act(b, '6');
    const { exported, merged } = await exportAndMerge(b.events);
    await expectSameLines(exported, merged);
    // Covered, and a reply-less step with guidance after the first reply: the head after the summary is the summary's.
    const c = new SessionBuilder({ name: 'head' });
    c.rollout({ task: 'Do it' });
    const gone = c.step({ noResponse: true });
    c.guidance('GUIDE-COVERED', { after: gone });
    const older = [gone, act(c, '1'), act(c, '2')];
    const t = act(c, '3');
    c.summary(t, 'SUMMARY of 1-2', older);
    act(c, '4');
    const mid = c.step({ noResponse: true });
    c.guidance('GUIDE-MID', { after: mid });
    act(c, '5');
    act(c, '6');
    const again = await exportAndMerge(c.events);
    await expectSameLines(again.exported, again.merged);
  });

  it('on a branch, and with examples split at a token limit', async () => {
    const b = new SessionBuilder({ name: 'head' });
    b.rollout({ task: 'Do it' });
    const s1 = b.step({ noResponse: true });
    b.guidance('GUIDE-FIRST', { after: s1 });
    const a1 = act(b, '1');
    act(b, '2');
    act(b, '3');
    b.branch({ branchId: 'alt', from: a1, name: 'alt' });
    const r = b.step({ branchId: 'alt', noResponse: true });
    b.guidance('GUIDE-ALT', { after: r, branchId: 'alt' });
    act(b, 'A1', 'alt');
    act(b, 'A2', 'alt');
    for (const over of [{}, { maxTokens: 2200 }]) {
      const { exported, merged } = await exportAndMerge(b.events, over);
      await expectSameLines(exported, merged);
    }
  });

  it('for a summary example whose request opens on a step with guidance and no reply', async () => {
    const b = new SessionBuilder({ name: 'head' });
    b.rollout({ task: 'Do it' });
    const r0 = b.step({ noResponse: true });
    b.guidance('GUIDE-FIRST', { after: r0 });
    const a1 = act(b, '1');
    const a2 = act(b, '2');
    const r3 = b.step({ noResponse: true });
    b.guidance('GUIDE-MID', { after: r3 });
    const a4 = act(b, '4');
    act(b, '5');
    const x = act(b, '6');
    // The summary request as the engine records it (engine.ts maybeSummarize): the path to the
    // last step it covers, its owners, then the summary prompt.
    const older = ownedMessagesForPath(foldTrajectory(b.events), pathTo(foldTrajectory(b.events), a4), { task: 'Do it', includeLast: true, branchId: 'main' });
    b.add({ type: 'request.config', hash: 'cfg', config: { model: 'glm-4.5' } });
    b.add({
      type: 'model.request', requestId: 'q-sum', stepId: x, purpose: 'summary', base: null, keep: 0,
      append: [...older.messages, { role: 'user', content: SUMMARY_PROMPT }] as never, config: 'cfg', owners: [...older.owners, null],
    });
    b.add({ type: 'summary.created', stepId: x, summary: 'SUMMARY-TEXT of 1-4', coveredStepIds: [r0, a1, a2, r3, a4], requestId: 'q-sum' });
    const { exported, merged } = await exportAndMerge(b.events, { includeSummaries: true, historyTokens: 1200 });
    const manifest = JSON.parse(await readFile(join(exported, 'manifest.json'), 'utf8')) as { trajectories: Array<{ kind: string }> };
    expect(manifest.trajectories.some((t) => t.kind === 'summary')).toBe(true);
    await expectSameLines(exported, merged);
  });
});
