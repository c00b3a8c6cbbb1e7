// The manifest of a dataset bundle as a zod schema: what merge (and anything else
// that reads a bundle) accepts, checked at the boundary instead of by hand. The
// exporter's `Manifest` interface (bundle.ts) and this schema are tied together by a
// compile-time check below, so a field added to one and not the other fails `tsc`.
// A merged bundle's manifest is an export manifest plus provenance (`mergedFrom`,
// `merge`, per-example `bundles`/`annotators`); it is one schema too, so a merged
// bundle reads back like any other.
import { z } from 'zod';
import { LABEL_TAGS } from '../../../shared/events';
import { agreementSchema, conflictSchema, labelSourceSchema, labelValueSchema, signerSchema } from '../../../shared/merge-report';
import type { Manifest } from './bundle';

// The provenance parts a merge report shares with the merged manifest live in shared/ (the renderer reads reports).
export { agreementSchema, conflictSchema, labelSourceSchema, labelValueSchema, signerSchema };

export const BUNDLE_FORMAT = 'apollo-dataset-bundle';
export const BUNDLE_FORMAT_VERSION = 2;

const nonNeg = z.number().int().nonnegative();
const str = z.string();

/** A bundle-relative path: no absolute paths, drive letters, backslashes, `.` or `..` segments. */
export const relPathSchema = z.string().refine(
  (p) => p !== '' && !p.startsWith('/') && !p.includes('\\') && !/^[A-Za-z]:/.test(p) && p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..'),
  { message: 'must be a relative path inside the bundle' },
);

export const exportFormatSchema = z.enum(['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast']);

export const labelPolicySchema = z.object({
  unlabelled: z.enum(['keep', 'mask', 'refuse']),
  sources: z.array(labelSourceSchema),
  maskInvalidArguments: z.boolean(),
});

export const manifestFileSchema = z.object({
  path: relPathSchema,
  format: z.union([exportFormatSchema, z.enum(['llama-factory-dataset-info', 'trainer-config', 'redactions'])]),
  bytes: nonNeg,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex SHA-256'),
  records: nonNeg,
});

const branchSchema = z.object({
  branchId: str,
  name: str,
  fromStepId: str.nullable(),
  reason: z.enum(['root', 'branch', 'rewind']),
  author: str,
  exported: z.boolean(),
  skipped: str.nullable(),
});

const sessionSchema = z.object({ sessionId: str, name: str.nullable(), branches: z.array(branchSchema), terminals: z.array(str) });

const trajectorySchema = z.object({
  line: z.number().int().positive(),
  sessionId: str,
  branchId: str,
  branchName: str,
  kind: z.enum(['window', 'summary']),
  context: z.enum(['recorded', 'extended', 'reconstructed', 'derived']),
  steps: nonNeg,
  actions: nonNeg,
  kept: nonNeg,
  masked: nonNeg,
  unlabelled: nonNeg,
  tokens: nonNeg,
  overLimit: z.boolean(),
  trainedSteps: z.array(str),
  turnSteps: z.array(str.nullable()),
  // Optional: bundles of versions before it have none (a merge then trains a turn only where an export did).
  ownContext: z.array(z.boolean()).optional(),
  truncated: z.literal(true).optional(),
});

const actionSchema = z.object({ line: z.number().int().positive(), example: z.number().int().positive(), sessionId: str, branchId: str, stepId: str, tokens: nonNeg });

const skippedSchema = z.object({ sessionId: str, branchId: str, reason: z.enum(['nothing-to-train', 'no-actions']), steps: nonNeg });

const reasonCounts = { annotator: nonNeg, judge: nonNeg, rule: nonNeg, unlabelled: nonNeg, 'invalid-arguments': nonNeg };

const countsSchema = z.object({
  sessions: nonNeg,
  trajectories: nonNeg,
  actionLines: nonNeg,
  steps: nonNeg,
  actions: nonNeg,
  kept: nonNeg,
  masked: nonNeg,
  unlabelled: nonNeg,
  // Optional: bundles exported before they were counted (and merged bundles) have none.
  maskedBy: z.object({ ...reasonCounts, secret: nonNeg, replayed: nonNeg.optional(), 'empty-context': nonNeg.optional(), 'not-model': nonNeg.optional(), 'no-context': nonNeg.optional() }),
  labelledBy: z.object({ annotator: nonNeg, judge: nonNeg, rule: nonNeg }),
  emptyTurns: nonNeg,
  examplesSkipped: nonNeg,
  reconstructed: nonNeg,
  derived: nonNeg.optional(),
  tokens: z.object({ tokenizer: str, total: nonNeg, longest: nonNeg, limit: nonNeg, overLimit: nonNeg }),
});

const redactionSummarySchema = z.object({
  total: nonNeg,
  byKind: z.record(str, nonNeg),
  byFile: z.record(str, nonNeg),
  secretTurns: z.object({ masked: nonNeg, dropped: nonNeg }).optional(),
});

const optionsSchema = z.object({
  maxTokens: z.number().int().positive().nullable(),
  historyTokens: z.number().int().positive(),
  warnTokens: z.number().int().positive(),
  includeSummaries: z.boolean(),
  dedupe: z.literal('one-example-per-step'),
});

const manifestFields = {
  format: z.literal(BUNDLE_FORMAT),
  formatVersion: z.literal(BUNDLE_FORMAT_VERSION),
  appVersion: str,
  formats: z.array(exportFormatSchema),
  labelPolicy: labelPolicySchema,
  options: optionsSchema,
  sessions: z.array(sessionSchema),
  trajectories: z.array(trajectorySchema),
  actions: z.array(actionSchema),
  skipped: z.array(skippedSchema),
  annotators: z.array(str),
  counts: countsSchema,
  warnings: z.array(str),
  files: z.array(manifestFileSchema),
  redactions: redactionSummarySchema,
};

/** The manifest an export writes. */
export const exportManifestSchema = z.object(manifestFields);

// ---------------------------------------------------------------- merged bundles

/** A bundle that was exported (not merged) and whose labels reached this bundle: the leaves of the merge tree. */
export const originSchema = z.object({
  /** SHA-256 of its manifest.json: the identity of the export, whatever folder it sits in. */
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
  /** The folder it was read from, as given to the merge that read it. */
  path: str,
  appVersion: str,
  annotators: z.array(str),
  signer: signerSchema,
});

/** One person's (or judge's, or rule's) latest label on an action; `origin` indexes merge.origins. */
export const voteSchema = z.object({
  label: labelValueSchema,
  source: labelSourceSchema,
  author: str,
  at: z.number(),
  tags: z.array(z.enum(LABEL_TAGS)),
  note: str,
  origin: nonNeg,
});

export const mergePolicySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('any-mask') }),
  z.object({ kind: z.literal('majority') }),
  z.object({ kind: z.literal('prefer'), annotators: z.array(str).min(1) }),
  z.object({ kind: z.literal('manual') }),
]);

const mergedFromSchema = z.object({
  path: str,
  manifestSha256: z.string().regex(/^[0-9a-f]{64}$/),
  appVersion: str,
  formats: z.array(exportFormatSchema),
  labelPolicy: labelPolicySchema.nullable(),
  annotators: z.array(str),
  counts: countsSchema,
  /** Its examples: how many, and how many of them became (or were identical to) a merged example. */
  examples: z.object({ total: nonNeg, used: nonNeg }),
  /** Terminal recordings of this input stored under another path in the merged bundle. */
  renamed: z.record(str, str),
  signer: signerSchema,
});

const annotatorCountsSchema = z.object({ annotator: str, actions: nonNeg, keep: nonNeg, mask: nonNeg, bundles: z.array(str) });

export const mergeSectionSchema = z.object({
  policy: mergePolicySchema,
  origins: z.array(originSchema),
  examples: z.object({ in: nonNeg, distinct: nonNeg, out: nonNeg, duplicates: nonNeg, nothingToTrain: nonNeg }),
  actions: z.object({
    total: nonNeg,
    /** Actions with a label from more than one annotator/judge/rule. */
    multiplyLabelled: nonNeg,
    conflicts: nonNeg,
    kept: nonNeg,
    masked: nonNeg,
    /** Kept by the policy, but no input holds an example with its context (dropped by an earlier merge): not trained. */
    noContext: nonNeg,
  }),
  conflicts: z.array(conflictSchema),
  agreement: agreementSchema,
  annotators: z.array(annotatorCountsSchema),
  castsDeduplicated: nonNeg,
  formatsMissing: z.array(z.object({ format: exportFormatSchema, missingFrom: z.array(str) })),
});

/** A merged bundle also lists its report (merge-report.json and .html), hashed like every other file. */
export const mergedFileSchema = manifestFileSchema.extend({ format: z.union([manifestFileSchema.shape.format, z.literal('merge-report')]) });

export const mergedManifestSchema = z.object({
  ...manifestFields,
  files: z.array(mergedFileSchema),
  /** The policy shared by every input; null when they differ (each is in mergedFrom). */
  labelPolicy: labelPolicySchema.nullable(),
  trajectories: z.array(trajectorySchema.extend({
    /** Indexes into merge.origins: the exported bundles that held this example. */
    bundles: z.array(nonNeg),
    /** Who labelled the actions trained in it. */
    annotators: z.array(str),
  })),
  mergedFrom: z.array(mergedFromSchema),
  merge: mergeSectionSchema,
});

export type ExportManifest = z.infer<typeof exportManifestSchema>;
export type MergedManifest = z.infer<typeof mergedManifestSchema>;
/** What merge reads: an export's manifest, or a merged bundle's. */
export type BundleManifest = ExportManifest | MergedManifest;
export type MergePolicy = z.infer<typeof mergePolicySchema>;
export type Vote = z.infer<typeof voteSchema>;
export type Origin = z.infer<typeof originSchema>;
export type Signer = z.infer<typeof signerSchema>;
export type MergeConflict = z.infer<typeof conflictSchema>;
export type Agreement = z.infer<typeof agreementSchema>;
export type MergedFrom = z.infer<typeof mergedFromSchema>;
/** A file a bundle lists: an export's, or a merged bundle's (which adds its report). */
export type BundleFile = z.infer<typeof mergedFileSchema>;

export function isMergedManifest(m: BundleManifest): m is MergedManifest {
  return 'merge' in m;
}

/**
 * Parse a manifest read from disk: a merged bundle's when it has a `merge` section,
 * else an export's (so the error names the fields of the kind it claims to be).
 */
export function parseBundleManifest(raw: unknown): { manifest: BundleManifest } | { error: string } {
  const isObject = typeof raw === 'object' && raw !== null && !Array.isArray(raw);
  if (!isObject) return { error: 'manifest.json is not a JSON object' };
  const r = raw as Record<string, unknown>;
  if (r.format !== BUNDLE_FORMAT) return { error: `manifest.json is not an Apollo dataset bundle (format ${JSON.stringify(r.format)})` };
  if (r.formatVersion !== BUNDLE_FORMAT_VERSION) return { error: `unsupported bundle formatVersion ${JSON.stringify(r.formatVersion)} (this version reads ${BUNDLE_FORMAT_VERSION})` };
  const parsed = 'merge' in r ? mergedManifestSchema.safeParse(raw) : exportManifestSchema.safeParse(raw);
  if (!parsed.success) return { error: `manifest.json is malformed: ${describeIssues(parsed.error)}` };
  return { manifest: parsed.data };
}

/** The first few problems of a failed parse, as "path: message" (for an error a person reads). */
export function describeIssues(e: z.ZodError, max = 5): string {
  const parts = e.issues.slice(0, max).map((i) => `${i.path.length ? i.path.join('.') : '(top)'}: ${i.message}`);
  return parts.join('; ') + (e.issues.length > max ? `; and ${e.issues.length - max} more` : '');
}

// The exporter's interface and the schema describe the same object: both directions
// must be assignable, or this line fails to compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const exportSchemaMatchesManifest: Same<ExportManifest, Manifest> = true;
void exportSchemaMatchesManifest;
