// The part every environment reached through an engine shares: files, search and
// one-off commands as small POSIX sh scripts run by the engine's client (`ssh host sh
// -c …`, `docker exec -i box sh -c …`, `kubectl exec -i pod -- sh -c …`), data over
// the command's stdin and stdout; terminals as the engine's interactive client running
// a launcher script written into the environment first; the shell integration sent
// over the same channel. Subclasses only say how to build those command lines and
// how to tell whether the environment is reachable.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, posix } from 'node:path';
import { ApolloError, errorText } from '../../../shared/errors';
import type { EnvRecord } from '../../../shared/events';
import { describeEnvTarget, type EnvKind, type EnvSpec } from '../../../shared/environments';
import { resolveExecutable } from '../pty/shell';
import type { Checkpoints, CheckpointOpenOptions } from './checkpoints';
import { RemoteCheckpointStore } from './remote-checkpoints';
import {
  childProcessesScript, EXIT_ERRNO, parseProcesses, PROBE_SCRIPT, fsError, listScript, parseList, parseProbe, parseSearch, readScript, resolvePosix, searchScript, shq, statScript, writeScript,
  type Probe,
} from './posix';
import { lastLine, runProcess, SpawnFailure } from './process';
import {
  parsePersistStart, persistPaths, persistRelayScript, persistStartScript, reattachMark, TMUX_LIST, tmuxSessionName, tmuxUsable, TmuxRelayPty,
} from './tmux';
import type {
  ConnectionState, DirEntry, EnvDescription, Environment, ExecOptions, ExecResult, FileStat, SearchHit, TerminalLaunch, TerminalRequest,
} from './types';
import { CONNECTION_LOST } from './types';

export interface EnvContext {
  sessionId: string;
  /** The session's folder on this machine (an image-started container keeps its state there). */
  sessionDir?: string;
  /** Environment of this process for engine clients (default process.env). */
  processEnv?: () => NodeJS.ProcessEnv;
  /**
   * The profile of that name as saved in the settings: where a spec read back from a log
   * finds the real values of the options redacted in it (spec-secrets.ts).
   */
  savedSpec?: (name: string) => Promise<EnvSpec | undefined>;
}

/** A command line of an engine's client. */
export interface EngineCommand {
  file: string;
  args: string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DEFAULT_STATE_DIR = '~/.apollo-workstation';
const INTEGRATION_FILES = ['bash/apollo.bash', 'zsh/.zshenv', 'zsh/.zprofile', 'zsh/.zshrc'] as const;

interface Prepared {
  probe: Probe;
  stateDir: string;
}

export abstract class ExecEnvironment implements Environment {
  readonly kind: EnvKind;
  readonly name: string;
  private prepared: Promise<Prepared> | null = null;
  private integration: Promise<string | null> | null = null;
  private readonly lostListeners = new Set<(reason: string) => void>();
  /** Per tmux session: bytes of its pane log a terminal has passed on (a re-attached one goes on from there). */
  private readonly tmuxDelivered = new Map<string, number>();
  /** Terminal id → its tmux session, for the terminals started in one. */
  private readonly tmuxSessions = new Map<string, string>();
  /** Terminal id → the file there its launcher wrote the shell's pid to. */
  private readonly shellPidFiles = new Map<string, string>();
  protected disposed = false;

  constructor(
    readonly spec: EnvSpec,
    protected readonly ctx: EnvContext,
  ) {
    this.kind = spec.kind;
    this.name = spec.name;
  }

  /** The engine's client program (looked up on PATH). */
  protected abstract readonly engine: string;
  /** Arguments that run `sh -c script` in the environment, stdin and stdout piped. */
  abstract execArgs(script: string): string[];
  /** Arguments that run `sh launcher` in the environment on a terminal. */
  abstract terminalArgs(launcher: string): string[];
  /** Make the environment usable (connect, start the container); throws UNAVAILABLE with the reason. */
  protected abstract ready(): Promise<void>;
  /** Is it reachable right now? (the container runs, the pod is Running, the ssh master is up) */
  protected abstract alive(): Promise<boolean>;
  /** Does this failed client run look like the engine failing (rather than the script)? */
  protected abstract transportFailed(r: ExecResult): boolean;

  record(): EnvRecord {
    return { name: this.name, kind: this.kind, target: describeEnvTarget(this.spec) };
  }

  protected processEnv(): NodeJS.ProcessEnv {
    return this.ctx.processEnv?.() ?? process.env;
  }

  // ---- one-off commands ---------------------------------------------------------

  async exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    await this.ready();
    return this.execReady(script, opts);
  }

  /** exec without waiting for ready() (used while connecting). */
  protected async execReady(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (Buffer.byteLength(script) > 100_000) throw new ApolloError('INTERNAL', 'An environment script over 100 kB must go over stdin (see RUN_STDIN_SCRIPT).');
    let r;
    try {
      r = await runProcess(this.engine, this.execArgs(script), {
        stdin: opts.stdin, env: this.processEnv(), cwd: homedir(), timeoutMs: opts.timeoutMs ?? 120_000, maxBytes: opts.maxBytes, signal: opts.signal,
      });
    } catch (e) {
      if (e instanceof SpawnFailure) throw new ApolloError('UNAVAILABLE', `Cannot reach ${describeEnvTarget(this.spec)}: ${e.message}.`);
      throw e;
    }
    if (r.killed === 'aborted') throw new ApolloError('CANCELLED', `A command in ${this.name} was stopped.`);
    if (r.killed === 'timeout') throw new ApolloError('IO', `A command in ${describeEnvTarget(this.spec)} timed out.`);
    if (r.killed === 'overflow') throw new ApolloError('IO', `A command in ${describeEnvTarget(this.spec)} produced too much output.`);
    const result: ExecResult = { code: r.code, stdout: r.stdout, stderr: r.stderr };
    if (!(opts.ok ?? [0]).includes(r.code) && this.transportFailed(result) && !(await this.checkConnection())) throw this.lostError();
    if (!(opts.ok ?? [0]).includes(r.code)) throw new EnvExecError(this.name, result);
    return result;
  }

  /** The error of an operation cut off by a lost connection. */
  lostError(): ApolloError {
    return new ApolloError('UNAVAILABLE', `The connection to ${describeEnvTarget(this.spec)} (environment ${this.name}) was lost: ${this.lostReason() ?? 'it stopped answering'}.`, {
      cause: CONNECTION_LOST, env: this.name,
    });
  }

  // ---- facts ----------------------------------------------------------------------

  protected prepare(): Promise<Prepared> {
    this.prepared ??= (async () => {
      const r = await this.exec(PROBE_SCRIPT);
      const probe = parseProbe(r.stdout.toString('utf8'));
      if (!probe.home.startsWith('/')) probe.home = '/';
      const stateDir = resolvePosix(probe.home, probe.home, this.spec.stateDir ?? DEFAULT_STATE_DIR);
      return { probe, stateDir };
    })();
    this.prepared.catch(() => (this.prepared = null));
    return this.prepared;
  }

  async describe(): Promise<EnvDescription> {
    const t0 = Date.now();
    await this.exec('true');
    const latencyMs = Date.now() - t0;
    const { probe } = await this.prepare();
    return {
      name: this.name, kind: this.kind, target: describeEnvTarget(this.spec), system: probe.system || undefined, home: probe.home,
      shell: probe.shell || probe.bash || '/bin/sh', git: probe.git || null, tmux: this.spec.tmux !== false && tmuxUsable(probe.tmuxv, probe.tailpid === '1'), latencyMs,
    };
  }

  async home(): Promise<string> {
    return (await this.prepare()).probe.home;
  }

  async resolvePath(base: string, p: string): Promise<string> {
    const needsHome = p === '~' || p.startsWith('~/') || (!p.startsWith('/') && (base === '~' || base.startsWith('~/')));
    return resolvePosix(needsHome ? await this.home() : '/', base, p);
  }

  // ---- files ------------------------------------------------------------------------

  private async fileOp(script: string, path: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.exec(script, { ...opts, ok: [0, 2, 13, 20, 21] });
    const errno = EXIT_ERRNO[r.code];
    if (r.code !== 0 && errno) {
      const what = { ENOENT: 'no such file or directory', EACCES: 'permission denied', ENOTDIR: 'not a directory', EISDIR: 'is a directory' }[errno] ?? errno;
      throw fsError(errno, path, `${what} in ${this.name}`);
    }
    return r;
  }

  async stat(path: string): Promise<FileStat | null> {
    const r = await this.exec(statScript(path), { ok: [0, 2] });
    if (r.code === 2) return null;
    const [kind, size] = r.stdout.toString('utf8').trim().split(' ');
    return { kind: kind === 'dir' ? 'dir' : kind === 'file' ? 'file' : 'other', size: Number(size) || 0 };
  }

  async readFile(path: string, maxBytes = 256 * 1024 * 1024): Promise<Buffer> {
    return (await this.fileOp(readScript(path), path, { maxBytes })).stdout;
  }

  async writeFile(path: string, data: Buffer | string): Promise<{ existed: boolean }> {
    const r = await this.fileOp(writeScript(path), path, { stdin: data });
    return { existed: r.stdout.toString('utf8').trim() === '1' };
  }

  async list(dir: string): Promise<DirEntry[]> {
    return parseList((await this.fileOp(listScript(dir), dir)).stdout);
  }

  async search(dir: string, text: string, max = 200): Promise<SearchHit[]> {
    return parseSearch((await this.fileOp(searchScript(dir, text, max), dir)).stdout);
  }

  async mkdirp(path: string): Promise<void> {
    await this.fileOp(`mkdir -p -- ${shq(path)} 2>/dev/null || exit 13`, path);
  }

  // ---- checkpoints ---------------------------------------------------------------------

  async checkpoints(opts: CheckpointOpenOptions): Promise<Checkpoints> {
    const off = await this.checkpointsOff(opts.workDir);
    if (off) throw new ApolloError('UNAVAILABLE', off);
    const { stateDir } = await this.prepare();
    return RemoteCheckpointStore.open({
      env: this, storeDir: posix.join(stateDir, 'checkpoints', opts.sessionId), workDir: opts.workDir, excludes: opts.excludes,
      maxFileBytes: opts.maxFileBytes, budgetBytes: opts.budgetBytes,
    });
  }

  async checkpointsOff(workDir: string): Promise<string | null> {
    const { probe } = await this.prepare();
    if (!probe.git) {
      return `Checkpoints are off: there is no git in ${describeEnvTarget(this.spec)} (environment ${this.name}), so its files cannot be snapshotted there and rewind is disabled. Install git there to be able to rewind.`;
    }
    const dir = posix.normalize(workDir).replace(/(.)\/$/, '$1');
    if (dir === probe.home || dir === '/') {
      return `Checkpoints are off: the working directory ${dir} is the home folder or the root of ${this.name}. Start the session in a project folder to be able to rewind.`;
    }
    return null;
  }

  // ---- terminals -------------------------------------------------------------------

  /** Send the shell integration scripts once per version; returns their folder (null: not available). */
  private uploadIntegration(resourcesDir: string): Promise<string | null> {
    this.integration ??= (async () => {
      const files: Array<[string, string]> = [];
      for (const f of INTEGRATION_FILES) {
        const text = await readFile(join(resourcesDir, 'shell-integration', f), 'utf8').catch(() => null);
        if (text === null) return null;
        files.push([f, text]);
      }
      const hash = createHash('sha256').update(JSON.stringify(files)).digest('hex').slice(0, 16);
      const { stateDir } = await this.prepare();
      const dir = posix.join(stateDir, 'shell', hash);
      const script = [
        `d=${shq(dir)}`,
        `[ -f "$d/.complete" ] && exit 0`,
        `umask 077`,
        `mkdir -p -- "$d/bash" "$d/zsh" || exit 13`,
        ...files.map(([f, text]) => `printf '%s' ${shq(text)} > "$d/${f}" || exit 13`),
        `: > "$d/.complete"`,
      ].join('\n');
      await this.exec(script);
      return dir;
    })();
    this.integration.catch(() => (this.integration = null));
    return this.integration;
  }

  async planTerminal(req: TerminalRequest): Promise<TerminalLaunch> {
    let prepared: Prepared;
    try {
      prepared = await this.prepare();
    } catch (e) {
      throw spawnError(`Cannot start a terminal in ${this.name}`, e);
    }
    const { probe, stateDir } = prepared;
    const given = req.spec.command?.trim() ?? '';
    const isDefaultShell = given === '';
    const command = isDefaultShell ? probe.shell || probe.bash || '/bin/sh' : given;
    const userArgs = req.spec.args ?? [];
    const base = posix.basename(command);
    const mayInject = req.shellIntegration && userArgs.length === 0 && (base === 'bash' || base === 'zsh');
    const integrationDir = mayInject ? await this.uploadIntegration(req.resourcesDir).catch(() => null) : null;

    const vars: Record<string, string | null> = {
      TERM: 'xterm-256color', COLORTERM: 'truecolor', TERM_PROGRAM: 'apollo', APOLLO_SESSION_ID: req.sessionId, APOLLO_TERMINAL_ID: req.spec.id,
    };
    const restoreNames: string[] = [];
    for (const [name, value] of Object.entries(req.restoreEnv ?? {})) {
      if (!ENV_NAME.test(name) || name.startsWith('APOLLO_RESTORE_')) {
        throw new ApolloError('BAD_REQUEST', `Invalid environment variable name "${name.slice(0, 80)}"`);
      }
      vars[name] = value;
      restoreNames.push(name);
    }
    let exec: string;
    let markNonce: string | undefined;
    const lines: string[] = [];
    if (integrationDir) {
      markNonce = randomBytes(12).toString('hex');
      vars.APOLLO_MARK_NONCE = markNonce;
      // The integration re-applies restored values after the user's startup files.
      if (restoreNames.length) {
        vars.APOLLO_RESTORE_VARS = restoreNames.join(' ');
        for (const n of restoreNames) if (req.restoreEnv![n] !== null) vars[`APOLLO_RESTORE_ENV_${n}`] = req.restoreEnv![n]!;
      }
      if (base === 'bash') {
        if (isDefaultShell) vars.APOLLO_SHELL_LOGIN = '1';
        exec = `exec ${shq(command)} --rcfile ${shq(`${integrationDir}/bash/apollo.bash`)} -i`;
      } else {
        lines.push(`APOLLO_USER_ZDOTDIR=\${ZDOTDIR:-$HOME}; export APOLLO_USER_ZDOTDIR`);
        vars.ZDOTDIR = `${integrationDir}/zsh`;
        exec = `exec ${shq(command)} ${isDefaultShell ? '-l -i' : '-i'}`;
      }
    } else {
      exec = `exec ${shq(command)} ${(isDefaultShell ? ['-l'] : userArgs).map(shq).join(' ')}`;
    }
    // The shell keeps the launcher's pid (exec): check_session_idle lists its children.
    const pidFile = posix.join(stateDir, 'run', `${req.sessionId.replace(/[^A-Za-z0-9_-]/g, '_')}-${req.spec.id}.pid`);
    const launcher = [
      '# Apollo terminal launcher: sets up one terminal, then removes itself.',
      'rm -f -- "$0"',
      `echo $$ > ${shq(pidFile)}`,
      ...lines,
      ...Object.entries(vars).map(([k, v]) => (v === null ? `unset ${k}` : `${k}=${shq(v)}; export ${k}`)),
      `cd -- ${shq(req.cwd)} || exit 1`,
      exec,
      '',
    ].join('\n');
    const written = await this.exec(
      [
        'umask 077',
        `d=${shq(posix.join(stateDir, 'run'))}`,
        `mkdir -p -- "$d" || exit 13`,
        `[ -d ${shq(req.cwd)} ] || exit 3`,
        `command -v ${shq(command)} >/dev/null 2>&1 || exit 127`,
        `f="$d/${req.sessionId.slice(0, 8)}-${req.spec.id}-${randomBytes(4).toString('hex')}.sh"`,
        `cat > "$f" || exit 13`,
        `printf '%s' "$f"`,
      ].join('\n'),
      { stdin: launcher, ok: [0, 3, 13, 127] },
    ).catch((e: unknown) => {
      throw spawnError(`Cannot start "${command}" in ${this.name}`, e);
    });
    if (written.code === 3) throw new ApolloError('SPAWN_FAILED', `Cannot start the terminal: working folder "${req.cwd}" does not exist in ${this.name}.`);
    if (written.code === 127) throw new ApolloError('SPAWN_FAILED', `Cannot start "${command}" in ${this.name}: command not found on its PATH.`);
    if (written.code !== 0) throw new ApolloError('SPAWN_FAILED', `Cannot start "${command}" in ${this.name}: cannot write under ${stateDir} (${lastLine(written.stderr) || 'permission denied'}).`);
    const file = await resolveExecutable(this.engine, homedir(), this.processEnv().PATH);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.env)) if (v !== undefined) env[k] = v;
    delete env.ELECTRON_RUN_AS_NODE;
    delete env.ELECTRON_NO_ATTACH_CONSOLE;
    env.TERM = 'xterm-256color';
    const launcherPath = written.stdout.toString('utf8').trim();
    this.shellPidFiles.set(req.spec.id, pidFile);
    if (integrationDir && markNonce && this.spec.tmux !== false && tmuxUsable(probe.tmuxv, probe.tailpid === '1')) {
      const kept = await this.planTmuxTerminal(req, posix.join(stateDir, 'run'), launcherPath, markNonce, command);
      if (kept) return { file, command, args: kept.args, env, spawnCwd: homedir(), integrated: true, markNonce: kept.nonce, open: (size) => kept.open(file, env, size), tmuxSession: kept.name };
    }
    return {
      file, command, args: this.terminalArgs(launcherPath), env, spawnCwd: homedir(),
      integrated: integrationDir !== null, ...(markNonce ? { markNonce } : {}),
    };
  }

  /**
   * Start (or find again) the terminal's tmux session; null when tmux would not start
   * it (the terminal then runs plainly, as without tmux). See tmux.ts.
   */
  private async planTmuxTerminal(req: TerminalRequest, runDir: string, launcher: string, nonce: string, shell: string) {
    const name = tmuxSessionName(req.sessionId, req.spec.id);
    const paths = persistPaths(runDir, name);
    const r = await this.exec(persistStartScript(paths, launcher, nonce, shell), { ok: [0, 13, 14] }).catch((e: unknown) => {
      throw spawnError(`Cannot start "${shell}" in ${this.name}`, e);
    });
    const start = r.code === 0 ? parsePersistStart(r.stdout.toString('utf8')) : null;
    if (!start) return null;
    // Where this process's last client of the session stopped reading its log, else its end.
    const from = start.kind === 'new' ? 0 : Math.min(this.tmuxDelivered.get(name) ?? start.logBytes, start.logBytes);
    this.tmuxDelivered.set(name, from);
    this.tmuxSessions.set(req.spec.id, name);
    const args = this.execArgs(persistRelayScript(paths, from));
    return {
      name, nonce: start.nonce, args,
      open: (file: string, env: Record<string, string>, size: { cols: number; rows: number }) =>
        new TmuxRelayPty({
          file, args, env, cwd: homedir(), ...size, name,
          ...(start.kind === 'attach' ? { preamble: reattachMark(start.busy) } : {}),
          delivered: (n) => this.tmuxDelivered.set(name, from + n),
        }),
    };
  }

  // ---- connection ----------------------------------------------------------------------

  private state: ConnectionState = 'connected';
  private reason: string | null = null;

  connectionState(): ConnectionState {
    return this.state;
  }

  lostReason(): string | null {
    return this.reason;
  }

  /** Subclasses report a drop here (and call connected() when it is back). */
  protected markLost(reason: string): void {
    if (this.disposed || this.state === 'lost') return;
    this.state = 'lost';
    this.reason = reason;
    for (const l of this.lostListeners) {
      try {
        l(reason);
      } catch {
        // a listener's failure is not the environment's
      }
    }
  }

  protected markConnected(): void {
    this.state = 'connected';
    this.reason = null;
  }

  async checkConnection(): Promise<boolean> {
    if (this.disposed) return false;
    const up = await this.alive().catch(() => false);
    if (up) this.markConnected();
    else this.markLost(this.reason ?? `${describeEnvTarget(this.spec)} does not answer`);
    return up;
  }

  waitConnected(signal?: AbortSignal): Promise<void> {
    if (this.state === 'connected') return Promise.resolve();
    return this.pollUntilAlive(signal);
  }

  /** Back off between checks (0.5 s doubling to 15 s) until alive() says yes. */
  protected async pollUntilAlive(signal?: AbortSignal): Promise<void> {
    for (let delay = 500; ; delay = Math.min(delay * 2, 15_000)) {
      if (signal?.aborted) throw new ApolloError('CANCELLED', 'Stopped waiting for the connection.');
      if (this.disposed) throw new ApolloError('UNAVAILABLE', `Environment ${this.name} was closed.`);
      if (await this.alive().catch(() => false)) {
        this.markConnected();
        return;
      }
      await abortableDelay(delay, signal);
    }
  }

  async terminalProcesses(terminal: { id: string }): Promise<string[]> {
    const file = this.shellPidFiles.get(terminal.id);
    if (!file) return [];
    const r = await this.exec(childProcessesScript(`$(cat ${shq(file)} 2>/dev/null)`), { timeoutMs: 10_000 });
    return parseProcesses(r.stdout.toString('utf8'));
  }

  keepsTerminal(terminalId: string): boolean {
    return this.tmuxSessions.has(terminalId);
  }

  async keptTerminals(): Promise<string[]> {
    if (this.tmuxSessions.size === 0) return [];
    const r = await this.exec(`${TMUX_LIST} 2>/dev/null; exit 0`);
    const alive = new Set(r.stdout.toString('utf8').split('\n'));
    return [...this.tmuxSessions].filter(([, name]) => alive.has(name)).map(([id]) => id);
  }

  onLost(listener: (reason: string) => void): () => void {
    this.lostListeners.add(listener);
    return () => this.lostListeners.delete(listener);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }
}

/** A script that ended with an exit code its caller did not expect. */
export class EnvExecError extends ApolloError {
  constructor(env: string, readonly result: ExecResult) {
    super('IO', `A command in environment ${env} failed (exit ${result.code}): ${lastLine(result.stderr) || 'no message'}`, { exitCode: result.code });
  }
}

function spawnError(what: string, e: unknown): ApolloError {
  if (e instanceof ApolloError && (e.code === 'SPAWN_FAILED' || e.code === 'BAD_REQUEST')) return e;
  const msg = errorText(e);
  const err = new ApolloError('SPAWN_FAILED', `${what}: ${msg}`, e instanceof ApolloError ? e.details : undefined);
  return err;
}

export function abortableDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ApolloError('CANCELLED', 'Stopped waiting.'));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(new ApolloError('CANCELLED', 'Stopped waiting.'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
