// Run an engine's client (ssh, docker, podman, kubectl, sh) to completion without a
// shell, collecting its output as bytes. Resolves for any exit code; rejects only
// when the program could not be started (then `spawnError` says why).
import { spawn, type ChildProcess } from 'node:child_process';

export interface RunOptions {
  stdin?: Buffer | string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  maxBytes?: number;
  signal?: AbortSignal;
}

export interface RunResult {
  code: number;
  stdout: Buffer;
  stderr: string;
  /** Why the child was killed, if it was. */
  killed: 'timeout' | 'overflow' | 'aborted' | null;
}

const STDERR_CAP = 64 * 1024;

export class SpawnFailure extends Error {
  constructor(readonly file: string, readonly spawnError: NodeJS.ErrnoException) {
    super(spawnError.code === 'ENOENT' ? `${file} is not installed or not on PATH` : `cannot run ${file}: ${spawnError.message}`);
    this.name = 'SpawnFailure';
  }
}

export function runProcess(file: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(file, args, { env: o.env ?? process.env, cwd: o.cwd, stdio: ['pipe', 'pipe', 'pipe'], windowsHide: true });
    } catch (e) {
      reject(new SpawnFailure(file, e as NodeJS.ErrnoException));
      return;
    }
    const chunks: Buffer[] = [];
    let outLen = 0;
    let stderr = '';
    let killed: RunResult['killed'] = null;
    let settled = false;
    const maxBytes = o.maxBytes ?? 256 * 1024 * 1024;
    const kill = (why: NonNullable<RunResult['killed']>): void => {
      killed ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill('timeout'), o.timeoutMs ?? 120_000);
    const onAbort = (): void => kill('aborted');
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      fn();
    };
    child.stdout!.on('data', (b: Buffer) => {
      outLen += b.length;
      if (outLen > maxBytes) return kill('overflow');
      chunks.push(b);
    });
    child.stderr!.on('data', (b: Buffer) => {
      if (stderr.length < STDERR_CAP) stderr += b.toString('utf8');
    });
    child.on('error', (e: NodeJS.ErrnoException) => done(() => reject(new SpawnFailure(file, e))));
    child.on('close', (code, signal) => done(() => resolve({ code: code ?? (signal ? 128 + 9 : -1), stdout: Buffer.concat(chunks), stderr, killed })));
    // A child that exits early closes its stdin; the EPIPE is reported through 'close'.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(o.stdin ?? '');
  });
}

/** The last non-empty line of an engine's stderr (what it says went wrong). */
export function lastLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.at(-1) ?? '';
}
