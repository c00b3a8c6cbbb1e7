// A dataset bundle: a folder of training files, terminal recordings, a manifest and
// a redaction report, published atomically.
//
//   <outDir>/openai.jsonl          OpenAI chat fine-tuning, one line per exported branch
//   <outDir>/sharegpt.jsonl        ShareGPT / LLaMA-Factory, same lines in the same order
//   <outDir>/dataset_info.json     LLaMA-Factory entry for sharegpt.jsonl
//   <outDir>/trajectory.jsonl      full fidelity: per session a session line, then step lines
//   <outDir>/terminals/<session>/<terminal>.cast   asciicast v2
//   <outDir>/redactions.json       what was redacted where (never the secret)
//   <outDir>/manifest.json         versions, sessions, branches, annotators, label policy,
//                                  counts, every other file with its size and SHA-256
//
// Everything is written into `<outDir>.tmp-<random>` beside the target, validated from
// disk, fsync'd, then renamed to `outDir` in one step. On abort, a validation failure
// or any error the temporary folder is removed, so either a complete bundle exists or
// nothing does. Files contain no "now": exporting the same input twice gives
// byte-identical files.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import type { LabelSource, SessionEvent } from '../../../shared/events';
import { foldTrajectory, type Trajectory } from '../../../shared/trajectory';
import { terminalIdsOf, writeAsciicast } from './asciicast';
import { checkWrittenFile, exists, scanFile, StagingDir, toApolloError, type WrittenFile } from './files';
import {
  emptyStats, llamaFactoryDatasetInfo, openaiRecord, sharegptRecord, stepBranches, trajectoryRecords, weighConversation,
  type OpenAIOptions, type ToolSchema, type TrajectoryStats,
} from './formats';
import { assistantTurns, buildConversation, type Conversation } from './messages';
import { labelUnder, resolvePolicy, type LabelPolicy } from './policy';
import { RedactionLog, Redactor, type RedactionReport, type RedactionSummary } from './redact';
import type { ValidationError } from './validate';

export type { ToolSchema } from './formats';
export type ExportFormat = 'openai' | 'sharegpt' | 'trajectory' | 'asciicast';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['openai', 'sharegpt', 'trajectory', 'asciicast'];

export interface ExportSessionInput {
  sessionId: string;
  events: SessionEvent[];
  /** The session folder (events.jsonl, terminals/); empty = <home>/sessions/<sessionId>. */
  sessionDir: string;
  /** Branches to export; default every branch that has steps of its own. */
  branchIds?: string[];
  systemPrompt: string;
  tools: ToolSchema[];
}

export interface ExportBundleOptions {
  home: string;
  sessions: ExportSessionInput[];
  outDir: string;
  formats: ExportFormat[];
  /** Exact secret values to redact (the app's API keys), on top of the built-in patterns. */
  secrets: string[];
  appVersion: string;
  labelPolicy?: Partial<LabelPolicy>;
  openai?: OpenAIOptions;
  onProgress?(done: number, total: number, stage: string): void;
  signal?: AbortSignal;
}

export interface ManifestFile {
  path: string;
  format: ExportFormat | 'llama-factory-dataset-info' | 'redactions';
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
  trajectories: number;
  /** Distinct steps on exported paths. */
  steps: number;
  /** Distinct exported actions (assistant turns); each counted once even when shared by branches. */
  actions: number;
  kept: number;
  masked: number;
  /** Actions with no label from an honoured source (included in kept or masked per policy). */
  unlabelled: number;
  maskedBy: TrajectoryStats['maskedBy'];
  labelledBy: Record<LabelSource, number>;
  emptyTurns: number;
}

export interface Manifest {
  format: 'apollo-dataset-bundle';
  formatVersion: 1;
  appVersion: string;
  formats: ExportFormat[];
  labelPolicy: LabelPolicy;
  sessions: Array<{ sessionId: string; name: string | null; branches: ManifestBranch[]; terminals: string[] }>;
  /** One entry per line of openai.jsonl / sharegpt.jsonl (same order). */
  trajectories: Array<{ line: number; sessionId: string; branchId: string; branchName: string; steps: number } & Pick<TrajectoryStats, 'actions' | 'kept' | 'masked' | 'unlabelled'>>;
  annotators: string[];
  counts: ManifestCounts;
  files: ManifestFile[];
  redactions: RedactionSummary;
}

export interface ExportBundleResult {
  dir: string;
  manifest: Manifest;
  redactions: RedactionReport[];
}

const FILE_OPENAI = 'openai.jsonl';
const FILE_SHAREGPT = 'sharegpt.jsonl';
const FILE_DATASET_INFO = 'dataset_info.json';
const FILE_TRAJECTORY = 'trajectory.jsonl';
const FILE_REDACTIONS = 'redactions.json';
const FILE_MANIFEST = 'manifest.json';

function safeName(s: string): string {
  const x = s.replace(/[^A-Za-z0-9._-]/g, '_');
  return x === '' || x === '.' || x === '..' ? `_${x}` : x;
}

/** Counts of nothing yet, for a manifest of `sessions` sessions and `trajectories` training lines. */
export function emptyCounts(sessions: number, trajectories: number): ManifestCounts {
  return {
    sessions, trajectories, steps: 0, actions: 0, kept: 0, masked: 0, unlabelled: 0,
    maskedBy: emptyStats().maskedBy, labelledBy: { annotator: 0, judge: 0, rule: 0 }, emptyTurns: 0,
  };
}

function sessionName(events: readonly SessionEvent[]): string | null {
  let name: string | null = null;
  for (const ev of events) if (ev.type === 'session.created' || ev.type === 'session.renamed') name = ev.name;
  return name;
}

interface Prepared {
  input: ExportSessionInput;
  dir: string;
  traj: Trajectory;
  selected: string[];
  convs: Conversation[];
  branches: ManifestBranch[];
  terminals: string[];
}

export async function exportBundle(opts: ExportBundleOptions): Promise<ExportBundleResult> {
  const outDir = opts.outDir.replace(/[\\/]+$/, '');
  const formats = EXPORT_FORMATS.filter((f) => opts.formats.includes(f));
  if (formats.length === 0) throw new ApolloError('BAD_REQUEST', 'No export format chosen');
  const unknown = opts.formats.filter((f) => !EXPORT_FORMATS.includes(f));
  if (unknown.length) throw new ApolloError('BAD_REQUEST', `Unknown export format(s): ${unknown.join(', ')}`);
  if (opts.sessions.length === 0) throw new ApolloError('BAD_REQUEST', 'No session to export');
  const ids = new Set<string>();
  for (const s of opts.sessions) {
    if (ids.has(s.sessionId)) throw new ApolloError('BAD_REQUEST', `Session ${s.sessionId} listed twice`);
    ids.add(s.sessionId);
  }
  if (await exists(outDir)) throw new ApolloError('CONFLICT', `${outDir} already exists`);

  const policy = resolvePolicy(opts.labelPolicy);
  const redactor = new Redactor(opts.secrets);
  const log = new RedactionLog();
  const signal = opts.signal;
  const checkAbort = (): void => {
    if (signal?.aborted) throw new ApolloError('CANCELLED', 'Export cancelled');
  };
  checkAbort();

  // ---- prepare: fold, pick branches, build conversations (pure, no I/O but terminal listing)
  const prepared: Prepared[] = [];
  for (const input of opts.sessions) {
    const dir = input.sessionDir || join(opts.home, 'sessions', input.sessionId);
    const traj = foldTrajectory(input.events);
    const owning = new Set([...traj.steps.values()].map((s) => s.branchId));
    let selected: string[];
    if (input.branchIds) {
      for (const b of input.branchIds) if (!traj.branches.has(b)) throw new ApolloError('NOT_FOUND', `Session ${input.sessionId} has no branch ${b}`);
      selected = input.branchIds.filter((b, i, a) => a.indexOf(b) === i);
    } else {
      selected = [...traj.branches.keys()].filter((b) => owning.has(b));
    }
    const convs: Conversation[] = [];
    const branches: ManifestBranch[] = [];
    for (const b of traj.branches.values()) {
      const isSelected = selected.includes(b.id);
      let skipped: string | null = isSelected ? null : owning.has(b.id) ? 'not selected' : 'no steps of its own';
      if (isSelected) {
        const conv = buildConversation(traj, b.id, { systemPrompt: input.systemPrompt, sources: policy.sources });
        if (assistantTurns(conv).some((t) => t.toolCalls.length > 0 || t.content !== '')) convs.push(conv);
        else skipped = 'no actions';
      }
      branches.push({ branchId: b.id, name: b.name, fromStepId: b.fromStepId, reason: b.reason, author: b.author, exported: isSelected && skipped === null, skipped });
    }
    let terminals: string[] = [];
    if (formats.includes('asciicast')) {
      const files = await readdir(join(dir, 'terminals')).catch(() => [] as string[]);
      const recorded = new Set(files.filter((f) => f.endsWith('.out')).map((f) => f.slice(0, -4)));
      const fromEvents = terminalIdsOf(input.events).filter((t) => recorded.has(t));
      terminals = [...fromEvents, ...[...recorded].filter((t) => !fromEvents.includes(t)).sort()];
    }
    prepared.push({ input, dir, traj, selected, convs, branches, terminals });
  }

  const nTraj = prepared.reduce((n, p) => n + p.convs.length, 0);
  const nTerm = prepared.reduce((n, p) => n + p.terminals.length, 0);
  const nFiles = (formats.includes('openai') ? 1 : 0) + (formats.includes('sharegpt') ? 2 : 0) + (formats.includes('trajectory') ? 1 : 0) + nTerm;
  const total = (formats.includes('openai') ? nTraj : 0) + (formats.includes('sharegpt') ? nTraj : 0)
    + (formats.includes('trajectory') ? prepared.length : 0) + nTerm + nFiles + 1;
  let done = 0;
  const progress = (stage: string, step = 1): void => {
    done += step;
    opts.onProgress?.(done, total, stage);
    checkAbort();
  };

  const stage = new StagingDir(outDir);
  try {
    await stage.open();
    const written: WrittenFile[] = [];
    const writeJsonl = async (file: string, format: ExportFormat, records: Iterable<unknown>): Promise<void> => {
      const out = await stage.create(file);
      let line = 0;
      for (const rec of records) {
        line++;
        const clean = redactor.redactValue(rec, (ptr, kind) => log.add(file, line, ptr, kind));
        await out.write(`${JSON.stringify(clean)}\n`);
      }
      await stage.finish(out);
      written.push({ path: file, format });
    };
    const allConvs = prepared.flatMap((p) => p.convs.map((c) => ({ p, c })));

    if (formats.includes('openai')) {
      await writeJsonl(FILE_OPENAI, 'openai', (function* () {
        for (const { p, c } of allConvs) {
          yield openaiRecord(c, p.input.tools, policy, opts.openai).record;
          progress(`openai ${p.input.sessionId}/${c.branchId}`);
        }
      })());
    }
    if (formats.includes('sharegpt')) {
      await writeJsonl(FILE_SHAREGPT, 'sharegpt', (function* () {
        for (const { p, c } of allConvs) {
          yield sharegptRecord(c, p.input.tools, policy).record;
          progress(`sharegpt ${p.input.sessionId}/${c.branchId}`);
        }
      })());
      await stage.writeFile(FILE_DATASET_INFO, llamaFactoryDatasetInfo(FILE_SHAREGPT));
      written.push({ path: FILE_DATASET_INFO, format: 'llama-factory-dataset-info' });
    }
    if (formats.includes('trajectory')) {
      await writeJsonl(FILE_TRAJECTORY, 'trajectory', (function* () {
        for (const p of prepared) {
          yield* trajectoryRecords(p.traj, { sessionId: p.input.sessionId, branchIds: p.selected, policy });
          progress(`trajectory ${p.input.sessionId}`);
        }
      })());
    }
    if (formats.includes('asciicast')) {
      for (const p of prepared) {
        if (!p.terminals.length) continue;
        for (const tid of p.terminals) {
          const rel = castPath(p.input.sessionId, tid);
          const out = await stage.create(rel);
          let lastReport = 0;
          await writeAsciicast({
            recordingPath: join(p.dir, 'terminals', `${tid}.out`),
            timingPath: join(p.dir, 'terminals', `${tid}.timing.jsonl`),
            events: p.input.events,
            terminalId: tid,
            title: `${p.input.sessionId}/${tid}`,
            write: (s) => out.write(s),
            redactor,
            onLine: (line, kinds) => {
              for (const k of kinds) log.add(rel, line, '/2', k);
            },
            onBytes: (b, size) => {
              if (b - lastReport >= 32 << 20 && b < size) {
                lastReport = b;
                opts.onProgress?.(done, total, `asciicast ${p.input.sessionId}/${tid} ${Math.floor((b / size) * 100)}%`);
              }
            },
            signal,
          });
          await stage.finish(out);
          written.push({ path: rel, format: 'asciicast' });
          progress(`asciicast ${p.input.sessionId}/${tid}`);
        }
      }
    }

    // ---- validate from disk, hash
    const errors: Array<ValidationError & { file: string }> = [];
    const files: ManifestFile[] = [];
    for (const w of written) {
      const check = await checkWrittenFile(stage.dir, w, {
        allowReasoning: opts.openai?.reasoning === 'field',
        onLine: (n) => {
          if (n % 4096 === 0) checkAbort();
        },
      });
      errors.push(...check.errors.map((e) => ({ ...e, file: w.path })));
      files.push(check.file);
      progress(`validate ${w.path}`);
    }
    if (errors.length) {
      const first = errors[0]!;
      throw new ApolloError('BAD_REQUEST', `Export failed validation: ${errors.length} error(s); first: ${first.file}:${first.line}: ${first.message}`, { errors: errors.slice(0, 100) });
    }

    // ---- manifest
    const counts = emptyCounts(prepared.length, nTraj);
    const trajectories: Manifest['trajectories'] = [];
    const annotators = new Set<string>();
    for (const p of prepared) {
      const seenSteps = new Set<string>();
      const seenActions = new Set<string>();
      for (const c of p.convs) {
        const { stats } = weighConversation(c, policy);
        trajectories.push({
          line: trajectories.length + 1, sessionId: p.input.sessionId, branchId: c.branchId, branchName: c.branchName,
          steps: c.pathStepIds.length, actions: stats.actions, kept: stats.kept, masked: stats.masked, unlabelled: stats.unlabelled,
        });
        for (const id of c.pathStepIds) seenSteps.add(id);
        // Distinct actions: weigh each step once.
        const fresh: Conversation = { ...c, turns: c.turns.filter((t) => t.role !== 'assistant' || !seenActions.has(t.stepId)) };
        for (const t of assistantTurns(fresh)) seenActions.add(t.stepId);
        const s = weighConversation(fresh, policy).stats;
        counts.actions += s.actions;
        counts.kept += s.kept;
        counts.masked += s.masked;
        counts.unlabelled += s.unlabelled;
        counts.emptyTurns += s.empty;
        for (const k of Object.keys(s.maskedBy) as Array<keyof TrajectoryStats['maskedBy']>) counts.maskedBy[k] += s.maskedBy[k];
      }
      counts.steps += seenSteps.size;
      for (const id of stepBranches(p.traj, p.selected).keys()) {
        const step = p.traj.steps.get(id)!;
        const l = labelUnder(step, policy.sources);
        if (l && step.response) counts.labelledBy[l.source]++;
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
      for (const c of p.convs) for (const t of c.turns) if (t.role === 'user' && t.kind === 'guidance' && t.author) annotators.add(t.author);
      for (const b of p.traj.branches.values()) if (b.reason !== 'root' && b.author !== 'agent') annotators.add(b.author);
    }

    const sessionsPart = redactor.redactValue(
      prepared.map((p) => ({ sessionId: p.input.sessionId, name: sessionName(p.input.events), branches: p.branches, terminals: p.terminals })),
      (ptr, kind) => log.add(FILE_MANIFEST, 0, `/sessions${ptr}`, kind),
    );
    const trajectoriesPart = redactor.redactValue(trajectories, (ptr, kind) => log.add(FILE_MANIFEST, 0, `/trajectories${ptr}`, kind));
    const annotatorsPart = redactor.redactValue([...annotators].sort(), (ptr, kind) => log.add(FILE_MANIFEST, 0, `/annotators${ptr}`, kind));

    const redactions = log.list();
    {
      await stage.writeFile(FILE_REDACTIONS, `${JSON.stringify({ redactions }, null, 2)}\n`);
      const scan = await scanFile(join(stage.dir, FILE_REDACTIONS));
      files.push({ path: FILE_REDACTIONS, format: 'redactions', bytes: scan.bytes, sha256: scan.sha256, records: redactions.length });
    }
    files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

    const manifest: Manifest = {
      format: 'apollo-dataset-bundle',
      formatVersion: 1,
      appVersion: opts.appVersion,
      formats,
      labelPolicy: policy,
      sessions: sessionsPart,
      trajectories: trajectoriesPart,
      annotators: annotatorsPart,
      counts,
      files,
      redactions: log.summary(),
    };
    await stage.writeFile(FILE_MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
    checkAbort();

    // ---- publish
    await stage.publish([
      ...prepared.filter((p) => p.terminals.length).map((p) => `terminals/${safeName(p.input.sessionId)}`),
      ...(formats.includes('asciicast') ? ['terminals'] : []),
    ]);
    opts.onProgress?.(total, total, 'done');
    return { dir: outDir, manifest, redactions };
  } catch (e) {
    throw toApolloError(e, 'exporting', 'Export cancelled');
  } finally {
    await stage.discard();
  }
}

/** The bundle-relative path used for a terminal recording. */
export function castPath(sessionId: string, terminalId: string): string {
  return `terminals/${safeName(sessionId)}/${safeName(terminalId)}.cast`;
}

export const BUNDLE_FILES = { openai: FILE_OPENAI, sharegpt: FILE_SHAREGPT, datasetInfo: FILE_DATASET_INFO, trajectory: FILE_TRAJECTORY, redactions: FILE_REDACTIONS, manifest: FILE_MANIFEST } as const;
