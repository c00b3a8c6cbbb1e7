// The filter view's data: one row per action (a step with a model response) of a
// branch path, with its label in force, plus filtering, coverage and the time
// histogram. Pure functions over the trajectory fold; what does not change once a
// step is finished (summary, search text) is cached per step object.
import type { LabelSource, LabelTag, LabelValue } from '../../../../shared/events';
import { effectiveLabel, type LabelRecord, type Step } from '../../../../shared/trajectory';
import { summarizeStep } from '../../lib/steps';
import type { AnnotValue, FilterCriteria } from '../../store/labels';

export interface FilterRow {
  step: Step;
  /** Step number on the path (depth). */
  n: number;
  tool: string;
  detail: string;
  isError: boolean;
  label: LabelValue | null;
  source: LabelSource | null;
  tags: LabelTag[];
  note: string;
  /** The record in force (absent while an optimistic annotator change is on its way). */
  record: LabelRecord | null;
  /** An annotator change is being written. */
  pending: boolean;
  /** What the rules / the judge say, annotator aside (null: nothing). */
  auto: LabelRecord | null;
}

interface StaticInfo {
  key: string;
  tool: string;
  detail: string;
  isError: boolean;
  haystack: string;
}

const staticCache = new WeakMap<Step, StaticInfo>();
const HAY_CHARS = 4000;

function staticInfo(step: Step): StaticInfo {
  const key = `${step.response ? 1 : 0}:${step.results.length}:${step.finishedAt ?? ''}`;
  const hit = staticCache.get(step);
  if (hit && hit.key === key) return hit;
  const s = summarizeStep(step);
  const parts: string[] = [`#${step.depth}`, s.tool, s.detail];
  if (step.response) {
    parts.push(step.response.content.slice(0, HAY_CHARS), step.response.reasoning.slice(0, HAY_CHARS));
    for (const c of step.response.toolCalls) parts.push(c.name, c.arguments.slice(0, HAY_CHARS));
  }
  for (const r of step.results) parts.push(r.observation.slice(0, HAY_CHARS));
  const info: StaticInfo = { key, tool: s.tool, detail: s.detail, isError: s.isError, haystack: parts.join('\n').toLowerCase() };
  staticCache.set(step, info);
  return info;
}

/** The latest non-cleared record of one source. */
export function latestOf(step: Step, source: LabelSource): LabelRecord | null {
  for (let i = step.labelHistory.length - 1; i >= 0; i--) {
    const l = step.labelHistory[i]!;
    if (l.source !== source) continue;
    return l.rule === '__cleared__' ? null : l;
  }
  return null;
}

/** The label in force when the annotator's own label is left out. */
export function automaticLabel(step: Step): LabelRecord | null {
  return latestOf(step, 'judge') ?? latestOf(step, 'rule');
}

export function isAction(step: Step): boolean {
  return !!step.response;
}

export function buildRows(path: readonly Step[], overlay: Record<string, AnnotValue | null> | undefined): FilterRow[] {
  const rows: FilterRow[] = [];
  for (const step of path) {
    if (!isAction(step)) continue;
    const info = staticInfo(step);
    const auto = automaticLabel(step);
    let label: LabelValue | null = null;
    let source: LabelSource | null = null;
    let tags: LabelTag[] = [];
    let note = '';
    let record: LabelRecord | null = null;
    let pending = false;
    if (overlay && step.id in overlay) {
      pending = true;
      const v = overlay[step.id]!;
      if (v) {
        label = v.label;
        source = 'annotator';
        tags = v.tags;
        note = v.note;
      } else if (auto) {
        record = auto;
      }
    } else {
      record = effectiveLabel(step);
    }
    if (record) {
      label = record.label;
      source = record.source;
      tags = record.tags;
      note = record.note;
    }
    rows.push({ step, n: step.depth, tool: info.tool, detail: info.detail, isError: info.isError, label, source, tags, note, record, pending, auto });
  }
  return rows;
}

export function labelKey(r: FilterRow): 'keep' | 'mask' | 'unreviewed' {
  return r.label ?? 'unreviewed';
}

/** The search words of the criteria, lower-cased (a row must hold each). */
export function searchTerms(text: string): string[] {
  const t = text.trim().toLowerCase();
  return t ? t.split(/\s+/) : [];
}

/**
 * `beyond`: per search word, the steps whose whole observations or reasoning hold it
 * (the core's sessions.search): the page holds only previews of the long ones.
 */
export function filterRows(rows: readonly FilterRow[], c: FilterCriteria, beyond?: ReadonlyMap<string, ReadonlySet<string>>): FilterRow[] {
  const terms = searchTerms(c.text);
  const all = c.label === 'all' && c.source === 'all' && !c.tag && !c.tool && !c.errorsOnly && terms.length === 0;
  if (all) return rows as FilterRow[];
  return rows.filter((r) => {
    if (c.label !== 'all' && labelKey(r) !== c.label) return false;
    if (c.source !== 'all') {
      if (c.source === 'none' ? r.source !== null : c.source === 'auto' ? r.source !== 'rule' && r.source !== 'judge' : r.source !== c.source) return false;
    }
    if (c.tag && !r.tags.includes(c.tag)) return false;
    if (c.tool && r.tool !== c.tool) return false;
    if (c.errorsOnly && !r.isError) return false;
    if (terms.length) {
      const hay = staticInfo(r.step).haystack;
      const extra = `${r.note}\n${r.tags.join(' ')}\n${r.record?.rule ?? ''}\n${r.record?.rationale ?? ''}`.toLowerCase();
      for (const t of terms) if (!hay.includes(t) && !extra.includes(t) && !beyond?.get(t)?.has(r.step.id)) return false;
    }
    return true;
  });
}

export interface Coverage {
  total: number;
  reviewed: number;
  /** Label in force set by the annotator. */
  annotator: number;
  /** Labelled only by rules / the judge (not confirmed). */
  auto: number;
  byRule: number;
  byJudge: number;
  keep: number;
  mask: number;
  unreviewed: number;
}

export function coverageOf(rows: readonly FilterRow[]): Coverage {
  const c: Coverage = { total: rows.length, reviewed: 0, annotator: 0, auto: 0, byRule: 0, byJudge: 0, keep: 0, mask: 0, unreviewed: 0 };
  for (const r of rows) {
    if (!r.label) {
      c.unreviewed++;
      continue;
    }
    c.reviewed++;
    if (r.label === 'keep') c.keep++;
    else c.mask++;
    if (r.source === 'annotator') c.annotator++;
    else {
      c.auto++;
      if (r.source === 'judge') c.byJudge++;
      else c.byRule++;
    }
  }
  return c;
}

export interface TimeBucket {
  start: number;
  end: number;
  keep: number;
  mask: number;
  unreviewed: number;
  /** Index (in rows) of the first action of the bucket, -1 when empty. */
  first: number;
}

/** Actions per time bucket of the session (by start time), split by label. */
export function timeBuckets(rows: readonly FilterRow[], max = 48): TimeBucket[] {
  if (rows.length === 0) return [];
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const r of rows) {
    t0 = Math.min(t0, r.step.startedAt);
    t1 = Math.max(t1, r.step.finishedAt ?? r.step.startedAt);
  }
  const n = Math.max(1, Math.min(max, rows.length));
  const span = Math.max(1, t1 - t0);
  const out: TimeBucket[] = [];
  for (let i = 0; i < n; i++) out.push({ start: t0 + (span * i) / n, end: t0 + (span * (i + 1)) / n, keep: 0, mask: 0, unreviewed: 0, first: -1 });
  rows.forEach((r, idx) => {
    const i = Math.min(n - 1, Math.max(0, Math.floor(((r.step.startedAt - t0) / span) * n)));
    const b = out[i]!;
    b[labelKey(r)]++;
    if (b.first < 0) b.first = idx;
  });
  return out;
}

/** Tools used on the path, most frequent first. */
export function toolsOf(rows: readonly FilterRow[]): Array<{ tool: string; count: number }> {
  const m = new Map<string, number>();
  for (const r of rows) m.set(r.tool, (m.get(r.tool) ?? 0) + 1);
  return [...m.entries()].map(([tool, count]) => ({ tool, count })).sort((a, b) => b.count - a.count || a.tool.localeCompare(b.tool));
}

/** Date and time to the second, for label histories. */
export function formatStamp(ms: number): string {
  const d = new Date(ms);
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/**
 * What applying the previewed rules would do to a row:
 * - 'change': its label in force changes (unreviewed or keep → mask);
 * - 'restate': it stays masked, now for this rule (another rule masked it);
 * - 'conflict': the rule label is recorded under a label that outranks it and says keep (yours or the judge's);
 * - 'agree': recorded under a higher label that already says mask.
 * Rows the rule already masks get nothing written and no mark.
 */
export type PreviewKind = 'change' | 'restate' | 'conflict' | 'agree';

export interface PreviewMark {
  kind: PreviewKind;
  rule: string;
  /** The label in force now (null: unreviewed) and its source. */
  from: LabelValue | null;
  fromSource: LabelSource | null;
  to: LabelValue;
}

/**
 * Classify the rows a rules preview names, the way applying writes them: one rule per
 * step (the first that names it, as the preview counts), nothing for a step already
 * masked by that same rule. So the marks shown are exactly the labels Apply appends.
 */
export function classifyPreview(rows: readonly FilterRow[], results: ReadonlyArray<{ rule: string; stepIds: readonly string[] }>): Map<string, PreviewMark> {
  const byId = new Map(rows.map((r) => [r.step.id, r]));
  const out = new Map<string, PreviewMark>();
  for (const { rule, stepIds } of results) {
    for (const id of stepIds) {
      if (out.has(id)) continue;
      const r = byId.get(id);
      if (!r) continue;
      const cur = latestOf(r.step, 'rule');
      if (cur && cur.rule === rule && cur.label === 'mask') continue;
      const outranked = r.source === 'annotator' || r.source === 'judge';
      const kind: PreviewKind = outranked ? (r.label === 'mask' ? 'agree' : 'conflict') : r.label === 'mask' ? 'restate' : 'change';
      out.set(id, { kind, rule, from: r.label, fromSource: r.source, to: 'mask' });
    }
  }
  return out;
}

export type PreviewTally = Record<PreviewKind, number>;

/** Counts per kind, over `ids` (default: every mark); a step without a mark counts as a change. */
export function tallyPreview(marks: ReadonlyMap<string, PreviewMark>, ids?: Iterable<string>): PreviewTally {
  const t: PreviewTally = { change: 0, restate: 0, conflict: 0, agree: 0 };
  for (const id of ids ?? marks.keys()) t[marks.get(id)?.kind ?? 'change']++;
  return t;
}

/** "2 rows change · 1 conflict with your labels": a tally in words (empty parts left out). */
export function describeTally(t: PreviewTally): string {
  const parts: string[] = [];
  parts.push(`${t.change} row${t.change === 1 ? '' : 's'} change${t.change === 1 ? 's' : ''} to mask`);
  if (t.restate) parts.push(`${t.restate} already masked get this rule as reason`);
  if (t.conflict) parts.push(`${t.conflict} conflict${t.conflict === 1 ? '' : 's'} with a label that wins`);
  if (t.agree) parts.push(`${t.agree} agree${t.agree === 1 ? 's' : ''} with a mask that wins`);
  return parts.join(' · ');
}

/** "rule says mask · you said keep": a disagreement between the label in force and the rules / judge under it, in words. */
export function conflictText(r: FilterRow): string | null {
  if (r.source !== 'annotator' || !r.auto || r.auto.label === r.label || !r.label) return null;
  return `${r.auto.source} says ${r.auto.label} · you said ${r.label}`;
}
