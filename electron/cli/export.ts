import { resolve } from 'node:path';
import type { CliCommand } from './index';
import { openCore, usage } from './branch';
import { listOption } from './label';
import { exportBundle, EXPORT_FORMATS, type ExportFormat, type Manifest } from '../core/dataset/index';
import { ExportManager, exportInputs, type ExportRequest } from '../core/exports';
import type { ApolloCore } from '../core/app';
import { APP_VERSION } from '../core/version';

/** --unreviewed as the CLI says it → the label policy's word. */
const UNREVIEWED = { train: 'keep', skip: 'mask', refuse: 'refuse' } as const;
type Unreviewed = keyof typeof UNREVIEWED;
const UNREVIEWED_WORD: Record<Manifest['labelPolicy']['unlabelled'], Unreviewed> = { keep: 'train', mask: 'skip', refuse: 'refuse' };

const TOKEN_OPTIONS = { 'max-tokens': 'maxTokens', 'history-tokens': 'historyTokens', 'warn-tokens': 'warnTokens' } as const;
/** exportBundle refuses smaller limits: no example fits in fewer. */
const MIN_TOKENS = 64;

type Plan = Omit<ExportRequest, 'outDir'>;

export const exportCommand: CliCommand = {
  usage:
    `apollo export SESSION... --out DIR [--format ${EXPORT_FORMATS.join(',')}] [--branch ID] [--max-tokens N] [--history-tokens N]\n` +
    '       [--warn-tokens N] [--summaries] [--unreviewed train|skip|refuse] [--dry-run] [--home DIR]\n' +
    '  Default: every format, every branch of each session. DIR must not exist: the bundle appears there complete or not at all.\n' +
    '  One example per context window the model saw; a step shared by several branches is trained in one example only, and\n' +
    '  examples with nothing to train are left out. --max-tokens N splits longer examples (earlier turns kept as untrained\n' +
    '  context where they fit); --history-tokens N caps the history before each action of sharegpt.jsonl / mistral.jsonl\n' +
    '  (default: --max-tokens, else 32768); --warn-tokens N warns about longer examples (same default). Tokens are counted\n' +
    '  with o200k_base (an estimate for non-OpenAI models). --summaries exports the rollout\'s summary requests as examples.\n' +
    '  --unreviewed: actions no annotator, judge or rule labelled are trained (train, the default), not trained (skip), or\n' +
    '  the export is refused while any is left (refuse). --dry-run prints the plan (per session and in total: examples,\n' +
    '  trained / masked / unreviewed actions, tokens, warnings) and writes nothing; --out is optional then. A real export\n' +
    '  prints the same summary, then the bundle. Secrets are redacted and reported. Progress goes to stderr.\n' +
    '  Exit 0 on success, 1 on failure or refusal (also of a dry run that would be refused), 2 on bad usage.',
  options: {
    out: { type: 'string', short: 'o' },
    format: { type: 'string', multiple: true },
    branch: { type: 'string', multiple: true },
    'max-tokens': { type: 'string' },
    'history-tokens': { type: 'string' },
    'warn-tokens': { type: 'string' },
    summaries: { type: 'boolean' },
    unreviewed: { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  async run(v, positionals) {
    const dryRun = v['dry-run'] === true;
    if (positionals.length === 0) return usage('export', 'at least one SESSION is required.', this.usage);
    if (!v.out && !dryRun) return usage('export', '--out DIR is required (or --dry-run to see the plan).', this.usage);
    const formats = listOption(v.format);
    const unknown = formats.filter((f) => !(EXPORT_FORMATS as readonly string[]).includes(f));
    if (unknown.length) return usage('export', `unknown format(s) ${unknown.join(', ')}; known: ${EXPORT_FORMATS.join(', ')}.`, this.usage);
    const unreviewed = (v.unreviewed as string | undefined) ?? 'train';
    if (!(unreviewed in UNREVIEWED)) return usage('export', `--unreviewed must be train, skip or refuse, got "${unreviewed}".`, this.usage);
    const plan: Plan = {
      sessionIds: positionals, branchIds: listOption(v.branch), formats: formats.length ? (formats as ExportFormat[]) : [...EXPORT_FORMATS],
      labelPolicy: { unlabelled: UNREVIEWED[unreviewed as Unreviewed] },
      ...(v.summaries === true ? { includeSummaries: true } : {}),
    };
    for (const [flag, key] of Object.entries(TOKEN_OPTIONS) as Array<[keyof typeof TOKEN_OPTIONS, (typeof TOKEN_OPTIONS)[keyof typeof TOKEN_OPTIONS]]>) {
      const raw = v[flag] as string | undefined;
      if (raw === undefined) continue;
      if (!/^\d+$/.test(raw) || Number(raw) < MIN_TOKENS) return usage('export', `--${flag} must be a whole number of tokens, at least ${MIN_TOKENS}; got "${raw}".`, this.usage);
      plan[key] = Number(raw);
    }
    const outDir = v.out ? resolve(v.out as string) : '';

    // A dry run only reads: no lock (it works beside a running app or `apollo serve`), nothing written.
    const core = await openCore(v, undefined, { readOnly: dryRun });
    try {
      const keys = await core.profiles.unredactableKeysWarning('the command line');
      if (keys) console.error(`apollo export: warning: ${keys}`);
      if (dryRun) {
        const p = await planner(core, plan, outDir);
        const total = await p.all();
        printSummary(total, total.sessions.length > 1 ? await p.each() : [total]);
        console.log('dry run: nothing was written');
        if (total.labelPolicy.unlabelled === 'refuse' && total.counts.unlabelled > 0) {
          console.error(`apollo export: ${refusal(total.counts.unlabelled)}`);
          return 1;
        }
        return 0;
      }
      return await writeBundle(core, plan, outDir);
    } finally {
      await core.close();
    }
  },
};

function refusal(n: number): string {
  return `${n} action(s) are unreviewed and --unreviewed refuse refuses to export them: label them, or export with --unreviewed train or --unreviewed skip`;
}

/**
 * Dry runs of exportBundle (so the numbers are the bundle's) over the checked
 * inputs: `all` plans every session together, `each` every session alone (step ids
 * belong to one session, so nothing is shared between them).
 */
async function planner(core: ApolloCore, plan: Plan, outDir: string): Promise<{ all(): Promise<Manifest>; each(): Promise<Manifest[]> }> {
  const inputs = await exportInputs(core, plan.sessionIds, plan.branchIds, plan.branches);
  const secrets = await core.profiles.secrets();
  const dry = async (sessions: typeof inputs): Promise<Manifest> =>
    (await exportBundle({
      home: '', sessions, outDir, secrets, appVersion: APP_VERSION, dryRun: true, formats: plan.formats, labelPolicy: plan.labelPolicy,
      maxTokens: plan.maxTokens, historyTokens: plan.historyTokens, warnTokens: plan.warnTokens, includeSummaries: plan.includeSummaries,
    })).manifest;
  return {
    all: () => dry(inputs),
    each: async () => {
      const out: Manifest[] = [];
      for (const s of inputs) out.push(await dry([s]));
      return out;
    },
  };
}

async function writeBundle(core: ApolloCore, plan: Plan, outDir: string): Promise<number> {
  // Progress: a line when a stage starts, and at most one a second within a stage.
  let lastStage = '';
  let lastAt = 0;
  const manager = new ExportManager(core, {
    throttleMs: 0,
    sink: (p) => {
      if (p.total === 0) return;
      const stage = p.stage.split(' ')[0] ?? '';
      const now = Date.now();
      if (p.state === 'running' && stage === lastStage && now - lastAt < 1000) return;
      lastStage = stage;
      lastAt = now;
      process.stderr.write(`export ${p.done}/${p.total} ${p.stage}\n`);
    },
  });
  const onSignal = (): void => void manager.cancelAll();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const { finished } = await manager.start({ ...plan, outDir });
    const out = await finished;
    if (out.state !== 'done' || !out.result) {
      console.error(`apollo export: ${out.state === 'cancelled' ? 'cancelled; nothing was written' : `${out.error?.message ?? 'failed'} [${out.error?.code ?? 'INTERNAL'}]`}`);
      return 1;
    }
    const m = out.result.manifest;
    // Per-session numbers need each session planned alone; one session is its own total.
    const perSession = m.sessions.length > 1 ? await (await planner(core, plan, '')).each() : [m];
    printSummary(m, perSession);
    console.log(`bundle ${out.dir}`);
    if (out.result.reused) console.log('  copied from the bundle an earlier export of the same events, options, secrets and build kept beside the session (byte for byte what building it writes)');
    else if (out.result.builtBecause) console.log(`  built: ${out.result.builtBecause}`);
    for (const f of m.files) console.log(`  ${f.path}  ${f.bytes} bytes, ${f.records} record${f.records === 1 ? '' : 's'}`);
    const r = m.redactions;
    if (r.total === 0) console.log('  redactions: none');
    else {
      const kinds = Object.entries(r.byKind).map(([k, n]) => `${k} ${n}`).join(', ');
      const files = Object.entries(r.byFile).map(([k, n]) => `${k} ${n}`).join(', ');
      console.log(`  redactions: ${r.total} (${kinds}) in ${files}; details in redactions.json`);
    }
    return 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The numbers of one manifest, as the lines under a heading. */
function countLines(m: Manifest): string[] {
  const c = m.counts;
  const t = c.tokens;
  return [
    `examples ${c.trajectories} (lines of openai.jsonl), action lines ${c.actionLines} (sharegpt.jsonl / mistral.jsonl), left out ${c.examplesSkipped}` +
      (c.reconstructed ? `, context rebuilt for ${c.reconstructed}` : ''),
    `actions ${c.actions}: trained ${c.kept}, masked ${c.masked}, unreviewed ${c.unlabelled} (policy: ${UNREVIEWED_WORD[m.labelPolicy.unlabelled]})`,
    `tokens ${t.total}: longest ${t.longest}, limit ${t.limit}, over the limit ${t.overLimit} (${t.tokenizer})`,
  ];
}

/** Per session (when there are several), in total, then every warning. */
function printSummary(total: Manifest, perSession: Manifest[]): void {
  if (perSession.length > 1) {
    for (const s of perSession) {
      const info = s.sessions[0];
      console.log(`session ${info?.sessionId ?? '?'}${info?.name ? ` (${info.name})` : ''}`);
      for (const l of countLines(s)) console.log(`  ${l}`);
    }
  } else {
    const info = total.sessions[0];
    if (info) console.log(`session ${info.sessionId}${info.name ? ` (${info.name})` : ''}`);
  }
  const c = total.counts;
  console.log(`total: ${plural(c.sessions, 'session')}, ${plural(c.steps, 'step')}; unreviewed actions: ${UNREVIEWED_WORD[total.labelPolicy.unlabelled]}`);
  for (const l of countLines(total)) console.log(`  ${l}`);
  console.log(`  labelled by annotator ${c.labelledBy.annotator}, judge ${c.labelledBy.judge}, rules ${c.labelledBy.rule}`);
  if (total.warnings.length === 0) console.log('warnings: none');
  else {
    console.log(`warnings: ${total.warnings.length}`);
    for (const w of total.warnings) console.log(`  - ${w}`);
  }
}
