// A Kubernetes pod, through `kubectl exec` with the user's kubeconfig and context:
// `exec -i` for commands and files, `exec -it` for terminals. A pod that restarts
// reads as a lost connection until it is Running again.
import { ApolloError } from '../../../shared/errors';
import type { KubectlEnvSpec } from '../../../shared/environments';
import { runProcess } from './process';
import { ExecEnvironment, type EnvContext } from './remote';
import type { ExecResult } from './types';

export class KubectlEnvironment extends ExecEnvironment {
  protected readonly engine = 'kubectl';

  constructor(
    override readonly spec: KubectlEnvSpec,
    ctx: EnvContext,
  ) {
    super(spec, ctx);
  }

  /** --context and --namespace, before the subcommand (kubectl accepts them anywhere; here they are easy to see). */
  globalArgs(): string[] {
    return [...(this.spec.context ? ['--context', this.spec.context] : []), ...(this.spec.namespace ? ['--namespace', this.spec.namespace] : [])];
  }

  private containerArgs(): string[] {
    return this.spec.container ? ['-c', this.spec.container] : [];
  }

  execArgs(script: string): string[] {
    return [...this.globalArgs(), 'exec', '-i', this.spec.pod, ...this.containerArgs(), '--', 'sh', '-c', script];
  }

  terminalArgs(launcher: string): string[] {
    return [...this.globalArgs(), 'exec', '-it', this.spec.pod, ...this.containerArgs(), '--', 'sh', launcher];
  }

  phaseArgs(): string[] {
    return [...this.globalArgs(), 'get', 'pod', this.spec.pod, '-o', 'jsonpath={.status.phase}'];
  }

  protected transportFailed(r: ExecResult): boolean {
    return /^error: |Error from server|unable to upgrade connection|container not found|pod .* not found|connection refused|Unable to connect to the server/im.test(r.stderr);
  }

  protected async alive(): Promise<boolean> {
    const r = await runProcess('kubectl', this.phaseArgs(), { env: this.processEnv(), timeoutMs: 20_000 }).catch(() => null);
    return r?.code === 0 && r.stdout.toString('utf8').trim() === 'Running';
  }

  protected async ready(): Promise<void> {
    if (this.disposed) throw new ApolloError('UNAVAILABLE', `Environment ${this.name} was closed.`);
    if (this.connectionState() === 'lost') throw this.lostError();
  }
}
