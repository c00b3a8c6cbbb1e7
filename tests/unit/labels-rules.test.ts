import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { effectiveLabel, foldTrajectory } from '../../shared/trajectory';
import { MALFORMED_CALL_MARKER, previewRules, ruleEvents, RULES, type RuleName, type RuleParams } from '../../electron/core/labels/rules';
import { failed, ok, output, realisticSession, run, SessionBuilder } from '../fixtures/sessions';

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
  it('masks the original steps after the fork that existed when the annotator forked', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 't' });
    b.step({ calls: [run('a')] });
    const s2 = b.step({ calls: [run('b')] });
    const s3 = b.step({ calls: [run('c')] });
    const s4 = b.step({ calls: [run('d')] });
    b.branch({ branchId: 'fix', from: s2, author: 'alice' });
    b.step({ branchId: 'fix', calls: [run('e')] });
    b.step({ branchId: 'main', calls: [run('resumed')] }); // the annotator came back to main later
    b.branch({ branchId: 'auto', from: s3, author: 'agent' }); // not a human decision
    expect(flagged(b.events, 'abandoned-branch')).toEqual([s3, s4]);
    expect(flagged(b.events, 'abandoned-branch', 'fix')).toEqual([]);
    expect(flagged(b.events, 'abandoned-branch', 'main', { reasons: ['rewind'] })).toEqual([]);
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
