// Merging dataset bundles: many annotators export bundles (see bundle.ts), a lead
// merges them into one training set.
//
//   1. Verify every input before anything is written: manifest.json of format
//      'apollo-dataset-bundle' v1, every file it lists present with its size and
//      SHA-256. While hashing, the JSONL files are read once to learn what each
//      training line is (its hash, its session and branch, the steps behind it).
//   2. Plan, in memory: formats kept = the ones every input has (the others are
//      reported as dropped); label policies must agree (unless mixed policies are
//      allowed, then each input's policy is recorded in `mergedFrom`).
//      Trajectories are identified by session id + branch id:
//        - same identity and identical lines (in every merged line format) → one kept,
//          the later ones are dropped as duplicates;
//        - same identity, different lines (two annotators labelled the same branch
//          differently) → all versions kept and a conflict reported with annotators.
//      trajectory.jsonl is concatenated per session record (the session line and its
//      step lines); an identical record of the same session is written once.
//      Terminal recordings keep their path; identical content at the same path is
//      stored once, different content gets a fresh path `<terminal>~N.cast`.
//   3. Write into `<outDir>.tmp-<random>` beside the target (re-hashing each input as
//      it is copied, so a bundle changed since step 1 is refused), regenerate
//      dataset_info.json, validate every output file from disk with the exporters'
//      validators, remap the redaction report, write the manifest, fsync, rename.
//      Any error or an abort removes the temporary folder: a complete bundle or nothing.
//
// Counts in the merged manifest are recomputed from the step records of the inputs'
// trajectory.jsonl (distinct steps/actions per session; an action labelled differently
// in two bundles counts once per version). An input without trajectory.jsonl only
// contributes its per-trajectory numbers and `merge.countsExact` becomes false.
// The output has no "now" and no randomness: the same inputs in the same order give
// byte-identical files.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import type { LabelSource } from '../../../shared/events';
import { APP_VERSION } from '../version';
import { BUNDLE_FILES, EXPORT_FORMATS, emptyCounts, type ExportFormat, type Manifest, type ManifestCounts, type ManifestFile } from './bundle';
import { checkWrittenFile, exists, scanFile, StagingDir, toApolloError as ioError, type ScanHooks, type ScanResult, type WrittenFile } from './files';
import { llamaFactoryDatasetInfo } from './trainers';
import { resolvePolicy, type LabelPolicy, type WeightReason } from './policy';
import { summarizeRedactions, type RedactionReport } from './redact';
import { MAX_ERRORS, type ValidationError } from './validate';

export const BUNDLE_FORMAT = 'apollo-dataset-bundle';
export const BUNDLE_FORMAT_VERSION = 2;

export type ManifestTrajectory = Manifest['trajectories'][number];
export type ManifestSession = Manifest['sessions'][number];

export interface MergeBundlesOptions {
  /** Bundle folders, in the order their lines are concatenated. */
  inputs: string[];
  /** Must not exist; the merged bundle appears there complete or not at all. */
  outDir: string;
  /** Merge bundles exported under different label policies (each is recorded in `mergedFrom`). */
  allowMixedPolicies?: boolean;
  /** Written as the merged manifest's appVersion (default: this app's version). */
  appVersion?: string;
  onProgress?(done: number, total: number, stage: string): void;
  signal?: AbortSignal;
}

export interface MergedFrom {
  /** The input folder as given. */
  path: string;
  /** SHA-256 of its manifest.json. */
  manifestSha256: string;
  appVersion: string;
  formats: ExportFormat[];
  /** null when the input is itself a merge of bundles with different policies. */
  labelPolicy: LabelPolicy | null;
  annotators: string[];
  counts: ManifestCounts;
  /** Its trajectories: how many, how many were written, how many were duplicates of earlier ones. */
  trajectories: { total: number; kept: number; duplicates: number };
  /** Terminal recordings of this input stored under another path in the merged bundle. */
  renamed: Record<string, string>;
}

export interface MergeConflict {
  sessionId: string;
  branchId: string;
  branchName: string;
  /** Everyone involved in any version. */
  annotators: string[];
  /** One entry per distinct version, in merge order. */
  variants: Array<{ line: number; bundles: string[]; annotators: string[] }>;
}

export interface MergeDuplicate {
  sessionId: string;
  branchId: string;
  /** The input whose copy was dropped, and its line there. */
  bundle: string;
  line: number;
  /** The line of the merged bundle holding the identical trajectory. */
  keptLine: number;
}

export interface FormatDrop {
  format: ExportFormat;
  missingFrom: string[];
}

export interface MergedManifest extends Omit<Manifest, 'labelPolicy' | 'trajectories'> {
  /** The policy shared by every input; null when mixed (see mergedFrom[].labelPolicy). */
  labelPolicy: LabelPolicy | null;
  /** `source` = index in mergedFrom; `trajectoryLine` = line of its session record in trajectory.jsonl. */
  trajectories: Array<ManifestTrajectory & { source: number; trajectoryLine?: number }>;
  mergedFrom: MergedFrom[];
  merge: {
    formatsDropped: FormatDrop[];
    duplicatesDropped: number;
    sessionRecordsDropped: number;
    castsDeduplicated: number;
    countsExact: boolean;
    conflicts: MergeConflict[];
  };
}

export interface MergeReport {
  bundles: number;
  formats: ExportFormat[];
  formatsDropped: FormatDrop[];
  labelPolicies: 'uniform' | 'mixed';
  /** Trajectories in all inputs / written. */
  trajectoriesIn: number;
  trajectories: number;
  duplicatesDropped: number;
  duplicates: MergeDuplicate[];
  conflicts: MergeConflict[];
  sessions: number;
  /** trajectory.jsonl session records written / dropped as identical to an earlier one. */
  sessionRecords: { written: number; duplicatesDropped: number };
  casts: { written: number; duplicatesDropped: number; renamed: number };
  countsExact: boolean;
}

export interface MergeBundlesResult {
  dir: string;
  manifest: MergedManifest;
  report: MergeReport;
}

// ---------------------------------------------------------------- small helpers

function toApolloError(e: unknown): ApolloError {
  return ioError(e, 'merging', 'Merge cancelled');
}

const digest = (s: string): string => createHash('sha256').update(s).digest('base64');

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sortedUnique(xs: Iterable<string>): string[] {
  return [...new Set(xs)].sort(byString);
}

// ---------------------------------------------------------------- reading inputs

interface StepInfo {
  stepId: string;
  onBranches: string[];
  /** Hash of the step record without `onBranches` (which depends on what else was exported). */
  hash: string;
  response: boolean;
  empty: boolean;
  weight: 0 | 1 | null;
  weightReason: WeightReason | null;
  labelSource: LabelSource | null;
  /** People who left a trace on the step: annotator labels, comments, guidance, hand-written responses. */
  people: string[];
}

/** One session record of trajectory.jsonl: its session line and step lines. */
interface Block {
  sessionId: string;
  firstLine: number;
  lines: number;
  hash: string;
  /** Branch id → author, for branches forked by a person. */
  branchAuthors: Map<string, string>;
  steps: StepInfo[];
}

/** What is read from an input manifest: an exported bundle's or a merged bundle's. */
type InputManifest = Omit<Manifest, 'labelPolicy' | 'trajectories'> & {
  labelPolicy: LabelPolicy | null;
  trajectories: Array<ManifestTrajectory & { trajectoryLine?: number }>;
};

interface Input {
  index: number;
  path: string;
  dir: string;
  manifest: InputManifest;
  manifestSha256: string;
  policyKey: string;
  files: Map<string, ManifestFile>;
  /** Per training line, the hash of the line, by format. */
  lineHashes: Partial<Record<'openai' | 'sharegpt', string[]>>;
  hasReasoning: boolean;
  /** null when the bundle has no trajectory.jsonl. */
  blocks: Block[] | null;
  redactions: RedactionReport[];
}

function bad(input: string, message: string, details?: unknown): ApolloError {
  return new ApolloError('BAD_REQUEST', `Bundle ${input}: ${message}`, details);
}

function safeRelPath(p: unknown): p is string {
  if (typeof p !== 'string' || p === '' || p.startsWith('/') || p.includes('\\') || /^[A-Za-z]:/.test(p)) return false;
  return p.split('/').every((seg) => seg !== '' && seg !== '.' && seg !== '..');
}

const FILE_FORMATS: ReadonlyArray<ManifestFile['format']> = [...EXPORT_FORMATS, 'llama-factory-dataset-info', 'redactions'];

function checkManifest(path: string, raw: unknown): InputManifest {
  if (!isObject(raw)) throw bad(path, 'manifest.json is not a JSON object');
  if (raw.format !== BUNDLE_FORMAT) throw bad(path, `manifest.json is not an Apollo dataset bundle (format ${JSON.stringify(raw.format)})`);
  if (raw.formatVersion !== BUNDLE_FORMAT_VERSION) throw bad(path, `unsupported bundle formatVersion ${JSON.stringify(raw.formatVersion)} (this version reads ${BUNDLE_FORMAT_VERSION})`);
  const fail = (what: string): never => {
    throw bad(path, `manifest.json is malformed: ${what}`);
  };
  if (!Array.isArray(raw.formats) || raw.formats.some((f) => !(EXPORT_FORMATS as readonly unknown[]).includes(f))) fail('"formats"');
  if (raw.labelPolicy !== null && (!isObject(raw.labelPolicy) || (raw.labelPolicy.sources !== undefined && !Array.isArray(raw.labelPolicy.sources)))) fail('"labelPolicy"');
  if (!Array.isArray(raw.files)) fail('"files"');
  const seen = new Set<string>();
  for (const f of raw.files as unknown[]) {
    if (!isObject(f) || !safeRelPath(f.path) || typeof f.sha256 !== 'string' || typeof f.bytes !== 'number' || !FILE_FORMATS.includes(f.format as ManifestFile['format'])) {
      fail(`file entry ${JSON.stringify(f)}`);
    }
    const p = (f as { path: string }).path;
    if (p === BUNDLE_FILES.manifest || seen.has(p)) fail(`file ${p} listed twice`);
    seen.add(p);
  }
  if (!Array.isArray(raw.sessions) || raw.sessions.some((s) => !isObject(s) || typeof s.sessionId !== 'string' || !Array.isArray(s.branches) || !Array.isArray(s.terminals))) fail('"sessions"');
  if (!Array.isArray(raw.trajectories) || raw.trajectories.some((t) => !isObject(t) || typeof t.sessionId !== 'string' || typeof t.branchId !== 'string')) fail('"trajectories"');
  if (!Array.isArray(raw.annotators) || raw.annotators.some((a) => typeof a !== 'string')) fail('"annotators"');
  if (!isObject(raw.counts)) fail('"counts"');
  return raw as unknown as InputManifest;
}

function parseStep(rec: Record<string, unknown>): StepInfo {
  const people: string[] = [];
  const response = isObject(rec.response) ? rec.response : null;
  const calls = response && Array.isArray(response.toolCalls) ? response.toolCalls : [];
  if (response?.humanAuthored === true && typeof response.author === 'string' && response.author) people.push(response.author);
  if (Array.isArray(rec.labelHistory)) {
    for (const l of rec.labelHistory) if (isObject(l) && l.source === 'annotator' && l.cleared !== true && typeof l.author === 'string') people.push(l.author);
  }
  for (const key of ['comments', 'guidance'] as const) {
    const list = rec[key];
    if (Array.isArray(list)) for (const c of list) if (isObject(c) && typeof c.author === 'string') people.push(c.author);
  }
  const { onBranches, ...rest } = rec;
  const label = isObject(rec.label) ? rec.label : null;
  return {
    stepId: String(rec.stepId),
    onBranches: Array.isArray(onBranches) ? onBranches.map(String) : [],
    hash: digest(JSON.stringify(rest)),
    response: !!response,
    empty: !!response && calls.length === 0 && response.content === '',
    weight: rec.weight === 0 || rec.weight === 1 ? rec.weight : null,
    weightReason: typeof rec.weightReason === 'string' ? (rec.weightReason as WeightReason) : null,
    labelSource: label && typeof label.source === 'string' ? (label.source as LabelSource) : null,
    people,
  };
}

/** Read and check a bundle's manifest. */
async function loadInput(index: number, path: string): Promise<Input> {
  const dir = resolve(path);
  if (!(await exists(dir))) throw new ApolloError('NOT_FOUND', `Bundle ${path} does not exist`);
  let text: Buffer;
  try {
    text = await readFile(join(dir, BUNDLE_FILES.manifest));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw bad(path, 'no manifest.json (not a dataset bundle)');
    throw toApolloError(e);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.toString('utf8'));
  } catch (e) {
    throw bad(path, `manifest.json is not valid JSON: ${(e as Error).message}`);
  }
  const manifest = checkManifest(path, raw);
  const files = new Map(manifest.files.map((f) => [f.path, f]));
  for (const f of manifest.formats) {
    const need = f === 'openai' ? [BUNDLE_FILES.openai] : f === 'sharegpt' ? [BUNDLE_FILES.sharegpt] : f === 'trajectory' ? [BUNDLE_FILES.trajectory] : [];
    for (const n of need) if (!files.has(n)) throw bad(path, `manifest lists format ${f} but not the file ${n}`);
  }
  return {
    index, path, dir, manifest, manifestSha256: createHash('sha256').update(text).digest('hex'),
    policyKey: JSON.stringify(manifest.labelPolicy === null ? null : resolvePolicy(manifest.labelPolicy)),
    files, lineHashes: {}, hasReasoning: false, blocks: null, redactions: [],
  };
}

/** Hash every file a bundle lists and learn its lines. Throws naming the bundle and the file. */
async function verifyInput(input: Input, checkAbort: () => void, progress: (stage: string) => void): Promise<void> {
  const { path, manifest } = input;
  for (const f of manifest.files) {
    let parseError: string | null = null;
    let line: ((t: string, n: number) => void) | undefined;
    let redactionsText: string[] | null = null;
    let after: (() => void) | undefined;
    if (f.path === BUNDLE_FILES.openai || f.path === BUNDLE_FILES.sharegpt) {
      const hashes: string[] = [];
      input.lineHashes[f.path === BUNDLE_FILES.openai ? 'openai' : 'sharegpt'] = hashes;
      const openai = f.path === BUNDLE_FILES.openai;
      line = (t) => {
        hashes.push(digest(t));
        if (openai && !input.hasReasoning && t.includes('"reasoning_content":')) input.hasReasoning = true;
      };
    } else if (f.path === BUNDLE_FILES.trajectory) {
      const blocks: Block[] = (input.blocks = []);
      let cur: { block: Block; hash: ReturnType<typeof createHash> } | null = null;
      const close = (): void => {
        if (cur) cur.block.hash = cur.hash.digest('base64');
        cur = null;
      };
      line = (t, n) => {
        if (parseError) return;
        let rec: unknown;
        try {
          rec = JSON.parse(t);
        } catch {
          parseError = `${f.path}:${n}: invalid JSON`;
          return;
        }
        if (!isObject(rec) || typeof rec.sessionId !== 'string') {
          parseError = `${f.path}:${n}: not a session or step record`;
          return;
        }
        if (rec.kind === 'session') {
          close();
          const branchAuthors = new Map<string, string>();
          if (Array.isArray(rec.branches)) {
            for (const b of rec.branches) {
              if (isObject(b) && typeof b.id === 'string' && typeof b.author === 'string' && b.reason !== 'root' && b.author !== 'agent') branchAuthors.set(b.id, b.author);
            }
          }
          const block: Block = { sessionId: rec.sessionId, firstLine: n, lines: 0, hash: '', branchAuthors, steps: [] };
          blocks.push(block);
          cur = { block, hash: createHash('sha256') };
        } else if (rec.kind === 'step' && cur && cur.block.sessionId === rec.sessionId) {
          cur.block.steps.push(parseStep(rec));
        } else {
          parseError = `${f.path}:${n}: step record outside its session record`;
          return;
        }
        cur.block.lines++;
        cur.hash.update(`${t}\n`);
      };
      after = close;
    } else if (f.path === BUNDLE_FILES.redactions) {
      redactionsText = [];
      const parts = redactionsText;
      line = (t) => parts.push(t);
    }
    const scan = await verifyFile(input, f, line, checkAbort);
    after?.();
    if (line && scan.unterminated) parseError ??= `${f.path}: last line has no newline`;
    if (redactionsText) {
      try {
        const r = JSON.parse(redactionsText.join('\n')) as { redactions?: unknown };
        if (!Array.isArray(r.redactions)) throw new Error('no "redactions" list');
        input.redactions = (r.redactions as unknown[]).filter((x): x is RedactionReport => isObject(x) && typeof x.file === 'string' && typeof x.line === 'number' && typeof x.path === 'string' && typeof x.kind === 'string' && typeof x.count === 'number');
      } catch (e) {
        parseError = `${f.path}: ${(e as Error).message}`;
      }
    }
    if (parseError) throw bad(path, parseError);
    progress(`verify ${path} ${f.path}`);
  }
  const n = manifest.trajectories.length;
  for (const fmt of ['openai', 'sharegpt'] as const) {
    const h = input.lineHashes[fmt];
    if (h && h.length !== n) throw bad(path, `${BUNDLE_FILES[fmt]} has ${h.length} line(s) but the manifest lists ${n} trajectories`);
  }
}

/** Hash a listed file and compare it with the manifest. */
async function verifyFile(input: Input, f: ManifestFile, line: ((t: string, n: number) => void) | undefined, checkAbort: () => void): Promise<ScanResult> {
  const full = join(input.dir, f.path);
  let scan: ScanResult;
  try {
    scan = await scanFile(full, { line, after: checkAbort });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw bad(input.path, `file ${f.path} listed in the manifest is missing`, { bundle: input.path, file: f.path });
    if (code === 'EISDIR') throw bad(input.path, `${f.path} is a folder, not a file`, { bundle: input.path, file: f.path });
    throw toApolloError(e);
  }
  if (scan.bytes !== f.bytes) {
    throw bad(input.path, `file ${f.path} is ${scan.bytes} bytes, the manifest says ${f.bytes} (truncated or modified)`, { bundle: input.path, file: f.path, expected: f.bytes, actual: scan.bytes });
  }
  if (scan.sha256 !== f.sha256) {
    throw bad(input.path, `file ${f.path} does not match its SHA-256 in the manifest (modified)`, { bundle: input.path, file: f.path, expected: f.sha256, actual: scan.sha256 });
  }
  return scan;
}

// ---------------------------------------------------------------- planning

interface Variant {
  key: string;
  line: number;
  branchName: string;
  entries: Array<{ input: Input; k: number }>;
}

interface KeptEntry {
  input: Input;
  k: number;
  line: number;
  block: Block | null;
}

/** The trajectory.jsonl session record behind a trajectory entry, when it can be told. */
function blockOf(input: Input, t: ManifestTrajectory & { trajectoryLine?: number }): Block | null {
  if (!input.blocks) return null;
  if (typeof t.trajectoryLine === 'number') return input.blocks.find((b) => b.firstLine === t.trajectoryLine) ?? null;
  const candidates = input.blocks.filter((b) => b.sessionId === t.sessionId);
  return candidates.length === 1 ? candidates[0]! : null;
}

function stepsOn(block: Block, branchId: string): StepInfo[] {
  return block.steps.filter((s) => s.onBranches.includes(branchId));
}

function peopleOf(input: Input, block: Block | null, branchId: string): string[] {
  if (!block) return [...input.manifest.annotators];
  const out = new Set<string>();
  for (const s of stepsOn(block, branchId)) for (const p of s.people) out.add(p);
  const author = block.branchAuthors.get(branchId);
  if (author) out.add(author);
  return sortedUnique(out);
}

function castVariantPath(p: string, n: number): string {
  return p.endsWith('.cast') ? `${p.slice(0, -5)}~${n}.cast` : `${p}~${n}`;
}

// ---------------------------------------------------------------- merge

export async function mergeBundles(opts: MergeBundlesOptions): Promise<MergeBundlesResult> {
  try {
    return await merge(opts);
  } catch (e) {
    throw toApolloError(e);
  }
}

async function merge(opts: MergeBundlesOptions): Promise<MergeBundlesResult> {
  const outDir = resolve(opts.outDir.replace(/[\\/]+$/, ''));
  if (opts.inputs.length === 0) throw new ApolloError('BAD_REQUEST', 'No bundle to merge');
  const dirs = new Map<string, string>();
  for (const p of opts.inputs) {
    const d = resolve(p);
    if (dirs.has(d)) throw new ApolloError('BAD_REQUEST', `Bundle ${p} listed twice`);
    if (d === outDir) throw new ApolloError('CONFLICT', `${opts.outDir} is one of the inputs`);
    dirs.set(d, p);
  }
  if (await exists(outDir)) throw new ApolloError('CONFLICT', `${outDir} already exists`);
  const signal = opts.signal;
  const checkAbort = (): void => {
    if (signal?.aborted) throw new ApolloError('CANCELLED', 'Merge cancelled');
  };
  checkAbort();

  // ---- 1. verify every input (nothing written yet)
  const inputs: Input[] = [];
  for (const [i, p] of opts.inputs.entries()) inputs.push(await loadInput(i, p));
  checkAbort();
  const formats = EXPORT_FORMATS.filter((f) => inputs.every((b) => b.manifest.formats.includes(f)));
  const has = (f: ExportFormat): boolean => formats.includes(f);
  // Progress: a step per input file verified, per output file written, per output file
  // validated, and the publish. Outputs are known from the manifests already: the line
  // files, and one recording per distinct (path, content).
  const nCasts = has('asciicast') ? new Set(inputs.flatMap((b) => b.manifest.files.filter((f) => f.format === 'asciicast').map((f) => `${f.path}\u0000${f.sha256}`))).size : 0;
  const nOutputs = (has('openai') ? 1 : 0) + (has('sharegpt') ? 2 : 0) + (has('trajectory') ? 1 : 0) + nCasts;
  let done = 0;
  const total = inputs.reduce((n, b) => n + b.manifest.files.length, 0) + 2 * nOutputs + 1;
  const progress = (stage: string): void => {
    done++;
    opts.onProgress?.(done, total, stage);
    checkAbort();
  };
  for (const input of inputs) await verifyInput(input, checkAbort, progress);

  // ---- 2. plan
  const formatsDropped: FormatDrop[] = EXPORT_FORMATS
    .filter((f) => !formats.includes(f) && inputs.some((b) => b.manifest.formats.includes(f)))
    .map((f) => ({ format: f, missingFrom: inputs.filter((b) => !b.manifest.formats.includes(f)).map((b) => b.path) }));
  if (formats.length === 0) {
    throw new ApolloError('BAD_REQUEST', `The bundles share no format: ${inputs.map((b) => `${b.path} has ${b.manifest.formats.join(', ') || 'none'}`).join('; ')}`);
  }
  const policies = [...new Set(inputs.map((b) => b.policyKey))];
  if (policies.length > 1 && !opts.allowMixedPolicies) {
    const show = (b: Input): string => `${b.path}: ${b.policyKey === 'null' ? 'mixed' : b.policyKey}`;
    throw new ApolloError('BAD_REQUEST', `The bundles were exported under different label policies (${inputs.map(show).join('; ')}); re-export them under one policy or allow mixed policies`, {
      policies: inputs.map((b) => ({ bundle: b.path, labelPolicy: b.manifest.labelPolicy })),
    });
  }
  const labelPolicy: LabelPolicy | null = policies.length === 1 && inputs[0]!.manifest.labelPolicy ? resolvePolicy(inputs[0]!.manifest.labelPolicy) : null;
  const lineFormats = (['openai', 'sharegpt'] as const).filter(has);

  // Trajectories: identity = session + branch; content = the merged lines (or the step records).
  const groups = new Map<string, Variant[]>();
  const kept: KeptEntry[] = [];
  const duplicates: MergeDuplicate[] = [];
  const lineMap = new Map<Input, Int32Array>();
  for (const input of inputs) {
    const map = new Int32Array(input.manifest.trajectories.length);
    lineMap.set(input, map);
    input.manifest.trajectories.forEach((t, k) => {
      const block = blockOf(input, t);
      let key: string;
      if (lineFormats.length) key = lineFormats.map((f) => input.lineHashes[f]![k]!).join(':');
      else if (block) key = digest(stepsOn(block, t.branchId).map((s) => s.hash).join(':'));
      else key = '';
      const id = `${t.sessionId}\u0000${t.branchId}`;
      const variants = groups.get(id) ?? [];
      groups.set(id, variants);
      const same = variants.find((v) => v.key === key);
      if (same) {
        same.entries.push({ input, k });
        duplicates.push({ sessionId: t.sessionId, branchId: t.branchId, bundle: input.path, line: k + 1, keptLine: same.line });
        return;
      }
      const line = kept.length + 1;
      variants.push({ key, line, branchName: t.branchName, entries: [{ input, k }] });
      kept.push({ input, k, line, block });
      map[k] = line;
    });
  }
  const conflicts: MergeConflict[] = [];
  for (const [id, variants] of groups) {
    if (variants.length < 2) continue;
    const [sessionId, branchId] = id.split('\u0000') as [string, string];
    const vs = variants.map((v) => {
      const annotators = sortedUnique(v.entries.flatMap(({ input, k }) => peopleOf(input, blockOf(input, input.manifest.trajectories[k]!), branchId)));
      return { line: v.line, bundles: v.entries.map((e) => e.input.path).filter((p, i, a) => a.indexOf(p) === i), annotators };
    });
    conflicts.push({ sessionId, branchId, branchName: variants[0]!.branchName, annotators: sortedUnique(vs.flatMap((v) => v.annotators)), variants: vs });
  }

  // trajectory.jsonl: one session record per distinct (session, content).
  const blockKept = new Map<Block, number>(); // block → first line of the record written for it (its own or an identical earlier one)
  const trajLineMap = new Map<Input, Int32Array>(); // input line → merged line (0 = dropped)
  let trajLines = 0;
  let sessionRecordsDropped = 0;
  let sessionRecordsWritten = 0;
  if (has('trajectory')) {
    const seen = new Map<string, number>();
    for (const input of inputs) {
      const blocks = input.blocks!;
      const nLines = blocks.reduce((n, b) => Math.max(n, b.firstLine + b.lines - 1), 0);
      const map = new Int32Array(nLines + 1);
      trajLineMap.set(input, map);
      for (const b of blocks) {
        const key = `${b.sessionId}\u0000${b.hash}`;
        const first = seen.get(key);
        if (first !== undefined) {
          blockKept.set(b, first);
          sessionRecordsDropped++;
          continue;
        }
        seen.set(key, trajLines + 1);
        blockKept.set(b, trajLines + 1);
        for (let l = 0; l < b.lines; l++) map[b.firstLine + l] = trajLines + 1 + l;
        trajLines += b.lines;
        sessionRecordsWritten++;
      }
    }
  }

  // Terminal recordings: same path + same content → one file; different content → a fresh path.
  const casts: Array<{ input: Input; file: ManifestFile; out: string }> = [];
  const castOut = new Map<Input, Map<string, string | null>>(); // input path → merged path (null: deduplicated)
  let castsDeduplicated = 0;
  if (has('asciicast')) {
    const inputPaths = new Set(inputs.flatMap((b) => b.manifest.files.filter((f) => f.format === 'asciicast').map((f) => f.path)));
    const used = new Set<string>();
    const variantsAt = new Map<string, Array<{ sha256: string; out: string }>>();
    for (const input of inputs) {
      const m = new Map<string, string | null>();
      castOut.set(input, m);
      for (const f of input.manifest.files) {
        if (f.format !== 'asciicast') continue;
        const vs = variantsAt.get(f.path) ?? [];
        variantsAt.set(f.path, vs);
        const same = vs.find((v) => v.sha256 === f.sha256);
        if (same) {
          castsDeduplicated++;
          m.set(f.path, null);
          continue;
        }
        // A fresh path: never one in use, nor one some input uses for another recording.
        let out = f.path;
        for (let n = 2; used.has(out) || (out !== f.path && inputPaths.has(out)); n++) out = castVariantPath(f.path, n);
        used.add(out);
        vs.push({ sha256: f.sha256, out });
        m.set(f.path, out);
        casts.push({ input, file: f, out });
      }
    }
  }
  const castTarget = (input: Input, p: string): string | undefined => {
    const m = castOut.get(input);
    const o = m?.get(p);
    if (o) return o;
    if (o === null) {
      const sha = input.files.get(p)!.sha256;
      return casts.find((c) => c.file.path === p && c.file.sha256 === sha)?.out;
    }
    return undefined;
  };

  // Sessions: union by id, first appearance first; branches/terminals added as they appear.
  const sessions = new Map<string, ManifestSession>();
  for (const input of inputs) {
    for (const s of input.manifest.sessions) {
      const cur = sessions.get(s.sessionId);
      const terminals = has('asciicast') ? s.terminals : [];
      if (!cur) {
        sessions.set(s.sessionId, { sessionId: s.sessionId, name: s.name, branches: s.branches.map((b) => ({ ...b })), terminals: [...terminals] });
        continue;
      }
      if (cur.name === null && s.name !== null) cur.name = s.name;
      for (const b of s.branches) {
        const e = cur.branches.find((x) => x.branchId === b.branchId);
        if (!e) cur.branches.push({ ...b });
        else if (!e.exported && b.exported) {
          e.exported = true;
          e.skipped = null;
        }
      }
      for (const t of terminals) if (!cur.terminals.includes(t)) cur.terminals.push(t);
    }
  }
  const annotators = sortedUnique(inputs.flatMap((b) => b.manifest.annotators));

  // Counts: distinct steps/actions per session (a differently labelled action counts per version).
  const counts = emptyCounts(sessions.size, kept.length);
  let countsExact = true;
  {
    const seenSteps = new Set<string>();
    for (const e of kept) {
      const t = e.input.manifest.trajectories[e.k]!;
      if (!e.block) {
        countsExact = false;
        counts.steps += Number(t.steps) || 0;
        counts.actions += Number(t.actions) || 0;
        counts.kept += Number(t.kept) || 0;
        counts.masked += Number(t.masked) || 0;
        counts.unlabelled += Number(t.unlabelled) || 0;
        continue;
      }
      for (const s of stepsOn(e.block, t.branchId)) {
        const stepKey = `${t.sessionId}\u0000${s.stepId}\u0000${s.weight}\u0000${s.weightReason}\u0000${s.labelSource}`;
        if (seenSteps.has(stepKey)) continue;
        seenSteps.add(stepKey);
        counts.steps++;
        if (s.response && s.labelSource && s.labelSource in counts.labelledBy) counts.labelledBy[s.labelSource]++;
        if (!s.response) continue;
        if (s.empty) {
          counts.emptyTurns++;
          continue;
        }
        counts.actions++;
        if (s.labelSource === null) counts.unlabelled++;
        if (s.weight === 1) counts.kept++;
        else {
          counts.masked++;
          if (s.weightReason && s.weightReason in counts.maskedBy) counts.maskedBy[s.weightReason]++;
        }
      }
    }
  }

  const trajectories: MergedManifest['trajectories'] = kept.map((e) => {
    const t = e.input.manifest.trajectories[e.k]!;
    const entry: MergedManifest['trajectories'][number] = {
      ...t, line: e.line, source: e.input.index,
    };
    if (has('trajectory') && e.block) entry.trajectoryLine = blockKept.get(e.block)!;
    return entry;
  });

  const mergedFrom: MergedFrom[] = inputs.map((b) => {
    const total = b.manifest.trajectories.length;
    const keptN = [...lineMap.get(b)!].filter((x) => x > 0).length;
    const renamed: Record<string, string> = {};
    for (const f of b.manifest.files) {
      if (f.format !== 'asciicast' || !has('asciicast')) continue;
      const o = castTarget(b, f.path);
      if (o && o !== f.path) renamed[f.path] = o;
    }
    return {
      path: b.path, manifestSha256: b.manifestSha256, appVersion: b.manifest.appVersion, formats: [...b.manifest.formats],
      labelPolicy: b.manifest.labelPolicy === null ? null : resolvePolicy(b.manifest.labelPolicy), annotators: [...b.manifest.annotators],
      counts: b.manifest.counts, trajectories: { total, kept: keptN, duplicates: total - keptN }, renamed,
    };
  });

  // Redactions, moved to where the redacted text now is (dropped with the copies dropped).
  const redactionEntries = new Map<string, RedactionReport>();
  const addRedaction = (r: RedactionReport, sum: boolean): void => {
    const key = `${r.file}\u0000${r.line}\u0000${r.path}\u0000${r.kind}`;
    const e = redactionEntries.get(key);
    if (!e) redactionEntries.set(key, { ...r });
    else if (sum) e.count += r.count;
  };
  const sessionOrder = [...sessions.keys()];
  for (const input of inputs) {
    const lines = lineMap.get(input)!;
    for (const r of input.redactions) {
      if ((r.file === BUNDLE_FILES.openai && has('openai')) || (r.file === BUNDLE_FILES.sharegpt && has('sharegpt'))) {
        const to = lines[r.line - 1];
        if (to) addRedaction({ ...r, line: to }, true);
      } else if (r.file === BUNDLE_FILES.trajectory && has('trajectory')) {
        const to = trajLineMap.get(input)![r.line];
        if (to) addRedaction({ ...r, line: to }, true);
      } else if (input.files.get(r.file)?.format === 'asciicast' && has('asciicast')) {
        const out = castOut.get(input)!.get(r.file);
        if (out) addRedaction({ ...r, file: out }, true);
      } else if (r.file === BUNDLE_FILES.manifest) {
        const ptr = remapManifestPointer(r.path, input, { sessionOrder, sessions, trajectoryLines: lines, annotators, asciicast: has('asciicast') });
        if (ptr !== null) addRedaction({ ...r, path: ptr }, false);
      }
    }
  }
  const redactions = [...redactionEntries.values()].sort((a, b) => byString(a.file, b.file) || a.line - b.line || byString(a.path, b.path) || byString(a.kind, b.kind));
  const redactionSummary = summarizeRedactions(redactions);

  const allowReasoning = inputs.some((b) => b.hasReasoning);
  const outputs: WrittenFile[] = [];
  if (has('openai')) outputs.push({ path: BUNDLE_FILES.openai, format: 'openai' });
  if (has('sharegpt')) outputs.push({ path: BUNDLE_FILES.sharegpt, format: 'sharegpt' }, { path: BUNDLE_FILES.datasetInfo, format: 'llama-factory-dataset-info' });
  if (has('trajectory')) outputs.push({ path: BUNDLE_FILES.trajectory, format: 'trajectory' });
  for (const c of casts) outputs.push({ path: c.out, format: 'asciicast' });

  // ---- 3. write, validate, publish
  const stage = new StagingDir(outDir);
  /** Read an input file again while copying from it; refuse it if it changed since it was verified. */
  const reread = async (input: Input, rel: string, hooks: ScanHooks): Promise<void> => {
    const f = input.files.get(rel)!;
    const scan = await scanFile(join(input.dir, rel), hooks);
    if (scan.sha256 !== f.sha256 || scan.bytes !== f.bytes) throw bad(input.path, `file ${rel} changed while it was being merged`, { bundle: input.path, file: rel });
  };
  try {
    await stage.open();
    let lineCount = 0;
    const tick = (): void => {
      if (++lineCount % 4096 === 0) checkAbort();
    };
    for (const fmt of lineFormats) {
      const rel = BUNDLE_FILES[fmt];
      const out = await stage.create(rel);
      for (const input of inputs) {
        const lines = lineMap.get(input)!;
        await reread(input, rel, {
          line: (t, n) => {
            tick();
            if (lines[n - 1]) out.push(`${t}\n`);
          },
          after: () => {
            checkAbort();
            return out.maybeFlush();
          },
        });
      }
      await stage.finish(out);
      progress(`write ${rel}`);
      if (fmt === 'sharegpt') {
        await stage.writeFile(BUNDLE_FILES.datasetInfo, llamaFactoryDatasetInfo(BUNDLE_FILES.sharegpt));
        progress(`write ${BUNDLE_FILES.datasetInfo}`);
      }
    }
    if (has('trajectory')) {
      const out = await stage.create(BUNDLE_FILES.trajectory);
      for (const input of inputs) {
        const map = trajLineMap.get(input)!;
        await reread(input, BUNDLE_FILES.trajectory, {
          line: (t, n) => {
            tick();
            if (map[n]) out.push(`${t}\n`);
          },
          after: () => {
            checkAbort();
            return out.maybeFlush();
          },
        });
      }
      await stage.finish(out);
      progress(`write ${BUNDLE_FILES.trajectory}`);
    }
    for (const c of casts) {
      const out = await stage.create(c.out);
      let copied = 0;
      let lastReport = 0;
      await reread(c.input, c.file.path, {
        chunk: (b) => {
          out.push(Buffer.from(b));
          copied += b.length;
        },
        after: () => {
          checkAbort();
          if (copied - lastReport >= 32 << 20 && copied < c.file.bytes) {
            lastReport = copied;
            opts.onProgress?.(done, total, `copy ${c.out} ${Math.floor((copied / c.file.bytes) * 100)}%`);
          }
          return out.maybeFlush();
        },
      });
      await stage.finish(out);
      progress(`copy ${c.out}`);
    }

    // validate from disk, hash
    const files: ManifestFile[] = [];
    const errors: Array<ValidationError & { file: string }> = [];
    for (const w of outputs) {
      const check = await checkWrittenFile(stage.dir, w, { allowReasoning, onLine: tick });
      const expected = w.format === 'openai' || w.format === 'sharegpt' ? kept.length : w.format === 'trajectory' ? trajLines : null;
      if (expected !== null && check.lines !== expected) check.errors.push({ line: 0, message: `${check.lines} line(s) written, ${expected} expected` });
      errors.push(...check.errors.map((e) => ({ ...e, file: w.path })));
      files.push(check.file);
      progress(`validate ${w.path}`);
    }
    if (errors.length) {
      const first = errors[0]!;
      throw new ApolloError('BAD_REQUEST', `Merged bundle failed validation: ${errors.length} error(s); first: ${first.file}:${first.line}: ${first.message}`, { errors: errors.slice(0, MAX_ERRORS) });
    }

    {
      await stage.writeFile(BUNDLE_FILES.redactions, `${JSON.stringify({ redactions }, null, 2)}\n`);
      const scan = await scanFile(join(stage.dir, BUNDLE_FILES.redactions));
      files.push({ path: BUNDLE_FILES.redactions, format: 'redactions', bytes: scan.bytes, sha256: scan.sha256, records: redactions.length });
    }
    files.sort((a, b) => byString(a.path, b.path));

    const manifest: MergedManifest = {
      format: BUNDLE_FORMAT,
      formatVersion: BUNDLE_FORMAT_VERSION,
      appVersion: opts.appVersion ?? APP_VERSION,
      formats,
      labelPolicy,
      options: inputs[0]!.manifest.options,
      sessions: [...sessions.values()],
      trajectories,
      actions: [],
      skipped: [],
      annotators,
      counts,
      warnings: [],
      files,
      redactions: redactionSummary,
      mergedFrom,
      merge: { formatsDropped, duplicatesDropped: duplicates.length, sessionRecordsDropped, castsDeduplicated, countsExact, conflicts },
    };
    await stage.writeFile(BUNDLE_FILES.manifest, `${JSON.stringify(manifest, null, 2)}\n`);
    checkAbort();

    // publish
    await stage.publish([...sortedUnique(casts.map((c) => dirname(c.out))).reverse(), ...(casts.length ? ['terminals'] : [])]);
    done = total;
    opts.onProgress?.(total, total, 'done');

    const report: MergeReport = {
      bundles: inputs.length,
      formats,
      formatsDropped,
      labelPolicies: policies.length === 1 ? 'uniform' : 'mixed',
      trajectoriesIn: inputs.reduce((n, b) => n + b.manifest.trajectories.length, 0),
      trajectories: kept.length,
      duplicatesDropped: duplicates.length,
      duplicates,
      conflicts,
      sessions: sessions.size,
      sessionRecords: { written: sessionRecordsWritten, duplicatesDropped: sessionRecordsDropped },
      casts: { written: casts.length, duplicatesDropped: castsDeduplicated, renamed: casts.filter((c) => c.out !== c.file.path).length },
      countsExact,
    };
    return { dir: outDir, manifest, report };
  } finally {
    await stage.discard();
  }
}

/** Move a JSON pointer into an input manifest to the same value in the merged manifest; null = not carried over. */
function remapManifestPointer(
  ptr: string,
  input: Input,
  m: { sessionOrder: string[]; sessions: Map<string, ManifestSession>; trajectoryLines: Int32Array; annotators: string[]; asciicast: boolean },
): string | null {
  const [empty, top, idx, ...rest] = ptr.split('/');
  if (empty !== '' || idx === undefined) return null;
  const i = Number(idx);
  if (!Number.isInteger(i) || i < 0) return null;
  if (top === 'sessions') {
    const s = input.manifest.sessions[i];
    if (!s) return null;
    const to = m.sessionOrder.indexOf(s.sessionId);
    const merged = m.sessions.get(s.sessionId)!;
    const [field, sub, ...tail] = rest;
    if (field === 'branches' && sub !== undefined) {
      const b = s.branches[Number(sub)];
      const j = b ? merged.branches.findIndex((x) => x.branchId === b.branchId) : -1;
      return j < 0 ? null : ['', 'sessions', to, 'branches', j, ...tail].join('/');
    }
    if (field === 'terminals' && sub !== undefined) {
      const t = s.terminals[Number(sub)];
      const j = m.asciicast && t !== undefined ? merged.terminals.indexOf(t) : -1;
      return j < 0 ? null : ['', 'sessions', to, 'terminals', j, ...tail].join('/');
    }
    return ['', 'sessions', to, ...rest].join('/');
  }
  if (top === 'trajectories') {
    const line = m.trajectoryLines[i];
    return line ? ['', 'trajectories', line - 1, ...rest].join('/') : null;
  }
  if (top === 'annotators') {
    const a = input.manifest.annotators[i];
    const j = a === undefined ? -1 : m.annotators.indexOf(a);
    return j < 0 ? null : ['', 'annotators', j, ...rest].join('/');
  }
  return null;
}
