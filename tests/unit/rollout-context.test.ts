import { describe, expect, it } from 'vitest';
import type { SessionEvent, SessionEventBody } from '../../shared/events';
import { foldTrajectory } from '../../shared/trajectory';
import { buildMessages, estimatePromptTokens, estimateTokens, messagesForPath, SYSTEM_PROMPT } from '../../electron/core/rollout/context';
import { pathTo } from '../../shared/trajectory';

function log(bodies: SessionEventBody[]): SessionEvent[] {
  return bodies.map((b, i) => ({ ...b, seq: i + 1, ts: 1_000 + i }) as SessionEvent);
}

function step(id: string, parent: string | null, call: { name: string; args: Record<string, unknown> } | null, observation = `obs of ${id}`, branchId = 'main', usage: { p: number; c: number } | null = null): SessionEventBody[] {
  const tc = call ? [{ id: `call_${id}`, name: call.name, arguments: JSON.stringify(call.args) }] : [];
  return [
    { type: 'step.started', stepId: id, parentId: parent, branchId, depth: 1, rolloutId: 'r1' },
    { type: 'model.response', stepId: id, content: `thinking ${id}`, reasoning: '', toolCalls: tc, usage: usage ? { promptTokens: usage.p, completionTokens: usage.c, totalTokens: usage.p + usage.c } : null, finishReason: 'tool_calls', durationMs: 5 },
    ...(call ? [{ type: 'action.result', stepId: id, toolCallId: `call_${id}`, name: call.name, observation, isError: false, durationMs: 1 } as SessionEventBody] : []),
    { type: 'step.finished', stepId: id, promptTokens: 10 },
  ];
}

const guide = (id: string, text: string, at: string | null, branchId = 'main'): SessionEventBody[] => [
  { type: 'guidance.queued', guidanceId: id, text, author: 'ann', branchId },
  { type: 'guidance.delivered', guidanceId: id, stepId: at },
];

describe('buildMessages', () => {
  it('rebuilds a prompt: system, task, steps with tool results then <real_user> guidance', () => {
    const t = foldTrajectory(log([
      { type: 'rollout.started', rolloutId: 'r1', branchId: 'main', task: 'Do the thing', endpoint: null, policy: 'model', maxSteps: 10, parentStepId: null },
      ...guide('g0', 'Start with the README.', null),
      ...step('s1', null, { name: 'run_command', args: { session_id: 'main', command: 'ls' } }),
      ...guide('g1', 'Use python 3.11, not 3.8.', 's1'),
      ...step('s2', 's1', { name: 'think', args: { thought: 'ok' } }),
      { type: 'step.started', stepId: 's3', parentId: 's2', branchId: 'main', depth: 3, rolloutId: 'r1' },
    ]));
    const m = buildMessages(t, 's3', { task: 'Do the thing' });
    expect(m.map((x) => x.role)).toEqual(['system', 'user', 'assistant', 'tool', 'user', 'assistant', 'tool']);
    expect(m[0]!.content).toBe(SYSTEM_PROMPT);
    expect(m[0]!.content).toContain('<real_user></real_user>');
    expect(m[1]!.content).toContain('<task_description>\nDo the thing\n</task_description>');
    expect(m[1]!.content).toContain('<real_user>Start with the README.</real_user>');
    expect(m[2]).toMatchObject({ role: 'assistant', content: 'thinking s1', tool_calls: [{ id: 'call_s1', type: 'function', function: { name: 'run_command' } }] });
    expect(m[3]).toEqual({ role: 'tool', tool_call_id: 'call_s1', content: 'obs of s1' });
    expect(m[4]).toEqual({ role: 'user', content: '<real_user>Use python 3.11, not 3.8.</real_user>' });
    // The prompt of s2 ends with the guidance delivered after s1.
    expect(buildMessages(t, 's2', { task: 'Do the thing' }).at(-1)!.content).toBe('<real_user>Use python 3.11, not 3.8.</real_user>');
  });

  it('keeps sibling-branch guidance out and sanitizes malformed calls', () => {
    const t = foldTrajectory(log([
      ...step('s1', null, { name: 'think', args: { thought: 'a' } }),
      ...guide('gB', 'Only for branch B', 's1', 'B'),
      { type: 'step.started', stepId: 's2', parentId: 's1', branchId: 'main', depth: 2, rolloutId: 'r1' },
      { type: 'model.response', stepId: 's2', content: '', reasoning: '', toolCalls: [{ id: 'bad', name: 'run_command', arguments: '{"session_id": ' }], usage: null, finishReason: 'tool_calls', durationMs: 1 },
      { type: 'action.result', stepId: 's2', toolCallId: 'bad', name: 'run_command', observation: 'Error: invalid tool call: bad JSON', isError: true, durationMs: 0 },
      { type: 'step.started', stepId: 's3', parentId: 's2', branchId: 'main', depth: 3, rolloutId: 'r1' },
      { type: 'step.started', stepId: 'b2', parentId: 's1', branchId: 'B', depth: 2, rolloutId: 'r2' },
    ]));
    const main = buildMessages(t, 's3', { task: 'x', branchId: 'main' });
    expect(JSON.stringify(main)).not.toContain('Only for branch B');
    const bad = main.find((x) => x.role === 'assistant' && x.tool_calls?.[0]?.id === 'bad');
    expect(bad && bad.role === 'assistant' && bad.tool_calls![0]!.function.arguments).toBe(JSON.stringify({ invalid_arguments: '{"session_id": ' }));
    const b = buildMessages(t, 'b2', { task: 'x', branchId: 'B' });
    expect(b.at(-1)!.content).toBe('<real_user>Only for branch B</real_user>');
  });

  it('uses the latest summary: older steps replaced, guidance re-inserted verbatim, recent steps verbatim', () => {
    const bodies: SessionEventBody[] = [];
    let parent: string | null = null;
    for (let i = 1; i <= 6; i++) {
      const id = `s${i}`;
      bodies.push(...step(id, parent, { name: 'run_command', args: { session_id: 'main', command: `cmd ${i}` } }));
      if (i === 2) bodies.push(...guide('g2', 'Guidance after two.', 's2'));
      if (i === 5) bodies.push(...guide('g5', 'Guidance after five.', 's5'));
      parent = id;
    }
    bodies.push({ type: 'step.started', stepId: 's7', parentId: 's6', branchId: 'main', depth: 7, rolloutId: 'r1' });
    bodies.push({ type: 'summary.created', stepId: 's7', summary: '<state_snapshot>S</state_snapshot>', coveredStepIds: ['s1', 's2', 's3', 's4'] });
    const t = foldTrajectory(log(bodies));
    const m = buildMessages(t, 's7', { task: 'x' });
    const all = JSON.stringify(m);
    expect(all).not.toContain('cmd 1');
    expect(all).not.toContain('cmd 4');
    expect(m[2]).toMatchObject({ role: 'assistant' });
    expect(m[2]!.content).toMatch(/made 4 actions[\s\S]*<state_snapshot>S<\/state_snapshot>/);
    expect(m[3]!.role).toBe('user');
    expect(m[3]!.content).toContain('<real_user>Guidance after two.</real_user>');
    expect(m[4]).toMatchObject({ role: 'assistant', content: 'thinking s5' });
    expect(all).toContain('cmd 5');
    expect(all).toContain('cmd 6');
    expect(all).toContain('<real_user>Guidance after five.</real_user>');
    // Before the summary (s6's prompt) everything is verbatim.
    expect(JSON.stringify(buildMessages(t, 's6', { task: 'x' }))).toContain('cmd 1');
    // The older part as sent to the summarizer.
    const older = messagesForPath(t, pathTo(t, 's4'), { task: 'x', includeLast: true });
    expect(older.at(-1)).toMatchObject({ role: 'tool', content: 'obs of s4' });
  });

  it('renders text mode as plain turns', () => {
    const t = foldTrajectory(log([
      ...step('s1', null, { name: 'run_command', args: { session_id: 'main', command: 'ls' } }),
      ...guide('g1', 'Hurry.', 's1'),
      { type: 'step.started', stepId: 's2', parentId: 's1', branchId: 'main', depth: 2, rolloutId: 'r1' },
    ]));
    const m = buildMessages(t, 's2', { task: 'x', toolMode: 'text' });
    expect(m.map((x) => x.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(m[0]!.content).toContain('```bash');
    expect(m[3]!.content).toBe('Observation (run_command):\nobs of s1\n\n<real_user>Hurry.</real_user>');
  });

  it('estimates tokens, preferring reported usage', () => {
    expect(estimateTokens([{ role: 'user', content: 'x'.repeat(400) }])).toBe(104);
    const t = foldTrajectory(log([
      ...step('s1', null, { name: 'think', args: { thought: 'a' } }, 'o'.repeat(4_000), 'main', { p: 50_000, c: 100 }),
      { type: 'step.started', stepId: 's2', parentId: 's1', branchId: 'main', depth: 2, rolloutId: 'r1' },
    ]));
    const est = estimatePromptTokens(t, 's2', { task: 'x' });
    expect(est).toBeGreaterThan(50_100 + 1_000);
    expect(est).toBeLessThan(50_100 + 1_100);
  });
});
