import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { describeLoadReport } from '../core/store/event-log';
import { ApolloError } from '../../shared/errors';
import type { CliCommand } from './index';
import { EXIT } from './usage';
import { ApolloCore } from '../core/app';
import { resolveHome, type SessionLog } from '../core/store/workspace';
import { freeBytes } from '../core/store/disk';
import { resourcesDir } from '../core/paths';
import type { ResolvedEndpoint } from '../core/profiles';
import type { Rollout, RunResult } from '../core/rollout/index';
import { createBranch, resolveStepRef, trajectoryOf, type Continuation, type HandAction } from '../core/annotate/index';
import type { CheckpointLimits } from '../../shared/checkpoint-limits';
import { CHECKPOINT_USAGE, checkpointLimitsFrom, checkpointOptions } from './checkpoint-flags';

/** An endpoint given on the command line (see endpointFrom). */
export const endpointOptions: CliCommand['options'] = {
  'base-url': { type: 'string' },
  model: { type: 'string' },
  'api-key-env': { type: 'string' },
};

/** Options shared by `apollo branch` and `apollo rewind` to continue with the agent. */
export const continuationOptions: CliCommand['options'] = {
  guidance: { type: 'string' },
  name: { type: 'string' },
  profile: { type: 'string' },
  ...endpointOptions,
  'max-steps': { type: 'string' },
  temperature: { type: 'string' },
  'text-actions': { type: 'boolean' },
};

/** The continuationOptions given; a string is a usage error. */
export function continuationFrom(v: Record<string, unknown>): (Continuation & { name?: string; guidance?: string }) | string {
  const endpoint = endpointFrom(v);
  if (typeof endpoint === 'string') return endpoint;
  const maxSteps = v['max-steps'] === undefined ? undefined : positiveInt(v['max-steps'] as string);
  if (maxSteps === null) return '--max-steps must be a positive integer.';
  return { name: v.name as string | undefined, guidance: v.guidance as string | undefined, profile: v.profile as string | undefined, endpoint: endpoint ?? undefined, maxSteps };
}

export const STEP_HELP =
  'STEP is a step id, a unique id prefix (4+ characters), or a 1-based step number on the main branch (the branch of the first rollout); 0 means the start.';

export const branchCommand: CliCommand = {
  usage:
    'apollo branch SESSION --from STEP [--guidance TEXT] [--action JSON [--current-state]] [--name NAME] [--profile NAME | --base-url URL --model NAME [--api-key-env VAR]] [--max-steps N] [--checkpoint-budget SIZE] [--checkpoint-max-file SIZE] [--home DIR]\n' +
    `  ${STEP_HELP}\n` +
    '  --action \'{"name":"run_command","arguments":{"session_id":"main","command":"ls"}}\' records a hand-written step. It runs on the checkpoint of STEP:\n' +
    "  the files, shell directory and environment of STEP are restored in fresh terminals first (now when a shell can start, else later).\n" +
    "  Without a usable checkpoint (the start, checkpoints off, taking it failed, store damaged) it is refused, unless --current-state\n" +
    '  accepts running it in the working directory as it is now (the step is marked so).\n' +
    '  With an endpoint the agent continues headless on the new branch (exit codes as apollo rollout); without one only the branch is recorded.\n' +
    CHECKPOINT_USAGE,
  options: { from: { type: 'string' }, action: { type: 'string' }, 'current-state': { type: 'boolean' }, ...continuationOptions, ...checkpointOptions },
  async run(v, positionals) {
    const sessionId = positionals[0];
    if (!sessionId || positionals.length > 1 || v.from === undefined) return usage('branch', 'a SESSION and --from STEP are required.', this.usage);
    let action: HandAction | undefined;
    if (v.action !== undefined) {
      const a = parseAction(v.action as string);
      if (typeof a === 'string') return usage('branch', a, this.usage);
      action = a;
    }
    if (v['current-state'] && !action) return usage('branch', '--current-state goes with --action.', this.usage);
    const continuation = continuationFrom(v);
    if (typeof continuation === 'string') return usage('branch', continuation, this.usage);
    const limits = checkpointLimitsFrom(v);
    if (typeof limits === 'string') return usage('branch', limits, this.usage);

    const core = await openCore(v, limits);
    try {
      const session = await core.session(sessionId);
      const fromStepId = resolveStepRef(trajectoryOf(session), sessionId, v.from as string);
      let r;
      try {
        r = await createBranch(core, { sessionId, fromStepId, action, runInCurrentState: !!v['current-state'], ...continuation });
      } catch (err) {
        // No checkpoint to run the action on: say how to run it anyway.
        if (err instanceof ApolloError && (err.details as { cause?: unknown } | undefined)?.cause) {
          console.error(`apollo branch: ${err.message} Pass --current-state to run it in the working directory as it is now (the step is marked so). [${err.code}]`);
          return EXIT.failed;
        }
        throw err;
      }
      console.log(`branch ${r.branchId}`);
      if (r.stepId) {
        console.log(`step ${r.stepId} (hand-written ${action!.name})`);
        const world = trajectoryOf(session).steps.get(r.stepId)?.world;
        const fromLabel = fromStepId ? `step ${trajectoryOf(session).steps.get(fromStepId)?.depth ?? '?'}` : 'the start';
        if (world?.kind === 'checkpoint') console.log(`  on the checkpoint of ${fromLabel} (${world.commit.slice(0, 12)}): files, shell directory and environment restored in fresh terminals`);
        else if (world?.kind === 'current') console.log(`  in the current state, not ${fromLabel}'s: ${world.reason}`);
        if (r.action === 'ran') {
          const res = trajectoryOf(session).steps.get(r.stepId)?.results ?? [];
          for (const x of res) console.log(`  ${x.isError ? '✗' : '✓'} ${summarize(x.observation)}`);
        } else console.log('  action pending: no shell could be started in the working directory; it runs when one can (e.g. when the session is opened in the app).');
      }
      if (r.agentWorld?.kind === 'current') console.log(`  the agent continues in the current state: ${r.agentWorld.reason}`);
      if (!r.done) return 0;
      return await follow(core, session, r.done);
    } finally {
      await core.close();
    }
  },
};

export interface OpenCoreOptions {
  /** Make the workspace when --home does not exist (serve, rollout, import); other commands refuse a missing one. */
  create?: boolean;
  /** Only read (dry runs): no lock, nothing written; what a writer would repair is only reported. */
  readOnly?: boolean;
}

/**
 * The core every command drives (the hosts' own composition root), with the workspace
 * lock held until close unless it only reads. Says what it created or repaired on the way.
 */
export async function openCore(v: Record<string, unknown>, checkpointLimits?: Partial<CheckpointLimits>, opts: OpenCoreOptions = {}): Promise<ApolloCore> {
  const home = resolveHome(v.home as string | undefined);
  const keyVar = v['api-key-env'];
  const core = await ApolloCore.open({
    home, resourcesDir: resourcesDir(), host: 'web', checkpointLimits, create: opts.create ?? false, readOnly: opts.readOnly ?? false,
    // The key named on the command line stays out of the agent's terminals, as the profiles' keys do.
    keyEnvNames: typeof keyVar === 'string' && keyVar ? [keyVar] : [],
    onLoadReport: (id, report, dir) =>
      console.warn(
        opts.readOnly
          ? `warning: session ${id}: ${join(dir, 'events.jsonl')} needs repair (the next command that writes does it); read as: ${describeLoadReport(report)}.`
          : `warning: session ${id}: ${join(dir, 'events.jsonl')} was repaired on opening: ${describeLoadReport(report)}.`,
      ),
  });
  if (core.created) console.warn(`Created a new workspace at ${home}`);
  // A client of the core like the app's windows: its notices (the workspace's warnings
  // first, then e.g. a terminal paused by a full disk) are printed as they come.
  core.connect((msg) => {
    if (msg.kind === 'evt' && msg.name === 'notice') {
      const n = msg.payload as { level: string; message: string };
      console.warn(`${n.level}: ${n.message}`);
    }
  });
  return core;
}

/**
 * The endpoint key, from the variable named by --api-key-env (else OPENAI_API_KEY).
 * This process's environment is left alone: the terminals the agent works in get
 * theirs from the core, which removes every key variable (withoutKeys).
 */
export function takeKey(varName = 'OPENAI_API_KEY'): string {
  return process.env[varName] || 'no-key';
}

/** --base-url/--model as an endpoint; null when not given; a string is a usage error. */
export function endpointFrom(v: Record<string, unknown>): ResolvedEndpoint | null | string {
  const baseUrl = v['base-url'] as string | undefined;
  const model = v.model as string | undefined;
  if (!baseUrl && !model) return null;
  if (v.profile) return 'give either --profile or --base-url/--model, not both.';
  if (!baseUrl || !model) return '--base-url and --model go together.';
  const temperature = v.temperature === undefined ? undefined : Number(v.temperature);
  return {
    profile: 'cli', baseUrl, model, apiKey: takeKey(v['api-key-env'] as string | undefined), toolMode: v['text-actions'] ? 'text' : 'tools',
    ...(temperature !== undefined && Number.isFinite(temperature) ? { temperature } : {}),
  };
}

function parseAction(text: string): HandAction | string {
  let a: unknown;
  try {
    a = JSON.parse(text);
  } catch (e) {
    return `--action is not valid JSON: ${(e as Error).message}`;
  }
  const o = a as { name?: unknown; arguments?: unknown };
  if (!o || typeof o !== 'object' || typeof o.name !== 'string' || !o.name) return '--action must be {"name": TOOL, "arguments": {...}}.';
  const args = o.arguments ?? {};
  if (typeof args !== 'object' || args === null || Array.isArray(args)) return '--action "arguments" must be a JSON object.';
  return { name: o.name, arguments: args as Record<string, unknown> };
}

export function positiveInt(s: string): number | null {
  const n = Number(s);
  return Number.isInteger(n) && n >= 1 ? n : null;
}

export function usage(cmd: string, msg: string, text: string): number {
  console.error(`apollo ${cmd}: ${msg}\n\nUsage: ${text}`);
  return EXIT.usage;
}

function summarize(observation: string): string {
  try {
    const o = JSON.parse(observation) as { message?: unknown; output?: unknown };
    const out = typeof o.output === 'string' && o.output ? `\n${o.output.slice(0, 2000)}` : '';
    return `${typeof o.message === 'string' ? o.message : observation.slice(0, 200)}${out}`;
  } catch {
    return observation.split('\n')[0]?.slice(0, 200) ?? '';
  }
}

/** Print the agent's progress until the continuation ends; stdin lines become guidance. */
export async function follow(core: ApolloCore, session: SessionLog, done: Promise<RunResult>): Promise<number> {
  const stop = printProgress(session);
  try {
    return await awaitRollout(core.rollouts.get(session.id), session, done);
  } finally {
    stop();
  }
}

/** Print each step, action, result, delivered guidance and retry of a session as it is recorded; returns the unsubscriber. */
export function printProgress(session: SessionLog): () => void {
  return session.subscribe((e) => {
    if (e.type === 'step.started') console.log(`step ${e.depth}`);
    else if (e.type === 'model.response') {
      for (const c of e.toolCalls) console.log(`  → ${c.name} ${c.arguments.slice(0, 160)}`);
      if (!e.toolCalls.length && e.content) console.log(`  ${e.content.slice(0, 160)}`);
    } else if (e.type === 'action.result') console.log(`  ${e.isError ? '✗' : '✓'} ${e.observation.split('\n')[0]?.slice(0, 160) ?? ''}`);
    else if (e.type === 'guidance.delivered') console.log('  guidance delivered');
    else if (e.type === 'llm.retry') console.log(`  retry ${e.attempt} in ${e.delayMs} ms: ${e.error}`);
  });
}

export interface AwaitOptions {
  /** A pause for a full disk waits this long for space, then resumes (0: exit paused at once). */
  waitForSpaceS?: number;
  /** Resume the paused rollout (through its manager, which tracks its run). */
  resume?: () => Promise<RunResult>;
}

/**
 * Wait for a headless rollout to end: meanwhile each stdin line is queued as guidance and
 * SIGINT/SIGTERM stop it. A pause for a full disk waits for space to be freed and
 * resumes (a signal during that wait ends it paused). Prints how it ended; returns the exit code (EXIT).
 */
export async function awaitRollout(rollout: Rollout | undefined, session: SessionLog, done: Promise<RunResult>, opts: AwaitOptions = {}): Promise<number> {
  const rl = process.stdin.isTTY || !process.stdin.readable ? null : createInterface({ input: process.stdin });
  rl?.on('line', (line) => {
    if (line.trim() && rollout) {
      void rollout.queueGuidance(line.trim(), process.env.USER ?? 'cli').then(
        (id) => console.log(`guidance queued ${id}`),
        (err: Error) => console.error(`guidance not queued: ${err.message}`),
      );
    }
  });
  let waiting: AbortController | null = null;
  const onSignal = () => {
    if (waiting) waiting.abort();
    else void rollout?.stop();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let result = await done;
    const waitS = opts.waitForSpaceS ?? 0;
    while (result === 'paused' && rollout?.diskFull && waitS > 0 && opts.resume) {
      // The free space now, before saying so: space freed as soon as the message shows must count.
      const at = await freeBytes(session.dir);
      console.error(`rollout paused: ${rollout.error ?? 'disk full'}`);
      console.error(`waiting up to ${waitS} s for free space in ${session.dir} (Ctrl-C leaves it paused)…`);
      waiting = new AbortController();
      const freed = await waitForSpace(session.dir, at, waitS * 1000, waiting.signal);
      waiting = null;
      if (!freed) break;
      console.error('space freed: resuming the rollout');
      result = await opts.resume();
    }
    if (result === 'paused') console.error(`rollout paused: ${rollout?.error ?? 'unknown error'} — resume it from the app`);
    if (result === 'failed') console.error(`rollout failed: ${rollout?.error ?? 'unknown error'}`);
    console.log(`${result} after ${rollout?.stepCount ?? 0} steps — session ${session.id}`);
    return EXIT[result];
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rl?.close();
  }
}

/** Space that counts as freed: this much more than when the rollout paused. */
export const FREED_BYTES = 256 * 1024;
/** How often the free space is read while waiting: a statfs is cheap, and the rollout resumes at most this long after space is freed (it was 500 ms). */
const SPACE_POLL_MS = 100;

/**
 * Poll the file system holding `dir` until space was freed since it had `at` bytes
 * free (true), the time is up or the signal aborts (false).
 */
export async function waitForSpace(dir: string, at: number, ms: number, signal: AbortSignal): Promise<boolean> {
  const free = () => freeBytes(dir);
  const deadline = Date.now() + ms;
  while (!signal.aborted && Date.now() < deadline) {
    await new Promise<void>((r) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        r();
      };
      const t = setTimeout(done, SPACE_POLL_MS);
      signal.addEventListener('abort', done);
    });
    if ((await free()) >= at + FREED_BYTES) return true;
  }
  return false;
}
