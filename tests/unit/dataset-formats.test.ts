import { describe, expect, it } from 'vitest';
import { foldTrajectory, type Trajectory } from '../../shared/trajectory';
import { ExampleLedger, sessionExamples, type Example } from '../../electron/core/dataset/examples';
import { mistralRecord, openaiRecord, perActionRecords, sharegptRecord, type OpenAIMessage, type OpenAIRecord } from '../../electron/core/dataset/trainers';
import { toTrajectoryJsonl } from '../../electron/core/dataset/formats';
import { DEFAULT_LABEL_POLICY, resolvePolicy, type LabelPolicy } from '../../electron/core/dataset/policy';
import { validateAsciicast, validateMistralLine, validateOpenAILine, validateShareGPTLine } from '../../electron/core/dataset/validate';
import { systemPromptFor, taskMessage } from '../../electron/core/rollout/context';
import { TOOL_SCHEMAS } from '../../electron/core/rollout/tools';
import { output, realisticSession, run, SessionBuilder } from '../fixtures/sessions';
import * as lf from '../fixtures/trainers/llamafactory';

function answeredOnce(messages: OpenAIMessage[]): void {
  const calls = messages.flatMap((m) => m.tool_calls ?? []).map((c) => c.id);
  // The last turn is the trained action: its calls are answered after the example ends.
  const lastCalls = new Set((messages.at(-1)?.tool_calls ?? []).map((c) => c.id));
  const answers = messages.filter((m) => m.role === 'tool').map((m) => m.tool_call_id);
  expect(new Set(calls).size).toBe(calls.length);
  expect(calls.every((id) => id !== '')).toBe(true);
  expect([...answers].sort()).toEqual(calls.filter((id) => !lastCalls.has(id)).sort());
}

/** The examples of `branches`, in order, with the ledger that decided them (one export's worth). */
function examplesOf(t: Trajectory, branches: string[], policy: LabelPolicy = DEFAULT_LABEL_POLICY): { examples: Example[]; ledger: ExampleLedger } {
  const ledger = new ExampleLedger();
  const examples = [...sessionExamples(t, 'S1', branches, { policy, cwd: '/work/task' }, ledger)];
  return { examples, ledger };
}

const recordOf = (ex: Example): OpenAIRecord => openaiRecord(ex.messages, ex.weights, ex.tools);

/** Step id → weight of its assistant turn in an example. */
function weightsByStep(ex: Example): Map<string, 0 | 1> {
  const w = new Map<string, 0 | 1>();
  ex.messages.forEach((m, i) => {
    const owner = ex.owners[i];
    if (m.role === 'assistant' && owner) w.set(owner, ex.weights[i] === 1 ? 1 : 0);
  });
  return w;
}

/** The JSON a function_call turn of LLaMA-Factory carries for one call. */
const callValue = (name: string, args: unknown): string => JSON.stringify({ name, arguments: args });

describe('examples of a branch (openai.jsonl)', () => {
  const r = realisticSession();
  const t = foldTrajectory(r.events);
  const { examples: [main], ledger } = examplesOf(t, ['main']);

  it('rebuilds the context of a log without request record as the prompt code sends it, and says so', () => {
    expect(main!.source).toBe('reconstructed');
    expect(main!.kind).toBe('window');
    expect(main!.messages[0]).toEqual({ role: 'system', content: systemPromptFor({ cwd: '/work/task', toolMode: 'tools' }) });
    expect(main!.messages[1]).toEqual({ role: 'user', content: `${taskMessage(r.task)}\n<real_user>Use the data in /data/politics first; do not download anything else.</real_user>` });
    expect(main!.tools).toEqual(TOOL_SCHEMAS);
    // It ends on the branch's last reply.
    expect(main!.owners.at(-1)).toBe(r.s.evaluate);
    expect(main!.messages.at(-1)!.role).toBe('assistant');
  });

  it('masks with weight 0 but keeps the turn as context; later good actions get weight 1', () => {
    const w = weightsByStep(main!);
    expect(w.get(r.s.trainFail)).toBe(0);
    expect(w.get(r.s.tune)).toBe(0);
    expect(w.get(r.s.malformed)).toBe(0); // invalid arguments
    expect(w.get(r.s.trainRetry)).toBe(1);
    expect(w.get(r.s.evaluate)).toBe(1);
    expect(w.get(r.s.install)).toBe(1); // unlabelled = keep
    expect(main!.trainedSteps).toEqual([r.s.plan, r.s.install, r.s.trainRetry, r.s.out1, r.s.out2, r.s.evaluate]);
    expect(main!.contextSteps).toEqual([r.s.trainFail, r.s.malformed, r.s.tune]);
    expect(ledger.decision('S1', r.s.trainFail)).toEqual({ weight: 0, reason: 'annotator', unlabelled: false });
    expect(ledger.decision('S1', r.s.malformed)).toEqual({ weight: 0, reason: 'invalid-arguments', unlabelled: true });
    const record = recordOf(main!);
    const assistants = record.messages.filter((m) => m.role === 'assistant');
    // the masked call is still in the conversation, with its answer
    const failedAt = main!.owners.indexOf(r.s.trainFail);
    const failedCall = record.messages[failedAt]!.tool_calls![0]!;
    expect(record.messages[failedAt]!.weight).toBe(0);
    expect(JSON.parse(failedCall.function.arguments)).toMatchObject({ command: 'python train.py --lr 3e-4 --epochs 3' });
    expect(record.messages.some((m) => m.role === 'tool' && m.tool_call_id === failedCall.id && (m.content ?? '').includes('ModuleNotFoundError'))).toBe(true);
    expect(assistants).toHaveLength(9);
    expect(assistants.filter((m) => m.weight === 1)).toHaveLength(6);
    // weight only on assistant turns; roles and tool_calls shape
    for (const m of record.messages) if (m.role !== 'assistant') expect(m).not.toHaveProperty('weight');
    expect(assistants[0]!.tool_calls![0]).toEqual({ id: 'call_1', type: 'function', function: { name: 'run_command', arguments: '{"session_id":"main","command":"ls -la /work/task","wait_for_completion":true}' } });
    answeredOnce(record.messages);
    expect(validateOpenAILine(JSON.stringify(record), 1)).toEqual([]);
  });

  it('exports invalid arguments in the sanitised form the model was sent, as weight 0', () => {
    const record = recordOf(main!);
    const at = main!.owners.indexOf(r.s.malformed);
    const turn = record.messages[at]!;
    expect(turn.weight).toBe(0);
    expect(JSON.parse(turn.tool_calls![0]!.function.arguments)).toEqual({ invalid_arguments: '{"session_id": "main", "command": "cat log.txt' });
    expect(record.messages[at + 1]).toMatchObject({ role: 'tool', tool_call_id: turn.tool_calls![0]!.id, content: expect.stringMatching(/^Error: invalid tool call/) });
    expect(JSON.stringify(record)).not.toContain('_raw');
    // With maskInvalidArguments off, the label decides (here: unreviewed, so trained).
    const loose = examplesOf(t, ['main'], resolvePolicy({ maskInvalidArguments: false }));
    expect(weightsByStep(loose.examples[0]!).get(r.s.malformed)).toBe(1);
  });

  it('honours the label policy', () => {
    const maskUnlabelled = examplesOf(t, ['main'], resolvePolicy({ unlabelled: 'mask' }));
    expect(maskUnlabelled.examples[0]!.trainedSteps).toEqual([r.s.evaluate]); // only the judge-kept evaluation
    expect(maskUnlabelled.ledger.decision('S1', r.s.install)).toEqual({ weight: 0, reason: 'unlabelled', unlabelled: true });
    // Humans only: the judge's keep is not a label, so the evaluation is unreviewed (trained by default).
    const humansOnly = examplesOf(t, ['main'], resolvePolicy({ sources: ['annotator'] }));
    expect(humansOnly.ledger.decision('S1', r.s.evaluate)).toEqual({ weight: 1, reason: 'unlabelled', unlabelled: true });
    expect(weightsByStep(humansOnly.examples[0]!).get(r.s.trainFail)).toBe(0);
    // The judge only: the annotator's masks are not honoured, so those steps are trained.
    const judgeOnly = examplesOf(t, ['main'], resolvePolicy({ sources: ['judge'] }));
    expect(weightsByStep(judgeOnly.examples[0]!).get(r.s.trainFail)).toBe(1);
    expect(weightsByStep(judgeOnly.examples[0]!).get(r.s.tune)).toBe(1);
    expect(judgeOnly.ledger.decision('S1', r.s.evaluate)).toMatchObject({ weight: 1, reason: 'judge' });
    // 'refuse' plans like 'keep' (the bundle refuses before writing while any is unreviewed).
    expect(examplesOf(t, ['main'], resolvePolicy({ unlabelled: 'refuse' })).examples[0]!.trainedSteps).toEqual(main!.trainedSteps);
  });

  it('trains a prefix shared by branches in exactly one example', () => {
    const both = examplesOf(t, ['main', 'alt']).examples;
    expect(both.map((x) => x.branchId)).toEqual(['main', 'alt']);
    const alt = weightsByStep(both[1]!);
    for (const s of [r.s.plan, r.s.install, r.s.trainRetry]) expect(alt.get(s), s).toBe(0);
    expect(both[1]!.trainedSteps).toEqual([r.s.alt1, r.s.alt2]);
    // In the other order the prefix is trained on alt, and main trains only its own steps.
    const reversed = examplesOf(t, ['alt', 'main']).examples;
    expect(reversed[0]!.trainedSteps).toEqual([r.s.plan, r.s.install, r.s.trainRetry, r.s.alt1, r.s.alt2]);
    expect(reversed[1]!.trainedSteps).toEqual([r.s.out1, r.s.out2, r.s.evaluate]);
  });

  it('is deterministic and valid per the fine-tuning checks', () => {
    const lines = (tr: Trajectory) => examplesOf(tr, ['main', 'alt']).examples.map((x) => JSON.stringify(recordOf(x)));
    const a = lines(t);
    expect(lines(foldTrajectory(realisticSession().events))).toEqual(a);
    expect(a).toHaveLength(2);
    a.forEach((l, i) => expect(validateOpenAILine(l, i + 1)).toEqual([]));
  });

  it('answers every call exactly once, also when a result is missing or ids repeat', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 'task' });
    b.step({ calls: [run('a'), run('b')], results: [{ observation: 'A' }, { observation: '', missing: true }] });
    b.step({ calls: [{ ...output(), id: 'dup' }] });
    b.step({ calls: [{ ...output('x'), id: 'dup' }, { ...run('c'), id: '' }] });
    b.step({ calls: [run('d')] });
    const { examples } = examplesOf(foldTrajectory(b.events), ['main']);
    const record = recordOf(examples[0]!);
    answeredOnce(record.messages);
    expect(record.messages.find((m) => m.role === 'tool' && m.content === 'Error: the action was interrupted before it returned a result.')).toBeTruthy();
    // The repeated id is renamed in its call and in the answer to it; the first use keeps
    // it. The empty one gets a fresh id that no call of the example uses (call_3 is d's).
    const ids = record.messages.flatMap((m) => m.tool_calls ?? []).map((c) => c.id);
    expect(ids).toEqual(['call_1', 'call_2', 'dup', 'dup_1', 'call_4', 'call_3']);
    const answerTo = (id: string) => record.messages.find((m) => m.role === 'tool' && m.tool_call_id === id)?.content;
    expect(answerTo('dup_1')).toBe('{"success": true, "exit_code": 0, "output": ""}');
    expect(validateOpenAILine(JSON.stringify(record), 1)).toEqual([]);
  });
});

describe('per-action lines (sharegpt.jsonl, mistral.jsonl)', () => {
  const r = realisticSession();
  const t = foldTrajectory(r.events);
  const main = examplesOf(t, ['main']).examples[0]!;
  const record = recordOf(main);
  const lines = perActionRecords(record);

  it('one line per trained action, ending on it, so mask_history trains exactly the kept actions', () => {
    expect(lines).toHaveLength(main.trainedSteps.length);
    lines.forEach((l, k) => {
      const last = l.messages.at(-1)!;
      expect(last).toEqual({ ...record.messages[main.owners.indexOf(main.trainedSteps[k]!)]!, weight: 1 });
      expect(l.messages.slice(0, -1).every((m) => m.role !== 'assistant' || m.weight === 0)).toBe(true);
    });
  });

  it('alternates roles as LLaMA-Factory requires, with the example\'s system prompt and tools', () => {
    for (const [k, l] of lines.entries()) {
      const rec = sharegptRecord(l);
      // No per-turn mask column: LLaMA-Factory has none; the line ends on what it trains.
      expect(Object.keys(rec).sort()).toEqual(['conversations', 'system', 'tools']);
      expect(rec.system).toBe(main.messages[0]!.content);
      expect(JSON.parse(rec.tools)[0]).toMatchObject({ name: 'run_command', parameters: { type: 'object' } });
      const c = rec.conversations;
      expect(c[0]).toEqual({ from: 'human', value: main.messages[1]!.content });
      c.forEach((m, i) => expect(i % 2 === 0 ? ['human', 'observation'] : ['gpt', 'function_call']).toContain(m.from));
      expect(c.length % 2).toBe(0);
      expect(validateShareGPTLine(JSON.stringify(rec), k + 1)).toEqual([]);
    }
    const first = sharegptRecord(lines[0]!).conversations;
    // The text beside a call comes before it, in LLaMA-Factory's tool-call words, as its formatter reads them.
    expect(first[1]!.from).toBe('function_call');
    const read = lf.functionValue(first[1]!.value);
    expect(read.text).toBe(`${record.messages[2]!.content}\n`);
    expect(read.calls).toEqual([JSON.parse(callValue('run_command', { session_id: 'main', command: 'ls -la /work/task', wait_for_completion: true }))]);
    // guidance after an observation is appended to it
    const last = sharegptRecord(lines.at(-1)!).conversations;
    expect(last.some((m) => m.from === 'observation' && m.value.endsWith('\n\n<real_user>Stop tuning the learning rate; evaluate the checkpoint you have first.</real_user>'))).toBe(true);
  });

  it('mistral lines: 9-character call ids, valid for mistral-common', () => {
    for (const [k, l] of lines.entries()) {
      const m = mistralRecord(l);
      expect(validateMistralLine(JSON.stringify(m), k + 1)).toEqual([]);
      for (const msg of m.messages) for (const c of msg.tool_calls ?? []) expect(c.id).toMatch(/^[a-zA-Z0-9]{9}$/);
      expect(m.messages.at(-1)).toMatchObject({ role: 'assistant', weight: 1 });
    }
  });

  it('handles parallel calls, text-only replies and trailing turns', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 'task' });
    b.step({ content: 'Thinking out loud.' });
    b.step({ calls: [run('a'), output()], results: [{ observation: 'A' }, { observation: 'B' }] });
    const last = b.step({ content: 'done', calls: [run('z')] });
    b.guidance('late advice', { after: last });
    const [ex] = examplesOf(foldTrajectory(b.events), ['main']).examples;
    const oa = recordOf(ex!);
    // The example ends on the last reply: the guidance after it trains nothing.
    expect(oa.messages.at(-1)).toMatchObject({ role: 'assistant', content: 'done', weight: 1 });
    expect(JSON.stringify(oa)).not.toContain('late advice');
    const recs = perActionRecords(oa).map((r) => sharegptRecord(r));
    expect(recs).toHaveLength(3);
    recs.forEach((x, i) => expect(validateShareGPTLine(JSON.stringify(x), i + 1)).toEqual([]));
    expect(recs[0]!.conversations.map((x) => x.from)).toEqual(['human', 'gpt']);
    const conv = recs[2]!.conversations;
    // Two replies in a row get an empty human turn between them.
    expect(conv.map((x) => x.from)).toEqual(['human', 'gpt', 'human', 'function_call', 'observation', 'function_call']);
    expect(conv[2]!.value).toBe('');
    expect(JSON.parse(conv[3]!.value)).toHaveLength(2);
    // Parallel results joined as LLaMA-Factory's own converter joins them (Qwen's separate result blocks).
    expect(conv[4]!.value).toBe('A\n</tool_response>\n<tool_response>\nB');
    // The trained reply keeps its text before its call.
    expect(lf.functionValue(conv[5]!.value)).toEqual({ text: 'done\n', calls: [{ name: 'run_command', arguments: expect.anything() }] });
  });
});

describe('trajectory JSONL', () => {
  it('writes a session line then one full line per step of the exported branches', () => {
    const r = realisticSession();
    const t = foldTrajectory(r.events);
    const text = toTrajectoryJsonl(t, { sessionId: 'S1', branchIds: ['main', 'alt'], policy: DEFAULT_LABEL_POLICY });
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ kind: 'session', sessionId: 'S1', exportedBranches: ['main', 'alt'] });
    expect(lines).toHaveLength(1 + 11);
    const fail = lines.find((l) => l.stepId === r.s.trainFail)!;
    expect(fail).toMatchObject({ kind: 'step', parentId: r.s.plan, branchId: 'main', depth: 2, weight: 0, weightReason: 'annotator', onBranches: ['main', 'alt'] });
    expect((fail.comments as unknown[])).toHaveLength(1);
    expect((fail.labelHistory as unknown[])).toHaveLength(1);
    const ev = lines.find((l) => l.stepId === r.s.evaluate)!;
    expect(ev.checkpoint).toMatchObject({ commit: `c0ffee${r.s.evaluate}` });
    const tune = lines.find((l) => l.stepId === r.s.tune)!;
    expect((tune.guidance as Array<{ id: string }>)[0]!.id).toBe(r.guidance.drift);
    expect(lines.find((l) => l.stepId === r.s.alt1)!.onBranches).toEqual(['alt']);
  });
});

describe('validators catch what they should', () => {
  it('OpenAI', () => {
    const bad = [
      'not json',
      JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }),
      JSON.stringify({ messages: [{ role: 'user', content: 'x', weight: 1 }, { role: 'assistant', content: 'y', weight: 2 }] }),
      JSON.stringify({ messages: [{ role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{' } }] }, { role: 'tool', tool_call_id: 'a', content: '' }] }),
      JSON.stringify({ messages: [{ role: 'assistant', tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{}' } }] }, { role: 'user', content: 'u' }] }),
      JSON.stringify({ messages: [{ role: 'assistant', content: 'x' }, { role: 'tool', tool_call_id: 'zz', content: '' }] }),
      JSON.stringify({ messages: [{ role: 'bot', content: 'x' }] }),
      JSON.stringify({ messages: [{ role: 'assistant', content: 'x', extra: 1 }] }),
      JSON.stringify({ messages: [{ role: 'assistant', content: 'x' }], tools: [{ type: 'function', function: { name: 'bad name' } }] }),
    ];
    bad.forEach((l, i) => expect(validateOpenAILine(l, i + 1).length, l).toBeGreaterThan(0));
    expect(validateOpenAILine(bad[4]!, 5)[0]!.message).toMatch(/not answered/);
  });

  it('ShareGPT', () => {
    expect(validateShareGPTLine(JSON.stringify({ conversations: [{ from: 'gpt', value: 'x' }, { from: 'human', value: 'y' }] }), 1).length).toBeGreaterThan(0);
    expect(validateShareGPTLine(JSON.stringify({ conversations: [{ from: 'human', value: 'x' }] }), 1)[0]!.message).toMatch(/even/);
    expect(validateShareGPTLine(JSON.stringify({ conversations: [{ from: 'human', value: 'x' }, { from: 'function_call', value: 'nope' }] }), 1)[0]!.message).toMatch(/JSON/);
    expect(validateShareGPTLine(JSON.stringify({ conversations: [{ from: 'human', value: 'x' }, { from: 'gpt', value: 'y' }], mask: [0] }), 1)[0]!.message).toMatch(/mask/);
  });

  it('asciicast', () => {
    const header = JSON.stringify({ version: 2, width: 80, height: 24, timestamp: 1 });
    expect(validateAsciicast(`${header}\n[0.5,"o","a"]\n[1,"r","100x30"]\n`)).toEqual([]);
    expect(validateAsciicast(`${header}\n[1,"o","a"]\n[0.5,"o","b"]\n`)[0]!.message).toMatch(/goes back/);
    expect(validateAsciicast(`${header}\n[1,"x","a"]\n`)[0]!.message).toMatch(/unknown event code/);
    expect(validateAsciicast(`{"version":1,"width":80,"height":24}\n`)[0]!.message).toMatch(/version/);
    expect(validateAsciicast(`${header}\n[1,"r","big"]\n`)[0]!.message).toMatch(/COLSxROWS/);
  });
});
