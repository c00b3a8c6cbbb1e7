// `apollo env`: the environments a rollout can work in (SSH hosts, containers, pods),
// as named profiles in the workspace settings. A profile holds where and how to reach
// the environment, never a secret.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliCommand } from './index';
import { describeEnvTarget } from '../../shared/environments';
import { resolveHome, Workspace } from '../core/store/workspace';
import { openCore } from './branch';
import { EnvProfiles, parseSshTarget } from '../core/env/profiles';
import { testEnvironment } from '../core/env/probe';
import { UsageError } from './usage';

export const envCommand: CliCommand = {
  usage:
    'apollo env add NAME (--ssh [USER@]HOST[:PORT] [--identity FILE] [--ssh-option NAME=VALUE]...\n' +
    '                    | --docker CONTAINER | --podman CONTAINER | --image IMAGE [--engine docker|podman] [--mount DIR]\n' +
    '                    | --kubectl POD [--namespace NS] [--context C]) [--container C] [--user U] [--workdir DIR] [--state-dir DIR] [--no-tmux] [--home DIR]\n' +
    '       apollo env list [--json] [--home DIR]\n' +
    '       apollo env test NAME [--home DIR]\n' +
    '       apollo env remove NAME [--home DIR]\n' +
    '  --ssh uses your own ssh: its config, keys and agent (nothing is stored but the names above; a key with a passphrase must be\n' +
    '  in ssh-agent, since commands run without prompts). --workdir is the default folder of `apollo rollout --env NAME`.\n' +
    '  --image starts a container for each session (removed with it), with --mount DIR of this machine at --workdir (default /work).\n' +
    '  Where the environment has tmux 3.0+, shells run in tmux there, so a job outlives a dropped connection (--no-tmux: never).\n' +
    '  test connects, runs a command there and says what it found (shell, git for checkpoints, tmux, the working folder).',
  options: {
    ssh: { type: 'string' },
    identity: { type: 'string' },
    'ssh-option': { type: 'string', multiple: true },
    docker: { type: 'string' },
    podman: { type: 'string' },
    image: { type: 'string' },
    engine: { type: 'string' },
    mount: { type: 'string' },
    kubectl: { type: 'string' },
    namespace: { type: 'string' },
    context: { type: 'string' },
    container: { type: 'string' },
    user: { type: 'string' },
    workdir: { type: 'string' },
    'state-dir': { type: 'string' },
    'no-tmux': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(v, positionals) {
    const [verb, name, ...rest] = positionals;
    if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
    const home = resolveHome(v.home as string | undefined);
    if (verb === 'list') {
      if (name) throw new UsageError(`unexpected argument "${name}"`);
      const specs = await withProfiles(home, 'read', async (p) => p.list());
      if (v.json) console.log(JSON.stringify(specs, null, 2));
      else for (const s of specs) console.log(`${s.name}\t${s.kind}\t${describeEnvTarget(s)}${s.workdir ? `\tworkdir ${s.workdir}` : ''}`);
      return 0;
    }
    if (!name) throw new UsageError(`${verb ? `env ${verb}` : 'env'} needs a NAME${verb ? '' : ' (and add, list, test or remove)'}`);
    if (verb === 'add') {
      const spec = specFrom(name, v);
      const saved = await withProfiles(home, 'create', (p) => p.save(spec));
      console.log(`environment ${saved.name}: ${describeEnvTarget(saved)}${saved.workdir ? `, workdir ${saved.workdir}` : ''}`);
      console.log(`check it with: apollo env test ${saved.name}`);
      return 0;
    }
    if (verb === 'remove') {
      await withProfiles(home, 'existing', (p) => p.remove(name));
      console.log(`environment ${name} removed`);
      return 0;
    }
    if (verb === 'test') {
      const spec = await withProfiles(home, 'read', async (p) => p.get(name));
      const r = await testEnvironment(spec);
      for (const line of r.lines) console.log(line);
      if (r.error) console.error(`apollo env test: ${r.error}`);
      return r.error ? 1 : 0;
    }
    throw new UsageError(`unknown env action "${verb}" (add, list, test or remove)`);
  },
};

/**
 * Run `fn` on the workspace's environment profiles: writing through the core every
 * writing command drives (its lock held; `add` makes a new --home and says so,
 * `remove` refuses a missing one: there is nothing to remove), reading read-only
 * (no lock, nothing written, beside a running app or server).
 */
async function withProfiles<T>(home: string, mode: 'read' | 'create' | 'existing', fn: (p: EnvProfiles) => Promise<T>): Promise<T> {
  if (mode !== 'read') {
    const core = await openCore({ home }, undefined, { create: mode === 'create' });
    try {
      return await fn(new EnvProfiles(core.ws));
    } finally {
      await core.close();
    }
  }
  const ws = await Workspace.open(home, { readOnly: true });
  try {
    return await fn(new EnvProfiles(ws));
  } finally {
    await ws.close();
  }
}

/** The profile the flags describe (checked again, whole, when saved). */
export function specFrom(name: string, v: Record<string, unknown>): Record<string, unknown> {
  const kinds = ['ssh', 'docker', 'podman', 'image', 'kubectl'].filter((k) => v[k] !== undefined);
  if (kinds.length !== 1) throw new UsageError('give exactly one of --ssh, --docker, --podman, --image or --kubectl');
  const str = (k: string): string | undefined => v[k] as string | undefined;
  const common = { name, ...(str('workdir') ? { workdir: str('workdir') } : {}), ...(str('state-dir') ? { stateDir: str('state-dir') } : {}), ...(v['no-tmux'] ? { tmux: false } : {}) };
  const only = (allowed: string[]): void => {
    for (const k of ['identity', 'ssh-option', 'engine', 'mount', 'namespace', 'context', 'container', 'user']) {
      if (v[k] !== undefined && !allowed.includes(k)) throw new UsageError(`--${k} does not go with --${kinds[0]}`);
    }
  };
  switch (kinds[0]) {
    case 'ssh': {
      only(['identity', 'ssh-option']);
      const t = parseSshTarget(str('ssh')!);
      if (typeof t === 'string') throw new UsageError(`--ssh: ${t}`);
      const identity = str('identity') ? resolve(str('identity')!) : undefined;
      if (identity && !existsSync(identity)) console.warn(`warning: the identity file ${identity} does not exist (yet)`);
      return {
        kind: 'ssh', ...common, ...t, ...(identity ? { identity } : {}),
        ...(v['ssh-option'] ? { options: v['ssh-option'] as string[] } : {}),
      };
    }
    case 'docker':
    case 'podman':
      only(['user']);
      return { kind: kinds[0], ...common, container: str(kinds[0]), ...(str('user') ? { user: str('user') } : {}) };
    case 'image': {
      only(['engine', 'mount', 'user']);
      const engine = str('engine') ?? 'docker';
      if (engine !== 'docker' && engine !== 'podman') throw new UsageError('--engine is docker or podman');
      return { kind: engine, ...common, image: str('image'), ...(str('mount') ? { mount: resolve(str('mount')!) } : {}), ...(str('user') ? { user: str('user') } : {}) };
    }
    default:
      only(['namespace', 'context', 'container']);
      return {
        kind: 'kubectl', ...common, pod: str('kubectl'),
        ...(str('namespace') ? { namespace: str('namespace') } : {}), ...(str('context') ? { context: str('context') } : {}), ...(str('container') ? { container: str('container') } : {}),
      };
  }
}
