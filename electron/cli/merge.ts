import { readFile } from 'node:fs/promises';
import type { CliCommand } from './index';
import { ApolloError } from '../../shared/errors';
import { signingKeyFrom } from './keys';
import { annotatorOption } from './label';
import { parseTrustedKeys, type SigningKey, type TrustedKey } from '../core/dataset/signing';
import { mergeBundles, parseMergePolicy, type MergeBundlesResult } from '../core/dataset/merge';
import { memoryVault, Profiles } from '../core/profiles';
import { resolveHome, Workspace } from '../core/store/workspace';
import { formatDuration } from '../../shared/merge-report';
import { MERGE_REPORT_FILES } from '../../shared/merge-report';
import type { SecretSpec } from '../core/dataset/key-fingerprint';

const POLICIES = 'any-mask|majority|prefer:NAME[,NAME…]|manual';

export const mergeCommand: CliCommand = {
  usage:
    `apollo merge BUNDLE... --out DIR [--policy ${POLICIES}] [--settlements PATH]... [--allow-mixed-policies] [--trust FILE]... [--allow-unsigned] [--sign --annotator NAME]\n` +
    '  Every BUNDLE is verified first (manifest schema, sizes, SHA-256, no file the manifest does not list, files consistent\n' +
    '  with each other): a modified bundle is refused and nothing is written. Actions are matched by session and step; each\n' +
    '  gets one label from everyone\'s labels (annotators outrank the judge, the judge outranks rules). Conflicts are settled\n' +
    '  by --policy: any-mask (default: mask if anyone masked), majority (ties mask), prefer:NAME,… (that annotator, the\n' +
    '  next as fall-back, else majority), manual (refuse and list the conflicts). Conflicts a lead settled in the app are\n' +
    '  stored in the merged bundle and apply again when it is merged (a merge of merges), or with --settlements PATH (the\n' +
    '  earlier merged bundle, its manifest.json or merge-report.json, or a JSON list of {sessionId, stepId, label}) when the\n' +
    '  same bundles (or more) are merged again; a settlement whose labels changed since re-opens. Each context window becomes one example\n' +
    '  and each kept action is trained exactly once; every trainer file is regenerated. Bundles exported under different\n' +
    '  label policies are refused unless --allow-mixed-policies. DIR must not exist: the merged bundle appears there\n' +
    '  complete or not at all. Signatures: every export is signed, and a bundle changed after it was signed is refused;\n' +
    '  so is an unsigned bundle, unless --allow-unsigned (it is then flagged as unsigned in the report; --require-signed,\n' +
    '  the old way to ask for signatures, is the default now and accepted for compatibility). With --trust FILE (JSON\n' +
    '  lines from apollo keys export-public) a signed bundle must be signed by a trusted key and is named by it; --sign\n' +
    '  signs the merged bundle with your key. Everything written is redacted again with your configured secrets (the\n' +
    '  workspace\'s endpoint key variables, $OPENAI_API_KEY and the keys the app stored, by their fingerprints, as apollo\n' +
    '  export redacts) and the redaction patterns: a key an annotator did not have configured does not pass into the\n' +
    '  merged bundle; what the merge redacted is listed in redactions.json and said in a warning, and a reply holding one\n' +
    '  is not trained. The merged bundle holds the report as merge-report.json and a readable merge-report.html (both\n' +
    '  listed in its manifest). Progress goes to stderr.\n' +
    '  Exit 0 on success, 1 on failure (or conflicts left to settle).',
  options: {
    out: { type: 'string', short: 'o' },
    policy: { type: 'string' },
    settlements: { type: 'string', multiple: true },
    'allow-mixed-policies': { type: 'boolean' },
    trust: { type: 'string', multiple: true },
    'allow-unsigned': { type: 'boolean' },
    // Signatures are required by default now; kept so that existing scripts still run.
    'require-signed': { type: 'boolean' },
    sign: { type: 'boolean' },
    ...annotatorOption,
  },
  async run(v, positionals) {
    if (positionals.length === 0 || !v.out) {
      console.error(`apollo merge: at least one BUNDLE and --out DIR are required.\n\nUsage: ${this.usage}`);
      return 2;
    }
    const policy = parseMergePolicy(typeof v.policy === 'string' ? v.policy : 'any-mask');
    if (!policy) {
      console.error(`apollo merge: unknown --policy ${String(v.policy)}; one of ${POLICIES}.\n\nUsage: ${this.usage}`);
      return 2;
    }
    if (v['allow-unsigned'] === true && v['require-signed'] === true) {
      console.error(`apollo merge: --allow-unsigned and --require-signed contradict each other.\n\nUsage: ${this.usage}`);
      return 2;
    }
    const trustedKeys: TrustedKey[] = [];
    for (const f of (v.trust as string[] | undefined) ?? []) trustedKeys.push(...parseTrustedKeys(await readFile(f, 'utf8'), f));
    let signWith: SigningKey | undefined;
    if (v.sign === true) {
      const key = await signingKeyFrom(v, 'apollo merge');
      if (typeof key === 'string') {
        console.error(key);
        return 2;
      }
      signWith = key;
    }
    const ctl = new AbortController();
    const onSignal = (): void => ctl.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    // Progress: a line when a stage starts, at most one a second within a stage.
    let lastStage = '';
    let lastAt = 0;
    try {
      const result = await mergeBundles({
        inputs: positionals,
        outDir: v.out as string,
        policy,
        settlementsFrom: (v.settlements as string[] | undefined) ?? [],
        allowMixedPolicies: v['allow-mixed-policies'] === true,
        trustedKeys: v.trust ? trustedKeys : undefined,
        allowUnsigned: v['allow-unsigned'] === true,
        signWith,
        secrets: await leadSecrets(v),
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
      printSummary(result);
      return 0;
    } catch (e) {
      const conflicts = e instanceof ApolloError ? (e.details as { conflicts?: Array<{ sessionId: string; stepId: string; votes: string }> } | undefined)?.conflicts : undefined;
      if (!conflicts) throw e;
      console.error(`apollo merge: ${conflicts.length} conflict${conflicts.length === 1 ? '' : 's'} to settle (policy manual); nothing was written:`);
      for (const c of conflicts) console.error(`  ${c.sessionId}/${c.stepId}: ${c.votes}`);
      console.error('Settle them in the app (or give earlier ones with --settlements), or merge with --policy any-mask, majority or prefer:NAME.');
      return 1;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};

/**
 * The lead's configured secrets, as an export of this workspace is redacted with them
 * (profiles.ts secrets(): here, without the app's keychain, the profiles' key variables,
 * $OPENAI_API_KEY and the fingerprints of the keys the keychain holds). Only read: a
 * merge works beside a running app. Without a workspace there are no profiles, and the
 * variables set here still count.
 */
async function leadSecrets(v: Record<string, unknown>): Promise<SecretSpec[]> {
  const ws = await Workspace.open(resolveHome(v.home as string | undefined), { readOnly: true }).catch((e: unknown) => {
    if (e instanceof ApolloError && e.code === 'NOT_FOUND') return null;
    throw e;
  });
  try {
    // Profiles reads only the settings of a workspace: none, without one.
    const settings = ws ?? ({ getSetting: () => undefined } as Pick<Workspace, 'getSetting'> as Workspace);
    const profiles = new Profiles(settings, memoryVault());
    const keys = ws ? await profiles.unredactableKeysWarning('the command line') : null;
    if (keys) console.error(`apollo merge: warning: ${keys}`);
    return await profiles.secrets();
  } finally {
    await ws?.close();
  }
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
const fixed = (x: number | null): string => (x === null ? 'n/a' : x.toFixed(2));

function printSummary({ dir, manifest: m, report: r }: MergeBundlesResult): void {
  const c = m.counts;
  const e = r.examples;
  console.log(`bundle ${dir}`);
  console.log(`  merged ${plural(r.bundles.length, 'bundle')} (${plural(r.origins, 'export')}), policy ${r.policy}: ${plural(e.out, 'example')} written of ${e.in} (${e.duplicates} identical copies, ${e.nothingToTrain} with nothing left to train)`);
  console.log(`  ${plural(c.sessions, 'session')}, ${c.steps} steps; actions ${c.actions}: kept ${c.kept}, masked ${c.masked} (unlabelled ${c.unlabelled}); ${r.actions.multiplyLabelled} labelled more than once, ${plural(r.conflicts.length, 'conflict')}`);
  for (const k of r.conflicts) {
    const votes = k.votes.map((x) => `${x.annotator} ${x.label}${x.tags.length ? ` [${x.tags.join(',')}]` : ''}`).join(', ');
    console.log(`  conflict ${k.sessionId}/${k.stepId} (${k.branchIds.join(', ')}): ${votes} → ${k.decision} (${k.settledBy})`);
  }
  const a = r.agreement;
  if (a.items === 0) console.log('  agreement: no action was labelled by two annotators');
  else {
    console.log(`  agreement on ${plural(a.items, 'action')} labelled by 2+ annotators: pairwise ${fixed(a.pairwise)}, Fleiss' kappa ${fixed(a.fleissKappa)}`);
    for (const p of a.pairs) console.log(`    ${p.annotators[0]}–${p.annotators[1]}: ${p.agreed}/${p.items} agree (${fixed(p.agreement)}), Cohen's kappa ${fixed(p.kappa)}`);
  }
  for (const s of r.bundles) console.log(`  ${s.path}: ${s.signer ? `signed by ${s.signer.name} (${s.signer.fingerprint}${s.signer.trusted ? ', trusted' : ', not in a trust file'})` : 'UNSIGNED (accepted with --allow-unsigned)'}`);
  for (const x of r.annotators) {
    console.log(`  annotator ${x.annotator}: ${x.actions} labelled (keep ${x.keep}, mask ${x.mask}; ${x.trained} trained) in ${x.bundles.join(', ')}; ${plural(x.labelEvents, 'label event')}, about ${formatDuration(x.timeSpentMs)} spent`);
  }
  if (r.annotators.length) console.log(`  time spent is estimated: ${r.timeSpent.method}`);
  for (const w of r.warnings) console.log(`  warning: ${w}`);
  if (r.casts.duplicatesDropped || r.casts.renamed) console.log(`  recordings: ${r.casts.written} written, ${r.casts.duplicatesDropped} identical dropped, ${r.casts.renamed} renamed`);
  for (const f of m.files) console.log(`  ${f.path}  ${f.bytes} bytes, ${plural(f.records, 'record')}`);
  console.log(`  report: ${MERGE_REPORT_FILES.html} (readable) and ${MERGE_REPORT_FILES.json}`);
}
