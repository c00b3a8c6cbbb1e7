// The safety net of untrainedReason (bundle.ts): a step its label trains, but that no
// example holds as a model turn, is not trained by any file, so trajectory.jsonl must not
// say it is (weight 0, 'no-context'), the manifest counts it and a warning names it.
// Here the recorded request after it carries its reply with no owner (as an import does
// when the source's next context shows the reply otherwise than the step has it).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent, WireMessage } from '../../shared/events';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { configHash } from '../../electron/core/rollout/request-record';
import { SessionBuilder } from '../fixtures/sessions';

const CONFIG = { model: 'glm-4.5', stream: true, tools: [{ type: 'function', function: { name: 'run_command', description: 'Run a command.', parameters: { type: 'object', properties: {} } } }] };
const HASH = configHash(CONFIG);
const M1: WireMessage[] = [{ role: 'system', content: 'You are an agent.' }, { role: 'user', content: 'Make a file.' }];
const CALL = '{"session_id":"main","command":"touch a"}';
const A1: WireMessage = { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'run_command', arguments: CALL } }] };
const T1: WireMessage = { role: 'tool', tool_call_id: 'call_1', content: '{"success": true}' };

function session(owner: string | null): SessionEvent[] {
  const b = new SessionBuilder({ name: 'no context' });
  b.rollout({ task: 'Make a file.' });
  b.add({ type: 'request.config', hash: HASH, config: CONFIG });
  b.add({ type: 'step.started', stepId: 's1', parentId: null, branchId: 'main', depth: 1, rolloutId: 'r1' });
  b.add({ type: 'model.request', requestId: 'q1', stepId: 's1', purpose: 'step', base: null, keep: 0, append: M1, config: HASH, owners: [null, null] });
  b.add({
    type: 'model.response', stepId: 's1', content: '', reasoning: '', toolCalls: [{ id: 'call_1', name: 'run_command', arguments: CALL }],
    usage: null, finishReason: 'tool_calls', durationMs: 900, requestId: 'q1', toolMode: 'tools', origin: 'model',
  });
  b.add({ type: 'action.result', stepId: 's1', toolCallId: 'call_1', name: 'run_command', observation: T1.content as string, isError: false, durationMs: 30 });
  b.add({ type: 'step.finished', stepId: 's1', promptTokens: 100 });
  b.add({ type: 'step.started', stepId: 's2', parentId: 's1', branchId: 'main', depth: 2, rolloutId: 'r1' });
  b.add({ type: 'model.request', requestId: 'q2', stepId: 's2', purpose: 'step', base: 'q1', keep: 2, append: [A1, T1], config: HASH, owners: [owner, 's1'] });
  b.add({
    type: 'model.response', stepId: 's2', content: 'Done.', reasoning: '', toolCalls: [{ id: 'call_2', name: 'finish', arguments: '{}' }],
    usage: null, finishReason: 'tool_calls', durationMs: 700, requestId: 'q2', toolMode: 'tools', origin: 'model',
  });
  b.add({ type: 'action.result', stepId: 's2', toolCallId: 'call_2', name: 'finish', observation: '{"success": true}', isError: false, durationMs: 1 });
  b.add({ type: 'step.finished', stepId: 's2', promptTokens: 120 });
  for (const stepId of ['s1', 's2']) b.add({ type: 'label.set', stepId, label: 'keep', tags: [], note: '', source: 'annotator', author: 'dana' });
  return b.events;
}

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-no-context-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function exported(name: string, events: SessionEvent[]) {
  const outDir = join(root, name);
  const r = await exportBundle({
    home: root, sessions: [{ sessionId: 'S', events, sessionDir: join(root, `${name}-session`) }], outDir,
    formats: ['openai', 'trajectory'], secrets: [], appVersion: 'test', bundleCache: false, castCache: false, castWorker: false,
  });
  const lines = async (f: string) => (await readFile(join(outDir, f), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { manifest: r.manifest, openai: await lines('openai.jsonl'), trajectory: await lines('trajectory.jsonl') };
}

const stepRecord = (lines: Array<Record<string, unknown>>, id: string) => lines.find((l) => l.kind === 'step' && l.stepId === id)!;

describe('a kept step in no example as a model turn', () => {
  it('is said not trained, with why, everywhere', async () => {
    // Owned: s1 is trained in the one example (the control: the test can fail).
    const owned = await exported('owned', session('s1'));
    expect(stepRecord(owned.trajectory, 's1')).toMatchObject({ weight: 1, weightReason: 'annotator' });
    expect((owned.openai[0]!.messages as Array<{ role: string; weight?: number }>).filter((m) => m.role === 'assistant').map((m) => m.weight)).toEqual([1, 1]);
    expect(owned.manifest.counts.maskedBy['no-context']).toBeUndefined();

    const lost = await exported('lost', session(null));
    const assistants = (lost.openai[0]!.messages as Array<{ role: string; weight?: number }>).filter((m) => m.role === 'assistant');
    expect(assistants.map((m) => m.weight)).toEqual([0, 1]);
    expect(stepRecord(lost.trajectory, 's1')).toMatchObject({ weight: 0, weightReason: 'no-context', label: { label: 'keep' } });
    expect(stepRecord(lost.trajectory, 's2')).toMatchObject({ weight: 1 });
    expect(lost.manifest.counts.maskedBy['no-context']).toBe(1);
    expect(lost.manifest.counts.kept).toBe(1);
    expect(lost.manifest.warnings.some((w) => /1 action\(s\) their labels would train are in no example as a model turn \(.*s1/.test(w))).toBe(true);
  });
});
