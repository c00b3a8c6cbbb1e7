// This machine, exactly as sessions have always used it: terminals through the local
// shell with injected integration (pty/shell.ts), files through node:fs, checkpoints
// in the session folder's shadow repository (checkpoints/shadow-git.ts).
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import { LOCAL_ENV, type EnvSpec } from '../../../shared/environments';
import { CheckpointStore } from '../checkpoints/shadow-git';
import { planLaunch } from '../pty/shell';
import type { Checkpoints, CheckpointOpenOptions } from './checkpoints';
import { childProcessesScript, parseProcesses, parseSearch, searchScript } from './posix';
import { runProcess } from './process';
import type { DirEntry, EnvDescription, Environment, ExecOptions, ExecResult, FileStat, SearchHit, TerminalLaunch, TerminalRequest } from './types';

export class LocalEnvironment implements Environment {
  readonly kind = 'local' as const;
  readonly name: string;

  constructor(readonly spec: EnvSpec = LOCAL_ENV) {
    this.name = spec.name;
  }

  record(): null {
    return null;
  }

  async describe(): Promise<EnvDescription> {
    const git = await runProcess('git', ['--version'], { timeoutMs: 10_000 }).then((r) => (r.code === 0 ? r.stdout.toString('utf8').trim() : null), () => null);
    return { name: this.name, kind: 'local', target: 'this machine', system: `${process.platform} ${process.arch}`, home: homedir(), shell: process.env.SHELL, git, latencyMs: 0 };
  }

  async home(): Promise<string> {
    return homedir();
  }

  async resolvePath(base: string, p: string): Promise<string> {
    if (p === '~' || p.startsWith('~/')) return join(homedir(), p.slice(1));
    return isAbsolute(p) ? p : resolve(base, p);
  }

  async planTerminal(req: TerminalRequest): Promise<TerminalLaunch> {
    const plan = await planLaunch(req);
    return { ...plan, spawnCwd: req.cwd };
  }

  async exec(script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await runProcess('/bin/sh', ['-c', script], { stdin: opts.stdin, timeoutMs: opts.timeoutMs, maxBytes: opts.maxBytes, signal: opts.signal });
    if (r.killed) throw new ApolloError(r.killed === 'aborted' ? 'CANCELLED' : 'IO', `A local command was stopped (${r.killed}).`);
    if (!(opts.ok ?? [0]).includes(r.code)) throw new ApolloError('IO', `A local command failed (exit ${r.code}): ${r.stderr.trim().split('\n').at(-1) ?? ''}`, { exitCode: r.code });
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }

  async stat(path: string): Promise<FileStat | null> {
    try {
      const s = await stat(path);
      return { kind: s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other', size: s.size };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  readFile(path: string): Promise<Buffer> {
    return readFile(path);
  }

  async writeFile(path: string, data: Buffer | string): Promise<{ existed: boolean }> {
    const existed = await stat(path).then((s) => s.isFile(), () => false);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, data);
    return { existed };
  }

  async list(dir: string): Promise<DirEntry[]> {
    const entries = await readdir(dir, { withFileTypes: true });
    const out: DirEntry[] = [];
    for (const e of entries) {
      const kind = e.isDirectory() ? 'dir' : e.isSymbolicLink() ? 'link' : e.isFile() ? 'file' : 'other';
      const size = kind === 'dir' ? null : await stat(join(dir, e.name)).then((s) => s.size, () => null);
      out.push({ name: e.name, kind, size });
    }
    return out;
  }

  async search(dir: string, text: string, max = 200): Promise<SearchHit[]> {
    const r = await this.exec(searchScript(dir, text, max), { ok: [0, 2] });
    if (r.code === 2) throw Object.assign(new Error(`ENOENT: no such folder, '${dir}'`), { code: 'ENOENT', path: dir });
    return parseSearch(r.stdout);
  }

  async mkdirp(path: string): Promise<void> {
    await mkdir(path, { recursive: true });
  }

  checkpoints(opts: CheckpointOpenOptions): Promise<Checkpoints> {
    return CheckpointStore.open({
      storeDir: opts.localStoreDir, workDir: opts.workDir, excludes: opts.excludes, maxFileBytes: opts.maxFileBytes, budgetBytes: opts.budgetBytes,
    });
  }

  async checkpointsOff(workDir: string): Promise<string | null> {
    const dir = resolve(workDir);
    if (dir === resolve(homedir()) || dir === resolve('/')) {
      return `Checkpoints are off: the working directory ${dir} is your home folder or the root. Start the session in a project folder to be able to rewind.`;
    }
    return null;
  }

  connectionState(): 'connected' {
    return 'connected';
  }

  lostReason(): null {
    return null;
  }

  async checkConnection(): Promise<boolean> {
    return true;
  }

  async waitConnected(): Promise<void> {}

  onLost(): () => void {
    return () => undefined;
  }

  async terminalProcesses(terminal: { id: string; pid: number | undefined }): Promise<string[]> {
    if (!terminal.pid || process.platform === 'win32') return [];
    const r = await runProcess('sh', ['-c', childProcessesScript(String(terminal.pid))], { timeoutMs: 2_000 }).catch(() => null);
    return r ? parseProcesses(r.stdout.toString('utf8')) : [];
  }

  keepsTerminal(): boolean {
    return false;
  }

  async keptTerminals(): Promise<string[]> {
    return [];
  }

  async dispose(): Promise<void> {}
}

/** The one local environment (it holds no state). */
export const LOCAL = new LocalEnvironment();
