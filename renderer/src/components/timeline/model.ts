// The session timeline's data, DOM-free (unit-tested in plain Node): what happened
// when, drawn from the folded trajectory the renderer already has. Observations are
// never read (the open view may hold them elided): a step's kind comes from its tool
// calls, the durations its results carry, and its error flags.
//
// A session spans up to days and thousands of steps, and the strip is ~1,000 px wide,
// so nothing is drawn per step: binTimeline folds everything into one record per
// pixel column (difference arrays, O(steps + width)), and the canvas paints runs.
import { effectiveLabel, type Step, type Trajectory } from '../../../../shared/trajectory';
import { branchLabel } from '../../lib/trajectoryView';
import { summarizeStep } from '../../lib/steps';
import { truncate } from '../../lib/format';

/** Tools that ran this long held the agent: drawn as long commands. */
export const LONG_MS = 2 * 60_000;
/** Nothing running for this long between two steps: an idle gap. */
export const IDLE_MS = 5 * 60_000;

/** In increasing priority: one pixel column shows its highest. */
export const STEP_KINDS = ['sleep', 'command', 'long', 'running', 'error'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export interface TimelineStep {
  id: string;
  depth: number;
  branchId: string;
  /** On the path of the branch shown (the others are drawn faint, below). */
  onPath: boolean;
  start: number;
  end: number;
  kind: StepKind;
  label: 'keep' | 'mask' | null;
  /** "run_command · pytest -x" (tool and its main argument). */
  title: string;
}

export type MarkKind = 'guidance' | 'branch' | 'comment';

export interface TimelineMark {
  kind: MarkKind;
  id: string;
  at: number;
  /** Where clicking it goes (null: nowhere particular, the nearest step). */
  stepId: string | null;
  branchId?: string;
  text: string;
}

export interface TimelineGap {
  start: number;
  end: number;
}

export interface TimelineModel {
  start: number;
  end: number;
  /** Sorted by start. */
  steps: TimelineStep[];
  /** Sorted by time. */
  marks: TimelineMark[];
  gaps: TimelineGap[];
  hasOtherBranches: boolean;
}

const SLEEP_COMMAND = /"(?:command|cmd)"\s*:\s*"\s*sleep\s+\d/;

function titleOf(s: Step): string {
  const sum = summarizeStep(s);
  return sum.detail ? `${sum.tool} · ${sum.detail}` : sum.tool;
}

function kindOf(step: Step, now: number | null): StepKind {
  if (step.results.some((r) => r.isError)) return 'error';
  if (step.finishedAt === undefined && now !== null) return 'running';
  const calls = step.response?.toolCalls ?? [];
  if (calls.length > 0 && calls.every((c) => c.name === 'sleep' || (c.name === 'run_command' && SLEEP_COMMAND.test(c.arguments)))) return 'sleep';
  const toolMs = step.results.reduce((n, r) => n + r.durationMs, 0);
  return toolMs >= LONG_MS ? 'long' : 'command';
}

/**
 * The timeline of a trajectory. `path` is the branch shown (its steps are the main
 * lane); `now` is given while the session is live (running steps reach it), else null.
 */
export function buildTimeline(t: Trajectory, path: readonly Step[], now: number | null): TimelineModel {
  const onPath = new Set<string>();
  for (const s of path) onPath.add(s.id);
  const steps: TimelineStep[] = [];
  let other = false;
  for (const id of t.order) {
    const s = t.steps.get(id);
    if (!s) continue;
    const end = s.finishedAt ?? (now !== null ? Math.max(now, s.startedAt) : s.startedAt + s.results.reduce((n, r) => n + r.durationMs, 0));
    const label = effectiveLabel(s)?.label ?? null;
    const on = onPath.has(s.id);
    if (!on) other = true;
    // The title is read for one step at a time (hover, the selected one): made then, not for every step on each build.
    steps.push({ id: s.id, depth: s.depth, branchId: s.branchId, onPath: on, start: s.startedAt, end, kind: kindOf(s, now), label, get title() { return titleOf(s); } });
  }
  steps.sort((a, b) => a.start - b.start);

  const marks: TimelineMark[] = [];
  const firstOnPath = path[0]?.id ?? null;
  for (const g of t.guidance.values()) {
    // Guidance delivered before the first step belongs to the first step.
    const stepId = g.delivered ? g.delivered.stepId ?? firstOnPath : null;
    marks.push({ kind: 'guidance', id: g.id, at: g.queuedAt, stepId, text: `${g.author}: ${truncate(g.text, 160)}${g.delivered ? '' : ' (not delivered yet)'}` });
  }
  for (const b of t.branches.values()) {
    if (b.reason === 'root') continue;
    const first = t.order.find((id) => t.steps.get(id)?.branchId === b.id) ?? null;
    const from = b.fromStepId ? t.steps.get(b.fromStepId) : undefined;
    marks.push({
      kind: 'branch', id: b.id, at: b.createdAt, stepId: first ?? b.fromStepId, branchId: b.id,
      text: `${b.reason === 'rewind' ? 'rewind' : 'branch'} ${branchLabel(b)} from step ${from?.depth ?? 0} (${b.author})`,
    });
  }
  for (const c of t.comments.values()) marks.push({ kind: 'comment', id: c.id, at: c.createdAt, stepId: c.stepId, text: `${c.author}: ${truncate(c.text, 160)}` });
  marks.sort((a, b) => a.at - b.at);

  const gaps: TimelineGap[] = [];
  let reach = -Infinity;
  for (const s of steps) {
    if (reach > -Infinity && s.start - reach >= IDLE_MS) gaps.push({ start: reach, end: s.start });
    reach = Math.max(reach, s.end);
  }

  let start = Infinity;
  let end = -Infinity;
  for (const s of steps) {
    start = Math.min(start, s.start);
    end = Math.max(end, s.end);
  }
  for (const m of marks) {
    start = Math.min(start, m.at);
    end = Math.max(end, m.at);
  }
  if (now !== null && end > -Infinity) end = Math.max(end, now);
  if (start === Infinity) start = end = 0;
  return { start, end: Math.max(end, start + 1), steps, marks, gaps, hasOtherBranches: other };
}

/** One pixel column: the highest step kind per lane (index into STEP_KINDS + 1; 0 nothing), counts of the rest. */
export interface TimelineBins {
  width: number;
  from: number;
  to: number;
  path: Uint8Array;
  other: Uint8Array;
  keep: Uint16Array;
  mask: Uint16Array;
  guidance: Uint16Array;
  branch: Uint16Array;
  comment: Uint16Array;
  idle: Uint8Array;
}

/** The column of time `t` (may fall outside 0..width-1). */
export function columnOf(t: number, from: number, to: number, width: number): number {
  return Math.floor(((t - from) / (to - from)) * width);
}

/** The time at the left edge of column `x` (fractional x allowed). */
function timeAt(x: number, from: number, to: number, width: number): number {
  return from + (x / width) * (to - from);
}

/** Fold the model into `width` columns over [from, to]. */
export function binTimeline(m: TimelineModel, from: number, to: number, width: number): TimelineBins {
  const w = Math.max(1, Math.floor(width));
  const K = STEP_KINDS.length;
  // Per kind and lane, +1 where a step's span starts and -1 after it ends; a prefix sum gives the steps covering each column.
  const diff = new Int32Array((w + 1) * K * 2);
  const labels = new Int32Array((w + 1) * 2);
  const idleDiff = new Int32Array(w + 1);
  const span = (a: number, b: number): [number, number] | null => {
    if (b < from || a > to) return null;
    const x0 = Math.max(0, Math.min(w - 1, columnOf(a, from, to, w)));
    const x1 = Math.max(x0, Math.min(w - 1, columnOf(b, from, to, w)));
    return [x0, x1];
  };
  for (const s of m.steps) {
    const r = span(s.start, s.end);
    if (!r) continue;
    const lane = s.onPath ? 0 : 1;
    const k = STEP_KINDS.indexOf(s.kind);
    const base = (lane * K + k) * (w + 1);
    diff[base + r[0]]!++;
    diff[base + r[1] + 1]!--;
    if (s.onPath && s.label) {
      const lb = (s.label === 'keep' ? 0 : 1) * (w + 1);
      labels[lb + r[0]]!++;
      labels[lb + r[1] + 1]!--;
    }
  }
  for (const g of m.gaps) {
    const r = span(g.start, g.end);
    if (!r) continue;
    idleDiff[r[0]]!++;
    idleDiff[r[1] + 1]!--;
  }
  const bins: TimelineBins = {
    width: w, from, to,
    path: new Uint8Array(w), other: new Uint8Array(w), keep: new Uint16Array(w), mask: new Uint16Array(w),
    guidance: new Uint16Array(w), branch: new Uint16Array(w), comment: new Uint16Array(w), idle: new Uint8Array(w),
  };
  for (let lane = 0; lane < 2; lane++) {
    const out = lane === 0 ? bins.path : bins.other;
    for (let k = 0; k < K; k++) {
      const base = (lane * K + k) * (w + 1);
      let run = 0;
      for (let x = 0; x < w; x++) {
        run += diff[base + x]!;
        if (run > 0) out[x] = k + 1;
      }
    }
  }
  let keep = 0;
  let mask = 0;
  let idle = 0;
  for (let x = 0; x < w; x++) {
    keep += labels[x]!;
    mask += labels[w + 1 + x]!;
    idle += idleDiff[x]!;
    bins.keep[x] = keep;
    bins.mask[x] = mask;
    // A gap's edge columns also hold the steps around it: idle only where nothing runs.
    bins.idle[x] = idle > 0 && bins.path[x] === 0 && bins.other[x] === 0 ? 1 : 0;
  }
  for (const mk of m.marks) {
    if (mk.at < from || mk.at > to) continue;
    const x = Math.min(w - 1, Math.max(0, columnOf(mk.at, from, to, w)));
    bins[mk.kind][x] = (bins[mk.kind][x] ?? 0) + 1;
  }
  return bins;
}

export interface TimelineHit {
  /** The time under the pointer. */
  at: number;
  /** Steps within the column (± slack), path first, then by start. */
  steps: TimelineStep[];
  marks: TimelineMark[];
  gap: TimelineGap | null;
}

/** What is under column `x` (marks and steps within `slack` px count: a 1-px step is hard to hit). */
export function hitTest(m: TimelineModel, from: number, to: number, width: number, x: number, slack = 2): TimelineHit {
  const a = timeAt(x - slack, from, to, width);
  const b = timeAt(x + 1 + slack, from, to, width);
  const steps = m.steps.filter((s) => s.end >= a && s.start <= b).sort((p, q) => Number(q.onPath) - Number(p.onPath) || p.start - q.start);
  const marks = m.marks.filter((mk) => mk.at >= a && mk.at <= b);
  const at = timeAt(x + 0.5, from, to, width);
  const gap = steps.length === 0 ? m.gaps.find((g) => g.start <= at && g.end >= at) ?? null : null;
  return { at, steps, marks, gap };
}

/**
 * The step a click at time `at` goes to: a mark's step under the pointer first (the
 * guidance, branch or comment the user aimed at), else the step of the branch shown
 * running then, else the nearest one in time (steps of other branches only when the
 * branch shown has none).
 */
export function stepAt(m: TimelineModel, hit: TimelineHit): TimelineStep | null {
  for (const mk of hit.marks) {
    const s = mk.stepId ? m.steps.find((x) => x.id === mk.stepId) : undefined;
    if (s) return s;
  }
  const covering = hit.steps.find((s) => s.onPath && s.start <= hit.at && s.end >= hit.at) ?? hit.steps[0];
  if (covering) return covering;
  let best: TimelineStep | null = null;
  let bestD = Infinity;
  for (const pathOnly of [true, false]) {
    for (const s of m.steps) {
      if (pathOnly && !s.onPath) continue;
      const d = hit.at < s.start ? s.start - hit.at : hit.at > s.end ? hit.at - s.end : 0;
      if (d < bestD) {
        bestD = d;
        best = s;
      }
    }
    if (best) return best;
  }
  return null;
}

/** The narrowest window a zoom reaches. */
export const MIN_SPAN_MS = 10_000;

/** Zoom [from, to] by `factor` (< 1 in) keeping time `at` under the pointer, within [lo, hi]. */
export function zoomWindow(from: number, to: number, at: number, factor: number, lo: number, hi: number): [number, number] {
  const full = hi - lo;
  const span = Math.min(full, Math.max(Math.min(MIN_SPAN_MS, full), (to - from) * factor));
  const k = (at - from) / (to - from);
  return clampWindow(at - k * span, at - k * span + span, lo, hi);
}

/** Move [from, to] by `dt`, kept within [lo, hi] (its width unchanged). */
export function panWindow(from: number, to: number, dt: number, lo: number, hi: number): [number, number] {
  return clampWindow(from + dt, to + dt, lo, hi);
}

function clampWindow(a: number, b: number, lo: number, hi: number): [number, number] {
  const span = Math.min(b - a, hi - lo);
  if (a < lo) return [lo, lo + span];
  if (b > hi) return [hi - span, hi];
  return [a, b];
}

const TICK_STEPS = [1, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000);

/** Axis ticks over [from, to], at least `minPx` apart, as offsets from the session's start. */
export function timeTicks(from: number, to: number, width: number, origin: number, minPx = 70): Array<{ x: number; label: string }> {
  const perPx = (to - from) / Math.max(1, width);
  const step = TICK_STEPS.find((s) => s / perPx >= minPx) ?? TICK_STEPS[TICK_STEPS.length - 1]! * Math.ceil((minPx * perPx) / TICK_STEPS[TICK_STEPS.length - 1]!);
  const out: Array<{ x: number; label: string }> = [];
  for (let t = origin + Math.ceil((from - origin) / step) * step; t <= to; t += step) out.push({ x: ((t - from) / (to - from)) * width, label: formatElapsed(t - origin) });
  return out;
}

/** "0", "45s", "12m", "3h", "3h 30m", "2d 4h": time since the session started. */
export function formatElapsed(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s === 0) return '0';
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d ${h % 24}h` : `${d}d`;
}
