// The filter view's model (renderer/src/components/filter/model.ts): rows of a branch
// path with the label in force (optimistic overlay included), filtering by every
// criterion, coverage, tools, time buckets and the rules preview marks.
import { describe, expect, it } from 'vitest';
import { branchPath, foldTrajectory } from '../../shared/trajectory';
import {
  buildRows, classifyPreview, conflictText, coverageOf, describeTally, filterRows, tallyPreview, timeBuckets, toolsOf, type FilterRow,
} from '../../renderer/src/components/filter/model';
import { DEFAULT_CRITERIA, type FilterCriteria } from '../../renderer/src/store/labels';
import { SessionBuilder, failed, output, run } from '../fixtures/sessions';

function fixture() {
  const b = new SessionBuilder();
  b.rollout({ task: 'fix the build' });
  b.step({ id: 's1', calls: [run('make')] });
  b.step({ id: 's2', calls: [run('make test')], results: [{ ...failed('Segmentation fault'), isError: true }] });
  b.step({ id: 's3', calls: [output('main')] });
  b.step({ id: 's4', noResponse: true });
  b.step({ id: 's5', parentId: 's4', content: 'All done' });
  b.step({ id: 's6', calls: [run('ls -la')] });
  b.label('s1', 'keep');
  b.label('s2', 'mask', { source: 'rule', rule: 'failed-command', tags: ['error'] });
  b.label('s3', 'keep', { source: 'judge', rationale: 'reads the output' });
  b.label('s3', 'mask', { tags: ['redundant'], note: 'duplicate read' });
  b.label('s6', 'keep');
  b.clear('s6');
  const t = foldTrajectory(b.events);
  return { t, path: branchPath(t, 'main') };
}

const ids = (rows: readonly FilterRow[]) => rows.map((r) => r.step.id);
const where = (rows: FilterRow[], c: Partial<FilterCriteria>) => ids(filterRows(rows, { ...DEFAULT_CRITERIA, ...c }));

describe('filter model', () => {
  it('one row per action of the path, with the label in force and its source', () => {
    const { path } = fixture();
    expect(path.map((s) => s.id)).toEqual(['s1', 's2', 's3', 's4', 's5', 's6']);
    const rows = buildRows(path, undefined);
    expect(rows.map((r) => [r.step.id, r.n, r.tool, r.label, r.source, r.isError])).toEqual([
      ['s1', 1, 'run_command', 'keep', 'annotator', false],
      ['s2', 2, 'run_command', 'mask', 'rule', true],
      ['s3', 3, 'get_session_output', 'mask', 'annotator', false],
      ['s5', 5, 'reply', null, null, false],
      ['s6', 6, 'run_command', null, null, false],
    ]);
    const s3 = rows[2]!;
    expect([s3.tags, s3.note, s3.auto?.source, s3.auto?.label]).toEqual([['redundant'], 'duplicate read', 'judge', 'keep']);
    expect(conflictText(s3)).toBe('judge says keep · you said mask');
    expect(conflictText(rows[0]!)).toBeNull();
    expect(rows.every((r) => !r.pending)).toBe(true);
  });

  it('the overlay wins while a change is written: a value, or a clear that shows the rule / judge label under it', () => {
    const { path } = fixture();
    const rows = buildRows(path, { s5: { label: 'mask', tags: ['off-track'], note: 'n' }, s3: null });
    const s5 = rows.find((r) => r.step.id === 's5')!;
    expect([s5.pending, s5.label, s5.source, s5.tags, s5.note, s5.record]).toEqual([true, 'mask', 'annotator', ['off-track'], 'n', null]);
    const s3 = rows.find((r) => r.step.id === 's3')!;
    expect([s3.pending, s3.label, s3.source, s3.note]).toEqual([true, 'keep', 'judge', '']);
    expect(rows.find((r) => r.step.id === 's1')!.pending).toBe(false);
  });

  it('matches a word beyond the previews the page holds where the core found it in the whole text, each word on its own', () => {
    const { path } = fixture();
    const rows = buildRows(path, undefined);
    expect(where(rows, { text: 'gradient' })).toEqual([]);
    const beyond = new Map([['gradient', new Set(['s1', 's6'])], ['norm', new Set(['s6'])]]);
    expect(ids(filterRows(rows, { ...DEFAULT_CRITERIA, text: 'Gradient' }, beyond))).toEqual(['s1', 's6']);
    // Every word must match, in the preview or beyond it.
    expect(ids(filterRows(rows, { ...DEFAULT_CRITERIA, text: 'gradient norm' }, beyond))).toEqual(['s6']);
    expect(ids(filterRows(rows, { ...DEFAULT_CRITERIA, text: 'gradient make' }, beyond))).toEqual(['s1']);
  });

  it('filters by label, source, tag, tool, errors and text (all terms, in the step or its label)', () => {
    const { path } = fixture();
    const rows = buildRows(path, undefined);
    expect(filterRows(rows, DEFAULT_CRITERIA)).toBe(rows);
    expect(where(rows, { label: 'mask' })).toEqual(['s2', 's3']);
    expect(where(rows, { label: 'keep' })).toEqual(['s1']);
    expect(where(rows, { label: 'unreviewed' })).toEqual(['s5', 's6']);
    expect(where(rows, { source: 'rule' })).toEqual(['s2']);
    expect(where(rows, { source: 'auto' })).toEqual(['s2']);
    expect(where(rows, { source: 'annotator' })).toEqual(['s1', 's3']);
    expect(where(rows, { source: 'none' })).toEqual(['s5', 's6']);
    expect(where(rows, { tag: 'error' })).toEqual(['s2']);
    expect(where(rows, { tool: 'run_command' })).toEqual(['s1', 's2', 's6']);
    expect(where(rows, { errorsOnly: true })).toEqual(['s2']);
    expect(where(rows, { text: 'SEGMENTATION' })).toEqual(['s2']);
    expect(where(rows, { text: '  duplicate  ' })).toEqual(['s3']);
    expect(where(rows, { text: 'make test' })).toEqual(['s2']);
    expect(where(rows, { text: 'make nothing-like-this' })).toEqual([]);
    expect(where(rows, { text: 'failed-command' })).toEqual(['s2']);
    expect(where(rows, { label: 'keep', tool: 'get_session_output' })).toEqual([]);
  });

  it('coverage, tools and time buckets count every row once', () => {
    const { path } = fixture();
    const rows = buildRows(path, undefined);
    expect(coverageOf(rows)).toEqual({ total: 5, reviewed: 3, annotator: 2, auto: 1, byRule: 1, byJudge: 0, keep: 1, mask: 2, unreviewed: 2 });
    expect(toolsOf(rows)).toEqual([
      { tool: 'run_command', count: 3 },
      { tool: 'get_session_output', count: 1 },
      { tool: 'reply', count: 1 },
    ]);
    const buckets = timeBuckets(rows, 2);
    expect(buckets).toHaveLength(2);
    expect(buckets.reduce((n, b) => n + b.keep + b.mask + b.unreviewed, 0)).toBe(5);
    expect(buckets[0]!.first).toBe(0);
    expect(buckets[1]!.first).toBeGreaterThan(0);
    expect(timeBuckets([], 4)).toEqual([]);
  });

  it('preview marks: change, restate, conflict, agree, nothing where the same rule already masks', () => {
    const { path } = fixture();
    const rows = buildRows(path, undefined);
    const marks = classifyPreview(rows, [
      { rule: 'failed-command', stepIds: ['s2', 's1', 's5', 's3', 'gone'] },
      { rule: 'loops', stepIds: ['s2', 's5'] },
    ]);
    expect([...marks.entries()].map(([id, m]) => [id, m.kind, m.rule, m.from, m.fromSource])).toEqual([
      ['s1', 'conflict', 'failed-command', 'keep', 'annotator'],
      ['s5', 'change', 'failed-command', null, null],
      ['s3', 'agree', 'failed-command', 'mask', 'annotator'],
      ['s2', 'restate', 'loops', 'mask', 'rule'],
    ]);
    const tally = tallyPreview(marks);
    expect(tally).toEqual({ change: 1, restate: 1, conflict: 1, agree: 1 });
    expect(tallyPreview(marks, ['s5', 's6'])).toEqual({ change: 2, restate: 0, conflict: 0, agree: 0 });
    expect(describeTally(tally)).toBe('1 row changes to mask · 1 already masked get this rule as reason · 1 conflict with a label that wins · 1 agrees with a mask that wins');
  });
});
