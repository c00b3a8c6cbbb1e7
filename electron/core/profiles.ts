import { ApolloError } from '../../shared/errors';
import type { EndpointProfile } from '../../shared/contract/rollout';
import type { EndpointRecord } from '../../shared/events';
import type { Workspace } from './store/workspace';
import { fingerprintKey, isKeyOf, KeyFingerprintSchema, MIN_FINGERPRINT_LENGTH, type KeyFingerprint, type SecretSpec } from './dataset/key-fingerprint';
import { z } from 'zod';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The folder of `<home>` where the app keeps each profile's key, encrypted by the OS keychain. */
export const KEYS_DIR = 'keys';
/** The file of `profile`'s key in the keychain folder. */
export function keychainKeyFile(home: string, profile: string): string {
  return join(home, KEYS_DIR, `${encodeURIComponent(profile)}.bin`);
}

/** A kept key fingerprint (key-fingerprint.ts) and the profile whose key it was. */
const StoredFingerprintSchema = KeyFingerprintSchema.extend({ profile: z.string() });
type StoredFingerprint = z.infer<typeof StoredFingerprintSchema>;
/** Old keys stay matched (a session recorded with one still holds it), up to this many. */
const MAX_FINGERPRINTS = 256;

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
    await this.remember([[name, key]]);
    return this.describe(p);
  }

  /**
   * The kept fingerprints of the keys the vault has held (a removed profile's, a replaced
   * key's included: what was recorded with them still holds them). Read from the settings
   * file, so each is checked; one that is not a fingerprint is left out.
   */
  fingerprints(): StoredFingerprint[] {
    const raw = this.ws.getSetting<unknown>('keyFingerprints');
    if (!Array.isArray(raw)) return [];
    return raw.flatMap((x) => {
      const r = StoredFingerprintSchema.safeParse(x);
      return r.success ? [r.data] : [];
    });
  }

  /**
   * Keeps a fingerprint of each profile's key (see key-fingerprint.ts) unless one is kept
   * already; a key too short for one is noted as such (`keysNotFingerprinted`), so that a
   * profile's fingerprint of an earlier key does not stand for it. One settings write.
   */
  private async remember(keys: ReadonlyArray<readonly [profile: string, key: string]>): Promise<void> {
    let kept = this.fingerprints();
    let unprinted = this.notFingerprinted();
    let changed = false;
    for (const [profile, key] of keys) {
      const made = kept.some((fp) => isKeyOf(fp, key)) ? null : fingerprintKey(key).map((fp) => ({ profile, ...fp }));
      if (made?.length) kept = [...kept, ...made].slice(-MAX_FINGERPRINTS);
      const short = made !== null && made.length === 0;
      const next = short ? [...new Set([...unprinted, profile])].sort() : unprinted.filter((n) => n !== profile);
      changed ||= !!made?.length || next.join('\0') !== unprinted.join('\0');
      unprinted = next;
    }
    if (changed) await this.ws.setSettings({ keyFingerprints: kept, keysNotFingerprinted: unprinted });
  }

  /** Profiles whose key, as last stored, was too short to fingerprint. */
  private notFingerprinted(): string[] {
    const raw = this.ws.getSetting<unknown>('keysNotFingerprinted');
    return Array.isArray(raw) ? raw.filter((x): x is string => typeof x === 'string') : [];
  }

  /**
   * Fingerprints for the keys the vault holds now, for keys stored before fingerprints
   * were kept. Call where the vault can be read (the app, once its keychain is). Only the
   * profiles not noted yet are read from the vault: each start of the app after the first
   * decrypts nothing.
   */
  async rememberVaultKeys(): Promise<void> {
    const noted = new Set([...this.fingerprints().map((fp) => fp.profile), ...this.notFingerprinted()]);
    const keys: Array<[string, string]> = [];
    for (const p of this.stored()) {
      if (noted.has(p.name)) continue;
      const key = await this.vault.get(p.name).catch(() => undefined);
      if (key && key !== 'no-key') keys.push([p.name, key]);
    }
    await this.remember(keys);
  }

  /**
   * The profiles whose key is in the app's keychain (`<home>/keys`; this vault is another)
   * with no fingerprint kept of it: this process cannot redact those keys (too short to
   * fingerprint, or stored by an earlier version and the app not opened since).
   */
  async keysUnknownHere(): Promise<string[]> {
    if (this.vault.kind === 'keychain') return [];
    const names = await readdir(join(this.ws.home, KEYS_DIR)).catch(() => [] as string[]);
    const short = new Set(this.notFingerprinted());
    const known = new Set(this.fingerprints().map((fp) => fp.profile));
    const profileOf = (file: string): string => {
      try {
        return decodeURIComponent(file.slice(0, -4));
      } catch {
        return file.slice(0, -4); // not a name the app wrote: named as it is
      }
    };
    return names.filter((n) => n.endsWith('.bin')).map(profileOf).filter((n) => short.has(n) || !known.has(n)).sort();
  }

  get(name: string): StoredProfile {
    const p = this.stored().find((x) => x.name === name);
    if (!p) throw new ApolloError('NOT_FOUND', `No endpoint profile named "${name}"`);
    return p;
  }

  /**
   * What to tell whoever exports or merges here without the app's keychain, when it holds
   * keys that cannot be redacted here (keysUnknownHere); null when there are none.
   */
  async unredactableKeysWarning(here: string): Promise<string | null> {
    const names = await this.keysUnknownHere();
    if (names.length === 0) return null;
    const one = names.length === 1;
    const which = names.map((n) => `"${n}"`).join(', ');
    return `the endpoint key${one ? '' : 's'} of profile ${which} ${one ? 'is' : 'are'} in the desktop app's keychain, which ${here} cannot read, and no fingerprint of ${one ? 'it' : 'them'} is kept (a key shorter than ${MIN_FINGERPRINT_LENGTH} characters, or one stored by an earlier version, before the app was opened again): ${one ? 'it is' : 'they are'} redacted here only where a pattern finds ${one ? 'it' : 'them'}. Export from the desktop app, or open it once, or set the profile's key variable here.`;
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
   * Every configured key, for redaction on export: the profiles' keys, the key variables
   * set here (OPENAI_API_KEY, which `apollo rollout` and `branch` use without a profile:
   * its value may be in what they recorded), and as fingerprints the keys the vault
   * held that this process cannot read (the app's keychain, from the command line; a
   * browser host's keys after a restart; a key replaced or a profile removed since).
   */
  async secrets(): Promise<SecretSpec[]> {
    const out = new Set<string>();
    for (const p of this.stored()) {
      const k = (p.apiKeyEnv ? this.env[p.apiKeyEnv] : undefined) ?? (await this.vault.get(p.name));
      if (k && k !== 'no-key') out.add(k);
    }
    for (const name of this.keyEnvNames()) {
      const k = this.env[name];
      if (k && k !== 'no-key') out.add(k);
    }
    // And the keys known here only by their fingerprint (a keychain this process cannot read, a key replaced since).
    const values = [...out];
    const prints: KeyFingerprint[] = this.fingerprints()
      .filter((fp) => !values.some((v) => isKeyOf(fp, v) || isKeyOf(fp, JSON.stringify(v).slice(1, -1))))
      .map(({ length, alphabet, salt, hmac }) => ({ length, alphabet, salt, hmac }));
    return [...values, ...prints];
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
