import type { CliCommand } from './index';
import { CHECKPOINT_USAGE, checkpointLimitsFrom, checkpointOptions } from './checkpoint-flags';
import { continuationFrom, continuationOptions, follow, openCore, STEP_HELP, usage } from './branch';
import { resolveStepRef, rewind, trajectoryOf } from '../core/annotate/index';

export const rewindCommand: CliCommand = {
  usage:
    'apollo rewind SESSION --to STEP [--guidance TEXT] [--name NAME] [--profile NAME | --base-url URL --model NAME [--api-key-env VAR]] [--max-steps N] [--checkpoint-budget SIZE] [--checkpoint-max-file SIZE] [--home DIR]\n' +
    `  ${STEP_HELP}\n` +
    "  The session's working directory is restored from the step's checkpoint. With an endpoint the agent continues headless\n" +
    '  (exit codes as apollo rollout); without one the files are restored and the branch is recorded.\n' +
    CHECKPOINT_USAGE,
  options: { to: { type: 'string' }, ...continuationOptions, ...checkpointOptions },
  async run(v, positionals) {
    const sessionId = positionals[0];
    if (!sessionId || positionals.length > 1 || v.to === undefined) return usage('rewind', 'a SESSION and --to STEP are required.', this.usage);
    const continuation = continuationFrom(v);
    if (typeof continuation === 'string') return usage('rewind', continuation, this.usage);
    const limits = checkpointLimitsFrom(v);
    if (typeof limits === 'string') return usage('rewind', limits, this.usage);

    const core = await openCore(v, limits);
    try {
      const session = await core.session(sessionId);
      const t = trajectoryOf(session);
      const toStepId = resolveStepRef(t, sessionId, v.to as string);
      if (toStepId === null) return usage('rewind', 'rewind needs a step (there is no checkpoint of the start).', this.usage);
      // Each stage on stderr as it starts (a swap of many files: every tenth of it), so a long restore shows it is moving.
      let lastTenth = -1;
      const r = await rewind(core, {
        sessionId, toStepId, ...continuation,
        onProgress: (p) => {
          const tenth = p.total ? Math.floor((10 * (p.done ?? 0)) / p.total) : -1;
          if (p.total && tenth === lastTenth) return;
          lastTenth = tenth;
          process.stderr.write(`rewind: ${p.text}${p.total ? ` (${(p.done ?? 0).toLocaleString('en')}/${p.total.toLocaleString('en')})` : ''}\n`);
        },
      });
      const step = t.steps.get(toStepId)!;
      console.log(`branch ${r.branchId}`);
      console.log(`restored ${core.ws.entry(sessionId).cwd} to step ${step.depth} (checkpoint ${step.checkpoint!.commit.slice(0, 12)})`);
      if (!r.done) return 0;
      return await follow(core, session, r.done);
    } finally {
      await core.close();
    }
  },
};
