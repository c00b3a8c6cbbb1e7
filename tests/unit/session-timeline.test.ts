// The session timeline's model (renderer/src/components/timeline/model.ts) and the
// search box's highlighting (renderer/src/components/search/highlight.ts): what each
// step is drawn as, the marks and idle gaps, the fold into pixel columns, what a
// pointer is over and where a click goes, zoom and pan, the axis.
import { describe, expect, it } from 'vitest';
import { branchPath, foldTrajectory } from '../../shared/trajectory';
import {
  IDLE_MS, STEP_KINDS, binTimeline, buildTimeline, columnOf, formatElapsed, hitTest, panWindow, stepAt, timeTicks, zoomWindow, MIN_SPAN_MS,
} from '../../renderer/src/components/timeline/model';
import { highlightParts } from '../../renderer/src/components/search/highlight';
import { SessionBuilder, failed, run } from '../fixtures/sessions';

const HOUR = 3_600_000;
const kindCode = (k: (typeof STEP_KINDS)[number]) => STEP_KINDS.indexOf(k) + 1;

/** Two hours of work with an idle hour in the middle, a branch, guidance, a comment and labels. */
function fixture() {
  const b = new SessionBuilder({ startTs: 1_700_000_000_000, tickMs: 1000 });
  b.rollout({ task: 'train the model' });
  const g0 = b.guidance('Use the small config first.', { after: null });
  const s1 = b.step({ calls: [run('ls')] });
  const s2 = b.step({ calls: [run('python train.py')] });
  b.stretch(s2, 20 * 60_000); // its tools ran 20 minutes: a long command
  const s3 = b.step({ calls: [{ name: 'sleep', args: { sleep_time: 600 } }] });
  const s4 = b.step({ calls: [run('sleep 900')] });
  b.ts += HOUR; // nobody and nothing for an hour
  const s5 = b.step({ calls: [run('pytest')], results: [{ ...failed('1 failed'), isError: true }] });
  const g1 = b.guidance('Fix the failing test before tuning.', { after: s5 });
  const s6 = b.step({ calls: [run('pytest -x')] });
  b.comment(s6, 'Good recovery.');
  b.label(s1, 'keep');
  b.label(s5, 'mask', { tags: ['error'] });
  b.label(s6, 'keep', { source: 'rule', rule: 'x' });
  b.label(s6, 'mask', { source: 'judge' });
  b.branch({ branchId: 'alt', from: s2, name: 'alt' });
  const a1 = b.step({ branchId: 'alt', calls: [run('python train.py --lr 1e-4')] });
  const t = foldTrajectory(b.events);
  return { b, t, path: branchPath(t, 'main'), ids: { g0, g1, s1, s2, s3, s4, s5, s6, a1 } };
}

describe('timeline model', () => {
  it('draws each step as what it was, from its calls, results and labels (never its observation text)', () => {
    const { t, path, ids } = fixture();
    const m = buildTimeline(t, path, null);
    const by = new Map(m.steps.map((s) => [s.id, s]));
    expect([ids.s1, ids.s2, ids.s3, ids.s4, ids.s5, ids.s6].map((id) => by.get(id)!.kind)).toEqual(['command', 'long', 'sleep', 'sleep', 'error', 'command']);
    expect(by.get(ids.s1)!.label).toBe('keep');
    expect(by.get(ids.s5)!.label).toBe('mask');
    // The judge outranks the rule.
    expect(by.get(ids.s6)!.label).toBe('mask');
    expect(by.get(ids.s6)!.title).toBe('run_command · pytest -x');
    expect(by.get(ids.a1)!.onPath).toBe(false);
    expect(m.hasOtherBranches).toBe(true);
    expect(m.steps.map((s) => s.start)).toEqual([...m.steps.map((s) => s.start)].sort((a, b) => a - b));
    // Emptied observations change nothing (the open view may hold them elided).
    for (const s of t.steps.values()) for (const r of s.results) r.observation = '';
    expect(buildTimeline(t, path, null).steps.map((s) => s.kind)).toEqual(m.steps.map((s) => s.kind));
  });

  it('marks guidance when it was given and goes to the step it reached, branches and comments; finds the idle hour', () => {
    const { t, path, ids } = fixture();
    const m = buildTimeline(t, path, null);
    const g0 = m.marks.find((x) => x.id === ids.g0)!;
    expect(g0).toMatchObject({ kind: 'guidance', at: t.guidance.get(ids.g0)!.queuedAt, stepId: ids.s1 });
    expect(g0.text).toMatch(/^alice: Use the small config first\./);
    expect(m.marks.find((x) => x.id === ids.g1)).toMatchObject({ kind: 'guidance', stepId: ids.s5 });
    expect(m.marks.find((x) => x.kind === 'branch')).toMatchObject({ id: 'alt', branchId: 'alt', stepId: ids.a1 });
    expect(m.marks.find((x) => x.kind === 'branch')!.text).toMatch(/branch alt from step 2/);
    expect(m.marks.find((x) => x.kind === 'comment')).toMatchObject({ stepId: ids.s6, text: 'alice: Good recovery.' });
    expect(m.gaps).toHaveLength(1);
    const gap = m.gaps[0]!;
    expect(gap.end).toBe(t.steps.get(ids.s5)!.startedAt);
    expect(gap.start).toBe(t.steps.get(ids.s4)!.finishedAt);
    expect(gap.end - gap.start).toBeGreaterThanOrEqual(IDLE_MS);
    expect(m.start).toBe(t.guidance.get(ids.g0)!.queuedAt);
    expect(m.end).toBe(t.steps.get(ids.a1)!.finishedAt);
  });

  it('a running step of a live session reaches now', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 'x' });
    const s1 = b.step({ calls: [run('make')] });
    const t = foldTrajectory(b.events);
    delete t.steps.get(s1)!.finishedAt;
    const now = t.steps.get(s1)!.startedAt + 90_000;
    const m = buildTimeline(t, branchPath(t, 'main'), now);
    expect(m.steps[0]).toMatchObject({ kind: 'running', end: now });
    expect(m.end).toBe(now);
  });

  it('folds steps, labels, marks and gaps into pixel columns, the highest kind winning', () => {
    const { t, path, ids } = fixture();
    const m = buildTimeline(t, path, null);
    const W = 600;
    const bins = binTimeline(m, m.start, m.end, W);
    const col = (ms: number) => Math.min(W - 1, columnOf(ms, m.start, m.end, W));
    const s2 = t.steps.get(ids.s2)!;
    // The 20-minute command fills its columns.
    for (let x = col(s2.startedAt) + 1; x < col(s2.finishedAt!); x++) expect(bins.path[x]).toBe(kindCode('long'));
    // The error shows in its column (it outranks the short steps next to it).
    expect(bins.path[col(t.steps.get(ids.s5)!.startedAt)]).toBe(kindCode('error'));
    // Idle columns: inside the gap only, none where a step runs.
    const gap = m.gaps[0]!;
    const mid = col((gap.start + gap.end) / 2);
    expect(bins.idle[mid]).toBe(1);
    expect(bins.path[mid]).toBe(0);
    for (let x = 0; x < W; x++) if (bins.idle[x]) expect([bins.path[x], bins.other[x]]).toEqual([0, 0]);
    // Labels under their steps; other branches in their own lane.
    expect(bins.keep[col(t.steps.get(ids.s1)!.startedAt)]).toBeGreaterThan(0);
    expect(bins.mask[col(t.steps.get(ids.s5)!.startedAt)]).toBeGreaterThan(0);
    expect(bins.other[col(t.steps.get(ids.a1)!.startedAt)]).toBe(kindCode('command'));
    // Marks: counted once each, at their column.
    expect(bins.guidance.reduce((n, v) => n + v, 0)).toBe(2);
    expect(bins.guidance[col(t.guidance.get(ids.g1)!.queuedAt)]).toBeGreaterThan(0);
    expect(bins.branch.reduce((n, v) => n + v, 0)).toBe(1);
    expect(bins.comment.reduce((n, v) => n + v, 0)).toBe(1);
  });

  it('a zoomed window leaves out what is outside it', () => {
    const { t, path, ids } = fixture();
    const m = buildTimeline(t, path, null);
    const s5 = t.steps.get(ids.s5)!;
    const bins = binTimeline(m, s5.startedAt - 1000, s5.finishedAt! + 1000, 100);
    expect(bins.path.filter((v) => v === kindCode('error')).length).toBeGreaterThan(50);
    expect(bins.path.some((v) => v === kindCode('long'))).toBe(false);
    expect(bins.guidance.reduce((n, v) => n + v, 0)).toBe(1);
  });

  it('2,500 steps over 48 hours: every step shows in the column it started in', () => {
    const b = new SessionBuilder({ tickMs: 1 });
    b.rollout({ task: 'long' });
    for (let i = 0; i < 2500; i++) {
      b.ts += (48 * HOUR) / 2500;
      b.step({ calls: [run(`step ${i}`)], results: i % 97 === 0 ? [{ ...failed('boom'), isError: true }] : undefined });
    }
    const t = foldTrajectory(b.events);
    const m = buildTimeline(t, branchPath(t, 'main'), null);
    expect(m.end - m.start).toBeGreaterThan(47.9 * HOUR);
    const W = 1100;
    const bins = binTimeline(m, m.start, m.end, W);
    for (const s of m.steps) expect(bins.path[Math.min(W - 1, columnOf(s.start, m.start, m.end, W))]).toBeGreaterThan(0);
    // 26 errors, none lost in the aggregation.
    const errCols = new Set(m.steps.filter((s) => s.kind === 'error').map((s) => Math.min(W - 1, columnOf(s.start, m.start, m.end, W))));
    for (const x of errCols) expect(bins.path[x]).toBe(kindCode('error'));
    expect(errCols.size).toBe(26);
  });
});

describe('timeline pointer', () => {
  it('a click goes to the step running there, to the step of a mark, or to the nearest step of the branch shown', () => {
    const { t, path, ids } = fixture();
    const m = buildTimeline(t, path, null);
    const W = 600;
    const col = (ms: number) => Math.min(W - 1, columnOf(ms, m.start, m.end, W));
    const s2 = t.steps.get(ids.s2)!;
    const inLong = hitTest(m, m.start, m.end, W, col(s2.startedAt + 10 * 60_000), 0);
    expect(stepAt(m, inLong)?.id).toBe(ids.s2);
    // In the idle hour: the step nearest in time (the one after the gap is nearer to its end).
    const gap = m.gaps[0]!;
    const late = hitTest(m, m.start, m.end, W, col(gap.end - 60_000), 0);
    expect(late.gap).not.toBeNull();
    expect(late.steps).toEqual([]);
    expect(stepAt(m, late)?.id).toBe(ids.s5);
    const early = hitTest(m, m.start, m.end, W, col(gap.start + 60_000), 0);
    expect(stepAt(m, early)?.id).toBe(ids.s4);
    // On the guidance given after s5: its step.
    const g1 = hitTest(m, m.start, m.end, W, col(t.guidance.get(ids.g1)!.queuedAt));
    expect(g1.marks.map((x) => x.id)).toContain(ids.g1);
    expect(stepAt(m, g1)?.id).toBe(ids.s5);
  });

  it('lists the steps of the branch shown first', () => {
    const { t, path, ids } = fixture();
    const m = buildTimeline(t, path, null);
    const a1 = t.steps.get(ids.a1)!;
    // The whole session in 10 columns: the last column holds s6 and the branch's step.
    const hit = hitTest(m, m.start, m.end, 10, columnOf(a1.startedAt, m.start, m.end, 10) - 0.0001, 0);
    const order = hit.steps.map((s) => s.onPath);
    expect(order).toEqual([...order].sort((a, b) => Number(b) - Number(a)));
    expect(hit.steps.some((s) => !s.onPath)).toBe(true);
  });

  it('zoom keeps the time under the pointer, and zoom and pan stay within the session', () => {
    const lo = 0;
    const hi = 48 * HOUR;
    const [a, b] = zoomWindow(lo, hi, 12 * HOUR, 0.5, lo, hi);
    expect(b - a).toBe(24 * HOUR);
    expect((12 * HOUR - a) / (b - a)).toBeCloseTo(0.25);
    expect(zoomWindow(a, b, 12 * HOUR, 100, lo, hi)).toEqual([lo, hi]);
    const [c, d] = zoomWindow(lo, hi, 47.99 * HOUR, 1e-9, lo, hi);
    expect(d - c).toBe(MIN_SPAN_MS);
    expect(d).toBeLessThanOrEqual(hi);
    expect(panWindow(a, b, -100 * HOUR, lo, hi)).toEqual([lo, lo + 24 * HOUR]);
    expect(panWindow(a, b, 100 * HOUR, lo, hi)).toEqual([hi - 24 * HOUR, hi]);
  });

  it('axis ticks are round elapsed times, far enough apart', () => {
    const ticks = timeTicks(0, 48 * HOUR, 1000, 0, 70);
    expect(ticks.map((x) => x.label)).toEqual(['0', '6h', '12h', '18h', '1d', '1d 6h', '1d 12h', '1d 18h', '2d']);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]!.x - ticks[i - 1]!.x).toBeGreaterThanOrEqual(70);
    expect(timeTicks(90_000, 150_000, 600, 0).map((x) => x.label).slice(0, 3)).toEqual(['1m 30s', '1m 40s', '1m 50s']);
    expect([0, 45_000, 12 * 60_000, 3 * HOUR + 30 * 60_000].map(formatElapsed)).toEqual(['0', '45s', '12m', '3h 30m']);
  });
});

describe('search highlighting', () => {
  it('marks every occurrence, case-insensitively, with the snippet whitespace folding', () => {
    expect(highlightParts('…Traceback: boom; traceback again', 'TRACEBACK')).toEqual([
      { text: '…', match: false },
      { text: 'Traceback', match: true },
      { text: ': boom; ', match: false },
      { text: 'traceback', match: true },
      { text: ' again', match: false },
    ]);
    expect(highlightParts('awk: syntax error at', 'syntax\n  error')).toEqual([
      { text: 'awk: ', match: false },
      { text: 'syntax error', match: true },
      { text: ' at', match: false },
    ]);
    expect(highlightParts('nothing here', 'zzz')).toEqual([{ text: 'nothing here', match: false }]);
    expect(highlightParts('x', '  ')).toEqual([{ text: 'x', match: false }]);
  });
});
