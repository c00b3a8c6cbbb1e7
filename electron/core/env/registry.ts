// Which environment a session works in: the one recorded (whole, but for the secrets
// of its ssh options: spec-secrets.ts) in its `session.created` event, else this
// machine. One live instance per open session (it owns the session's ssh connection or
// container) and closed with it.
import { basename, dirname } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import { parseEnvSpec, type EnvSpec } from '../../../shared/environments';
import type { SessionLog } from '../store/workspace';
import { ContainerEnvironment } from './container';
import { KubectlEnvironment } from './kubectl';
import { LOCAL, LocalEnvironment } from './local';
import { savedEnvSpec } from './profiles';
import type { EnvContext } from './remote';
import { SshEnvironment } from './ssh';
import type { Environment } from './types';

export function createEnvironment(spec: EnvSpec, ctx: EnvContext): Environment {
  switch (spec.kind) {
    case 'local':
      return spec.name === LOCAL.name ? LOCAL : new LocalEnvironment(spec);
    case 'ssh':
      return new SshEnvironment(spec, ctx);
    case 'docker':
    case 'podman':
      return new ContainerEnvironment(spec, ctx);
    case 'kubectl':
      return new KubectlEnvironment(spec, ctx);
  }
}

/** The environment spec recorded in a session's log (null: this machine). */
export function recordedEnvSpec(session: Pick<SessionLog, 'events' | 'id'>): EnvSpec | null {
  const created = session.events.find((e) => e.type === 'session.created');
  const raw = created?.type === 'session.created' ? created.environment : undefined;
  if (!raw) return null;
  const p = parseEnvSpec(raw);
  if (!p.ok) throw new ApolloError('BAD_REQUEST', `Session ${session.id} records an environment this version cannot use (${p.error}).`);
  return p.spec;
}

/**
 * The saved profiles of the workspace holding a session's folder (<home>/sessions/<id>):
 * its log records the spec with secret options redacted, the settings keep them.
 */
function savedSpecNear(sessionDir: string): ((name: string) => Promise<EnvSpec | undefined>) | undefined {
  const sessions = dirname(sessionDir);
  return basename(sessions) === 'sessions' ? (name) => savedEnvSpec(dirname(sessions), name) : undefined;
}

const live = new WeakMap<SessionLog, Environment>();
/** Environment for new terminals' engine clients (set by the core: keys removed). */
let processEnv: (() => NodeJS.ProcessEnv) | undefined;

export function setEnvironmentProcessEnv(env: () => NodeJS.ProcessEnv): void {
  processEnv = env;
}

/** The session's environment (connected lazily, on first use). */
export function environmentFor(session: SessionLog): Environment {
  let env = live.get(session);
  if (env) return env;
  const spec = recordedEnvSpec(session);
  env = spec
    ? createEnvironment(spec, {
      sessionId: session.id, sessionDir: session.dir, processEnv: () => (processEnv ?? (() => process.env))(), savedSpec: savedSpecNear(session.dir),
    })
    : LOCAL;
  live.set(session, env);
  if (env !== LOCAL) {
    const e = env;
    session.onClose(() => e.dispose());
  }
  return env;
}
