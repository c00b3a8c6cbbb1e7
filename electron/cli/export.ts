import { resolve } from 'node:path';
import type { CliCommand } from './index';
import { openCore, usage } from './branch';
import { listOption } from './label';
import { EXPORT_FORMATS, type ExportFormat } from '../core/dataset/index';
import { ExportManager } from '../core/exports';

export const exportCommand: CliCommand = {
  summary: 'write a dataset bundle (OpenAI / ShareGPT JSONL, trajectories, asciicast recordings) from sessions',
  usage:
    `apollo export SESSION... --out DIR [--format ${EXPORT_FORMATS.join(',')}] [--branch ID] [--home DIR]\n` +
    '  Default: all four formats, every branch of each session. DIR must not exist: the bundle appears there complete\n' +
    '  or not at all. Secrets (API keys, tokens) are redacted and reported. Progress goes to stderr. Exit 0 on success, 1 on failure.',
  options: {
    out: { type: 'string', short: 'o' },
    format: { type: 'string', multiple: true },
    branch: { type: 'string', multiple: true },
  },
  async run(v, positionals) {
    if (positionals.length === 0 || !v.out) return usage('export', 'at least one SESSION and --out DIR are required.', this.usage);
    const formats = listOption(v.format);
    const unknown = formats.filter((f) => !(EXPORT_FORMATS as readonly string[]).includes(f));
    if (unknown.length) return usage('export', `unknown format(s) ${unknown.join(', ')}; known: ${EXPORT_FORMATS.join(', ')}.`, this.usage);
    const outDir = resolve(v.out as string);

    const core = await openCore(v);
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
      const { finished } = await manager.start({
        sessionIds: positionals, branchIds: listOption(v.branch), outDir,
        formats: formats.length ? (formats as ExportFormat[]) : [...EXPORT_FORMATS],
      });
      const out = await finished;
      if (out.state !== 'done' || !out.result) {
        console.error(`apollo export: ${out.state === 'cancelled' ? 'cancelled; nothing was written' : `${out.error?.message ?? 'failed'} [${out.error?.code ?? 'INTERNAL'}]`}`);
        return 1;
      }
      const m = out.result.manifest;
      const c = m.counts;
      console.log(`bundle ${out.dir}`);
      console.log(`  ${c.sessions} session${c.sessions === 1 ? '' : 's'}, ${c.trajectories} trajector${c.trajectories === 1 ? 'y' : 'ies'}, ${c.steps} steps`);
      console.log(`  actions ${c.actions}: kept ${c.kept}, masked ${c.masked} (unlabelled ${c.unlabelled}; labelled by annotator ${c.labelledBy.annotator}, judge ${c.labelledBy.judge}, rules ${c.labelledBy.rule})`);
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
      await core.close();
    }
  },
};
