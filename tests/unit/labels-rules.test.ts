import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { branchPath, effectiveLabel, foldTrajectory } from '../../shared/trajectory';
import { MALFORMED_CALL_MARKER, previewRules, ruleEvents, RULES, type RuleName, type RuleParams } from '../../electron/core/labels/rules';
import { failed, ok, output, realisticSession, run, SessionBuilder, type StepSpec } from '../fixtures/sessions';

function flagged(events: SessionEvent[], rule: RuleName, branchId = 'main', params: Partial<RuleParams> = {}): string[] {
  const t = foldTrajectory(events);
  return RULES[rule].apply(t, branchId, { ...RULES[rule].params, ...params } as RuleParams).map((p) => p.stepId);
}

function appendBodies(events: SessionEvent[], bodies: ReturnType<typeof ruleEvents>): SessionEvent[] {
  let seq = events.at(-1)!.seq;
  let ts = events.at(-1)!.ts;
  return [...events, ...bodies.map((b) => ({ ...b, seq: ++seq, ts: ++ts }) as SessionEvent)];
}

describe('failed-retry', () => {
  it('masks a failed command retried (same or similar) within the lookahead', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 't' });
    const s1 = b.step({ calls: [run('python train.py')], results: [failed('ModuleNotFoundError: peft')] });
    b.step({ calls: [run('pip install peft')] });
    b.step({ calls: [run('python train.py')] });
    const s4 = b.step({ calls: [run('make test')], results: [{ observation: 'make: *** [test] Error 2', isError: true }] });
    b.step({ calls: [run('make test -j4')] });
    b.step({ calls: [run('ls /nope')], results: [failed('ls: cannot access', 2)] }); // never retried in time
    b.step({ calls: [run('cat a')] });
    b.step({ calls: [run('cat b')] });
    b.step({ calls: [run('cat c')] });
    b.step({ calls: [run('ls /nope')] });
    const s12 = b.step({ calls: [run('python eval.py')], results: [ok('Traceback (most recent call last):\n  ValueError')] });
    b.step({ calls: [run('python eval.py --fix')] });
    b.step({ calls: [run('rm -rf out')], results: [failed('denied')], humanAuthored: true, author: 'alice' });
    b.step({ calls: [run('rm -rf out')] });
    b.step({ calls: [run('echo fine')], results: [ok('{"exit_code": 0}')] });
    b.step({ calls: [run('echo fine')] });
    expect(flagged(b.events, 'failed-retry')).toEqual([s1, s4, s12]);
    const t = foldTrajectory(b.events);
    const p = RULES['failed-retry'].apply(t, 'main', RULES['failed-retry'].params);
    expect(p[0]).toEqual({ stepId: s1, label: 'mask', tags: ['error'], note: 'run_command failed (exit code 1) and was retried at step 3' });
    expect(flagged(b.events, 'failed-retry', 'main', { lookahead: 1 })).toEqual([s4, s12]);
  });
});

describe('results of parallel calls that share an id', () => {
  it('are each read for their own call (some servers repeat an id)', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 't' });
    // The first call ran fine, the second failed: read by id alone, both saw the first.
    const s1 = b.step({ calls: [{ ...run('echo fine'), id: 'call_0' }, { ...run('python train.py'), id: 'call_0' }], results: [ok('{"exit_code": 0}'), failed('ModuleNotFoundError: peft')] });
    b.step({ calls: [run('python train.py')] });
    expect(flagged(b.events, 'failed-retry')).toEqual([s1]);
  });
});

describe('repeated-action', () => {
  it('masks an action identical to the previous one (argument order ignored), except ignored tools', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 't' });
    b.step({ calls: [output()] });
    const s2 = b.step({ calls: [output()] });
    b.step({ calls: [output('main', 50)] });
    b.step({ calls: [{ name: 'sleep', args: { sleep_time: 10 } }] });
    b.step({ calls: [{ name: 'sleep', args: { sleep_time: 10 } }] });
    b.step({ calls: [{ name: 'run_command', args: { session_id: 'main', command: 'ls' } }] });
    const s7 = b.step({ calls: [{ name: 'run_command', args: { command: 'ls', session_id: 'main' } }] });
    b.step({ content: 'thinking' });
    b.step({ content: 'thinking' });
    expect(flagged(b.events, 'repeated-action')).toEqual([s2, s7]);
    expect(flagged(b.events, 'repeated-action', 'main', { ignoreTools: [] })).toEqual([s2, 's5', s7]);
  });
});

describe('abandoned-branch', () => {
  it('masks the original steps after the fork that existed when the annotator forked, unless the line went on afterwards', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 't' });
    b.step({ calls: [run('a')] });
    const s2 = b.step({ calls: [run('b')] });
    const s3 = b.step({ calls: [run('c')] });
    const s4 = b.step({ calls: [run('d')] });
    b.branch({ branchId: 'fix', from: s2, author: 'alice' });
    b.step({ branchId: 'fix', calls: [run('e')] });
    b.branch({ branchId: 'auto', from: s3, author: 'agent' }); // not a human decision
    expect(flagged(b.events, 'abandoned-branch')).toEqual([s3, s4]);
    expect(flagged(b.events, 'abandoned-branch', 'fix')).toEqual([]);
    expect(flagged(b.events, 'abandoned-branch', 'main', { reasons: ['rewind'] })).toEqual([]);
    // The annotator came back to main later: main was continued, so the steps it built on stay.
    b.step({ branchId: 'main', calls: [run('resumed')] });
    expect(flagged(b.events, 'abandoned-branch')).toEqual([]);
    expect(flagged(b.events, 'abandoned-branch', 'fix')).toEqual([]);
  });

  it('treats a restart from the task and a rewind the same way', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 't' });
    const s1 = b.step({ calls: [run('a')] });
    const s2 = b.step({ calls: [run('b')] });
    b.branch({ branchId: 'again', from: null, reason: 'rewind', author: 'bob' });
    b.step({ branchId: 'again', calls: [run('a2')] });
    expect(flagged(b.events, 'abandoned-branch')).toEqual([s1, s2]);
    const t = foldTrajectory(b.events);
    expect(RULES['abandoned-branch'].apply(t, 'main', RULES['abandoned-branch'].params)[0]!.note).toBe('abandoned: rewound to "again" from the task by bob');
  });
});

describe('malformed-call', () => {
  it(`masks calls rejected with "${MALFORMED_CALL_MARKER}…", unparsable arguments, unknown tools`, () => {
    const b = new SessionBuilder();
    b.rollout({ task: 't' });
    const s1 = b.step({ calls: [{ name: 'run_cmd', args: { command: 'ls' } }], results: [{ observation: 'Error: invalid tool call: unknown tool "run_cmd"', isError: true }] });
    const s2 = b.step({ calls: [{ name: 'run_command', args: '{"command": ' }], results: [{ observation: 'whatever', isError: false }] });
    b.step({ calls: [run('ls')] });
    b.step({ calls: [run('false')], results: [{ observation: 'Error: command failed', isError: true }] });
    const s5 = b.step({ calls: [{ name: 'foo', args: {} }] });
    const s6 = b.step({ calls: [run('x')], results: [{ observation: 'Error: missing required argument "session_id"', isError: true }] });
    expect(flagged(b.events, 'malformed-call')).toEqual([s1, s2, s6]);
    expect(flagged(b.events, 'malformed-call', 'main', { toolNames: ['run_command', 'get_session_output'] })).toEqual([s1, s2, s5, s6]);
  });
});

describe('drift-before-guidance', () => {
  it('masks the N actions up to a guidance delivery on the path', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 't' });
    const s1 = b.step({ calls: [run('1')] });
    b.guidance('early note', { after: s1 });
    b.step({ calls: [run('2')] });
    const s3 = b.step({ calls: [run('3')] });
    const s4 = b.step({ calls: [run('4')] });
    const s5 = b.step({ calls: [run('5')] });
    b.guidance('stop that', { after: s5 });
    const s6 = b.step({ calls: [run('6')] });
    b.guidance('for another branch', { after: s6, branchId: 'elsewhere' });
    expect(flagged(b.events, 'drift-before-guidance')).toEqual([s1, s3, s4, s5]);
    expect(flagged(b.events, 'drift-before-guidance', 'main', { window: 1 })).toEqual([s1, s5]);
  });
});

// ------------------------------------------------------------------ scope across branches
//
// One tree for every rule: `main` (s1..s6, the agent), `A` branched by alice from s2
// (a1, a2) and abandoned when she branched again, and `B` branched from s4 (b1..b3), the
// branch that was continued. Paths: main s1-s6; A s1 s2 a1 a2; B s1-s4 b1-b3. So s1, s2 are
// shared by all three branches, s3, s4 by main and B.

const MAIN = ['s1', 's2', 's3', 's4', 's5', 's6'] as const;
const OF_A = ['a1', 'a2'] as const;
const OF_B = ['b1', 'b2', 'b3'] as const;
type StepName = (typeof MAIN)[number] | (typeof OF_A)[number] | (typeof OF_B)[number];
type BranchName = 'main' | 'A' | 'B';
const BRANCHES: BranchName[] = ['main', 'A', 'B'];

interface TreeSpec {
  /** Overrides of a step's spec (default: a successful `run_command <name>`). */
  steps?: Partial<Record<StepName, Partial<StepSpec>>>;
  /** Guidance delivered after a step to a branch: on the step's own branch right after it, else when that branch starts from it. */
  guidance?: Array<{ after: StepName; on: BranchName }>;
  /** Steps appended at the end, after both forks (a branch taken up again later). */
  resumed?: Array<{ id: string; on: BranchName }>;
  fork?: { reason?: 'branch' | 'rewind'; author?: string };
}

function threeBranches(spec: TreeSpec = {}): SessionEvent[] {
  const b = new SessionBuilder();
  b.rollout({ task: 't' });
  const guide = (after: StepName, on: BranchName): void => {
    for (const g of spec.guidance ?? []) if (g.after === after && g.on === on) b.guidance(`guidance for ${on} after ${after}`, { after, branchId: on });
  };
  const step = (id: StepName, branchId: BranchName): void => {
    b.step({ calls: [run(id)], ...spec.steps?.[id], branchId, id });
    guide(id, branchId);
  };
  for (const id of MAIN) step(id, 'main');
  b.branch({ branchId: 'A', from: 's2', author: spec.fork?.author ?? 'alice', reason: spec.fork?.reason });
  guide('s2', 'A');
  for (const id of OF_A) step(id, 'A');
  b.branch({ branchId: 'B', from: 's4', author: spec.fork?.author ?? 'alice', reason: spec.fork?.reason });
  guide('s4', 'B');
  for (const id of OF_B) step(id, 'B');
  for (const r of spec.resumed ?? []) b.step({ calls: [run(r.id)], branchId: r.on, id: r.id });
  return b.events;
}

/** What each branch's labelling flags with one rule (or all of them). */
function perBranch(events: SessionEvent[], rule: RuleName | 'all', params: Partial<RuleParams> = {}): Record<BranchName, string[]> {
  const t = foldTrajectory(events);
  const one = (branchId: BranchName): string[] =>
    rule === 'all' ? previewRules(t, branchId).labels.map((l) => l.stepId) : RULES[rule].apply(t, branchId, { ...RULES[rule].params, ...params } as RuleParams).map((p) => p.stepId);
  return { main: one('main'), A: one('A'), B: one('B') };
}

/** The invariant: a step flagged when labelling one branch is flagged when labelling every branch through it. */
function expectSameOnEveryBranch(events: SessionEvent[], rule: RuleName | 'all'): void {
  const t = foldTrajectory(events);
  const flags = perBranch(events, rule);
  for (const from of BRANCHES) {
    for (const stepId of flags[from]) {
      for (const other of BRANCHES) {
        if (branchPath(t, other).some((s) => s.id === stepId)) expect(flags[other], `${stepId} flagged on ${from} but not on ${other}`).toContain(stepId);
      }
    }
  }
}

describe('rules across branches (main, A from step 2 abandoned, B from step 4 continued)', () => {
  it('abandoned-branch: masks the abandoned branch and main after the fork, never what the continued branch builds on', () => {
    const events = threeBranches();
    expect(perBranch(events, 'abandoned-branch')).toEqual({ main: ['s5', 's6'], A: ['a1', 'a2'], B: [] });
    const t = foldTrajectory(events);
    const notes = Object.fromEntries(RULES['abandoned-branch'].apply(t, 'A', RULES['abandoned-branch'].params).map((p) => [p.stepId, p.note]));
    expect(notes.a1).toBe('abandoned: branched to "B" from step 4 by alice');
    // s3 and s4 were left behind by the fork to A, but B went on from them: kept.
    expect(perBranch(events, 'abandoned-branch').main).not.toContain('s3');
    expectSameOnEveryBranch(events, 'abandoned-branch');
  });

  it('abandoned-branch: a branch taken up again after the later fork is not abandoned; rewinds count like branches', () => {
    const resumedA = threeBranches({ resumed: [{ id: 'a3', on: 'A' }] });
    expect(perBranch(resumedA, 'abandoned-branch')).toEqual({ main: ['s5', 's6'], A: [], B: [] });
    const resumedMain = threeBranches({ resumed: [{ id: 's7', on: 'main' }] });
    expect(perBranch(resumedMain, 'abandoned-branch')).toEqual({ main: [], A: ['a1', 'a2'], B: [] });
    const rewound = threeBranches({ fork: { reason: 'rewind', author: 'bob' } });
    expect(perBranch(rewound, 'abandoned-branch')).toEqual({ main: ['s5', 's6'], A: ['a1', 'a2'], B: [] });
    expect(perBranch(rewound, 'abandoned-branch', { reasons: ['branch'] })).toEqual({ main: [], A: [], B: [] });
    // Human-written steps are never masked, abandoned or not.
    const human = threeBranches({ steps: { a1: { humanAuthored: true, author: 'alice' } } });
    expect(perBranch(human, 'abandoned-branch').A).toEqual(['a2']);
  });

  it('failed-retry: a shared failure is masked only when every branch through it retried it', () => {
    const fail = { results: [failed('No module named peft')] };
    // s3 fails; main retries it at s5, B (from s4) goes on without retrying.
    const s3 = threeBranches({ steps: { s3: { calls: [run('python train.py')], ...fail }, s5: { calls: [run('python train.py')] } } });
    expect(perBranch(s3, 'failed-retry')).toEqual({ main: [], A: [], B: [] });
    // B retries too: masked on both.
    const s3both = threeBranches({ steps: { s3: { calls: [run('python train.py')], ...fail }, s5: { calls: [run('python train.py')] }, b1: { calls: [run('python train.py')] } } });
    expect(perBranch(s3both, 'failed-retry')).toEqual({ main: ['s3'], A: [], B: ['s3'] });
    // s2 fails and is retried at s3 (main and B), but A changed course at a1.
    const s2 = threeBranches({ steps: { s2: { calls: [run('make')], ...fail }, s3: { calls: [run('make')] } } });
    expect(perBranch(s2, 'failed-retry')).toEqual({ main: [], A: [], B: [] });
    const s2all = threeBranches({ steps: { s2: { calls: [run('make')], ...fail }, s3: { calls: [run('make')] }, a1: { calls: [run('make')] } } });
    expect(perBranch(s2all, 'failed-retry')).toEqual({ main: ['s2'], A: ['s2'], B: ['s2'] });
    // A failure on B alone is B's business.
    const own = threeBranches({ steps: { b1: { calls: [run('pytest tests')], ...fail }, b2: { calls: [run('pytest tests -x')] } } });
    expect(perBranch(own, 'failed-retry')).toEqual({ main: [], A: [], B: ['b1'] });
    for (const e of [s3, s3both, s2, s2all, own]) expectSameOnEveryBranch(e, 'failed-retry');
  });

  it('drift-before-guidance: guidance on one branch does not mask the steps a sibling relies on', () => {
    // Guidance on B after b1 (window 3: s3, s4, b1): main shares s3 and s4 and had no guidance.
    const onB = threeBranches({ guidance: [{ after: 'b1', on: 'B' }] });
    expect(perBranch(onB, 'drift-before-guidance')).toEqual({ main: [], A: [], B: ['b1'] });
    // Guidance given with the fork itself (delivered after s4, for B): s2..s4 are main's too.
    const withFork = threeBranches({ guidance: [{ after: 's4', on: 'B' }] });
    expect(perBranch(withFork, 'drift-before-guidance')).toEqual({ main: [], A: [], B: [] });
    // Guidance on main after s3 is on B's path too (B inherits main up to s4), not on A's.
    const onMain = threeBranches({ guidance: [{ after: 's3', on: 'main' }] });
    expect(perBranch(onMain, 'drift-before-guidance')).toEqual({ main: ['s3'], A: [], B: ['s3'] });
    expect(perBranch(onMain, 'drift-before-guidance', { window: 1 })).toEqual({ main: ['s3'], A: [], B: ['s3'] });
    // Guidance on A after a1 masks A's own step, not s2 (main and B share it).
    const onA = threeBranches({ guidance: [{ after: 'a1', on: 'A' }] });
    expect(perBranch(onA, 'drift-before-guidance')).toEqual({ main: [], A: ['a1'], B: [] });
    for (const e of [onB, withFork, onMain, onA]) expectSameOnEveryBranch(e, 'drift-before-guidance');
  });

  it('malformed-call and repeated-action: facts of the step, the same on every branch through it', () => {
    const events = threeBranches({
      steps: {
        s3: { calls: [{ name: 'run_command', args: '{"command": ' }] },
        s4: { calls: [output()] },
        s5: { calls: [output()] }, // repeats s4: main only
        a1: { calls: [run('s2')] }, // repeats s2, its parent on A
        b1: { calls: [output()] }, // repeats s4 on B
      },
    });
    expect(perBranch(events, 'malformed-call')).toEqual({ main: ['s3'], A: [], B: ['s3'] });
    expect(perBranch(events, 'repeated-action')).toEqual({ main: ['s5'], A: ['a1'], B: ['b1'] });
    expectSameOnEveryBranch(events, 'malformed-call');
    expectSameOnEveryBranch(events, 'repeated-action');
  });

  it('all rules together label shared steps alike whichever branch is labelled, and applying on every branch settles', () => {
    const events = threeBranches({
      steps: { s2: { calls: [run('make')], results: [failed('boom')] }, s3: { calls: [run('make')] }, b2: { calls: [run('b1')] } },
      guidance: [{ after: 'b1', on: 'B' }, { after: 's3', on: 'main' }],
    });
    expectSameOnEveryBranch(events, 'all');
    let all = events;
    for (const branchId of BRANCHES) all = appendBodies(all, ruleEvents(foldTrajectory(all), branchId));
    const t = foldTrajectory(all);
    for (const branchId of BRANCHES) expect(ruleEvents(t, branchId).filter((e) => e.type === 'label.set').map((e) => e.stepId), branchId).toEqual([]);
    const masked = [...t.steps.values()].filter((s) => effectiveLabel(s)?.label === 'mask').map((s) => s.id).sort();
    // s1 and s2 stay (A went on from them unguided, and never retried s2); s3 has main's guidance on main and B;
    // b1 precedes B's guidance, b2 repeats it; nothing on B's path is abandoned.
    expect(masked).toEqual(['a1', 'a2', 'b1', 'b2', 's3', 's5', 's6'].sort());
  });
});

describe('previewRules / ruleEvents', () => {
  const r = realisticSession();

  it('previews counts per rule and one proposal per step', () => {
    const t = foldTrajectory(r.events);
    const p = previewRules(t, 'main');
    expect(p.counts).toEqual({ 'malformed-call': 1, 'failed-retry': 1, 'repeated-action': 1, 'drift-before-guidance': 3, 'abandoned-branch': 5 });
    expect(p.labels.map((l) => [l.stepId, l.rule])).toEqual([
      [r.s.trainFail, 'failed-retry'], [r.s.out1, 'abandoned-branch'], [r.s.out2, 'repeated-action'],
      [r.s.malformed, 'malformed-call'], [r.s.tune, 'drift-before-guidance'], [r.s.evaluate, 'abandoned-branch'],
    ]);
    expect(previewRules(t, 'alt', ['failed-retry', 'abandoned-branch']).labels.map((l) => l.stepId)).toEqual([r.s.trainFail]);
    expect(() => previewRules(t, 'main', ['nope'])).toThrow(/Unknown rule/);
    expect(() => previewRules(t, 'main', ['failed-retry'], { 'failed-retry': { lookahead: 'x' } })).toThrow(/lookahead/);
  });

  it('emits rule label.set bodies, is idempotent, and never overrides annotator or judge labels', () => {
    const t = foldTrajectory(r.events);
    const bodies = ruleEvents(t, 'main');
    expect(bodies).toHaveLength(6);
    for (const b of bodies) expect(b).toMatchObject({ type: 'label.set', label: 'mask', source: 'rule', author: 'rules' });
    expect(bodies.every((b) => b.type === 'label.set' && typeof b.rule === 'string')).toBe(true);
    const after = appendBodies(r.events, bodies);
    const t2 = foldTrajectory(after);
    expect(ruleEvents(t2, 'main')).toEqual([]);
    // annotator mask on trainFail and judge keep on evaluate stay in force
    expect(effectiveLabel(t2.steps.get(r.s.evaluate)!)).toMatchObject({ source: 'judge', label: 'keep' });
    expect(effectiveLabel(t2.steps.get(r.s.trainFail)!)).toMatchObject({ source: 'annotator' });
    expect(effectiveLabel(t2.steps.get(r.s.out2)!)).toMatchObject({ source: 'rule', rule: 'repeated-action' });
    // changing parameters changes only what differs; clearStale removes what no longer applies
    const narrowed = ruleEvents(t2, 'main', ['failed-retry', 'repeated-action', 'malformed-call'], {}, { clearStale: true });
    expect(narrowed.filter((x) => x.type === 'label.cleared').map((x) => x.stepId)).toEqual([]);
    const noFork = ruleEvents(t2, 'main', ['abandoned-branch'], { 'abandoned-branch': { reasons: ['rewind'] } }, { clearStale: true });
    expect(noFork.map((x) => [x.type, x.stepId])).toEqual([['label.cleared', r.s.out1], ['label.cleared', r.s.evaluate]]);
    const t3 = foldTrajectory(appendBodies(after, noFork));
    expect(effectiveLabel(t3.steps.get(r.s.out1)!)).toBeNull();
    expect(ruleEvents(t3, 'main', ['abandoned-branch'], { 'abandoned-branch': { reasons: ['rewind'] } }, { clearStale: true })).toEqual([]);
  });
});
