import { ApolloError } from '../../../shared/errors';
import type { ApolloCore } from '../app';
import type { HandlerMap } from '../dispatch';
import { LlmClient } from '../rollout/index';
import { CHECKPOINT_SETTING_KEYS } from '../../../shared/checkpoint-limits';
import type { WorkspaceSettings } from '../../../shared/contract/rollout';

export function rolloutHandlers(core: ApolloCore): HandlerMap {
  return {
    'profiles.list': () => core.profiles.list(),
    'profiles.save': (p) => core.profiles.save(p),
    'profiles.delete': async ({ name }) => {
      await core.profiles.remove(name);
      return { ok: true as const };
    },
    'profiles.setKey': ({ name, apiKey }) => core.profiles.setKey(name, apiKey),
    'profiles.test': async ({ name }) => {
      const ep = await core.profiles.resolve(name);
      const t0 = Date.now();
      try {
        const client = new LlmClient({ baseURL: ep.baseUrl, apiKey: ep.apiKey, model: ep.model }, { stream: false, timeoutMs: 20_000, retry: { maxRetries: 0 } });
        await client.complete({ messages: [{ role: 'user', content: 'Reply with the single word: ok' }], maxTokens: 5 });
        return { ok: true, latencyMs: Date.now() - t0 };
      } catch (err) {
        return { ok: false, latencyMs: Date.now() - t0, error: (err as Error).message };
      }
    },

    'rollout.start': async ({ sessionId, task, profile, maxSteps, branchId }) => {
      const session = await core.session(sessionId);
      const endpoint = await core.profiles.resolve(profile);
      const { rollout } = core.rollouts.start({
        session, task, endpoint, policy: 'model', maxSteps: maxSteps ?? 200, cwd: core.ws.entry(sessionId).cwd, branchId,
      });
      return { rolloutId: rollout.id, branchId: rollout.branchId };
    },
    'rollout.guidance': async ({ sessionId, text, branchId }) => {
      const session = await core.session(sessionId);
      const guidanceId = await core.rollouts.guidance(session, text, core.annotator(), branchId);
      return { guidanceId };
    },
    'rollout.pause': ({ sessionId }) => {
      core.rollouts.require(sessionId).pause();
      return { ok: true as const };
    },
    'rollout.resume': async ({ sessionId }) => {
      const r = core.rollouts.require(sessionId);
      if (r.state !== 'paused') throw new ApolloError('CONFLICT', `The rollout is ${r.state}, not paused.`);
      // Resuming while a human holds a terminal hands it back first (the agent would type there).
      if (core.control.status(sessionId).control) await core.control.handBack(sessionId, core.annotator());
      else void core.rollouts.resume(sessionId);
      return { ok: true as const };
    },
    'rollout.stop': async ({ sessionId }) => {
      await core.rollouts.require(sessionId).stop();
      return { ok: true as const };
    },
    'rollout.takeControl': async ({ sessionId, terminalId }) => core.control.take(await core.session(sessionId), terminalId, core.annotator()),
    'rollout.handBack': ({ sessionId }) => core.control.handBack(sessionId, core.annotator()),
    'rollout.control': ({ sessionId }) => {
      // No need to load the log: a session not loaded here has no rollout or control in this process.
      core.ws.entry(sessionId);
      return core.control.status(sessionId);
    },
    'settings.get': () => settingsOf(core),
    'settings.set': async ({ annotator, checkpointBudgetBytes, checkpointMaxFileBytes, lastProfile, keymap }) => {
      const values: Record<string, unknown> = {};
      if (annotator !== undefined) values.annotator = annotator;
      if (lastProfile !== undefined) values.lastProfile = lastProfile;
      if (keymap !== undefined) values.keymap = keymap;
      if (checkpointBudgetBytes !== undefined) values[CHECKPOINT_SETTING_KEYS.budgetBytes] = checkpointBudgetBytes;
      if (checkpointMaxFileBytes !== undefined) values[CHECKPOINT_SETTING_KEYS.maxFileBytes] = checkpointMaxFileBytes;
      // Open checkpoint stores pick the new limits up at their next snapshot.
      await core.ws.setSettings(values);
      return settingsOf(core);
    },
  };
}

function settingsOf(core: ApolloCore): WorkspaceSettings {
  const limits = core.checkpointLimits();
  return { annotator: core.annotator(), checkpointBudgetBytes: limits.budgetBytes, checkpointMaxFileBytes: limits.maxFileBytes, lastProfile: core.ws.getSetting<string>('lastProfile') ?? null, keymap: core.ws.getSetting<Record<string, string[]>>('keymap') ?? {} };
}
