// Writing a merge plan as a bundle, in the same format as an export: every trainer
// file is derived from the merged OpenAI lines through trainers.ts (the one owner of
// each trainer's rules), so a merged bundle trains like an export and merges again.
//
// Into `<outDir>.tmp-<random>` beside the target (pass 2: the plan holds no record's
// text): trajectory.jsonl from the planned records, each copy's step record read
// again one session at a time and checked against the digest of the line verified;
// then the example files while each input's openai.jsonl is read again (re-hashed: a
// bundle changed since it was verified is refused), then the recordings (re-hashed
// while copied); every file is read back and checked with the
// exporter's validators; the report (merge-report.json, and merge-report.html for
// people) is written and listed with the rest, so the manifest's hashes and its
// signature cover it and a merge of this bundle verifies it like any other file (and
// writes its own); the manifest is checked against its schema, and the folder is
// renamed into place. Any error or an abort removes the temporary folder.
//
// Every text is redacted on the way with the lead's Redactor (redact.ts, as an export
// redacts): the step records and the OpenAI lines value by value (so the per-action lines,
// derived from them, are too), the recordings as a stream (a secret split across output
// events is still found), the manifest and the report. What the inputs had redacted reads
// as itself again, so with nothing new to redact every file is what it was; what this
// merge redacted joins the inputs' entries in redactions.json and is said in a warning. A
// reply holding a secret is not trained: pass 1 found it (merge-read.ts) and the plan
// masked its step (reason secret), so a trained turn here never holds one.
import { join } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import { MERGE_REPORT_FILES, type MergeReport } from '../../../shared/merge-report';
import { BUNDLE_FILES, emptyCounts, logRecordHits, redactTools, type Manifest, type RecordHit } from './bundle';
import { checkWrittenFile, scanFile, StagingDir, type BufferedWriter, type ScanHooks, type WrittenFile } from './files';
import { describeIssues, mergedManifestSchema, type BundleFile, type MergedManifest } from './manifest-schema';
import { badBundle, SessionCursor, type Input } from './merge-read';
import { actionKey, actionOf, castsNamedBy, castTarget, type MergePlan, type PlannedExample, type PlannedStep } from './merge-plan';
import { mergedRedactions, redactedTrajectoryLines, sessionRecord, stepRecord } from './merge-records';
import { mergeReport } from './merge-report';
import { mergeReportHtml } from './merge-report-html';
import { MessageOwners } from './merge-owners';
import { RedactionLog, StreamRedactor, summarizeRedactions, type Redactor } from './redact';
import { signManifest, SIGNATURE_FILE, type SigningKey } from './signing';
import { readLines } from './spill';
import { TOKENIZER } from './tokens';
import { actionLines, axolotlConfig, llamaFactoryDatasetInfo, llamaFactoryTrainConfig, recordTokenCount, reweighRecord, type OpenAIRecord } from './trainers';
import { MAX_ERRORS, type ValidationError } from './validate';

export interface WriteContext {
  outDir: string;
  appVersion: string;
  /** Sign the merged manifest (manifest.sig) with this key. */
  signWith?: SigningKey;
  /** The lead's (their secrets and the built-in patterns): everything written is redacted by it. */
  redactor: Redactor;
  checkAbort(): void;
  progress(stage: string): void;
  /** Progress inside one long copy (no step counted). */
  note(stage: string): void;
}

/** Progress steps of writing: 7 files and the recordings, each written then validated; redactions, the two report files, manifest, publish. */
export function writeSteps(casts: number): number {
  return 2 * (7 + casts) + 5;
}

interface Written {
  manifestTrajectories: MergedManifest['trajectories'];
  manifestActions: Manifest['actions'];
  longestExample: number;
  longestAction: number;
  totalTokens: number;
  overLimit: number;
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export async function writeMerge(planned: MergePlan, inputs: Input[], ctx: WriteContext): Promise<{ manifest: MergedManifest; report: MergeReport }> {
  // The recordings named as everything below writes and lists them (files, redactions, renamed,
  // progress): by the lead's redactor, since an input's file name may hold one of their secrets.
  const plan = castsNamedBy(planned, ctx.redactor);
  const stage = new StagingDir(ctx.outDir);
  try {
    await stage.open();
    const outputs: WrittenFile[] = [];
    // What this merge redacts itself (the inputs' own reports are moved, below).
    const log = new RedactionLog();
    const owners = new MessageOwners(plan.examples);
    // The step records first: the reasoning the examples show, and who owns their messages, are read from them on the way.
    const { reasoning, lines } = await writeTrajectory(plan, stage, ctx, log, owners);
    outputs.push({ path: BUNDLE_FILES.trajectory, format: 'trajectory' });
    // Where the redacted strings of openai.jsonl are in sharegpt.jsonl and mistral.jsonl, the inputs' and this merge's alike.
    const actionLog = new RedactionLog();
    const w = await writeExamples(plan, inputs, stage, ctx, reasoning, log, actionLog, owners);
    outputs.push({ path: BUNDLE_FILES.openai, format: 'openai' }, { path: BUNDLE_FILES.sharegpt, format: 'sharegpt' }, { path: BUNDLE_FILES.mistral, format: 'mistral' });
    await stage.writeFile(BUNDLE_FILES.axolotl, axolotlConfig(BUNDLE_FILES.openai, w.longestExample));
    await stage.writeFile(BUNDLE_FILES.datasetInfo, llamaFactoryDatasetInfo(BUNDLE_FILES.sharegpt));
    await stage.writeFile(BUNDLE_FILES.llamafactory, llamaFactoryTrainConfig('apollo', w.longestAction));
    outputs.push({ path: BUNDLE_FILES.axolotl, format: 'trainer-config' }, { path: BUNDLE_FILES.datasetInfo, format: 'llama-factory-dataset-info' }, { path: BUNDLE_FILES.llamafactory, format: 'trainer-config' });
    for (const f of [BUNDLE_FILES.axolotl, BUNDLE_FILES.datasetInfo, BUNDLE_FILES.llamafactory]) ctx.progress(`write ${f}`);
    for (const c of plan.casts) {
      await redactCast(c.input, c.file, c.out, stage, ctx, log);
      outputs.push({ path: c.out, format: 'asciicast' });
    }

    const files = await validateOutputs(plan, stage, outputs, w, ctx);
    const warnings = [...plan.warnings];
    if (w.overLimit) warnings.push(`${w.overLimit} example(s) are longer than ${plan.options.warnTokens} tokens (${TOKENIZER})`);
    const found = summarizeRedactions(log.list(), log.masked());
    if (found.total) {
      const turns = found.secretTurns ? `; ${found.secretTurns.masked} turn(s) holding one were not trained` : '';
      warnings.push(`this merge redacted ${found.total} secret(s) the inputs still held (${Object.entries(found.byKind).map(([k, v]) => `${v} ${k}`).join(', ')}: the lead's configured secrets and the redaction patterns)${turns}; see ${BUNDLE_FILES.redactions}`);
    }
    // Names, conflicts and warnings people typed or the data gave: redacted as the rest (hits in the report are listed under its file).
    const report = ctx.redactor.redactValue(mergeReport(plan, inputs, warnings), (ptr, kind) => log.add(MERGE_REPORT_FILES.json, 0, ptr, kind));
    const manifestParts = redactManifestParts(buildManifest(plan, inputs, w, [], ctx.appVersion, summarizeRedactions([]), warnings), ctx.redactor, log);
    const { redactions, maskedTurns } = mergedRedactions(plan, inputs, lines, log, actionLog);
    await stage.writeFile(BUNDLE_FILES.redactions, `${JSON.stringify({ redactions, maskedTurns }, null, 2)}\n`);
    const scan = await scanFile(join(stage.dir, BUNDLE_FILES.redactions));
    files.push({ path: BUNDLE_FILES.redactions, format: 'redactions', bytes: scan.bytes, sha256: scan.sha256, records: redactions.length });
    ctx.progress(`write ${BUNDLE_FILES.redactions}`);

    for (const [path, body] of [[MERGE_REPORT_FILES.json, `${JSON.stringify(report, null, 2)}\n`], [MERGE_REPORT_FILES.html, mergeReportHtml(report)]] as const) {
      await stage.writeFile(path, body);
      const r = await scanFile(join(stage.dir, path));
      files.push({ path, format: 'merge-report', bytes: r.bytes, sha256: r.sha256, records: 1 });
      ctx.progress(`write ${path}`);
    }
    files.sort((a, b) => byString(a.path, b.path));

    const manifest: MergedManifest = { ...manifestParts, files, redactions: summarizeRedactions(redactions, maskedTurns) };
    // Our own output must read back: a manifest the next merge would refuse is a bug here, not there.
    const check = mergedManifestSchema.safeParse(manifest);
    if (!check.success) throw new ApolloError('INTERNAL', `Merged manifest does not fit its schema: ${describeIssues(check.error)}`);
    const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
    await stage.writeFile(BUNDLE_FILES.manifest, manifestText);
    if (ctx.signWith) await stage.writeFile(SIGNATURE_FILE, `${JSON.stringify(signManifest(Buffer.from(manifestText), ctx.signWith), null, 2)}\n`);
    ctx.progress(`write ${BUNDLE_FILES.manifest}`);
    ctx.checkAbort();

    const castDirs = [...new Set(plan.casts.map((c) => c.out.slice(0, c.out.lastIndexOf('/'))))].sort(byString).reverse();
    await stage.publish([...castDirs, ...(plan.casts.length ? ['terminals'] : [])]);
    return { manifest, report };
  } finally {
    await stage.discard();
  }
}

/** Read an input file again while writing from it; refuse it if it changed since it was verified. */
async function reread(input: Input, rel: string, hooks: ScanHooks): Promise<void> {
  const f = input.files.get(rel)!;
  const scan = await scanFile(join(input.dir, rel), hooks);
  if (scan.sha256 !== f.sha256 || scan.bytes !== f.bytes) throw badBundle(input.path, `file ${rel} changed while it was being merged`, { bundle: input.path, file: rel });
}

/** openai.jsonl with merged weights, and its per-action lines for LLaMA-Factory and mistral-finetune. */
async function writeExamples(
  plan: MergePlan, inputs: Input[], stage: StagingDir, ctx: WriteContext, reasoning: Reasoning, log: RedactionLog, actionLog: RedactionLog, owners: MessageOwners,
): Promise<Written> {
  const openai = await stage.create(BUNDLE_FILES.openai);
  const sharegpt = await stage.create(BUNDLE_FILES.sharegpt);
  const mistral = await stage.create(BUNDLE_FILES.mistral);
  const out: Written = { manifestTrajectories: [], manifestActions: [], longestExample: 0, longestAction: 0, totalTokens: 0, overLimit: 0 };
  let n = 0;
  // Steps whose reply held a secret only this merge knew: the turn is reported once, where it is first written.
  const reported = new Set<string>();
  for (const input of inputs) {
    const from = plan.writtenFrom.get(input)!;
    if (!from.size) continue;
    const carried = inputHits(input);
    await reread(input, BUNDLE_FILES.openai, {
      line: (text, lineNo) => {
        const x = from.get(lineNo - 1);
        if (!x) return;
        const hits = [...(carried.get(lineNo) ?? [])];
        const record = redactRecord(mergedRecord(plan, x, JSON.parse(text) as OpenAIRecord, reasoning), x, ctx.redactor, log, reported, hits);
        const tokens = recordTokenCount(record);
        openai.push(`${JSON.stringify(record)}\n`);
        // The per-action lines keep the export's head (a summary and its continue turn, never a step's message).
        const lines = actionLines(record, plan.options.historyTokens, owners.owners(x, record));
        logRecordHits(actionLog, record, hits, null, lines.map((a) => a.plan), out.manifestActions.length + 1, { sharegpt: true, mistral: true, masked: false });
        for (const a of lines) {
          sharegpt.push(`${JSON.stringify(a.sharegpt)}\n`);
          mistral.push(`${JSON.stringify(a.mistral)}\n`);
          out.manifestActions.push({
            line: out.manifestActions.length + 1, example: x.line, sessionId: x.ex.sessionId, branchId: x.ex.branchId,
            stepId: x.entry.turnSteps[a.turn] ?? x.trainedSteps.at(-1) ?? '', tokens: a.tokens,
          });
          out.longestAction = Math.max(out.longestAction, a.tokens);
        }
        out.manifestTrajectories.push(trajectoryEntry(plan, x, tokens));
        out.longestExample = Math.max(out.longestExample, tokens);
        out.totalTokens += tokens;
        if (tokens > plan.options.warnTokens) out.overLimit++;
        if (++n % 256 === 0) ctx.checkAbort();
      },
      after: async () => {
        ctx.checkAbort();
        for (const wr of [openai, sharegpt, mistral] as BufferedWriter[]) await wr.maybeFlush();
      },
    });
  }
  for (const [wr, f] of [[openai, BUNDLE_FILES.openai], [sharegpt, BUNDLE_FILES.sharegpt], [mistral, BUNDLE_FILES.mistral]] as const) {
    await stage.finish(wr);
    ctx.progress(`write ${f}`);
  }
  return out;
}

/**
 * `rec` redacted message by message on decoded values, as the exporter redacts an example
 * (bundle.ts redactExample). A turn holding a secret is never trained here: pass 1 found
 * the same in the same line and the plan masked its step (only shown reasoning is new
 * here, and pass 1 read that from the step records), so one that is is a bug. The reply
 * is reported as masked once per step (the plan never trains it), at the first line holding it.
 */
function redactRecord(rec: OpenAIRecord, x: PlannedExample, redactor: Redactor, log: RedactionLog, reported: Set<string>, found: RecordHit[]): OpenAIRecord {
  let turn = 0;
  const messages = rec.messages.map((m, i) => {
    const step = m.role === 'assistant' ? (x.entry.turnSteps[turn++] ?? null) : null;
    const { value, hits } = redactor.scan(m);
    if (!hits.length) return m;
    for (const h of hits) {
      log.add(BUNDLE_FILES.openai, x.line, `/messages/${i}${h.field}`, h.kind);
      found.push({ message: i, field: h.field, kind: h.kind, masked: false });
    }
    if (m.role === 'assistant' && m.weight === 1) {
      throw new ApolloError('INTERNAL', `Merged example ${x.line}: the trained turn /messages/${i} holds a secret the merge did not mask`);
    }
    const key = step === null ? null : actionKey(x.ex.sessionId, step);
    if (key !== null && !reported.has(key)) {
      reported.add(key);
      for (const h of hits) log.addMasked(BUNDLE_FILES.openai, x.line, `/messages/${i}`, h.kind);
    }
    return value;
  });
  if (!rec.tools) return { messages };
  // As the exporter redacts them, listed as it lists them.
  const tools = redactTools(rec.tools, redactor);
  for (const h of tools.hits) {
    log.add(BUNDLE_FILES.openai, x.line, `/tools${h.field}`, h.kind);
    found.push({ message: null, field: h.field, kind: h.kind, masked: false });
  }
  return { messages, tools: tools.value };
}

/** An input's openai.jsonl redactions by line, as hits of its records (their per-action lines are derived here, and so are their entries). */
function inputHits(input: Input): Map<number, RecordHit[]> {
  const out = new Map<number, RecordHit[]>();
  for (const r of input.redactions) {
    if (r.file !== BUNDLE_FILES.openai) continue;
    const m = /^\/(?:messages\/(\d+)|tools)(\/.*)?$/.exec(r.path);
    if (!m) continue;
    const hit: RecordHit = { message: m[1] === undefined ? null : Number(m[1]), field: m[2] ?? '', kind: r.kind, masked: false, count: r.count };
    out.set(r.line, [...(out.get(r.line) ?? []), hit]);
  }
  return out;
}

/** Per example line, per trained step, the reasoning its writer input's step record holds. */
type Reasoning = Map<number, Map<string, string>>;

/** An input line re-weighed by the plan; reasoning shown on trained turns when an input was exported with it. */
function mergedRecord(plan: MergePlan, x: PlannedExample, rec: OpenAIRecord, reasoning: Reasoning): OpenAIRecord {
  const of = reasoning.get(x.line);
  const show = plan.allowReasoning
    ? (turn: number): string | undefined => {
        const id = x.entry.turnSteps[turn];
        return (id ? of?.get(id) : undefined) || undefined;
      }
    : undefined;
  return reweighRecord(rec, x.weights, show);
}

/** Which examples show the reasoning of which step copy: the trained turns, from the input each example is written from. */
function reasoningWanted(plan: MergePlan): Map<Input, Map<string, PlannedExample[]>> {
  const out = new Map<Input, Map<string, PlannedExample[]>>();
  if (!plan.allowReasoning) return out;
  for (const x of plan.examples) {
    let m = out.get(x.input);
    if (!m) out.set(x.input, (m = new Map()));
    for (const id of x.trainedSteps) {
      const k = actionKey(x.ex.sessionId, id);
      m.set(k, [...(m.get(k) ?? []), x]);
    }
  }
  return out;
}

function trajectoryEntry(plan: MergePlan, x: PlannedExample, tokens: number): MergedManifest['trajectories'][number] {
  const e = x.entry;
  const kept = x.weights.filter((v) => v === 1).length;
  return {
    line: x.line, sessionId: e.sessionId, branchId: e.branchId, branchName: e.branchName, kind: e.kind, context: e.context, steps: e.steps,
    actions: e.turnSteps.length, kept, masked: e.turnSteps.length - kept, unlabelled: x.unlabelled, tokens, overLimit: tokens > plan.options.warnTokens,
    trainedSteps: [...x.trainedSteps], turnSteps: [...e.turnSteps], ownContext: [...x.ownContext], ...(e.truncated ? { truncated: true as const } : {}),
    bundles: [...x.origins], annotators: [...x.annotators],
  };
}

/**
 * trajectory.jsonl from the planned steps (the plan's steps file, in order), each copy's
 * record read again (pass 2) one session at a time, a cursor per copy; returns the
 * reasoning the examples show, and where the input lines its redactions name went.
 */
async function writeTrajectory(
  plan: MergePlan, stage: StagingDir, ctx: WriteContext, log: RedactionLog, owners: MessageOwners,
): Promise<{ reasoning: Reasoning; lines: Map<Input, Map<number, number>> }> {
  const out = await stage.create(BUNDLE_FILES.trajectory);
  const write = (rec: Record<string, unknown>): void => {
    const n = written;
    out.push(`${JSON.stringify(ctx.redactor.redactValue(rec, (ptr, kind) => log.add(BUNDLE_FILES.trajectory, n, ptr, kind)))}\n`);
  };
  const wanted = reasoningWanted(plan);
  const reasoning: Reasoning = new Map();
  const redacted = redactedTrajectoryLines(plan.inputs);
  const lines = new Map(plan.inputs.map((b) => [b, new Map<number, number>()]));
  const note = (input: Input, from: number, to: number): void => {
    if (redacted.get(input)!.has(from)) lines.get(input)!.set(from, to);
  };
  let written = 0;
  let session = -1;
  let cursors = new Map<number, SessionCursor>();
  const closeCursors = (): void => {
    for (const c of cursors.values()) c.close();
    cursors = new Map();
  };
  // The next session's record (sessions come in order; one without steps is its record alone).
  const nextSession = async (): Promise<void> => {
    closeCursors();
    await out.maybeFlush();
    ctx.checkAbort();
    const s = plan.sessions[++session]!;
    written++;
    write(sessionRecord(plan, s));
    for (const b of s.copies) {
      note(b, b.sessions.get(s.sessionId)!.line, written);
      cursors.set(b.index, new SessionCursor(b, s.sessionId));
    }
  };
  try {
    for await (const p of readLines<PlannedStep>(plan.stepsFile)) {
      const s = plan.sessions[p.session]!;
      while (session < p.session) await nextSession();
      written++;
      const raws: Array<Record<string, unknown>> = [];
      for (const c of p.copies) {
        const input = plan.inputs[c.input]!;
        note(input, c.line, written);
        const raw = await cursors.get(c.input)!.record(c);
        raws.push(raw);
        owners.note(c.input, raw);
        const text = (raw.response as { reasoning?: unknown } | null)?.reasoning;
        for (const x of wanted.get(input)?.get(actionKey(s.sessionId, p.stepId)) ?? []) {
          if (typeof text !== 'string' || !text) continue;
          let m = reasoning.get(x.line);
          if (!m) reasoning.set(x.line, (m = new Map()));
          m.set(p.stepId, text);
        }
      }
      const a = actionOf(p);
      write(stepRecord(a, a ? plan.trained(s.sessionId, p.stepId) : false, raws));
      if (written % 256 === 0) {
        await out.maybeFlush();
        ctx.checkAbort();
      }
    }
    while (session < plan.sessions.length - 1) await nextSession();
  } finally {
    closeCursors();
  }
  await out.maybeFlush();
  ctx.checkAbort();
  await stage.finish(out);
  ctx.progress(`write ${BUNDLE_FILES.trajectory}`);
  return { reasoning, lines };
}

/**
 * A recording, redacted again as the exporter redacts one (asciicast.ts): its output as one
 * stream (StreamRedactor: a secret split across events is still found, the replacement
 * lands in the event where it starts and the rest of it leaves the events after), the
 * keyboard input as one text (read first), the header and any other event as values. The
 * events keep their lines (one whose text was all secret stays, empty), so the inputs'
 * reports still point at theirs; a line with nothing redacted is written as it was read.
 */
async function redactCast(input: Input, file: BundleFile, rel: string, stage: StagingDir, ctx: WriteContext, log: RedactionLog): Promise<void> {
  const redactor = ctx.redactor;
  // Keyboard input first: small (what people typed), and one text.
  const typed: Array<{ line: number; data: string }> = [];
  await reread(input, file.path, {
    line: (text, n) => {
      if (n === 1 || !text.includes('"i"')) return;
      const v = JSON.parse(text) as unknown[];
      if (v[1] === 'i' && typeof v[2] === 'string') typed.push({ line: n, data: v[2] });
    },
    after: ctx.checkAbort,
  });
  const inputs = new Map<number, { data: string; kinds: string[] }>();
  const typing = new StreamRedactor<number>(redactor, (data, line, kinds) => {
    const prev = inputs.get(line);
    inputs.set(line, prev ? { data: prev.data + data, kinds: [...prev.kinds, ...kinds] } : { data, kinds });
  }, Number.MAX_SAFE_INTEGER);
  for (const t of typed) typing.push(t.data, t.line);
  typing.end();

  const out = await stage.create(rel);
  // Lines are written in order; an output line is done once the stream has moved past it.
  const ready = new Map<number, string>();
  const outputs = new Map<number, { text: string; t: unknown; was: string; data: string; kinds: string[] }>();
  let next = 1;
  const flush = (): void => {
    for (let l = ready.get(next); l !== undefined; l = ready.get(next)) {
      ready.delete(next++);
      out.push(`${l}\n`);
    }
  };
  const done = (line: number): void => {
    const o = outputs.get(line)!;
    outputs.delete(line);
    for (const k of o.kinds) log.add(rel, line, '/2', k);
    // Without a replacement of its own it may still have lost the rest of a secret that started before it.
    ready.set(line, o.kinds.length || o.data !== o.was ? JSON.stringify([o.t, 'o', o.data]) : o.text);
  };
  const finishBefore = (line: number): void => {
    // In line order (a Map iterates as inserted): stop at the first line still in the stream.
    for (const l of outputs.keys()) {
      if (l >= line) break;
      done(l);
    }
    flush();
  };
  // Pieces of one line come one after the other (the window may hold back its end), lines in order.
  const stream = new StreamRedactor<number>(redactor, (data, line, kinds) => {
    finishBefore(line);
    const o = outputs.get(line)!;
    o.data += data;
    o.kinds.push(...kinds);
  });
  let read = 0;
  let lastReport = 0;
  await reread(input, file.path, {
    chunk: (b) => {
      read += b.length;
    },
    line: (text, n) => {
      if (n === 1) {
        const kinds: string[] = [];
        const header = redactor.redactValue(JSON.parse(text) as unknown, (_ptr, kind) => void kinds.push(kind));
        for (const k of kinds) log.add(rel, 1, '/2', k);
        ready.set(1, kinds.length ? JSON.stringify(header) : text);
        flush();
        return;
      }
      const v = JSON.parse(text) as unknown[];
      if (v[1] === 'o' && typeof v[2] === 'string') {
        // Empty until the stream gives it back (a line whose text was all secret gets none).
        outputs.set(n, { text, t: v[0], was: v[2], data: '', kinds: [] });
        if (v[2] === '') done(n);
        else stream.push(v[2], n);
        return;
      }
      if (v[1] === 'i' && typeof v[2] === 'string') {
        const r = inputs.get(n) ?? { data: '', kinds: [] };
        for (const k of r.kinds) log.add(rel, n, '/2', k);
        ready.set(n, r.kinds.length || r.data !== v[2] ? JSON.stringify([v[0], 'i', r.data]) : text);
      } else {
        const kinds: string[] = [];
        const x = redactor.redactValue(v, (_ptr, kind) => void kinds.push(kind));
        for (const k of kinds) log.add(rel, n, '/2', k);
        ready.set(n, kinds.length ? JSON.stringify(x) : text);
      }
      flush();
    },
    after: () => {
      ctx.checkAbort();
      if (read - lastReport >= 32 << 20 && read < file.bytes) {
        lastReport = read;
        ctx.note(`copy ${rel} ${Math.floor((read / file.bytes) * 100)}%`);
      }
      return out.maybeFlush();
    },
  });
  stream.end();
  finishBefore(Number.POSITIVE_INFINITY);
  if (ready.size || outputs.size) throw new ApolloError('INTERNAL', `Recording ${rel}: ${ready.size + outputs.size} line(s) left unwritten`);
  await stage.finish(out);
  ctx.progress(`copy ${rel}`);
}

/** Read every output back with the exporter's validators; line counts must match the plan. */
async function validateOutputs(plan: MergePlan, stage: StagingDir, outputs: WrittenFile[], w: Written, ctx: WriteContext): Promise<BundleFile[]> {
  const files: BundleFile[] = [];
  const errors: Array<ValidationError & { file: string }> = [];
  let lines = 0;
  for (const o of outputs) {
    const check = await checkWrittenFile(stage.dir, o, {
      allowReasoning: plan.allowReasoning,
      onLine: () => {
        if (++lines % 4096 === 0) ctx.checkAbort();
      },
    });
    const expected = o.format === 'openai' ? plan.examples.length : o.format === 'sharegpt' || o.format === 'mistral' ? w.manifestActions.length : null;
    if (expected !== null && check.lines !== expected) check.errors.push({ line: 0, message: `${check.lines} line(s) written, ${expected} expected` });
    errors.push(...check.errors.map((e) => ({ ...e, file: o.path })));
    files.push(check.file);
    ctx.progress(`validate ${o.path}`);
  }
  if (errors.length) {
    const first = errors[0]!;
    throw new ApolloError('BAD_REQUEST', `Merged bundle failed validation: ${errors.length} error(s); first: ${first.file}:${first.line}: ${first.message}`, { errors: errors.slice(0, MAX_ERRORS) });
  }
  return files;
}

// ---------------------------------------------------------------- manifest

function countsOf(plan: MergePlan, w: Written, skipped: number): Manifest['counts'] {
  const c = emptyCounts(plan.manifestSessions.length, plan.examples.length);
  c.actionLines = w.manifestActions.length;
  // Counted while the plan read its steps (merge-plan.ts countSteps).
  const k = plan.stats.counts;
  c.steps = k.steps;
  c.actions = k.actions;
  c.kept = k.kept;
  c.masked = k.masked;
  c.unlabelled = k.unlabelled;
  c.maskedBy = { ...k.maskedBy };
  c.labelledBy = { ...k.labelledBy };
  c.emptyTurns = k.emptyTurns;
  c.examplesSkipped = skipped;
  c.reconstructed = plan.examples.filter((x) => x.entry.context === 'reconstructed').length;
  c.tokens = { tokenizer: TOKENIZER, total: w.totalTokens, longest: w.longestExample, limit: plan.options.warnTokens, overLimit: w.overLimit };
  return c;
}

function skippedOf(plan: MergePlan): Manifest['skipped'] {
  const out: Manifest['skipped'] = [];
  for (const s of plan.manifestSessions) {
    for (const b of s.branches) {
      if (b.exported || b.skipped === null || b.skipped === 'not selected' || b.skipped === 'no steps of its own') continue;
      const onBranch = plan.stats.stepsOnBranch.get(`${s.sessionId}\u0000${b.branchId}`) ?? 0;
      out.push({ sessionId: s.sessionId, branchId: b.branchId, reason: b.skipped === 'no actions' ? 'no-actions' : 'nothing-to-train', steps: onBranch });
    }
  }
  return out;
}

/**
 * The manifest (its files and redaction totals still to fill in) redacted as a whole, as
 * the exporter redacts the parts of its own that carry names people typed: sessions,
 * branches, annotators, conflicts, warnings. Hits are listed under manifest.json, line 0.
 */
function redactManifestParts(m: MergedManifest, redactor: Redactor, log: RedactionLog): MergedManifest {
  // mergedFrom[].renamed maps an input's recording path (which may hold a secret of the lead's) to
  // the merged one: a name this merge gave, redacted already (castsNamedBy). Redacted with the rest,
  // a value under a path that reads as a secret's name (`…/api-token.cast`) would be replaced whole
  // (a sensitive field), and no longer name the file; so its paths are redacted as names, its values kept.
  const renamed = m.mergedFrom.map((b) => b.renamed);
  const out = redactor.redactValue({ ...m, mergedFrom: m.mergedFrom.map((b) => ({ ...b, renamed: {} })) }, (ptr, kind) => log.add(BUNDLE_FILES.manifest, 0, ptr, kind));
  out.mergedFrom.forEach((b, i) => {
    b.renamed = Object.fromEntries(Object.entries(renamed[i]!).map(([from, to]) => {
      const r = redactor.redact(from);
      for (const kind of r.kinds) log.add(BUNDLE_FILES.manifest, 0, `/mergedFrom/${i}/renamed/${r.text.replace(/~/g, '~0').replace(/\//g, '~1')}`, kind);
      return [r.text, to];
    }));
  });
  return out;
}

function buildManifest(
  plan: MergePlan, inputs: Input[], w: Written, files: BundleFile[], appVersion: string, redactions: Manifest['redactions'], warnings: string[],
): MergedManifest {
  const skipped = skippedOf(plan);
  const counts = countsOf(plan, w, skipped.length);
  const keys = new Set(plan.examples.map((x) => x.ex.key));
  const mergedFrom: MergedManifest['mergedFrom'] = inputs.map((b) => {
    const renamed: Record<string, string> = {};
    for (const f of b.manifest.files) {
      if (f.format !== 'asciicast') continue;
      const o = castTarget(plan, b, f.path);
      if (o && o !== f.path) renamed[f.path] = o;
    }
    return {
      path: b.path, manifestSha256: b.manifestSha256, appVersion: b.manifest.appVersion, formats: [...b.manifest.formats],
      labelPolicy: b.manifest.labelPolicy, annotators: [...b.manifest.annotators], counts: b.manifest.counts,
      examples: { total: b.examples.length, used: b.examples.filter((x) => keys.has(x.key)).length }, renamed, signer: b.signer,
    };
  });
  return {
    format: 'apollo-dataset-bundle',
    formatVersion: 2,
    appVersion,
    formats: plan.formats,
    labelPolicy: plan.labelPolicy,
    options: plan.options,
    sessions: plan.manifestSessions,
    trajectories: w.manifestTrajectories,
    actions: w.manifestActions,
    skipped,
    annotators: plan.annotatorNames,
    counts,
    warnings,
    files,
    redactions,
    mergedFrom,
    merge: {
      policy: plan.policy,
      origins: plan.origins,
      examples: { in: plan.examplesIn, distinct: plan.distinctExamples, out: plan.examples.length, duplicates: plan.examplesIn - plan.distinctExamples, nothingToTrain: plan.nothingToTrain },
      actions: {
        total: plan.stats.actions,
        multiplyLabelled: plan.stats.multiplyLabelled,
        conflicts: plan.conflicts.length,
        kept: counts.kept,
        masked: counts.masked,
        noContext: plan.noContext,
      },
      conflicts: plan.conflicts,
      agreement: plan.agreement,
      annotators: plan.annotators,
      castsDeduplicated: plan.castsDeduplicated,
      formatsMissing: plan.formatsMissing,
    },
  };
}
