import { spawn, type ChildProcess } from 'node:child_process';

/** A git invocation that did not succeed (non-zero exit, spawn error, timeout, output too big). */
export class GitFailure extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly spawnError?: NodeJS.ErrnoException,
    readonly reason: 'exit' | 'spawn' | 'timeout' | 'overflow' | 'aborted' = 'exit',
  ) {
    super(`git ${args[0] ?? ''} failed (${reason}${exitCode === null ? '' : ` ${exitCode}`}): ${firstLines(stderr)}`);
    this.name = 'GitFailure';
  }
}

export interface GitRunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  input?: string | Buffer;
  /** Exit codes that count as success (default [0]). */
  ok?: readonly number[];
  timeoutMs?: number;
  /** Upper bound on collected stdout; the child is killed beyond it. */
  maxBytes?: number;
  /** Kills the child when aborted (background work that must not outlive its store). */
  signal?: AbortSignal;
}

export interface GitResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

const STDERR_CAP = 64 * 1024;

/** Runs `git <args>` without a shell, collecting stdout as bytes. Never rejects with anything but GitFailure. */
export function runGit(args: readonly string[], o: GitRunOptions): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn('git', args, {
        cwd: o.cwd,
        env: o.env,
        stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        windowsHide: true,
      });
    } catch (e) {
      reject(new GitFailure(args, null, '', e as NodeJS.ErrnoException, 'spawn'));
      return;
    }
    const chunks: Buffer[] = [];
    let outLen = 0;
    let stderr = '';
    let settled = false;
    let reason: 'timeout' | 'overflow' | 'aborted' | null = null;
    const maxBytes = o.maxBytes ?? 256 * 1024 * 1024;
    const timer = setTimeout(() => {
      reason = 'timeout';
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 300_000);
    const onAbort = (): void => {
      if (reason === null) reason = 'aborted';
      child.kill('SIGKILL');
    };
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    child.stdout?.on('data', (b: Buffer) => {
      outLen += b.length;
      if (outLen > maxBytes) {
        if (reason === null) reason = 'overflow';
        child.kill('SIGKILL');
        return;
      }
      chunks.push(b);
    });
    child.stderr?.on('data', (b: Buffer) => {
      if (stderr.length < STDERR_CAP) stderr += b.toString('utf8');
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      settle(() => reject(new GitFailure(args, null, stderr, e, 'spawn')));
    });
    child.on('close', (code) => {
      settle(() => {
        if (reason !== null) {
          reject(new GitFailure(args, code, stderr, undefined, reason));
          return;
        }
        const exit = code ?? -1;
        if (!(o.ok ?? [0]).includes(exit)) {
          reject(new GitFailure(args, exit, stderr));
          return;
        }
        resolve({ code: exit, stdout: Buffer.concat(chunks), stderr });
      });
    });
    if (o.input !== undefined && child.stdin) {
      // A child that exits early closes its stdin; the EPIPE is reported through 'close'.
      child.stdin.on('error', () => undefined);
      child.stdin.end(o.input);
    }
  });
}

/** The first meaningful lines of git's stderr, for error messages. */
export function firstLines(stderr: string, max = 3): string {
  return stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('hint:'))
    .slice(0, max)
    .join(' / ');
}

/**
 * Splits NUL-terminated git output (-z) into strings, dropping the trailing empty one.
 * 'latin1' keeps file names byte-exact (one char per byte) for internal round trips.
 */
export function splitZ(buf: Buffer, encoding: 'utf8' | 'latin1' = 'utf8'): string[] {
  const parts = buf.toString(encoding).split('\0');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}
