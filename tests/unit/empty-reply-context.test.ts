// The prompt builder with an empty reply (no text, no tool call; reasoning is never sent)
// in the path, in both action modes: later prompts carry the step's nudge and guidance,
// never an assistant turn with nothing in it; a step rendered for an export's extended
// context (stepMessages) is the same; the token estimate counts what is sent.
import { describe, expect, it } from 'vitest';
import type { SessionEvent, SessionEventBody } from '../../shared/events';
import { foldTrajectory, pathTo } from '../../shared/trajectory';
import { assistantMessage, buildMessages, estimatePromptTokens, estimateTokens, stepMessages, type ToolMode } from '../../electron/core/rollout/context';

function log(bodies: SessionEventBody[]): SessionEvent[] {
  return bodies.map((b, i) => ({ ...b, seq: i + 1, ts: 1_000 + i }) as SessionEvent);
}

const NUDGE = 'Error: invalid tool call: your reply contained no tool call.';

/** s1 a call, s2 an empty reply (reasoning only) answered by the nudge, with guidance after it; s3 waiting for its reply. */
function trajectory(mode: ToolMode, usage = false) {
  const u = usage ? { promptTokens: 1000, completionTokens: 10, totalTokens: 1010 } : null;
  return foldTrajectory(log([
    { type: 'rollout.started', rolloutId: 'r1', branchId: 'main', task: 'Do it', endpoint: null, policy: 'model', maxSteps: 10, parentStepId: null },
    { type: 'step.started', stepId: 's1', parentId: null, branchId: 'main', depth: 1, rolloutId: 'r1' },
    mode === 'tools'
      ? { type: 'model.response', stepId: 's1', content: '', reasoning: '', toolCalls: [{ id: 'call_1', name: 'think', arguments: '{"thought":"a"}' }], usage: u, finishReason: 'tool_calls', durationMs: 1, toolMode: mode }
      : { type: 'model.response', stepId: 's1', content: '```json\n{"name":"think","arguments":{"thought":"a"}}\n```', reasoning: '', toolCalls: [{ id: 'call_1', name: 'think', arguments: '{"thought":"a"}' }], usage: u, finishReason: 'stop', durationMs: 1, toolMode: mode },
    { type: 'action.result', stepId: 's1', toolCallId: 'call_1', name: 'think', observation: 'thought', isError: false, durationMs: 1 },
    { type: 'step.finished', stepId: 's1', promptTokens: 10 },
    { type: 'step.started', stepId: 's2', parentId: 's1', branchId: 'main', depth: 2, rolloutId: 'r1' },
    { type: 'model.response', stepId: 's2', content: '', reasoning: 'I wonder what to do', toolCalls: [], usage: null, finishReason: 'stop', durationMs: 1, toolMode: mode },
    { type: 'action.result', stepId: 's2', toolCallId: '', name: '', observation: NUDGE, isError: true, durationMs: 0 },
    { type: 'step.finished', stepId: 's2', promptTokens: 10 },
    { type: 'guidance.queued', guidanceId: 'g1', text: 'Call a tool.', author: 'ann', branchId: 'main' },
    { type: 'guidance.delivered', guidanceId: 'g1', stepId: 's2' },
    { type: 'step.started', stepId: 's3', parentId: 's2', branchId: 'main', depth: 3, rolloutId: 'r1' },
  ]));
}

describe.each(['tools', 'text'] as const)('an empty reply in the prompt, %s mode', (mode) => {
  it('is no assistant turn of a later prompt: the step adds its nudge and guidance only', () => {
    const t = trajectory(mode);
    const m = buildMessages(t, 's3', { task: 'Do it', toolMode: mode });
    expect(m.filter((x) => x.role === 'assistant')).toHaveLength(1);
    expect(m.some((x) => x.role === 'assistant' && !x.content && !('tool_calls' in x && x.tool_calls?.length))).toBe(false);
    const last = m.at(-1)!;
    expect(last.role).toBe('user');
    expect(last.content).toContain(NUDGE);
    expect(last.content).toContain('<real_user>Call a tool.</real_user>');
    expect(JSON.stringify(m)).not.toContain('I wonder');
  });

  it('is no reply of its own (assistantMessage) and renders as the same messages for an export (stepMessages)', () => {
    const t = trajectory(mode);
    const s2 = t.steps.get('s2')!;
    expect(assistantMessage(s2, mode)).toBeNull();
    const added = stepMessages(t, s2, mode, 'main', pathTo(t, 's2'));
    expect(added).toEqual([buildMessages(t, 's3', { task: 'Do it', toolMode: mode }).at(-1)]);
  });

  it('is not counted in the prompt estimate', () => {
    const t = trajectory(mode, true);
    const m = buildMessages(t, 's3', { task: 'Do it', toolMode: mode });
    // From s1's reported usage plus what was sent after it: s1's results, then s2's nudge and guidance.
    const s1Prompt = buildMessages(t, 's1', { task: 'Do it', toolMode: mode });
    const afterS1 = m.slice(s1Prompt.length + 1);
    expect(estimatePromptTokens(t, 's3', { task: 'Do it', toolMode: mode })).toBe(1010 + estimateTokens(afterS1));
  });
});
