// Environment profiles, like endpoint profiles (../profiles.ts): named, kept in the
// workspace settings (`environments`), validated on the way in and out. Nothing in
// them is a secret (shared/environments.ts), so there is no vault: keys stay with the
// user's ssh agent and config, cluster access with their kubeconfig.
import { ApolloError } from '../../../shared/errors';
import { ENV_NAME_RE, LOCAL_ENV, parseEnvSpec, type EnvSpec } from '../../../shared/environments';

/** What the profiles need of the workspace (the real Workspace satisfies it). */
export interface SettingsStore {
  getSetting<T>(key: string): T | undefined;
  setSetting(key: string, value: unknown): Promise<void>;
}

const KEY = 'environments';

export class EnvProfiles {
  constructor(private readonly ws: SettingsStore) {}

  /** The saved profiles (one that no longer parses is left out, not fatal), sorted by name; `local` first. */
  list(): EnvSpec[] {
    const out: EnvSpec[] = [LOCAL_ENV];
    for (const raw of this.ws.getSetting<unknown[]>(KEY) ?? []) {
      const p = parseEnvSpec(raw);
      if (p.ok && p.spec.name !== LOCAL_ENV.name) out.push(p.spec);
    }
    return [out[0]!, ...out.slice(1).sort((a, b) => a.name.localeCompare(b.name))];
  }

  get(name: string): EnvSpec {
    const p = this.list().find((x) => x.name === name);
    if (!p) throw new ApolloError('NOT_FOUND', `No environment named "${name}" (apollo env list shows them).`);
    return p;
  }

  async save(value: unknown): Promise<EnvSpec> {
    const p = parseEnvSpec(value);
    if (!p.ok) throw new ApolloError('BAD_REQUEST', `Invalid environment: ${p.error}`);
    if (p.spec.name === LOCAL_ENV.name) throw new ApolloError('BAD_REQUEST', '"local" is this machine; choose another name.');
    const rest = (this.ws.getSetting<unknown[]>(KEY) ?? []).filter((x) => (x as { name?: unknown })?.name !== p.spec.name);
    await this.ws.setSetting(KEY, [...rest, p.spec]);
    return p.spec;
  }

  async remove(name: string): Promise<void> {
    if (!ENV_NAME_RE.test(name) || name === LOCAL_ENV.name) throw new ApolloError('BAD_REQUEST', `Cannot remove "${name}".`);
    this.get(name);
    await this.ws.setSetting(KEY, (this.ws.getSetting<unknown[]>(KEY) ?? []).filter((x) => (x as { name?: unknown })?.name !== name));
  }
}

/** `[USER@]HOST[:PORT]` (an IPv6 address in brackets: `[::1]:22`). */
export function parseSshTarget(t: string): { host: string; user?: string; port?: number } | string {
  const m = /^(?:([^@\s]+)@)?(\[[0-9A-Fa-f:.]+\]|[^:@\s]+)(?::(\d{1,5}))?$/.exec(t);
  if (!m) return `"${t}" is not [USER@]HOST[:PORT]`;
  const host = m[2]!.replace(/^\[|\]$/g, '');
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) return `port ${m[3]} is out of range`;
  return { host, ...(m[1] ? { user: m[1] } : {}), ...(port ? { port } : {}) };
}
