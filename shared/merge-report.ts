// The report of a merge of dataset bundles (issue 12): what went in, what came out,
// where annotators disagreed and how it was settled. The same object is printed by
// `apollo merge`, saved in the merged bundle as merge-report.json (and rendered as
// merge-report.html), returned by a dry run, and shown by the Merge view; so its
// schema lives here, where the host and the renderer both see it. The merged
// manifest reuses the provenance parts (signer, conflict, agreement).
import { z } from 'zod';
import { LABEL_TAGS } from './events';

const nonNeg = z.number().int().nonnegative();
const str = z.string();

export const labelSourceSchema = z.enum(['annotator', 'judge', 'rule']);
export const labelValueSchema = z.enum(['keep', 'mask']);

/**
 * Who signed a bundle (signing.ts), as the merge that read it verified: `name` is the
 * lead's name for a trusted key, else the name the signer gave; null = unsigned.
 */
export const signerSchema = z.object({ name: str, fingerprint: str, trusted: z.boolean() }).nullable();

export const conflictSchema = z.object({
  sessionId: str,
  stepId: str,
  /** Exported branches whose path holds the action. */
  branchIds: z.array(str),
  /** The votes that counted (the highest label source present), each with the bundles it came from. */
  votes: z.array(z.object({ annotator: str, source: labelSourceSchema, label: labelValueSchema, tags: z.array(z.enum(LABEL_TAGS)), note: str, bundles: z.array(str) })),
  decision: labelValueSchema,
  /**
   * How it was settled, in words: "any-mask: masked by bob", "majority 2–1", "prefer alice",
   * "manual". Only a dry run reports "unsettled" (a manual conflict the lead has not decided yet).
   */
  settledBy: str,
});

const pairSchema = z.object({
  annotators: z.tuple([str, str]),
  /** Actions both labelled. */
  items: nonNeg,
  agreed: nonNeg,
  /** Observed agreement (agreed / items); null without items. */
  agreement: z.number().nullable(),
  /** Cohen's kappa; null when undefined (no items, or chance agreement is 1: both gave one label only). */
  kappa: z.number().nullable(),
});

export const agreementSchema = z.object({
  /** Actions labelled by at least two annotators (source annotator). */
  items: nonNeg,
  /** Share of agreeing pairs of labels over those actions; null without items. */
  pairwise: z.number().nullable(),
  /** Fleiss' kappa over those actions (raters per action may vary); null when undefined. */
  fleissKappa: z.number().nullable(),
  pairs: z.array(pairSchema),
});

export const MERGE_REPORT_FORMAT = 'apollo-merge-report';
export const MERGE_REPORT_FILES = { json: 'merge-report.json', html: 'merge-report.html' } as const;
/** A gap between two labels longer than this counts as this much work (a break, not labelling). */
export const TIME_GAP_CAP_MS = 5 * 60_000;

export const UNSETTLED = 'unsettled';

export const mergeReportSchema = z.object({
  format: z.literal(MERGE_REPORT_FORMAT),
  version: z.literal(1),
  /** any-mask, majority, prefer:NAME,…, manual. */
  policy: str,
  /** The inputs, in the order given. */
  bundles: z.array(z.object({
    path: str,
    manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** A merged bundle (its own origins count as exports). */
    merged: z.boolean(),
    signer: signerSchema,
    annotators: z.array(str),
    /** Its examples, and how many of them became (or were identical to) a merged example. */
    examples: z.object({ total: nonNeg, used: nonNeg }),
  })),
  /** Exported bundles behind the inputs (a merged input counts its own). */
  origins: nonNeg,
  sessions: nonNeg,
  /** Trajectories (context windows, lines of openai.jsonl): read, distinct, written, identical copies dropped, left out with nothing to train. */
  examples: z.object({ in: nonNeg, distinct: nonNeg, out: nonNeg, duplicates: nonNeg, nothingToTrain: nonNeg }),
  actions: z.object({
    total: nonNeg,
    /** With a label from more than one annotator, judge or rule. */
    multiplyLabelled: nonNeg,
    conflicts: nonNeg,
    /** Manual conflicts without a decision yet (a dry run only; a merge refuses them). */
    unsettled: nonNeg,
    /** Trained exactly once in the merged bundle. */
    kept: nonNeg,
    /** Not trained (weight 0 everywhere). */
    masked: nonNeg,
    /** Labelled by nobody: their bundles' unlabelled policy decided. */
    unlabelled: nonNeg,
    /** Kept by the policy but with no example holding its context (left out by an earlier merge). */
    noContext: nonNeg,
  }),
  conflicts: z.array(conflictSchema),
  agreement: agreementSchema,
  annotators: z.array(z.object({
    annotator: str,
    /** Actions they labelled (their latest label each), by label. */
    actions: nonNeg,
    keep: nonNeg,
    mask: nonNeg,
    /** Of the actions they labelled: trained in the merged bundle, and not. */
    trained: nonNeg,
    notTrained: nonNeg,
    bundles: z.array(str),
    /** Every label they set or cleared (changes of mind included), counted once across copies. */
    labelEvents: nonNeg,
    sessions: nonNeg,
    /** Estimated labelling time, see `timeSpent`. */
    timeSpentMs: nonNeg,
    firstLabelAt: z.number().nullable(),
    lastLabelAt: z.number().nullable(),
  })),
  /** How timeSpentMs is estimated. */
  timeSpent: z.object({ method: str, gapCapMs: nonNeg }),
  /** Terminal recordings: written, identical copies dropped, stored under another name. */
  casts: z.object({ written: nonNeg, duplicatesDropped: nonNeg, renamed: nonNeg }),
  warnings: z.array(str),
});

export type MergeReport = z.infer<typeof mergeReportSchema>;
export type MergeConflict = z.infer<typeof conflictSchema>;
export type Agreement = z.infer<typeof agreementSchema>;
export type Signer = z.infer<typeof signerSchema>;

// Figures as the CLI summary, the HTML report and the Merge view print them.
export const formatRatio = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(2));
export const formatPercent = (x: number | null): string => (x === null ? 'n/a' : `${Math.round(x * 100)}%`);

/** 1 h 05 min, 12 min, 40 s. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
