import { mkdtemp, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { CliCommand } from './index';
import type { SessionEvent } from '../../shared/events';
import { recordedTask } from '../core/rollouts';
import type { ResolvedEndpoint } from '../core/profiles';
import { mkdirPrivate } from '../core/store/private-files';
import { CHECKPOINT_USAGE, checkpointLimitsFrom, checkpointOptions } from './checkpoint-flags';
import { awaitRollout, endpointFrom, endpointOptions, openCore, positiveInt as parsePositiveInt, printProgress } from './branch';
import { EXIT, UsageError } from './usage';
import { LOCAL_ENV, describeEnvTarget, type EnvSpec } from '../../shared/environments';
import { EnvProfiles } from '../core/env/profiles';
import { testEnvironment } from '../core/env/probe';
/** How long a headless rollout paused by a full disk waits for space by default: long runs outlast a brief cleanup. */
export const DEFAULT_WAIT_FOR_SPACE_S = 600;

export const rolloutCommand: CliCommand = {
  usage:
    'apollo rollout --task TEXT|@FILE --base-url URL --model NAME [--api-key-env VAR] [--max-steps N] [--env NAME] [--cwd DIR] [--name NAME] [--summarize-at TOKENS] [--temperature T] [--text-actions] [--wait-for-space SECONDS] [--checkpoint-budget SIZE] [--checkpoint-max-file SIZE] [--home DIR]\n' +
    '       apollo rollout --replay SESSION [--env NAME] [--cwd DIR] [--wait-for-space SECONDS] [--checkpoint-budget SIZE] [--checkpoint-max-file SIZE] [--home DIR]\n' +
    '  --env NAME works in an environment of `apollo env` (an SSH host, a container, a pod): terminals, files and checkpoints\n' +
    '  are there, and --cwd is a folder there (default: the environment\'s --workdir).\n' +
    '  A replay without --cwd runs in a fresh folder under the workspace (printed). On a full disk the rollout pauses and waits\n' +
    `  up to --wait-for-space seconds (default ${DEFAULT_WAIT_FOR_SPACE_S}; 0: not at all) for space to be freed, then resumes; else it exits 4 (paused).\n` +
    CHECKPOINT_USAGE,
  options: {
    task: { type: 'string' },
    ...endpointOptions,
    'max-steps': { type: 'string' },
    cwd: { type: 'string' },
    env: { type: 'string' },
    name: { type: 'string' },
    replay: { type: 'string' },
    'summarize-at': { type: 'string' },
    temperature: { type: 'string' },
    'text-actions': { type: 'boolean' },
    'wait-for-space': { type: 'string' },
    ...checkpointOptions,
  },
  async run(v, positionals) {
    // Every usage error is found before anything is opened or created.
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const limits = checkpointLimitsFrom(v);
    if (typeof limits === 'string') throw new UsageError(limits);
    const maxSteps = v['max-steps'] ? positiveInt(v['max-steps'] as string, '--max-steps') : 200;
    const summarizeAtTokens = v['summarize-at'] ? positiveInt(v['summarize-at'] as string, '--summarize-at') : undefined;
    const waitForSpaceS = v['wait-for-space'] === undefined ? DEFAULT_WAIT_FOR_SPACE_S : wholeSeconds(v['wait-for-space'] as string);
    let task = '';
    let endpoint: ResolvedEndpoint | null = null;
    if (v.replay) {
      if (v.task || v['base-url'] || v.model) throw new UsageError('--replay runs a recorded trajectory with no model: give it without --task, --base-url or --model.');
    } else {
      if (!v.task || !v['base-url'] || !v.model) throw new UsageError('--task, --base-url and --model are required (or --replay SESSION).');
      const ep = endpointFrom(v);
      if (typeof ep === 'string') throw new UsageError(ep);
      endpoint = ep;
      task = await readTask(v.task as string);
    }

    // The hosts' core: the workspace lock, the terminals without key variables, the
    // checkpoint limits of this run over the settings. A new --home is made (and said).
    const core = await openCore(v, limits, { create: true });
    try {
      let replaySource: SessionEvent[] | undefined;
      let cwd = '';
      // A remote environment: reached and checked before anything is created; --cwd is a folder there.
      const envSpec: EnvSpec = v.env ? new EnvProfiles(core.ws).get(v.env as string) : LOCAL_ENV;
      const remote = envSpec.kind !== 'local';
      if (remote) {
        const where = (v.cwd as string | undefined) ?? envSpec.workdir;
        if (!where) throw new UsageError(`environment ${envSpec.name} has no --workdir: give --cwd DIR (a folder in it)`);
        if (!where.startsWith('/') && !where.startsWith('~')) throw new UsageError(`--cwd must be an absolute path (or ~/...) in environment ${envSpec.name}`);
        const t = await testEnvironment(envSpec, where);
        for (const line of t.lines) console.log(line);
        if (t.error) {
          console.error(`apollo rollout: ${t.error}`);
          return EXIT.failed;
        }
        cwd = t.workdir!;
      }
      if (remote && v.replay) {
        const source = await core.session(v.replay as string);
        replaySource = source.events;
        task = recordedTask(source.events);
      } else if (remote) {
        // cwd is set above
      } else if (v.replay) {
        const source = await core.session(v.replay as string);
        replaySource = source.events;
        task = recordedTask(source.events);
        if (v.cwd) cwd = resolve(v.cwd as string);
        else {
          // Never the folder it was started from (a checkout, for a newcomer): the
          // replayed actions write files there, and every step checkpoints it.
          const replays = resolve(core.ws.home, 'replays');
          await mkdirPrivate(replays);
          cwd = await mkdtemp(join(replays, `${safeName(v.replay as string)}-`));
          console.log(`working directory ${cwd} (a fresh folder for this replay; --cwd DIR to choose one)`);
        }
      } else cwd = resolve((v.cwd as string | undefined) ?? process.cwd());
      const session = await core.ws.create({
        name: (v.name as string | undefined) ?? (v.replay ? `Replay of ${v.replay as string}` : task.slice(0, 60)), cwd,
        ...(remote ? { environment: envSpec } : {}),
      });
      console.log(`session ${session.id}${remote ? ` in environment ${envSpec.name} (${describeEnvTarget(envSpec)}), ${cwd}` : ''}`);
      await core.session(session.id);
      const stopPrinting = printProgress(session);
      try {
        const { rollout, done } = core.rollouts.start({
          session, task, endpoint, policy: v.replay ? 'replay' : 'model', maxSteps, cwd, replaySource, summarizeAtTokens,
        });
        // Each line typed while the rollout runs is guidance for its next step.
        return await awaitRollout(rollout, session, done, { waitForSpaceS, resume: () => core.rollouts.resume(session.id) });
      } finally {
        stopPrinting();
      }
    } finally {
      await core.close();
    }
  },
};

function wholeSeconds(s: string): number {
  if (!/^\d+$/.test(s)) throw new UsageError(`--wait-for-space must be a whole number of seconds, got ${s}`);
  return Number(s);
}

/** A folder name from a session id (ids are already safe; this keeps a path out of it). */
function safeName(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60) || 'replay';
}

async function readTask(arg: string): Promise<string> {
  if (!arg.startsWith('@')) return arg;
  try {
    return await readFile(arg.slice(1), 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read task file ${arg.slice(1)}: ${(err as Error).message}`);
  }
}

function positiveInt(s: string, flag: string): number {
  const n = parsePositiveInt(s);
  if (n === null) throw new UsageError(`${flag} must be a positive integer, got ${s}`);
  return n;
}
