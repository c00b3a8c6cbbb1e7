// A Docker or Podman container: `docker exec -i` / `podman exec -i` for commands and
// files, `exec -it` for terminals, against a running container, or against one this
// session starts from an image (with a folder of this machine mounted at the working
// folder, and Apollo's state kept in the session's folder so checkpoints outlive the
// container). Podman's command line is Docker's for everything used here.
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import type { ContainerEnvSpec } from '../../../shared/environments';
import { lastLine, runProcess } from './process';
import { ExecEnvironment, type EnvContext } from './remote';
import type { ExecResult } from './types';

/** Where a container started from an image keeps Apollo's state (mounted from the session folder). */
export const IMAGE_STATE_DIR = '/.apollo-workstation';
const DEFAULT_IMAGE_WORKDIR = '/work';

export class ContainerEnvironment extends ExecEnvironment {
  protected readonly engine: 'docker' | 'podman';
  private started: Promise<void> | null = null;
  /** The container started here from the image (removed by dispose). */
  private ownContainer = false;

  declare readonly spec: ContainerEnvSpec;

  constructor(spec: ContainerEnvSpec, ctx: EnvContext) {
    // A container started from an image keeps its state where the session folder is mounted.
    super(spec.image ? { ...spec, stateDir: spec.stateDir ?? IMAGE_STATE_DIR, workdir: spec.workdir ?? DEFAULT_IMAGE_WORKDIR } : spec, ctx);
    this.engine = spec.kind;
  }

  /** The container commands go to: the given one, or the one made for this session from the image. */
  get container(): string {
    return this.spec.container ?? `apollo-${this.ctx.sessionId.slice(0, 12)}-${this.spec.name}`.toLowerCase().replace(/[^a-z0-9_.-]/g, '-');
  }

  private userArgs(): string[] {
    return this.spec.user ? ['-u', this.spec.user] : [];
  }

  execArgs(script: string): string[] {
    return ['exec', '-i', ...this.userArgs(), this.container, 'sh', '-c', script];
  }

  terminalArgs(launcher: string): string[] {
    return ['exec', '-it', ...this.userArgs(), this.container, 'sh', launcher];
  }

  inspectArgs(): string[] {
    return ['inspect', '--format', '{{.State.Running}}', this.container];
  }

  /** `run -d` of the image: kept alive by a shell that waits forever, removed when the session closes. */
  runArgs(): string[] {
    const s = this.spec;
    const workdir = s.workdir ?? DEFAULT_IMAGE_WORKDIR;
    const mounts = [
      ...(s.mount ? ['-v', `${resolve(s.mount)}:${workdir}`] : []),
      ...(this.ctx.sessionDir ? ['-v', `${join(this.ctx.sessionDir, 'container-state')}:${IMAGE_STATE_DIR}`] : []),
    ];
    return [
      'run', '-d', '--name', this.container, '--label', 'apollo-workstation=1', ...mounts, '-w', workdir, ...this.userArgs(),
      '--entrypoint', 'sh', s.image!, '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done',
    ];
  }

  protected transportFailed(r: ExecResult): boolean {
    // exec's own failures: 125 (the engine), 126/127 (sh missing in the image), or the daemon's words.
    return r.code === 125 || /Error response from daemon|is not running|No such container|Cannot connect to the (Docker|Podman)/i.test(r.stderr);
  }

  protected async alive(): Promise<boolean> {
    const r = await runProcess(this.engine, this.inspectArgs(), { env: this.processEnv(), timeoutMs: 15_000 }).catch(() => null);
    return r?.code === 0 && r.stdout.toString('utf8').trim() === 'true';
  }

  protected async ready(): Promise<void> {
    if (this.disposed) throw new ApolloError('UNAVAILABLE', `Environment ${this.name} was closed.`);
    if (!this.spec.image) {
      if (this.connectionState() === 'lost') throw this.lostError();
      return;
    }
    this.started ??= this.startFromImage().catch((e: unknown) => {
      this.started = null;
      throw e;
    });
    return this.started;
  }

  private async startFromImage(): Promise<void> {
    if (await this.alive()) return; // started by an earlier run of this session
    const env = this.processEnv();
    await runProcess(this.engine, ['rm', '-f', this.container], { env, timeoutMs: 30_000 }).catch(() => undefined);
    if (this.ctx.sessionDir) await mkdir(join(this.ctx.sessionDir, 'container-state'), { recursive: true, mode: 0o700 });
    const r = await runProcess(this.engine, this.runArgs(), { env, timeoutMs: 300_000 }).catch((e: Error) => ({ code: -1, stderr: e.message, stdout: Buffer.alloc(0), killed: null }));
    if (r.code !== 0) throw new ApolloError('UNAVAILABLE', `Cannot start a ${this.engine} container from ${this.spec.image}: ${lastLine(r.stderr) || `exit ${r.code}`}`);
    this.ownContainer = true;
  }

  override async dispose(): Promise<void> {
    await super.dispose();
    if (this.ownContainer) await runProcess(this.engine, ['rm', '-f', this.container], { env: this.processEnv(), timeoutMs: 30_000 }).catch(() => undefined);
  }
}
