import type { CliCommand } from './index';
import { openCore, usage } from './branch';
import { commands, type ParsedArgsOf } from '../../shared/contract/index';
import { ApolloError } from '../../shared/errors';
import { LABEL_TAGS } from '../../shared/events';
import { pathTo, type Trajectory } from '../../shared/trajectory';
import { mainBranchId, resolveStepRef, trajectoryOf } from '../core/annotate/index';
import { listRules, RULE_NAMES } from '../core/labels/index';
import { applySessionRules, pendingRuleEvents, rulesPreview, runAuthor, setLabels, type LabelsCore } from '../core/handlers/labels';

/** Comma-separated and repeated values of an option, flattened. */
export function listOption(v: unknown): string[] {
  const raw = Array.isArray(v) ? (v as string[]) : typeof v === 'string' ? [v] : [];
  return raw.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** The branches to work on: the ones asked for (checked), else every branch with steps of its own. */
export function branchesToUse(t: Trajectory, sessionId: string, asked: string[]): string[] {
  if (asked.length) {
    for (const b of asked) {
      if (!t.branches.has(b)) throw new ApolloError('NOT_FOUND', `Session ${sessionId} has no branch ${b} (it has ${[...t.branches.keys()].join(', ') || 'none'})`);
    }
    return asked.filter((b, i, a) => a.indexOf(b) === i);
  }
  const owning = new Set([...t.steps.values()].map((s) => s.branchId));
  return [...t.branches.keys()].filter((b) => owning.has(b));
}

export function stepName(t: Trajectory, stepId: string): string {
  const s = t.steps.get(stepId);
  return s ? `step ${s.depth} (${stepId.slice(0, 8)})` : stepId;
}

export const ANNOTATOR_HELP =
  '--annotator NAME (else $APOLLO_ANNOTATOR) names the author of the labels a command writes: required with --keep/--mask;\n' +
  '  rule and judge labels are then recorded as by "rules (NAME)" / "judge:MODEL (NAME)" (without it: "rules" / "judge:MODEL").';

/** The option shared by the labelling commands (`label`, `judge`). */
export const annotatorOption: CliCommand['options'] = { annotator: { type: 'string' } };

/**
 * The annotator named by --annotator, else $APOLLO_ANNOTATOR; undefined when neither
 * is given; `{ error }` for a blank --annotator (a script passing an empty variable).
 */
export function annotatorFrom(v: Record<string, unknown>): string | undefined | { error: string } {
  if (v.annotator !== undefined) {
    const name = (v.annotator as string).trim();
    return name ? name : { error: '--annotator needs a name.' };
  }
  return process.env.APOLLO_ANNOTATOR?.trim() || undefined;
}

/** One item of a STEPS list: step numbers (a range of one or more), or a step id / id prefix. */
type StepItem = { from: number; to: number; text: string } | { ref: string };

/**
 * `1,3,5-8,abcd1234`: numbers and ranges of step numbers (1-based; 0 is the start, not
 * a step), and anything else as a step id or id prefix for resolveStepRef. A string is a
 * usage error.
 */
export function parseStepList(values: string[], option: string): StepItem[] | string {
  const out: StepItem[] = [];
  for (const text of values) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(text);
    if (!m) {
      out.push({ ref: text });
      continue;
    }
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (from === 0) return `${option} ${text}: step numbers start at 1 (0 is the start of the session, not a step).`;
    if (to < from) return `${option} ${text}: a range goes from the lower step number to the higher (${to}-${from}).`;
    out.push({ from, to, text });
  }
  return out;
}

/** The step ids of a parsed STEPS list, in order, without repeats; throws (NOT_FOUND, BAD_REQUEST) on a step that does not resolve. */
export function resolveStepList(t: Trajectory, sessionId: string, items: StepItem[], branchId: string | undefined, option: string): string[] {
  const ids: string[] = [];
  for (const item of items) {
    if ('ref' in item) {
      const id = resolveStepRef(t, sessionId, item.ref, branchId);
      if (id === null) throw new ApolloError('BAD_REQUEST', `${option} ${item.ref}: the start of the session is not a step.`);
      ids.push(id);
      continue;
    }
    // The resolver checks both ends (a clear error past the end of the path); the steps
    // between are the ancestors of the last one back to the first, as depths on a path
    // are consecutive.
    const first = resolveStepRef(t, sessionId, String(item.from), branchId)!;
    const last = resolveStepRef(t, sessionId, String(item.to), branchId)!;
    const path = pathTo(t, last);
    ids.push(...path.slice(path.findIndex((s) => s.id === first)).map((s) => s.id));
  }
  return ids.filter((id, i, a) => a.indexOf(id) === i);
}

export const labelCommand: CliCommand = {
  usage:
    'apollo label SESSION --rules NAME,...|all [--branch ID] [--dry-run] [--annotator NAME] [--home DIR]\n' +
    '       apollo label SESSION [--keep STEPS] [--mask STEPS] [--tag T,...] [--note TEXT] [--branch ID] [--dry-run] --annotator NAME [--home DIR]\n' +
    '       apollo label --list-rules\n' +
    `  Rules: ${RULE_NAMES.join(', ')}. Rules only ever mask; annotator and judge labels take precedence.\n` +
    '  Default: every branch of the session. Applying the same rules twice adds nothing.\n' +
    "  --keep/--mask set the annotator's labels (they take precedence over the judge's and the rules'). STEPS is a comma-separated\n" +
    '  list of step numbers (1-based, on the main branch, or on the path of --branch ID), ranges of them, step ids or unique id\n' +
    `  prefixes (4+ characters), e.g. 1,3,5-8. --tag (${LABEL_TAGS.join(', ')}) and --note apply to every label written.\n` +
    `  ${ANNOTATOR_HELP}`,
  options: {
    rules: { type: 'string', multiple: true },
    branch: { type: 'string', multiple: true },
    'dry-run': { type: 'boolean' },
    'list-rules': { type: 'boolean' },
    keep: { type: 'string', multiple: true },
    mask: { type: 'string', multiple: true },
    tag: { type: 'string', multiple: true },
    note: { type: 'string' },
    ...annotatorOption,
  },
  async run(v, positionals) {
    if (v['list-rules']) {
      for (const r of listRules()) {
        console.log(`${r.name}\n  ${r.description}\n  params: ${JSON.stringify(r.params)}`);
      }
      return 0;
    }
    const sessionId = positionals[0];
    const byHand = v.keep !== undefined || v.mask !== undefined;
    if (!sessionId || positionals.length > 1) return usage('label', 'a SESSION is required (or --list-rules).', this.usage);
    if (byHand && v.rules !== undefined) return usage('label', 'give --rules or --keep/--mask, not both.', this.usage);
    const annotator = annotatorFrom(v);
    if (typeof annotator === 'object') return usage('label', annotator.error, this.usage);
    if (byHand) return labelByHand(v, sessionId, annotator, this.usage);

    let rules = listOption(v.rules);
    if (rules.length === 0) return usage('label', 'a SESSION and --rules NAME,... (or --keep/--mask STEPS) are required.', this.usage);
    if (v.tag !== undefined || v.note !== undefined) return usage('label', '--tag and --note go with --keep/--mask.', this.usage);
    if (rules.includes('all')) rules = [...RULE_NAMES];
    const unknown = rules.filter((r) => !(RULE_NAMES as readonly string[]).includes(r));
    if (unknown.length) return usage('label', `unknown rule(s) ${unknown.join(', ')}; known: ${RULE_NAMES.join(', ')}.`, this.usage);
    const dryRun = !!v['dry-run'];
    const author = runAuthor('rules', annotator);

    // A dry run only reads: no lock (it works beside a running app or `apollo serve`), nothing written.
    const core = await openCore(v, undefined, { readOnly: dryRun });
    try {
      const session = await core.session(sessionId);
      const branches = branchesToUse(trajectoryOf(session), sessionId, listOption(v.branch));
      if (branches.length === 0) {
        console.log(`session ${sessionId} has no steps to label`);
        return 0;
      }
      let applied = 0;
      const wouldApply = new Set<string>();
      for (const branchId of branches) {
        const t = trajectoryOf(session);
        const rows = rulesPreview(t, branchId, rules);
        const flagged = rows.reduce((n, r) => n + r.count, 0);
        console.log(`branch ${branchId}: ${flagged} step${flagged === 1 ? '' : 's'} flagged`);
        const width = Math.max(...rows.map((r) => r.rule.length));
        for (const r of rows) {
          const steps = r.stepIds.map((id) => stepName(t, id)).join(', ');
          console.log(`  ${r.rule.padEnd(width)}  ${String(r.count).padStart(3)}${steps ? `  ${steps}` : ''}`);
        }
        if (dryRun) {
          for (const e of pendingRuleEvents(t, branchId, rules, undefined, author)) if (e.type === 'label.set') wouldApply.add(e.stepId);
        } else {
          applied += (await applySessionRules(core, { sessionId, branchId, rules, author })).count;
        }
      }
      if (dryRun) console.log(`dry run: ${wouldApply.size} new rule label${wouldApply.size === 1 ? '' : 's'} would be written`);
      else console.log(`applied ${applied} new rule label${applied === 1 ? '' : 's'}`);
      return 0;
    } finally {
      await core.close();
    }
  },
};

/**
 * `--keep/--mask`: the annotator's own labels, written through setLabels (the path of the
 * app's labels.set) with the arguments checked by the contract's schema of labels.set.
 * Every step is resolved and every argument checked before anything is written.
 */
async function labelByHand(v: Record<string, unknown>, sessionId: string, annotator: string | undefined, usageText: string): Promise<number> {
  if (!annotator) {
    return usage('label', '--keep/--mask need --annotator NAME (or $APOLLO_ANNOTATOR): the labels are recorded as that annotator\'s.', usageText);
  }
  const branches = listOption(v.branch);
  if (branches.length > 1) return usage('label', 'give one --branch with --keep/--mask (step numbers count along its path).', usageText);
  const tags = listOption(v.tag).filter((x, i, a) => a.indexOf(x) === i);
  const badTags = tags.filter((x) => !(LABEL_TAGS as readonly string[]).includes(x));
  if (badTags.length) return usage('label', `unknown tag${badTags.length > 1 ? 's' : ''} ${badTags.join(', ')}; known: ${LABEL_TAGS.join(', ')}.`, usageText);
  const keep = parseStepList(listOption(v.keep), '--keep');
  if (typeof keep === 'string') return usage('label', keep, usageText);
  const mask = parseStepList(listOption(v.mask), '--mask');
  if (typeof mask === 'string') return usage('label', mask, usageText);
  if (keep.length + mask.length === 0) return usage('label', '--keep/--mask need a list of steps, e.g. 1,3,5-8.', usageText);
  const note = v.note as string | undefined;

  const core = await openCore(v, undefined, { readOnly: v['dry-run'] === true });
  try {
    const session = await core.session(sessionId);
    const t = trajectoryOf(session);
    const branchId = branches[0];
    if (branchId !== undefined && !t.branches.has(branchId)) {
      throw new ApolloError('NOT_FOUND', `Session ${sessionId} has no branch ${branchId} (it has ${[...t.branches.keys()].join(', ') || 'none'})`);
    }
    const keepIds = resolveStepList(t, sessionId, keep, branchId, '--keep');
    const maskIds = resolveStepList(t, sessionId, mask, branchId, '--mask');
    const both = keepIds.filter((id) => maskIds.includes(id));
    if (both.length) return usage('label', `${both.map((id) => stepName(t, id)).join(', ')} given to both --keep and --mask.`, usageText);
    // The contract's own check of labels.set, so the CLI accepts exactly what the app does.
    const writes: Array<ParsedArgsOf<'labels.set'>> = [];
    for (const [label, stepIds] of [['keep', keepIds], ['mask', maskIds]] as const) {
      if (!stepIds.length) continue;
      const args = commands['labels.set'].args.safeParse({ sessionId, stepIds, label, ...(tags.length ? { tags } : {}), ...(note !== undefined ? { note } : {}) });
      if (!args.success) return usage('label', args.error.issues.map((i) => `${i.path.join('.') || 'arguments'}: ${i.message}`).join('; '), usageText);
      writes.push(args.data);
    }

    const on = branchId ?? mainBranchId(t);
    console.log(`labels by ${annotator}${tags.length ? ` [${tags.join(', ')}]` : ''} (step numbers on branch ${on}):`);
    for (const [label, ids] of [['keep', keepIds], ['mask', maskIds]] as const) {
      if (ids.length) console.log(`  ${label}  ${String(ids.length).padStart(3)}  ${ids.map((id) => stepName(t, id)).join(', ')}`);
    }
    if (v['dry-run']) {
      console.log(`dry run: ${keepIds.length + maskIds.length} annotator label${keepIds.length + maskIds.length === 1 ? '' : 's'} would be written`);
      return 0;
    }
    // The app's path, authored by the named annotator instead of the workspace's.
    const labeller: LabelsCore = { session: (id) => core.session(id), annotator: () => annotator, profiles: core.profiles };
    let count = 0;
    for (const w of writes) count += (await setLabels(labeller, w)).count;
    console.log(`applied ${count} annotator label${count === 1 ? '' : 's'}`);
    return 0;
  } finally {
    await core.close();
  }
}
