// Environment profiles, like endpoint profiles (../profiles.ts): named, kept in the
// workspace settings (`environments`), validated on the way in and out. Keys stay with
// the user's ssh agent and config, cluster access with their kubeconfig, so there is no
// vault; but ssh options can hold a password (`ProxyCommand=sshpass -p …`): the settings
// (an owner-only file) keep it, since ssh needs it, and every spec handed out holds it
// redacted (spec-secrets.ts) yet connects.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import { ENV_NAME_RE, LOCAL_ENV, parseEnvSpec, type EnvSpec } from '../../../shared/environments';
import { INDEX_BACKUP } from '../store/workspace';
import { isRedactedOption, recordableSpec, resolveOptions } from './spec-secrets';

/** What the profiles need of the workspace (the real Workspace satisfies it). */
export interface SettingsStore {
  getSetting<T>(key: string): T | undefined;
  setSetting(key: string, value: unknown): Promise<void>;
}

const KEY = 'environments';

export class EnvProfiles {
  constructor(private readonly ws: SettingsStore) {}

  /** The saved profiles as stored, secrets and all (one that no longer parses is left out, not fatal), sorted by name; `local` first. */
  private stored(): EnvSpec[] {
    return storedSpecs(this.ws.getSetting<unknown[]>(KEY));
  }

  /** The saved profiles, for listing: options that hold a secret are redacted. */
  list(): EnvSpec[] {
    return this.stored().map(recordableSpec);
  }

  /**
   * The profile to connect with and to record: its options redacted as in `list`, though
   * an environment made from this very object connects with the real ones.
   */
  get(name: string): EnvSpec {
    const p = this.stored().find((x) => x.name === name);
    if (!p) throw new ApolloError('NOT_FOUND', `No environment named "${name}" (apollo env list shows them).`);
    return recordableSpec(p);
  }

  /** Saved as given; returned redacted as `list` shows it. */
  async save(value: unknown): Promise<EnvSpec> {
    const p = parseEnvSpec(value);
    if (!p.ok) throw new ApolloError('BAD_REQUEST', `Invalid environment: ${p.error}`);
    if (p.spec.name === LOCAL_ENV.name) throw new ApolloError('BAD_REQUEST', '"local" is this machine; choose another name.');
    let spec = p.spec;
    if (spec.kind === 'ssh' && spec.options?.some(isRedactedOption)) {
      // A profile sent back as it was listed: its redacted options stand for the saved ones.
      const options = resolveOptions(spec, this.stored().find((x) => x.name === spec.name));
      if (!options) throw new ApolloError('BAD_REQUEST', `Invalid environment: an ssh option of ${spec.name} holds a redacted value that its saved profile does not have; give the option in full.`);
      spec = { ...spec, options };
    }
    const rest = (this.ws.getSetting<unknown[]>(KEY) ?? []).filter((x) => (x as { name?: unknown })?.name !== spec.name);
    await this.ws.setSetting(KEY, [...rest, spec]);
    return recordableSpec(spec);
  }

  async remove(name: string): Promise<void> {
    if (!ENV_NAME_RE.test(name) || name === LOCAL_ENV.name) throw new ApolloError('BAD_REQUEST', `Cannot remove "${name}".`);
    this.get(name);
    await this.ws.setSetting(KEY, (this.ws.getSetting<unknown[]>(KEY) ?? []).filter((x) => (x as { name?: unknown })?.name !== name));
  }
}

function storedSpecs(raw: unknown[] | undefined): EnvSpec[] {
  const out: EnvSpec[] = [LOCAL_ENV];
  for (const r of Array.isArray(raw) ? raw : []) {
    const p = parseEnvSpec(r);
    if (p.ok && p.spec.name !== LOCAL_ENV.name) out.push(p.spec);
  }
  return [out[0]!, ...out.slice(1).sort((a, b) => a.name.localeCompare(b.name))];
}

/**
 * The profile named `name` as saved in the settings of the workspace at `home`, read from
 * its index (or the backup copy of it): where a spec read back from a session's log
 * finds the options redacted from it, in any process, with or without a core open.
 */
export async function savedEnvSpec(home: string, name: string): Promise<EnvSpec | undefined> {
  for (const file of ['workspace.json', INDEX_BACKUP]) {
    const data = await readFile(join(home, file), 'utf8').then((t) => JSON.parse(t) as { settings?: Record<string, unknown> }, () => null);
    if (!data?.settings) continue;
    return storedSpecs(data.settings[KEY] as unknown[] | undefined).find((s) => s.name === name);
  }
  return undefined;
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
