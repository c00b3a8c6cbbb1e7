// Endpoint profiles and the annotator name, mirrored from the host (profiles.* and
// settings.*). Keys never reach the renderer: only where a key would come from.
import type { ArgsOf } from '../../../shared/contract/index';
import type { EndpointProfile } from '../../../shared/contract/rollout';
import type { Transport } from '../../../shared/transport';
import { describeError, type Outcome } from '../lib/errors';
import type { Slice } from './types';

export type ProfileInput = ArgsOf<'profiles.save'>;
export interface TestResult {
  ok: boolean;
  latencyMs: number;
  error?: string;
  at: number;
}

export interface SettingsSlice {
  profiles: EndpointProfile[];
  profilesLoaded: boolean;
  annotator: string;
  /** Profile last used to start a rollout or branch (preselected in dialogs). */
  lastProfile: string | null;
  /** Last "Test connection" result per profile name. */
  profileTests: Record<string, TestResult | 'running'>;

  loadSettings(): Promise<void>;
  saveProfile(p: ProfileInput): Promise<Outcome<EndpointProfile>>;
  deleteProfile(name: string): Promise<Outcome<true>>;
  setProfileKey(name: string, apiKey: string): Promise<Outcome<EndpointProfile>>;
  testProfile(name: string): Promise<void>;
  setAnnotator(name: string): Promise<Outcome<string>>;
  rememberProfile(name: string): void;
}

function upsert(list: EndpointProfile[], p: EndpointProfile): EndpointProfile[] {
  return [...list.filter((x) => x.name !== p.name), p].sort((a, b) => a.name.localeCompare(b.name));
}

export const createSettingsSlice =
  (transport: Transport): Slice<SettingsSlice> =>
  (set, get) => ({
    profiles: [],
    profilesLoaded: false,
    annotator: '',
    lastProfile: null,
    profileTests: {},

    loadSettings: async () => {
      try {
        const [profiles, settings] = await Promise.all([transport.request('profiles.list', {}), transport.request('settings.get', {})]);
        set({ profiles, profilesLoaded: true, annotator: settings.annotator });
      } catch (err) {
        set({ profilesLoaded: true });
        get().reportError('Could not load the endpoint profiles', err);
      }
    },

    saveProfile: async (p) => {
      try {
        const saved = await transport.request('profiles.save', p);
        set({ profiles: upsert(get().profiles, saved) });
        return { ok: true, value: saved };
      } catch (err) {
        return { ok: false, error: describeError(err) };
      }
    },

    deleteProfile: async (name) => {
      try {
        await transport.request('profiles.delete', { name });
        const { [name]: _gone, ...tests } = get().profileTests;
        set({ profiles: get().profiles.filter((p) => p.name !== name), profileTests: tests, lastProfile: get().lastProfile === name ? null : get().lastProfile });
        return { ok: true, value: true };
      } catch (err) {
        return { ok: false, error: describeError(err) };
      }
    },

    setProfileKey: async (name, apiKey) => {
      try {
        const p = await transport.request('profiles.setKey', { name, apiKey });
        set({ profiles: upsert(get().profiles, p) });
        return { ok: true, value: p };
      } catch (err) {
        return { ok: false, error: describeError(err) };
      }
    },

    testProfile: async (name) => {
      set({ profileTests: { ...get().profileTests, [name]: 'running' } });
      let r: TestResult;
      try {
        const res = await transport.request('profiles.test', { name });
        r = { ok: res.ok, latencyMs: res.latencyMs, error: res.error, at: Date.now() };
      } catch (err) {
        r = { ok: false, latencyMs: 0, error: describeError(err).message, at: Date.now() };
      }
      set({ profileTests: { ...get().profileTests, [name]: r } });
    },

    setAnnotator: async (name) => {
      try {
        const res = await transport.request('settings.set', { annotator: name });
        set({ annotator: res.annotator });
        return { ok: true, value: res.annotator };
      } catch (err) {
        return { ok: false, error: describeError(err) };
      }
    },

    rememberProfile: (name) => set({ lastProfile: name }),
  });
