import { mkdir, readFile } from 'node:fs/promises';
import { acquireWorkspaceLock } from '../core/store/lock';
import { join, resolve } from 'node:path';
import type { CliCommand } from './index';
import type { SessionEvent } from '../../shared/events';
import { ApolloError } from '../../shared/errors';
import { resolveHome, Workspace } from '../core/store/workspace';
import { PtyHost } from '../core/pty/pty-host';
import { RolloutManager, recordedTask } from '../core/rollouts';
import { resourcesDir } from '../core/paths';
import type { ResolvedEndpoint } from '../core/profiles';
import { CHECKPOINT_USAGE, checkpointLimitsFrom, checkpointOptions } from './checkpoint-flags';
import { awaitRollout, endpointFrom, endpointOptions, positiveInt as parsePositiveInt, printProgress } from './branch';
import { resolveCheckpointLimits } from '../../shared/checkpoint-limits';

/** Exit codes: scripts can tell how a headless rollout ended. */
export const EXIT = { finished: 0, failed: 1, usage: 2, stopped: 3, paused: 4 } as const;

export const rolloutCommand: CliCommand = {
  summary: 'run an agent rollout headless in real terminals (stdin lines become guidance)',
  usage:
    'apollo rollout --task TEXT|@FILE --base-url URL --model NAME [--api-key-env VAR] [--max-steps N] [--cwd DIR] [--name NAME] [--summarize-at TOKENS] [--temperature T] [--text-actions] [--checkpoint-budget SIZE] [--checkpoint-max-file SIZE] [--home DIR]\n' +
    '       apollo rollout --replay SESSION [--cwd DIR] [--checkpoint-budget SIZE] [--checkpoint-max-file SIZE] [--home DIR]\n' +
    CHECKPOINT_USAGE,
  options: {
    task: { type: 'string' },
    ...endpointOptions,
    'max-steps': { type: 'string' },
    cwd: { type: 'string' },
    name: { type: 'string' },
    replay: { type: 'string' },
    'summarize-at': { type: 'string' },
    temperature: { type: 'string' },
    'text-actions': { type: 'boolean' },
    ...checkpointOptions,
  },
  async run(v) {
    const limits = checkpointLimitsFrom(v);
    if (typeof limits === 'string') throw usageError(limits);
    const home = resolveHome(v.home as string | undefined);
    await mkdir(home, { recursive: true });
    // Never two writers on one workspace (e.g. the app and a headless rollout).
    const lock = await acquireWorkspaceLock(home, '`apollo rollout`');
    const ws = await Workspace.open(home).catch(async (err: unknown) => {
      await lock.release();
      throw err;
    });
    // A fresh workspace gets the sample session here too, so `--replay sample-sales-report` works first thing.
    await ws.seedSamples(join(resourcesDir(), 'samples')).catch(() => {});
    const host = new PtyHost({ resourcesDir: resourcesDir(), events: { data: () => {}, changed: () => {} } });
    const manager = new RolloutManager(host, undefined, () => resolveCheckpointLimits((k) => ws.getSetting<unknown>(k), limits));
    try {
      const maxSteps = v['max-steps'] ? positiveInt(v['max-steps'] as string, '--max-steps') : 200;
      let task: string;
      let endpoint: ResolvedEndpoint | null = null;
      let replaySource: SessionEvent[] | undefined;
      let cwd = resolve((v.cwd as string | undefined) ?? process.cwd());
      if (v.replay) {
        const source = await ws.session(v.replay as string);
        replaySource = source.events;
        task = recordedTask(source.events);
        if (!v.cwd) cwd = process.cwd();
      } else {
        if (!v.task || !v['base-url'] || !v.model) throw usageError('--task, --base-url and --model are required (or --replay SESSION).');
        task = await readTask(v.task as string);
        const ep = endpointFrom(v);
        if (typeof ep === 'string') throw usageError(ep);
        endpoint = ep;
      }
      const session = await ws.create({ name: (v.name as string | undefined) ?? (v.replay ? `Replay of ${v.replay as string}` : task.slice(0, 60)), cwd });
      console.log(`session ${session.id}`);
      const stopPrinting = printProgress(session);
      try {
        const { rollout, done } = manager.start({
          session, task, endpoint, policy: v.replay ? 'replay' : 'model', maxSteps, cwd, replaySource,
          summarizeAtTokens: v['summarize-at'] ? positiveInt(v['summarize-at'] as string, '--summarize-at') : undefined,
        });
        // Each line typed while the rollout runs is guidance for its next step.
        return await awaitRollout(rollout, session, done);
      } finally {
        stopPrinting();
      }
    } finally {
      await host.dispose();
      await ws.close();
      await lock.release();
    }
  },
};

async function readTask(arg: string): Promise<string> {
  if (!arg.startsWith('@')) return arg;
  try {
    return await readFile(arg.slice(1), 'utf8');
  } catch (err) {
    throw usageError(`cannot read task file ${arg.slice(1)}: ${(err as Error).message}`);
  }
}

function positiveInt(s: string, flag: string): number {
  const n = parsePositiveInt(s);
  if (n === null) throw usageError(`${flag} must be a positive integer, got ${s}`);
  return n;
}

function usageError(msg: string): ApolloError {
  return new ApolloError('BAD_REQUEST', msg);
}
