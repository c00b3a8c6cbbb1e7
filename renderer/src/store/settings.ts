// Endpoint profiles, the annotator name and the checkpoint limits, mirrored from the host (profiles.* and
// settings.*). Keys never reach the renderer: only where a key would come from.
import type { ArgsOf } from '../../../shared/contract/index';
import type { EndpointProfile } from '../../../shared/contract/rollout';
import type { Transport } from '../../../shared/transport';
import { attempt, describeError, type Outcome } from '../lib/errors';
import type { Slice } from './types';
import { withOverrides, type KeyBinding } from '../lib/keymap';

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
  /** Checkpoint settings (bytes), as the host has them. */
  checkpointLimits: { checkpointBudgetBytes: number; checkpointMaxFileBytes: number } | null;
  /** Profile last used to start a rollout or branch (preselected in dialogs). */
  lastProfile: string | null;
  /** The annotator's own key bindings (action → combos; stored with the workspace settings) and the keymap they make. */
  keyOverrides: Record<string, string[]>;
  keymap: KeyBinding[];
  /** Last "Test connection" result per profile name. */
  profileTests: Record<string, TestResult | 'running'>;

  loadSettings(): Promise<void>;
  saveProfile(p: ProfileInput): Promise<Outcome<EndpointProfile>>;
  deleteProfile(name: string): Promise<Outcome<true>>;
  setProfileKey(name: string, apiKey: string): Promise<Outcome<EndpointProfile>>;
  testProfile(name: string): Promise<void>;
  setAnnotator(name: string): Promise<Outcome<string>>;
  setCheckpointLimits(patch: { checkpointBudgetBytes?: number; checkpointMaxFileBytes?: number }): Promise<Outcome<true>>;
  rememberProfile(name: string): void;
  /** Replace the annotator's key bindings ({}: all defaults); saved with the settings. */
  setKeyOverrides(overrides: Record<string, string[]>): Promise<Outcome<true>>;
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
    checkpointLimits: null,
    lastProfile: null,
    keyOverrides: {},
    keymap: withOverrides(undefined),
    profileTests: {},

    loadSettings: async () => {
      try {
        const [profiles, settings] = await Promise.all([transport.request('profiles.list', {}), transport.request('settings.get', {})]);
        // An older host answers the annotator only: the checkpoint fields then stay hidden.
        const limits = typeof settings.checkpointBudgetBytes === 'number' && typeof settings.checkpointMaxFileBytes === 'number'
          ? { checkpointBudgetBytes: settings.checkpointBudgetBytes, checkpointMaxFileBytes: settings.checkpointMaxFileBytes }
          : null;
        // The profile used last is kept by the host: after a reload the judge and the
        // rollout dialogs preselect it (they fell back to the alphabetically first).
        const keyOverrides = settings.keymap ?? {};
        set({
          profiles, profilesLoaded: true, annotator: settings.annotator, checkpointLimits: limits, lastProfile: get().lastProfile ?? settings.lastProfile ?? null,
          keyOverrides, keymap: withOverrides(keyOverrides),
        });
      } catch (err) {
        set({ profilesLoaded: true });
        get().reportError('Could not load the endpoint profiles', err);
      }
    },

    saveProfile: async (p) => {
      const res = await attempt(() => transport.request('profiles.save', p));
      if (res.ok) set({ profiles: upsert(get().profiles, res.value) });
      return res;
    },

    deleteProfile: async (name) => {
      const res = await attempt(() => transport.request('profiles.delete', { name }).then(() => true as const));
      if (res.ok) {
        const { [name]: _gone, ...tests } = get().profileTests;
        set({ profiles: get().profiles.filter((p) => p.name !== name), profileTests: tests, lastProfile: get().lastProfile === name ? null : get().lastProfile });
      }
      return res;
    },

    setProfileKey: async (name, apiKey) => {
      const res = await attempt(() => transport.request('profiles.setKey', { name, apiKey }));
      if (res.ok) set({ profiles: upsert(get().profiles, res.value) });
      return res;
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
      const res = await attempt(() => transport.request('settings.set', { annotator: name }).then((r) => r.annotator));
      if (res.ok) set({ annotator: res.value });
      return res;
    },

    setCheckpointLimits: async (patch) => {
      const res = await attempt(() => transport.request('settings.set', patch));
      if (!res.ok) return res;
      set({ checkpointLimits: { checkpointBudgetBytes: res.value.checkpointBudgetBytes, checkpointMaxFileBytes: res.value.checkpointMaxFileBytes } });
      return { ok: true, value: true as const };
    },

    setKeyOverrides: async (overrides) => {
      const res = await attempt(() => transport.request('settings.set', { keymap: overrides }));
      if (!res.ok) return res;
      const keyOverrides = res.value.keymap ?? overrides;
      set({ keyOverrides, keymap: withOverrides(keyOverrides) });
      return { ok: true, value: true as const };
    },

    rememberProfile: (name) => {
      if (get().lastProfile === name) return;
      set({ lastProfile: name });
      // A convenience: a host that cannot store it still has it for this page.
      transport.request('settings.set', { lastProfile: name }).catch(() => undefined);
    },
  });
