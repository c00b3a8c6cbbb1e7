// The records of a merged bundle that are not examples: its trajectory.jsonl (each
// session and step record is the first copy's, with the union of what every copy
// knows and the merge decision with every vote), and its redaction report, moved to
// where the redacted text is in the merged files.
import { canonicalJson } from '../rollout/request-record';
import { BUNDLE_FILES } from './bundle';
import type { Input } from './merge-read';
import { castTarget, type MergePlan, type PlannedAction, type PlannedSession } from './merge-plan';
import type { MaskedTurnReport, RedactionLog, RedactionReport } from './redact';

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function unionBy<T>(lists: Iterable<readonly T[]>, key: (x: T) => string): T[] {
  const seen = new Set<string>();
  const out: T[] = [];
  for (const l of lists) {
    for (const x of l) {
      const k = key(x);
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(x);
    }
  }
  return out;
}

const idOf = (x: unknown): string => (x && typeof x === 'object' && typeof (x as { id?: unknown }).id === 'string' ? (x as { id: string }).id : canonicalJson(x));

/** The merged session record: the first copy's, with the union of what every copy knows. */
export function sessionRecord(plan: MergePlan, s: PlannedSession): Record<string, unknown> {
  const raws = s.copies.map((b) => b.sessions.get(s.sessionId)!.raw);
  const list = (k: string): unknown[][] => raws.map((r) => (Array.isArray(r[k]) ? (r[k] as unknown[]) : []));
  const exported = new Set(plan.examples.filter((x) => x.ex.sessionId === s.sessionId).map((x) => x.ex.branchId));
  return {
    ...raws[0]!,
    exportedBranches: unionBy(list('exportedBranches') as string[][], (b) => b).filter((b) => exported.has(b)),
    labelPolicy: plan.labelPolicy,
    rollouts: unionBy(list('rollouts'), idOf),
    branches: unionBy(list('branches'), idOf),
    guidance: unionBy(list('guidance'), idOf),
  };
}

/**
 * The merged step record: the first copy's, with everyone's labels, comments and
 * guidance, and the merge decision (`a`, null when it is no action; `trained` when an
 * example trains it). `raws` are the copies' records as read, in input order.
 */
export function stepRecord(a: PlannedAction | null, trained: boolean, raws: ReadonlyArray<Record<string, unknown>>): Record<string, unknown> {
  const list = (k: string): unknown[][] => raws.map((r) => (Array.isArray(r[k]) ? (r[k] as unknown[]) : []));
  const history = unionBy(list('labelHistory'), canonicalJson)
    .map((x, i) => ({ x: x as { at?: number; seq?: number }, i }))
    .sort((a, b) => (a.x.at ?? 0) - (b.x.at ?? 0) || (a.x.seq ?? 0) - (b.x.seq ?? 0) || a.i - b.i)
    .map((e) => e.x);
  const rec: Record<string, unknown> = {
    ...raws[0]!,
    onBranches: unionBy(list('onBranches') as string[][], (b) => b),
    labelHistory: history,
    comments: unionBy(list('comments'), idOf),
    guidance: unionBy(list('guidance'), idOf),
    children: unionBy(list('children') as string[][], (c) => c),
  };
  if (!a) return rec;
  const d = a.decision;
  // The label shown is the newest counted vote that agrees with the decision (null: nobody labelled it).
  const decisive = [...d.counted].filter((v) => v.label === d.label).sort((x, y) => y.at - x.at)[0];
  const entry = decisive ? history.find((h) => {
    const e = h as { source?: string; author?: string; at?: number; cleared?: boolean };
    return e.source === decisive.source && e.author === decisive.author && e.at === decisive.at && !e.cleared;
  }) : undefined;
  rec.label = entry ?? null;
  rec.weight = trained ? 1 : 0;
  rec.weightReason = d.label === 'keep' && !trained ? 'no-context' : d.reason;
  rec.merge = {
    votes: a.facts.votes, decision: d.label, reason: d.label === 'keep' && !trained ? 'no-context' : d.reason,
    conflict: d.conflict, settledBy: d.settledBy,
  };
  return rec;
}

/** Per input, the lines of its trajectory.jsonl its redaction report names: where merge-write.ts notes their merged lines. */
export function redactedTrajectoryLines(inputs: readonly Input[]): Map<Input, Set<number>> {
  return new Map(inputs.map((b) => [b, new Set(b.redactions.filter((r) => r.file === BUNDLE_FILES.trajectory).map((r) => r.line))]));
}

// ---------------------------------------------------------------- redactions

/**
 * The inputs' redaction reports, moved to where the redacted text is in the merged bundle
 * (dropped with what was not carried); `traj`: per input, its redacted trajectory.jsonl
 * lines → their merged lines (as written). `own`: what the merge redacted itself, added
 * to them (a place both redacted counts both). `actions`: where the merged openai.jsonl's
 * redacted strings are in the per-action files the merge derives from it (an input's own
 * entries for those files name its lines, not the merged ones, and are dropped).
 */
export function mergedRedactions(
  plan: MergePlan, inputs: Input[], traj: Map<Input, Map<number, number>>, own?: RedactionLog, actions?: RedactionLog,
): { redactions: RedactionReport[]; maskedTurns: MaskedTurnReport[] } {
  const entries = new Map<string, RedactionReport>();
  const add = (r: RedactionReport): void => {
    const key = `${r.file}\u0000${r.line}\u0000${r.path}\u0000${r.kind}`;
    const e = entries.get(key);
    // Copies of one record carry the same entry: keep it once.
    if (!e) entries.set(key, { ...r });
    else e.count = Math.max(e.count, r.count);
  };
  const turns = new Map<string, MaskedTurnReport>();
  for (const input of inputs) {
    const written = plan.writtenFrom.get(input)!;
    const tl = traj.get(input);
    for (const r of input.redactions) {
      if (r.file === BUNDLE_FILES.openai) {
        const x = written.get(r.line - 1);
        if (x) add({ ...r, line: x.line });
      } else if (r.file === BUNDLE_FILES.trajectory) {
        const to = tl?.get(r.line);
        if (to) add({ ...r, line: to });
      } else if (input.files.get(r.file)?.format === 'asciicast') {
        const out = castTarget(plan, input, r.file);
        if (out) add({ ...r, file: out });
      } else if (r.file === BUNDLE_FILES.manifest) {
        const ptr = remapManifestPointer(r.path, input, plan);
        if (ptr !== null) add({ ...r, path: ptr });
      }
    }
    for (const m of input.maskedTurns) {
      const x = m.file === BUNDLE_FILES.openai ? written.get(m.line - 1) : undefined;
      if (!x) continue;
      const t = { ...m, line: x.line, kinds: [...m.kinds] };
      turns.set(`${t.file}\u0000${t.line}\u0000${t.path}\u0000${t.action}`, t);
    }
  }
  for (const r of [...own?.list() ?? [], ...actions?.list() ?? []]) {
    const key = `${r.file}\u0000${r.line}\u0000${r.path}\u0000${r.kind}`;
    const e = entries.get(key);
    if (e) e.count += r.count;
    else entries.set(key, { ...r });
  }
  for (const m of own?.masked() ?? []) {
    const key = `${m.file}\u0000${m.line}\u0000${m.path}\u0000${m.action}`;
    const t = turns.get(key);
    if (!t) turns.set(key, m);
    else t.kinds = [...new Set([...t.kinds, ...m.kinds])].sort();
  }
  const redactions = [...entries.values()].sort((a, b) => byString(a.file, b.file) || a.line - b.line || byString(a.path, b.path) || byString(a.kind, b.kind));
  const maskedTurns = [...turns.values()].sort((a, b) => a.line - b.line || byString(a.path, b.path));
  return { redactions, maskedTurns };
}

/** A JSON pointer into an input manifest, moved to the same value in the merged manifest; null = not carried over. */
function remapManifestPointer(ptr: string, input: Input, plan: MergePlan): string | null {
  const [empty, top, idx, ...rest] = ptr.split('/');
  const i = Number(idx);
  if (empty !== '' || idx === undefined || !Number.isInteger(i) || i < 0) return null;
  if (top === 'sessions') {
    const s = input.manifest.sessions[i];
    const to = s ? plan.manifestSessions.findIndex((x) => x.sessionId === s.sessionId) : -1;
    if (!s || to < 0) return null;
    const merged = plan.manifestSessions[to]!;
    const [field, sub, ...tail] = rest;
    if (field === 'branches' && sub !== undefined) {
      const b = s.branches[Number(sub)];
      const j = b ? merged.branches.findIndex((x) => x.branchId === b.branchId) : -1;
      return j < 0 ? null : ['', 'sessions', to, 'branches', j, ...tail].join('/');
    }
    if (field === 'terminals' && sub !== undefined) {
      const t = s.terminals[Number(sub)];
      const j = t === undefined ? -1 : merged.terminals.indexOf(t);
      return j < 0 ? null : ['', 'sessions', to, 'terminals', j, ...tail].join('/');
    }
    return ['', 'sessions', to, ...rest].join('/');
  }
  if (top === 'trajectories') {
    const x = plan.writtenFrom.get(input)!.get(i);
    return x ? ['', 'trajectories', x.line - 1, ...rest].join('/') : null;
  }
  if (top === 'annotators') {
    const a = input.manifest.annotators[i];
    const j = a === undefined ? -1 : plan.annotatorNames.indexOf(a);
    return j < 0 ? null : ['', 'annotators', j, ...rest].join('/');
  }
  return null;
}
