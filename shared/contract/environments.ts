// Environment profiles from the UI (Settings), as `apollo env` does from the command
// line: list, save, delete, test. Profiles come back with secret ssh options redacted
// (shared/environments.ts); saving one back as listed keeps the saved value.
import { z } from 'zod';
import { command } from './define';
import { envSpecSchema, type EnvSpec } from '../environments';

const name = z.string().min(1).max(64);

export interface EnvironmentInfo {
  spec: EnvSpec;
  /** Where it is, in a line ("ssh ann@gpu-box:2222"). */
  target: string;
}

export const environmentCommands = {
  /** `local` (this machine) first, then the saved profiles by name. */
  'environments.list': command<{ environments: EnvironmentInfo[] }>()(z.object({})),
  'environments.save': command<EnvironmentInfo>()(z.object({ spec: envSpecSchema })),
  'environments.delete': command<{ ok: true }>()(z.object({ name })),
  /** Connect, run a command there and say what was found (system, shell, git, tmux, the working folder). */
  'environments.test': command<{ ok: boolean; lines: string[]; error?: string }>()(z.object({ name })),
};
