import type { CliCommand } from './index';
import { openCore, usage } from './branch';
import { ApolloError } from '../../shared/errors';
import type { Trajectory } from '../../shared/trajectory';
import { trajectoryOf } from '../core/annotate/index';
import { listRules, RULE_NAMES } from '../core/labels/index';
import { applySessionRules, pendingRuleEvents, rulesPreview } from '../core/handlers/labels';

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

export const labelCommand: CliCommand = {
  summary: 'label the actions of a session with the built-in rules (preview, then apply)',
  usage:
    'apollo label SESSION --rules NAME,...|all [--branch ID] [--dry-run] [--home DIR]\n' +
    '       apollo label --list-rules\n' +
    `  Rules: ${RULE_NAMES.join(', ')}. Rules only ever mask; annotator and judge labels take precedence.\n` +
    '  Default: every branch of the session. Applying the same rules twice adds nothing.',
  options: {
    rules: { type: 'string', multiple: true },
    branch: { type: 'string', multiple: true },
    'dry-run': { type: 'boolean' },
    'list-rules': { type: 'boolean' },
  },
  async run(v, positionals) {
    if (v['list-rules']) {
      for (const r of listRules()) {
        console.log(`${r.name}\n  ${r.description}\n  params: ${JSON.stringify(r.params)}`);
      }
      return 0;
    }
    const sessionId = positionals[0];
    let rules = listOption(v.rules);
    if (!sessionId || positionals.length > 1 || rules.length === 0) return usage('label', 'a SESSION and --rules NAME,... are required (or --list-rules).', this.usage);
    if (rules.includes('all')) rules = [...RULE_NAMES];
    const unknown = rules.filter((r) => !(RULE_NAMES as readonly string[]).includes(r));
    if (unknown.length) return usage('label', `unknown rule(s) ${unknown.join(', ')}; known: ${RULE_NAMES.join(', ')}.`, this.usage);
    const dryRun = !!v['dry-run'];

    const core = await openCore(v);
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
          for (const e of pendingRuleEvents(t, branchId, rules)) if (e.type === 'label.set') wouldApply.add(e.stepId);
        } else {
          applied += (await applySessionRules(core, { sessionId, branchId, rules })).count;
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
