// Merging dataset bundles: many annotators export bundles (bundle.ts), often of the
// same sessions; a lead merges them into one training set, by action.
//
//   1. read/verify (merge-read.ts): every input's manifest against its schema, its
//      signature when it has one (signing.ts; trusted keys and required signatures by
//      option), every file's size and SHA-256, no unlisted file, the files consistent
//      with each other; nothing is written until every input passed.
//   2. plan (merge-plan.ts, merge-votes.ts, merge-agreement.ts): each action (session +
//      step) gets one label from everyone's votes under the merge policy; each context
//      window becomes at most one example whose turns are weighed by those labels, every
//      kept action trained exactly once; provenance (bundles, annotators, conflicts and
//      how they were settled) and agreement (pairwise, Cohen's and Fleiss' kappa).
//   3. write/publish (merge-write.ts, merge-records.ts): the merged bundle in the
//      format of an export, every trainer file re-derived through trainers.ts,
//      validated with the exporter's validators, optionally signed, renamed into
//      place in one step.
// The output has no "now" and no randomness: the same inputs in the same order give
// byte-identical files. A merged bundle is an input like any other: its step records
// carry every vote, so merging it again (alone, or with more bundles) decides the
// same way, and a bundle merged twice counts once (votes are folded per person).
import { resolve } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import { APP_VERSION } from '../version';
import { exists, toApolloError } from './files';
import type { Agreement, MergeConflict, MergedManifest, MergePolicy } from './manifest-schema';
import { openInput, verifyInput, type Input } from './merge-read';
import { planMerge, type Settlement } from './merge-plan';
import { formatMergePolicy } from './merge-votes';
import { writeMerge, writeSteps } from './merge-write';
import type { SigningKey, TrustedKey } from './signing';

export { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION } from './manifest-schema';
export type { Agreement, MergeConflict, MergedManifest, MergePolicy } from './manifest-schema';
export { parseMergePolicy, formatMergePolicy } from './merge-votes';
export type { Settlement } from './merge-plan';

export interface MergeBundlesOptions {
  /** Bundle folders; earlier ones come first in the merged files. */
  inputs: string[];
  /** Must not exist; the merged bundle appears there complete or not at all. */
  outDir: string;
  /** How conflicting labels are settled (default any-mask). */
  policy?: MergePolicy;
  /** The lead's decisions, for the manual policy. */
  settlements?: Settlement[];
  /** Merge bundles exported under different label policies (each is recorded in `mergedFrom`). */
  allowMixedPolicies?: boolean;
  /** Public keys the lead trusts: a signed input must be signed by one of them (and is named by it). */
  trustedKeys?: TrustedKey[];
  /** Refuse unsigned inputs (default: accept them, recorded as unsigned). */
  requireSigned?: boolean;
  /** Sign the merged bundle with this key. */
  signWith?: SigningKey;
  /** Written as the merged manifest's appVersion (default: this app's version). */
  appVersion?: string;
  onProgress?(done: number, total: number, stage: string): void;
  signal?: AbortSignal;
}

export interface MergeReport {
  bundles: number;
  policy: string;
  /** Exported bundles behind the inputs (a merged input counts its own). */
  origins: number;
  examples: MergedManifest['merge']['examples'];
  actions: MergedManifest['merge']['actions'];
  conflicts: MergeConflict[];
  agreement: Agreement;
  annotators: MergedManifest['merge']['annotators'];
  sessions: number;
  /** Per input, who signed it (null: unsigned). */
  signers: Array<{ bundle: string; signer: MergedManifest['mergedFrom'][number]['signer'] }>;
  casts: { written: number; duplicatesDropped: number; renamed: number };
  warnings: string[];
}

export interface MergeBundlesResult {
  dir: string;
  manifest: MergedManifest;
  report: MergeReport;
}

export async function mergeBundles(opts: MergeBundlesOptions): Promise<MergeBundlesResult> {
  try {
    return await merge(opts);
  } catch (e) {
    throw toApolloError(e, 'merging', 'Merge cancelled');
  }
}

async function merge(opts: MergeBundlesOptions): Promise<MergeBundlesResult> {
  const outDir = resolve(opts.outDir.replace(/[\\/]+$/, ''));
  if (opts.inputs.length === 0) throw new ApolloError('BAD_REQUEST', 'No bundle to merge');
  const dirs = new Set<string>();
  for (const p of opts.inputs) {
    const d = resolve(p);
    if (dirs.has(d)) throw new ApolloError('BAD_REQUEST', `Bundle ${p} listed twice`);
    if (d === outDir) throw new ApolloError('CONFLICT', `${opts.outDir} is one of the inputs`);
    dirs.add(d);
  }
  if (await exists(outDir)) throw new ApolloError('CONFLICT', `${outDir} already exists`);
  const policy: MergePolicy = opts.policy ?? { kind: 'any-mask' };
  const checkAbort = (): void => {
    if (opts.signal?.aborted) throw new ApolloError('CANCELLED', 'Merge cancelled');
  };
  checkAbort();

  // ---- 1. read and verify every input (nothing written yet)
  const inputs: Input[] = [];
  const signatures = { trusted: opts.trustedKeys ?? null, requireSigned: !!opts.requireSigned };
  for (const [i, p] of opts.inputs.entries()) inputs.push(await openInput(i, p, signatures));
  // One total from the start: each input file verified, each output written and
  // validated (the recordings are one per distinct path and content), then publish.
  const casts = new Set(inputs.flatMap((b) => b.manifest.files.filter((f) => f.format === 'asciicast').map((f) => `${f.path}\u0000${f.sha256}`))).size;
  const total = inputs.reduce((n, b) => n + b.manifest.files.length, 0) + writeSteps(casts);
  let done = 0;
  const progress = (stage: string): void => {
    done++;
    opts.onProgress?.(done, total, stage);
    checkAbort();
  };
  for (const input of inputs) await verifyInput(input, checkAbort, progress);

  // ---- 2. plan
  const plan = planMerge(inputs, { policy, settlements: opts.settlements, allowMixedPolicies: opts.allowMixedPolicies });
  checkAbort();

  // ---- 3. write, validate, publish
  const manifest = await writeMerge(plan, inputs, {
    outDir, appVersion: opts.appVersion ?? APP_VERSION, signWith: opts.signWith, checkAbort, progress,
    note: (stage) => opts.onProgress?.(done, total, stage),
  });
  opts.onProgress?.(total, total, 'done');
  const report: MergeReport = {
    bundles: inputs.length,
    policy: formatMergePolicy(policy),
    origins: plan.origins.length,
    examples: manifest.merge.examples,
    actions: manifest.merge.actions,
    conflicts: manifest.merge.conflicts,
    agreement: manifest.merge.agreement,
    annotators: manifest.merge.annotators,
    sessions: manifest.sessions.length,
    signers: manifest.mergedFrom.map((x) => ({ bundle: x.path, signer: x.signer })),
    casts: { written: plan.casts.length, duplicatesDropped: plan.castsDeduplicated, renamed: plan.casts.filter((c) => c.out !== c.file.path).length },
    warnings: manifest.warnings,
  };
  return { dir: outDir, manifest, report };
}
