import type { CliCommand } from './index';
import { continuationOptions, endpointFrom, follow, openCore, positiveInt, STEP_HELP, usage } from './branch';
import { resolveStepRef, rewind, trajectoryOf } from '../core/annotate/index';

export const rewindCommand: CliCommand = {
  summary: "restore a session's files, shell directory and environment to a step and continue from there as a new branch",
  usage:
    'apollo rewind SESSION --to STEP [--guidance TEXT] [--name NAME] [--profile NAME | --base-url URL --model NAME [--api-key-env VAR]] [--max-steps N] [--home DIR]\n' +
    `  ${STEP_HELP}\n` +
    "  The session's working directory is restored from the step's checkpoint. With an endpoint the agent continues headless\n" +
    '  (exit codes as apollo rollout); without one the files are restored and the branch is recorded.',
  options: { to: { type: 'string' }, ...continuationOptions },
  async run(v, positionals) {
    const sessionId = positionals[0];
    if (!sessionId || positionals.length > 1 || v.to === undefined) return usage('rewind', 'a SESSION and --to STEP are required.', this.usage);
    const endpoint = endpointFrom(v);
    if (typeof endpoint === 'string') return usage('rewind', endpoint, this.usage);
    const maxSteps = v['max-steps'] === undefined ? undefined : positiveInt(v['max-steps'] as string);
    if (maxSteps === null) return usage('rewind', '--max-steps must be a positive integer.', this.usage);

    const core = await openCore(v);
    try {
      const session = await core.session(sessionId);
      const t = trajectoryOf(session);
      const toStepId = resolveStepRef(t, sessionId, v.to as string);
      if (toStepId === null) return usage('rewind', 'rewind needs a step (there is no checkpoint of the start).', this.usage);
      const r = await rewind(core, {
        sessionId, toStepId, name: v.name as string | undefined, guidance: v.guidance as string | undefined,
        profile: v.profile as string | undefined, endpoint: endpoint ?? undefined, maxSteps,
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
