import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { randomUUID } from 'node:crypto';
import { homedir } from 'node:os';
import { ApolloError } from '../../shared/errors';
import type { SessionEvent } from '../../shared/events';
import { foldTrajectory } from '../../shared/trajectory';
import type { SessionLog } from './store/workspace';
import type { PtyHost } from './pty/pty-host';
import { Rollout, type RolloutDelta, type RolloutOptions, type RunResult } from './rollout/index';
import { CheckpointStore, type SnapshotResult } from './checkpoints/shadow-git';
import { DEFAULT_CHECKPOINT_BUDGET_BYTES, DEFAULT_CHECKPOINT_MAX_FILE_BYTES, type CheckpointLimits } from '../../shared/checkpoint-limits';
import type { ResolvedEndpoint } from './profiles';
import { environmentFor } from './env/registry';
import type { Checkpoints } from './env/checkpoints';

export interface StartRollout {
  session: SessionLog;
  task: string;
  endpoint: ResolvedEndpoint | null;
  policy: 'model' | 'replay';
  maxSteps: number;
  cwd: string;
  branchId?: string;
  parentStepId?: string | null;
  replaySource?: SessionEvent[];
  summarizeAtTokens?: number;
  /** Agent terminal names → real terminal ids (after a rewind). */
  aliases?: Record<string, string>;
  /** Test and CLI tuning passed through to the engine. */
  tuning?: Pick<RolloutOptions, 'llm' | 'tools'>;
  firstStepWorld?: RolloutOptions['firstStepWorld'];
}

/**
 * Runs rollouts (one active per session) and takes an environment checkpoint after
 * every step. A checkpoint store that breaks only costs that session its
 * checkpoints (recorded as checkpoint.failed); the rollout goes on.
 */
export class RolloutManager {
  private readonly active = new Map<string, { rollout: Rollout; done: Promise<RunResult> }>();
  private readonly stores = new Map<string, Promise<Checkpoints>>();
  private readonly warned = new Set<string>();
  /** Sessions told up front that their environment cannot checkpoint. */
  private readonly toldOff = new Set<string>();

  constructor(
    private readonly pty: PtyHost,
    private readonly onDelta: (sessionId: string, stepId: string, delta: RolloutDelta) => void = () => {},
    /** The checkpoint budget and file size limit in force (settings, CLI flags); read at every use. */
    private readonly checkpointLimits: () => CheckpointLimits = () => ({ budgetBytes: DEFAULT_CHECKPOINT_BUDGET_BYTES, maxFileBytes: DEFAULT_CHECKPOINT_MAX_FILE_BYTES }),
  ) {}

  /** The checkpoint limits in force now. */
  limits(): CheckpointLimits {
    return this.checkpointLimits();
  }

  get(sessionId: string): Rollout | undefined {
    return this.active.get(sessionId)?.rollout;
  }

  /** Start a rollout in the background; `done` settles when it ends or pauses for good. */
  start(opts: StartRollout): { rollout: Rollout; done: Promise<RunResult> } {
    const cur = this.active.get(opts.session.id);
    if (cur && (cur.rollout.state === 'running' || cur.rollout.state === 'paused')) {
      throw new ApolloError('CONFLICT', 'A rollout is already active in this session: stop it first.');
    }
    const session = opts.session;
    const rollout = new Rollout({
      session,
      pty: this.pty,
      endpoint: opts.endpoint && {
        profile: opts.endpoint.profile, baseURL: opts.endpoint.baseUrl, apiKey: opts.endpoint.apiKey, model: opts.endpoint.model,
        temperature: opts.endpoint.temperature, topP: opts.endpoint.topP, maxTokens: opts.endpoint.maxTokens, toolMode: opts.endpoint.toolMode,
      },
      policy: opts.policy,
      task: opts.task,
      maxSteps: opts.maxSteps,
      cwd: opts.cwd,
      branchId: opts.branchId,
      parentStepId: opts.parentStepId,
      replaySource: opts.replaySource,
      summarizeAtTokens: opts.summarizeAtTokens,
      aliases: opts.aliases,
      firstStepWorld: opts.firstStepWorld,
      ...opts.tuning,
      onDelta: (stepId, delta) => this.onDelta(session.id, stepId, delta),
      hooks: { afterStep: (stepId) => this.checkpointStep(session, opts.cwd, stepId) },
    });
    // A remote environment that cannot checkpoint (no git there) says so before the first step.
    const remote = environmentFor(session).kind !== 'local';
    const entry = { rollout, done: remote ? this.tellIfOff(session, opts.cwd).then(() => rollout.run()) : rollout.run() };
    this.active.set(session.id, entry);
    return entry;
  }

  require(sessionId: string): Rollout {
    const r = this.get(sessionId);
    if (!r) throw new ApolloError('UNAVAILABLE', 'No rollout is active in this session.');
    return r;
  }

  resume(sessionId: string): Promise<RunResult> {
    const entry = this.active.get(sessionId);
    if (!entry) throw new ApolloError('UNAVAILABLE', 'No rollout is active in this session.');
    entry.done = entry.rollout.resume();
    return entry.done;
  }

  /** Guidance goes to the active rollout; without one it waits, recorded, for the next rollout on its branch. */
  async guidance(session: SessionLog, text: string, author: string, branchId?: string): Promise<string> {
    const r = this.get(session.id);
    const active = r && (r.state === 'running' || r.state === 'paused' || r.state === 'idle');
    if (active && (branchId === undefined || branchId === r.branchId)) return r.queueGuidance(text, author);
    const guidanceId = randomUUID();
    await session.append({ type: 'guidance.queued', guidanceId, text, author, branchId: branchId ?? 'main' });
    return guidanceId;
  }

  private async tellIfOff(session: SessionLog, cwd: string): Promise<void> {
    if (this.toldOff.has(session.id)) return;
    const off = await sessionCheckpointsOff(session, cwd);
    if (!off) return;
    this.toldOff.add(session.id);
    await session.append({ type: 'warning', message: `${off} Rewind and hand-written actions on earlier steps are disabled in this session.` }).catch(() => undefined);
  }

  /** The session's checkpoint store: in its session folder, or inside its remote environment. */
  checkpoints(session: SessionLog, cwd: string): Promise<Checkpoints> {
    let s = this.stores.get(session.id);
    const env = environmentFor(session);
    if (!s && env.kind !== 'local') {
      s = env.checkpoints({ sessionId: session.id, workDir: cwd, localStoreDir: join(session.dir, 'checkpoints.git'), ...this.checkpointLimits() });
      s.catch(() => this.stores.delete(session.id));
      this.stores.set(session.id, s);
    }
    if (!s) {
      // The workspace (logs, recordings) must never be snapshotted or rewound with the files.
      const home = resolve(session.dir, '..', '..');
      const rel = relative(resolve(cwd), home);
      const excludes = rel && !rel.startsWith('..') && !isAbsolute(rel) ? [`/${rel.split(sep).join('/')}/`] : [];
      s = CheckpointStore.open({ storeDir: join(session.dir, 'checkpoints.git'), workDir: cwd, excludes, ...this.checkpointLimits() });
      s.catch(() => this.stores.delete(session.id));
      this.stores.set(session.id, s);
    }
    // Settings may have changed since the store was opened.
    return s.then((store) => {
      store.setLimits(this.checkpointLimits());
      return store;
    });
  }

  /** Snapshot the working directory after a step (the agent's, or a human's in a terminal they control). */
  async checkpointStep(session: SessionLog, cwd: string, stepId: string): Promise<void> {
    const off = await sessionCheckpointsOff(session, cwd);
    if (off) {
      // Said once per session, not at every step.
      if (!this.warned.has(session.id)) {
        this.warned.add(session.id);
        await session.append({ type: 'checkpoint.failed', stepId, error: off });
      }
      return;
    }
    try {
      const store = await this.checkpoints(session, cwd);
      const snap = await store.snapshot(`step ${stepId}`);
      const shell = this.pty.list(session.id)[0];
      const shellCwd = shell?.shellCwd();
      const env = shell?.shellEnv();
      await session.append({ type: 'checkpoint.taken', stepId, commit: snap.commit, cwd, ...(shellCwd ? { shellCwd } : {}), ...(env ? { env } : {}), ...skippedFields(snap) });
    } catch (err) {
      await session.append({ type: 'checkpoint.failed', stepId, error: (err as Error).message, ...skippedFields(err) });
    }
  }

  /** Stop the session's rollout and drop what is kept for it (the session is being deleted). */
  async forget(sessionId: string): Promise<void> {
    await this.active.get(sessionId)?.rollout.stop().catch(() => {});
    this.active.delete(sessionId);
    // A background repack must not write into a folder that is being removed.
    await this.stores.get(sessionId)?.then((s) => s.close(), () => {});
    this.stores.delete(sessionId);
    this.warned.delete(sessionId);
    this.toldOff.delete(sessionId);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.active.values()].map((e) => e.rollout.stop().catch(() => {})));
    await Promise.all([...this.stores.values()].map((s) => s.then((store) => store.close(), () => {})));
  }
}

/**
 * The `skipped`/`skippedCount` fields of a checkpoint event: from a snapshot, or from
 * the details of a snapshot refused for the budget. Nothing when nothing was left out.
 */
export function skippedFields(from: SnapshotResult | unknown): Pick<SnapshotResult, 'skipped' | 'skippedCount'> | Record<string, never> {
  const src = from instanceof ApolloError ? from.details : from;
  const x = src as Partial<SnapshotResult> | null | undefined;
  if (!x || typeof x !== 'object' || !Array.isArray(x.skipped) || typeof x.skippedCount !== 'number' || x.skippedCount === 0) return {};
  return { skipped: x.skipped, skippedCount: x.skippedCount };
}

/**
 * Snapshotting a whole home folder (or the file system root) at every step would
 * be slow and huge; such sessions run without checkpoints, and say so.
 */
export function checkpointsOff(cwd: string): string | null {
  const dir = resolve(cwd);
  if (dir === resolve(homedir()) || dir === resolve('/')) {
    return `Checkpoints are off: the working directory ${dir} is your home folder or the root. Start the session in a project folder to be able to rewind.`;
  }
  return null;
}

/**
 * Why the session's environment cannot checkpoint `cwd` (a home folder or the root; no
 * git in a remote environment), or null. An environment that cannot be asked right now
 * (connection lost) is not called off: taking the snapshot then fails with the reason.
 */
export async function sessionCheckpointsOff(session: SessionLog, cwd: string): Promise<string | null> {
  const env = environmentFor(session);
  if (env.kind === 'local') return checkpointsOff(cwd);
  return env.checkpointsOff(cwd).catch(() => null);
}

/** The task of the first rollout recorded in a session (for replay and branches). */
export function recordedTask(events: readonly SessionEvent[]): string {
  const t = foldTrajectory(events);
  const first = [...t.rollouts.values()][0];
  if (!first) throw new ApolloError('NOT_FOUND', 'This session has no recorded rollout.');
  return first.task;
}
