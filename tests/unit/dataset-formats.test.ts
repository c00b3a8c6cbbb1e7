import { describe, expect, it } from 'vitest';
import { foldTrajectory } from '../../shared/trajectory';
import { buildConversation, MISSING_RESULT, type ChatTurn } from '../../electron/core/dataset/messages';
import { openaiRecord, sharegptRecord, toOpenAIJsonl, toShareGPTJsonl, toTrajectoryJsonl, type OpenAIMessage } from '../../electron/core/dataset/formats';
import { DEFAULT_LABEL_POLICY, resolvePolicy } from '../../electron/core/dataset/policy';
import { validateAsciicast, validateOpenAIJsonl, validateOpenAILine, validateShareGPTJsonl, validateShareGPTLine } from '../../electron/core/dataset/validate';
import { output, realisticSession, run, SessionBuilder, SYSTEM_PROMPT, TOOLS } from '../fixtures/sessions';

function answeredOnce(messages: OpenAIMessage[]): void {
  const calls = messages.flatMap((m) => m.tool_calls ?? []).map((c) => c.id);
  const answers = messages.filter((m) => m.role === 'tool').map((m) => m.tool_call_id);
  expect(new Set(calls).size).toBe(calls.length);
  expect([...answers].sort()).toEqual([...calls].sort());
}

describe('conversation of a branch', () => {
  const r = realisticSession();
  const t = foldTrajectory(r.events);

  it('orders system, task, leading guidance, then assistant/tool/guidance turns per step', () => {
    const c = buildConversation(t, 'main', { systemPrompt: SYSTEM_PROMPT });
    const turns = c.turns;
    expect(turns[0]).toEqual({ role: 'system', content: SYSTEM_PROMPT });
    expect(turns[1]).toMatchObject({ role: 'user', kind: 'task', content: r.task });
    expect(turns[2]).toMatchObject({ role: 'user', kind: 'guidance', content: '<real_user>Use the data in /data/politics first; do not download anything else.</real_user>' });
    expect(turns[3]).toMatchObject({ role: 'assistant', stepId: r.s.plan, content: 'I will inspect the workspace first.', reasoning: 'Plan: look around.' });
    expect(turns[4]).toMatchObject({ role: 'tool', stepId: r.s.plan });
    // guidance after the step it was delivered after, before the next assistant turn
    const gi = turns.findIndex((x) => x.role === 'user' && x.kind === 'guidance' && x.content.includes('Stop tuning'));
    expect(turns[gi - 2]).toMatchObject({ role: 'assistant', stepId: r.s.tune });
    expect(turns[gi + 1]).toMatchObject({ role: 'assistant', stepId: r.s.evaluate });
    // labels travel with the assistant turns
    const byStep = new Map(turns.filter((x): x is Extract<ChatTurn, { role: 'assistant' }> => x.role === 'assistant').map((x) => [x.stepId, x]));
    expect(byStep.get(r.s.trainFail)!.label).toMatchObject({ label: 'mask', source: 'annotator' });
    expect(byStep.get(r.s.evaluate)!.label).toMatchObject({ label: 'keep', source: 'judge' });
    expect(byStep.get(r.s.install)!.label).toBeNull();
  });

  it('follows a branch through its fork point', () => {
    const c = buildConversation(t, 'alt', { systemPrompt: SYSTEM_PROMPT });
    const steps = c.turns.filter((x) => x.role === 'assistant').map((x) => (x as { stepId: string }).stepId);
    expect(steps).toEqual([r.s.plan, r.s.trainFail, r.s.install, r.s.trainRetry, r.s.alt1, r.s.alt2]);
    expect(c.branchName).toBe('try-lora');
  });

  it('answers every call exactly once, also when a result is missing or ids repeat', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 'task' });
    b.step({ calls: [run('a'), run('b')], results: [{ observation: 'A' }, { observation: '', missing: true }] });
    b.step({ calls: [{ ...output(), id: 'dup' }] });
    b.step({ calls: [{ ...output('x'), id: 'dup' }, { ...run('c'), id: '' }] });
    const c = buildConversation(foldTrajectory(b.events), 'main', { systemPrompt: 's' });
    const { record } = openaiRecord(c, TOOLS, DEFAULT_LABEL_POLICY);
    answeredOnce(record.messages);
    expect(record.messages.find((m) => m.role === 'tool' && m.content === MISSING_RESULT)).toBeTruthy();
    expect(validateOpenAILine(JSON.stringify(record), 1)).toEqual([]);
  });

  it('context mode replaces covered steps by the summary and keeps guidance', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 'task' });
    const a = b.step({ calls: [run('a')] });
    b.guidance('keep going', { after: a });
    const s2 = b.step({ calls: [run('b')] });
    const s3 = b.step({ calls: [run('c')] });
    b.summary(s3, 'SUMMARY of a and b', [a, s2]);
    b.step({ calls: [run('d')] });
    const t2 = foldTrajectory(b.events);
    const verbatim = buildConversation(t2, 'main', { systemPrompt: 's' });
    expect(verbatim.turns.filter((x) => x.role === 'assistant')).toHaveLength(4);
    expect(verbatim.turns.some((x) => x.content === 'SUMMARY of a and b')).toBe(false);
    const ctx = buildConversation(t2, 'main', { systemPrompt: 's', mode: 'context' });
    expect(ctx.turns.map((x) => (x.role === 'user' ? `${x.kind}` : x.role))).toEqual(['system', 'task', 'summary', 'guidance', 'assistant', 'tool', 'assistant', 'tool']);
  });
});

describe('OpenAI JSONL', () => {
  const r = realisticSession();
  const t = foldTrajectory(r.events);
  const conv = buildConversation(t, 'main', { systemPrompt: SYSTEM_PROMPT });

  it('masks with weight 0 but keeps the turn as context; later good actions get weight 1', () => {
    const { record, stats } = openaiRecord(conv, TOOLS, DEFAULT_LABEL_POLICY);
    const assistants = record.messages.filter((m) => m.role === 'assistant');
    const ids = conv.turns.filter((x) => x.role === 'assistant').map((x) => (x as { stepId: string }).stepId);
    const w = new Map(ids.map((id, i) => [id, assistants[i]!.weight]));
    expect(w.get(r.s.trainFail)).toBe(0);
    expect(w.get(r.s.tune)).toBe(0);
    expect(w.get(r.s.malformed)).toBe(0); // invalid arguments
    expect(w.get(r.s.trainRetry)).toBe(1);
    expect(w.get(r.s.evaluate)).toBe(1);
    expect(w.get(r.s.install)).toBe(1); // unlabelled = keep
    // the masked call is still in the conversation, with its answer
    const failedCall = assistants[ids.indexOf(r.s.trainFail)]!.tool_calls![0]!;
    expect(JSON.parse(failedCall.function.arguments)).toMatchObject({ command: 'python train.py --lr 3e-4 --epochs 3' });
    expect(record.messages.some((m) => m.role === 'tool' && m.tool_call_id === failedCall.id && (m.content ?? '').includes('ModuleNotFoundError'))).toBe(true);
    expect(stats).toMatchObject({ actions: 9, masked: 3, kept: 6 });
    expect(stats.maskedBy).toMatchObject({ annotator: 2, 'invalid-arguments': 1 });
    // weight only on assistant turns; roles and tool_calls shape
    for (const m of record.messages) if (m.role !== 'assistant') expect(m).not.toHaveProperty('weight');
    expect(assistants[0]!.tool_calls![0]).toEqual({ id: 'call_1', type: 'function', function: { name: 'run_command', arguments: '{"session_id":"main","command":"ls -la /work/task","wait_for_completion":true}' } });
    answeredOnce(record.messages);
    const line = JSON.stringify(record);
    expect(validateOpenAILine(line, 1)).toEqual([]);
  });

  it('exports invalid model arguments as {"_raw": …}', () => {
    const { record } = openaiRecord(conv, TOOLS, DEFAULT_LABEL_POLICY);
    const raw = record.messages.flatMap((m) => m.tool_calls ?? []).find((c) => c.function.arguments.includes('_raw'))!;
    expect(JSON.parse(raw.function.arguments)).toEqual({ _raw: '{"session_id": "main", "command": "cat log.txt' });
  });

  it('honours the label policy', () => {
    const maskUnlabelled = openaiRecord(conv, TOOLS, resolvePolicy({ unlabelled: 'mask' })).stats;
    expect(maskUnlabelled.kept).toBe(1); // only the judge-kept evaluation
    const humansOnly = openaiRecord(conv, TOOLS, resolvePolicy({ sources: ['annotator'] })).stats;
    expect(humansOnly.maskedBy.judge).toBe(0);
    const c2 = buildConversation(t, 'main', { systemPrompt: SYSTEM_PROMPT, sources: ['judge'] });
    expect(openaiRecord(c2, TOOLS, resolvePolicy({ sources: ['judge'] })).stats.maskedBy.annotator).toBe(0);
  });

  it('is deterministic and valid per the fine-tuning checks', () => {
    const a = toOpenAIJsonl([conv, buildConversation(t, 'alt', { systemPrompt: SYSTEM_PROMPT })], TOOLS, DEFAULT_LABEL_POLICY);
    const b = toOpenAIJsonl([buildConversation(foldTrajectory(r.events), 'main', { systemPrompt: SYSTEM_PROMPT }), buildConversation(t, 'alt', { systemPrompt: SYSTEM_PROMPT })], TOOLS, DEFAULT_LABEL_POLICY);
    expect(a).toBe(b);
    expect(a.split('\n')).toHaveLength(3);
    expect(validateOpenAIJsonl(a)).toEqual([]);
  });
});

describe('ShareGPT JSONL', () => {
  const r = realisticSession();
  const t = foldTrajectory(r.events);
  const conv = buildConversation(t, 'main', { systemPrompt: SYSTEM_PROMPT });

  it('alternates roles as LLaMA-Factory requires and lists masked turns', () => {
    const { record } = sharegptRecord(conv, TOOLS, DEFAULT_LABEL_POLICY);
    expect(record.system).toBe(SYSTEM_PROMPT);
    expect(JSON.parse(record.tools)[0]).toMatchObject({ name: 'run_command', parameters: { type: 'object' } });
    const c = record.conversations;
    expect(c[0]!.from).toBe('human');
    expect(c[0]!.value).toBe(`${r.task}\n\n<real_user>Use the data in /data/politics first; do not download anything else.</real_user>`);
    expect(c[1]).toEqual({ from: 'function_call', value: JSON.stringify({ name: 'run_command', arguments: { session_id: 'main', command: 'ls -la /work/task', wait_for_completion: true } }) });
    c.forEach((m, i) => expect(i % 2 === 0 ? ['human', 'observation'] : ['gpt', 'function_call']).toContain(m.from));
    expect(c.length % 2).toBe(0);
    // guidance after an observation is appended to it
    expect(c.some((m) => m.from === 'observation' && m.value.endsWith('<real_user>Stop tuning the learning rate; evaluate the checkpoint you have first.</real_user>'))).toBe(true);
    expect(record.mask).toEqual([3, 13, 15]);
    for (const i of record.mask) expect(c[i]!.from).toBe('function_call');
    expect(validateShareGPTLine(JSON.stringify(record), 1)).toEqual([]);
  });

  it('handles parallel calls, text-only replies and trailing turns', () => {
    const b = new SessionBuilder();
    b.rollout({ task: 'task' });
    b.step({ content: 'Thinking out loud.' });
    b.step({ calls: [run('a'), output()], results: [{ observation: 'A' }, { observation: 'B' }] });
    const last = b.step({ content: 'done', calls: [run('z')] });
    b.guidance('late advice', { after: last });
    const c = buildConversation(foldTrajectory(b.events), 'main', { systemPrompt: '' });
    const text = toShareGPTJsonl([c], TOOLS, DEFAULT_LABEL_POLICY);
    expect(validateShareGPTJsonl(text)).toEqual([]);
    const rec = JSON.parse(text) as { conversations: Array<{ from: string; value: string }> };
    expect(rec.conversations.map((x) => x.from)).toEqual(['human', 'gpt', 'human', 'function_call', 'observation', 'function_call']);
    expect(JSON.parse(rec.conversations[3]!.value)).toHaveLength(2);
    expect(JSON.parse(rec.conversations[4]!.value)).toEqual(['A', 'B']);
    const oa = JSON.parse(toOpenAIJsonl([c], TOOLS, DEFAULT_LABEL_POLICY)) as { messages: OpenAIMessage[] };
    expect(oa.messages[0]!.role).toBe('user'); // empty system prompt left out
    expect(oa.messages.at(-1)).toEqual({ role: 'user', content: '<real_user>late advice</real_user>' });
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
