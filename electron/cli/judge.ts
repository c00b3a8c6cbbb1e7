import type { CliCommand } from './index';
import { endpointFrom, endpointOptions, openCore, usage } from './branch';
import { ANNOTATOR_HELP, annotatorFrom, annotatorOption, branchesToUse, listOption } from './label';
import { trajectoryOf } from '../core/annotate/index';
import { runAuthor, runJudge } from '../core/handlers/labels';

export const judgeCommand: CliCommand = {
  usage:
    'apollo judge SESSION (--profile NAME | --base-url URL --model NAME [--api-key-env VAR]) [--branch ID] [--annotator NAME] [--home DIR]\n' +
    '  Profiles are the endpoint profiles of the workspace settings. Default: every branch of the session.\n' +
    '  Actions already judged, labelled by an annotator or written by a human are skipped, so running again after an\n' +
    '  error resumes where it stopped. Exit 0 when every action was judged, 1 otherwise.\n' +
    `  ${ANNOTATOR_HELP}`,
  options: {
    profile: { type: 'string' },
    ...endpointOptions,
    branch: { type: 'string', multiple: true },
    ...annotatorOption,
  },
  async run(v, positionals) {
    const sessionId = positionals[0];
    if (!sessionId || positionals.length > 1) return usage('judge', 'a SESSION is required.', this.usage);
    const ep = endpointFrom(v);
    if (typeof ep === 'string') return usage('judge', ep, this.usage);
    if (!ep && !v.profile) return usage('judge', 'give --profile NAME or --base-url URL --model NAME.', this.usage);
    const annotator = annotatorFrom(v);
    if (typeof annotator === 'object') return usage('judge', annotator.error, this.usage);

    const core = await openCore(v);
    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const endpoint = ep ?? (await core.profiles.resolve(v.profile as string));
      const session = await core.session(sessionId);
      const branches = branchesToUse(trajectoryOf(session), sessionId, listOption(v.branch));
      let failed = false;
      for (const branchId of branches) {
        const r = await runJudge(core, {
          sessionId, branchId, endpoint: { baseURL: endpoint.baseUrl, apiKey: endpoint.apiKey, model: endpoint.model }, signal: controller.signal,
          author: runAuthor(`judge:${endpoint.model}`, annotator),
          onProgress: (done, total) => process.stderr.write(`judging ${branchId}: ${done}/${total}\n`),
        });
        const t = trajectoryOf(session);
        const masked = [...t.steps.values()].filter((s) => {
          const last = [...s.labelHistory].reverse().find((l) => l.source === 'judge');
          return last && last.rule !== '__cleared__' && last.label === 'mask';
        }).length;
        console.log(`branch ${branchId}: ${r.labelled} action${r.labelled === 1 ? '' : 's'} labelled, ${r.skipped} skipped, ${r.tokens} tokens (judge masks ${masked} step${masked === 1 ? '' : 's'} in the session)`);
        if (r.error) {
          console.error(`apollo judge: ${r.error}`);
          failed = true;
          break;
        }
      }
      return failed ? 1 : 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await core.close();
    }
  },
};
