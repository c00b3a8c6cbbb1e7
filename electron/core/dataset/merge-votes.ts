// How merge decides each action's label from the labels of several bundles.
//
// A vote is one labeller's latest label on an action: per label source honoured by
// the bundle's policy, each author's newest label since that source was last
// cleared (the same walk as shared/trajectory's effectiveLabel, kept per author, so
// two people labelling in one copy of a session are two votes). Across bundles a
// (source, author) pair keeps its newest label: copies of one session carry the same
// label and count once, and a person who changed their mind between two exports
// counts with their last word.
//
// Only the highest source present votes, as within a session (annotator > judge >
// rule): a judge never outvotes a person. Then, when those votes disagree (a
// conflict), the merge policy settles it:
//   any-mask            mask if anyone masked;
//   majority            more keeps than masks, else mask (ties mask);
//   prefer:A[,B…]       the first named annotator who labelled it; none of them → majority;
//   manual              the lead's decision (given to the API); none → the merge is refused.
// A decision of the lead (a settlement) on a conflict wins under any policy.
// Facts of the action, not opinions, win over every vote: an action whose call
// arguments were invalid, or whose trained turn held a secret, is never trained.
import { z } from 'zod';
import type { LabelSource, LabelTag } from '../../../shared/events';
import { mergePolicySchema, type MergePolicy, type Vote } from './manifest-schema';
import type { WeightReason } from './policy';

export type Label = 'keep' | 'mask';
const PRECEDENCE: readonly LabelSource[] = ['annotator', 'judge', 'rule'];

/** A label entry of a trajectory.jsonl step record (its labelHistory). */
export const labelEntrySchema = z.object({
  label: z.enum(['keep', 'mask']),
  tags: z.array(z.string()),
  note: z.string(),
  source: z.enum(['annotator', 'judge', 'rule']),
  author: z.string(),
  at: z.number(),
  seq: z.number(),
  cleared: z.boolean(),
});
export type LabelEntry = z.infer<typeof labelEntrySchema>;

/** Parse `any-mask`, `majority`, `manual` or `prefer:NAME[,NAME…]`. */
export function parseMergePolicy(text: string): MergePolicy | null {
  const t = text.trim();
  if (t === 'any-mask' || t === 'majority' || t === 'manual') return { kind: t };
  const m = /^prefer:(.+)$/.exec(t);
  if (!m) return null;
  const names = m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const parsed = mergePolicySchema.safeParse({ kind: 'prefer', annotators: names.filter((n, i) => names.indexOf(n) === i) });
  return parsed.success ? parsed.data : null;
}

export function formatMergePolicy(p: MergePolicy): string {
  return p.kind === 'prefer' ? `prefer:${p.annotators.join(',')}` : p.kind;
}

/** The votes one exported step record casts: per honoured source, each author's latest label since that source was cleared. */
export function votesOfHistory(history: readonly LabelEntry[], sources: readonly LabelSource[], origin: number): Vote[] {
  const out: Vote[] = [];
  for (const source of PRECEDENCE) {
    if (!sources.includes(source)) continue;
    const seen = new Set<string>();
    for (let i = history.length - 1; i >= 0; i--) {
      const l = history[i]!;
      if (l.source !== source) continue;
      if (l.cleared) break;
      if (seen.has(l.author)) continue;
      seen.add(l.author);
      out.push({ label: l.label, source, author: l.author, at: l.at, tags: l.tags as LabelTag[], note: l.note, origin });
    }
  }
  return out;
}

export interface ActionFacts {
  sessionId: string;
  stepId: string;
  /** Exported branches (in any input) whose path holds it. */
  branchIds: string[];
  /** One vote per (source, author), the newest across bundles (merge-plan.ts folds them). */
  votes: Vote[];
  /** The bundles' own weights for it when nobody labelled it (their unlabelled policy). */
  defaults: Array<0 | 1>;
  invalidArguments: boolean;
  /** A bundle masked its trained turn because it held a secret. */
  secret: boolean;
  /** A bundle says a replay re-ran it, with no model (examples.ts replayedStep): never trained. */
  replayed: boolean;
  /**
   * A bundle left it out because its context holds an empty reply an older version sent
   * (examples.ts): no trainer accepts the context it was produced in, so never trained.
   */
  emptyContext: boolean;
  /** A bundle says its importer found it is not the source model's output as it stands (Step.notTrained): never trained. */
  notModel: boolean;
}

export type DecisionReason = WeightReason | 'secret' | 'replayed' | 'empty-context' | 'not-model';

export interface Decision {
  label: Label;
  reason: DecisionReason;
  /** The votes that counted: those of the highest source present. */
  counted: Vote[];
  /** The counted votes disagree. */
  conflict: boolean;
  /** How a conflict was settled, in words; null without a conflict. */
  settledBy: string | null;
  /** No vote at all: the bundles' unlabelled policy decided. */
  unlabelled: boolean;
}

/** The votes of the highest label source present. */
export function countedVotes(votes: readonly Vote[]): Vote[] {
  for (const s of PRECEDENCE) {
    const v = votes.filter((x) => x.source === s);
    if (v.length) return v;
  }
  return [];
}

function majority(keep: number, mask: number): { label: Label; words: string } {
  if (keep > mask) return { label: 'keep', words: `majority ${keep}–${mask} keep` };
  return { label: 'mask', words: keep === mask ? `majority tie ${keep}–${mask} → mask` : `majority ${mask}–${keep} mask` };
}

/**
 * Decide one action. `settled` is the lead's decision for it, used when its votes conflict.
 * Returns 'unsettled' for a conflict the manual policy leaves to the lead.
 */
export function decide(f: ActionFacts, policy: MergePolicy, settled?: Label): Decision | 'unsettled' {
  const counted = countedVotes(f.votes);
  const labels = new Set(counted.map((v) => v.label));
  const conflict = labels.size > 1;
  const base = { counted, conflict, unlabelled: counted.length === 0 };
  if (f.secret) return { ...base, label: 'mask', reason: 'secret', settledBy: conflict ? 'masked: its trained turn held a secret' : null };
  if (f.invalidArguments) return { ...base, label: 'mask', reason: 'invalid-arguments', settledBy: conflict ? 'masked: invalid call arguments' : null };
  if (f.replayed) return { ...base, label: 'mask', reason: 'replayed', settledBy: conflict ? 'masked: a replayed action, which no model produced from its context' : null };
  if (f.notModel) return { ...base, label: 'mask', reason: 'not-model', settledBy: conflict ? 'masked: not the source model\'s output as it stands (its importer says why)' : null };
  if (f.emptyContext) return { ...base, label: 'mask', reason: 'empty-context', settledBy: conflict ? 'masked: its context holds an empty reply no trainer accepts' : null };
  if (!counted.length) return { ...base, label: f.defaults.includes(0) ? 'mask' : 'keep', reason: 'unlabelled', settledBy: null };
  const reason = counted[0]!.source;
  if (!conflict) return { ...base, label: counted[0]!.label, reason, settledBy: null };
  // The lead's own decision on a conflict wins over any policy (facts above still win over it).
  if (settled) return { ...base, label: settled, reason, settledBy: 'manual' };
  const keep = counted.filter((v) => v.label === 'keep').length;
  const mask = counted.length - keep;
  switch (policy.kind) {
    case 'any-mask': {
      const by = counted.filter((v) => v.label === 'mask').map((v) => v.author);
      return { ...base, label: 'mask', reason, settledBy: `any-mask: masked by ${by.join(', ')}` };
    }
    case 'majority': {
      const m = majority(keep, mask);
      return { ...base, label: m.label, reason, settledBy: m.words };
    }
    case 'prefer': {
      for (const name of policy.annotators) {
        const v = counted.find((x) => x.author === name);
        if (v) return { ...base, label: v.label, reason, settledBy: `prefer ${name}` };
      }
      const m = majority(keep, mask);
      return { ...base, label: m.label, reason, settledBy: `prefer: none of ${policy.annotators.join(', ')} labelled it; ${m.words}` };
    }
    case 'manual':
      return 'unsettled';
  }
}
