// Labelling, rules, judge and export as the filter view drives them. The labels
// themselves live in the session log (label.set / label.cleared events folded into
// the trajectory); this slice holds what the view needs around them: which view a
// session shows, the filter criteria, cursor and selection, the undo stack of this
// panel's own label changes, and the state of rules previews, judge runs and exports.
//
// Label changes are shown at once through a small optimistic overlay (annotator
// label per step) that is dropped shortly after the host answered, by which time
// the `session.event` push has been folded in.
import type { ArgsOf, ResultOf } from '../../../shared/contract/index';
import type { AnnotatePushEvents } from '../../../shared/contract/annotate';
import type { LabelTag, LabelValue } from '../../../shared/events';
import { foldTrajectory, type Step, type Trajectory } from '../../../shared/trajectory';
import type { Transport } from '../../../shared/transport';
import { attempt, describeError, type ErrorView, type Outcome } from '../lib/errors';
import { branchLabel, listBranches } from '../lib/trajectoryView';
import type { Slice } from './types';

export type SessionMode = 'live' | 'filter';

export type LabelFilter = 'all' | 'keep' | 'mask' | 'unreviewed';
export type SourceFilter = 'all' | 'annotator' | 'judge' | 'rule' | 'auto' | 'none';

export interface FilterCriteria {
  label: LabelFilter;
  source: SourceFilter;
  /** '' = any tag. */
  tag: '' | LabelTag;
  /** '' = any tool. */
  tool: string;
  text: string;
  /** Only failed actions. */
  errorsOnly: boolean;
}

export const DEFAULT_CRITERIA: FilterCriteria = { label: 'all', source: 'all', tag: '', tool: '', text: '', errorsOnly: false };

export interface FilterCursor {
  /** null: the default branch (the live view's, else the latest rollout's). */
  branchId: string | null;
  /** Step under the keyboard cursor (shown in the detail pane). */
  cursor: string | null;
  /** Selected steps for bulk labelling (may be empty: then the cursor is the target). */
  selection: string[];
  /** Where a Shift range starts. */
  anchor: string | null;
}

const NO_CURSOR: FilterCursor = { branchId: null, cursor: null, selection: [], anchor: null };

/** An annotator decision: what labels.set records for source 'annotator'. */
export interface AnnotValue {
  label: LabelValue;
  tags: LabelTag[];
  note: string;
}

/**
 * One labelling action, as undo and redo take it back: the annotator's own change
 * (its labels before and after, per step), or a rules / judge application (the steps
 * it labelled and where its events start in the log: labels.revert puts them back as
 * they were before, as one unit). Reverting a revert is its redo.
 */
export type UndoEntry =
  | { kind: 'annotator'; prev: Array<[string, AnnotValue | null]>; next: Array<[string, AnnotValue | null]>; what: string }
  | { kind: 'revert'; source: 'rule' | 'judge'; stepIds: string[]; fromSeq: number; what: string };

export interface LabelChange {
  step: Step;
  label: LabelValue;
  tags?: LabelTag[];
  note?: string;
}

export interface RuleInfo {
  name: string;
  description: string;
  params: Record<string, unknown>;
}

export interface RulePreviewState {
  branchId: string;
  state: 'loading' | 'ready' | 'error';
  results: Array<{ rule: string; count: number; stepIds: string[] }>;
  error?: string;
  /** Set after "Apply": how many labels it wrote. */
  applied?: number;
}

export interface JudgeRunState {
  branchId: string;
  profile: string;
  state: 'running' | 'done' | 'failed';
  startedAt: number;
  labelled?: number;
  tokens?: number;
  error?: string;
}

export type ExportProgress = AnnotatePushEvents['export.progress'];

/** A branch the export dialog offers for a session. */
export interface ExportBranchOption {
  id: string;
  label: string;
  ownSteps: number;
}

/** The branches of a session as the export dialog lists them (fetched for sessions not open here). */
export type ExportBranchList = { state: 'loading' } | { state: 'ready'; branches: ExportBranchOption[] } | { state: 'error'; error: string };

/** The branches a session offers for export, in the branch panel's order. */
export function exportBranchOptions(t: Trajectory): ExportBranchOption[] {
  return listBranches(t).map((b) => ({ id: b.branch.id, label: branchLabel(b.branch), ownSteps: b.ownSteps }));
}

export interface ExportJob {
  exportId: string;
  request: ArgsOf<'export.start'>;
  startedAt: number;
  progress: ExportProgress | null;
}

const UNDO_LIMIT = 200;
/** How long an optimistic label can outlive the host's answer waiting for its event (pushes are batched every ~16 ms). */
const OVERLAY_GRACE_MS = 400;
/** How often a lingering overlay looks whether its event has been folded. */
const OVERLAY_RECHECK_MS = 16;

export interface LabelsSlice {
  sessionMode: Record<string, SessionMode>;
  /** The view last chosen: sessions opened afterwards start in it (a reviewer stays in Filter). */
  lastMode: SessionMode;
  filterCriteria: FilterCriteria;
  filterCursors: Record<string, FilterCursor>;
  /** sessionId → stepId → annotator label being written (null: being cleared). */
  labelOverlay: Record<string, Record<string, AnnotValue | null>>;
  labelUndo: Record<string, UndoEntry[]>;
  /** What undo took back, newest last (cleared by any new labelling action). */
  labelRedo: Record<string, UndoEntry[]>;
  rules: RuleInfo[] | null;
  rulesError: string | null;
  rulePreview: Record<string, RulePreviewState>;
  judgeRuns: Record<string, JudgeRunState>;
  exports: Record<string, ExportJob>;
  /** Progress that arrived before export.start answered. */
  exportEarly: Record<string, ExportProgress>;
  /** Branch lists of sessions fetched for the export dialog (sessionId → list). */
  exportBranches: Record<string, ExportBranchList>;
  /** Move the cursor to the next row after labelling one (off: the cursor stays where the label went). */
  advanceAfterLabel: boolean;

  setSessionMode(sessionId: string, mode: SessionMode): void;
  setAdvanceAfterLabel(on: boolean): void;
  setFilterCriteria(patch: Partial<FilterCriteria>): void;
  filterCursorOf(sessionId: string): FilterCursor;
  setFilterCursor(sessionId: string, patch: Partial<FilterCursor>): void;
  /**
   * Set the annotator label of steps. Without `override`, each step keeps its own note,
   * and its reason tags when they fit the new label. Recorded for undo.
   */
  applyLabel(sessionId: string, steps: Step[], label: LabelValue, override?: { tags?: LabelTag[]; note?: string }): Promise<boolean>;
  /** Several label changes as one (one undo entry), each step with its own label and optional tags / note. */
  applyLabels(sessionId: string, items: LabelChange[], what?: string): Promise<boolean>;
  /** Remove the annotator label (rule and judge labels show through again). Recorded for undo. */
  clearAnnotatorLabel(sessionId: string, steps: Step[]): Promise<boolean>;
  /** Undo the last labelling action made here (a whole rules / judge application is one); resolves to the steps it touched (null: nothing to undo). */
  undoLabel(sessionId: string): Promise<string[] | null>;
  /** Redo what the last undo took back; resolves to the steps it touched (null: nothing to redo). */
  redoLabel(sessionId: string): Promise<string[] | null>;
  loadRules(): Promise<void>;
  previewRules(sessionId: string, branchId: string, rules: string[]): Promise<void>;
  /** Write the rule labels; resolves to how many and on which steps (one undo entry). */
  applyRules(sessionId: string, branchId: string, rules: string[]): Promise<Outcome<{ count: number; stepIds: string[] }>>;
  runJudge(sessionId: string, branchId: string, profile: string): Promise<void>;
  startExport(req: ArgsOf<'export.start'>): Promise<Outcome<string>>;
  cancelExport(exportId: string): Promise<void>;
  /** Fetch a session's branches for the export dialog (again when `force`, else once). */
  loadExportBranches(sessionId: string, force?: boolean): Promise<void>;
}

/** The view a session shows: its own choice, else the one chosen last. */
export function modeOf(s: Pick<LabelsSlice, 'sessionMode' | 'lastMode'>, sessionId: string): SessionMode {
  return s.sessionMode[sessionId] ?? s.lastMode;
}

/** Whether the open session shows the filter view (App mounts it instead of the live view). */
export function selectFilterView(s: Pick<LabelsSlice, 'sessionMode' | 'lastMode'> & { openSessionId: string | null }): boolean {
  return s.openSessionId !== null && modeOf(s, s.openSessionId) === 'filter';
}

/** The step's own annotator label in force (null: none, or cleared). */
export function annotatorLabel(step: Step): AnnotValue | null {
  for (let i = step.labelHistory.length - 1; i >= 0; i--) {
    const l = step.labelHistory[i]!;
    if (l.source !== 'annotator') continue;
    if (l.rule === '__cleared__') return null;
    return { label: l.label, tags: l.tags, note: l.note };
  }
  return null;
}

function sameValue(a: AnnotValue | null, b: AnnotValue | null): boolean {
  if (a === null || b === null) return a === b;
  return a.label === b.label && a.note === b.note && a.tags.join(',') === b.tags.join(',');
}

export const createLabelsSlice =
  (transport: Transport): Slice<LabelsSlice> =>
  (set, get) => {
    /** Current annotator label of a step, the overlay first. */
    const annotNow = (sessionId: string, step: Step): AnnotValue | null => {
      const o = get().labelOverlay[sessionId];
      if (o && step.id in o) return o[step.id]!;
      return annotatorLabel(step);
    };

    const putOverlay = (sessionId: string, values: Array<[string, AnnotValue | null]>) => {
      const cur = { ...(get().labelOverlay[sessionId] ?? {}) };
      for (const [id, v] of values) cur[id] = v;
      set({ labelOverlay: { ...get().labelOverlay, [sessionId]: cur } });
    };
    /**
     * Drop the overlay of `values` once the record holds them: at once when `now` (a failed
     * write), else as each one's label.set / clear event is folded (pushes come every ~16 ms,
     * before or after the answer), and the rest after OVERLAY_GRACE_MS. An id a later write
     * has overlaid with another value is that write's to drop.
     */
    const dropOverlay = (sessionId: string, values: Array<[string, AnnotValue | null]>, now = false) => {
      const started = Date.now();
      const settle = () => {
        const cur = get().labelOverlay[sessionId];
        if (!cur) return;
        const steps = get().trajectories[sessionId]?.t.steps;
        const final = now || Date.now() - started >= OVERLAY_GRACE_MS;
        const done = values.filter(([id, v]) => {
          if (!(id in cur) || !sameValue(cur[id]!, v)) return false;
          const step = steps?.get(id);
          return final || (step !== undefined && sameValue(annotatorLabel(step), v));
        });
        if (done.length) {
          const next = { ...cur };
          for (const [id] of done) delete next[id];
          set({ labelOverlay: { ...get().labelOverlay, [sessionId]: next } });
        }
        const left = get().labelOverlay[sessionId] ?? {};
        if (!final && values.some(([id, v]) => id in left && sameValue(left[id]!, v))) setTimeout(settle, OVERLAY_RECHECK_MS);
      };
      settle();
    };

    /** Write annotator values (set or clear), grouped into as few requests as possible. */
    const write = async (sessionId: string, values: Array<[string, AnnotValue | null]>, title: string): Promise<boolean> => {
      const groups = new Map<string, { value: AnnotValue | null; ids: string[] }>();
      for (const [id, v] of values) {
        const key = v === null ? 'clear' : JSON.stringify([v.label, v.tags, v.note]);
        let g = groups.get(key);
        if (!g) groups.set(key, (g = { value: v, ids: [] }));
        g.ids.push(id);
      }
      putOverlay(sessionId, values);
      const results = await Promise.allSettled(
        [...groups.values()].map((g) =>
          g.value === null
            ? transport.request('labels.clear', { sessionId, stepIds: g.ids })
            : transport.request('labels.set', { sessionId, stepIds: g.ids, label: g.value.label, tags: g.value.tags, note: g.value.note }),
        ),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        dropOverlay(sessionId, values, true);
        get().reportError(title, failed.reason);
        return false;
      }
      dropOverlay(sessionId, values);
      return true;
    };

    /** Record a new labelling action: it can be undone, and what was undone before can no longer be redone. */
    const pushUndo = (sessionId: string, entry: UndoEntry, keepRedo = false) => {
      const stack = [...(get().labelUndo[sessionId] ?? []), entry].slice(-UNDO_LIMIT);
      set({ labelUndo: { ...get().labelUndo, [sessionId]: stack }, ...(keepRedo ? {} : { labelRedo: { ...get().labelRedo, [sessionId]: [] } }) });
    };
    const pushRedo = (sessionId: string, entry: UndoEntry) => {
      set({ labelRedo: { ...get().labelRedo, [sessionId]: [...(get().labelRedo[sessionId] ?? []), entry].slice(-UNDO_LIMIT) } });
    };
    /** Rules / judge: a rule or judge application written from `fromSeq` on, as one entry. */
    const pushRevertable = (sessionId: string, source: 'rule' | 'judge', stepIds: string[], fromSeq: number | undefined, what: string) => {
      if (fromSeq === undefined || stepIds.length === 0) return;
      pushUndo(sessionId, { kind: 'revert', source, stepIds, fromSeq, what });
    };
    /**
     * Take back one entry: the annotator's labels written back as they were (`dir`
     * 'undo': prev, 'redo': next), or a rules / judge application reverted in the
     * host. Resolves to the entry that takes this one back, or null on failure.
     */
    const takeBack = async (sessionId: string, e: UndoEntry, dir: 'undo' | 'redo'): Promise<UndoEntry | null> => {
      if (e.kind === 'annotator') {
        const ok = await write(sessionId, dir === 'undo' ? e.prev : e.next, `Could not ${dir} the label change`);
        return ok ? e : null;
      }
      try {
        const r = await transport.request('labels.revert', { sessionId, source: e.source, stepIds: e.stepIds, beforeSeq: e.fromSeq });
        // Nothing appended: already as wanted; the next take-back reverts to the same point.
        return { ...e, fromSeq: r.fromSeq ?? e.fromSeq };
      } catch (err) {
        get().reportError(`Could not ${dir} ${e.what}`, err);
        return null;
      }
    };

    transport.on('export.progress', (p) => {
      const job = get().exports[p.exportId];
      if (job) set({ exports: { ...get().exports, [p.exportId]: { ...job, progress: p } } });
      else set({ exportEarly: { ...get().exportEarly, [p.exportId]: p } });
    });

    return {
      sessionMode: {},
      lastMode: 'live',
      filterCriteria: DEFAULT_CRITERIA,
      filterCursors: {},
      labelOverlay: {},
      labelUndo: {},
      labelRedo: {},
      rules: null,
      rulesError: null,
      rulePreview: {},
      judgeRuns: {},
      exports: {},
      exportEarly: {},
      exportBranches: {},
      advanceAfterLabel: false,

      setAdvanceAfterLabel: (advanceAfterLabel) => set({ advanceAfterLabel }),

      setSessionMode: (sessionId, mode) => {
        if (get().sessionMode[sessionId] === mode && get().lastMode === mode) return;
        set({ sessionMode: { ...get().sessionMode, [sessionId]: mode }, lastMode: mode });
      },

      setFilterCriteria: (patch) => set({ filterCriteria: { ...get().filterCriteria, ...patch } }),

      filterCursorOf: (sessionId) => get().filterCursors[sessionId] ?? NO_CURSOR,

      setFilterCursor: (sessionId, patch) => {
        const cur = get().filterCursorOf(sessionId);
        set({ filterCursors: { ...get().filterCursors, [sessionId]: { ...cur, ...patch } } });
      },

      applyLabel: (sessionId, steps, label, override) =>
        get().applyLabels(sessionId, steps.map((step) => ({ step, label, tags: override?.tags, note: override?.note })), label),

      applyLabels: async (sessionId, items, what = 'label') => {
        if (items.length === 0) return false;
        const prev: Array<[string, AnnotValue | null]> = [];
        const next: Array<[string, AnnotValue | null]> = [];
        for (const { step: s, label, tags: t, note } of items) {
          const before = annotNow(sessionId, s);
          const tags = t ?? (before && before.label === label ? before.tags : label === 'mask' ? suggestedMaskTags(s) : []);
          const value: AnnotValue = { label, tags, note: note ?? before?.note ?? '' };
          if (sameValue(before, value)) continue;
          prev.push([s.id, before]);
          next.push([s.id, value]);
        }
        if (next.length === 0) return true;
        const ok = await write(sessionId, next, `Could not ${what} ${next.length === 1 ? 'the action' : `${next.length} actions`}`);
        if (ok) pushUndo(sessionId, { kind: 'annotator', prev, next, what: describeChange(what, items.length === 1 ? items[0]!.step.depth : null, next.length) });
        return ok;
      },

      clearAnnotatorLabel: async (sessionId, steps) => {
        const prev: Array<[string, AnnotValue | null]> = [];
        for (const s of steps) {
          const before = annotNow(sessionId, s);
          if (before) prev.push([s.id, before]);
        }
        if (prev.length === 0) return true;
        const next: Array<[string, AnnotValue | null]> = prev.map(([id]) => [id, null]);
        const ok = await write(sessionId, next, 'Could not clear the label');
        if (ok) pushUndo(sessionId, { kind: 'annotator', prev, next, what: describeChange('clear', steps.length === 1 ? steps[0]!.depth : null, prev.length) });
        return ok;
      },

      undoLabel: async (sessionId) => {
        const stack = get().labelUndo[sessionId] ?? [];
        const last = stack[stack.length - 1];
        if (!last) return null;
        set({ labelUndo: { ...get().labelUndo, [sessionId]: stack.slice(0, -1) } });
        const back = await takeBack(sessionId, last, 'undo');
        if (!back) {
          // Put it back so the user can try again.
          set({ labelUndo: { ...get().labelUndo, [sessionId]: [...(get().labelUndo[sessionId] ?? []), last] } });
          return null;
        }
        pushRedo(sessionId, back);
        return entrySteps(last);
      },

      redoLabel: async (sessionId) => {
        const stack = get().labelRedo[sessionId] ?? [];
        const last = stack[stack.length - 1];
        if (!last) return null;
        set({ labelRedo: { ...get().labelRedo, [sessionId]: stack.slice(0, -1) } });
        const back = await takeBack(sessionId, last, 'redo');
        if (!back) {
          set({ labelRedo: { ...get().labelRedo, [sessionId]: [...(get().labelRedo[sessionId] ?? []), last] } });
          return null;
        }
        pushUndo(sessionId, back, true);
        return entrySteps(last);
      },

      loadRules: async () => {
        try {
          const rules = await transport.request('rules.list', {});
          set({ rules, rulesError: null });
        } catch (err) {
          set({ rulesError: describeError(err).message });
        }
      },

      previewRules: async (sessionId, branchId, rules) => {
        set({ rulePreview: { ...get().rulePreview, [sessionId]: { branchId, state: 'loading', results: get().rulePreview[sessionId]?.results ?? [] } } });
        try {
          const results: ResultOf<'rules.preview'> = await transport.request('rules.preview', { sessionId, branchId, rules });
          set({ rulePreview: { ...get().rulePreview, [sessionId]: { branchId, state: 'ready', results } } });
        } catch (err) {
          set({ rulePreview: { ...get().rulePreview, [sessionId]: { branchId, state: 'error', results: [], error: describeError(err).message } } });
        }
      },

      applyRules: async (sessionId, branchId, rules) => {
        try {
          const r = await transport.request('rules.apply', { sessionId, branchId, rules });
          pushRevertable(sessionId, 'rule', r.stepIds, r.fromSeq, `rules ${rules.join(', ')} (${r.count} label${r.count === 1 ? '' : 's'})`);
          const cur = get().rulePreview[sessionId];
          if (cur && cur.branchId === branchId) set({ rulePreview: { ...get().rulePreview, [sessionId]: { ...cur, applied: r.count } } });
          return { ok: true, value: { count: r.count, stepIds: r.stepIds } };
        } catch (err) {
          get().reportError('Could not apply the rules', err);
          return { ok: false, error: describeError(err) };
        }
      },

      runJudge: async (sessionId, branchId, profile) => {
        const startedAt = Date.now();
        set({ judgeRuns: { ...get().judgeRuns, [sessionId]: { branchId, profile, state: 'running', startedAt } } });
        let next: JudgeRunState;
        try {
          const r = await transport.request('judge.run', { sessionId, branchId, profile });
          pushRevertable(sessionId, 'judge', r.stepIds, r.fromSeq, `judge ${profile} (${r.labelled} label${r.labelled === 1 ? '' : 's'})`);
          next = { branchId, profile, startedAt, state: r.error ? 'failed' : 'done', labelled: r.labelled, tokens: r.tokens, error: r.error };
        } catch (err) {
          const e: ErrorView = describeError(err);
          next = { branchId, profile, startedAt, state: 'failed', error: e.message };
        }
        set({ judgeRuns: { ...get().judgeRuns, [sessionId]: next } });
      },

      startExport: async (req) => {
        const res = await attempt(() => transport.request('export.start', req).then((r) => r.exportId));
        if (!res.ok) return res;
        const exportId = res.value;
        const early = get().exportEarly[exportId] ?? null;
        const { [exportId]: _gone, ...rest } = get().exportEarly;
        set({ exports: { ...get().exports, [exportId]: { exportId, request: req, startedAt: Date.now(), progress: early } }, exportEarly: rest });
        return res;
      },

      cancelExport: async (exportId) => {
        try {
          await transport.request('export.cancel', { exportId });
        } catch (err) {
          get().reportError('Could not cancel the export', err);
        }
      },

      loadExportBranches: async (sessionId, force = false) => {
        const cur = get().exportBranches[sessionId];
        if (cur && (cur.state === 'loading' || !force)) return;
        set({ exportBranches: { ...get().exportBranches, [sessionId]: { state: 'loading' } } });
        let next: ExportBranchList;
        try {
          // sessions.open only reads the log: the session is not opened in this window. Its
          // tree is enough to list the branches: no step's details.
          const res = await transport.request('sessions.open', { sessionId, paged: true });
          next = { state: 'ready', branches: exportBranchOptions(foldTrajectory(res.events)) };
        } catch (err) {
          next = { state: 'error', error: describeError(err).message };
        }
        set({ exportBranches: { ...get().exportBranches, [sessionId]: next } });
      },
    };
  };

/** The steps an undo entry touches. */
export function entrySteps(e: UndoEntry): string[] {
  return e.kind === 'annotator' ? e.prev.map(([id]) => id) : e.stepIds;
}

/** "keep step 3", "mask 4 actions": what an annotator change was, for the undo history. */
function describeChange(what: string, depth: number | null, n: number): string {
  return depth !== null && n === 1 ? `${what} step ${depth}` : `${what} ${n} action${n === 1 ? '' : 's'}`;
}

/** Reason tags a mask inherits from the rule or judge label it confirms. */
function suggestedMaskTags(step: Step): LabelTag[] {
  for (const source of ['judge', 'rule'] as const) {
    for (let i = step.labelHistory.length - 1; i >= 0; i--) {
      const l = step.labelHistory[i]!;
      if (l.source !== source) continue;
      if (l.rule === '__cleared__') break;
      return l.label === 'mask' ? l.tags : [];
    }
  }
  return [];
}
