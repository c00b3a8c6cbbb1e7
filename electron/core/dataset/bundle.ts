// A dataset bundle: a folder of training files, terminal recordings, a manifest and
// a redaction report, published atomically.
//
//   <outDir>/openai.jsonl          OpenAI chat fine-tuning: one line per example (a context
//                                  window exactly as the model saw it, or a split of one)
//   <outDir>/axolotl.yml           Axolotl dataset entry that loads openai.jsonl honouring weight
//   <outDir>/sharegpt.jsonl        LLaMA-Factory ShareGPT: one line per trained action
//   <outDir>/dataset_info.json     LLaMA-Factory entry for sharegpt.jsonl
//   <outDir>/llamafactory.yaml     the training arguments sharegpt.jsonl needs (mask_history)
//   <outDir>/mistral.jsonl         mistral-finetune: one line per trained action
//   <outDir>/trajectory.jsonl      full fidelity: per session a session line, then step lines
//   <outDir>/terminals/<session>/<terminal>.cast   asciicast v2
//   <outDir>/redactions.json       what was redacted where (never the secret), and which
//                                  trained turns were masked because they held a secret
//   <outDir>/manifest.json         versions, sessions, branches, annotators, label policy,
//                                  examples with their tokens, counts, warnings, every
//                                  other file with its size and SHA-256
//
// The training files are views over one example stream (examples.ts), which is built
// from the request record; trainers.ts adapts it to each trainer's rules.
//
// Everything is written into `<outDir>.tmp-<random>` beside the target, each file
// validated and hashed line by line as it is written (the same checks a read-back
// would run, without reading 1 GB back), fsync'd, then renamed to `outDir` in one step.
// The training files are written in one pass over the example stream: each example
// is taken (built, redacted, counted), its openai line and its per-action lines
// (sharegpt, mistral: planned, then built one at a time) are written, and it is
// dropped, so the export holds one example, never the session's. The manifest keeps
// only what it says of each. A dry run is the same pass with nothing to write to. An export of
// recordings only (asciicast) builds no example: its manifest lists no trajectories or
// action lines and counts no tokens (nothing in it is trained). On abort, a validation failure
// or any error the temporary folder is removed, so either a complete bundle exists or
// nothing does. Files contain no "now": exporting the same input twice gives
// byte-identical files, which is what lets an export of what was exported before take
// the files that export kept (bundle-cache.ts) instead of building them again.
import { createHash } from 'node:crypto';
import { readdir, rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import { inContent, type EventOf, type LabelSource, type SessionEvent } from '../../../shared/events';
import { branchPath, foldTrajectory, type Trajectory } from '../../../shared/trajectory';
import { terminalIdsOf } from './asciicast';
import { castKey, keepCachedCast, takeCachedCast, type CastKey, type CastOutcome } from './cast-cache';
import { terminalEventsOf, type CastJob } from './cast-job';
import { builtCastWorker, runCastJob, type CastWorkerOptions } from './cast-runner';
import { ExampleLedger, replayedStep, sessionExamples, type EmptyContextLoss, type Example, type SkippedExample } from './examples';
import { emptyResponse } from '../rollout/context';
import { exists, LineCheck, StagingDir, toApolloError, type BufferedWriter } from './files';
import { emptyStats, stepBranches, trajectoryRecords, type TrajectoryStats, type UntrainedReason } from './formats';
import { labelUnder, resolvePolicy, type LabelPolicy } from './policy';
import { RedactionLog, Redactor, type RedactionReport, type RedactionSummary, type ScanResult } from './redact';
import { RedactionMemo } from './redaction-memo';
import { BUNDLE_CACHE_DIR, bundleKey, explainBuilt, noteInputs, stageBundleEntry, takeCachedBundle, type StagedEntry } from './bundle-cache';
import { exportCodeDigest } from './code-digest';
import { signManifest, SIGNATURE_FILE, type SigningKey } from './signing';
import { resetTokenCache, TOKENIZER, useTextKeys, useTokenStore, type TextKeys } from './tokens';
import { TokenCountStore } from './token-store';
import {
  axolotlConfig, llamaFactoryDatasetInfo, llamaFactoryTrainConfig, mistralPlace, mistralRecord, openaiRecord, perActionIndex, perActionPlans, perActionRecord, sharegptPlace, recordTokenCount, sharegptRecord,
  type ActionPlan, type LinePlace, type OpenAIRecord,
} from './trainers';
import type { ValidationError } from './validate';
import type { SecretSpec } from './key-fingerprint';

export type ExportFormat = 'openai' | 'sharegpt' | 'mistral' | 'trajectory' | 'asciicast';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'];

export interface ExportSessionInput {
  sessionId: string;
  events: SessionEvent[];
  /** The session folder (events.jsonl, terminals/); empty = <home>/sessions/<sessionId>. */
  sessionDir: string;
  /** Branches to export; default every branch that has steps of its own. */
  branchIds?: string[];
  /**
   * SessionLog.eventsDigest taken with the snapshot `events` is: set only when `events`
   * are exactly the lines it names. With it an export may take a bundle kept by an
   * earlier one of the same inputs (bundle-cache.ts); without it every file is built.
   */
  eventsDigest?: string;
  /**
   * The session's own fold (session-trajectory.ts borrowFold) of exactly `events`, read
   * instead of folding them again. It grows in place as the session does: an export
   * that finds it moved on before publishing builds again from `events`.
   */
  fold?: { trajectory: Trajectory; length: number; current(): boolean };
  /** The session's keys by text (tokens.ts sessionTextKeys), noted as it was recorded; the export adds those it makes. */
  textKeys?: TextKeys;
}

export interface ExportBundleOptions {
  home: string;
  sessions: ExportSessionInput[];
  outDir: string;
  formats: ExportFormat[];
  /** Exact secret values to redact (the app's API keys), on top of the built-in patterns. */
  secrets: SecretSpec[];
  appVersion: string;
  labelPolicy?: Partial<LabelPolicy>;
  openai?: { reasoning?: 'omit' | 'field' };
  /** Split examples longer than this many tokens (earlier turns kept as weight-0 context where they fit). */
  maxTokens?: number;
  /** History kept before each action of the per-action files (sharegpt, mistral); default maxTokens, else 32k. */
  historyTokens?: number;
  /** Warn about examples longer than this (default maxTokens, else 32k). */
  warnTokens?: number;
  /** Export summary requests as examples of their own (default false). */
  includeSummaries?: boolean;
  /** Compute everything, write nothing: the plan the dialog and --dry-run show. */
  dryRun?: boolean;
  /**
   * With dryRun: keep the plan's examples, built and redacted, for the export of the same
   * inputs that follows it (the Export dialog plans what its Export button then writes).
   * One plan is kept, taken once, for at most PLAN_KEPT_MS; any other input builds anew.
   */
  keepPlan?: boolean;
  /** Sign the manifest (manifest.sig, published with the bundle) with this key. */
  sign?: SigningKey;
  onProgress?(done: number, total: number, stage: string): void;
  signal?: AbortSignal;
  /**
   * Where recordings are converted: a worker thread with its own heap limit (default:
   * the built worker beside this bundle, when there is one), or false for this thread.
   */
  castWorker?: CastWorkerOptions | false;
  /**
   * Reuse a recording's conversion kept beside its session by an earlier export of the
   * same bytes, secrets and code, and keep this export's (cast-cache.ts); default true.
   */
  castCache?: boolean;
  /** Take the files of a bundle an earlier export of the same inputs kept, and keep this one's (bundle-cache.ts); default true. */
  bundleCache?: boolean;
}

export interface ManifestFile {
  path: string;
  format: ExportFormat | 'llama-factory-dataset-info' | 'trainer-config' | 'redactions';
  bytes: number;
  sha256: string;
  /** JSONL lines / asciicast events (header excluded). */
  records: number;
}

export interface ManifestBranch {
  branchId: string;
  name: string;
  fromStepId: string | null;
  reason: 'root' | 'branch' | 'rewind';
  author: string;
  exported: boolean;
  /** Why a selected branch has no training line. */
  skipped: string | null;
}

export interface ManifestCounts {
  sessions: number;
  /** Examples (lines of openai.jsonl). */
  trajectories: number;
  /** Lines of sharegpt.jsonl / mistral.jsonl: one per trained action. */
  actionLines: number;
  /** Distinct steps on exported paths. */
  steps: number;
  /** Distinct actions (steps with a reply) on exported paths; each counted once even when shared by branches. */
  actions: number;
  /** Actions trained (weight 1 in exactly one example). */
  kept: number;
  /** Actions not trained (weight 0 everywhere). */
  masked: number;
  /** Actions with no label from an honoured source (included in kept or masked per policy). */
  unlabelled: number;
  /**
   * `replayed`: actions a replay rollout copied (never trained, whatever their labels).
   * `empty-context`: actions left out because their context holds an empty reply as an
   * older version sent it (examples.ts). Both absent in bundles made before they were
   * counted, and in merged ones.
   */
  maskedBy: TrajectoryStats['maskedBy'] & { secret: number; replayed?: number; 'empty-context'?: number; 'not-model'?: number; 'no-context'?: number };
  labelledBy: Record<LabelSource, number>;
  /** Steps whose reply has no text and no tool call: no action, never trained. */
  emptyTurns: number;
  /** Branches or windows left out because nothing in them is trained. */
  examplesSkipped: number;
  /** Examples whose context was rebuilt by today's code (logs older than the request record, or replayed steps, which no request carried). */
  reconstructed: number;
  /**
   * Examples whose context an importer derived from a transcript that does not record
   * what the model was sent (absent in bundles made before it was counted, and in merged ones).
   */
  derived?: number;
  tokens: { tokenizer: string; total: number; longest: number; limit: number; overLimit: number };
}

export interface ManifestTrajectory {
  line: number;
  sessionId: string;
  branchId: string;
  branchName: string;
  kind: Example['kind'];
  /** Where its context comes from: the request record, the record plus rendered steps, rebuilt, or an importer's derived one. */
  context: Example['source'];
  /** Distinct steps whose turns the example holds. */
  steps: number;
  /** Assistant turns in the example. */
  actions: number;
  /** Turns trained here (weight 1). */
  kept: number;
  /** Turns present as weight-0 context. */
  masked: number;
  unlabelled: number;
  tokens: number;
  overLimit: boolean;
  trainedSteps: string[];
  /**
   * The step each assistant turn of the line belongs to, in message order (null: a
   * turn no step owns, e.g. a summary). Merge re-weighs an example's turns by step.
   */
  turnSteps: (string | null)[];
  /**
   * Per assistant turn: its reply was produced in this line's context (the messages
   * before it are the request it answered; a summary line: its summary turn only). A
   * merge trains a turn only where this is true. Absent in bundles of older versions.
   */
  ownContext?: boolean[];
  /**
   * A split of an over-long window that cut turns after its head (examples.ts split): its
   * turns are trained on a cut of their request. A merge trains a turn in such a line only
   * when no copy holds it with its whole request. Absent when false.
   */
  truncated?: true;
}

export interface ManifestAction {
  /** Line in sharegpt.jsonl and mistral.jsonl (same order). */
  line: number;
  /** The openai.jsonl line it was cut from. */
  example: number;
  sessionId: string;
  branchId: string;
  stepId: string;
  tokens: number;
}

export interface Manifest {
  format: 'apollo-dataset-bundle';
  formatVersion: 2;
  appVersion: string;
  formats: ExportFormat[];
  labelPolicy: LabelPolicy;
  options: { maxTokens: number | null; historyTokens: number; warnTokens: number; includeSummaries: boolean; dedupe: 'one-example-per-step' };
  sessions: Array<{ sessionId: string; name: string | null; branches: ManifestBranch[]; terminals: string[] }>;
  /** One entry per line of openai.jsonl (same order). */
  trajectories: ManifestTrajectory[];
  /** One entry per line of sharegpt.jsonl / mistral.jsonl. */
  actions: ManifestAction[];
  skipped: SkippedExample[];
  annotators: string[];
  counts: ManifestCounts;
  warnings: string[];
  files: ManifestFile[];
  redactions: RedactionSummary;
}

export interface ExportBundleResult {
  dir: string;
  manifest: Manifest;
  redactions: RedactionReport[];
  /** Set on a dry run: nothing was written. */
  dryRun?: boolean;
  /** Set when the files were taken from a bundle an earlier export of the same inputs kept (byte for byte what building them gives). */
  reused?: boolean;
  /** Set when they were built though the bundle cache was on: why no kept bundle could be taken (explainBuilt). */
  builtBecause?: string;
}

const FILE_OPENAI = 'openai.jsonl';
const FILE_AXOLOTL = 'axolotl.yml';
const FILE_SHAREGPT = 'sharegpt.jsonl';
const FILE_DATASET_INFO = 'dataset_info.json';
const FILE_LLAMAFACTORY = 'llamafactory.yaml';
const FILE_MISTRAL = 'mistral.jsonl';
const FILE_TRAJECTORY = 'trajectory.jsonl';
const FILE_REDACTIONS = 'redactions.json';
const FILE_MANIFEST = 'manifest.json';
const DEFAULT_TOKENS = 32_768;
/** This module's code and everything it imports, as on disk when it loaded: part of a kept bundle's key. */
const EXPORT_CODE = exportCodeDigest(import.meta.url);

function safeName(s: string): string {
  const x = s.replace(/[^A-Za-z0-9._-]/g, '_');
  return x === '' || x === '.' || x === '..' ? `_${x}` : x;
}

/** Counts of nothing yet, for a manifest of `sessions` sessions and `trajectories` training lines. */
export function emptyCounts(sessions: number, trajectories: number): ManifestCounts {
  return {
    sessions, trajectories, actionLines: 0, steps: 0, actions: 0, kept: 0, masked: 0, unlabelled: 0,
    maskedBy: { ...emptyStats().maskedBy, secret: 0 }, labelledBy: { annotator: 0, judge: 0, rule: 0 }, emptyTurns: 0,
    examplesSkipped: 0, reconstructed: 0, tokens: { tokenizer: TOKENIZER, total: 0, longest: 0, limit: 0, overLimit: 0 },
  };
}

function sessionName(events: readonly SessionEvent[]): string | null {
  let name: string | null = null;
  for (const ev of events) if (ev.type === 'session.created' || ev.type === 'session.renamed') name = ev.name;
  return name;
}

/** Where an imported session came from (its import.origin event; undefined: recorded here). */
function importOrigin(events: readonly SessionEvent[]): EventOf<'import.origin'> | undefined {
  const o = events.find((e) => e.type === 'import.origin');
  return o?.type === 'import.origin' ? o : undefined;
}

function sessionCwd(events: readonly SessionEvent[]): string | undefined {
  const c = events.find((e) => e.type === 'session.created');
  return c?.type === 'session.created' && c.cwd ? c.cwd : undefined;
}

interface Prepared {
  input: ExportSessionInput;
  dir: string;
  traj: Trajectory;
  /** Branches that own steps. */
  owning: Set<string>;
  selected: string[];
  /** The branches of `selected` each step is on (formats.ts stepBranches), made once. */
  onPaths: Map<string, string[]>;
  /** Filled by the example pass (whether each branch gave a training line). */
  branches: ManifestBranch[];
  terminals: string[];
  /** The session's fold `traj` is, when borrowed (checked before the bundle is published). */
  borrowed?: NonNullable<ExportSessionInput['fold']>;
}

/** One example of the stream with its OpenAI record, redacted, and what was redacted in it. */
interface TakenExample {
  p: Prepared;
  ex: Example;
  record: OpenAIRecord;
  hits: RecordHit[];
}

interface PassOptions {
  policy: LabelPolicy;
  historyTokens: number;
  warnTokens: number;
  perAction: boolean;
  /** The training files written: the redaction report names only these. */
  formats: readonly ExportFormat[];
  castOnly: boolean;
  reasoning: boolean;
  maxTokens?: number;
  includeSummaries?: boolean;
}

/** Where the pass hands each example and its per-action lines (planned; each built from the record when written). */
interface ExampleSink {
  example(x: TakenExample, plans: ActionPlan[]): Promise<void>;
}

/** What one pass over the example stream leaves for the manifest: no example, only what is said of each. */
interface PassResult {
  ledger: ExampleLedger;
  log: RedactionLog;
  /** Steps whose trained turn held a secret (session + step), masked for that reason. */
  secretMasked: Set<string>;
  /** One per openai.jsonl line, before the manifest's redaction of names. */
  trajectories: ManifestTrajectory[];
  actions: ManifestAction[];
  /** Of the derived examples: how many have no system prompt, how many no tool schemas (for the warning). */
  derivedLacks: { system: number; tools: number };
  /** Names of the tools written to sharegpt.jsonl whose parameters have no `properties` (for the warning). */
  toolsWithoutProperties: Set<string>;
  /** Examples written to sharegpt.jsonl whose text holds a literal <image>, <video> or <audio> (for the warning). */
  mediaTagExamples: number;
}

/** Why the pass did not train a step whose label trains it (trajectory.jsonl says so), or null when it did. */
function untrainedReason(pass: PassResult, sessionId: string, stepId: string): UntrainedReason | null {
  if (pass.secretMasked.has(`${sessionId}\u0000${stepId}`)) return 'secret';
  if (pass.ledger.isLeftOut(sessionId, stepId)) return 'empty-context';
  return pass.ledger.isTrained(sessionId, stepId) ? null : 'no-context';
}

/** A training file written line by line, checked as it is written. */
interface JsonlOut {
  file: string;
  out: BufferedWriter;
  check: LineCheck;
}

function writeLine(w: JsonlOut, record: unknown): void {
  w.check.value(record);
  w.out.pushJson(record);
  w.out.push('\n');
}

/**
 * One pass over the example stream of every session: each example is taken (built,
 * redacted), said in the manifest's terms, handed to `sink` and dropped, so what the
 * export holds follows the largest example, not the session. The same pass with no
 * sink is the plan (dry run). Fills each session's branch list.
 */
async function examplePass(prepared: readonly Prepared[], o: PassOptions, redactor: Redactor, sink: ExampleSink | null, checkAbort: () => void, keep: KeptExamples | null = null): Promise<PassResult> {
  try {
    return await examplePassOnce(prepared, o, redactor, sink, checkAbort, keep);
  } finally {
    useTokenStore(null);
    useTextKeys(null);
  }
}

async function examplePassOnce(prepared: readonly Prepared[], o: PassOptions, redactor: Redactor, sink: ExampleSink | null, checkAbort: () => void, keep: KeptExamples | null): Promise<PassResult> {
  const ledger = new ExampleLedger();
  const log = new RedactionLog();
  const secretMasked = new Set<string>();
  const trajectories: ManifestTrajectory[] = [];
  const actions: ManifestAction[] = [];
  const derivedLacks = { system: 0, tools: 0 };
  const toolsWithoutProperties = new Set<string>();
  let mediaTagExamples = 0;
  for (const p of prepared) {
    const { input, traj, selected, owning } = p;
    const skippedBefore = ledger.skipped.length;
    const withLines = new Set<string>();
    // The counts an earlier export of this session made; a dry run reads them and writes nothing.
    const tokenStore = o.castOnly ? null : await TokenCountStore.open(p.dir);
    useTokenStore(tokenStore);
    // Kept with the session: the keys of its own texts. A log older than the request record has every
    // context rebuilt, each text a copy the session does not hold, and those keys go with this export.
    useTextKeys(traj.requests.size > 0 ? (p.input.textKeys ?? null) : null);
    // The texts an earlier export found no secret in, under these rules and secrets.
    const memo = o.castOnly ? null : await RedactionMemo.open(p.dir, redactor.fingerprint);
    // Recordings only: no file holds an example, so none is built (the whole request
    // record rendered, redacted and counted in tokens, to be thrown away).
    const examples = o.castOnly ? [] : sessionExamples(traj, input.sessionId, selected, {
      policy: o.policy, maxTokens: o.maxTokens, includeSummaries: o.includeSummaries, cwd: sessionCwd(input.events),
      derivedContext: importOrigin(input.events)?.context === 'derived',
    }, ledger);
    for (const ex of examples) {
      const line = trajectories.length + 1;
      const x = redactExample(p, ex, redactor, memo, o.reasoning, secretMasked);
      // One line per weight-1 turn, in message order, each keeping the example's fixed head.
      const plans = o.perAction ? perActionPlans(x.record, o.historyTokens, ex.owners) : [];
      logRecordHits(log, x.record, x.hits, o.formats.includes('openai') ? line : null, plans, actions.length + 1, {
        sharegpt: o.formats.includes('sharegpt'), mistral: o.formats.includes('mistral'), masked: !o.formats.includes('openai'),
      });
      trajectories.push(trajectoryEntry(x, line, ledger, o.warnTokens));
      if (o.formats.includes('sharegpt')) {
        for (const name of toolsLackingProperties(x.record.tools)) toolsWithoutProperties.add(name);
        if (holdsMediaTag(x.record)) mediaTagExamples++;
      }
      if (ex.source === 'derived') {
        if (!x.record.messages.some((m) => m.role === 'system')) derivedLacks.system++;
        if (!x.record.tools?.length) derivedLacks.tools++;
      }
      for (const plan of plans) {
        actions.push({ line: actions.length + 1, example: line, sessionId: input.sessionId, branchId: ex.branchId, stepId: ex.owners[plan.index] ?? '', tokens: plan.tokens });
      }
      withLines.add(ex.branchId);
      keep?.examples.push({ x, plans });
      if (sink) await sink.example(x, plans);
      checkAbort();
    }
    useTokenStore(null);
    useTextKeys(null);
    if (sink) await Promise.all([tokenStore?.save(), memo?.save()]);
    // What the pass noted as used in them is saved by the export that takes these examples, as its own pass would.
    else keep?.stores.push(tokenStore, memo);
    const skippedHere = new Map(ledger.skipped.slice(skippedBefore).map((x) => [x.branchId, x.reason]));
    p.branches = [];
    for (const b of traj.branches.values()) {
      const isSelected = selected.includes(b.id);
      let skipped: string | null = isSelected ? null : owning.has(b.id) ? 'not selected' : 'no steps of its own';
      if (isSelected && !withLines.has(b.id) && !o.castOnly) {
        const why = skippedHere.get(b.id);
        skipped = why === 'no-actions' ? 'no actions' : 'nothing to train (every action is masked or already trained on another branch)';
      }
      p.branches.push({ branchId: b.id, name: b.name, fromStepId: b.fromStepId, reason: b.reason, author: b.author, exported: isSelected && skipped === null, skipped });
    }
  }
  return { ledger, log, secretMasked, trajectories, actions, derivedLacks, toolsWithoutProperties, mediaTagExamples };
}

/** The examples a pass took, in order, and the stores it read (see ExportBundleOptions.keepPlan). */
interface KeptExamples {
  examples: Array<{ x: TakenExample; plans: ActionPlan[] }>;
  stores: Array<{ save(): Promise<void> } | null>;
}

/** A plan's pass, for the export of the same inputs: its result, its examples, each session's branch list. */
interface KeptPass extends KeptExamples {
  result: PassResult;
  branches: ManifestBranch[][];
}

/**
 * What the examples of a pass are made of: the options, the redaction rules and secrets
 * (the redactor's fingerprint), and per session its folder (the token counts and texts
 * found clean read there), the branches and the digest of its events (bundle-cache.ts: the
 * log's lines, export.made aside, which no example reads). Null when a session has no
 * digest: events from elsewhere are never taken for others.
 */
function passKey(prepared: readonly Prepared[], o: PassOptions, redactor: Redactor): string | null {
  if (prepared.some((p) => !p.input.eventsDigest)) return null;
  const sessions = prepared.map((p) => ({ sessionId: p.input.sessionId, eventsDigest: p.input.eventsDigest, dir: p.dir, selected: p.selected }));
  return createHash('sha256').update(JSON.stringify({ o, redaction: redactor.fingerprint.toString('hex'), sessions })).digest('hex');
}

/**
 * Whether keeping these examples costs little: each holds the request record's own
 * messages (the fold's strings), not a context rebuilt for a log older than the record,
 * whose every text would be a copy kept beside the fold: the export's memory follows its
 * largest example, and a plan kept whole would not.
 */
function keptCheaply(keep: KeptExamples): boolean {
  return keep.examples.every(({ x }) => x.ex.source !== 'reconstructed');
}

/** How long a plan's examples are kept for its export (the dialog left open). */
export const PLAN_KEPT_MS = 10 * 60_000;
let keptPlan: { key: string; pass: KeptPass; timer: NodeJS.Timeout } | null = null;

function keepPlan(key: string, pass: KeptPass): void {
  if (keptPlan) clearTimeout(keptPlan.timer);
  const timer = setTimeout(() => {
    if (keptPlan?.timer === timer) keptPlan = null;
  }, PLAN_KEPT_MS);
  timer.unref();
  keptPlan = { key, pass, timer };
}

/** The kept plan of exactly these inputs, once. */
function takePlan(key: string | null): KeptPass | null {
  if (key === null || keptPlan?.key !== key) return null;
  const { pass, timer } = keptPlan;
  clearTimeout(timer);
  keptPlan = null;
  return pass;
}

/** The pass of a kept plan, its examples handed to `sink` as the pass itself would hand them. */
async function replayPass(kept: KeptPass, prepared: readonly Prepared[], sink: ExampleSink, checkAbort: () => void): Promise<PassResult> {
  for (const { x, plans } of kept.examples) {
    await sink.example(x, plans);
    checkAbort();
  }
  adoptBranches(kept, prepared);
  await Promise.all(kept.stores.map((s) => s?.save()));
  return kept.result;
}

/** Each session's branch list as the kept pass filled it (the pass fills it in place). */
function adoptBranches(kept: KeptPass, prepared: readonly Prepared[]): void {
  prepared.forEach((p, i) => {
    p.branches = kept.branches[i]!;
  });
}

/**
 * LLaMA-Factory's multimodal plugins (mm_plugin.py _validate_messages, used by the qwen2_vl,
 * qwen3_vl, gemma3, llama4, pixtral, … templates) count these placeholders in every turn's
 * text (calls included) against the example's media files, none here, and stop the run on a
 * mismatch (ValueError). An agent that read HTML or a VLM's prompt has them as plain text.
 */
const MEDIA_TAG = /<(?:image|video|audio)>/;

function holdsMediaTag(r: OpenAIRecord): boolean {
  return r.messages.some((m) => (typeof m.content === 'string' && MEDIA_TAG.test(m.content)) || !!m.tool_calls?.some((c) => MEDIA_TAG.test(c.function.arguments)));
}

/**
 * Tools whose parameters are an object without `properties`: LLaMA-Factory's default tool
 * format (tool_utils.py DefaultToolUtils.tool_formatter, for templates that name no tool
 * format of their own) reads tool["parameters"]["properties"] and stops the run on them.
 * They are written as the model was sent them (a Qwen-style format shows them so), and said.
 */
function toolsLackingProperties(tools: unknown[] | undefined): string[] {
  const out: string[] = [];
  for (const t of tools ?? []) {
    const f = (t as { function?: { name?: unknown; parameters?: unknown } }).function;
    const params = f?.parameters as { properties?: unknown } | undefined;
    if (params && typeof params === 'object' && (typeof params.properties !== 'object' || params.properties === null)) out.push(String(f?.name ?? '?'));
  }
  return out;
}

/** The manifest's entry for an example (line `line` of openai.jsonl). */
function trajectoryEntry(x: TakenExample, line: number, ledger: ExampleLedger, warnTokens: number): ManifestTrajectory {
  const assistants = x.record.messages.filter((m) => m.role === 'assistant');
  const kept = assistants.filter((m) => m.weight === 1).length;
  const owners = new Set(x.ex.owners.filter((id): id is string => !!id));
  const unlabelled = x.ex.trainedSteps.filter((id) => ledger.decision(x.p.input.sessionId, id)?.unlabelled).length;
  const tokens = recordTokenCount(x.record);
  return {
    line, sessionId: x.p.input.sessionId, branchId: x.ex.branchId, branchName: x.p.traj.branches.get(x.ex.branchId)?.name ?? x.ex.branchId,
    kind: x.ex.kind, context: x.ex.source, steps: owners.size, actions: assistants.length, kept, masked: assistants.length - kept, unlabelled,
    tokens, overLimit: tokens > warnTokens, trainedSteps: [...x.ex.trainedSteps],
    turnSteps: x.record.messages.flatMap((m, i) => (m.role === 'assistant' ? [x.ex.owners[i] ?? null] : [])),
    ownContext: x.record.messages.flatMap((m, i) => {
      if (m.role !== 'assistant') return [];
      const owner = x.ex.owners[i];
      return [x.ex.kind === 'summary' ? i === x.record.messages.length - 1 : !!owner && x.ex.ownSteps.has(owner)];
    }),
    ...(x.ex.truncated ? { truncated: true as const } : {}),
  };
}

/** A kept bundle whose recordings did not come out as its manifest lists them: the export is built instead. */
class KeptBundleStale extends Error {}

/** A borrowed fold took a later event while the export read it: the export is built again from the events alone. */
class FoldMoved extends Error {}

/** Throws FoldMoved when a borrowed fold no longer is the fold of its session's events. */
function checkFolds(prepared: readonly Prepared[]): void {
  if (prepared.some((p) => p.borrowed && !p.borrowed.current())) throw new FoldMoved();
}

export async function exportBundle(opts: ExportBundleOptions): Promise<ExportBundleResult> {
  try {
    try {
      return await exportBundleOnce(opts);
    } catch (e) {
      if (e instanceof FoldMoved) return await exportBundle({ ...opts, sessions: opts.sessions.map(({ fold: _, ...s }) => s) });
      if (!(e instanceof KeptBundleStale)) throw e;
      // Built, and kept in its place.
      return await exportBundleOnce(opts, false);
    }
  } finally {
    // Token counts by text are kept for one export only (they name its strings).
    resetTokenCache();
  }
}

/** `take`: whether a kept bundle of the same inputs may be taken (else one is only kept). */
async function exportBundleOnce(opts: ExportBundleOptions, take = true): Promise<ExportBundleResult> {
  const outDir = opts.outDir.replace(/[\\/]+$/, '');
  const formats = EXPORT_FORMATS.filter((f) => opts.formats.includes(f));
  if (formats.length === 0) throw new ApolloError('BAD_REQUEST', 'No export format chosen');
  const unknown = opts.formats.filter((f) => !EXPORT_FORMATS.includes(f));
  if (unknown.length) throw new ApolloError('BAD_REQUEST', `Unknown export format(s): ${unknown.join(', ')}`);
  if (opts.sessions.length === 0) throw new ApolloError('BAD_REQUEST', 'No session to export');
  for (const [k, v] of [['maxTokens', opts.maxTokens], ['historyTokens', opts.historyTokens], ['warnTokens', opts.warnTokens]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 64)) throw new ApolloError('BAD_REQUEST', `${k} must be an integer of at least 64 tokens`);
  }
  const ids = new Set<string>();
  for (const s of opts.sessions) {
    if (ids.has(s.sessionId)) throw new ApolloError('BAD_REQUEST', `Session ${s.sessionId} listed twice`);
    ids.add(s.sessionId);
  }
  if (!opts.dryRun && (await exists(outDir))) throw new ApolloError('CONFLICT', `${outDir} already exists`);

  const policy = resolvePolicy(opts.labelPolicy);
  const redactor = new Redactor(opts.secrets);
  const signal = opts.signal;
  // Set when converting a recording failed: the training files then stop at their next check.
  let castFailure: { error: unknown } | null = null;
  const checkAbort = (): void => {
    if (castFailure) throw castFailure.error;
    if (signal?.aborted) throw new ApolloError('CANCELLED', 'Export cancelled');
  };
  checkAbort();
  const historyTokens = opts.historyTokens ?? opts.maxTokens ?? DEFAULT_TOKENS;
  const warnTokens = opts.warnTokens ?? opts.maxTokens ?? DEFAULT_TOKENS;
  const perAction = formats.includes('sharegpt') || formats.includes('mistral');
  const castOnly = formats.every((f) => f === 'asciicast');

  // ---- prepare: fold each session, pick its branches, list its recordings
  const prepared: Prepared[] = [];
  for (const input of opts.sessions) {
    const dir = input.sessionDir || join(opts.home, 'sessions', input.sessionId);
    const borrowed = input.fold && input.fold.length === input.events.length && input.fold.current() ? input.fold : undefined;
    const traj = borrowed?.trajectory ?? foldTrajectory(input.events);
    const owning = new Set([...traj.steps.values()].map((s) => s.branchId));
    let selected: string[];
    if (input.branchIds) {
      for (const b of input.branchIds) if (!traj.branches.has(b)) throw new ApolloError('NOT_FOUND', `Session ${input.sessionId} has no branch ${b}`);
      selected = input.branchIds.filter((b, i, a) => a.indexOf(b) === i);
    } else {
      selected = [...traj.branches.keys()].filter((b) => owning.has(b));
    }
    const p: Prepared = { input, dir, traj, owning, selected, onPaths: stepBranches(traj, selected), branches: [], terminals: [], ...(borrowed ? { borrowed } : {}) };
    if (formats.includes('asciicast')) {
      const files = await readdir(join(dir, 'terminals')).catch(() => [] as string[]);
      const recorded = new Set(files.filter((f) => f.endsWith('.out')).map((f) => f.slice(0, -4)));
      const fromEvents = terminalIdsOf(input.events).filter((t) => recorded.has(t));
      p.terminals = [...fromEvents, ...[...recorded].filter((t) => !fromEvents.includes(t)).sort()];
    }
    prepared.push(p);
    checkAbort();
  }
  const exampleOptions = { policy, historyTokens, warnTokens, perAction, formats, castOnly, reasoning: opts.openai?.reasoning === 'field', maxTokens: opts.maxTokens, includeSummaries: opts.includeSummaries };

  // A dry run, and the refuse policy's check before anything is written, make the pass
  // with nothing to write to.
  // Its examples are kept for the write below (the refuse policy's check) or the export that follows (keepPlan).
  const key = passKey(prepared, exampleOptions, redactor);
  let planned: KeptPass | null = null;
  if (opts.dryRun || policy.unlabelled === 'refuse') {
    // The refuse policy's check reads the dialog's plan of these inputs when one is kept.
    planned = opts.dryRun ? null : takePlan(key);
    let plan: PassResult;
    if (planned) {
      adoptBranches(planned, prepared);
      plan = planned.result;
    } else {
      const keep: KeptExamples | null = key !== null && (!opts.dryRun || opts.keepPlan) ? { examples: [], stores: [] } : null;
      plan = await examplePass(prepared, exampleOptions, new Redactor(opts.secrets), null, checkAbort, keep);
      if (keep && keptCheaply(keep)) planned = { ...keep, result: plan, branches: prepared.map((p) => p.branches) };
    }
    // On a copy of its log: planning the manifest adds the manifest's own redactions, which the write below adds again.
    const checked = { ...plan, log: plan.log.copy() };
    const manifest = planManifest(opts, formats, policy, prepared, checked, { historyTokens, warnTokens });
    checkFolds(prepared);
    if (opts.dryRun && planned) keepPlan(key!, planned);
    if (policy.unlabelled === 'refuse' && manifest.counts.unlabelled > 0 && !opts.dryRun) {
      throw new ApolloError('BAD_REQUEST', `${manifest.counts.unlabelled} action(s) are unreviewed and the policy refuses to export them: label them, or choose to train or skip unreviewed actions`, { unlabelled: manifest.counts.unlabelled });
    }
    if (opts.dryRun) return { dir: outDir, manifest, redactions: checked.log.list(), dryRun: true };
  }

  // Progress counts the actions on the exported paths (the training files are written
  // as they are trained), each session's trajectory lines and each recording.
  const actionsOnPaths = castOnly ? 0 : prepared.reduce((n, p) => n + [...p.onPaths.keys()].filter((id) => p.traj.steps.get(id)?.response).length, 0);
  const nTerm = prepared.reduce((n, p) => n + p.terminals.length, 0);
  const total = actionsOnPaths + (formats.includes('trajectory') ? prepared.length : 0) + nTerm * 2 + 8;
  let done = 0;
  const progress = (stage: string, step = 1): void => {
    // Before too: the recordings and the training files both report, and a listener that cancelled hears neither again.
    checkAbort();
    done += step;
    opts.onProgress?.(done, total, stage);
    checkAbort();
  };

  const castWorker = opts.castWorker === false ? null : (opts.castWorker ?? workerBeside());
  const stage = new StagingDir(outDir);
  let castsRunning: Promise<void> | null = null;
  const castAbort = new AbortController();
  const stopCasts = (): void => castAbort.abort();
  signal?.addEventListener('abort', stopCasts, { once: true });
  if (signal?.aborted) stopCasts();
  // The entry this export keeps for the next one of the same inputs, renamed into place once the bundle is published.
  let keptEntry: StagedEntry | null = null;
  // `casts` is filled by the conversions before publish is called.
  const casts: Array<{ rel: string; dir: string; job: CastJob; outcome: CastOutcome; key: CastKey | null }> = [];
  /** Sign the manifest (written), publish the bundle, keep its conversions. */
  const publish = async (manifestText: string): Promise<void> => {
    // Signed before publishing, so a bundle never appears without its signature.
    if (opts.sign) await stage.writeFile(SIGNATURE_FILE, `${JSON.stringify(signManifest(Buffer.from(manifestText), opts.sign), null, 2)}\n`);
    checkAbort();
    await stage.publish([
      ...prepared.filter((p) => p.terminals.length).map((p) => `terminals/${safeName(p.input.sessionId)}`),
      ...(formats.includes('asciicast') ? ['terminals'] : []),
    ]);
    // Kept only now: an export that failed or was cancelled leaves the session folders as they were.
    for (const c of casts) if (c.key) await keepCachedCast(c.dir, c.job, c.key, join(outDir, c.rel), c.outcome);
    opts.onProgress?.(total, total, 'done');
  };
  try {
    await stage.open();
    // Every file is checked and hashed as it is written; errors are reported once all are.
    const files: ManifestFile[] = [];
    const errors: Array<ValidationError & { file: string }> = [];
    const allowReasoning = opts.openai?.reasoning === 'field';
    const done_ = (file: string, check: LineCheck, out: { bytes: number; sha256(): string }): void => {
      errors.push(...check.end(false).map((e) => ({ ...e, file })));
      files.push({ path: file, format: check.format, bytes: out.bytes, sha256: out.sha256(), records: check.records() });
      progress(`validate ${file}`, 0);
    };
    /** Write and check the small files `texts`, all at once; what it gives is said (recordTexts) in their order. */
    const writeTexts = (texts: ReadonlyArray<readonly [string, ManifestFile['format'], string]>) =>
      Promise.all(texts.map(async ([file, format, text]) => {
        const out = await stage.create(file);
        out.push(text);
        await stage.finish(out);
        const check = new LineCheck(format, { allowReasoning });
        const lines = text.split('\n');
        const unterminated = lines.pop() !== '';
        for (const l of lines) check.line(l);
        return { file, format, out, check, unterminated };
      }));
    const recordTexts = (written: Awaited<ReturnType<typeof writeTexts>>): void => {
      for (const { file, format, out, check, unterminated } of written) {
        errors.push(...check.end(unterminated).map((e) => ({ ...e, file })));
        files.push({ path: file, format, bytes: out.bytes, sha256: out.sha256(), records: check.records() });
        progress(`validate ${file}`, 0);
      }
    };

    // ---- the recordings, each taken from the conversion kept beside its session when
    // nothing it depends on changed (cast-cache.ts), else converted in a recording worker,
    // while this thread writes the training files when the token counts are kept from an
    // earlier export, else before them (see below). What the workers report is said in
    // the manifest and the redaction log after the trajectories, in recording order, as
    // before, so the bundle does not depend on which finished first or where it came from.
    // Each with its conversion's key (cast-cache.ts), which the bundle's key is made of.
    const jobs = await Promise.all(prepared.flatMap((p) => {
      // Named once per session, with this export's redactor (castPaths names them the same way).
      const names = castNames(p.terminals, redactor);
      return p.terminals.map(async (tid, i) => {
        const rel = castRel(p.input.sessionId, names[i]!);
        const job: CastJob = {
          recordingPath: join(p.dir, 'terminals', `${tid}.out`),
          timingPath: join(p.dir, 'terminals', `${tid}.timing.jsonl`),
          outPath: await stage.pathFor(rel),
          events: terminalEventsOf(p.input.events, tid),
          terminalId: tid,
          title: `${p.input.sessionId}/${tid}`,
          secrets: opts.secrets,
        };
        return { p, tid, rel, job, key: opts.castCache === false ? null : await castKey(job, p.dir) };
      });
    }));
    // `casts`: in job order whatever order they finish in; `key`: a conversion to keep (or a kept one to write back) once the bundle is published.
    const convertOne = async ({ p, rel, job, key }: (typeof jobs)[number]): Promise<(typeof casts)[number]> => {
      const kept = key ? await takeCachedCast(p.dir, job, key) : null;
      // Its key too: what the taking hashed is written back into the entry once published.
      if (kept) return { rel, dir: p.dir, job, outcome: kept, key };
      let lastReport = 0;
      const lines: Array<[number, readonly string[]]> = [];
      const result = await runCastJob(job, {
        redactor,
        onLine: (line, kinds) => void lines.push([line, kinds]),
        onBytes: (b, size) => {
          if (b - lastReport >= 32 << 20 && b < size && !signal?.aborted) {
            lastReport = b;
            opts.onProgress?.(done, total, `asciicast ${rel} ${Math.floor((b / size) * 100)}%`);
          }
        },
        signal: castAbort.signal,
      }, castWorker);
      return { rel, dir: p.dir, job, outcome: { result, lines }, key };
    };
    // Separate recordings in separate workers, two at a time when they run alone (each
    // worker is ~45 MB); one beside the training files, which keep this thread's core busy
    // (a second worker there took the fifth-size session's first export 196 -> 253 MB);
    // in this thread one after the other, which two at a time would not speed up.
    // The first failure stops the others, and is the export's error once all have stopped.
    const convertAll = async (beside: boolean): Promise<void> => {
      const lanes = castWorker && !beside ? Math.min(2, availableParallelism(), jobs.length) : 1;
      let next = 0;
      let failure: { error: unknown } | null = null;
      await Promise.all(Array.from({ length: lanes }, async () => {
        while (next < jobs.length && !failure) {
          const i = next++;
          try {
            casts[i] = await convertOne(jobs[i]!);
          } catch (e) {
            failure ??= { error: e };
            castAbort.abort();
            return;
          }
          progress(`validate ${jobs[i]!.rel}`, 0);
          progress(`asciicast ${jobs[i]!.rel}`);
        }
      }));
      if (failure) throw (failure as { error: unknown }).error;
    };
    // The same inputs exported before: their kept files, the recordings as ever.
    const cacheDir = join(prepared[0]!.dir, BUNDLE_CACHE_DIR);
    const keyParts = {
      options: { ...exampleOptions, formats, appVersion: opts.appVersion },
      redaction: redactor.fingerprint.toString('hex'),
      sessions: prepared.map((p) => ({ sessionId: p.input.sessionId, eventsDigest: p.input.eventsDigest, selected: p.selected, terminals: p.terminals })),
      casts: jobs.map((j) => j.key?.digest ?? null),
    };
    const bundleKeyOf = opts.bundleCache === false ? null : bundleKey(keyParts, EXPORT_CODE);
    // What the entry notes of its inputs (the events counted as the digest reads them), to say why a later export built.
    const noted = bundleKeyOf && EXPORT_CODE !== null
      ? noteInputs(keyParts, EXPORT_CODE, prepared.map((p) => p.input.events.reduce((n, e) => n + (inContent(e) ? 1 : 0), 0)))
      : null;
    const hadEntry = bundleKeyOf !== null && take && (await exists(join(cacheDir, bundleKeyOf)));
    const taken = bundleKeyOf && take ? await takeCachedBundle(cacheDir, bundleKeyOf, stage.dir) : null;
    if (taken) {
      // A plan of these inputs is not needed now: not kept in memory for nothing.
      takePlan(key);
      progress('examples (kept)', actionsOnPaths + (formats.includes('trajectory') ? prepared.length : 0));
      if (formats.includes('asciicast')) await convertAll(false);
      checkAbort();
      // Made of the same conversions (their keys are the bundle's), so they come out as the manifest lists them,
      // files and redactions, as a build would say them; else build it.
      const castLog = new RedactionLog();
      addCastRedactions(castLog, casts);
      const rels = new Set(casts.map((c) => c.rel));
      const same = casts.every((c) => c.outcome.result.errors.length === 0)
        && JSON.stringify(casts.map(castFile).sort(byPath)) === JSON.stringify(taken.manifest.files.filter((f) => f.format === 'asciicast'))
        && JSON.stringify(castLog.list()) === JSON.stringify(taken.redactions.filter((r) => rels.has(r.file)));
      if (!same) {
        await rm(join(cacheDir, bundleKeyOf!), { recursive: true, force: true }).catch(() => undefined);
        throw new KeptBundleStale();
      }
      await publish(taken.manifestText);
      return { dir: outDir, manifest: taken.manifest, redactions: taken.redactions, reused: true };
    }
    const builtBecause = !noted ? undefined
      : !take ? 'the kept bundle of these inputs was not usable (its recordings did not come out as its manifest lists them)'
        : hadEntry ? 'the kept bundle of these inputs was not usable (a file in it changed or went missing)'
          : await explainBuilt(cacheDir, noted);

    // Memory: the tokenizer's ranks (~35 MB) and the worker (~45 MB) on top of the training
    // files' garbage took the full generated session past 300 MB. When counts must be made
    // (no counts kept from an earlier export), the recordings are converted first, as before,
    // and the training files follow.
    const beside = formats.includes('asciicast') && !castOnly && (await countsKept(prepared));
    castsRunning = formats.includes('asciicast') ? convertAll(beside).catch((e: unknown) => {
      castFailure ??= { error: e };
    }) : null;
    if (castsRunning && !beside && !castOnly) {
      await castsRunning;
      checkAbort();
    }

    // ---- the training files, in one pass over the example stream
    const jsonl = async (file: string, format: ManifestFile['format']): Promise<JsonlOut> => ({ file, out: await stage.create(file), check: new LineCheck(format, { allowReasoning }) });
    const openai = formats.includes('openai') ? await jsonl(FILE_OPENAI, 'openai') : null;
    const sharegpt = formats.includes('sharegpt') ? await jsonl(FILE_SHAREGPT, 'sharegpt') : null;
    const mistral = formats.includes('mistral') ? await jsonl(FILE_MISTRAL, 'mistral') : null;
    let trainedSoFar = 0;
    const sink: ExampleSink = {
      async example(x, plans) {
        // Already redacted, message by message, when the example was taken.
        if (openai) writeLine(openai, x.record);
        for (const [i, plan] of plans.entries()) {
          const rec = perActionRecord(x.record, plan);
          if (sharegpt) writeLine(sharegpt, sharegptRecord(rec));
          if (mistral) writeLine(mistral, mistralRecord(rec));
          // A trajectory of 2,500 actions is ~2 s of lines: without a turn of the event loop
          // between them a Cancel (or any other message to the host) waited for all of them.
          // The report (nothing counted yet) checks for the Cancel and shows the example moving.
          if (i % 128 === 127) {
            await new Promise<void>((r) => setImmediate(r));
            progress(`examples ${x.p.input.sessionId}/${x.ex.branchId}`, 0);
          }
        }
        for (const w of [openai, sharegpt, mistral]) await w?.out.maybeFlush();
        const step = Math.min(x.ex.trainedSteps.length, actionsOnPaths - trainedSoFar);
        trainedSoFar += step;
        progress(`examples ${x.p.input.sessionId}/${x.ex.branchId}`, step);
      },
    };
    // The examples of a plan of exactly these inputs when one was made (here, or by the dialog before), else built now.
    const kept = planned ?? takePlan(key);
    const pass = kept ? await replayPass(kept, prepared, sink, checkAbort) : await examplePass(prepared, exampleOptions, redactor, sink, checkAbort);
    progress('examples', actionsOnPaths - trainedSoFar);
    // The training files go to the disk (their last writes, their fsync) while the manifest is planned.
    const writers = [openai, sharegpt, mistral].filter((w) => w !== null);
    const closed = Promise.all(writers.map((w) => stage.finish(w.out)));
    closed.catch(() => undefined);
    const manifest = planManifest(opts, formats, policy, prepared, pass, { historyTokens, warnTokens });
    const log = pass.log;
    // The trainers' configs, written while the training files are still being closed.
    const configs: Array<readonly [string, ManifestFile['format'], string]> = [];
    if (openai) configs.push([FILE_AXOLOTL, 'trainer-config', axolotlConfig(FILE_OPENAI, manifest.counts.tokens.longest)]);
    if (sharegpt) {
      const longest = manifest.actions.reduce((m, a) => Math.max(m, a.tokens), 0);
      configs.push([FILE_DATASET_INFO, 'llama-factory-dataset-info', llamaFactoryDatasetInfo(FILE_SHAREGPT)], [FILE_LLAMAFACTORY, 'trainer-config', llamaFactoryTrainConfig('apollo', longest)]);
    }
    const configsWritten = writeTexts(configs);
    configsWritten.catch(() => undefined);
    await closed;
    for (const w of writers) done_(w.file, w.check, w.out);
    recordTexts(await configsWritten);
    if (formats.includes('trajectory')) {
      const t = await jsonl(FILE_TRAJECTORY, 'trajectory');
      let line = 0;
      for (const p of prepared) {
        const untrained = (stepId: string) => untrainedReason(pass, p.input.sessionId, stepId);
        for (const rec of trajectoryRecords(p.traj, { sessionId: p.input.sessionId, branchIds: p.selected, policy, untrained, onBranches: p.onPaths })) {
          line++;
          const n = line;
          writeLine(t, redactor.redactValue(rec, (ptr, kind) => log.add(FILE_TRAJECTORY, n, ptr, kind)));
          if (line % 4096 === 0) checkAbort();
          await t.out.maybeFlush();
        }
        progress(`trajectory ${p.input.sessionId}`);
      }
      await stage.finish(t.out);
      done_(FILE_TRAJECTORY, t.check, t.out);
    }
    await castsRunning;
    checkAbort();
    // Said in the manifest, the redaction log and the error list where they always were (after the trajectories), so the bundle is byte for byte the same.
    addCastRedactions(log, casts);
    for (const { rel, outcome: { result } } of casts) errors.push(...result.errors.map((e) => ({ ...e, file: rel })));
    files.push(...casts.map(castFile));

    if (errors.length) {
      const first = errors[0]!;
      throw new ApolloError('BAD_REQUEST', `Export failed validation: ${errors.length} error(s); first: ${first.file}:${first.line}: ${first.message}`, { errors: errors.slice(0, 100) });
    }

    const redactions = log.list();
    const maskedTurns = log.masked();
    const written = await stage.writeFile(FILE_REDACTIONS, `${JSON.stringify({ redactions, maskedTurns }, null, 2)}\n`);
    files.push({ path: FILE_REDACTIONS, format: 'redactions', ...written, records: redactions.length });
    files.sort(byPath);
    manifest.files = files;
    manifest.redactions = log.summary();
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
    // Everything above was read from the folds: published only if they are still those of the events.
    checkFolds(prepared);
    const manifestFile = await stage.writeFile(FILE_MANIFEST, manifestText);
    // Every file but the recordings (the cast cache keeps those) and the signature (made for the key in use).
    if (bundleKeyOf && noted) {
      keptEntry = await stageBundleEntry(cacheDir, bundleKeyOf, stage.dir, [
        ...files.filter((f) => f.format !== 'asciicast').map(({ path, bytes, sha256 }) => ({ path, bytes, sha256 })),
        { path: FILE_MANIFEST, ...manifestFile },
      ], noted);
    }
    await publish(manifestText);
    await keptEntry?.commit();
    return { dir: outDir, manifest, redactions, ...(builtBecause ? { builtBecause } : {}) };
  } catch (e) {
    if (e instanceof KeptBundleStale || e instanceof FoldMoved) throw e;
    throw toApolloError(e, 'exporting', 'Export cancelled');
  } finally {
    await keptEntry?.discard();
    // A conversion still writing into the staging folder (the training files failed first) stops before it goes.
    if (castsRunning) {
      stopCasts();
      await castsRunning;
    }
    signal?.removeEventListener('abort', stopCasts);
    await stage.discard();
  }
}

type CastDone = { rel: string; outcome: CastOutcome };

/** The manifest's order of files. */
function byPath(a: ManifestFile, b: ManifestFile): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}

/** A converted recording as the manifest lists it. */
function castFile({ rel, outcome: { result } }: CastDone): ManifestFile {
  return { path: rel, format: 'asciicast', bytes: result.bytes, sha256: result.sha256, records: result.records };
}

/** What the recordings' conversions redacted, in the redaction log (each event's data, `/2`, by line). */
function addCastRedactions(log: RedactionLog, casts: readonly CastDone[]): void {
  for (const { rel, outcome: { lines } } of casts) for (const [line, kinds] of lines) for (const k of kinds) log.add(rel, line, '/2', k);
}

/**
 * The OpenAI record of an example, redacted message by message on decoded values.
 * A trained turn that held a secret is not trained (weight 0): the placeholder must
 * never become something the model learns to type.
 */
function redactExample(p: Prepared, ex: Example, redactor: Redactor, memo: RedactionMemo | null, reasoning: boolean, secretMasked: Set<string>): TakenExample {
  const raw = openaiRecord(ex.messages, ex.weights, ex.tools, reasoning ? (i) => {
    const owner = ex.owners[i];
    return (owner ? p.traj.steps.get(owner)?.response?.reasoning : undefined) || undefined;
  } : undefined);
  const found: RecordHit[] = [];
  const messages = raw.messages.map((m, i) => {
    // Shared where nothing was redacted: the record is this example's own, and only read from here on.
    const { value, hits } = redactor.scan(m, memo ?? undefined, true);
    const masked = m.role === 'assistant' && m.weight === 1 && hits.length > 0;
    for (const h of hits) found.push({ message: i, field: h.field, kind: h.kind, masked });
    if (masked) {
      value.weight = 0;
      const owner = ex.owners[i];
      if (owner) {
        ex.trainedSteps = ex.trainedSteps.filter((s) => s !== owner);
        ex.contextSteps.push(owner);
        secretMasked.add(`${p.input.sessionId}\u0000${owner}`);
      }
    }
    return value;
  });
  let record: OpenAIRecord = { messages };
  if (raw.tools) {
    const tools = redactTools(raw.tools, redactor);
    for (const h of tools.hits) found.push({ message: null, field: h.field, kind: h.kind, masked: false });
    record = { messages, tools: tools.value };
  }
  return { p, ex, record, hits: found };
}

/** A string of an OpenAI record that held a secret: its message (null: the tools), its pointer there, and whether a trained turn was masked for it. */
export interface RecordHit {
  message: number | null;
  field: string;
  kind: string;
  masked: boolean;
  /** How many (1 when absent). */
  count?: number;
}

/**
 * The hits of one OpenAI record in the redaction report, at their place in every file
 * written from it: openai.jsonl line `line` (null: not written) and, for each of its
 * per-action lines `plans` (numbered from `firstAction`), sharegpt.jsonl and mistral.jsonl
 * where those are written. A turn masked for a secret is reported where it is trained
 * nowhere else: in openai.jsonl, or, without it, in each per-action line holding it as
 * context (`masked`). Per-action lines are built again only for a record with a hit.
 */
export function logRecordHits(
  log: RedactionLog, record: OpenAIRecord, hits: readonly RecordHit[], line: number | null, plans: readonly ActionPlan[], firstAction: number,
  o: { sharegpt: boolean; mistral: boolean; masked: boolean },
): void {
  if (!hits.length) return;
  const at = (message: number | null, field: string): string => (message === null ? `/tools${field}` : `/messages/${message}${field}`);
  if (line !== null) {
    for (const h of hits) {
      log.add(FILE_OPENAI, line, at(h.message, h.field), h.kind, h.count);
      if (h.masked && h.message !== null) log.addMasked(FILE_OPENAI, line, `/messages/${h.message}`, h.kind);
    }
  }
  if (!o.sharegpt && !o.mistral) return;
  for (const [k, plan] of plans.entries()) {
    const rec = perActionRecord(record, plan);
    const files: Array<[string, LinePlace]> = [];
    if (o.sharegpt) files.push([FILE_SHAREGPT, sharegptPlace(rec)]);
    if (o.mistral) files.push([FILE_MISTRAL, mistralPlace(rec)]);
    for (const h of hits) {
      const i = h.message === null ? null : perActionIndex(plan, h.message);
      if (h.message !== null && i === null) continue;
      for (const [file, place] of files) {
        const ptr = place(i, h.field);
        if (ptr === null) continue;
        log.add(file, firstAction + k, ptr, h.kind, h.count);
        if (o.masked && h.masked && i !== null) log.addMasked(file, firstAction + k, ptr.replace(/^(\/(?:messages|conversations)\/\d+).*$/, '$1'), h.kind);
      }
    }
  }
}

/** Per redactor, what it made of each tools array it was given (see redactTools). */
const toolScans = new WeakMap<Redactor, WeakMap<readonly unknown[], ScanResult<unknown[]>>>();

/**
 * An OpenAI record's `tools`, redacted as its messages are, each hit listed under `file`,
 * line `line`, at `/tools…`. An imported session carries the schemas its source sent,
 * and a `default` or a description in them may hold a key; sharegpt.jsonl and
 * mistral.jsonl take their tools from this record, so they are redacted with it. The merge
 * redacts the tools it writes here too (merge-write.ts), so both say the same.
 *
 * The array itself when nothing in it was redacted: this app's TOOL_SCHEMAS hold no
 * secret, and their bytes stay what they were. One scan per distinct array and redactor:
 * every example of a session shares its config's array (or TOOL_SCHEMAS), a few KB of
 * schema that would otherwise be scanned again for every example.
 */
export function redactTools(tools: unknown[], redactor: Redactor): ScanResult<unknown[]> {
  let scans = toolScans.get(redactor);
  if (!scans) toolScans.set(redactor, (scans = new WeakMap()));
  let scan = scans.get(tools);
  if (!scan) scans.set(tools, (scan = redactor.scan(tools)));
  return scan.hits.length ? scan : { value: tools, hits: [] };
}


function planManifest(
  opts: ExportBundleOptions, formats: ExportFormat[], policy: LabelPolicy, prepared: Prepared[], pass: PassResult,
  o: { historyTokens: number; warnTokens: number },
): Manifest {
  const { ledger, log, secretMasked, trajectories, actions, derivedLacks, toolsWithoutProperties, mediaTagExamples } = pass;
  // `derived` beside `reconstructed`, `replayed`, `empty-context` and `not-model` after `secret`: set below.
  const { tokens, ...first } = emptyCounts(prepared.length, trajectories.length);
  const counts: ManifestCounts = { ...first, maskedBy: { ...first.maskedBy, replayed: 0, 'empty-context': 0, 'not-model': 0 }, derived: 0, tokens };
  let derived = 0;
  let replayed = 0;
  let emptyContext = 0;
  const notModel: string[] = [];
  const noContext: string[] = [];
  const emptySteps: string[] = [];
  const otherWorld: string[] = [];
  const warnings: string[] = [];
  const trajOf = new Map(prepared.map((p) => [p.input.sessionId, p.traj]));
  const replayedIn = (sessionId: string, stepId: string | null): boolean => {
    const traj = trajOf.get(sessionId);
    const step = stepId ? traj?.steps.get(stepId) : undefined;
    return !!traj && !!step && replayedStep(traj, step);
  };
  // Rebuilt because replayed steps (which no request carried) are in it, not because the log is old.
  let rebuiltForReplay = 0;
  for (const t of trajectories) {
    if (t.overLimit) counts.tokens.overLimit++;
    if (t.context === 'reconstructed') {
      counts.reconstructed++;
      if (t.turnSteps.some((id) => replayedIn(t.sessionId, id))) rebuiltForReplay++;
    }
    if (t.context === 'derived') derived++;
    counts.tokens.total += t.tokens;
    counts.tokens.longest = Math.max(counts.tokens.longest, t.tokens);
  }
  counts.tokens.limit = o.warnTokens;
  if (counts.tokens.overLimit) {
    // With a limit already set the advice to set one is wrong: what is left over is
    // the fixed head (system prompt, task, tools) or a single turn that no split can cut.
    const advice = !opts.maxTokens
      ? 'export with a token limit to split them'
      : opts.maxTokens <= o.warnTokens
        ? `splitting at ${opts.maxTokens} tokens could not bring them under it (the system prompt, task and tools, or one turn, are longer)`
        : `export with a token limit of at most ${o.warnTokens} to split them`;
    warnings.push(`${counts.tokens.overLimit} example(s) are longer than ${o.warnTokens} tokens (${TOKENIZER}); trainers with a shorter sequence length drop or cut them: ${advice}`);
  }
  const oldLog = counts.reconstructed - rebuiltForReplay;
  if (oldLog) warnings.push(`${oldLog} example(s) come from sessions recorded before the request record: their context was rebuilt by the current prompt code and may differ from what the model saw`);
  if (rebuiltForReplay) warnings.push(`${rebuiltForReplay} example(s) hold replayed steps, which no request carried (a replay sends none): their context was rebuilt by the current prompt code, and the replayed steps in it are weight-0 context only`);
  counts.derived = derived;
  if (derived) {
    const importers = [...new Set(prepared.map((p) => importOrigin(p.input.events)).filter((x) => x?.context === 'derived').map((x) => x!.format))].sort();
    const lacks = [
      ...(derivedLacks.system ? [`the system prompt (${derivedLacks.system} of ${derived})`] : []),
      ...(derivedLacks.tools ? [`the tool schemas (${derivedLacks.tools} of ${derived})`] : []),
    ];
    warnings.push(`${derived} example(s) come from imported sessions (${importers.join(', ')}) whose source does not record what the model was sent: their context was derived from the transcript${lacks.length ? ` and lacks ${lacks.join(' and ')} the model had` : ''}, so it is not the request the model saw`);
  }
  if (toolsWithoutProperties.size) {
    const names = [...toolsWithoutProperties].sort();
    warnings.push(`sharegpt.jsonl: ${names.length} tool schema(s) (${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''}) have parameters without "properties": LLaMA-Factory's default tool format (templates that name no tool format of their own) stops the run on them (KeyError); they are written as the model was sent them`);
  }
  if (mediaTagExamples) {
    warnings.push(`sharegpt.jsonl: ${mediaTagExamples} example(s) hold a literal <image>, <video> or <audio> in their text: LLaMA-Factory's multimodal templates (qwen2_vl, qwen3_vl, gemma3, llama4, pixtral, …) read each as a media placeholder and stop the run (ValueError), the lines having no media; with such a template, set IMAGE_PLACEHOLDER, VIDEO_PLACEHOLDER and AUDIO_PLACEHOLDER to strings the data does not hold (e.g. <apollo:image>)`);
  }

  counts.actionLines = formats.includes('sharegpt') || formats.includes('mistral') ? actions.length : 0;

  const annotators = new Set<string>();
  for (const p of prepared) {
    const onPaths = p.onPaths;
    counts.steps += onPaths.size;
    for (const id of onPaths.keys()) {
      const step = p.traj.steps.get(id)!;
      if (step.response) {
        if (emptyResponse(step.response)) {
          counts.emptyTurns++;
          emptySteps.push(`${p.input.sessionId}/${id}`);
        } else {
          counts.actions++;
          const d = ledger.decision(p.input.sessionId, id);
          const trained = ledger.isTrained(p.input.sessionId, id) && !secretMasked.has(`${p.input.sessionId}\u0000${id}`);
          if (d?.unlabelled) counts.unlabelled++;
          if (trained) counts.kept++;
          else {
            counts.masked++;
            if (secretMasked.has(`${p.input.sessionId}\u0000${id}`)) counts.maskedBy.secret++;
            else if (replayedStep(p.traj, step)) replayed++;
            else if (ledger.isLeftOut(p.input.sessionId, id)) emptyContext++;
            else if (step.notTrained) notModel.push(`${p.input.sessionId}/${id}`);
            else if (!d || d.weight === 1) noContext.push(`${p.input.sessionId}/${id}`);
            else if (d.reason !== 'replayed' && d.reason !== 'empty' && d.reason !== 'not-model') counts.maskedBy[d.reason]++;
          }
        }
        const l = labelUnder(step, policy.sources);
        if (l) counts.labelledBy[l.source]++;
        if (step.world?.kind === 'current') otherWorld.push(`${p.input.sessionId}/${id}`);
      }
      for (const h of step.labelHistory) if (h.source === 'annotator' && h.rule !== '__cleared__') annotators.add(h.author);
      for (const cid of step.comments) {
        const c = p.traj.comments.get(cid);
        if (c) annotators.add(c.author);
      }
      for (const gid of step.guidance) {
        const g = p.traj.guidance.get(gid);
        if (g) annotators.add(g.author);
      }
      if (step.response?.humanAuthored && step.response.author) annotators.add(step.response.author);
    }
    for (const b of p.selected) {
      for (const s of branchPath(p.traj, b)) for (const gid of s.guidance) {
        const g = p.traj.guidance.get(gid);
        if (g) annotators.add(g.author);
      }
    }
    for (const b of p.traj.branches.values()) if (b.reason !== 'root' && b.author !== 'agent') annotators.add(b.author);
  }
  counts.examplesSkipped = ledger.skipped.length;
  if (otherWorld.length) {
    // Trained as labelled: what it saw and did is true; the reader should know its files were not its parent's.
    warnings.push(`${otherWorld.length} action(s) ran in the current state, not in the files and shells of the step before them (${stepList(otherWorld)}): a branch the agent continued, or a hand-written action run without its step's checkpoint; trajectory.jsonl says why (world)`);
  }
  if (counts.unlabelled) {
    const what = policy.unlabelled === 'keep' ? 'trained' : policy.unlabelled === 'mask' ? 'skipped (not trained)' : 'refused';
    warnings.push(`${counts.unlabelled} action(s) are unreviewed (no label from ${policy.sources.join(', ')}): ${what} by the policy`);
  }
  if (counts.maskedBy.secret) warnings.push(`${counts.maskedBy.secret} trained action(s) held a secret and were masked (see redactions.json)`);
  counts.maskedBy.replayed = replayed;
  if (replayed) {
    warnings.push(`${replayed} action(s) were replayed (a replay re-runs a recorded session's actions with no model): not trained, whatever their labels, since no model produced them from the context they have here (this run's observations); export the session they were recorded in to train them`);
  }
  counts.maskedBy['empty-context'] = emptyContext;
  counts.maskedBy['not-model'] = notModel.length;
  // Only where it happens, so that manifests of exports without it keep their bytes.
  if (noContext.length) {
    counts.maskedBy['no-context'] = noContext.length;
    warnings.push(`${noContext.length} action(s) their labels would train are in no example as a model turn (${stepList(noContext)}): the context the model was sent shows them otherwise, so no training file trains them`);
  }
  if (notModel.length) {
    warnings.push(`${notModel.length} imported action(s) are not their source model's output as they stand (${stepList(notModel)}): an importer-made call, a rejected reply or a context the import repaired (each step's notTrained says which); never trained, whatever their labels`);
  }
  if (emptySteps.length) {
    warnings.push(`${emptySteps.length} repl(ies) had no text and no tool call (${stepList(emptySteps)}): never trained, since there is nothing in them to train and a model taught to answer with nothing learns to stall (counted in counts.emptyTurns)`);
  }
  warnings.push(...emptyContextWarnings(ledger.emptyContext, formats));
  for (const x of ledger.skipped) {
    if (x.reason === 'nothing-to-train') warnings.push(`session ${x.sessionId} branch ${x.branchId}: nothing to train (every action masked or trained on another branch)`);
  }

  const sessionsPart = redactorFree(prepared.map((p) => ({ sessionId: p.input.sessionId, name: sessionName(p.input.events), branches: p.branches, terminals: p.terminals })), log, opts.secrets, '/sessions');
  return {
    format: 'apollo-dataset-bundle',
    formatVersion: 2,
    appVersion: opts.appVersion,
    formats,
    labelPolicy: policy,
    options: { maxTokens: opts.maxTokens ?? null, historyTokens: o.historyTokens, warnTokens: o.warnTokens, includeSummaries: !!opts.includeSummaries, dedupe: 'one-example-per-step' },
    sessions: sessionsPart,
    trajectories: redactorFree(trajectories, log, opts.secrets, '/trajectories'),
    actions,
    skipped: redactorFree([...ledger.skipped], log, opts.secrets, '/skipped'),
    annotators: redactorFree([...annotators].sort(), log, opts.secrets, '/annotators'),
    counts,
    warnings,
    files: [],
    redactions: log.summary(),
  };
}

/** Steps named in a warning: the first few, then how many more. */
function stepList(ids: readonly string[], show = 10): string {
  return ids.length > show ? `${ids.slice(0, show).join(', ')} and ${ids.length - show} more` : ids.join(', ');
}

/**
 * One warning per session and empty reply for the examples left out because their
 * context holds that reply as an older version sent it ({"role":"assistant","content":""}).
 */
function emptyContextWarnings(losses: readonly EmptyContextLoss[], formats: readonly ExportFormat[]): string[] {
  const groups = new Map<string, { sessionId: string; emptySteps: string[]; steps: string[] }>();
  for (const l of losses) {
    const key = `${l.sessionId}\u0000${l.emptySteps.join('\u0000')}`;
    const g = groups.get(key) ?? { sessionId: l.sessionId, emptySteps: l.emptySteps, steps: [] };
    for (const s of l.steps) if (!g.steps.includes(s)) g.steps.push(s);
    groups.set(key, g);
  }
  const files = ([['openai', FILE_OPENAI], ['sharegpt', FILE_SHAREGPT], ['mistral', FILE_MISTRAL]] as const).filter(([f]) => formats.includes(f)).map(([, name]) => name);
  const where = files.length ? files.join(', ') : 'the training files';
  return [...groups.values()].map((g) => {
    const actions = g.steps.filter((s) => !s.startsWith('summary:')).length;
    const summaries = g.steps.length - actions;
    const what = [...(actions ? [`${actions} action(s)`] : []), ...(summaries ? [`${summaries} summary example(s)`] : [])].join(' and ');
    return `session ${g.sessionId}: ${what} left out of ${where} (${stepList(g.steps)}): their context holds the empty reply of step ${g.emptySteps.join(', ')} `
      + 'as the recorded requests carry it (an assistant turn with no text and no tool call, which versions before this one sent back to the model); '
      + "OpenAI's and mistral's fine-tuning reject it, and the ShareGPT lines are cut from the same examples; the context is not rewritten, since it would no longer be what the model saw. "
      + "The steps before that reply, and the session's other examples, are exported";
  });
}

/** Manifest parts carry names people typed: they are redacted like the data. */
function redactorFree<T>(value: T, log: RedactionLog, secrets: SecretSpec[], at: string): T {
  return new Redactor(secrets).redactValue(value, (ptr, kind) => log.add(FILE_MANIFEST, 0, `${at}${ptr}`, kind));
}

/** Whether every session has token counts kept from an earlier export (a later one then rarely loads the tokenizer). */
async function countsKept(prepared: readonly Prepared[]): Promise<boolean> {
  for (const p of prepared) if ((await TokenCountStore.open(p.dir)).size === 0) return false;
  return true;
}

function workerBeside(): CastWorkerOptions | null {
  const path = builtCastWorker();
  return path ? { path } : null;
}

/**
 * The bundle-relative paths of a session's terminal recordings, in the order of
 * `terminalIds`. The agent chooses terminal ids, and a file name is not redacted with
 * what the file holds: an id holding a secret (`secrets` or a pattern) is named by its
 * redacted form (`_REDACTED_github-token_`), numbered `-2`, `-3`… past the names already
 * taken, so that names stay unique and the same from one export of the session to the
 * next. Every other id names its file as it always did.
 */
export function castPaths(sessionId: string, terminalIds: readonly string[], secrets: readonly SecretSpec[] = []): string[] {
  return castNames(terminalIds, new Redactor(secrets)).map((name) => castRel(sessionId, name));
}

function castRel(sessionId: string, name: string): string {
  return `terminals/${safeName(sessionId)}/${name}.cast`;
}

/**
 * File names (no folder, no extension) for `ids`, in their order, as castPaths names
 * recordings: an id holding what `redactor` replaces by its redacted form made a safe
 * name, numbered `-2`, `-3`… past the names taken; every other by `plain(id)`. The merge
 * names the recordings it writes by it too (merge-plan.ts), with its lead's redactor,
 * their input names as the ids and `plain` keeping them: an annotator's export did not
 * know the lead's secrets, and its file names may hold one.
 */
export function castNames(ids: readonly string[], redactor: Redactor, plain: (id: string) => string = safeName): string[] {
  const redacted = ids.map((id) => {
    const r = redactor.redact(id).text;
    return r === id ? null : r;
  });
  const taken = new Set(ids.filter((_, i) => redacted[i] === null).map(plain));
  return ids.map((id, i) => {
    const r = redacted[i] ?? null;
    if (r === null) return plain(id);
    const base = safeName(r);
    let name = base;
    for (let n = 2; taken.has(name); n++) name = `${base}-${n}`;
    taken.add(name);
    return name;
  });
}

/** The bundle-relative path used for a terminal recording (alone in its session: see castPaths). */
export function castPath(sessionId: string, terminalId: string, secrets: readonly SecretSpec[] = []): string {
  return castPaths(sessionId, [terminalId], secrets)[0]!;
}

export const BUNDLE_FILES = {
  openai: FILE_OPENAI, axolotl: FILE_AXOLOTL, sharegpt: FILE_SHAREGPT, datasetInfo: FILE_DATASET_INFO, llamafactory: FILE_LLAMAFACTORY,
  mistral: FILE_MISTRAL, trajectory: FILE_TRAJECTORY, redactions: FILE_REDACTIONS, manifest: FILE_MANIFEST,
} as const;
