// A real Claude Code session: assistant messages split over records become one step
// each, tool_use/tool_result pairs its calls and results, the person's shell command a
// terminal step, unmapped records kept verbatim and counted.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestMessages } from '../../shared/trajectory';
import { ImportWorkspace, haveSamples, origin, sample } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

type Rec = { type: string; uuid: string; parentUuid: string | null; isSidechain?: boolean; message?: { id?: string; content: unknown } };
type Block = { type: string; id?: string; name?: string; input?: unknown; tool_use_id?: string; content?: unknown; text?: string };

describe.skipIf(!haveSamples)('Claude Code session (real sample)', () => {
  const file = sample('claude-code/cc-1.0.56_claude-code-log-sample_12a546d1.jsonl');

  it('maps messages, tool calls, results and the person\'s shell command', async () => {
    const recs = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Rec);
    const { result, sessions } = await w.import(file);
    expect(result.format).toBe('claude-code');
    const [s] = sessions;
    expect(origin(s!)).toMatchObject({ toolVersion: 'Claude Code 1.0.56', context: 'derived', sourceCwd: '/Users/dain/workspace/claude-code-log', unknown: { system: 4 } });
    const assistants = recs.filter((r) => r.type === 'assistant' && !r.isSidechain);
    const ids = new Set(assistants.map((r) => r.message!.id));
    const shells = recs.filter((r) => r.type === 'user' && typeof r.message?.content === 'string' && /^<bash-input>/.test(r.message.content));
    expect(s!.t.steps.size).toBe(ids.size + shells.length);
    const steps = [...s!.t.steps.values()];
    // Every tool_use is a call of one step, with its tool_result as the result.
    const uses = assistants.flatMap((r) => (r.message!.content as Block[]).filter((b) => b.type === 'tool_use'));
    const results = recs.flatMap((r) => (r.type === 'user' && Array.isArray(r.message?.content) ? (r.message!.content as Block[]).filter((b) => b.type === 'tool_result') : []));
    const calls = steps.flatMap((st) => st.response!.toolCalls);
    expect(calls.filter((c) => !c.id.startsWith('shell_')).map((c) => [c.id, c.name, JSON.parse(c.arguments)])).toEqual(uses.map((u) => [u.id, u.name, u.input]));
    for (const r of results) {
      const st = steps.find((x) => x.response!.toolCalls.some((c) => c.id === r.tool_use_id))!;
      const got = st.results.find((x) => x.toolCallId === r.tool_use_id)!;
      const text = typeof r.content === 'string' ? r.content : (r.content as Block[]).map((b) => b.text ?? '').join('');
      expect(got.observation).toBe(text);
    }
    // A message split over records is one step: its text and its calls together.
    const split = [...ids].find((id) => assistants.filter((r) => r.message!.id === id).length > 1)!;
    const parts = assistants.filter((r) => r.message!.id === split).flatMap((r) => r.message!.content as Block[]);
    const st = steps.find((x) => x.response!.toolCalls.some((c) => parts.some((p) => p.id === c.id)))!;
    expect(st.response!.content).toBe(parts.filter((p) => p.type === 'text').map((p) => p.text).join(''));
    // The person's shell command, with its output.
    const shell = steps.find((x) => x.response!.origin === 'terminal')!;
    expect(JSON.parse(shell.response!.toolCalls[0]!.arguments)).toEqual({ command: 'uv run pytest -m browser -v' });
    expect(shell.results[0]!.observation).toMatch(/test session starts/);
    expect([...s!.t.rollouts.values()][0]!.task).toMatch(/^We've just done a big refactoring/);
    // The last step's context is the conversation before it, ending on tool results.
    const last = steps.at(-1)!;
    const req = requestMessages(s!.t, last.requestId!)!;
    expect(req.filter((m) => m.role === 'assistant').length).toBeGreaterThan(10);
    expect(req.some((m) => m.role === 'system')).toBe(false);
    const kept = (await readFile(join(w.home, 'sessions', s!.id, 'import', 'unknown.jsonl'), 'utf8')).trim().split('\n');
    expect(kept).toHaveLength(4);
    const out = await w.export([s!.id], ['openai']);
    expect(out.openai.length).toBeGreaterThan(0);
  });
});

describe('Claude Code edge cases', () => {
  it('a prompt edited and answered twice is a branch', async () => {
    const f = join(w.root, 'branch.jsonl');
    const base = { sessionId: 's', version: '2.0.0', cwd: '/p', isSidechain: false };
    const lines = [
      { ...base, type: 'user', uuid: 'u1', parentUuid: null, timestamp: '2025-01-01T00:00:00Z', message: { role: 'user', content: 'list files' } },
      { ...base, type: 'assistant', uuid: 'a1', parentUuid: 'u1', timestamp: '2025-01-01T00:00:01Z', message: { id: 'm1', role: 'assistant', model: 'claude-x', content: [{ type: 'tool_use', id: 't1', name: 'Bash', input: { command: 'ls' } }] } },
      { ...base, type: 'user', uuid: 'r1', parentUuid: 'a1', timestamp: '2025-01-01T00:00:02Z', message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'a\nb' }] } },
      { ...base, type: 'assistant', uuid: 'a2', parentUuid: 'r1', timestamp: '2025-01-01T00:00:03Z', message: { id: 'm2', role: 'assistant', content: [{ type: 'text', text: 'Two files.' }] } },
      { ...base, type: 'assistant', uuid: 'a3', parentUuid: 'r1', timestamp: '2025-01-01T00:00:04Z', message: { id: 'm3', role: 'assistant', content: [{ type: 'text', text: 'a and b.' }] } },
      { type: 'file-history-snapshot', messageId: 'x', snapshot: {} },
    ];
    await writeFile(f, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const { sessions } = await w.import(f, { format: 'claude-code' });
    const [s] = sessions;
    expect(s!.t.steps.size).toBe(3);
    expect(s!.t.branches.size).toBe(2);
    expect(s!.main.map((x) => x.response!.content)).toEqual(['', 'Two files.']);
    const other = [...s!.t.steps.values()].find((x) => x.branchId !== 'main')!;
    expect(other.response!.content).toBe('a and b.');
    expect(other.parentId).toBe(s!.main[0]!.id);
    expect(origin(s!).unknown).toEqual({ 'file-history-snapshot': 1 });
  });
});
