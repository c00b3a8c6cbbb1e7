// Environment profiles for the UI (see shared/contract/environments.ts).
import { describeEnvTarget } from '../../../shared/environments';
import type { ApolloCore } from '../app';
import type { HandlerMap } from '../dispatch';
import { EnvProfiles } from '../env/profiles';
import { testEnvironment } from '../env/probe';

export function environmentHandlers(core: ApolloCore): HandlerMap {
  const profiles = () => new EnvProfiles(core.ws);
  return {
    'environments.list': () => ({ environments: profiles().list().map((spec) => ({ spec, target: describeEnvTarget(spec) })) }),
    'environments.save': async ({ spec }) => {
      const saved = await profiles().save(spec);
      return { spec: saved, target: describeEnvTarget(saved) };
    },
    'environments.delete': async ({ name }) => {
      await profiles().remove(name);
      return { ok: true as const };
    },
    'environments.test': async ({ name }) => {
      const r = await testEnvironment(profiles().get(name));
      return { ok: !r.error, lines: r.lines, ...(r.error ? { error: r.error } : {}) };
    },
  };
}
