// Environments: where the agent's terminals, files and checkpoints live. A profile
// names one (the local machine, an SSH host, a container, a Kubernetes pod) and is
// stored in the workspace settings and, whole, in the `session.created` event of a
// session that runs there (so a later process can reach it again without the
// profile). SSH keys stay with the user's ssh agent and config, cluster credentials
// with their kubeconfig; only ssh `options` can hold a password (`ProxyCommand=sshpass
// -p …`), which the settings keep and every other copy holds redacted
// (electron/core/env/spec-secrets.ts).
//
// This module runs on both sides, so it holds no behaviour beyond parsing.
import { z } from 'zod';

export const ENV_KINDS = ['local', 'ssh', 'docker', 'podman', 'kubectl'] as const;
export type EnvKind = (typeof ENV_KINDS)[number];

/** Profile names: also used in file and container names. */
export const ENV_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const name = z.string().regex(ENV_NAME_RE, 'use letters, digits, "_", "-" or "." (at most 64, starting with a letter or digit)');
/** An absolute POSIX path inside the environment, or one starting with ~/ (its home). */
const remotePath = z
  .string()
  .min(1)
  .refine((p) => (p.startsWith('/') || p === '~' || p.startsWith('~/')) && !p.includes('\0') && !/[\r\n]/.test(p), 'an absolute path (or ~/...) in the environment');
/** Names passed to engines as single arguments: no option look-alikes, no whitespace. */
const word = (what: string) => z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.:/@%+=-]{0,252}$/, `a ${what} (no spaces, not starting with "-")`);

const common = {
  name,
  /** Default working folder in the environment (`apollo rollout --env` uses it when --cwd is not given). */
  workdir: remotePath.optional(),
  /**
   * Folder in the environment for Apollo's own files (shell integration, checkpoint
   * stores); default ~/.apollo-workstation.
   */
  stateDir: remotePath.optional(),
  /**
   * false: terminals never run inside tmux there. By default a shell runs in a tmux
   * session where the environment has tmux 3.0+, so a dropped connection leaves its job
   * running and the terminal re-attaches.
   */
  tmux: z.boolean().optional(),
};

export const localEnvSchema = z.object({ kind: z.literal('local'), ...common });

export const sshEnvSchema = z.object({
  kind: z.literal('ssh'),
  ...common,
  /** A host name or an alias of the user's ~/.ssh/config. */
  host: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.:%-]{0,252}$/, 'a host name, address or ssh config alias'),
  user: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  /** A private key file on this machine (its passphrase, if any, stays with ssh-agent). */
  identity: z.string().min(1).optional(),
  /** Extra `-o` options for ssh (e.g. "UserKnownHostsFile=/path"), as ssh_config lines. */
  options: z.array(z.string().regex(/^[A-Za-z][A-Za-z0-9]*[= ]\S.*$/, 'an ssh option such as Name=value')).optional(),
});

export const containerEnvSchema = z.object({
  kind: z.enum(['docker', 'podman']),
  ...common,
  /** A running container (name or id) to `exec` into... */
  container: word('container name').optional(),
  /** ...or an image to start one from (removed when the session closes). */
  image: word('image name').optional(),
  /** With `image`: a folder of this machine mounted at `workdir` (default /work). */
  mount: z.string().min(1).optional(),
  /** User to run as inside the container. */
  user: word('user').optional(),
});

export const kubectlEnvSchema = z.object({
  kind: z.literal('kubectl'),
  ...common,
  pod: word('pod name'),
  namespace: word('namespace').optional(),
  context: word('context').optional(),
  container: word('container name').optional(),
});

export const envSpecSchema = z
  .discriminatedUnion('kind', [localEnvSchema, sshEnvSchema, containerEnvSchema, kubectlEnvSchema])
  .superRefine((s, ctx) => {
    if ((s.kind === 'docker' || s.kind === 'podman') && !s.container === !s.image) {
      ctx.addIssue({ code: 'custom', message: `a ${s.kind} environment needs either a container or an image (not both)`, path: ['container'] });
    }
    if ((s.kind === 'docker' || s.kind === 'podman') && s.mount && !s.image) {
      ctx.addIssue({ code: 'custom', message: 'a mounted folder goes with an image (a running container has its mounts already)', path: ['mount'] });
    }
  });
export type EnvSpec = z.infer<typeof envSpecSchema>;
export type SshEnvSpec = z.infer<typeof sshEnvSchema>;
export type ContainerEnvSpec = z.infer<typeof containerEnvSchema>;
export type KubectlEnvSpec = z.infer<typeof kubectlEnvSchema>;

/** The local machine, as every session without an environment has always run. */
export const LOCAL_ENV: EnvSpec = { kind: 'local', name: 'local' };

/** Parse a spec (a profile, or one recorded in a log); the error names what is wrong. */
export function parseEnvSpec(value: unknown): { ok: true; spec: EnvSpec } | { ok: false; error: string } {
  const r = envSpecSchema.safeParse(value);
  if (r.success) return { ok: true, spec: r.data };
  const issue = r.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  return { ok: false, error: `${where}${issue?.message ?? 'invalid environment'}` };
}

/** One line saying where an environment is, for the UI, the CLI and action records. */
export function describeEnvTarget(s: EnvSpec): string {
  switch (s.kind) {
    case 'local':
      return 'this machine';
    case 'ssh':
      return `ssh ${s.user ? `${s.user}@` : ''}${s.host}${s.port ? `:${s.port}` : ''}`;
    case 'docker':
    case 'podman':
      return s.container ? `${s.kind} container ${s.container}` : `${s.kind} image ${s.image}`;
    case 'kubectl':
      return `kubectl pod ${s.namespace ? `${s.namespace}/` : ''}${s.pod}${s.context ? ` (context ${s.context})` : ''}`;
  }
}
