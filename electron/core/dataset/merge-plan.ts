// The plan of a merge: which label each action gets, which context windows become
// examples with which weights, the recordings to copy, and the provenance of all of it
// (the merged trajectory and redaction records are derived from the plan in
// merge-records.ts).
//
// Actions are identified by session and step (step ids are unique within a session;
// labels are per step, whichever branches share it). Every input's step records
// cast votes (merge-votes.ts) and the policy decides each action once.
//
// So that what a merge holds does not grow with the steps it merges, the steps never
// are all in memory: pass 1 spills each step record's facts to an external sort
// (spill.ts) by session, step and input, so the copies of a step come side by side;
// each step is decided as it comes and written to a second sort, in the order of the
// merged trajectory.jsonl (sessions as first seen, their steps as first seen), kept as
// the plan's steps file. Reading that file in order gives the conflicts, the agreement
// (counts per pair of annotators: merge-agreement.ts) and per-annotator counts; the
// label times go to a third sort, by annotator and time. What stays in memory per
// action is a few bits (kept, unlabelled, trained, its voters' set) for choosing the
// examples; the steps file is read again for the figures that need to know what was
// trained, and by the writer.
//
// Examples are context windows: each input line is one, identified by its content
// without weights (merge-read.ts exampleKey), so every annotator's copy of a window
// is one candidate, whatever they labelled. Candidates are taken in input order, then
// line order; each turn is trained in the first candidate that holds its step, when
// the step is kept; a candidate that trains nothing is left out. So every kept action
// is trained exactly once, with a context a model really saw, and a differently
// labelled copy of a branch is never trained twice.
import { ApolloError } from '../../../shared/errors';
import { castNames, emptyCounts, type ExportFormat, type Manifest } from './bundle';
import { UNSETTLED } from '../../../shared/merge-report';
import type { Agreement, BundleFile, MergeConflict, MergedManifest, MergePolicy, Origin, Vote } from './manifest-schema';
import { AgreementTally } from './merge-agreement';
import type { Input, InputExample, InputStep, StepSink } from './merge-read';
import { TimeTally } from './merge-time';
import { countedVotes, decide, type ActionFacts, type Decision } from './merge-votes';
import { settlementApplies, type Settlement } from './merge-settlements';
import { resolvePolicy, type LabelPolicy } from './policy';
import type { Redactor } from './redact';
import { DEFAULT_RUN_SIZE, ExternalSort, readLines, type SpillDir } from './spill';


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
  /**
   * The lead's (their secrets and the built-in patterns): the recordings are named as the
   * merge writes them (see planCasts). Without it, by their input names; writeMerge names
   * them by its own redactor whatever the plan says.
   */
  redactor?: Redactor;
}

/** An action's plan: everyone's votes, the decision, and where each vote was found. */
export interface PlannedAction {
  sessionId: string;
  stepId: string;
  facts: ActionFacts;
  decision: Decision;
  /** The bundles (origin paths) each vote of `facts.votes` was found in, by index. */
  voteBundles: string[][];
}

/**
 * One step of the merged trajectory.jsonl, as the plan keeps it on disk (`stepsFile`, in
 * the order written): its copies, and its action's plan when it is an action.
 */
export interface PlannedStep {
  /** Index into plan.sessions. */
  session: number;
  /** Where it was first seen (input index, line): the order steps are written in. */
  first: [number, number];
  stepId: string;
  /** The first copy's reply has neither text nor calls. */
  emptyTurn: boolean;
  /** Branches of any copy that hold it, first seen first. */
  branches: string[];
  /** In input order: the input (index), the line and its digest, read again while writing. */
  copies: Array<{ input: number; line: number; digest: string }>;
  action: (Omit<PlannedAction, 'decision'> & { decision: Omit<Decision, 'counted'> }) | null;
}

/** The action of a step read back from the steps file (its counted votes derived again). */
export function actionOf(p: PlannedStep): PlannedAction | null {
  if (!p.action) return null;
  return { ...p.action, decision: { ...p.action.decision, counted: countedVotes(p.action.facts.votes) } };
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
  /** Per assistant turn: may be trained in this context (every copy's InputExample.ownContext, or'd). */
  ownContext: boolean[];
  trainedSteps: string[];
  /** Indexes into plan.origins. */
  origins: number[];
  annotators: string[];
  unlabelled: number;
}

export interface PlannedSession {
  sessionId: string;
  /** The inputs holding it, in input order. */
  copies: Input[];
}

export interface PlannedCast {
  input: Input;
  file: BundleFile;
  out: string;
}

/** Per annotator, their label events (time spent: merge-report.ts). */
export interface LabelTimesOf {
  events: number;
  sessions: number;
  timeSpentMs: number;
  first: number | null;
  last: number | null;
}

/** Figures over every action and step, counted while the plan's steps were read. */
export interface PlanStats {
  actions: number;
  multiplyLabelled: number;
  unlabelled: number;
  /** Trained in a merged example. */
  kept: number;
  /** Of the actions each annotator labelled: trained, and not. */
  trainedBy: Map<string, { trained: number; notTrained: number }>;
  labelTimes: Map<string, LabelTimesOf>;
  /** The manifest's step and action counts. */
  counts: Pick<Manifest['counts'], 'steps' | 'emptyTurns' | 'actions' | 'unlabelled' | 'labelledBy' | 'kept' | 'masked' | 'maskedBy'>;
  /** Steps per session and branch (`sessionId\0branchId`) of every copy. */
  stepsOnBranch: Map<string, number>;
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
  inputs: Input[];
  /** The steps to write, in order (PlannedStep JSON lines in the merge's spill folder). */
  stepsFile: string;
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
  /** Per conflict, its first copy (to show the step: merge-report.ts conflictSteps). */
  conflictCopies: Array<{ input: Input; line: number; digest: string }>;
  /** Per conflict: can the lead settle it (no fact decides it: a secret, invalid call arguments)? */
  conflictSettleable: boolean[];
  /** Manual conflicts left for the lead (only with `unsettled: 'leave'`). */
  unsettled: number;
  agreement: Agreement;
  annotators: MergedManifest['merge']['annotators'];
  stats: PlanStats;
  /** Is this action trained in a merged example? */
  trained(sessionId: string, stepId: string): boolean;
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

/** A step record's facts as pass 1 spills them: its session (by first-seen order) and input. */
interface SpilledCopy {
  session: number;
  input: number;
  step: InputStep;
}

/** A label event of an annotator (time spent), once per step. */
interface SpilledTime {
  author: string;
  at: number;
  session: number;
}

/**
 * Pass 1's sink (merge-read.ts StepSink): sessions numbered as first seen, every step
 * record's facts sorted on disk by session, step and input (all copies of a step side by
 * side), and the examples seen.
 */
export class PlanInputs implements StepSink {
  readonly sessions: PlannedSession[] = [];
  private readonly sessionIndex = new Map<string, number>();
  private readonly examples = new Set<string>();
  readonly copies: ExternalSort<SpilledCopy>;

  constructor(readonly spill: SpillDir, readonly runSize?: number) {
    this.copies = new ExternalSort<SpilledCopy>(spill, 'copies', (a, b) => a.session - b.session || byString(a.step.stepId, b.step.stepId) || a.input - b.input, runSize);
  }

  session(input: Input, sessionId: string): void {
    let i = this.sessionIndex.get(sessionId);
    if (i === undefined) {
      this.sessionIndex.set(sessionId, (i = this.sessions.length));
      this.sessions.push({ sessionId, copies: [] });
    }
    this.sessions[i]!.copies.push(input);
  }

  async steps(input: Input, steps: InputStep[]): Promise<void> {
    for (const step of steps) await this.copies.add({ session: this.sessionIndex.get(step.sessionId)!, input: input.index, step });
  }

  seen(key: string): boolean {
    if (this.examples.has(key)) return true;
    this.examples.add(key);
    return false;
  }
}

/**
 * Plan a merge of verified inputs (their steps in `spilled`). Throws when policies mix
 * (unless allowed), copies of a step differ, or manual conflicts are unsettled.
 */
export async function planMerge(inputs: Input[], spilled: PlanInputs, opts: PlanOptions, checkAbort: () => void = () => undefined): Promise<MergePlan> {
  const labelPolicy = checkPolicies(inputs, !!opts.allowMixedPolicies);
  const { origins, originIndex } = collectOrigins(inputs);
  const sessions = spilled.sessions;
  const { stepsFile, times, problems } = await decideSteps(inputs, spilled, origins, originIndex, opts, checkAbort);
  const steps = await tallySteps(stepsFile, sessions, checkAbort);
  const { examples, writtenFrom, distinct, nothingToTrain } = chooseExamples(inputs, steps.decided, steps.voterSets, originIndex);
  const stats = await countSteps(stepsFile, sessions, steps.decided, times, checkAbort);
  const noContext = stats.noContext;
  const hasCasts = inputs.some((b) => b.manifest.formats.includes('asciicast'));
  const formats: ExportFormat[] = ['openai', 'sharegpt', 'mistral', 'trajectory', ...(hasCasts ? ['asciicast' as const] : [])];
  const formatsMissing = hasCasts && inputs.some((b) => !b.manifest.formats.includes('asciicast'))
    ? [{ format: 'asciicast' as const, missingFrom: inputs.filter((b) => !b.manifest.formats.includes('asciicast')).map((b) => b.path) }]
    : [];
  const casts = planCasts(inputs, opts.redactor ?? null);
  const warnings: string[] = [];
  if (problems.sameNameKeys.length) {
    warnings.push(`annotator name(s) ${problems.sameNameKeys.join(', ')}: the same action is labelled differently in bundles signed by different keys, so they may be different people with one name; on those actions each key's label is counted as its own annotator ("NAME (key …)"), not as one person's latest label. If they are one person, merge only the bundle with the labels meant`);
  }
  const overruled = problems.overruled;
  if (overruled.length) {
    warnings.push(`${overruled.length} settlement(s) decide against a label given since, which they did not weigh: ${overruled.slice(0, 10).join('; ')}${overruled.length > 10 ? '; …' : ''} (the settlement stands: settle them again to weigh it)`);
  }
  const unused = problems.unusedSettlements;
  if (unused.length) {
    warnings.push(`${unused.length} settlement(s) name an action none of these bundles holds, and settle nothing: ${unused.slice(0, 10).join(', ')}${unused.length > 10 ? ', …' : ''} (another session, or a step id mistyped?)`);
  }
  const reopened = problems.reopened;
  if (reopened.length) {
    warnings.push(`${reopened.length} earlier settlement(s) no longer apply, as a label they settled has changed: ${reopened.slice(0, 10).join(', ')}${reopened.length > 10 ? ', …' : ''} (decided again${opts.policy.kind === 'manual' ? ', to settle' : ' by the policy'})`);
  }
  if (noContext) {
    warnings.push(`${noContext} action(s) are kept by the policy but no input holds an example with their context (an earlier merge left it out): they are not trained; merge the original bundles to train them`);
  }
  if (opts.policy.kind === 'prefer') {
    const voters = steps.voters;
    const absent = opts.policy.annotators.filter((n) => !voters.has(n));
    if (absent.length) warnings.push(`prefer: ${absent.join(', ')} labelled nothing in these bundles (annotators: ${[...voters].sort(byString).join(', ') || 'none'})`);
  }
  for (const b of inputs) {
    if (b.mergedBeforeOwnContext) {
      warnings.push(`${b.path} was merged by a version that did not record which turns are in a context of their own (a merge then could train a turn after a summary that was not there when it ran): its turns are trained only where another bundle's copy of the same example says so; merge the bundles it came from again to train the rest`);
    }
    if (!b.signer) warnings.push(`${b.path} is not signed: accepted because unsigned bundles were allowed; who made it cannot be verified`);
  }
  const unlabelled = steps.unlabelled;
  if (unlabelled) warnings.push(`${unlabelled} action(s) were labelled by nobody in any bundle: their bundles' unlabelled policy decided`);
  const options = mergedOptions(inputs, warnings);
  return {
    policy: opts.policy, formats, formatsMissing, labelPolicy, options, origins, originIndex, inputs, stepsFile, examples, writtenFrom, sessions,
    manifestSessions: manifestSessions(inputs, examples, hasCasts), annotatorNames: sortedUnique(inputs.flatMap((b) => b.manifest.annotators)), ...casts,
    conflicts: steps.conflicts, conflictSettleable: steps.conflictSettleable, conflictCopies: steps.conflictCopies.map((c) => ({ input: inputs[c.input]!, line: c.line, digest: c.digest })),
    unsettled: steps.unsettledLeft, agreement: steps.agreement.result(), annotators: annotatorCounts(steps.byAnnotator),
    stats: { ...stats, unlabelled, actions: steps.actions, multiplyLabelled: steps.multiplyLabelled },
    trained: (sessionId, stepId) => ((steps.decided.get(actionKey(sessionId, stepId)) ?? 0) & TRAINED) !== 0,
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

/** Bits of an action's entry in `decided`; the counted voters' set (an index into voterSets) above them. */
const KEEP = 1;
const UNLABELLED = 2;
const TRAINED = 4;
const VOTERS_SHIFT = 3;

/**
 * Every step, its copies side by side (the sorted spill): copies of a step must be the
 * same step; each action decided from every copy's votes. Written to the steps file in
 * the order of the merged trajectory.jsonl: sessions as first seen, in each the steps as
 * first seen (input after input, in file order). A manual merge with unsettled
 * conflicts is refused, listing them.
 */
async function decideSteps(inputs: Input[], spilled: PlanInputs, origins: Origin[], originIndex: Map<Input, number[]>, opts: PlanOptions, checkAbort: () => void): Promise<{
  stepsFile: string; times: ExternalSort<SpilledTime>; problems: { reopened: string[]; sameNameKeys: string[]; unusedSettlements: string[]; overruled: string[] };
}> {
  const settled = new Map<string, Settlement[]>();
  for (const x of opts.settlements ?? []) {
    const k = actionKey(x.sessionId, x.stepId);
    settled.set(k, [...(settled.get(k) ?? []), x]);
  }
  const byFirst = (a: { first: [number, number] }, b: { first: [number, number] }): number => a.first[0] - b.first[0] || a.first[1] - b.first[1];
  // A planned step carries the votes of all its copies: runs of fewer of them hold about as much as a run of copies.
  const out = new ExternalSort<PlannedStep>(spilled.spill, 'steps', (a, b) => a.session - b.session || byFirst(a, b), Math.max(1, (spilled.runSize ?? DEFAULT_RUN_SIZE) >> 3));
  const times = new ExternalSort<SpilledTime>(spilled.spill, 'times', (a, b) => byString(a.author, b.author) || a.at - b.at, spilled.runSize);
  const unsettled: Array<{ session: number; first: [number, number]; u: { sessionId: string; stepId: string; votes: string } }> = [];
  const reopened: Array<{ session: number; first: [number, number]; at: string }> = [];
  /** Names whose labels of one action came from bundles signed by different keys, disagreeing (see the fold). */
  const sameNameKeys = new Set<string>();
  /** Actions a settlement decided against a label it did not weigh (given after it). */
  const overruled: Array<{ session: number; first: [number, number]; at: string }> = [];
  /** The given settlements' actions met in the bundles (the others settle nothing: said). */
  const settledSeen = new Set<string>();
  const keyOf = (o: Origin): string => o.signer?.fingerprint ?? '';
  let group: SpilledCopy[] = [];
  let n = 0;
  const step = async (): Promise<void> => {
    const copies = group;
    group = [];
    const s = spilled.sessions[copies[0]!.session]!;
    const stepId = copies[0]!.step.stepId;
    const first = copies[0]!;
    for (const c of copies.slice(1)) {
      if (c.step.core !== first.step.core) {
        const a = inputs[first.input]!.path;
        const b = inputs[c.input]!.path;
        throw new ApolloError('BAD_REQUEST', `Session ${s.sessionId} step ${stepId} differs between bundles ${a} and ${b} (another reply or other results): they are not copies of one session and cannot be merged by action`, { sessionId: s.sessionId, stepId, bundles: [a, b] });
      }
    }
    // Copies of one step carry the same label entries: each counts once.
    const seen = new Set<string>();
    for (const { step: x } of copies) {
      for (const h of x.labelTimes) {
        const key = `${h.author}\u0000${h.at}\u0000${h.seq}\u0000${h.cleared}`;
        if (seen.has(key)) continue;
        seen.add(key);
        await times.add({ author: h.author, at: h.at, session: first.session });
      }
    }
    const branches: string[] = [];
    for (const c of copies) for (const b of c.step.onBranches) if (!branches.includes(b)) branches.push(b);
    const planned: PlannedStep = {
      session: first.session, first: [first.input, first.step.line], stepId, emptyTurn: first.step.emptyTurn, branches,
      copies: copies.map((c) => ({ input: c.input, line: c.step.line, digest: c.step.digest })), action: null,
    };
    if (copies.some((c) => c.step.isAction)) {
      const folded = new Map<string, { vote: Vote; bundles: Set<string> }>();
      const defaults: Array<0 | 1> = [];
      let invalidArguments = false;
      let secret = false;
      let replayed = false;
      let emptyContext = false;
      let notModel = false;
      for (const { input: i, step: x } of copies) {
        const input = inputs[i]!;
        const local = originIndex.get(input)!;
        for (const v of x.votes) {
          const vote = { ...v, origin: local[v.origin]! };
          // By name and by the key of the bundle it came from; one name's keys are resolved below.
          const key = `${vote.source}\u0000${vote.author}\u0000${keyOf(origins[vote.origin]!)}`;
          const cur = folded.get(key);
          if (!cur || vote.at > cur.vote.at) folded.set(key, { vote, bundles: new Set([origins[vote.origin]!.path]) });
          else if (vote.at === cur.vote.at && vote.label === cur.vote.label) cur.bundles.add(origins[vote.origin]!.path);
        }
        if (x.reason === 'unlabelled' && x.decided !== null) defaults.push(x.decided);
        if (x.reason === 'invalid-arguments') invalidArguments = true;
        if (x.reason === 'replayed') replayed = true;
        if (x.reason === 'empty-context') emptyContext = true;
        if (x.reason === 'not-model') notModel = true;
        if (input.secretSteps.get(s.sessionId)?.has(stepId)) secret = true;
      }
      const folds = oneVotePerPerson([...folded.values()], (o) => keyOf(origins[o]!), sameNameKeys)
        .sort((a, b) => byString(a.vote.source, b.vote.source) || byString(a.vote.author, b.vote.author));
      const votes = folds.map((x) => x.vote);
      const facts: ActionFacts = { sessionId: s.sessionId, stepId, branchIds: branches, votes, defaults, invalidArguments, secret, replayed, emptyContext, notModel };
      const key = actionKey(s.sessionId, stepId);
      if (settled.has(key)) settledSeen.add(key);
      const candidates = [...(settled.get(key) ?? []), ...copies.flatMap((c) => (c.step.settled ? [c.step.settled] : []))];
      const counted = countedVotes(votes);
      const settlement = candidates.find((x) => settlementApplies(x, counted));
      // A label given since, by someone the settlement did not hear, that it overrules: said.
      const unheard = settlement?.votes
        ? counted.filter((v) => v.label !== settlement.label && !settlement.votes!.some((h) => h.annotator === v.author && h.source === v.source))
        : [];
      if (unheard.length) overruled.push({ session: first.session, first: planned.first, at: `${s.sessionId}/${stepId} (${unheard.map((v) => `${v.author}: ${v.label}`).join(', ')})` });
      let decision = decide(facts, opts.policy, settlement?.label);
      if (!settlement && candidates.length && new Set(counted.map((v) => v.label)).size > 1) reopened.push({ session: first.session, first: planned.first, at: `${s.sessionId}/${stepId}` });
      if (decision === 'unsettled') {
        if (opts.unsettled !== 'leave') {
          unsettled.push({ session: first.session, first: planned.first, u: { sessionId: s.sessionId, stepId, votes: counted.map((v) => `${v.author} ${v.label}`).join(', ') } });
          await out.add(planned);
          return;
        }
        // Shown as masked until the lead decides (a dry run never writes it).
        decision = { label: 'mask', reason: counted[0]!.source, counted, conflict: true, settledBy: UNSETTLED, unlabelled: false };
      }
      const { counted: _c, ...kept } = decision;
      planned.action = { sessionId: s.sessionId, stepId, facts, decision: kept, voteBundles: folds.map((x) => sortedUnique(x.bundles)) };
    }
    await out.add(planned);
    if (++n % 256 === 0) checkAbort();
  };
  for await (const c of spilled.copies.sorted()) {
    const head = group[0];
    if (head && (head.session !== c.session || head.step.stepId !== c.step.stepId)) await step();
    group.push(c);
  }
  if (group.length) await step();
  const inOrder = <T extends { session: number; first: [number, number] }>(xs: T[]): T[] => xs.sort((a, b) => a.session - b.session || byFirst(a, b));
  if (unsettled.length) {
    const all = inOrder(unsettled).map((x) => x.u);
    const list = all.slice(0, 20).map((u) => `${u.sessionId}/${u.stepId} (${u.votes})`).join('; ');
    throw new ApolloError('BAD_REQUEST', `${all.length} conflict(s) to settle under the manual policy: ${list}${all.length > 20 ? '; …' : ''}. Settle them, or merge with --policy any-mask, majority or prefer:NAME`, { conflicts: all });
  }
  return { stepsFile: await out.toFile(), times, problems: {
    reopened: inOrder(reopened).map((x) => x.at), sameNameKeys: [...sameNameKeys].sort(byString),
    unusedSettlements: [...settled.keys()].filter((k) => !settledSeen.has(k)).map((k) => k.replace('\u0000', '/')).sort(byString),
    overruled: inOrder(overruled).map((x) => x.at),
  } };
}

type Fold = { vote: Vote; bundles: Set<string> };

/**
 * Each person's vote on an action from their folds by name and signing key (latest label
 * per key). One name's folds under several keys that all hold the same label event are
 * one vote, from all their bundles (a label copied into several exports); that disagree,
 * maybe two people with one name: each counts, named by its key (`NAME (key …)`), so that
 * neither label is dropped as the other's older one, and the name is noted in `split`.
 */
function oneVotePerPerson(folds: readonly Fold[], keyOf: (origin: number) => string, split: Set<string>): Fold[] {
  const byName = new Map<string, Fold[]>();
  for (const f of folds) {
    const name = `${f.vote.source}\u0000${f.vote.author}`;
    byName.set(name, [...(byName.get(name) ?? []), f]);
  }
  const out: Fold[] = [];
  for (const group of byName.values()) {
    const [first] = group;
    if (group.every((f) => f.vote.at === first!.vote.at && f.vote.label === first!.vote.label)) {
      out.push({ vote: first!.vote, bundles: new Set(group.flatMap((f) => [...f.bundles])) });
      continue;
    }
    split.add(first!.vote.author);
    for (const f of group) out.push({ vote: { ...f.vote, author: `${f.vote.author} (key ${keyOf(f.vote.origin).slice(0, 12) || 'unsigned'})` }, bundles: f.bundles });
  }
  return out;
}

/** What reading the decided steps in order gives: the conflicts, agreement and per-annotator counts, and each action's decision. */
async function tallySteps(stepsFile: string, sessions: PlannedSession[], checkAbort: () => void) {
  /** Per action (actionKey): KEEP, UNLABELLED, TRAINED bits and its counted voters' set. */
  const decided = new Map<string, number>();
  const voterSets: string[][] = [];
  const voterSetIndex = new Map<string, number>();
  const conflicts: MergeConflict[] = [];
  const conflictCopies: PlannedStep['copies'] = [];
  const conflictSettleable: boolean[] = [];
  const agreement = new AgreementTally();
  const byAnnotator = new Map<string, { actions: number; keep: number; mask: number; bundles: Set<string> }>();
  const voters = new Set<string>();
  let unsettledLeft = 0;
  let unlabelled = 0;
  let actions = 0;
  let multiplyLabelled = 0;
  let n = 0;
  for await (const p of readLines<PlannedStep>(stepsFile)) {
    if (++n % 1024 === 0) checkAbort();
    const a = actionOf(p);
    if (!a) continue;
    const d = a.decision;
    actions++;
    if (a.facts.votes.length > 1) multiplyLabelled++;
    if (d.unlabelled) unlabelled++;
    if (d.settledBy === UNSETTLED) unsettledLeft++;
    const names = d.counted.map((v) => v.author);
    const nk = names.join('\u0000');
    let vi = voterSetIndex.get(nk);
    if (vi === undefined) {
      voterSetIndex.set(nk, (vi = voterSets.length));
      voterSets.push(names);
    }
    decided.set(actionKey(sessions[p.session]!.sessionId, p.stepId), (d.label === 'keep' ? KEEP : 0) | (d.unlabelled ? UNLABELLED : 0) | (vi << VOTERS_SHIFT));
    if (d.conflict) {
      conflicts.push({
        sessionId: a.sessionId, stepId: a.stepId, branchIds: [...a.facts.branchIds],
        votes: d.counted.map((v) => ({ annotator: v.author, source: v.source, label: v.label, tags: [...v.tags], note: v.note, bundles: a.voteBundles[a.facts.votes.indexOf(v)] ?? [] })),
        decision: d.label, settledBy: d.settledBy ?? '',
      });
      conflictCopies.push(p.copies[0]!);
      conflictSettleable.push(!a.facts.secret && !a.facts.invalidArguments && !a.facts.replayed && !a.facts.emptyContext && !a.facts.notModel);
    }
    agreement.add(new Map(a.facts.votes.filter((v) => v.source === 'annotator').map((v) => [v.author, v.label] as const)));
    a.facts.votes.forEach((v, i) => {
      voters.add(v.author);
      if (v.source !== 'annotator') return;
      const c = byAnnotator.get(v.author) ?? { actions: 0, keep: 0, mask: 0, bundles: new Set<string>() };
      c.actions++;
      c[v.label]++;
      for (const b of a.voteBundles[i]!) c.bundles.add(b);
      byAnnotator.set(v.author, c);
    });
  }
  return { decided, voterSets, conflicts, conflictCopies, conflictSettleable, agreement, byAnnotator, voters, unsettledLeft, unlabelled, actions, multiplyLabelled };
}

/** Figures that need to know which actions were trained: read the steps again once the examples are chosen. */
async function countSteps(stepsFile: string, sessions: PlannedSession[], decided: Map<string, number>, times: ExternalSort<SpilledTime>, checkAbort: () => void): Promise<Omit<PlanStats, 'unlabelled' | 'actions' | 'multiplyLabelled'> & { noContext: number }> {
  const c = emptyCounts(0, 0);
  const trainedBy = new Map<string, { trained: number; notTrained: number }>();
  const stepsOnBranch = new Map<string, number>();
  let kept = 0;
  let noContext = 0;
  let n = 0;
  for await (const p of readLines<PlannedStep>(stepsFile)) {
    if (++n % 1024 === 0) checkAbort();
    const sessionId = sessions[p.session]!.sessionId;
    c.steps++;
    if (p.emptyTurn) c.emptyTurns++;
    for (const b of p.branches) stepsOnBranch.set(`${sessionId}\u0000${b}`, (stepsOnBranch.get(`${sessionId}\u0000${b}`) ?? 0) + 1);
    const a = actionOf(p);
    if (!a) continue;
    const d = a.decision;
    const trained = (decided.get(actionKey(sessionId, p.stepId))! & TRAINED) !== 0;
    c.actions++;
    if (d.unlabelled) c.unlabelled++;
    if (d.counted.length) c.labelledBy[d.counted[0]!.source]++;
    if (trained) {
      c.kept++;
      kept++;
    } else {
      c.masked++;
      // Kept by the policy but without a context to train it in: masked, in no reason's column.
      // (replayed and empty-context are counted only where an action was: bundles older than them have no column for them)
      if (d.label === 'mask') c.maskedBy[d.reason] = (c.maskedBy[d.reason] ?? 0) + 1;
      else noContext++;
    }
    for (const author of new Set(a.facts.votes.filter((v) => v.source === 'annotator').map((v) => v.author))) {
      let t = trainedBy.get(author);
      if (!t) trainedBy.set(author, (t = { trained: 0, notTrained: 0 }));
      if (trained) t.trained++;
      else t.notTrained++;
    }
  }
  const labelTimes = new Map<string, LabelTimesOf & { sessionSet: Set<number>; tally: TimeTally }>();
  for await (const t of times.sorted()) {
    let x = labelTimes.get(t.author);
    if (!x) labelTimes.set(t.author, (x = { events: 0, sessions: 0, timeSpentMs: 0, first: t.at, last: t.at, sessionSet: new Set(), tally: new TimeTally() }));
    x.events++;
    x.sessionSet.add(t.session);
    x.tally.add(t.at);
    x.last = t.at;
  }
  const { steps, emptyTurns, actions, unlabelled, labelledBy, masked, maskedBy } = c;
  return {
    kept, trainedBy, stepsOnBranch, noContext,
    counts: { steps, emptyTurns, actions, unlabelled, labelledBy, kept: c.kept, masked, maskedBy },
    labelTimes: new Map([...labelTimes].map(([k, v]) => [k, { events: v.events, sessions: v.sessionSet.size, timeSpentMs: v.tally.ms, first: v.first, last: v.last }])),
  };
}

// ---------------------------------------------------------------- examples

function chooseExamples(inputs: Input[], decided: Map<string, number>, voterSets: string[][], originIndex: Map<Input, number[]>): {
  examples: PlannedExample[]; writtenFrom: Map<Input, Map<number, PlannedExample>>; distinct: number; nothingToTrain: number;
} {
  // Every copy of a window, first seen first.
  // A turn may be trained in a window where any copy says its context is its own (an older
  // copy says so only where it trained the turn; see InputExample.ownContext).
  const candidates = new Map<string, Candidate>();
  for (const input of inputs) {
    const local = originIndex.get(input)!;
    for (const ex of input.examples) {
      const c = candidates.get(ex.key);
      if (c) {
        for (const o of ex.origins) c.origins.add(local[o]!);
        c.summaryMasked ||= ex.summaryMasked;
        ex.ownContext.forEach((own, i) => (c.ownContext[i] ||= own));
      } else candidates.set(ex.key, { input, ex, origins: new Set(ex.origins.map((o) => local[o]!)), summaryMasked: ex.summaryMasked, ownContext: [...ex.ownContext] });
    }
  }
  const trained = new Set<string>();
  const weighed = new Map<Candidate, Weighed>();
  // Whole requests first: a turn is trained in a cut of its request (a split of an over-long
  // window) only when no copy holds it whole, whichever bundle came first.
  for (const c of candidates.values()) if (!c.ex.truncated) weighed.set(c, weigh(c, decided, voterSets, trained));
  for (const c of candidates.values()) if (c.ex.truncated) weighed.set(c, weigh(c, decided, voterSets, trained));
  const examples: PlannedExample[] = [];
  const writtenFrom = new Map<Input, Map<number, PlannedExample>>(inputs.map((b) => [b, new Map()]));
  let nothingToTrain = 0;
  for (const c of candidates.values()) {
    const { weights, trainedSteps, annotators, unlabelled } = weighed.get(c)!;
    if (!trainedSteps.length) {
      nothingToTrain++;
      continue;
    }
    const x: PlannedExample = {
      line: examples.length + 1, input: c.input, ex: c.ex, entry: c.ex.entry!, weights, ownContext: c.ownContext, trainedSteps,
      origins: [...c.origins].sort((a, b) => a - b), annotators: sortedUnique(annotators), unlabelled,
    };
    examples.push(x);
    writtenFrom.get(c.input)!.set(c.ex.k, x);
  }
  return { examples, writtenFrom, distinct: candidates.size, nothingToTrain };
}

interface Candidate { input: Input; ex: InputExample; origins: Set<number>; summaryMasked: boolean; ownContext: boolean[] }
interface Weighed { weights: Array<0 | 1>; trainedSteps: string[]; annotators: Set<string>; unlabelled: number }

/** The weights of one window: each kept turn trained here if its context is its own and no window trained it yet. */
function weigh(c: Candidate, decided: Map<string, number>, voterSets: string[][], trained: Set<string>): Weighed {
  // The first copy of each window keeps its entry (merge-read.ts).
  const entry = c.ex.entry!;
  const weights: Array<0 | 1> = [];
  const trainedSteps: string[] = [];
  const annotators = new Set<string>();
  let unlabelled = 0;
  entry.turnSteps.forEach((stepId, i) => {
    // A summary example trains its summary, which no label decides.
    const pseudo = entry.kind === 'summary' && i === entry.turnSteps.length - 1 ? entry.trainedSteps[0]! : null;
    const key = actionKey(c.ex.sessionId, pseudo ?? stepId ?? '');
    const a = stepId ? decided.get(key) : undefined;
    const keep = pseudo !== null ? !c.summaryMasked : a !== undefined && (a & KEEP) !== 0;
    if ((!pseudo && !stepId) || !keep || !c.ownContext[i] || trained.has(key)) {
      weights.push(0);
      return;
    }
    trained.add(key);
    weights.push(1);
    trainedSteps.push(pseudo ?? stepId!);
    if (a !== undefined) {
      decided.set(key, a | TRAINED);
      if (a & UNLABELLED) unlabelled++;
      for (const v of voterSets[a >> VOTERS_SHIFT]!) annotators.add(v);
    }
  });
  return { weights, trainedSteps, annotators, unlabelled };
}

// ---------------------------------------------------------------- provenance

function annotatorCounts(by: Map<string, { actions: number; keep: number; mask: number; bundles: Set<string> }>): MergedManifest['merge']['annotators'] {
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

/**
 * Same path and content → one file; another content at a path in use → a fresh path
 * `<terminal>~N.cast`. With `redactor` (the lead's), every path is first its redacted name
 * (redactedCastPaths) and all of this happens among those.
 */
function planCasts(inputs: Input[], redactor: Redactor | null): { casts: PlannedCast[]; castOut: Map<Input, Map<string, string | null>>; castsDeduplicated: number } {
  const casts: PlannedCast[] = [];
  const castOut = new Map<Input, Map<string, string | null>>();
  let castsDeduplicated = 0;
  const named = redactedCastPaths(inputs.flatMap((b) => b.manifest.files.filter((f) => f.format === 'asciicast').map((f) => f.path)), redactor);
  const inputPaths = new Set(named.values());
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
      // A fresh path: never one in use, nor one some input's recording is named (so a variant never takes the name of another).
      const base = named.get(f.path)!;
      let out = base;
      for (let n = 2; used.has(out) || (out !== base && inputPaths.has(out)); n++) out = castVariantPath(base, n);
      used.add(out);
      vs.push({ sha256: f.sha256, out });
      m.set(f.path, out);
      casts.push({ input, file: f, out });
    }
  }
  return { casts, castOut, castsDeduplicated };
}

/**
 * Each recording path of the inputs → the name the merge gives it. The exporters redacted
 * their file names with their own secrets only (bundle.ts castPaths), so a name may hold
 * one of the lead's: with `redactor`, a file name holding what it replaces is named as
 * castPaths names one (castNames: its redacted form, numbered past the names in its
 * folder), the others keep theirs, byte for byte. The names of a folder are numbered in
 * sorted order, so the same inputs name them the same in whatever order they come.
 */
function redactedCastPaths(paths: readonly string[], redactor: Redactor | null): Map<string, string> {
  const out = new Map(paths.map((p) => [p, p]));
  if (!redactor) return out;
  const byFolder = new Map<string, Set<string>>();
  for (const p of paths) {
    const at = p.lastIndexOf('/') + 1;
    const names = byFolder.get(p.slice(0, at)) ?? new Set<string>();
    byFolder.set(p.slice(0, at), names.add(p.slice(at)));
  }
  for (const [folder, set] of byFolder) {
    const files = [...set].sort(byString);
    const stems = files.map((f) => (f.endsWith('.cast') ? f.slice(0, -5) : f));
    const names = castNames(stems, redactor, (stem) => stem);
    files.forEach((f, i) => out.set(`${folder}${f}`, `${folder}${names[i]}${f.endsWith('.cast') ? '.cast' : ''}`));
  }
  return out;
}

/**
 * `plan` with its recordings planned again, named by `redactor` (the lead's), as writeMerge
 * writes them: only their paths depend on it, and with the redactor planMerge was given
 * they come out as they were.
 */
export function castsNamedBy(plan: MergePlan, redactor: Redactor): MergePlan {
  return { ...plan, ...planCasts(plan.inputs, redactor) };
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
