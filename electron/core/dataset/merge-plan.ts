// The plan of a merge, in memory and without I/O: which label each action gets,
// which context windows become examples with which weights, the recordings to copy,
// and the provenance of all of it (the merged trajectory and redaction records are
// derived from the plan in merge-records.ts).
//
// Actions are identified by session and step (step ids are unique within a session;
// labels are per step, whichever branches share it). Every input's step records
// cast votes (merge-votes.ts) and the policy decides each action once.
//
// Examples are context windows: each input line is one, identified by its content
// without weights (merge-read.ts exampleKey), so every annotator's copy of a window
// is one candidate, whatever they labelled. Candidates are taken in input order, then
// line order; each turn is trained in the first candidate that holds its step, when
// the step is kept; a candidate that trains nothing is left out. So every kept action
// is trained exactly once, with a context a model really saw, and a differently
// labelled copy of a branch is never trained twice.
import { ApolloError } from '../../../shared/errors';
import type { ExportFormat, Manifest } from './bundle';
import { UNSETTLED } from '../../../shared/merge-report';
import type { Agreement, BundleFile, MergeConflict, MergedManifest, MergePolicy, Origin, Vote } from './manifest-schema';
import { agreementOf, type Label } from './merge-agreement';
import type { Input, InputExample, InputStep } from './merge-read';
import { countedVotes, decide, type ActionFacts, type Decision } from './merge-votes';
import { settlementApplies, type Settlement } from './merge-settlements';
import { resolvePolicy, type LabelPolicy } from './policy';


export interface PlanOptions {
  policy: MergePolicy;
  /**
   * The lead's decisions for conflicts: under the manual policy, and over any other
   * policy's; the first that applies wins (merge-settlements.ts), before those the
   * inputs' merged records carry.
   */
  settlements?: readonly Settlement[];
  allowMixedPolicies?: boolean;
  /**
   * Manual conflicts without a settlement: refused (a merge), or left in the plan as
   * provisionally masked with settledBy "unsettled" (a dry run: the lead settles them next).
   */
  unsettled?: 'refuse' | 'leave';
}

export interface PlannedAction {
  sessionId: string;
  stepId: string;
  facts: ActionFacts;
  decision: Decision;
  /** The bundles (origin paths) each counted vote was found in. */
  voteBundles: Map<Vote, string[]>;
  /** Trained in a merged example. */
  trained: boolean;
}

export interface PlannedExample {
  /** Line in the merged openai.jsonl. */
  line: number;
  /** The input whose line is written (the first that held this window). */
  input: Input;
  ex: InputExample;
  entry: Manifest['trajectories'][number];
  /** Weight per assistant turn. */
  weights: Array<0 | 1>;
  trainedSteps: string[];
  /** Indexes into plan.origins. */
  origins: number[];
  annotators: string[];
  unlabelled: number;
}

export interface PlannedStep {
  stepId: string;
  copies: Array<{ input: Input; step: InputStep }>;
}

export interface PlannedSession {
  sessionId: string;
  copies: Input[];
  steps: PlannedStep[];
}

export interface PlannedCast {
  input: Input;
  file: BundleFile;
  out: string;
}

export interface MergePlan {
  policy: MergePolicy;
  formats: ExportFormat[];
  formatsMissing: MergedManifest['merge']['formatsMissing'];
  labelPolicy: LabelPolicy | null;
  options: Manifest['options'];
  origins: Origin[];
  /** Per input, its origin indexes in plan.origins. */
  originIndex: Map<Input, number[]>;
  actions: Map<string, PlannedAction>;
  examples: PlannedExample[];
  /** Per input, line index (k) → the example written from it. */
  writtenFrom: Map<Input, Map<number, PlannedExample>>;
  sessions: PlannedSession[];
  manifestSessions: Manifest['sessions'];
  /** Everyone the inputs' manifests name, sorted. */
  annotatorNames: string[];
  casts: PlannedCast[];
  /** Per input, its recording path → the merged path (null: an identical recording is already copied). */
  castOut: Map<Input, Map<string, string | null>>;
  castsDeduplicated: number;
  conflicts: MergeConflict[];
  /** Manual conflicts left for the lead (only with `unsettled: 'leave'`). */
  unsettled: number;
  agreement: Agreement;
  annotators: MergedManifest['merge']['annotators'];
  examplesIn: number;
  distinctExamples: number;
  nothingToTrain: number;
  noContext: number;
  allowReasoning: boolean;
  warnings: string[];
}

export const actionKey = (sessionId: string, stepId: string): string => `${sessionId}\u0000${stepId}`;
const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const sortedUnique = (xs: Iterable<string>): string[] => [...new Set(xs)].sort(byString);

/** Plan a merge of verified inputs. Throws when policies mix (unless allowed), copies of a step differ, or manual conflicts are unsettled. */
export function planMerge(inputs: Input[], opts: PlanOptions): MergePlan {
  const labelPolicy = checkPolicies(inputs, !!opts.allowMixedPolicies);
  const { origins, originIndex } = collectOrigins(inputs);
  const sessions = collectSessions(inputs);
  const reopened: string[] = [];
  const actions = decideActions(sessions, origins, originIndex, opts, reopened);
  const { examples, writtenFrom, distinct, nothingToTrain } = chooseExamples(inputs, actions, originIndex);
  const noContext = [...actions.values()].filter((a) => a.decision.label === 'keep' && !a.trained).length;
  const hasCasts = inputs.some((b) => b.manifest.formats.includes('asciicast'));
  const formats: ExportFormat[] = ['openai', 'sharegpt', 'mistral', 'trajectory', ...(hasCasts ? ['asciicast' as const] : [])];
  const formatsMissing = hasCasts && inputs.some((b) => !b.manifest.formats.includes('asciicast'))
    ? [{ format: 'asciicast' as const, missingFrom: inputs.filter((b) => !b.manifest.formats.includes('asciicast')).map((b) => b.path) }]
    : [];
  const casts = planCasts(inputs);
  const warnings: string[] = [];
  if (reopened.length) {
    warnings.push(`${reopened.length} earlier settlement(s) no longer apply, as a label they settled has changed: ${reopened.slice(0, 10).join(', ')}${reopened.length > 10 ? ', …' : ''} (decided again${opts.policy.kind === 'manual' ? ', to settle' : ' by the policy'})`);
  }
  if (noContext) {
    warnings.push(`${noContext} action(s) are kept by the policy but no input holds an example with their context (an earlier merge left it out): they are not trained; merge the original bundles to train them`);
  }
  if (opts.policy.kind === 'prefer') {
    const voters = new Set([...actions.values()].flatMap((a) => a.facts.votes.map((v) => v.author)));
    const absent = opts.policy.annotators.filter((n) => !voters.has(n));
    if (absent.length) warnings.push(`prefer: ${absent.join(', ')} labelled nothing in these bundles (annotators: ${[...voters].sort(byString).join(', ') || 'none'})`);
  }
  for (const b of inputs) {
    if (!b.signer) warnings.push(`${b.path} is not signed: accepted because unsigned bundles were allowed; who made it cannot be verified`);
  }
  const unlabelled = [...actions.values()].filter((a) => a.decision.unlabelled).length;
  if (unlabelled) warnings.push(`${unlabelled} action(s) were labelled by nobody in any bundle: their bundles' unlabelled policy decided`);
  const options = mergedOptions(inputs, warnings);
  return {
    policy: opts.policy, formats, formatsMissing, labelPolicy, options, origins, originIndex, actions, examples, writtenFrom, sessions,
    manifestSessions: manifestSessions(inputs, examples, hasCasts), annotatorNames: sortedUnique(inputs.flatMap((b) => b.manifest.annotators)), ...casts,
    conflicts: conflictsOf(actions), unsettled: [...actions.values()].filter((a) => a.decision.settledBy === UNSETTLED).length, agreement: agreementOf(ratingsOf(actions)), annotators: annotatorCounts(actions, origins),
    examplesIn: inputs.reduce((n, b) => n + b.examples.length, 0), distinctExamples: distinct, nothingToTrain, noContext,
    allowReasoning: inputs.some((b) => b.hasReasoning), warnings,
  };
}

// ---------------------------------------------------------------- policies, origins, options

function checkPolicies(inputs: Input[], allowMixed: boolean): LabelPolicy | null {
  const keyOf = (b: Input): string => JSON.stringify(b.manifest.labelPolicy === null ? null : resolvePolicy(b.manifest.labelPolicy));
  const keys = [...new Set(inputs.map(keyOf))];
  if (keys.length > 1 && !allowMixed) {
    const show = (b: Input): string => `${b.path}: ${keyOf(b) === 'null' ? 'mixed' : keyOf(b)}`;
    throw new ApolloError('BAD_REQUEST', `The bundles were exported under different label policies (${inputs.map(show).join('; ')}); re-export them under one policy or allow mixed policies`, {
      policies: inputs.map((b) => ({ bundle: b.path, labelPolicy: b.manifest.labelPolicy })),
    });
  }
  const first = inputs[0]!.manifest.labelPolicy;
  return keys.length === 1 && first ? resolvePolicy(first) : null;
}

/** The exported bundles behind the inputs, once each (by manifest hash), in first-seen order. */
function collectOrigins(inputs: Input[]): { origins: Origin[]; originIndex: Map<Input, number[]> } {
  const origins: Origin[] = [];
  const bySha = new Map<string, number>();
  const originIndex = new Map<Input, number[]>();
  for (const input of inputs) {
    originIndex.set(input, input.origins.map((o) => {
      let i = bySha.get(o.manifestSha256);
      if (i === undefined) {
        i = origins.length;
        origins.push(o);
        bySha.set(o.manifestSha256, i);
      }
      return i;
    }));
  }
  return { origins, originIndex };
}

function mergedOptions(inputs: Input[], warnings: string[]): Manifest['options'] {
  const opts = inputs.map((b) => b.manifest.options);
  const max = new Set(opts.map((o) => o.maxTokens));
  if (max.size > 1) warnings.push(`the bundles were exported with different token limits (${[...max].map((m) => m ?? 'none').join(', ')}): their examples are split differently`);
  return {
    maxTokens: max.size === 1 ? opts[0]!.maxTokens : null,
    // Per-action history and warnings follow the strictest input, so every line fits where any input's did.
    historyTokens: Math.min(...opts.map((o) => o.historyTokens)),
    warnTokens: Math.min(...opts.map((o) => o.warnTokens)),
    includeSummaries: opts.some((o) => o.includeSummaries),
    dedupe: 'one-example-per-step',
  };
}

// ---------------------------------------------------------------- step records

/** Sessions in first-seen order, each step with its copies; copies of a step must be the same step. */
function collectSessions(inputs: Input[]): PlannedSession[] {
  const out = new Map<string, PlannedSession & { byId: Map<string, PlannedStep> }>();
  for (const input of inputs) {
    for (const [sid, s] of input.sessions) {
      let ps = out.get(sid);
      if (!ps) {
        ps = { sessionId: sid, copies: [], steps: [], byId: new Map() };
        out.set(sid, ps);
      }
      ps.copies.push(input);
      for (const id of s.order) {
        const step = s.steps.get(id)!;
        const cur = ps.byId.get(id);
        if (!cur) {
          const p: PlannedStep = { stepId: id, copies: [{ input, step }] };
          ps.byId.set(id, p);
          ps.steps.push(p);
          continue;
        }
        const first = cur.copies[0]!;
        if (first.step.core !== step.core) {
          throw new ApolloError('BAD_REQUEST', `Session ${sid} step ${id} differs between bundles ${first.input.path} and ${input.path} (another reply or other results): they are not copies of one session and cannot be merged by action`, { sessionId: sid, stepId: id, bundles: [first.input.path, input.path] });
        }
        cur.copies.push({ input, step });
      }
    }
  }
  return [...out.values()].map(({ byId: _b, ...s }) => s);
}

/** Gather every copy's votes and facts, decide each action; a manual merge with unsettled conflicts is refused, listing them. */
function decideActions(sessions: PlannedSession[], origins: Origin[], originIndex: Map<Input, number[]>, opts: PlanOptions, reopened: string[]): Map<string, PlannedAction> {
  const settled = new Map<string, Settlement[]>();
  for (const x of opts.settlements ?? []) {
    const k = actionKey(x.sessionId, x.stepId);
    settled.set(k, [...(settled.get(k) ?? []), x]);
  }
  const actions = new Map<string, PlannedAction>();
  const unsettled: Array<{ sessionId: string; stepId: string; votes: string }> = [];
  for (const s of sessions) {
    for (const p of s.steps) {
      if (!p.copies.some((c) => c.step.isAction)) continue;
      const folded = new Map<string, { vote: Vote; bundles: Set<string> }>();
      const defaults: Array<0 | 1> = [];
      let invalidArguments = false;
      let secret = false;
      const branchIds: string[] = [];
      for (const { input, step } of p.copies) {
        const local = originIndex.get(input)!;
        for (const v of step.votes) {
          const vote = { ...v, origin: local[v.origin]! };
          const key = `${vote.source}\u0000${vote.author}`;
          const cur = folded.get(key);
          if (!cur || vote.at > cur.vote.at) folded.set(key, { vote, bundles: new Set([origins[vote.origin]!.path]) });
          else if (vote.at === cur.vote.at && vote.label === cur.vote.label) cur.bundles.add(origins[vote.origin]!.path);
        }
        if (step.reason === 'unlabelled' && step.decided !== null) defaults.push(step.decided);
        if (step.reason === 'invalid-arguments') invalidArguments = true;
        if (input.secretSteps.get(s.sessionId)?.has(p.stepId)) secret = true;
        for (const b of step.onBranches) if (!branchIds.includes(b)) branchIds.push(b);
      }
      const votes = [...folded.values()].map((x) => x.vote).sort((a, b) => byString(a.source, b.source) || byString(a.author, b.author));
      const facts: ActionFacts = { sessionId: s.sessionId, stepId: p.stepId, branchIds, votes, defaults, invalidArguments, secret };
      const key = actionKey(s.sessionId, p.stepId);
      const candidates = [...(settled.get(key) ?? []), ...p.copies.flatMap((c) => (c.step.settled ? [c.step.settled] : []))];
      const counted = countedVotes(votes);
      const settlement = candidates.find((x) => settlementApplies(x, counted));
      let decision = decide(facts, opts.policy, settlement?.label);
      if (!settlement && candidates.length && new Set(counted.map((v) => v.label)).size > 1) reopened.push(`${s.sessionId}/${p.stepId}`);
      if (decision === 'unsettled') {
        if (opts.unsettled !== 'leave') {
          unsettled.push({ sessionId: s.sessionId, stepId: p.stepId, votes: countedVotes(votes).map((v) => `${v.author} ${v.label}`).join(', ') });
          continue;
        }
        // Shown as masked until the lead decides (a dry run never writes it).
        const counted = countedVotes(votes);
        decision = { label: 'mask', reason: counted[0]!.source, counted, conflict: true, settledBy: UNSETTLED, unlabelled: false };
      }
      const voteBundles = new Map([...folded.values()].map((x) => [x.vote, sortedUnique(x.bundles)]));
      actions.set(key, { sessionId: s.sessionId, stepId: p.stepId, facts, decision, voteBundles, trained: false });
    }
  }
  if (unsettled.length) {
    const list = unsettled.slice(0, 20).map((u) => `${u.sessionId}/${u.stepId} (${u.votes})`).join('; ');
    throw new ApolloError('BAD_REQUEST', `${unsettled.length} conflict(s) to settle under the manual policy: ${list}${unsettled.length > 20 ? '; …' : ''}. Settle them, or merge with --policy any-mask, majority or prefer:NAME`, { conflicts: unsettled });
  }
  return actions;
}

// ---------------------------------------------------------------- examples

function chooseExamples(inputs: Input[], actions: Map<string, PlannedAction>, originIndex: Map<Input, number[]>): {
  examples: PlannedExample[]; writtenFrom: Map<Input, Map<number, PlannedExample>>; distinct: number; nothingToTrain: number;
} {
  // Every copy of a window, first seen first.
  const candidates = new Map<string, { input: Input; ex: InputExample; origins: Set<number>; summaryMasked: boolean }>();
  for (const input of inputs) {
    const local = originIndex.get(input)!;
    for (const ex of input.examples) {
      const c = candidates.get(ex.key);
      if (c) {
        for (const o of ex.origins) c.origins.add(local[o]!);
        c.summaryMasked ||= ex.summaryMasked;
      } else candidates.set(ex.key, { input, ex, origins: new Set(ex.origins.map((o) => local[o]!)), summaryMasked: ex.summaryMasked });
    }
  }
  const trained = new Set<string>();
  const examples: PlannedExample[] = [];
  const writtenFrom = new Map<Input, Map<number, PlannedExample>>(inputs.map((b) => [b, new Map()]));
  let nothingToTrain = 0;
  for (const c of candidates.values()) {
    const entry = c.input.manifest.trajectories[c.ex.k]!;
    const weights: Array<0 | 1> = [];
    const trainedSteps: string[] = [];
    const annotators = new Set<string>();
    let unlabelled = 0;
    entry.turnSteps.forEach((stepId, i) => {
      // A summary example trains its summary, which no label decides.
      const pseudo = entry.kind === 'summary' && i === entry.turnSteps.length - 1 ? entry.trainedSteps[0]! : null;
      const key = actionKey(c.ex.sessionId, pseudo ?? stepId ?? '');
      const a = stepId ? actions.get(key) : undefined;
      const keep = pseudo !== null ? !c.summaryMasked : a?.decision.label === 'keep';
      if ((!pseudo && !stepId) || !keep || trained.has(key)) {
        weights.push(0);
        return;
      }
      trained.add(key);
      weights.push(1);
      trainedSteps.push(pseudo ?? stepId!);
      if (a) {
        a.trained = true;
        if (a.decision.unlabelled) unlabelled++;
        for (const v of a.decision.counted) annotators.add(v.author);
      }
    });
    if (!trainedSteps.length) {
      nothingToTrain++;
      continue;
    }
    const x: PlannedExample = {
      line: examples.length + 1, input: c.input, ex: c.ex, entry, weights, trainedSteps,
      origins: [...c.origins].sort((a, b) => a - b), annotators: sortedUnique(annotators), unlabelled,
    };
    examples.push(x);
    writtenFrom.get(c.input)!.set(c.ex.k, x);
  }
  return { examples, writtenFrom, distinct: candidates.size, nothingToTrain };
}

// ---------------------------------------------------------------- provenance

function conflictsOf(actions: Map<string, PlannedAction>): MergeConflict[] {
  const out: MergeConflict[] = [];
  for (const a of actions.values()) {
    if (!a.decision.conflict) continue;
    out.push({
      sessionId: a.sessionId, stepId: a.stepId, branchIds: [...a.facts.branchIds],
      votes: a.decision.counted.map((v) => ({ annotator: v.author, source: v.source, label: v.label, tags: [...v.tags], note: v.note, bundles: a.voteBundles.get(v) ?? [] })),
      decision: a.decision.label, settledBy: a.decision.settledBy ?? '',
    });
  }
  return out;
}

function ratingsOf(actions: Map<string, PlannedAction>): Array<Map<string, Label>> {
  return [...actions.values()].map((a) => new Map(a.facts.votes.filter((v) => v.source === 'annotator').map((v) => [v.author, v.label] as const)));
}

function annotatorCounts(actions: Map<string, PlannedAction>, origins: Origin[]): MergedManifest['merge']['annotators'] {
  const by = new Map<string, { actions: number; keep: number; mask: number; bundles: Set<string> }>();
  for (const a of actions.values()) {
    for (const v of a.facts.votes) {
      if (v.source !== 'annotator') continue;
      const c = by.get(v.author) ?? { actions: 0, keep: 0, mask: 0, bundles: new Set<string>() };
      c.actions++;
      c[v.label]++;
      for (const b of a.voteBundles.get(v) ?? [origins[v.origin]!.path]) c.bundles.add(b);
      by.set(v.author, c);
    }
  }
  return [...by.entries()].sort(([a], [b]) => byString(a, b)).map(([annotator, c]) => ({ annotator, actions: c.actions, keep: c.keep, mask: c.mask, bundles: sortedUnique(c.bundles) }));
}

/** Sessions of the merged manifest: the union of the inputs', branches marked by what the merge exports. */
function manifestSessions(inputs: Input[], examples: PlannedExample[], hasCasts: boolean): Manifest['sessions'] {
  const sessions = new Map<string, Manifest['sessions'][number]>();
  for (const input of inputs) {
    for (const s of input.manifest.sessions) {
      const terminals = input.manifest.formats.includes('asciicast') && hasCasts ? s.terminals : [];
      const cur = sessions.get(s.sessionId);
      if (!cur) {
        sessions.set(s.sessionId, { sessionId: s.sessionId, name: s.name, branches: s.branches.map((b) => ({ ...b })), terminals: [...terminals] });
        continue;
      }
      if (cur.name === null && s.name !== null) cur.name = s.name;
      for (const b of s.branches) {
        const e = cur.branches.find((x) => x.branchId === b.branchId);
        if (!e) cur.branches.push({ ...b });
        else if (e.skipped === 'not selected' && b.skipped !== 'not selected') Object.assign(e, { exported: b.exported, skipped: b.skipped });
      }
      for (const t of terminals) if (!cur.terminals.includes(t)) cur.terminals.push(t);
    }
  }
  const withExamples = new Set(examples.map((x) => `${x.ex.sessionId}\u0000${x.ex.branchId}`));
  for (const s of sessions.values()) {
    for (const b of s.branches) {
      const selected = b.exported || (b.skipped !== null && b.skipped !== 'not selected' && b.skipped !== 'no steps of its own');
      if (!selected) continue;
      const has = withExamples.has(`${s.sessionId}\u0000${b.branchId}`);
      b.exported = has;
      b.skipped = has ? null : b.skipped === 'no actions' ? 'no actions' : 'nothing to train (every action is masked or already trained on another branch)';
    }
  }
  return [...sessions.values()];
}

// ---------------------------------------------------------------- recordings

function castVariantPath(p: string, n: number): string {
  return p.endsWith('.cast') ? `${p.slice(0, -5)}~${n}.cast` : `${p}~${n}`;
}

/** Same path and content → one file; another content at a path in use → a fresh path `<terminal>~N.cast`. */
function planCasts(inputs: Input[]): { casts: PlannedCast[]; castOut: Map<Input, Map<string, string | null>>; castsDeduplicated: number } {
  const casts: PlannedCast[] = [];
  const castOut = new Map<Input, Map<string, string | null>>();
  let castsDeduplicated = 0;
  const inputPaths = new Set(inputs.flatMap((b) => b.manifest.files.filter((f) => f.format === 'asciicast').map((f) => f.path)));
  const used = new Set<string>();
  const variantsAt = new Map<string, Array<{ sha256: string; out: string }>>();
  for (const input of inputs) {
    const m = new Map<string, string | null>();
    castOut.set(input, m);
    for (const f of input.manifest.files) {
      if (f.format !== 'asciicast') continue;
      const vs = variantsAt.get(f.path) ?? [];
      variantsAt.set(f.path, vs);
      if (vs.some((v) => v.sha256 === f.sha256)) {
        castsDeduplicated++;
        m.set(f.path, null);
        continue;
      }
      // A fresh path: never one in use, nor one some input uses for another recording.
      let out = f.path;
      for (let n = 2; used.has(out) || (out !== f.path && inputPaths.has(out)); n++) out = castVariantPath(f.path, n);
      used.add(out);
      vs.push({ sha256: f.sha256, out });
      m.set(f.path, out);
      casts.push({ input, file: f, out });
    }
  }
  return { casts, castOut, castsDeduplicated };
}

/** Where an input's recording is in the merged bundle (its own copy, or the identical one copied before). */
export function castTarget(plan: MergePlan, input: Input, path: string): string | undefined {
  const o = plan.castOut.get(input)?.get(path);
  if (o) return o;
  if (o === null) {
    const sha = input.files.get(path)!.sha256;
    return plan.casts.find((c) => c.file.path === path && c.file.sha256 === sha)?.out;
  }
  return undefined;
}
