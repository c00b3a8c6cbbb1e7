// The live terminals of all sessions: spawning (with shell integration), lookup,
// UI attach/ack accounting and shutdown. See terminal.ts for one terminal.
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import type { TerminalSpec } from '../../../shared/types';
import type { SessionLog } from '../store/workspace';
import { environmentFor } from '../env/registry';
import type { Environment } from '../env/types';
import { checkCwd, planLaunch } from './shell';
import { PtyTerminal, type TerminalLimits } from './terminal';
import type { LiveTerminal, PtyHostEvents } from './types';
import { DEFAULT_FLOW } from './ui-stream';

export type { TerminalLimits };

export const DEFAULT_LIMITS: TerminalLimits = {
  ...DEFAULT_FLOW,
  // A flood faster than the disk must not pile up in memory.
  diskHighWatermark: 32 * 1024 * 1024,
  diskLowWatermark: 8 * 1024 * 1024,
  maxTextBytes: 8 * 1024 * 1024,
  promptWaitMs: 10_000,
};

export interface PtyHostOptions {
  /** Folder holding `shell-integration/` (the app's resources folder, unpacked). */
  resourcesDir: string;
  events: PtyHostEvents;
  /** Environment for new terminals (default process.env); a function is asked at each start. */
  env?: NodeJS.ProcessEnv | (() => NodeJS.ProcessEnv);
  /** Flow-control and size limits (tests lower them). */
  limits?: Partial<TerminalLimits>;
}

export type CreateSpec = TerminalSpec & {
  cols?: number;
  rows?: number;
  /** Inject OSC 133 / OSC 7 shell integration into bash and zsh (default true). */
  shellIntegration?: boolean;
  /**
   * Environment to restore (a rewound terminal): these values replace the inherited
   * ones (null: unset), and an integrated bash/zsh applies them again after the
   * user's startup files, which may reset PATH and the like.
   */
  env?: Record<string, string | null>;
  /**
   * Where the shell runs (default: the session's environment, see env/registry.ts);
   * `cwd` is then a folder there. A session may mix them (a local notes shell beside
   * the remote training shell).
   */
  environment?: Environment;
};

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** How long to watch a new process for an exec failure before calling it started. */
const PROBE_MS = 150;

export class PtyHost {
  private readonly sessions = new Map<string, Map<string, PtyTerminal>>();
  /** Ids being created, to refuse a concurrent duplicate. */
  private readonly starting = new Set<string>();
  private readonly resourcesDir: string;
  private readonly events: PtyHostEvents;
  private readonly envSource: NodeJS.ProcessEnv | (() => NodeJS.ProcessEnv);
  private readonly limits: TerminalLimits;
  private disposed = false;
  /** Sessions whose close already ends their terminals. */
  private readonly hooked = new WeakSet<SessionLog>();

  constructor(opts: PtyHostOptions) {
    this.resourcesDir = opts.resourcesDir;
    this.events = opts.events;
    this.envSource = opts.env ?? process.env;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
  }

  /**
   * Start a terminal in `session`. Records `terminal.started`, or `terminal.failed`
   * and throws SPAWN_FAILED (the session stays usable). CONFLICT when a live terminal
   * with this id exists; an exited one is replaced (its recording continues).
   */
  async create(session: SessionLog, spec: CreateSpec): Promise<LiveTerminal> {
    if (this.disposed) throw new ApolloError('UNAVAILABLE', 'The terminal host is shutting down.');
    if (!ID_RE.test(spec.id)) {
      throw new ApolloError('BAD_REQUEST', `Invalid terminal id "${spec.id}": use letters, digits, "_", "-" or "." (at most 64).`);
    }
    const key = `${session.id}\0${spec.id}`;
    const existing = this.sessions.get(session.id)?.get(spec.id);
    if (this.starting.has(key) || (existing && existing.info().status !== 'exited')) {
      throw new ApolloError('CONFLICT', `Terminal ${spec.id} already exists in this session.`);
    }
    const cols = spec.cols ?? 120;
    const rows = spec.rows ?? 30;
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1) {
      throw new ApolloError('BAD_REQUEST', `Invalid terminal size ${cols}x${rows}`);
    }
    this.starting.add(key);
    const env = typeof this.envSource === 'function' ? this.envSource() : this.envSource;
    const commandLabel = spec.command?.trim() || env.SHELL || '/bin/bash';
    try {
      let term: PtyTerminal;
      try {
        const environment = spec.environment ?? environmentFor(session);
        const remote = environment.kind !== 'local';
        // A remote folder is resolved (and checked) in its environment; the local process starts in plan.spawnCwd.
        // A local shell in a session that works elsewhere starts from the home folder, not the remote path.
        const localBeside = !remote && environmentFor(session).kind !== 'local';
        const cwd = remote
          ? await environment.resolvePath(this.baseCwd(session) || '~', spec.cwd ?? '')
          : this.resolveCwd(session, spec.cwd, localBeside ? homedir() : undefined);
        if (!remote) await checkCwd(cwd);
        const request = {
          spec,
          cwd,
          env,
          resourcesDir: this.resourcesDir,
          shellIntegration: spec.shellIntegration ?? true,
          sessionId: session.id,
          restoreEnv: spec.env,
        };
        const plan = remote ? await environment.planTerminal(request) : { ...(await planLaunch(request)), spawnCwd: cwd };
        const recording = await session.recording(spec.id);
        let pty;
        try {
          const open = 'open' in plan ? plan.open : undefined;
          // node-pty (and its native addon) loads with the first local terminal, not with every command that opens the core.
          pty = open ? open({ cols, rows }) : (await import('node-pty')).spawn(plan.file, plan.args, { name: 'xterm-256color', cols, rows, cwd: plan.spawnCwd, env: plan.env, encoding: null });
        } catch (e) {
          throw new ApolloError('SPAWN_FAILED', `Cannot start "${plan.command}": ${(e as Error).message}`);
        }
        term = new PtyTerminal({
          session,
          id: spec.id,
          recording,
          pty,
          command: plan.command,
          args: spec.args ?? [],
          cwd,
          cols,
          rows,
          integrated: plan.integrated,
          markNonce: plan.markNonce,
          envRecord: environment.record() ?? undefined,
          events: this.events,
          limits: this.limits,
        });
        const failure = await term.probeStart(PROBE_MS);
        if (failure) throw new ApolloError('SPAWN_FAILED', failure);
      } catch (e) {
        const err = e instanceof ApolloError ? e : new ApolloError('SPAWN_FAILED', `Cannot start "${commandLabel}": ${(e as Error).message}`);
        if (err.code === 'SPAWN_FAILED') {
          await session.append({ type: 'terminal.failed', terminalId: spec.id, command: commandLabel, error: err.message }).catch(() => undefined);
        }
        throw err;
      }
      if (this.disposed || session.closed) {
        // The host was disposed, or the session closed (deleted), while the process
        // started: nobody would ever end it.
        void term.begin();
        await term.kill();
        throw new ApolloError('UNAVAILABLE', this.disposed ? 'The terminal host is shutting down.' : `Session ${session.id} was closed while terminal ${spec.id} was starting.`);
      }
      let terms = this.sessions.get(session.id);
      if (!terms) this.sessions.set(session.id, (terms = new Map()));
      terms.set(spec.id, term);
      if (!this.hooked.has(session)) {
        this.hooked.add(session);
        // A session that closes (deleted, workspace closed) takes its terminals with it.
        session.onClose(() => this.closeSession(session.id));
      }
      await term.begin();
      return term;
    } finally {
      this.starting.delete(key);
    }
  }

  /** The session's working directory as recorded (a path in its environment). */
  private baseCwd(session: SessionLog): string | undefined {
    for (const ev of session.events) if (ev.type === 'session.created') return ev.cwd;
    return undefined;
  }

  private resolveCwd(session: SessionLog, cwd: string | undefined, baseOverride?: string): string {
    const base = baseOverride ?? (this.baseCwd(session) || homedir());
    if (!cwd) return base;
    if (cwd === '~' || cwd.startsWith('~/')) return join(homedir(), cwd.slice(1));
    return isAbsolute(cwd) ? cwd : resolve(base, cwd);
  }

  /** The terminal, live or exited; NOT_FOUND otherwise. */
  get(sessionId: string, terminalId: string): LiveTerminal {
    return this.term(sessionId, terminalId);
  }

  has(sessionId: string, terminalId: string): boolean {
    return this.sessions.get(sessionId)?.has(terminalId) ?? false;
  }

  list(sessionId: string): LiveTerminal[] {
    return [...(this.sessions.get(sessionId)?.values() ?? [])];
  }

  /**
   * A UI (`consumer`: a client id) starts showing this terminal. Returns the recording
   * offset from which live `data` events follow; the UI replays everything before it
   * from the recording. Without any attached UI no `data` events are emitted and
   * nothing is buffered.
   */
  attach(sessionId: string, terminalId: string, consumer?: string): { offset: number } {
    return { offset: this.term(sessionId, terminalId).attach(consumer) };
  }

  /** The UI stops showing it (hidden, closed): what it was owed is forgotten. */
  detach(sessionId: string, terminalId: string, consumer?: string): void {
    this.sessions.get(sessionId)?.get(terminalId)?.detach(consumer);
  }

  /** A client has gone: it shows no terminal any more. */
  detachEverywhere(consumer: string): void {
    for (const terms of this.sessions.values()) for (const t of terms.values()) t.detach(consumer);
  }

  /** The UI has processed `bytes` (sum of `data` events' `bytes`). */
  ack(sessionId: string, terminalId: string, bytes: number, consumer?: string): void {
    this.sessions.get(sessionId)?.get(terminalId)?.ack(bytes, consumer);
  }

  /** Kill a terminal, record `terminal.closed` and forget it. */
  async close(session: SessionLog, terminalId: string): Promise<void> {
    const t = this.term(session.id, terminalId);
    await t.kill();
    this.sessions.get(session.id)?.delete(terminalId);
    await session.append({ type: 'terminal.closed', terminalId }).catch(() => undefined);
  }

  /** Kill all terminals of a session (each records `terminal.exited`) and forget them. */
  async closeSession(sessionId: string): Promise<void> {
    const terms = this.sessions.get(sessionId);
    if (!terms) return;
    await Promise.all([...terms.values()].map((t) => t.kill()));
    this.sessions.delete(sessionId);
  }

  /** Kill everything (app quit). */
  async dispose(): Promise<void> {
    this.disposed = true;
    await Promise.all([...this.sessions.keys()].map((id) => this.closeSession(id)));
  }

  private term(sessionId: string, terminalId: string): PtyTerminal {
    const t = this.sessions.get(sessionId)?.get(terminalId);
    if (!t) throw new ApolloError('NOT_FOUND', `No terminal ${terminalId} in session ${sessionId}`);
    return t;
  }
}
