// Merging dataset bundles: many annotators export bundles (bundle.ts), often of the
// same sessions; a lead merges them into one training set, by action.
//
//   1. read/verify (merge-read.ts): every input's manifest against its schema, its
//      signature (signing.ts: exports are signed, so an unsigned input is refused
//      unless allowed, and then flagged; trusted keys by option), every file's size
//      and SHA-256, no unlisted file, the files consistent with each other; nothing
//      is written until every input passed.
//   2. plan (merge-plan.ts, merge-votes.ts, merge-agreement.ts; the steps sorted on disk,
//      spill.ts, in a private temporary folder removed however the merge ends): each action (session +
//      step) gets one label from everyone's votes under the merge policy; each context
//      window becomes at most one example whose turns are weighed by those labels, every
//      kept action trained exactly once; provenance (bundles, annotators, conflicts and
//      how they were settled) and agreement (pairwise, Cohen's and Fleiss' kappa); the
//      report (merge-report.ts). A dry run stops here and returns the report.
//   3. write/publish (merge-write.ts, merge-records.ts): the merged bundle in the
//      format of an export plus merge-report.json/.html, every trainer file re-derived through trainers.ts,
//      validated with the exporter's validators, optionally signed, renamed into
//      place in one step.
// Everything written (and a dry run's report) is redacted again with the lead's secrets
// by the exporter's Redactor: an annotator's export was redacted with that annotator's
// secrets only, and a key only the lead (or the team) knows would otherwise pass through.
// The output has no "now" and no randomness: the same inputs in the same order give
// byte-identical files. A merged bundle is an input like any other: its step records
// carry every vote, so merging it again (alone, or with more bundles) decides the
// same way, and a bundle merged twice counts once (votes are folded per person).
import { resolve } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import type { MergePlanResult } from '../../../shared/contract/merge';
import type { MergeReport } from '../../../shared/merge-report';
import { APP_VERSION } from '../version';
import { exists, toApolloError } from './files';
import type { MergedManifest, MergePolicy } from './manifest-schema';
import { applyReasoningSecrets, openInput, verifyInput, type Input } from './merge-read';
import { PlanInputs, planMerge, type MergePlan } from './merge-plan';
import { readSettlements, type Settlement } from './merge-settlements';
import { conflictSteps, mergeReport } from './merge-report';
import { writeMerge, writeSteps } from './merge-write';
import { Redactor } from './redact';
import type { SigningKey, TrustedKey } from './signing';
import { SpillDir } from './spill';
import type { SecretSpec } from './key-fingerprint';

export { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION } from './manifest-schema';
export type { Agreement, MergeConflict, MergedManifest, MergePolicy } from './manifest-schema';
export type { MergeReport } from '../../../shared/merge-report';
export { parseMergePolicy, formatMergePolicy } from './merge-votes';
export type { Settlement } from './merge-settlements';

export interface MergeBundlesOptions {
  /** Bundle folders; earlier ones come first in the merged files. */
  inputs: string[];
  /** Must not exist; the merged bundle appears there complete or not at all. Ignored by a dry run. */
  outDir: string;
  /** How conflicting labels are settled (default any-mask). */
  policy?: MergePolicy;
  /** The lead's decisions on conflicts: required for each under the manual policy, and winning over any other policy's. */
  settlements?: Settlement[];
  /**
   * Earlier merges whose settlements apply too, after `settlements` (merge-settlements.ts):
   * merged bundle folders, their manifest.json or merge-report.json, or JSON files of settlements.
   */
  settlementsFrom?: string[];
  /** Merge bundles exported under different label policies (each is recorded in `mergedFrom`). */
  allowMixedPolicies?: boolean;
  /** Public keys the lead trusts: a signed input must be signed by one of them (and is named by it). */
  trustedKeys?: TrustedKey[];
  /** Accept unsigned inputs (recorded as unsigned, and warned about); refused by default, as every export is signed. */
  allowUnsigned?: boolean;
  /** Sign the merged bundle with this key. */
  signWith?: SigningKey;
  /**
   * Exact secret values the lead knows (profiles.ts `secrets()`, as an export is given
   * them), redacted from everything the merge writes on top of the built-in patterns.
   */
  secrets?: SecretSpec[];
  /** Written as the merged manifest's appVersion (default: this app's version). */
  appVersion?: string;
  onProgress?(done: number, total: number, stage: string): void;
  signal?: AbortSignal;
  /** Step records held in memory per sorted run of the spill (spill.ts; tests make it tiny to exercise the runs). */
  spillRunSize?: number;
}

export interface MergeBundlesResult {
  dir: string;
  manifest: MergedManifest;
  /** As saved in the bundle (merge-report.json). */
  report: MergeReport;
}

/**
 * With `dryRun` (and no outDir needed: '' will do): verify and plan only, nothing
 * written, and manual conflicts without a settlement reported (settledBy "unsettled",
 * masked for now) instead of refused: what the merge would write, and each conflict's step.
 */
type DryRun = { dryRun?: boolean };

/** Merge bundles into `outDir`; with `dryRun: true`, only what that merge would write. */
export async function mergeBundles(opts: MergeBundlesOptions & { dryRun: true }): Promise<MergePlanResult>;
export async function mergeBundles(opts: MergeBundlesOptions): Promise<MergeBundlesResult>;
export async function mergeBundles(opts: MergeBundlesOptions & DryRun): Promise<MergeBundlesResult | MergePlanResult> {
  try {
    return await merge(opts);
  } catch (e) {
    throw toApolloError(e, 'merging', 'Merge cancelled');
  }
}

async function merge(opts: MergeBundlesOptions & DryRun): Promise<MergeBundlesResult | MergePlanResult> {
  const outDir = opts.dryRun ? null : resolve(opts.outDir.replace(/[\\/]+$/, ''));
  if (opts.inputs.length === 0) throw new ApolloError('BAD_REQUEST', 'No bundle to merge');
  const dirs = new Set<string>();
  for (const p of opts.inputs) {
    const d = resolve(p);
    if (dirs.has(d)) throw new ApolloError('BAD_REQUEST', `Bundle ${p} listed twice`);
    if (d === outDir) throw new ApolloError('CONFLICT', `${opts.outDir} is one of the inputs`);
    dirs.add(d);
  }
  if (outDir && (await exists(outDir))) throw new ApolloError('CONFLICT', `${outDir} already exists`);
  const policy: MergePolicy = opts.policy ?? { kind: 'any-mask' };
  const checkAbort = (): void => {
    if (opts.signal?.aborted) throw new ApolloError('CANCELLED', 'Merge cancelled');
  };
  checkAbort();

  const settlements = [...(opts.settlements ?? [])];
  for (const p of opts.settlementsFrom ?? []) settlements.push(...(await readSettlements(p)));

  // ---- 1. read and verify every input (nothing written yet)
  const inputs: Input[] = [];
  const signatures = { trusted: opts.trustedKeys ?? null, allowUnsigned: !!opts.allowUnsigned };
  for (const [i, p] of opts.inputs.entries()) inputs.push(await openInput(i, p, signatures));
  // One total from the start: each input file verified, each output written and
  // validated (the recordings are one per distinct path and content), then publish.
  const casts = new Set(inputs.flatMap((b) => b.manifest.files.filter((f) => f.format === 'asciicast').map((f) => `${f.path}\u0000${f.sha256}`))).size;
  const verifying = inputs.reduce((n, b) => n + b.manifest.files.length, 0);
  const total = verifying + (opts.dryRun ? 0 : writeSteps(casts));
  let done = 0;
  const progress = (stage: string): void => {
    done++;
    opts.onProgress?.(done, total, stage);
    checkAbort();
  };
  // The step records' facts go to a private temporary folder, sorted there, and are read
  // from it by the plan and the writer; removed however the merge ends.
  const spill = await SpillDir.open();
  try {
    const spilled = new PlanInputs(spill, opts.spillRunSize);
    const redactor = new Redactor(opts.secrets ?? []);
    for (const input of inputs) await verifyInput(input, checkAbort, progress, spilled, redactor);
    applyReasoningSecrets(inputs);

    // ---- 2. plan
    const plan: MergePlan = await planMerge(inputs, spilled, {
      policy, settlements, allowMixedPolicies: opts.allowMixedPolicies, unsettled: opts.dryRun ? 'leave' : 'refuse', redactor,
    }, checkAbort);
    checkAbort();
    if (opts.dryRun) {
      opts.onProgress?.(total, total, 'done');
      // What the Merge view shows is redacted as the bundle would be.
      return { report: redactor.redactValue(mergeReport(plan, inputs)), steps: redactor.redactValue(await conflictSteps(plan)) };
    }

    // ---- 3. write, validate, publish
    const { manifest, report } = await writeMerge(plan, inputs, {
      outDir: outDir!, appVersion: opts.appVersion ?? APP_VERSION, signWith: opts.signWith, redactor, checkAbort, progress,
      note: (stage) => opts.onProgress?.(done, total, stage),
    });
    opts.onProgress?.(total, total, 'done');
    return { dir: outDir!, manifest, report };
  } finally {
    await spill.remove();
  }
}
