import type { CliCommand } from './index';
import { mergeBundles } from '../core/dataset/merge';

export const mergeCommand: CliCommand = {
  summary: 'merge dataset bundles exported by several annotators into one (verified, de-duplicated, conflicts reported)',
  usage:
    'apollo merge BUNDLE... --out DIR [--allow-mixed-policies]\n' +
    '  Every BUNDLE is verified first (manifest, sizes, SHA-256): a modified or truncated bundle is refused and nothing is written.\n' +
    '  Formats missing from any bundle are dropped (and reported). Bundles exported under different label policies are refused\n' +
    '  unless --allow-mixed-policies. Identical trajectories (same session, branch and lines) are kept once; the same branch\n' +
    '  labelled differently is kept in every version and reported as a conflict. DIR must not exist: the merged bundle appears\n' +
    '  there complete or not at all. Progress goes to stderr. Exit 0 on success, 1 on failure.',
  options: {
    out: { type: 'string', short: 'o' },
    'allow-mixed-policies': { type: 'boolean' },
  },
  async run(v, positionals) {
    if (positionals.length === 0 || !v.out) {
      console.error(`apollo merge: at least one BUNDLE and --out DIR are required.\n\nUsage: ${this.usage}`);
      return 2;
    }
    const ctl = new AbortController();
    const onSignal = (): void => ctl.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // Progress: a line when a stage starts, at most one a second within a stage.
    let lastStage = '';
    let lastAt = 0;
    try {
      const { dir, manifest: m, report: r } = await mergeBundles({
        inputs: positionals,
        outDir: v.out as string,
        allowMixedPolicies: v['allow-mixed-policies'] === true,
        signal: ctl.signal,
        onProgress: (done, total, stage) => {
          const kind = stage.split(' ')[0] ?? '';
          const now = Date.now();
          if (kind === lastStage && now - lastAt < 1000 && stage !== 'done') return;
          lastStage = kind;
          lastAt = now;
          process.stderr.write(`merge ${done}/${total} ${stage}\n`);
        },
      });
      const c = m.counts;
      const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
      console.log(`bundle ${dir}`);
      console.log(`  merged ${plural(r.bundles, 'bundle')}: ${plural(r.trajectories, 'trajectory', 'trajectories')} written of ${r.trajectoriesIn}, ${plural(r.duplicatesDropped, 'duplicate')} dropped, ${plural(r.conflicts.length, 'conflict')}`);
      console.log(`  ${plural(c.sessions, 'session')}, ${c.steps} steps; actions ${c.actions}: kept ${c.kept}, masked ${c.masked} (unlabelled ${c.unlabelled})${r.countsExact ? '' : ' (approximate: a bundle has no trajectory.jsonl)'}`);
      console.log(`  annotators: ${m.annotators.join(', ') || 'none'}`);
      console.log(`  formats: ${r.formats.join(', ')}`);
      for (const d of r.formatsDropped) console.log(`  dropped format ${d.format}: missing from ${d.missingFrom.join(', ')}`);
      if (r.labelPolicies === 'mixed') console.log('  label policies: mixed (each bundle\'s policy is in manifest.json mergedFrom)');
      if (r.sessionRecords.duplicatesDropped) console.log(`  trajectory.jsonl: ${plural(r.sessionRecords.duplicatesDropped, 'identical session record')} dropped`);
      if (r.casts.duplicatesDropped || r.casts.renamed) console.log(`  recordings: ${r.casts.written} written, ${r.casts.duplicatesDropped} identical dropped, ${r.casts.renamed} renamed`);
      for (const k of r.conflicts) {
        const versions = k.variants.map((x) => `line ${x.line} (${x.annotators.join(', ') || 'no annotator'}; from ${x.bundles.join(', ')})`).join(' vs ');
        console.log(`  conflict ${k.sessionId}/${k.branchId}: ${versions}`);
      }
      for (const f of m.files) console.log(`  ${f.path}  ${f.bytes} bytes, ${plural(f.records, 'record')}`);
      return 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
