// The export of imported sessions whose contexts the importer derived from a transcript
// (Claude Code, OpenHands: the source does not record what the model was sent, so the
// request is rebuilt from the conversation with no system prompt and an empty tool list).
// The manifest must not call such a context 'recorded' (exactly what the model saw): each
// example says `context: 'derived'`, the counts say how many, and a warning says what is
// missing. The examples themselves stay as imported (training on an imported transcript
// is a legitimate use), and an import whose source records its requests (`exact`) stays
// 'recorded'.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { branchPath, foldTrajectory, requestMessages } from '../../shared/trajectory';
import { exportBundle, type ExportFormat } from '../../electron/core/dataset/bundle';
import { parseBundleManifest } from '../../electron/core/dataset/manifest-schema';
import { ImportWorkspace, haveSamples, origin, sample, type ImportedSession } from '../fixtures/import';
import * as lf from '../fixtures/trainers/llamafactory';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

async function exportOf(events: SessionEvent[], sessionId: string, formats: ExportFormat[] = ['openai', 'sharegpt', 'trajectory']) {
  const dir = join(w.root, `bundle-${Math.random().toString(36).slice(2)}`);
  const r = await exportBundle({ home: w.home, sessions: [{ sessionId, events, sessionDir: '' }], outDir: dir, formats, secrets: [], appVersion: 'test', bundleCache: false });
  const lines = async (f: string) => (formats.includes(f.replace('.jsonl', '') as ExportFormat) ? parseJsonl(await readFile(join(dir, f), 'utf8')) : []);
  const parsed = parseBundleManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
  expect('error' in parsed ? parsed.error : null).toBeNull();
  return { dir, manifest: r.manifest, openai: await lines('openai.jsonl'), sharegpt: await lines('sharegpt.jsonl') };
}

const strip = ({ weight: _w, ...m }: Record<string, unknown>) => m;
const texts = (l: unknown) => oa.trainedTurns(l).trained.map((x) => JSON.stringify([x.text, x.toolCalls]));

describe('a Claude Code session (derived context) exported', () => {
  let s: ImportedSession;
  beforeAll(async () => {
    const f = join(w.root, 'cc.jsonl');
    const base = { sessionId: 's', version: '2.0.0', cwd: '/p', isSidechain: false };
    const lines = [
      { ...base, type: 'user', uuid: 'u1', parentUuid: null, timestamp: '2025-01-01T00:00:00Z', message: { role: 'user', content: 'list files' } },
      { ...base, type: 'assistant', uuid: 'a1', parentUuid: 'u1', timestamp: '2025-01-01T00:00:01Z', message: { id: 'm1', role: 'assistant', model: 'claude-x', content: [{ type: 'tool_use', id: 't1', name: 'Bash', input: { command: 'ls' } }] } },
      { ...base, type: 'user', uuid: 'r1', parentUuid: 'a1', timestamp: '2025-01-01T00:00:02Z', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'a\nb' }] } },
      { ...base, type: 'assistant', uuid: 'a2', parentUuid: 'r1', timestamp: '2025-01-01T00:00:03Z', message: { id: 'm2', role: 'assistant', content: [{ type: 'text', text: 'Two files.' }] } },
    ];
    await writeFile(f, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const { sessions } = await w.import(f, { format: 'claude-code' });
    s = sessions[0]!;
    expect(origin(s).context).toBe('derived');
  });

  it('the manifest says derived for every example and counts them, nothing reconstructed', async () => {
    const e = await exportOf(s.events, s.id);
    expect(e.manifest.trajectories.length).toBeGreaterThan(0);
    expect(e.manifest.trajectories.map((t) => t.context)).toEqual(e.manifest.trajectories.map(() => 'derived'));
    expect(e.manifest.counts.derived).toBe(e.manifest.trajectories.length);
    expect(e.manifest.counts.reconstructed).toBe(0);
  });

  it('a warning names the importer and what the context lacks: the system prompt and the tool schemas', async () => {
    const e = await exportOf(s.events, s.id);
    const w = e.manifest.warnings.filter((x) => /derived from the transcript/.test(x));
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^1 example\(s\) come from imported sessions \(claude-code\)/);
    expect(w[0]).toMatch(/system prompt \(1 of 1\)/);
    expect(w[0]).toMatch(/tool schemas \(1 of 1\)/);
    expect(w[0]).toMatch(/not the request the model saw/);
    // The example really has neither.
    const line = e.openai[0] as { messages: Array<{ role: string }>; tools?: unknown[] };
    expect(line.messages.some((m) => m.role === 'system')).toBe(false);
    expect(line.tools).toBeUndefined();
  });

  it('the examples are the imported contexts as they were, and still trained', async () => {
    const e = await exportOf(s.events, s.id);
    const last = s.main.at(-1)!;
    const ctx = requestMessages(s.t, last.requestId!)!;
    const line = e.openai[0] as { messages: Array<Record<string, unknown>> };
    expect(line.messages.slice(0, -1).map(strip)).toEqual(ctx.map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== null))));
    expect(e.openai.flatMap(texts)).toHaveLength(2);
    const info = JSON.parse(await readFile(join(e.dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
    const trained = lf.trainedTurnsOfFile(e.sharegpt, info, 'apollo', { mask_history: true }).flatMap((r) => r.trained.map((x) => x.text));
    expect(trained).toHaveLength(2);
    expect(trained.at(-1)).toBe('Two files.');
  });

  it('a hand-written action on a branch of it extends the derived context, and is derived too', async () => {
    const first = s.main[0]!;
    let seq = s.events.at(-1)!.seq;
    const ts = s.events.at(-1)!.ts + 1;
    const ev = (body: Record<string, unknown>) => ({ ...body, seq: ++seq, ts }) as unknown as SessionEvent;
    const events = [
      ...s.events,
      ev({ type: 'branch.created', branchId: 'hand', fromStepId: first.id, name: 'hand', author: 'ann', reason: 'branch' }),
      ev({ type: 'rollout.started', rolloutId: 'hand-rollout', branchId: 'hand', task: 'list files', endpoint: null, policy: 'human', maxSteps: 1, parentStepId: first.id }),
      ev({ type: 'step.started', stepId: 'hand-step', parentId: first.id, branchId: 'hand', depth: first.depth + 1, rolloutId: 'hand-rollout' }),
      ev({ type: 'model.response', stepId: 'hand-step', content: 'HAND-REPLY', reasoning: '', toolCalls: [], usage: null, finishReason: null, durationMs: 0, humanAuthored: true, author: 'ann', origin: 'hand' }),
      ev({ type: 'step.finished', stepId: 'hand-step', promptTokens: 0 }),
    ];
    expect(branchPath(foldTrajectory(events), 'hand').map((x) => x.id)).toEqual([first.id, 'hand-step']);
    const e = await exportOf(events, s.id, ['openai']);
    const hand = e.manifest.trajectories.find((t) => t.trainedSteps.includes('hand-step'))!;
    expect(hand).toBeDefined();
    expect(hand.context).toBe('derived');
    expect(e.manifest.trajectories.every((t) => t.context === 'derived')).toBe(true);
    expect(e.manifest.counts.derived).toBe(e.manifest.trajectories.length);
  });
});

describe('an import whose source records what the model was sent (exact) stays recorded', () => {
  it('openai-chat: context recorded, no derived count or warning', async () => {
    const f = join(w.root, 'chat.jsonl');
    const line = { messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'do it' }, { role: 'assistant', content: 'done', weight: 1 }] };
    await writeFile(f, `${JSON.stringify(line)}\n`);
    const { sessions } = await w.import(f, { format: 'openai-chat' });
    const s = sessions[0]!;
    expect(origin(s).context).toBe('exact');
    const e = await exportOf(s.events, s.id, ['openai']);
    expect(e.manifest.trajectories.map((t) => t.context)).toEqual(['recorded']);
    expect(e.manifest.counts.derived).toBe(0);
    expect(e.manifest.warnings.some((x) => /derived/.test(x))).toBe(false);
    expect(e.openai).toEqual([{ messages: line.messages }]);
  });
});

describe.skipIf(!haveSamples)('an OpenHands session (derived context, real sample) exported', () => {
  it('every example says derived, and the warning names openhands', async () => {
    const { sessions } = await w.import(sample('openhands/basic_gui_mode.json'));
    const s = sessions[0]!;
    expect(origin(s).context).toBe('derived');
    const e = await exportOf(s.events, s.id, ['openai']);
    expect(e.manifest.trajectories.length).toBeGreaterThan(0);
    expect(e.manifest.trajectories.every((t) => t.context === 'derived')).toBe(true);
    expect(e.manifest.counts.derived).toBe(e.manifest.trajectories.length);
    expect(e.manifest.warnings.some((x) => /imported sessions \(openhands\)/.test(x) && /system prompt/.test(x))).toBe(true);
  });
});
