// Built-in labelling rules: cheap, explainable first-pass masks over a branch path.
// Rules only ever propose `mask`; their labels have source 'rule', author 'rules' (or
// 'rules (NAME)' when a named annotator ran them) and the rule's name, so annotator and
// judge labels always win (see effectiveLabel), and re-applying the same rules emits
// nothing new.
//
// MALFORMED-CALL MARKER (contract with the rollout engine's tool dispatcher):
//   When the model calls an unknown tool, gives arguments that are not a JSON object, or
//   omits / mistypes a required argument, the dispatcher records the call's result as
//     action.result { isError: true, observation: "Error: invalid tool call: <reason>" }
//   e.g. `Error: invalid tool call: unknown tool "run_cmd"`,
//        `Error: invalid tool call: arguments are not valid JSON (Unexpected end of input)`,
//        `Error: invalid tool call: missing required argument "command"`.
//   The rule matches /^\s*Error: invalid tool call\b/i on results with isError, and also
//   accepts the variants `Error: unknown tool`, `Error: invalid arguments`,
//   `Error: missing (required) argument`. Independently of the marker it flags calls whose
//   arguments do not parse as a JSON object, and (with param `toolNames`) unknown tool names.
//
// Steps written by a human (response.humanAuthored) are never masked by a rule: they are
// the behaviour-cloning signal.
//
// SCOPE ACROSS BRANCHES: a rule is applied to one branch path, but a step before a fork
// point lies on the path of every branch forked after it, and a label is one per step,
// whichever branch is exported. So a rule never labels a step shared with other branches
// unless its reason holds on each of those branches' paths. Each rule declares how its
// reason relates to the branches through a step (`scope`, decided per rule below):
//   'step'  the reason is a fact about the step and what came before it (its ancestors),
//           which every branch through the step shares, so it holds on all of them;
//   'path'  the reason looks at what follows the step, which differs per branch: the rule
//           is evaluated on every branch path through the step and flags it only when
//           each of them flags it (so the answer is the same whichever branch is labelled).
import { ApolloError } from '../../../shared/errors';
import type { LabelSource, LabelTag, SessionEventBody } from '../../../shared/events';
import { branchPath, pairResults, type LabelRecord, type Step, type Trajectory } from '../../../shared/trajectory';

export type RuleParamValue = number | string | boolean | string[];
export type RuleParams = Record<string, RuleParamValue>;

export interface RuleProposal {
  stepId: string;
  label: 'mask';
  tags: LabelTag[];
  note: string;
}

/** See SCOPE ACROSS BRANCHES above. */
export type RuleScope = 'step' | 'path';

export interface Rule {
  name: RuleName;
  description: string;
  /** Defaults; callers override any subset. */
  params: RuleParams;
  scope: RuleScope;
  /** Proposals on a branch path, already scoped: a shared step only where the reason holds on every branch through it. */
  apply(traj: Trajectory, branchId: string, params: RuleParams): RuleProposal[];
}

type RuleBody = Rule['apply'];

/** In precedence order: when several rules flag a step, the first one names its label. */
export const RULE_NAMES = ['malformed-call', 'failed-retry', 'repeated-action', 'drift-before-guidance', 'abandoned-branch'] as const;
export type RuleName = (typeof RULE_NAMES)[number];

export const MALFORMED_CALL_MARKER = 'Error: invalid tool call';
const MALFORMED_RE = /^\s*Error: (?:invalid tool call\b|unknown tool\b|invalid arguments\b|missing (?:required )?argument\b)/i;

// ------------------------------------------------------------------ helpers

/** Steps of the path that are actions (have a model response), in order. */
function actions(traj: Trajectory, branchId: string): Step[] {
  if (!traj.branches.has(branchId)) throw new ApolloError('NOT_FOUND', `No branch ${branchId}`);
  return branchPath(traj, branchId).filter((s) => s.response);
}

function parseArgs(raw: string): Record<string, unknown> | null {
  if (raw.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(raw);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** Canonical text of one call: name + arguments with sorted keys (raw text if invalid). */
function callKey(c: { name: string; arguments: string }): string {
  const a = parseArgs(c.arguments);
  return `${c.name}(${a ? stable(a) : c.arguments.trim()})`;
}

const COMMAND_KEYS = ['command', 'cmd', 'code', 'script', 'input', 'keys'];

/** What a call "runs", for similarity: its command-like argument, else its canonical arguments. */
function callCommand(c: { name: string; arguments: string }): string {
  const a = parseArgs(c.arguments);
  if (a) for (const k of COMMAND_KEYS) if (typeof a[k] === 'string') return (a[k] as string).trim();
  return a ? stable(a) : c.arguments.trim();
}

function tokens(s: string): Set<string> {
  return new Set(s.split(/[\s;&|]+/).filter(Boolean));
}

/** Jaccard similarity of whitespace tokens (1 = same tokens). */
export function commandSimilarity(a: string, b: string): number {
  if (a === b) return 1;
  const ta = tokens(a);
  const tb = tokens(b);
  if (ta.size === 0 && tb.size === 0) return 1;
  let inter = 0;
  for (const t of ta) if (tb.has(t)) inter++;
  return inter / (ta.size + tb.size - inter);
}

const EXIT_RE = /\bexit(?:ed)?[ _]?(?:code|status)?["']?\s*(?:[:=]|with(?: code| status)?)?\s*\(?(-?[1-9]\d*)\b/i;

function num(p: RuleParams, k: string): number {
  const v = p[k];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ApolloError('BAD_REQUEST', `Rule parameter ${k} must be a number`);
  return v;
}
function str(p: RuleParams, k: string): string {
  const v = p[k];
  if (typeof v !== 'string') throw new ApolloError('BAD_REQUEST', `Rule parameter ${k} must be a string`);
  return v;
}
function list(p: RuleParams, k: string): string[] {
  const v = p[k];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new ApolloError('BAD_REQUEST', `Rule parameter ${k} must be a list of strings`);
  return v;
}
function regex(p: RuleParams, k: string): RegExp | null {
  const s = str(p, k);
  if (s === '') return null;
  try {
    return new RegExp(s, 'm');
  } catch (e) {
    throw new ApolloError('BAD_REQUEST', `Rule parameter ${k} is not a valid regular expression: ${(e as Error).message}`);
  }
}

const maskable = (s: Step): boolean => !!s.response && !s.response.humanAuthored;

/**
 * For each of `stepIds`, the branches whose path contains it (including branches with no
 * steps of their own yet: their path ends at their fork point, which they build on).
 */
function branchesThrough(traj: Trajectory, stepIds: ReadonlySet<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const b of traj.branches.keys()) {
    for (const s of branchPath(traj, b)) {
      if (!stepIds.has(s.id)) continue;
      const list = out.get(s.id);
      if (list) list.push(b);
      else out.set(s.id, [b]);
    }
  }
  return out;
}

/**
 * A 'path' rule made safe for shared steps: what `body` flags on this branch, kept only
 * where `body` flags the same step on every other branch through it. The notes are this
 * branch's (they name steps of its path).
 */
function onEveryBranch(body: RuleBody): RuleBody {
  return (traj, branchId, params) => {
    const mine = body(traj, branchId, params);
    if (mine.length === 0) return mine;
    const through = branchesThrough(traj, new Set(mine.map((p) => p.stepId)));
    const flaggedOn = new Map<string, Set<string>>();
    const holdsOn = (b: string, stepId: string): boolean => {
      let set = flaggedOn.get(b);
      if (!set) flaggedOn.set(b, (set = new Set(body(traj, b, params).map((p) => p.stepId))));
      return set.has(stepId);
    };
    return mine.filter((p) => (through.get(p.stepId) ?? []).every((b) => b === branchId || holdsOn(b, p.stepId)));
  };
}

function defineRule(r: Omit<Rule, 'apply'> & { body: RuleBody }): Rule {
  const { body, ...rest } = r;
  return { ...rest, apply: r.scope === 'path' ? onEveryBranch(body) : body };
}

/** The latest start time in each step's subtree (the step and every step built on it, on any branch). */
function latestInSubtree(traj: Trajectory): Map<string, number> {
  const latest = new Map<string, number>();
  // Children start after their parents, so walking the start order backwards sees a
  // step's whole subtree before the step itself.
  for (let i = traj.order.length - 1; i >= 0; i--) {
    const s = traj.steps.get(traj.order[i]!);
    if (!s) continue;
    const t = Math.max(latest.get(s.id) ?? -Infinity, s.startedAt);
    latest.set(s.id, t);
    if (s.parentId) latest.set(s.parentId, Math.max(latest.get(s.parentId) ?? -Infinity, t));
  }
  return latest;
}

// ------------------------------------------------------------------ rules

// Scope 'path': "failed, then retried" is about the steps after the failure, and each
// branch forked after it continued differently. A failure that one branch retried may be
// what another branch learned from (it changed course instead of retrying), so the failed
// step is masked only when every branch through it retried it within the lookahead.
const failedRetry = defineRule({
  name: 'failed-retry',
  description:
    'A command that failed (tool error, a nonzero exit code in its output, or an error pattern) and was then retried, ' +
    'the same or a similar command within the next few steps: the failed attempt is masked. A step shared by several ' +
    'branches only when it was retried on each of them.',
  params: {
    lookahead: 3,
    similarity: 0.6,
    errorPattern: String.raw`Traceback \(most recent call last\)|command not found|No such file or directory|^\s*(?:Error|ERROR|FATAL)\b`,
  },
  scope: 'path',
  body(traj, branchId, p) {
    const lookahead = num(p, 'lookahead');
    const minSim = num(p, 'similarity');
    const errRe = regex(p, 'errorPattern');
    const steps = actions(traj, branchId);
    const out: RuleProposal[] = [];
    steps.forEach((s, i) => {
      if (!maskable(s)) return;
      const results = pairResults(s.response!.toolCalls, s.results);
      for (const [k, c] of s.response!.toolCalls.entries()) {
        const res = results[k];
        if (!res) continue;
        if (MALFORMED_RE.test(res.observation)) continue; // malformed-call's business
        const exit = EXIT_RE.exec(res.observation);
        const failed = res.isError || !!exit || (errRe?.test(res.observation) ?? false);
        if (!failed) continue;
        const cmd = callCommand(c);
        for (let k = i + 1; k < steps.length && k <= i + lookahead; k++) {
          const later = steps[k]!;
          const retry = later.response!.toolCalls.find((d) => d.name === c.name && commandSimilarity(cmd, callCommand(d)) >= minSim);
          if (retry) {
            const why = exit ? `exit code ${exit[1]}` : res.isError ? 'tool error' : 'error output';
            out.push({ stepId: s.id, label: 'mask', tags: ['error'], note: `${c.name} failed (${why}) and was retried at step ${later.depth}` });
            return;
          }
        }
      }
    });
    return out;
  },
});

// Scope 'step': the action it repeats is the previous action on the path, an ancestor
// of the step, which every branch through the step shares.
const repeatedAction = defineRule({
  name: 'repeated-action',
  description: 'An action identical to the one just before it (same tools, same arguments): the repetition is masked.',
  params: { ignoreTools: ['sleep'] },
  scope: 'step',
  body(traj, branchId, p) {
    const ignore = new Set(list(p, 'ignoreTools'));
    const steps = actions(traj, branchId);
    const out: RuleProposal[] = [];
    for (let i = 1; i < steps.length; i++) {
      const prev = steps[i - 1]!.response!.toolCalls;
      const cur = steps[i]!.response!.toolCalls;
      if (!maskable(steps[i]!) || cur.length === 0 || cur.length !== prev.length) continue;
      if (cur.every((c) => ignore.has(c.name))) continue;
      if (cur.every((c, j) => callKey(c) === callKey(prev[j]!))) {
        out.push({ stepId: steps[i]!.id, label: 'mask', tags: ['redundant'], note: `repeats step ${steps[i - 1]!.depth}` });
      }
    }
    return out;
  },
});

// Scope 'step', by construction: whether a step was abandoned is decided on the whole
// tree, not on the path being labelled, so every branch through a step gets the same
// answer. A human branch or rewind (a decision to go on elsewhere) abandons a step when
//   - the step is not on the new branch's path (that is the line chosen: its fork point
//     and everything before it are kept), and
//   - nothing was recorded in the step's subtree after the fork: no later step, on any
//     branch, builds on it. A step some branch still continued from is relied on, so the
//     steps the continued branch shares, its own steps, and a line resumed after the fork
//     are never masked.
// This covers the original line after the fork point (the steps existing then) and
// sibling branches left when the annotator branched again somewhere else. Only branch
// and rewind events count as decisions: a line merely resumed later is not taken as a
// verdict on the others (a rollout may still be running there).
const abandonedBranch = defineRule({
  name: 'abandoned-branch',
  description:
    'Steps the annotator left behind by branching or rewinding: steps that already existed when a branch or rewind was made, ' +
    'are not on the new branch\'s path, and that nothing continued from afterwards. Steps a branch still builds on ' +
    '(the continued branch, what it shares, a line resumed later) are never masked.',
  params: { reasons: ['branch', 'rewind'] },
  scope: 'step',
  body(traj, branchId, p) {
    const reasons = new Set(list(p, 'reasons'));
    if (!traj.branches.has(branchId)) throw new ApolloError('NOT_FOUND', `No branch ${branchId}`);
    // A fork point missing from a damaged log says nothing about which line was chosen.
    const forks = [...traj.branches.values()].filter(
      (b) => b.reason !== 'root' && reasons.has(b.reason) && b.author !== 'agent' && (b.fromStepId === null || traj.steps.has(b.fromStepId)),
    );
    if (forks.length === 0) return [];
    const latest = latestInSubtree(traj);
    const chosen = new Map<string, Set<string>>();
    const onChosenPath = (forkId: string, stepId: string): boolean => {
      let set = chosen.get(forkId);
      if (!set) chosen.set(forkId, (set = new Set(branchPath(traj, forkId).map((s) => s.id))));
      return set.has(stepId);
    };
    const out: RuleProposal[] = [];
    for (const s of branchPath(traj, branchId)) {
      if (!maskable(s)) continue;
      const last = latest.get(s.id) ?? s.startedAt;
      // Branches in creation order: the note names the first decision that left the step behind.
      const b = forks.find((f) => last <= f.createdAt && !onChosenPath(f.id, s.id));
      if (!b) continue;
      const from = b.fromStepId === null ? 'the task' : `step ${traj.steps.get(b.fromStepId)?.depth ?? b.fromStepId}`;
      out.push({ stepId: s.id, label: 'mask', tags: ['superseded'], note: `abandoned: ${b.reason === 'rewind' ? 'rewound' : 'branched'} to "${b.name}" from ${from} by ${b.author}` });
    }
    return out;
  },
});

// Scope 'step': the call and its result belong to the step itself.
const malformedCall = defineRule({
  name: 'malformed-call',
  description:
    `A tool call the dispatcher rejected (result isError starting with "${MALFORMED_CALL_MARKER}"), arguments that are not a JSON object, ` +
    'or (with toolNames) an unknown tool name.',
  params: { toolNames: [] },
  scope: 'step',
  body(traj, branchId, p) {
    const known = new Set(list(p, 'toolNames'));
    const out: RuleProposal[] = [];
    for (const s of actions(traj, branchId)) {
      if (!maskable(s)) continue;
      let why: string | null = null;
      const results = pairResults(s.response!.toolCalls, s.results);
      for (const [k, c] of s.response!.toolCalls.entries()) {
        const res = results[k];
        if (res && res.isError && MALFORMED_RE.test(res.observation)) why = res.observation.trim().split('\n')[0]!.slice(0, 200);
        else if (!parseArgs(c.arguments)) why = `arguments of ${c.name} are not a JSON object`;
        else if (known.size && !known.has(c.name)) why = `unknown tool ${c.name}`;
        if (why) break;
      }
      if (why) out.push({ stepId: s.id, label: 'mask', tags: ['error'], note: `malformed call: ${why}` });
    }
    return out;
  },
});

// Scope 'path': the guidance comes after the steps it marks as drift, and which guidance
// a path contains depends on the branch (guidance queued for a branch is on the paths
// that run through that branch, the prompt builder's filter). A human who stepped in on
// one branch judged that branch's course; a sibling that went on from the same steps
// without correction relies on them, so a shared step is masked only when guidance
// follows it within the window on every branch through it.
const driftBeforeGuidance = defineRule({
  name: 'drift-before-guidance',
  description:
    'The N actions up to a guidance delivery on this path (the human stepped in because the agent drifted). A step shared by ' +
    'several branches only when guidance follows it within N actions on each of them.',
  params: { window: 3 },
  scope: 'path',
  body(traj, branchId, p) {
    const window = Math.max(0, Math.floor(num(p, 'window')));
    const steps = actions(traj, branchId);
    const pathBranches = new Set(branchPath(traj, branchId).map((s) => s.branchId).concat(branchId));
    const out = new Map<string, RuleProposal>();
    steps.forEach((s, i) => {
      const gs = s.guidance.map((id) => traj.guidance.get(id)).filter((g) => g && (!g.branchId || pathBranches.has(g.branchId)));
      if (!gs.length) return;
      for (let j = Math.max(0, i - window + 1); j <= i; j++) {
        const t = steps[j]!;
        if (!maskable(t) || out.has(t.id)) continue;
        out.set(t.id, { stepId: t.id, label: 'mask', tags: ['off-track'], note: `${i - j === 0 ? 'right' : `${i - j} step(s)`} before the guidance delivered after step ${s.depth}` });
      }
    });
    return [...out.values()];
  },
});

export const RULES: Record<RuleName, Rule> = {
  'failed-retry': failedRetry,
  'repeated-action': repeatedAction,
  'abandoned-branch': abandonedBranch,
  'malformed-call': malformedCall,
  'drift-before-guidance': driftBeforeGuidance,
};

export function listRules(): Array<Pick<Rule, 'name' | 'description' | 'params'>> {
  return RULE_NAMES.map((n) => ({ name: n, description: RULES[n].description, params: RULES[n].params }));
}

// ------------------------------------------------------------------ preview / events

export type RuleParamOverrides = Partial<Record<RuleName, Partial<RuleParams>>>;

export interface RuleLabel extends RuleProposal {
  rule: RuleName;
}

export interface RulePreview {
  /** Steps each rule flagged (a step flagged by two rules counts for both). */
  counts: Record<string, number>;
  /** One proposal per step: the first rule in `ruleNames` order that flagged it. */
  labels: RuleLabel[];
}

function checkNames(ruleNames: readonly string[]): RuleName[] {
  for (const n of ruleNames) if (!(RULE_NAMES as readonly string[]).includes(n)) throw new ApolloError('BAD_REQUEST', `Unknown rule ${n}`);
  return ruleNames.filter((n, i, a) => a.indexOf(n) === i) as RuleName[];
}

export function previewRules(traj: Trajectory, branchId: string, ruleNames: readonly string[] = RULE_NAMES, params: RuleParamOverrides = {}): RulePreview {
  const names = checkNames(ruleNames);
  const counts: Record<string, number> = {};
  const byStep = new Map<string, RuleLabel>();
  for (const n of names) {
    const rule = RULES[n];
    const merged: RuleParams = { ...rule.params };
    for (const [k, v] of Object.entries(params[n] ?? {})) if (v !== undefined) merged[k] = v;
    const found = rule.apply(traj, branchId, merged);
    counts[n] = found.length;
    for (const f of found) if (!byStep.has(f.stepId)) byStep.set(f.stepId, { ...f, rule: n });
  }
  const order = new Map(branchPath(traj, branchId).map((s, i) => [s.id, i]));
  const labels = [...byStep.values()].sort((a, b) => order.get(a.stepId)! - order.get(b.stepId)!);
  return { counts, labels };
}

type LabelSet = Extract<SessionEventBody, { type: 'label.set' }>;
type LabelCleared = Extract<SessionEventBody, { type: 'label.cleared' }>;

/** The step's latest rule-source record, or null when none or cleared. */
function currentRuleLabel(step: Step): LabelRecord | null {
  for (let i = step.labelHistory.length - 1; i >= 0; i--) {
    const l = step.labelHistory[i]!;
    if (l.source !== 'rule') continue;
    return l.rule === '__cleared__' ? null : l;
  }
  return null;
}

/**
 * `label.set` bodies (source 'rule', author 'rules') for what the rules propose on a
 * branch path, leaving out steps whose current rule label is already identical (so
 * applying twice emits nothing the second time). With `clearStale`, steps whose
 * current rule label came from one of these rules but that no rule flags any more
 * get a `label.cleared` for source 'rule'.
 */
export function ruleEvents(
  traj: Trajectory,
  branchId: string,
  ruleNames: readonly string[] = RULE_NAMES,
  params: RuleParamOverrides = {},
  opts: { author?: string; clearStale?: boolean } = {},
): Array<LabelSet | LabelCleared> {
  const author = opts.author ?? 'rules';
  const source: LabelSource = 'rule';
  const { labels } = previewRules(traj, branchId, ruleNames, params);
  const out: Array<LabelSet | LabelCleared> = [];
  const proposed = new Set<string>();
  for (const l of labels) {
    proposed.add(l.stepId);
    const cur = currentRuleLabel(traj.steps.get(l.stepId)!);
    if (cur && cur.label === l.label && cur.rule === l.rule && cur.note === l.note && cur.tags.join('\u0000') === l.tags.join('\u0000')) continue;
    out.push({ type: 'label.set', stepId: l.stepId, label: l.label, tags: l.tags, note: l.note, source, author, rule: l.rule });
  }
  if (opts.clearStale) {
    const names = new Set<string>(checkNames(ruleNames));
    for (const s of branchPath(traj, branchId)) {
      if (proposed.has(s.id)) continue;
      const cur = currentRuleLabel(s);
      if (cur && cur.rule && names.has(cur.rule)) out.push({ type: 'label.cleared', stepId: s.id, source, author });
    }
  }
  return out;
}
