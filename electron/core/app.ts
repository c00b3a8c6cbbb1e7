import { fileKeyStore, loadSigningKey, type SigningKey, type SigningKeyStore } from './dataset/signing';
import { randomUUID } from 'node:crypto';
import type { LoadReport, SessionInfo, TerminalInfo } from '../../shared/types';
import { compactEvent } from '../../shared/compact-events';
import type { PushEventName, PushEvents } from '../../shared/contract/index';
import { ApolloError } from '../../shared/errors';
import { Workspace, type SessionLog } from './store/workspace';
import { acquireWorkspaceLock, type WorkspaceLock } from './store/lock';
import { PtyHost } from './pty/pty-host';
import { dispatch, push, type Connection, type HandlerMap } from './dispatch';
import { sessionHandlers } from './handlers/sessions';
import { rolloutHandlers } from './handlers/rollout';
import { annotateHandlers } from './handlers/annotate';
import { closeCheckpointReaders } from './annotate/checkpoint-files';
import { exportManager, labelHandlers } from './handlers/labels';
import { closeUploads, importHandlers } from './handlers/import';
import { environmentHandlers } from './handlers/environments';
import { replayHandlers } from './handlers/replay';
import { setEnvironmentProcessEnv } from './env/registry';
import { mergeHandlers, mergeManager } from './handlers/merge';
import { memoryVault, Profiles, withoutKeys, type KeyVault } from './profiles';
import { RolloutManager } from './rollouts';
import { ControlManager } from './control';
import { resolveCheckpointLimits, type CheckpointLimits } from '../../shared/checkpoint-limits';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { mkdirPrivate } from './store/private-files';
import { writeOpenView } from './open-view';
import { decodeJsonText } from './json-text';
import { logFacts, withLive, type LogFacts } from './session-facts';
import { TokenWarmer } from './dataset/token-warmer';
import { sessionTextKeys } from './dataset/tokens';

export interface CoreOptions {
  home: string;
  resourcesDir: string;
  host: 'electron' | 'web';
  /** Where API keys are kept (the OS keychain under Electron); process memory otherwise. */
  vault?: KeyVault;
  /** Where the signing key is kept (encrypted by the OS keychain under Electron); `<home>/signing/ed25519.pem` otherwise. */
  signingKeys?: SigningKeyStore;
  /** Checkpoint limits for this process only (CLI flags), over the workspace settings. */
  checkpointLimits?: Partial<CheckpointLimits>;
  /**
   * Make the workspace folder when it does not exist (default). Commands that only
   * work on an existing workspace pass false: a mistyped --home is NOT_FOUND, not a
   * new empty workspace.
   */
  create?: boolean;
  /** More variables that hold keys (a CLI's --api-key-env), kept out of every terminal like the profiles' own. */
  keyEnvNames?: readonly string[];
  /** Copy the shipped sample sessions into a workspace that never had them (default true). */
  samples?: boolean;
  /**
   * Only read (dry runs): no lock is taken, so it works beside the app or `apollo
   * serve`, and nothing is created, repaired or written; the workspace must exist and
   * anything that would write is refused (UNAVAILABLE).
   */
  readOnly?: boolean;
  /**
   * Ask the person for a folder with the OS dialog (the Electron host; null when they
   * cancel). Absent in browser mode: the host's dialog would open on a screen the
   * browser may not be on, so the path is typed there.
   */
  chooseFolder?: () => Promise<string | null>;
  /** Told once per session whose log needed repair when this core opened it (torn tail dropped, lines skipped). */
  onLoadReport?: (sessionId: string, report: LoadReport, dir: string) => void;
}

/** How long closing waits for rollouts to stop by themselves before it ends their terminals. */
const CLOSE_GRACE_MS = 2_000;

/**
 * One instance per workspace: owns the store and the live terminals, and serves any
 * number of connections (Electron windows, browser tabs) through the contract.
 */
export class ApolloCore {
  readonly connections = new Map<string, Connection>();
  readonly pty: PtyHost;
  readonly profiles: Profiles;
  readonly rollouts: RolloutManager;
  /** Who may type into which terminal while an agent works (take control / hand back). */
  readonly control: ControlManager;
  private handlers: HandlerMap = {};
  private readonly unsubscribers = new Map<string, () => Promise<void>>();
  private closing: Promise<void> | null = null;
  /** Terminals whose recording a full disk holds back (noticeRecording). */
  private readonly recordingBlocked = new Set<string>();

  private constructor(
    readonly ws: Workspace,
    readonly opts: CoreOptions,
    private readonly lock: WorkspaceLock,
    /** The workspace folder did not exist and was made by this open. */
    readonly created: boolean,
  ) {
    this.pty = new PtyHost({
      resourcesDir: opts.resourcesDir,
      env: () => withoutKeys(process.env, [...this.profiles.keyEnvNames(), ...(opts.keyEnvNames ?? [])]),
      events: {
        // Each terminal's stream knows which connections show it (attach/detach below).
        data: (e, consumers) => {
          for (const cid of consumers) {
            const c = this.connections.get(cid);
            if (c) push(c, 'terminal.data', e);
          }
        },
        changed: (e) => {
          this.broadcast('terminal.changed', e);
          this.noticeRecording(e.sessionId, e.terminal);
        },
      },
    });
    this.profiles = new Profiles(ws, opts.vault ?? memoryVault());
    // ssh, docker and kubectl clients for remote environments get no endpoint keys either.
    setEnvironmentProcessEnv(() => withoutKeys(process.env, [...this.profiles.keyEnvNames(), ...(opts.keyEnvNames ?? [])]));
    this.rollouts = new RolloutManager(
      this.pty,
      (sessionId, stepId, delta) => {
        if (delta.content || delta.reasoning) this.broadcast('rollout.delta', { sessionId, stepId, content: delta.content, reasoning: delta.reasoning });
      },
      () => this.checkpointLimits(),
    );
    this.control = new ControlManager({
      rollouts: this.rollouts,
      pty: this.pty,
      cwd: (sessionId) => this.ws.entry(sessionId).cwd,
      changed: (status) => this.broadcast('rollout.control', status),
    });
    this.handlers = { ...sessionHandlers(this), ...rolloutHandlers(this), ...annotateHandlers(this), ...labelHandlers(this), ...importHandlers(this), ...mergeHandlers(this) };
    this.handlers = { ...this.handlers, ...environmentHandlers(this), ...replayHandlers(this) };
  }

  /** Open the workspace for writing (CONFLICT when another process has it open), or only to read it (readOnly). */
  static async open(opts: CoreOptions): Promise<ApolloCore> {
    if (opts.readOnly) {
      const ws = await Workspace.open(opts.home, { readOnly: true, samplesDir: join(opts.resourcesDir, 'samples') });
      return new ApolloCore(ws, opts, { path: '', release: async () => {} }, false);
    }
    const existed = await stat(opts.home).then((s) => s.isDirectory(), () => false);
    if (!existed && opts.create === false) {
      throw new ApolloError('NOT_FOUND', `There is no workspace at ${opts.home} (the folder does not exist). Check --home or $APOLLO_HOME; \`apollo serve\` or \`apollo rollout\` creates a new workspace.`);
    }
    await mkdirPrivate(opts.home);
    const lock = await acquireWorkspaceLock(opts.home, opts.host === 'electron' ? 'the Apollo Workstation app' : `\`apollo ${process.argv[2] ?? ''}\``);
    try {
      const ws = await Workspace.open(opts.home);
      if (opts.samples !== false) await ws.seedSamples(join(opts.resourcesDir, 'samples')).catch((err: Error) => ws.warnings.push(`Could not copy the sample sessions: ${err.message}`));
      const core = new ApolloCore(ws, opts, lock, !existed);
      // Keys a keychain holds from before fingerprints were kept: so the command line redacts them too.
      // Not awaited: a locked keyring may ask its user first, and the app must open meanwhile.
      void core.profiles.rememberVaultKeys().catch((err: Error) => ws.warnings.push(`Could not note the stored endpoint keys for redaction: ${err.message}`));
      return core;
    } catch (err) {
      await lock.release().catch(() => undefined);
      throw err;
    }
  }

  /** Say it to every client when a terminal's recording is held back by a full disk (its program paused), and when it goes on. */
  private noticeRecording(sessionId: string, t: TerminalInfo): void {
    const key = termKey(sessionId, t.id);
    if (t.recordingBlocked && !this.recordingBlocked.has(key)) {
      this.recordingBlocked.add(key);
      this.broadcast('notice', { level: 'error', message: t.recordingBlocked, sessionId });
    } else if (!t.recordingBlocked && this.recordingBlocked.delete(key)) {
      this.broadcast('notice', { level: 'info', message: `Space was freed: terminal ${t.id} records again and its program continues.`, sessionId });
    }
  }

  /** Register more handlers (later domains: rollout, branches, labels, export). */
  use(handlers: HandlerMap): void {
    this.handlers = { ...this.handlers, ...handlers };
  }

  /**
   * A client. `jsonText`: it takes reply fields the core holds serialized as they are
   * (json-text.ts; the web host splices them into its frames); any other gets them decoded.
   */
  connect(send: Connection['send'], opts: { jsonText?: boolean } = {}): { conn: Connection; receive(raw: unknown): Promise<void>; close(): void } {
    const conn: Connection = { id: randomUUID(), send: opts.jsonText ? send : (m) => send(decodeJsonText(m)) };
    this.connections.set(conn.id, conn);
    for (const w of this.ws.warnings) push(conn, 'notice', { level: 'warning', message: w });
    return {
      conn,
      receive: (raw) => dispatch(this.handlers, conn, raw),
      close: () => {
        this.connections.delete(conn.id);
        this.pty.detachEverywhere(conn.id);
        void closeUploads(this, conn.id);
      },
    };
  }

  broadcast<E extends PushEventName>(name: E, payload: PushEvents[E]): void {
    for (const c of this.connections.values()) push(c, name, payload);
  }

  /**
   * Start sending a live terminal's data to `conn` (it shows the terminal now); returns
   * the offset live data starts at. Each connection has its own flow-control account
   * (see pty/ui-stream.ts): the pty waits only for the earliest one that keeps up.
   */
  attach(conn: Connection, sessionId: string, terminalId: string): number {
    return this.pty.attach(sessionId, terminalId, conn.id).offset;
  }

  /** `conn` has processed `bytes` more of the terminal's data. */
  ack(conn: Connection, sessionId: string, terminalId: string, bytes: number): void {
    this.pty.ack(sessionId, terminalId, bytes, conn.id);
  }

  /** `conn` no longer shows the terminal (a hidden tab): it catches up from the recording when it attaches again. */
  detach(conn: Connection, sessionId: string, terminalId: string): void {
    this.pty.detach(sessionId, terminalId, conn.id);
  }

  /** Open a session's log and mirror its new events to every client. */
  async session(id: string): Promise<SessionLog> {
    const s = await this.ws.session(id);
    if (!this.unsubscribers.has(id)) {
      if (s.report.tornTail || s.report.corruptLines.length) this.opts.onLoadReport?.(id, s.report, s.dir);
      // Tokens of new messages are counted as they are recorded, so the first export finds them counted.
      const warmer = new TokenWarmer(s.dir, undefined, undefined, () => this.profiles.secrets(), sessionTextKeys(s));
      const unsubscribe = s.subscribe((event) => {
        this.broadcast('session.event', { sessionId: id, event: compactEvent(event), version: event.seq });
        this.control.onEvent(id, event);
        warmer.take(event);
      });
      const unhook = s.onClose(() => warmer.close());
      // The next open answers from this (open-view.ts); a deleted session's is not written.
      const unkeep = s.readOnly ? () => false : s.afterClose(async () => void (await writeOpenView(s)));
      this.unsubscribers.set(id, () => {
        unsubscribe();
        unhook();
        unkeep();
        return warmer.stop();
      });
    }
    return s;
  }

  /** Stop everything the session runs, then remove it from disk and from every mirror. */
  async deleteSession(id: string): Promise<void> {
    this.ws.entry(id);
    this.control.forget(id);
    await this.rollouts.forget(id);
    await this.pty.closeSession(id);
    // Once the tokens being counted are written: nothing may appear in the folder as it is removed.
    await this.unsubscribers.get(id)?.();
    this.unsubscribers.delete(id);
    await this.ws.remove(id);
    this.notifySessionsChanged();
  }

  async sessionInfo(id: string): Promise<SessionInfo> {
    return this.sessionInfoOf(id, logFacts((await this.session(id)).events));
  }

  /** The session's entry in the list, from what its log says (the loaded log, or the view kept of it). */
  sessionInfoOf(id: string, facts: LogFacts): SessionInfo {
    const entry = this.ws.entry(id);
    const live = this.pty.list(id);
    return {
      id,
      name: entry.name,
      cwd: entry.cwd,
      createdAt: entry.createdAt,
      updatedAt: entry.updatedAt,
      live: live.length > 0,
      terminals: withLive(facts.terminals, live.map((t) => t.info())),
      steps: facts.steps,
      ...(facts.lastStepAt === undefined ? {} : { lastStepAt: facts.lastStepAt }),
      ...this.runOf(id),
    };
  }

  /** Index-only view: cheap, does not open any session log. */
  listSessions(): SessionInfo[] {
    return this.ws.list().map((e) => {
      const live = this.pty.list(e.id).map((t) => t.info());
      return { ...e, live: live.length > 0, terminals: live, steps: e.steps ?? 0, ...this.runOf(e.id) };
    });
  }

  /** The state of the session's rollout in this process, for the session list (absent: none ran here). */
  private runOf(id: string): Pick<SessionInfo, 'run'> {
    const r = this.rollouts.get(id);
    return r ? { run: r.state } : {};
  }

  notifySessionsChanged(): void {
    this.broadcast('sessions.changed', { sessions: this.listSessions() });
  }

  requireLive(sessionId: string, terminalId: string) {
    if (!this.pty.has(sessionId, terminalId)) throw new ApolloError('UNAVAILABLE', `Terminal "${terminalId}" is not running in this session (its process has ended). Open a new terminal to continue.`);
    return this.pty.get(sessionId, terminalId);
  }

  /** The checkpoint budget and file size limit: CLI flags of this process, else the workspace settings, else the defaults. */
  checkpointLimits(): CheckpointLimits {
    return resolveCheckpointLimits((k) => this.ws.getSetting<unknown>(k), this.opts.checkpointLimits);
  }

  /** Name recorded on annotations: the configured annotator, else the OS user. */
  annotator(): string {
    return this.ws.getSetting<string>('annotator') ?? safeUserName();
  }

  /** The annotator's ed25519 key that signs exported bundles, created on first use. */
  async signingKey(): Promise<SigningKey> {
    return (await loadSigningKey(this.opts.signingKeys ?? fileKeyStore(this.opts.home), this.annotator(), { create: true }))!;
  }

  /** Stop everything and commit what is pending; safe to call more than once (quit paths overlap). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      try {
        await exportManager(this).cancelAll();
        await mergeManager(this).cancelAll();
        await closeUploads(this);
        // A rollout stops once its running tool call ends, and a command that does not end
        // (a training job, a read from a pipe) would hold the quit for run_command's 5-minute
        // timeout: after a short grace the terminals end, which ends the call (it records
        // the shell's exit), and the rollout records that it stopped.
        const stopping = this.rollouts.stopAll();
        let grace: NodeJS.Timeout | undefined;
        await Promise.race([stopping, new Promise<void>((r) => (grace = setTimeout(r, CLOSE_GRACE_MS)))]);
        clearTimeout(grace);
        await this.pty.dispose();
        await stopping;
        await this.ws.close();
        await closeCheckpointReaders(this).catch(() => undefined);
      } finally {
        await this.lock.release().catch(() => undefined);
      }
    })();
    return this.closing;
  }
}

const termKey = (s: string, t: string) => `${s}\u0000${t}`;

function safeUserName(): string {
  try {
    return userInfo().username || 'annotator';
  } catch {
    return 'annotator';
  }
}
