import { z } from 'zod';
import { command } from './define';
import { terminalName } from './sessions';
import type { RolloutState } from '../events';
import { CHECKPOINT_BUDGET_RANGE, CHECKPOINT_MAX_FILE_RANGE } from '../checkpoint-limits';

const id = z.string().min(1).max(200);

export interface EndpointProfile {
  name: string;
  baseUrl: string;
  model: string;
  /** Environment variable holding the key (e.g. OPENAI_API_KEY). */
  apiKeyEnv?: string;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  toolMode?: 'tools' | 'text';
  /** Where the key would come from right now; the key itself never crosses the boundary. */
  keySource: 'env' | 'keychain' | 'memory' | 'none';
}

/** The workspace settings (workspace.json), as settings.get answers them. */
export interface WorkspaceSettings {
  annotator: string;
  /** Disk a session's checkpoint store may use; a step that would go over is recorded as not checkpointed. */
  checkpointBudgetBytes: number;
  /** Files bigger than this are left out of checkpoints (listed as skipped). */
  checkpointMaxFileBytes: number;
  /** The endpoint profile used last (rollout, branch, judge): what the pickers preselect, also after a restart. */
  lastProfile: string | null;
  /** The annotator's key bindings that differ from the defaults: action → key combos (renderer/src/lib/keymap.ts). */
  keymap: Record<string, string[]>;
}

export const profileInput = z.object({
  name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (1-64)'),
  baseUrl: z.string().url().max(2000),
  model: z.string().min(1).max(200),
  apiKeyEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/).optional(),
  temperature: z.number().min(0).max(2).optional(),
  topP: z.number().min(0).max(1).optional(),
  maxTokens: z.number().int().min(1).max(1_000_000).optional(),
  toolMode: z.enum(['tools', 'text']).optional(),
});

/**
 * Who may type into the terminals of a session. While a rollout runs, the terminals
 * its tools drive are the agent's: human keys there are refused. A human who takes
 * control of one pauses the agent at its next step boundary (`active` from then on);
 * the commands they run there are recorded as human steps of the branch until they
 * hand back.
 */
export interface ControlStatus {
  sessionId: string;
  /** The session's current rollout (ended ones too, for their state). */
  rollout: { id: string; branchId: string; state: RolloutState | 'idle' } | null;
  /** Terminal ids the rollout's tools drive. */
  driven: string[];
  control: { terminalId: string; branchId: string; author: string; active: boolean } | null;
}

export const rolloutCommands = {
  'profiles.list': command<EndpointProfile[]>()(z.object({})),
  'profiles.save': command<EndpointProfile>()(profileInput),
  'profiles.delete': command<{ ok: true }>()(z.object({ name: z.string().min(1).max(64) })),
  /** Store a key in the OS keychain (Electron safeStorage) or, in browser mode, in memory only. */
  'profiles.setKey': command<EndpointProfile>()(z.object({ name: z.string().min(1).max(64), apiKey: z.string().min(1).max(4096) })),
  'profiles.test': command<{ ok: boolean; latencyMs: number; models?: string[]; error?: string }>()(z.object({ name: z.string().min(1).max(64) })),
  'rollout.start': command<{ rolloutId: string; branchId: string }>()(
    z.object({
      sessionId: id,
      task: z.string().min(1).max(200_000),
      profile: z.string().min(1).max(64),
      maxSteps: z.number().int().min(1).max(100_000).optional(),
      /** Continue this branch from its last step (default: main). */
      branchId: id.optional(),
    }),
  ),
  /** Guidance for the active rollout, or kept for the next rollout on `branchId` (default main). */
  'rollout.guidance': command<{ guidanceId: string }>()(z.object({ sessionId: id, text: z.string().min(1).max(100_000), branchId: id.optional() })),
  'rollout.pause': command<{ ok: true }>()(z.object({ sessionId: id })),
  'rollout.resume': command<{ ok: true }>()(z.object({ sessionId: id })),
  'rollout.stop': command<{ ok: true }>()(z.object({ sessionId: id })),
  /** Take a terminal from the agent: it pauses at its next step boundary; what you run there becomes human steps. */
  'rollout.takeControl': command<ControlStatus>()(z.object({ sessionId: id, terminalId: terminalName })),
  /** Give the terminal back: the agent resumes with your steps in its context. */
  'rollout.handBack': command<ControlStatus>()(z.object({ sessionId: id })),
  'rollout.control': command<ControlStatus>()(z.object({ sessionId: id })),
  'settings.get': command<WorkspaceSettings>()(z.object({})),
  /** Change the settings given (at least one); answers all of them as saved. */
  'settings.set': command<WorkspaceSettings>()(
    z
      .object({
        annotator: z.string().min(1).max(100).optional(),
        checkpointBudgetBytes: z.number().int().min(CHECKPOINT_BUDGET_RANGE.min).max(CHECKPOINT_BUDGET_RANGE.max).optional(),
        checkpointMaxFileBytes: z.number().int().min(CHECKPOINT_MAX_FILE_RANGE.min).max(CHECKPOINT_MAX_FILE_RANGE.max).optional(),
        lastProfile: z.string().min(1).max(64).optional(),
        /** Replaces the stored overrides as a whole ({} = every key back to its default). */
        keymap: z.record(z.string().min(1).max(40), z.array(z.string().min(1).max(40)).max(8)).optional(),
      })
      .refine((v) => Object.values(v).some((x) => x !== undefined), { message: 'Give at least one setting to change.' }),
  ),
};

export interface RolloutPushEvents {
  /** Streaming text of the step being generated (not persisted until the response completes). */
  'rollout.delta': { sessionId: string; stepId: string; content?: string; reasoning?: string };
  /** The control status of a session changed (see ControlStatus). */
  'rollout.control': ControlStatus;
}
