// Export jobs: dataset bundles built in the background from workspace sessions.
//
// A job snapshots the sessions' events, hands them to exportBundle (which writes into
// a temporary folder beside the target and renames it into place only when complete
// and valid), reports progress through a sink (throttled), and can be cancelled. On
// success every exported session gets an `export.made` event. Failures (an existing
// outDir → CONFLICT, DISK_FULL, validation errors…) end the job in state 'failed'
// with the error; a cancelled job leaves no bundle and no temporary folder.
import { randomUUID } from 'node:crypto';
import { isAbsolute } from 'node:path';
import { ApolloError, type ErrorCode } from '../../shared/errors';
import type { AnnotatePushEvents, ExportPlan, ExportPlanCounts } from '../../shared/contract/annotate';
import { borrowFold, trajectoryOf } from './session-trajectory';
import { sessionTextKeys } from './dataset/tokens';
import { exportBundle, type ExportBundleOptions, type ExportBundleResult, type ExportFormat, type ExportSessionInput, type Manifest } from './dataset/index';
import { APP_VERSION } from './version';
import type { ApolloCore } from './app';

export type ExportProgress = AnnotatePushEvents['export.progress'];
export type ExportState = ExportProgress['state'];

/** What an export job needs of the core (ApolloCore satisfies it). */
/** `signingKey` absent (tests, read-only tools): bundles are written unsigned. */
export type ExportCore = Pick<ApolloCore, 'session' | 'profiles'> & Partial<Pick<ApolloCore, 'signingKey'>>;

export interface ExportRequest {
  sessionIds: string[];
  /** Branches to export, looked up in every session; default every branch with steps of its own. */
  branchIds?: string[];
  /**
   * Branches to export per session (sessionId → branch ids). A session named here gets
   * exactly its own list (each branch must exist in it); the others follow `branchIds`.
   */
  branches?: Record<string, string[]>;
  formats: ExportFormat[];
  /** Absolute path of the bundle folder to create (must not exist). */
  outDir: string;
  /** Unreviewed actions: 'keep' trains them (default), 'mask' does not, 'refuse' refuses to export while any is left. */
  labelPolicy?: { unlabelled?: 'keep' | 'mask' | 'refuse' };
  /** Split examples longer than this many tokens. */
  maxTokens?: number;
  /** History kept before each action of sharegpt.jsonl / mistral.jsonl (default maxTokens, else 32k). */
  historyTokens?: number;
  /** Warn about examples longer than this many tokens (default maxTokens, else 32k). */
  warnTokens?: number;
  /** Export the rollouts' summary requests as examples of their own. */
  includeSummaries?: boolean;
}

/** The options an export request gives exportBundle, the same for the plan and for the job. */
function bundleOptions(req: Omit<ExportRequest, 'outDir'>): Pick<ExportBundleOptions, 'formats' | 'labelPolicy' | 'maxTokens' | 'historyTokens' | 'warnTokens' | 'includeSummaries'> {
  return {
    formats: req.formats,
    ...(req.labelPolicy?.unlabelled ? { labelPolicy: { unlabelled: req.labelPolicy.unlabelled } } : {}),
    ...(req.maxTokens !== undefined ? { maxTokens: req.maxTokens } : {}),
    ...(req.historyTokens !== undefined ? { historyTokens: req.historyTokens } : {}),
    ...(req.warnTokens !== undefined ? { warnTokens: req.warnTokens } : {}),
    ...(req.includeSummaries ? { includeSummaries: true } : {}),
  };
}

function planCounts(m: Manifest): ExportPlanCounts {
  const c = m.counts;
  return {
    examples: c.trajectories, actionLines: c.actionLines, actions: c.actions, kept: c.kept, masked: c.masked, unlabelled: c.unlabelled,
    maskedBy: { ...c.maskedBy }, examplesSkipped: c.examplesSkipped, reconstructed: c.reconstructed, tokens: { ...c.tokens },
  };
}

/**
 * What export.start would write for `req`, computed by exportBundle's dry run (the
 * same code path, so the numbers are the bundle's): in total, and per session (each
 * planned alone; steps belong to one session, so nothing is shared between them).
 * Writes nothing; unknown sessions or branches are refused as export.start refuses them.
 */
export async function planExport(core: ExportCore, req: Omit<ExportRequest, 'outDir'> & { outDir?: string }): Promise<ExportPlan> {
  if (req.formats.length === 0) throw new ApolloError('BAD_REQUEST', 'No export format chosen');
  const sessions = await exportInputs(core, req.sessionIds, req.branchIds, req.branches);
  const secrets = await core.profiles.secrets();
  const dry = (inputs: ExportSessionInput[], keepPlan = false) =>
    exportBundle({ home: '', sessions: inputs, outDir: req.outDir ?? '', secrets, appVersion: APP_VERSION, ...bundleOptions(req), dryRun: true, keepPlan });
  // Its examples are kept for the export of the same selection, which the dialog's Export button starts.
  const all = await dry(sessions, true);
  const alone = sessions.length === 1 ? [all] : await sequential(sessions.map((s) => () => dry([s])));
  const policy = all.manifest.labelPolicy.unlabelled;
  const keys = await core.profiles.unredactableKeysWarning('browser mode');
  return {
    policy,
    refused: policy === 'refuse' && all.manifest.counts.unlabelled > 0,
    total: planCounts(all.manifest),
    // Said before the export, not in its manifest: what this host could not redact.
    warnings: [...(keys ? [keys] : []), ...all.manifest.warnings],
    sessions: alone.map((r) => {
      const s = r.manifest.sessions[0]!;
      return {
        sessionId: s.sessionId, name: s.name, counts: planCounts(r.manifest), warnings: [...r.manifest.warnings],
        branches: s.branches.map((b) => ({ branchId: b.branchId, name: b.name, exported: b.exported, skipped: b.skipped })),
      };
    }),
  };
}

/** One after the other: a plan is CPU work on the core's event loop, which also serves the terminals. */
async function sequential<T>(jobs: Array<() => Promise<T>>): Promise<T[]> {
  const out: T[] = [];
  for (const j of jobs) {
    out.push(await j());
    // Let terminal output and other requests through between sessions.
    await new Promise<void>((r) => setImmediate(r));
  }
  return out;
}

export interface ExportOutcome {
  exportId: string;
  state: Exclude<ExportState, 'running'>;
  dir?: string;
  result?: ExportBundleResult;
  error?: { code: ErrorCode; message: string };
}

interface Job {
  id: string;
  controller: AbortController;
  state: ExportState;
  finished: Promise<ExportOutcome>;
}

/**
 * The exportBundle inputs for workspace sessions: a snapshot of each log, its folder,
 * `branches` gives a session its own branch list
 * (every one must exist in that session, else NOT_FOUND; a key naming no exported
 * session is BAD_REQUEST). For the other sessions `branchIds` are looked up in every
 * session; a session holding none of them, or a branch found in no session, is NOT_FOUND.
 * Everything is checked before anything is written.
 */
export async function exportInputs(
  core: Pick<ExportCore, 'session'>,
  sessionIds: readonly string[],
  branchIds?: readonly string[],
  branches?: Readonly<Record<string, readonly string[]>>,
): Promise<ExportSessionInput[]> {
  const ids = sessionIds.filter((s, i, a) => a.indexOf(s) === i);
  if (ids.length === 0) throw new ApolloError('BAD_REQUEST', 'No session to export');
  const perSession = new Map<string, string[]>();
  for (const [sid, list] of Object.entries(branches ?? {})) {
    if (!ids.includes(sid)) throw new ApolloError('BAD_REQUEST', `Branches are given for session ${sid}, which is not exported`);
    const own = list.filter((b, i, a) => a.indexOf(b) === i);
    if (own.length === 0) throw new ApolloError('BAD_REQUEST', `No branch chosen for session ${sid}`);
    perSession.set(sid, own);
  }
  const wanted = branchIds?.length ? branchIds.filter((b, i, a) => a.indexOf(b) === i) : undefined;
  const found = new Set<string>();
  let flatUsed = false;
  const out: ExportSessionInput[] = [];
  for (const id of ids) {
    const session = await core.session(id);
    // Taken together (nothing runs between them): the digest names exactly these events.
    const events = session.events.slice();
    const eventsDigest = session.eventsDigest;
    const fold = borrowFold(session);
    let selected: string[] | undefined;
    const own = perSession.get(id);
    if (own) {
      const traj = trajectoryOf(session);
      const unknown = own.filter((b) => !traj.branches.has(b));
      if (unknown.length) throw new ApolloError('NOT_FOUND', `Session ${id} has no branch ${unknown.join(', ')}`);
      selected = own;
    } else if (wanted) {
      flatUsed = true;
      const traj = trajectoryOf(session);
      selected = wanted.filter((b) => traj.branches.has(b));
      if (selected.length === 0) throw new ApolloError('NOT_FOUND', `Session ${id} has none of the branches ${wanted.join(', ')}`);
      for (const b of selected) found.add(b);
    }
    out.push({ sessionId: id, events, sessionDir: session.dir, fold, textKeys: sessionTextKeys(session), ...(selected ? { branchIds: selected } : {}), ...(eventsDigest ? { eventsDigest } : {}) });
  }
  const missing = flatUsed ? (wanted?.filter((b) => !found.has(b)) ?? []) : [];
  if (missing.length) throw new ApolloError('NOT_FOUND', `No exported session has the branch(es) ${missing.join(', ')}`);
  return out;
}

export interface ExportManagerOptions {
  /** Where progress goes (the app broadcasts `export.progress`; the CLI prints). */
  sink(p: ExportProgress): void;
  /** Minimum time between two 'running' reports (default 250 ms); the first and the final one always go. */
  throttleMs?: number;
}

export class ExportManager {
  private readonly jobs = new Map<string, Job>();

  constructor(
    private readonly core: ExportCore,
    private readonly opts: ExportManagerOptions,
  ) {}

  /**
   * Check the request and start the job in the background. Unknown sessions or
   * branches and a relative outDir are refused here; everything else that goes wrong
   * ends the job as 'failed'.
   */
  async start(req: ExportRequest): Promise<{ exportId: string; finished: Promise<ExportOutcome> }> {
    if (!isAbsolute(req.outDir)) throw new ApolloError('BAD_REQUEST', `The export folder must be an absolute path, got "${req.outDir}"`);
    if (req.formats.length === 0) throw new ApolloError('BAD_REQUEST', 'No export format chosen');
    const sessions = await exportInputs(this.core, req.sessionIds, req.branchIds, req.branches);
    const id = randomUUID();
    const controller = new AbortController();
    const job = { id, controller, state: 'running' } as Job;
    job.finished = this.run(job, req, sessions);
    this.jobs.set(id, job);
    // Remember finished jobs for a while (a late cancel is answered, not refused).
    const finished = [...this.jobs.values()].filter((j) => j.state !== 'running');
    for (const j of finished.slice(0, Math.max(0, finished.length - 100))) this.jobs.delete(j.id);
    return { exportId: id, finished: job.finished };
  }

  /** Ask a running job to stop; true when it was still running. Unknown ids are NOT_FOUND. */
  cancel(exportId: string): boolean {
    const job = this.jobs.get(exportId);
    if (!job) throw new ApolloError('NOT_FOUND', `No export ${exportId}`);
    if (job.state !== 'running') return false;
    job.controller.abort();
    return true;
  }

  state(exportId: string): ExportState | undefined {
    return this.jobs.get(exportId)?.state;
  }

  /** Cancel every running job and wait for them to clean up. */
  async cancelAll(): Promise<void> {
    const running = [...this.jobs.values()].filter((j) => j.state === 'running');
    for (const j of running) j.controller.abort();
    await Promise.all(running.map((j) => j.finished));
  }

  private async run(job: Job, req: ExportRequest, sessions: ExportSessionInput[]): Promise<ExportOutcome> {
    const throttle = this.opts.throttleMs ?? 250;
    let last = 0;
    let lastDone = 0;
    let lastTotal = 0;
    let lastStage = 'starting';
    const report = (p: Omit<ExportProgress, 'exportId'>): void => {
      try {
        this.opts.sink({ exportId: job.id, ...p });
      } catch {
        // a failing listener must not break the export
      }
    };
    // Let the caller answer with the id before the first report.
    await new Promise<void>((r) => setImmediate(r));
    report({ done: 0, total: 0, stage: 'starting', state: 'running' });
    last = Date.now();
    let outcome: ExportOutcome;
    try {
      const secrets = await this.core.profiles.secrets();
      const sign = await this.core.signingKey?.();
      const result = await exportBundle({
        home: '',
        sessions,
        outDir: req.outDir,
        ...bundleOptions(req),
        secrets,
        ...(sign ? { sign } : {}),
        appVersion: APP_VERSION,
        signal: job.controller.signal,
        onProgress: (done, total, stage) => {
          lastDone = done;
          lastTotal = total;
          lastStage = stage;
          const now = Date.now();
          if (now - last < throttle || done >= total) return;
          last = now;
          report({ done, total, stage, state: 'running' });
        },
      });
      job.state = 'done';
      await this.recordExport(sessions, result);
      outcome = { exportId: job.id, state: 'done', dir: result.dir, result };
      report({ done: lastTotal || 1, total: lastTotal || 1, stage: 'done', state: 'done', dir: result.dir, counts: planCounts(result.manifest), ...(result.reused ? { reused: true } : {}), ...(result.builtBecause ? { builtBecause: result.builtBecause } : {}) });
    } catch (e) {
      const err = e instanceof ApolloError ? e : new ApolloError('INTERNAL', (e as Error)?.message ?? String(e));
      const cancelled = err.code === 'CANCELLED' || job.controller.signal.aborted;
      job.state = cancelled ? 'cancelled' : 'failed';
      outcome = { exportId: job.id, state: job.state, error: { code: cancelled ? 'CANCELLED' : err.code, message: err.message } };
      report({ done: lastDone, total: lastTotal, stage: lastStage, state: job.state, ...(cancelled ? {} : { error: err.message }) });
    }
    return outcome;
  }

  /** Append `export.made` to each exported session (best effort: the bundle is already published). */
  private async recordExport(sessions: readonly ExportSessionInput[], result: ExportBundleResult): Promise<void> {
    for (const [i, input] of sessions.entries()) {
      // The manifest lists the sessions in input order.
      const branchIds = (result.manifest.sessions[i]?.branches ?? []).filter((b) => b.exported).map((b) => b.branchId);
      try {
        const session = await this.core.session(input.sessionId);
        await session.append({ type: 'export.made', bundle: result.dir, formats: [...result.manifest.formats], branchIds });
      } catch {
        // the session log could not be written (disk full, removed): the bundle stands
      }
    }
  }
}
