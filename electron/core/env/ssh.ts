// An SSH host, through the system's `ssh` with the user's own config, keys and agent.
// One connection per session: a master (`ssh -M -N`, ControlMaster) whose control
// socket lives in a private (0700) folder of this machine; every command, file
// operation and terminal is a client multiplexed over it, so nothing authenticates
// twice and a dropped connection is one event (the master exits). Non-interactive
// commands run with BatchMode=yes: a missing key or an unknown host key fails with
// ssh's own message instead of waiting for a password nobody will type.
//
// After a drop the master is restarted in the background (backing off to 15 s);
// waitConnected() resolves when it is back.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import { describeEnvTarget, type SshEnvSpec } from '../../../shared/environments';
import { Redactor } from '../dataset/redact';
import { shq } from './posix';
import { lastLine, runProcess } from './process';
import { abortableDelay, ExecEnvironment, type EnvContext } from './remote';
import { optionSecrets, resolveOptions } from './spec-secrets';
import type { ExecResult } from './types';

/** How long the first connection (and each reconnection) may take, authentication included. */
const CONNECT_TIMEOUT_MS = 30_000;
/** ssh's own failures (connection, authentication) exit with 255. */
const SSH_FAILED = 255;

const masters = new Set<ChildProcess>();
let exitHooked = false;
/** Masters must not outlive this process (they would hold the connection open). */
function hookProcessExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const m of masters) m.kill('SIGTERM');
  });
}

export class SshEnvironment extends ExecEnvironment {
  protected readonly engine = 'ssh';
  private controlDir: string | null = null;
  private master: ChildProcess | null = null;
  private masterExited: Promise<void> | null = null;
  private connecting: Promise<void> | null = null;
  private reconnecting: Promise<void> | null = null;
  private everConnected = false;
  /** Aborted by dispose(): ends the reconnect loop's waits. */
  private readonly closing = new AbortController();
  /**
   * The options ssh is given: the spec's, with the real values of those redacted in it
   * (spec-secrets.ts); null until found, for a spec read back from a log.
   */
  private options: string[] | null;
  /** Redacts ssh's messages, which can quote an option (ProxyCommand, under -v). */
  private messages: Redactor | null = null;

  constructor(
    override readonly spec: SshEnvSpec,
    ctx: EnvContext,
  ) {
    super(spec, ctx);
    this.options = resolveOptions(spec);
  }

  /** The control socket (in a private folder made at the first connection). */
  get controlPath(): string {
    return join(this.controlDir ?? '<control-dir>', 'cm');
  }

  /** Options every client and the master share; ours first (ssh keeps the first value of an option). */
  baseArgs(): string[] {
    const s = this.spec;
    return [
      '-o', `ControlPath=${this.controlPath}`,
      ...(s.port ? ['-p', String(s.port)] : []),
      ...(s.user ? ['-l', s.user] : []),
      ...(s.identity ? ['-i', s.identity] : []),
      ...(this.options ?? []).flatMap((o) => ['-o', o]),
    ];
  }

  /** The master: authenticates once, holds the connection, runs nothing. */
  masterArgs(): string[] {
    return [
      '-M', '-N', '-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', '-o', 'BatchMode=yes',
      '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=3', '-o', `ConnectTimeout=${CONNECT_TIMEOUT_MS / 1000}`,
      ...this.baseArgs(), this.spec.host,
    ];
  }

  execArgs(script: string): string[] {
    return ['-T', '-o', 'ControlMaster=no', '-o', 'BatchMode=yes', ...this.baseArgs(), this.spec.host, '--', `sh -c ${shq(script)}`];
  }

  terminalArgs(launcher: string): string[] {
    return ['-tt', '-o', 'ControlMaster=no', '-o', 'BatchMode=yes', ...this.baseArgs(), this.spec.host, '--', `sh ${shq(launcher)}`];
  }

  /** `ssh -O check`: is the master up and answering on its socket? */
  checkArgs(): string[] {
    return ['-O', 'check', ...this.baseArgs(), this.spec.host];
  }

  protected transportFailed(r: ExecResult): boolean {
    return r.code === SSH_FAILED;
  }

  protected async ready(): Promise<void> {
    if (this.disposed) throw new ApolloError('UNAVAILABLE', `Environment ${this.name} was closed.`);
    if (this.connectionState() === 'lost') throw this.lostError();
    if (this.master && this.masterExited) return;
    await this.connect();
  }

  private connect(): Promise<void> {
    this.connecting ??= this.startMaster().finally(() => (this.connecting = null));
    return this.connecting;
  }

  /** The real options, from the saved profile when the spec came from a log; ssh is never given a redacted one. */
  private async realOptions(): Promise<void> {
    if (this.options) return;
    const saved = await this.ctx.savedSpec?.(this.name).catch(() => undefined);
    this.options = resolveOptions(this.spec, saved);
    if (!this.options) {
      throw new ApolloError('UNAVAILABLE', `Cannot connect to ${describeEnvTarget(this.spec)} (environment ${this.name}): its ssh options hold a secret kept only in the saved environment ${this.name}, which no longer has it. Add the environment again with the same options (apollo env add ${this.name} …).`);
    }
  }

  /** `text` (ssh's own words) without the secrets of the options. */
  private redactMessage(text: string): string {
    this.messages ??= new Redactor(optionSecrets(this.options ?? []));
    return this.messages.redact(text).text;
  }

  private async startMaster(): Promise<void> {
    await this.realOptions();
    this.controlDir ??= await mkdtemp(join(tmpdir(), 'apollo-ssh-'));
    const sock = this.controlPath;
    await rm(sock, { force: true });
    hookProcessExit();
    const child = spawn('ssh', this.masterArgs(), { stdio: ['ignore', 'ignore', 'pipe'], env: this.processEnv(), cwd: homedir() });
    let stderr = '';
    child.stderr!.on('data', (b: Buffer) => {
      if (stderr.length < 16_384) stderr += b.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', () => resolve(null));
    });
    masters.add(child);
    void exited.then(() => masters.delete(child));
    // Ready when the control socket appears (ssh makes it once authenticated); failed when ssh exits first.
    let watcher: FSWatcher | null = null;
    let timer: NodeJS.Timeout | null = null;
    const up = await new Promise<boolean>((resolve) => {
      const check = (): void => {
        if (existsSync(sock)) resolve(true);
      };
      try {
        watcher = watch(this.controlDir!, check);
      } catch {
        // no watcher: the poll below still sees it
      }
      timer = setInterval(check, 200);
      check();
      void exited.then(() => resolve(existsSync(sock)));
      setTimeout(() => resolve(false), CONNECT_TIMEOUT_MS + 5_000).unref();
    });
    (watcher as FSWatcher | null)?.close();
    if (timer) clearInterval(timer);
    if (!up) {
      child.kill('SIGTERM');
      await exited;
      const why = this.redactMessage(lastLine(stderr.replace(/^Warning: Permanently added.*$/gm, '')) || 'ssh gave up without a message');
      throw new ApolloError('UNAVAILABLE', `Cannot connect to ${describeEnvTarget(this.spec)} (environment ${this.name}): ${why}${hint(why)}`);
    }
    this.master = child;
    this.masterExited = exited.then(() => undefined);
    this.everConnected = true;
    this.markConnected();
    void exited.then((code) => {
      if (this.master !== child) return;
      this.master = null;
      this.masterExited = null;
      if (this.disposed) return;
      const why = this.redactMessage(lastLine(stderr.replace(/^Warning: Permanently added.*$/gm, '')) || `ssh exited with code ${code ?? 'unknown'}`);
      this.markLost(why);
      this.startReconnecting();
    });
  }

  /** Restart the master, backing off, until it is up again (or the environment is closed). */
  private startReconnecting(): void {
    this.reconnecting ??= (async () => {
      for (let delay = 250; !this.disposed; delay = Math.min(delay * 2, 15_000)) {
        try {
          await this.connect();
          return;
        } catch {
          await abortableDelay(delay, this.closing.signal).catch(() => undefined);
        }
      }
    })().finally(() => (this.reconnecting = null));
  }

  protected async alive(): Promise<boolean> {
    if (!this.master || !this.controlDir) return false;
    const r = await runProcess('ssh', this.checkArgs(), { env: this.processEnv(), timeoutMs: 10_000 }).catch(() => null);
    return r?.code === 0;
  }

  override async checkConnection(): Promise<boolean> {
    if (this.disposed) return false;
    if (!this.master) return this.connectionState() === 'connected' && !this.everConnected;
    // A client that just died with the connection: its master is exiting too. Give it
    // a moment to be seen exiting before asking it.
    const gone = await Promise.race([this.masterExited!.then(() => true), abortableDelay(500).then(() => false)]);
    if (gone) return false;
    const up = await this.alive();
    if (!up) {
      this.master?.kill('SIGTERM');
      await this.masterExited?.catch(() => undefined);
    }
    return up;
  }

  override async waitConnected(signal?: AbortSignal): Promise<void> {
    // The reconnect loop does the work; the caller may give up waiting for it.
    while (this.connectionState() !== 'connected') {
      if (this.disposed) throw new ApolloError('UNAVAILABLE', `Environment ${this.name} was closed.`);
      this.startReconnecting();
      await untilAbort(this.reconnecting!, signal);
    }
  }

  override async dispose(): Promise<void> {
    this.closing.abort();
    await super.dispose();
    const m = this.master;
    this.master = null;
    if (m) {
      m.kill('SIGTERM');
      await new Promise<void>((r) => (m.exitCode !== null || m.signalCode !== null ? r() : m.once('exit', () => r())));
    }
    if (this.controlDir) await rm(this.controlDir, { recursive: true, force: true }).catch(() => undefined);
  }

  /** For tests: the master's pid (kill it to drop the connection). */
  masterPid(): number | undefined {
    return this.master?.pid;
  }
}

/** Wait for `p` (whatever it settles to), or reject with CANCELLED when `signal` aborts first. */
function untilAbort(p: Promise<unknown>, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ApolloError('CANCELLED', 'Stopped waiting for the connection.'));
    const onAbort = (): void => reject(new ApolloError('CANCELLED', 'Stopped waiting for the connection.'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (): void => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    };
    p.then(done, done);
  });
}

function hint(why: string): string {
  if (/Permission denied/i.test(why)) return ' (ssh runs without prompting here: add the key to your ssh agent, or name it with --identity)';
  if (/Host key verification failed/i.test(why)) return ' (the host key is not in your known_hosts: connect once with ssh in a terminal to check and accept it)';
  return '';
}
