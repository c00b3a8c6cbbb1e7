import { ApolloError } from '../../shared/errors';
import type { EndpointProfile } from '../../shared/contract/rollout';
import type { EndpointRecord } from '../../shared/events';
import type { Workspace } from './store/workspace';

/** Where API keys are kept: the OS keychain in Electron, process memory in the browser host. */
export interface KeyVault {
  readonly kind: 'keychain' | 'memory';
  /** Why keys are kept in memory although the host has a keychain API (shown in Settings). */
  readonly notice?: string;
  get(profile: string): Promise<string | undefined>;
  set(profile: string, key: string): Promise<void>;
  delete(profile: string): Promise<void>;
}

export function memoryVault(): KeyVault {
  const keys = new Map<string, string>();
  return {
    kind: 'memory',
    get: async (p) => keys.get(p),
    set: async (p, k) => void keys.set(p, k),
    delete: async (p) => void keys.delete(p),
  };
}

type StoredProfile = Omit<EndpointProfile, 'keySource'>;

export interface ResolvedEndpoint extends EndpointRecord {
  apiKey: string;
  toolMode: 'tools' | 'text';
}

/**
 * Endpoint profiles live in the workspace settings; keys never do. A key comes from
 * the environment variable the profile names, else from the vault.
 */
export class Profiles {
  constructor(
    private readonly ws: Workspace,
    readonly vault: KeyVault,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  private stored(): StoredProfile[] {
    return this.ws.getSetting<StoredProfile[]>('profiles') ?? [];
  }

  async list(): Promise<EndpointProfile[]> {
    return Promise.all(this.stored().map((p) => this.describe(p)));
  }

  private async describe(p: StoredProfile): Promise<EndpointProfile> {
    const keySource = p.apiKeyEnv && this.env[p.apiKeyEnv] ? 'env' : (await this.vault.get(p.name)) ? this.vault.kind : 'none';
    return { ...p, keySource };
  }

  async save(p: StoredProfile): Promise<EndpointProfile> {
    const rest = this.stored().filter((x) => x.name !== p.name);
    await this.ws.setSetting('profiles', [...rest, p].sort((a, b) => a.name.localeCompare(b.name)));
    return this.describe(p);
  }

  async remove(name: string): Promise<void> {
    this.get(name);
    await this.ws.setSetting('profiles', this.stored().filter((x) => x.name !== name));
    await this.vault.delete(name);
  }

  async setKey(name: string, key: string): Promise<EndpointProfile> {
    const p = this.get(name);
    await this.vault.set(name, key);
    return this.describe(p);
  }

  get(name: string): StoredProfile {
    const p = this.stored().find((x) => x.name === name);
    if (!p) throw new ApolloError('NOT_FOUND', `No endpoint profile named "${name}"`);
    return p;
  }

  /** The profile with its key, for the engine only; never recorded or sent to a client. */
  async resolve(name: string): Promise<ResolvedEndpoint> {
    const p = this.get(name);
    const key = (p.apiKeyEnv ? this.env[p.apiKeyEnv] : undefined) ?? (await this.vault.get(name));
    if (!key && p.apiKeyEnv) {
      throw new ApolloError('UNAVAILABLE', `Profile "${name}" reads its API key from $${p.apiKeyEnv}, which is not set.`);
    }
    return {
      profile: p.name, baseUrl: p.baseUrl, model: p.model, temperature: p.temperature, topP: p.topP, maxTokens: p.maxTokens,
      toolMode: p.toolMode ?? 'tools',
      // Local servers (vLLM, Ollama) accept any key; the SDK insists on one.
      apiKey: key ?? 'no-key',
    };
  }

  /** Names of the environment variables that hold endpoint keys. */
  keyEnvNames(): string[] {
    return [...new Set(['OPENAI_API_KEY', ...this.stored().flatMap((p) => (p.apiKeyEnv ? [p.apiKeyEnv] : []))])];
  }

  /**
   * Every configured key value, for redaction on export: the profiles' keys, and the
   * key variables set here (OPENAI_API_KEY, which `apollo rollout` and `branch` use
   * without a profile: its value may be in what they recorded).
   */
  async secrets(): Promise<string[]> {
    const out = new Set<string>();
    for (const p of this.stored()) {
      const k = (p.apiKeyEnv ? this.env[p.apiKeyEnv] : undefined) ?? (await this.vault.get(p.name));
      if (k && k !== 'no-key') out.add(k);
    }
    for (const name of this.keyEnvNames()) {
      const k = this.env[name];
      if (k && k !== 'no-key') out.add(k);
    }
    return [...out];
  }
}

/**
 * The environment for agent terminals: without the variables that hold endpoint
 * keys, so an agent (or a recording of its shell) can never print the key.
 */
export function withoutKeys(env: NodeJS.ProcessEnv, names: readonly string[]): NodeJS.ProcessEnv {
  const out = { ...env };
  for (const n of names) delete out[n];
  return out;
}
