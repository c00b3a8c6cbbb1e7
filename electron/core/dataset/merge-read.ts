// Reading and verifying the inputs of a merge, before anything is written.
//
// A bundle is accepted only when:
//   - manifest.json parses against the manifest schema (manifest-schema.ts), as an
//     export's or a merged bundle's manifest, and lists openai.jsonl and trajectory.jsonl
//     (merge works on actions: it needs the step records and the exact contexts);
//   - every file it lists is there, a regular file, with its size and SHA-256, and no
//     other file is in the folder (a file slipped in after export is refused, not ignored);
//   - its files agree with each other and with the manifest: one openai.jsonl line per
//     manifest example with as many assistant turns as `turnSteps` names, weight 1 on
//     exactly the turns of `trainedSteps`, each of those a step of trajectory.jsonl on
//     that branch and trained there (weight 1), and one sharegpt/mistral line per
//     manifest action. A bundle whose hashes were recomputed after editing a weight or a
//     label therefore still fails unless every file was forged consistently; only
//     a signature can tell that case (issue 12, signed bundles).
// While hashing, each file is read once, and only what the plan needs is kept (this is
// pass 1 of two: memory must not grow with the observations and replies of every
// input, nor with the number of steps): what the plan needs of each step record (its
// line, place and digests, its votes and label times) goes to a StepSink, which the merge
// sorts on disk (spill.ts, merge-plan.ts); of an input only its session records and, per
// example, a key (its content without weights), and the manifest entry of the first copy
// of each example. The facts that check the input's own files against each other are held
// while that one input is verified. Pass 2 (merge-write.ts) reads the chosen lines again
// while writing, and checks each is the line verified here.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join, relative, resolve, sep } from 'node:path';
import { z } from 'zod';
import { ApolloError } from '../../../shared/errors';
import { toolCallSchema, type LabelSource } from '../../../shared/events';
import { canonicalJson } from '../rollout/request-record';
import { BUNDLE_FILES } from './bundle';
import { exists, scanFile, toApolloError, type ScanResult } from './files';
import {
  isMergedManifest, labelPolicySchema, parseBundleManifest, voteSchema, type BundleFile, type BundleManifest, type Origin, type Signer, type Vote,
} from './manifest-schema';
import { countedVotes, labelEntrySchema, votesOfHistory, type LabelEntry } from './merge-votes';
import type { Settlement } from './merge-settlements';
import { checkSignature, SIGNATURE_FILE, type TrustedKey } from './signing';
import type { MaskedTurnReport, RedactionReport, Redactor } from './redact';

// ---------------------------------------------------------------- record shapes

/** What a merged bundle adds to a step record: every vote, and how the action was decided. */
export const mergedStepSchema = z.object({
  votes: z.array(voteSchema),
  decision: z.enum(['keep', 'mask']),
  reason: z.string(),
  conflict: z.boolean(),
  settledBy: z.string().nullable(),
});
export type MergedStepInfo = z.infer<typeof mergedStepSchema>;

const stepRecordSchema = z.looseObject({
  kind: z.literal('step'),
  sessionId: z.string(),
  stepId: z.string(),
  parentId: z.string().nullable(),
  branchId: z.string(),
  depth: z.number(),
  onBranches: z.array(z.string()),
  response: z.looseObject({
    content: z.string(),
    // The recorded call's own schema (shared/events), as every other reader of tool calls uses.
    toolCalls: z.array(z.looseObject(toolCallSchema.shape)),
    reasoning: z.string().optional(),
  }).nullable(),
  results: z.array(z.unknown()),
  weight: z.union([z.literal(0), z.literal(1), z.null()]),
  weightReason: z.string().nullable(),
  labelHistory: z.array(z.looseObject(labelEntrySchema.shape)),
  comments: z.array(z.looseObject({ id: z.string(), author: z.string() })),
  guidance: z.array(z.looseObject({ id: z.string() })),
  merge: mergedStepSchema.optional(),
});
export type StepRecord = z.infer<typeof stepRecordSchema>;

const sessionRecordSchema = z.looseObject({
  kind: z.literal('session'),
  sessionId: z.string(),
  exportedBranches: z.array(z.string()),
  labelPolicy: labelPolicySchema.nullable(),
  rollouts: z.array(z.looseObject({ id: z.string() })),
  branches: z.array(z.looseObject({ id: z.string() })),
  guidance: z.array(z.looseObject({ id: z.string() }).nullable()),
});
export type SessionRecord = z.infer<typeof sessionRecordSchema>;

const redactionsFileSchema = z.object({
  redactions: z.array(z.object({ file: z.string(), line: z.number(), path: z.string(), kind: z.string(), count: z.number() })),
  maskedTurns: z.array(z.object({ file: z.string(), line: z.number(), path: z.string(), kinds: z.array(z.string()), action: z.enum(['masked', 'dropped']) })).optional(),
});

// ---------------------------------------------------------------- an input

/** One annotator label entry of a step record, as the report's time spent needs it. */
export interface LabelTime {
  author: string;
  at: number;
  seq: number;
  cleared: boolean;
}

/** What the plan needs of one step record (the record itself is read again while writing). */
export interface InputStep {
  sessionId: string;
  stepId: string;
  /** Line in the input's trajectory.jsonl. */
  line: number;
  /** SHA-256 of that line: what pass 2 reads there must be what was verified. */
  digest: string;
  /**
   * What must be equal in every copy of the step (its place in the tree, its reply, its
   * results), as a digest: the text itself would keep a second copy of every
   * observation of every input in memory.
   */
  core: string;
  /** A reply with text or calls: an action that can be trained. */
  isAction: boolean;
  /** A reply with neither text nor calls. */
  emptyTurn: boolean;
  onBranches: readonly string[];
  /** The record's weight. */
  weight: 0 | 1 | null;
  /** Why it has that weight (a merged record's decision reason). */
  reason: string | null;
  /** The weight its bundle decided (a merged record: its decision). */
  decided: 0 | 1 | null;
  /** The votes it casts, with origins as indexes into the input's origins. */
  votes: Vote[];
  /** Its annotator label entries (set or cleared). */
  labelTimes: LabelTime[];
  /** A merged record the lead settled: that settlement, for the next merge to apply. */
  settled?: Settlement;
}

export interface InputSession {
  rec: SessionRecord;
  raw: Record<string, unknown>;
  line: number;
  /** Byte offset of the session record in trajectory.jsonl: pass 2 reads its steps from there. */
  offset: number;
}

/** Where pass 1 hands each step record's facts (in file order, input after input) and asks which examples were seen. */
export interface StepSink {
  /** A session record of `input` (in file order). */
  session(input: Input, sessionId: string): void;
  /** One chunk's step records of `input`, in file order. */
  steps(input: Input, steps: InputStep[]): Promise<void>;
  /** Was an example with this key verified before (in an earlier input, or earlier in this one)? Marks it seen. */
  seen(key: string): boolean;
}

/** A sink that keeps nothing (verifying a bundle alone). */
const NO_SINK: StepSink = { session: () => undefined, steps: async () => undefined, seen: () => false };

export interface InputExample {
  /** 0-based line of openai.jsonl (= index of manifest.trajectories). */
  k: number;
  sessionId: string;
  branchId: string;
  /** The example without weights or reasoning: equal for every copy of one context window. */
  key: string;
  /**
   * Its manifest entry, for the first copy of a window only (later copies add only their
   * origins; the input manifest's own list is dropped once verified).
   */
  entry: BundleManifest['trajectories'][number] | null;
  /** Indexes into the input's `origins`: the exported bundles that held this example. */
  origins: number[];
  /** A summary example whose summary turn the export did not train (it held a secret): never trained. */
  summaryMasked: boolean;
  /**
   * Per assistant turn, whether it may be trained in this context (the manifest's
   * ownContext). An exported bundle older than that field says only where its export
   * trained: its weight-1 turns, which an export only ever gave a turn in a context of
   * its own. A merged bundle older than it says nothing: a merge then could train a turn
   * in a window not its own (the order of its inputs decided), so none of its turns is
   * taken as its own (Input.mergedBeforeOwnContext).
   */
  ownContext: boolean[];
  /** A split of an over-long window whose prefix is cut (the manifest's truncated). */
  truncated: boolean;
}

export interface Input {
  index: number;
  /** As given. */
  path: string;
  dir: string;
  /** Its manifest; once verified, without `trajectories` and `actions` (the examples keep what the merge needs of them). */
  manifest: BundleManifest;
  manifestSha256: string;
  /** Who signed it (null: unsigned). */
  signer: Signer;
  files: Map<string, BundleFile>;
  /** The exported bundles behind it: itself, or a merged bundle's origins. */
  origins: Origin[];
  sessions: Map<string, InputSession>;
  examples: InputExample[];
  /** Session id → step ids whose trained turn was masked because it held a secret. */
  secretSteps: Map<string, Set<string>>;
  /**
   * Steps whose recorded reasoning holds what the merge's redactor replaces: never trained
   * when the merge shows reasoning (applyReasoningSecrets), as an export masks a trained
   * turn whose reasoning_content held a secret.
   */
  reasoningSecrets: Array<{ sessionId: string; stepId: string }>;
  /** Some assistant turn carries reasoning_content (exported with reasoning: 'field'). */
  hasReasoning: boolean;
  /** A merged bundle from before ownContext: none of its turns is taken as trainable where it stands (InputExample.ownContext). */
  mergedBeforeOwnContext: boolean;
  redactions: RedactionReport[];
  maskedTurns: MaskedTurnReport[];
}

export function badBundle(path: string, message: string, details?: unknown): ApolloError {
  return new ApolloError('BAD_REQUEST', `Bundle ${path}: ${message}`, details);
}

const sha256hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const sha256b64 = (s: string): string => createHash('sha256').update(s).digest('base64');

/** Every file under `dir`, as bundle-relative paths with `/`; symbolic links reported apart. */
async function listFolder(dir: string): Promise<{ files: string[]; links: string[] }> {
  const files: string[] = [];
  const links: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (d.isDirectory()) continue;
    const rel = relative(dir, join(d.parentPath, d.name)).split(sep).join('/');
    (d.isSymbolicLink() ? links : files).push(rel);
  }
  return { files: files.sort(), links: links.sort() };
}

export interface SignaturePolicy {
  /** Keys the lead trusts (null: none given; any valid signature is accepted and named by its signer). */
  trusted: readonly TrustedKey[] | null;
  /** Accept unsigned bundles (every export is signed, so one without a signature is refused by default). */
  allowUnsigned: boolean;
}

/** Verify manifest.sig against the manifest bytes; refuse a bad or untrusted signature, or none unless unsigned bundles are allowed. */
async function signerOf(path: string, dir: string, manifest: Buffer, policy: SignaturePolicy): Promise<Signer> {
  const text = await readFile(join(dir, SIGNATURE_FILE), 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  const c = checkSignature(text, manifest);
  if (c.state === 'invalid') throw badBundle(path, `${c.reason}; refused`);
  if (c.state === 'unsigned') {
    if (!policy.allowUnsigned) throw badBundle(path, `is not signed (no ${SIGNATURE_FILE}); unsigned bundles are refused: sign it (apollo sign), or allow unsigned bundles (--allow-unsigned) to merge it flagged as unsigned`);
    return null;
  }
  const known = policy.trusted?.find((k) => k.fingerprint === c.fingerprint);
  if (policy.trusted && !known) throw badBundle(path, `is signed by ${c.signer} with a key that is not trusted (${c.fingerprint})`);
  return { name: known?.name ?? c.signer, fingerprint: c.fingerprint, trusted: !!known };
}

/** Read a bundle's manifest, check its signature, and check the folder holds exactly what it lists. */
export async function openInput(index: number, path: string, signatures: SignaturePolicy): Promise<Input> {
  const dir = resolve(path);
  if (!(await exists(dir))) throw new ApolloError('NOT_FOUND', `Bundle ${path} does not exist`);
  let text: Buffer;
  try {
    text = await readFile(join(dir, BUNDLE_FILES.manifest));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw badBundle(path, 'no manifest.json (not a dataset bundle)');
    if (code === 'ENOTDIR') throw badBundle(path, 'is not a folder');
    throw toApolloError(e, 'merging', 'Merge cancelled');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.toString('utf8'));
  } catch (e) {
    throw badBundle(path, `manifest.json is not valid JSON: ${(e as Error).message}`);
  }
  const parsed = parseBundleManifest(raw);
  if ('error' in parsed) throw badBundle(path, parsed.error);
  const manifest = parsed.manifest;

  const files = new Map<string, BundleFile>();
  for (const f of manifest.files) {
    if (f.path === BUNDLE_FILES.manifest || files.has(f.path)) throw badBundle(path, `manifest.json is malformed: file ${f.path} listed twice`);
    files.set(f.path, f);
  }
  for (const [format, file] of [['openai', BUNDLE_FILES.openai], ['trajectory', BUNDLE_FILES.trajectory]] as const) {
    if (!manifest.formats.includes(format) || !files.has(file)) {
      throw badBundle(path, `has no ${file}: merge decides labels per action and needs the step records (trajectory) and the exact contexts (openai); re-export with both formats`);
    }
  }
  const listing = await listFolder(dir);
  if (listing.links.length) throw badBundle(path, `${listing.links[0]} is a symbolic link; a bundle holds regular files only`, { bundle: path, files: listing.links });
  const extra = listing.files.filter((f) => f !== BUNDLE_FILES.manifest && f !== SIGNATURE_FILE && !files.has(f));
  if (extra.length) {
    throw badBundle(path, `${extra.length === 1 ? `file ${extra[0]} is` : `files ${extra.slice(0, 5).join(', ')}${extra.length > 5 ? ', …' : ''} are`} not listed in its manifest (added or renamed after export); remove ${extra.length === 1 ? 'it' : 'them'} or re-export`, { bundle: path, files: extra });
  }
  const manifestSha256 = sha256hex(text);
  const signer = await signerOf(path, dir, text, signatures);
  // A merged bundle's origins carry the signers its merge verified (their own signatures are not in it).
  const origins: Origin[] = isMergedManifest(manifest)
    ? manifest.merge.origins.map((o) => ({ ...o, annotators: [...o.annotators] }))
    : [{ manifestSha256, path, appVersion: manifest.appVersion, annotators: [...manifest.annotators], signer }];
  return {
    index, path, dir, manifest, manifestSha256, signer, files, origins, sessions: new Map(), examples: [], secretSteps: new Map(),
    reasoningSecrets: [], hasReasoning: false, mergedBeforeOwnContext: false, redactions: [], maskedTurns: [],
  };
}

/** Hash a listed file, handing its lines to `line` (and `after` each chunk), and compare with the manifest. */
async function verifyFile(input: Input, f: BundleFile, line: ((t: string, n: number) => void) | undefined, after: () => Promise<void> | void): Promise<ScanResult> {
  let scan: ScanResult;
  try {
    scan = await scanFile(join(input.dir, f.path), { line, after });
  } catch (e) {
    if (e instanceof ApolloError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw badBundle(input.path, `file ${f.path} listed in the manifest is missing`, { bundle: input.path, file: f.path });
    if (code === 'EISDIR') throw badBundle(input.path, `${f.path} is a folder, not a file`, { bundle: input.path, file: f.path });
    throw toApolloError(e, 'merging', 'Merge cancelled');
  }
  if (scan.bytes !== f.bytes) {
    throw badBundle(input.path, `file ${f.path} is ${scan.bytes} bytes, the manifest says ${f.bytes} (truncated or modified)`, { bundle: input.path, file: f.path, expected: f.bytes, actual: scan.bytes });
  }
  if (scan.sha256 !== f.sha256) {
    throw badBundle(input.path, `file ${f.path} does not match its SHA-256 in the manifest (modified)`, { bundle: input.path, file: f.path, expected: f.sha256, actual: scan.sha256 });
  }
  return scan;
}

interface OpenAILineFacts {
  key: string;
  assistantAt: number[];
  weights: Array<0 | 1>;
  reasoning: boolean;
  /** Assistant turns (their index among the assistant turns) holding what the merge's redactor replaces. */
  secretTurns: number[];
}

/** The identity of an example's context: everything but the weights and the reasoning shown on trained turns. */
export function exampleKey(sessionId: string, rec: { messages: Array<Record<string, unknown>>; tools?: unknown }): string {
  const messages = rec.messages.map((m) => {
    const { weight: _w, reasoning_content: _r, ...rest } = m;
    return rest;
  });
  return createHash('sha256').update(sessionId).update('\u0000').update(canonicalJson({ messages, tools: rec.tools ?? null })).digest('base64');
}

/**
 * With `redactor` (the lead's), the key is that of the example as the merge writes it,
 * redacted: a copy an annotator exported with a secret configured and one exported
 * without it are then one window, as they are one context.
 */
function openaiFacts(text: string, sessionId: string, redactor?: Redactor): OpenAILineFacts | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'invalid JSON';
  }
  const rec = v as { messages?: unknown; tools?: unknown };
  if (!rec || typeof rec !== 'object' || !Array.isArray(rec.messages)) return 'not an OpenAI example';
  let messages = rec.messages as Array<Record<string, unknown>>;
  const assistantAt: number[] = [];
  const weights: Array<0 | 1> = [];
  const secretTurns: number[] = [];
  let reasoning = false;
  messages = messages.map((m, i) => {
    const r = redactor ? redactor.scan(m) : null;
    if (m?.role !== 'assistant') return r ? r.value : m;
    if (r?.hits.length) secretTurns.push(assistantAt.length);
    assistantAt.push(i);
    weights.push(m.weight === 1 ? 1 : 0);
    if (typeof m.reasoning_content === 'string') reasoning = true;
    return r ? r.value : m;
  });
  const tools = redactor && rec.tools !== undefined ? redactor.redactValue(rec.tools) : rec.tools;
  return { key: exampleKey(sessionId, { messages, tools }), assistantAt, weights, reasoning, secretTurns };
}

/** Check one parsed JSON line against a schema; a message naming the line when it does not fit. */
function parseRecord<T>(schema: z.ZodType<T>, v: unknown, where: string): T | string {
  const r = schema.safeParse(v);
  if (!r.success) return `${where}: ${r.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ')}`;
  return r.data;
}

/** With `redactor`, of the step as the merge writes it: copies that differ only in what their exporters redacted are one step. */
function coreOf(rec: StepRecord, redactor?: Redactor): string {
  const core = { parentId: rec.parentId, branchId: rec.branchId, depth: rec.depth, response: rec.response ? { content: rec.response.content, toolCalls: rec.response.toolCalls } : null, results: rec.results };
  return sha256b64(canonicalJson(redactor ? redactor.redactValue(core) : core));
}

/**
 * Hash every file of an opened input and learn its examples and step records.
 * Throws naming the bundle, the file and the line. `redactor`: what the merge redacts
 * everything it writes with (the lead's secrets): the examples and steps are compared
 * as it writes them, and a reply holding what it replaces is never trained.
 */
export async function verifyInput(input: Input, checkAbort: () => void, progress: (stage: string) => void, sink: StepSink = NO_SINK, redactor?: Redactor): Promise<void> {
  const { path, manifest } = input;
  const facts: OpenAILineFacts[] = [];
  // This input's steps, for checking its files against each other; dropped when it is verified.
  const known = new Map<string, Map<string, StepFacts>>();
  let pending: InputStep[] = [];
  let problem: string | null = null;
  const fail = (m: string): void => {
    problem ??= m;
  };
  for (const f of manifest.files) {
    let line: ((t: string, n: number) => void) | undefined;
    let after: () => Promise<void> | void = checkAbort;
    let whole: string[] | null = null;
    if (f.path === BUNDLE_FILES.openai) {
      line = (t, n) => {
        if (problem) return;
        const entry = manifest.trajectories[n - 1];
        const x = openaiFacts(t, entry?.sessionId ?? '', redactor);
        if (typeof x === 'string') fail(`${f.path}:${n}: ${x}`);
        else facts.push(x);
      };
    } else if (f.path === BUNDLE_FILES.trajectory) {
      let cur: InputSession | null = null;
      let steps: Map<string, StepFacts> | null = null;
      let offset = 0;
      after = async () => {
        checkAbort();
        if (problem || !pending.length) return;
        const chunk = pending;
        pending = [];
        await sink.steps(input, chunk);
      };
      // Step records cast the same branch lists again and again: one array each.
      const branchLists = new Map<string, readonly string[]>();
      line = (t, n) => {
        const at = offset;
        offset += Buffer.byteLength(t) + 1;
        if (problem) return;
        let v: unknown;
        try {
          v = JSON.parse(t);
        } catch {
          return fail(`${f.path}:${n}: invalid JSON`);
        }
        if ((v as { kind?: unknown } | null)?.kind === 'session') {
          const rec = parseRecord(sessionRecordSchema, v, `${f.path}:${n}`);
          if (typeof rec === 'string') return fail(rec);
          if (input.sessions.has(rec.sessionId)) return fail(`${f.path}:${n}: session ${rec.sessionId} has two session records`);
          cur = { rec, raw: v as Record<string, unknown>, line: n, offset: at };
          input.sessions.set(rec.sessionId, cur);
          known.set(rec.sessionId, (steps = new Map()));
          sink.session(input, rec.sessionId);
          return;
        }
        const rec = parseRecord(stepRecordSchema, v, `${f.path}:${n}`);
        if (typeof rec === 'string') return fail(rec);
        if (!cur || !steps || cur.rec.sessionId !== rec.sessionId) return fail(`${f.path}:${n}: step record outside its session record`);
        if (steps.has(rec.stepId)) return fail(`${f.path}:${n}: step ${rec.stepId} listed twice`);
        const r = rec.response;
        const isAction = !!r && (r.content !== '' || r.toolCalls.length > 0);
        const bk = rec.onBranches.join('\u0000');
        let onBranches = branchLists.get(bk);
        if (!onBranches) branchLists.set(bk, (onBranches = rec.onBranches));
        const votes = rec.merge ? rec.merge.votes : votesOfHistory(rec.labelHistory as LabelEntry[], sourcesOf(input, rec.sessionId), 0);
        if (votes.some((x) => x.origin >= input.origins.length)) return fail(`${f.path}:${n}: a vote names an origin bundle the manifest does not list`);
        if (rec.merge?.reason === 'secret') addSecret(input, rec.sessionId, rec.stepId);
        const why = rec.response?.reasoning;
        if (redactor && typeof why === 'string' && why && redactor.scan(why).hits.length) input.reasoningSecrets.push({ sessionId: rec.sessionId, stepId: rec.stepId });
        const m = rec.merge;
        const settled: Settlement | undefined = m?.conflict && m.settledBy === 'manual'
          ? { sessionId: rec.sessionId, stepId: rec.stepId, label: m.decision, votes: countedVotes(m.votes).map((x) => ({ annotator: x.author, source: x.source, label: x.label })) }
          : undefined;
        steps.set(rec.stepId, { onBranches, weight: rec.weight });
        pending.push({
          sessionId: rec.sessionId, stepId: rec.stepId,
          ...(settled ? { settled } : {}),
          line: n, digest: sha256b64(t), core: coreOf(rec, redactor), isAction, emptyTurn: !!r && !isAction, onBranches,
          weight: rec.weight, reason: rec.merge?.reason ?? rec.weightReason, decided: rec.merge ? (rec.merge.decision === 'keep' ? 1 : 0) : rec.weight,
          votes, labelTimes: rec.labelHistory.filter((h) => h.source === 'annotator').map((h) => ({ author: h.author, at: h.at, seq: h.seq, cleared: h.cleared })),
        });
      };
    } else if (f.path === BUNDLE_FILES.redactions) {
      const parts: string[] = (whole = []);
      line = (t) => parts.push(t);
    } else if (f.path === BUNDLE_FILES.sharegpt || f.path === BUNDLE_FILES.mistral) {
      line = () => undefined;
    }
    const scan = await verifyFile(input, f, line, after);
    if (pending.length && !problem) {
      await sink.steps(input, pending);
      pending = [];
    }
    if (line && scan.unterminated) fail(`${f.path}: last line has no newline`);
    if ((f.path === BUNDLE_FILES.sharegpt || f.path === BUNDLE_FILES.mistral) && scan.lines !== manifest.actions.length) {
      fail(`${f.path} has ${scan.lines} line(s) but the manifest lists ${manifest.actions.length} actions`);
    }
    if (whole) {
      let v: unknown = null;
      try {
        v = JSON.parse(whole.join('\n'));
      } catch {
        fail(`${f.path}: invalid JSON`);
      }
      const r = redactionsFileSchema.safeParse(v);
      if (!r.success) fail(`${f.path}: not a redaction report`);
      else {
        input.redactions = r.data.redactions;
        input.maskedTurns = r.data.maskedTurns ?? [];
      }
    }
    if (problem) throw badBundle(path, problem);
    // Shown and printed as it goes: a file name may hold one of the lead's secrets (merge-plan.ts redactedCastPaths).
    const stage = `verify ${path} ${f.path}`;
    progress(redactor ? redactor.redact(stage).text : stage);
  }
  checkConsistency(input, facts, known, sink);
  // What the later stages read of the manifest: the examples keep their entries.
  input.manifest = { ...manifest, trajectories: [], actions: [] };
}

/** What checking an input's files against each other needs of a step record. */
interface StepFacts {
  onBranches: readonly string[];
  weight: 0 | 1 | null;
}

/** The files agree with each other and with the manifest (see the header). */
function checkConsistency(input: Input, facts: OpenAILineFacts[], known: Map<string, Map<string, StepFacts>>, sink: StepSink): void {
  const { path, manifest } = input;
  const n = manifest.trajectories.length;
  if (facts.length !== n) throw badBundle(path, `${BUNDLE_FILES.openai} has ${facts.length} line(s) but the manifest lists ${n} examples`);
  const merged = isMergedManifest(manifest) ? manifest : null;
  manifest.trajectories.forEach((t, k) => {
    const x = facts[k]!;
    const at = `${BUNDLE_FILES.openai}:${k + 1}`;
    const steps = known.get(t.sessionId);
    if (!steps) throw badBundle(path, `${at}: session ${t.sessionId} has no record in ${BUNDLE_FILES.trajectory}`);
    if (x.assistantAt.length !== t.turnSteps.length) throw badBundle(path, `${at}: ${x.assistantAt.length} assistant turn(s), the manifest names ${t.turnSteps.length}`);
    const trainedHere = t.turnSteps.filter((_, i) => x.weights[i] === 1);
    if (t.kind === 'summary') {
      // Its last turn is the summary; the export may have masked it (a secret in it), never trained another.
      const ok = t.trainedSteps.length === 1 && t.trainedSteps[0]!.startsWith('summary:') && t.turnSteps.at(-1) === null && x.weights.every((w, i) => w === 0 || i === x.weights.length - 1);
      if (!ok) throw badBundle(path, `${at}: a summary example may train its last turn only`);
    } else if (trainedHere.join('\u0000') !== t.trainedSteps.join('\u0000') || trainedHere.includes(null)) {
      throw badBundle(path, `${at}: the turns with weight 1 are not the steps the manifest says are trained there (edited after export?)`);
    }
    if (t.ownContext) {
      if (t.ownContext.length !== t.turnSteps.length) throw badBundle(path, `${at}: ownContext names ${t.ownContext.length} turn(s), turnSteps ${t.turnSteps.length}`);
      if (x.weights.some((w, i) => w === 1 && !t.ownContext![i])) throw badBundle(path, `${at}: a turn with weight 1 is not in a context of its own (edited after export?)`);
    }
    for (const id of t.turnSteps) {
      if (id === null) continue;
      const s = steps.get(id);
      if (!s || !s.onBranches.includes(t.branchId)) throw badBundle(path, `${at}: step ${id} is not a step of ${t.sessionId}/${t.branchId} in ${BUNDLE_FILES.trajectory}`);
    }
    if (t.kind === 'window') {
      for (const id of t.trainedSteps) {
        if (steps.get(id)!.weight !== 1) throw badBundle(path, `${at}: step ${id} is trained there but ${BUNDLE_FILES.trajectory} gives it weight ${String(steps.get(id)!.weight)} (edited after export?)`);
      }
    }
    if (x.reasoning) input.hasReasoning = true;
    // A reply holding a secret the exporter did not know is not trained, as the exporter masks one.
    for (const i of x.secretTurns) {
      const step = t.turnSteps[i];
      if (step) addSecret(input, t.sessionId, step);
    }
    const origins = merged ? merged.trajectories[k]!.bundles : [0];
    if (origins.some((o) => o >= input.origins.length)) throw badBundle(path, `manifest example ${k + 1} names an origin bundle the manifest does not list`);
    if (merged && !t.ownContext) input.mergedBeforeOwnContext = true;
    input.examples.push({
      k, sessionId: t.sessionId, branchId: t.branchId, key: x.key, entry: sink.seen(x.key) ? null : t, origins: [...origins],
      summaryMasked: t.kind === 'summary' && (x.weights.at(-1) !== 1 || x.secretTurns.includes(x.weights.length - 1)),
      ownContext: t.ownContext ? [...t.ownContext] : x.weights.map((w) => !merged && w === 1),
      truncated: t.truncated === true,
    });
  });
  // Trained turns masked for a secret: the step must stay masked whatever the votes say.
  for (const m of input.maskedTurns) {
    if (m.file !== BUNDLE_FILES.openai || m.action !== 'masked' || m.line < 1 || m.line > n) continue;
    const ex = input.examples[m.line - 1]!;
    const i = facts[m.line - 1]!.assistantAt.indexOf(Number(/^\/messages\/(\d+)$/.exec(m.path)?.[1] ?? -1));
    const step = i >= 0 ? manifest.trajectories[m.line - 1]!.turnSteps[i] : null;
    if (step) addSecret(input, ex.sessionId, step);
  }
}

/** Once every input is verified: when the merge shows reasoning, a step whose reasoning held a secret is never trained. */
export function applyReasoningSecrets(inputs: readonly Input[]): void {
  if (!inputs.some((b) => b.hasReasoning)) return;
  for (const b of inputs) for (const s of b.reasoningSecrets) addSecret(b, s.sessionId, s.stepId);
}

function addSecret(input: Input, sessionId: string, stepId: string): void {
  const set = input.secretSteps.get(sessionId) ?? new Set<string>();
  set.add(stepId);
  input.secretSteps.set(sessionId, set);
}

/** The label sources an input's step records honour (its session record's policy, else the manifest's, else all). */
export function sourcesOf(input: Input, sessionId: string): LabelSource[] {
  const p = input.sessions.get(sessionId)?.rec.labelPolicy ?? input.manifest.labelPolicy;
  return p ? p.sources : ['annotator', 'judge', 'rule'];
}


/**
 * Verify one bundle as a merge would (manifest, signature, hashes, consistency): before
 * signing it, for instance (so unsigned is accepted by default: signing is the cure).
 */
export async function verifyBundle(path: string, signatures: SignaturePolicy = { trusted: null, allowUnsigned: true }): Promise<Input> {
  const input = await openInput(0, path, signatures);
  await verifyInput(input, () => undefined, () => undefined);
  return input;
}

// ---------------------------------------------------------------- pass 2

/**
 * The step records of one session of a verified input, read again (pass 2) from its
 * session record on: `record(step)` reads forward to the step's line (holding the
 * lines passed on the way, for steps asked for later: copies of a session list their
 * steps in the same order, so normally none) and checks it is the line verified.
 */
export class SessionCursor {
  private readonly lines: AsyncIterator<string>;
  private readonly stream: ReturnType<typeof createReadStream>;
  private lineNo: number;
  private readonly sessionLine: number;
  private readonly held = new Map<number, string>();

  constructor(private readonly input: Input, sessionId: string) {
    const s = input.sessions.get(sessionId)!;
    this.stream = createReadStream(join(input.dir, BUNDLE_FILES.trajectory), { start: s.offset, highWaterMark: 1 << 20 });
    this.lines = createInterface({ input: this.stream, crlfDelay: Infinity })[Symbol.asyncIterator]();
    this.sessionLine = s.line;
    this.lineNo = s.line - 1;
  }

  async record(step: Pick<InputStep, 'line' | 'digest'>): Promise<Record<string, unknown>> {
    let text = this.held.get(step.line);
    this.held.delete(step.line);
    while (text === undefined && this.lineNo < step.line) {
      const r = await this.lines.next();
      if (r.done) break;
      this.lineNo++;
      if (this.lineNo === step.line) text = r.value;
      else if (this.lineNo > this.sessionLine) this.held.set(this.lineNo, r.value);
    }
    if (text === undefined || sha256b64(text) !== step.digest) {
      throw badBundle(this.input.path, `file ${BUNDLE_FILES.trajectory} changed while it was being merged`, { bundle: this.input.path, file: BUNDLE_FILES.trajectory });
    }
    return JSON.parse(text) as Record<string, unknown>;
  }

  close(): void {
    this.stream.destroy();
  }
}

/** Read the given lines of an input's trajectory.jsonl again (each checked against its digest): line → record. */
export async function rereadSteps(input: Input, steps: ReadonlyArray<Pick<InputStep, 'line' | 'digest'>>): Promise<Map<number, Record<string, unknown>>> {
  const want = new Map(steps.map((s) => [s.line, s]));
  const out = new Map<number, Record<string, unknown>>();
  await scanFile(join(input.dir, BUNDLE_FILES.trajectory), {
    line: (t, n) => {
      const s = want.get(n);
      if (!s) return;
      if (sha256b64(t) !== s.digest) throw badBundle(input.path, `file ${BUNDLE_FILES.trajectory} changed while it was being merged`, { bundle: input.path, file: BUNDLE_FILES.trajectory });
      out.set(n, JSON.parse(t) as Record<string, unknown>);
    },
  });
  return out;
}
