// The merge report (issue 12, item 4): saved in the merged bundle as merge-report.json
// and a self-contained merge-report.html, both listed and hashed in the manifest; the
// same object a dry run returns without writing; time spent per annotator estimated
// from the label times (hand-computed here); a lead's settlements; and a merged
// bundle, report included, merges again (its report verified, a new one written).
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { mergeReportSchema, TIME_GAP_CAP_MS, type MergeReport } from '../../shared/merge-report';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { mergeBundles, type MergeBundlesOptions, type MergedManifest } from '../../electron/core/dataset/merge';
import { estimateTimeSpent } from '../../electron/core/dataset/merge-report';
import { fileKeyStore, loadSigningKey, type SigningKey } from '../../electron/core/dataset/signing';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

const YAN = '<yan & co>';
const NOTE = '<script>alert("x")</script> & co';
const T = 1_800_000_000_000;
const MIN = 60_000;

let root: string;
let zoe: string;
let yan: string;
let lead: SigningKey;
const ids: string[] = [];

function session(): SessionEvent[] {
  const b = new SessionBuilder({ name: 'Report <session>' });
  b.rollout({ task: 'Write the report' });
  for (let i = 1; i <= 3; i++) ids.push(b.step({ content: `Step MARK-${i}.`, calls: [run(`echo MARK-${i}`)], results: [ok(`printed MARK-${i} <ok>`)] }));
  b.step({ calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] });
  return b.events;
}
const base = session();

/** The session with `author`'s labels appended, each at its own time. */
function labelled(author: string, labels: Array<{ step: number; label: 'keep' | 'mask'; at: number; note?: string; clear?: boolean }>): SessionEvent[] {
  const out = base.slice();
  let seq = out.at(-1)!.seq;
  for (const l of labels) {
    out.push(l.clear
      ? ({ seq: ++seq, ts: l.at, type: 'label.cleared', stepId: ids[l.step - 1]!, source: 'annotator', author } as SessionEvent)
      : ({ seq: ++seq, ts: l.at, type: 'label.set', stepId: ids[l.step - 1]!, label: l.label, tags: l.label === 'mask' ? ['error'] : [], note: l.note ?? '', source: 'annotator', author } as SessionEvent));
  }
  return out;
}

async function exportAs(name: string, events: SessionEvent[]): Promise<string> {
  const key = (await loadSigningKey(fileKeyStore(join(root, 'keys', name.replace(/\W/g, '_'))), name, { create: true }))!;
  const outDir = join(root, 'bundles', name.replace(/\W/g, '_'));
  await exportBundle({
    home: join(root, 'home'), sessions: [{ sessionId: 'rep', events, sessionDir: join(root, 'nowhere') }], outDir,
    formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: [], appVersion: '0.1.0-test', sign: key,
  });
  return outDir;
}

let n = 0;
const merge = (inputs: string[], over: Partial<MergeBundlesOptions> = {}) =>
  mergeBundles({ inputs, outDir: join(root, 'merged', `m${++n}`), appVersion: '0.1.0-test', signWith: lead, ...over });
const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-merge-report-'));
  lead = (await loadSigningKey(fileKeyStore(join(root, 'keys', 'lead')), 'lead', { create: true }))!;
  // Zoe: 30 s, then a 10-minute pause (counted as 5), then she changes her mind on step 3 at once.
  zoe = await exportAs('zoe', labelled('zoe', [
    { step: 1, label: 'keep', at: T },
    { step: 2, label: 'keep', at: T + 30_000 },
    { step: 3, label: 'keep', at: T + 30_000 + 10 * MIN },
    { step: 3, label: 'mask', at: T + 30_000 + 10 * MIN },
  ]));
  // Yan: a minute apart; masks step 1 with a note full of markup.
  yan = await exportAs(YAN, labelled(YAN, [
    { step: 1, label: 'mask', at: T + 5_000, note: NOTE },
    { step: 2, label: 'keep', at: T + 5_000 + MIN },
    { step: 3, label: 'mask', at: T + 5_000 + 2 * MIN },
  ]));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('estimateTimeSpent', () => {
  it('sums the gaps between consecutive labels, each capped', () => {
    expect(estimateTimeSpent([])).toBe(0);
    expect(estimateTimeSpent([T])).toBe(0);
    // Unsorted; a bulk action (same time) counts nothing between its labels; a long break counts the cap.
    expect(estimateTimeSpent([T + 60_000, T, T, T + 60_000 + 3 * TIME_GAP_CAP_MS])).toBe(60_000 + TIME_GAP_CAP_MS);
  });
});

describe('the merge report', () => {
  it('is saved as merge-report.json and .html, listed and hashed in the manifest, and equals the report returned', async () => {
    const r = await merge([zoe, yan]);
    const files = (await readdir(r.dir)).sort();
    expect(files).toContain('merge-report.json');
    expect(files).toContain('merge-report.html');
    for (const f of ['merge-report.json', 'merge-report.html']) {
      const listed = r.manifest.files.find((x) => x.path === f)!;
      expect(listed, f).toMatchObject({ format: 'merge-report', records: 1 });
      const buf = await readFile(join(r.dir, f));
      expect(sha256(buf), f).toBe(listed.sha256);
      expect(buf.length, f).toBe(listed.bytes);
    }
    const saved = JSON.parse(await readFile(join(r.dir, 'merge-report.json'), 'utf8')) as MergeReport;
    expect(mergeReportSchema.safeParse(saved).success).toBe(true);
    expect(saved).toEqual(r.report);
    const m = r.manifest;
    expect(saved.actions).toMatchObject({ total: m.counts.actions, kept: m.counts.kept, masked: m.counts.masked, conflicts: 1, unsettled: 0 });
    expect(saved.examples).toEqual(m.merge.examples);
    expect(saved.agreement).toEqual(m.merge.agreement);
    expect(saved.conflicts).toEqual(m.merge.conflicts);
    expect(saved.bundles.map((b) => [b.path, b.signer?.name, b.merged])).toEqual([[zoe, 'zoe', false], [yan, YAN, false]]);
  });

  it('counts per annotator and estimates time spent from the label times', async () => {
    const { report } = await merge([zoe, yan]);
    const row = (who: string) => report.annotators.find((a) => a.annotator === who)!;
    // Zoe: 30 s + min(10 min, 5 min) + 0 (changed her mind at the same moment); 4 label events, her latest per action counts.
    expect(row('zoe')).toMatchObject({ actions: 3, keep: 2, mask: 1, labelEvents: 4, sessions: 1, timeSpentMs: 30_000 + TIME_GAP_CAP_MS, firstLabelAt: T, lastLabelAt: T + 30_000 + 10 * MIN });
    expect(row(YAN)).toMatchObject({ actions: 3, keep: 1, mask: 2, labelEvents: 3, timeSpentMs: 2 * MIN });
    // any-mask: step 1 is masked (yan), step 2 kept, step 3 masked by both; the finish step is unreviewed and kept.
    expect(row('zoe')).toMatchObject({ trained: 1, notTrained: 2 });
    expect(report.actions).toMatchObject({ total: 4, kept: 2, masked: 2, unlabelled: 1 });
    expect(report.timeSpent.method).toMatch(/capped at 5 minutes/);
    expect(report.agreement.pairs).toEqual([{ annotators: [YAN, 'zoe'], items: 3, agreed: 2, agreement: 0.6667, kappa: 0.4 }]);
  });

  it('renders a self-contained page: escaped text, the agreement table and an inline SVG chart', async () => {
    const r = await merge([zoe, yan]);
    const html = await readFile(join(r.dir, 'merge-report.html'), 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
    // Nothing is loaded from anywhere: no script, no links, no external styles or images.
    expect(html).not.toMatch(/<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(|@import/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; co');
    expect(html).toContain('&lt;yan &amp; co&gt;');
    expect(html).not.toContain(YAN);
    expect(html).toMatch(/<table class="agreement">[\s\S]*Cohen's κ[\s\S]*&lt;yan &amp; co&gt; – zoe[\s\S]*0\.40[\s\S]*Fleiss' κ[\s\S]*<\/table>/);
    expect(html).toMatch(/<svg [^>]*role="img"[^>]*>[\s\S]*class="keep"[\s\S]*class="mask"[\s\S]*<\/svg>/);
    expect(html).toContain('5 min');
  });

  it('a dry run returns the same report, each conflict\'s step, and writes nothing', async () => {
    const outDir = join(root, 'merged', 'dry');
    const dry = await mergeBundles({ inputs: [zoe, yan], outDir, dryRun: true, appVersion: '0.1.0-test' });
    expect(await exists(outDir)).toBe(false);
    expect((await readdir(join(root, 'merged'))).filter((x) => x.includes('.tmp-'))).toEqual([]);
    const real = await merge([zoe, yan]);
    expect(dry.report).toEqual(real.report);
    expect(dry.steps).toEqual([{
      sessionId: 'rep', stepId: ids[0], sessionName: 'Report <session>', branchName: 'main', depth: 1, content: 'Step MARK-1.', reasoning: null,
      toolCalls: [{ name: 'run_command', arguments: JSON.stringify({ session_id: 'main', command: 'echo MARK-1', wait_for_completion: true }) }],
      results: [{ name: 'run_command', observation: 'printed MARK-1 <ok>', isError: false }], settleable: true,
    }]);
  });

  it('manual: a dry run lists the conflicts to settle; the lead\'s settlements are written and win over any policy', async () => {
    const dry = await mergeBundles({ inputs: [zoe, yan], outDir: '', dryRun: true, policy: { kind: 'manual' } });
    expect(dry.report.actions.unsettled).toBe(1);
    expect(dry.report.conflicts.map((c) => [c.stepId, c.decision, c.settledBy])).toEqual([[ids[0], 'mask', 'unsettled']]);
    expect(dry.report.conflicts[0]!.votes.map((v) => [v.annotator, v.label, v.tags, v.note])).toEqual([[YAN, 'mask', ['error'], NOTE], ['zoe', 'keep', [], '']]);
    const settlements = [{ sessionId: 'rep', stepId: ids[0]!, label: 'keep' as const }];
    const settled = await mergeBundles({ inputs: [zoe, yan], outDir: '', dryRun: true, policy: { kind: 'manual' }, settlements });
    expect(settled.report.actions.unsettled).toBe(0);
    const r = await merge([zoe, yan], { policy: { kind: 'manual' }, settlements });
    expect(r.manifest.merge.conflicts.map((c) => [c.stepId, c.decision, c.settledBy])).toEqual([[ids[0], 'keep', 'manual']]);
    expect(r.report.actions.kept).toBe(3);
    // Under any-mask too, the lead's decision wins.
    const over = await merge([zoe, yan], { settlements });
    expect(over.manifest.merge.conflicts[0]).toMatchObject({ decision: 'keep', settledBy: 'manual' });
  });
});

describe('a merged bundle and its report', () => {
  it('merges again: the report is verified with every file, and the new merge writes its own', async () => {
    const first = await merge([zoe, yan]);
    const again = await merge([first.dir]);
    expect(again.report.bundles).toEqual([expect.objectContaining({ path: first.dir, merged: true, signer: { name: 'lead', fingerprint: lead.fingerprint, trusted: false } })]);
    // The same votes and label history: the same figures, time spent included.
    expect(again.report.annotators).toEqual(first.report.annotators.map((a) => ({ ...a, bundles: a.bundles })));
    expect(again.report.agreement).toEqual(first.report.agreement);
    expect(again.manifest.files.filter((f) => f.format === 'merge-report').map((f) => f.path)).toEqual(['merge-report.html', 'merge-report.json']);
    const saved = JSON.parse(await readFile(join(again.dir, 'merge-report.json'), 'utf8')) as MergeReport;
    expect(saved.bundles.map((b) => b.path)).toEqual([first.dir]);
  });

  it('is refused when its report was edited, even with the hash recomputed', async () => {
    const first = await merge([zoe, yan]);
    const edited = join(root, 'bundles', 'edited-report');
    await cp(first.dir, edited, { recursive: true });
    await writeFile(join(edited, 'merge-report.html'), (await readFile(join(edited, 'merge-report.html'), 'utf8')).replace('Merge report', 'Totally fine'));
    const err = await merge([edited]).catch((e: unknown) => e as Error);
    expect((err as Error).message).toMatch(/edited-report: file merge-report\.html does not match its SHA-256/);
    const m = JSON.parse(await readFile(join(edited, 'manifest.json'), 'utf8')) as MergedManifest;
    const body = await readFile(join(edited, 'merge-report.html'));
    Object.assign(m.files.find((f) => f.path === 'merge-report.html')!, { sha256: sha256(body), bytes: body.length });
    await writeFile(join(edited, 'manifest.json'), `${JSON.stringify(m, null, 2)}\n`);
    const forged = await merge([edited]).catch((e: unknown) => e as Error);
    expect((forged as Error).message).toMatch(/edited-report: the signature in manifest\.sig does not match manifest\.json/);
  });
});
