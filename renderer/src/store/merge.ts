// The Merge view's state: the bundles a lead is merging, the policy, their decisions on
// conflicts (with undo), the host's dry run of it all (merge.plan), and the merge being
// written (merge.start, progress from `merge.progress`). Kept in the store, not the
// view, so a lead who looks at a session meanwhile comes back to the same work and the
// running merge.
import type { ArgsOf } from '../../../shared/contract/index';
import type { MergePlanResult, MergePushEvents } from '../../../shared/contract/merge';
import type { Transport } from '../../../shared/transport';
import { describeError } from '../lib/errors';
import type { Slice } from './types';

export type MergeProgress = MergePushEvents['merge.progress'];
export type Verdict = 'keep' | 'mask';
/** One of the conflicting labels a settlement decided between. */
export type SettledLabel = { annotator: string; source: 'annotator' | 'judge' | 'rule'; label: Verdict };
export type MergePolicyKind = 'any-mask' | 'majority' | 'prefer' | 'manual';

export type MergePlanState =
  | { state: 'idle' }
  | { state: 'loading'; key: string }
  | { state: 'ready'; key: string; plan: MergePlanResult }
  | { state: 'error'; key: string; error: string };

export interface MergeForm {
  inputs: string[];
  policy: MergePolicyKind;
  /** For prefer: names in order, comma separated. */
  preferNames: string;
  allowUnsigned: boolean;
  /** Trust files on the host (lines of `apollo keys export-public`), one path per line: signers must be among their keys. */
  trust: string;
  /** Earlier merged bundles (or their reports) on the host, one per line: their settlements apply again. */
  settlementsFrom: string;
  outDir: string;
  /** The lead's decisions: `sessionId\0stepId` → label. */
  settlements: Record<string, Verdict>;
  /**
   * The labels each decision settled, as the conflict on screen showed them: sent with it,
   * so a decision stops applying when one of them changes (a bundle replaced by a newer
   * export re-opens the conflict, as for `apollo merge --settlements`).
   */
  settledLabels: Record<string, SettledLabel[]>;
  /** Settlement changes, newest last (undo takes the last back). */
  undo: Array<{ key: string; before: Verdict | null; labelsBefore?: SettledLabel[] }>;
  /** Index of the conflict on screen. */
  cursor: number;
}

export const conflictKey = (sessionId: string, stepId: string): string => `${sessionId}\u0000${stepId}`;

function policyText(f: Pick<MergeForm, 'policy' | 'preferNames'>): string {
  if (f.policy !== 'prefer') return f.policy;
  const names = f.preferNames.split(',').map((s) => s.trim()).filter(Boolean);
  return names.length ? `prefer:${names.join(',')}` : 'majority';
}

/** The arguments of merge.plan for the form (merge.start adds outDir). */
export function mergeSelection(f: MergeForm): ArgsOf<'merge.plan'> {
  const settlements = Object.entries(f.settlements).map(([k, label]) => {
    const [sessionId, stepId] = k.split('\u0000') as [string, string];
    const votes = f.settledLabels[k];
    return { sessionId, stepId, label, ...(votes?.length ? { votes } : {}) };
  });
  const trust = pathLines(f.trust);
  const settlementsFrom = pathLines(f.settlementsFrom);
  return {
    inputs: f.inputs, policy: policyText(f), ...(settlements.length ? { settlements } : {}), ...(f.allowUnsigned ? { allowUnsigned: true } : {}),
    ...(trust.length ? { trust } : {}), ...(settlementsFrom.length ? { settlementsFrom } : {}),
  };
}

/** Paths typed or pasted one per line (quotes a file manager adds taken off). */
export function pathLines(text: string): string[] {
  const out = text.split(/\r?\n/).map((p) => p.trim().replace(/^(['"])(.*)\1$/, '$2')).filter(Boolean);
  return out.filter((p, i) => out.indexOf(p) === i);
}

export interface MergeSlice {
  mergeOpen: boolean;
  mergeForm: MergeForm;
  mergePlan: MergePlanState;
  /** The last plan that arrived, shown (marked stale) while a newer one is worked out. */
  mergeLastPlan: MergePlanResult | null;
  /** The merge being written (or last written) from this window. */
  mergeId: string | null;
  /** Progress of every merge this window heard of (another window's too). */
  mergeProgress: Record<string, MergeProgress>;

  setMergeOpen(open: boolean): void;
  updateMergeForm(patch: Partial<MergeForm>): void;
  addMergeInputs(paths: string[]): void;
  /** Decide a conflict (null: back to the policy's decision); undoable. */
  settleConflict(key: string, label: Verdict | null): void;
  undoSettlement(): void;
  /** Ask the host for the dry run of the form as it is now (an answer for an older form is dropped). */
  planMerge(): Promise<void>;
  startMerge(): Promise<{ ok: true } | { ok: false; error: string }>;
  cancelMerge(): Promise<void>;
  applyMergeProgress(p: MergeProgress): void;
}

function stamp(d = new Date()): string {
  const p = (x: number) => String(x).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A fresh folder name under the workspace for the merged bundle. */
function defaultMergeOut(home: string): string {
  const sep = home.includes('\\') && !home.includes('/') ? '\\' : '/';
  return home ? `${home.replace(/[\\/]+$/, '')}${sep}merges${sep}merged-${stamp()}` : '';
}

const EMPTY_FORM: MergeForm = {
  inputs: [], policy: 'any-mask', preferNames: '', allowUnsigned: false, trust: '', settlementsFrom: '', outDir: '', settlements: {}, settledLabels: {}, undo: [], cursor: 0,
};

/** The labels of the conflict `key` in the plan on screen. */
function labelsOf(plan: MergePlanResult | null, key: string): SettledLabel[] | undefined {
  const c = plan?.report.conflicts.find((x) => conflictKey(x.sessionId, x.stepId) === key);
  return c?.votes.map((v) => ({ annotator: v.annotator, source: v.source, label: v.label }));
}

/** `settledLabels` with `key` set to `labels` (removed when undefined). */
function withLabels(all: Record<string, SettledLabel[]>, key: string, labels: SettledLabel[] | undefined): Record<string, SettledLabel[]> {
  const out = { ...all };
  if (labels) out[key] = labels;
  else delete out[key];
  return out;
}

export const createMergeSlice =
  (transport: Transport): Slice<MergeSlice> =>
  (set, get) => ({
    mergeOpen: false,
    mergeForm: EMPTY_FORM,
    mergePlan: { state: 'idle' },
    mergeLastPlan: null,
    mergeId: null,
    mergeProgress: {},

    setMergeOpen: (open) => {
      const f = get().mergeForm;
      set({ mergeOpen: open, ...(open && !f.outDir ? { mergeForm: { ...f, outDir: defaultMergeOut(get().appInfo?.home ?? '') } } : {}) });
    },
    updateMergeForm: (patch) => set({ mergeForm: { ...get().mergeForm, ...patch } }),
    addMergeInputs: (paths) => {
      const f = get().mergeForm;
      const add = pathLines(paths.join('\n')).filter((p) => !f.inputs.includes(p));
      if (add.length) set({ mergeForm: { ...f, inputs: [...f.inputs, ...add] } });
    },
    settleConflict: (key, label) => {
      const f = get().mergeForm;
      const before = f.settlements[key] ?? null;
      const labelsBefore = f.settledLabels[key];
      const labels = label ? labelsOf(get().mergeLastPlan, key) : undefined;
      if (before === label && JSON.stringify(labelsBefore) === JSON.stringify(labels)) return;
      const settlements = { ...f.settlements };
      if (label) settlements[key] = label;
      else delete settlements[key];
      set({
        mergeForm: {
          ...f, settlements, settledLabels: withLabels(f.settledLabels, key, labels),
          undo: [...f.undo, { key, before, ...(labelsBefore ? { labelsBefore } : {}) }].slice(-500),
        },
      });
    },
    undoSettlement: () => {
      const f = get().mergeForm;
      const last = f.undo.at(-1);
      if (!last) return;
      const settlements = { ...f.settlements };
      if (last.before) settlements[last.key] = last.before;
      else delete settlements[last.key];
      set({ mergeForm: { ...f, settlements, settledLabels: withLabels(f.settledLabels, last.key, last.before ? last.labelsBefore : undefined), undo: f.undo.slice(0, -1) } });
    },
    planMerge: async () => {
      const f = get().mergeForm;
      if (!f.inputs.length) return set({ mergePlan: { state: 'idle' }, mergeLastPlan: null });
      const args = mergeSelection(f);
      const key = mergePlanKey(f);
      set({ mergePlan: { state: 'loading', key } });
      try {
        const plan = await transport.request('merge.plan', args);
        if (mergePlanKey(get().mergeForm) === key) set({ mergePlan: { state: 'ready', key, plan }, mergeLastPlan: plan });
      } catch (err) {
        if (mergePlanKey(get().mergeForm) === key) set({ mergePlan: { state: 'error', key, error: describeError(err).message } });
      }
    },
    startMerge: async () => {
      const f = get().mergeForm;
      try {
        const { mergeId } = await transport.request('merge.start', { ...mergeSelection(f), outDir: f.outDir.trim() });
        set({ mergeId });
        return { ok: true as const };
      } catch (err) {
        return { ok: false as const, error: describeError(err).message };
      }
    },
    cancelMerge: async () => {
      const id = get().mergeId;
      if (!id) return;
      try {
        await transport.request('merge.cancel', { mergeId: id });
      } catch (err) {
        get().reportError('Could not cancel the merge', err);
      }
    },
    applyMergeProgress: (p) => {
      const cur = get().mergeProgress[p.mergeId];
      // A final state is final: a late 'running' report never undoes it.
      if (cur && cur.state !== 'running') return;
      set({ mergeProgress: { ...get().mergeProgress, [p.mergeId]: p } });
    },
  });

/** What identifies a plan: the request it answers. */
export const mergePlanKey = (f: MergeForm): string => JSON.stringify(mergeSelection(f));
