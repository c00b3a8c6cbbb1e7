// What Claude Code sent its model that the transcript holds otherwise or not at all: an image
// (carried as "[image]"), a message the person queued mid-turn or a hook's context (attachment
// records, turned into reminders before each call), a tool result replaced before sending
// (content-replacement records), older tool results cleared after an hour idle (2.1's
// time-based microcompact). The steps after them are not trained, or get what was sent.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestMessages } from '../../shared/trajectory';
import { ImportWorkspace } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

const base = (version: string) => ({ isSidechain: false, userType: 'external', cwd: '/w', sessionId: 's1', version });
let minute = 0;
const ts = (addMinutes = 1) => new Date(Date.UTC(2025, 9, 1, 10, (minute += addMinutes))).toISOString();
/** A chain: the task, then per item a tool call and its result. */
function chain(version: string, results: unknown[], between: (k: number, parent: string) => Array<Record<string, unknown>> = () => [], gapAfter = -1): unknown[] {
  minute = 0;
  const recs: Array<Record<string, unknown>> = [{ ...base(version), type: 'user', uuid: 'u0', parentUuid: null, timestamp: ts(), message: { role: 'user', content: 'Look at it' } }];
  let parent = 'u0';
  results.forEach((content, k) => {
    recs.push({ ...base(version), type: 'assistant', uuid: `a${k}`, parentUuid: parent, timestamp: ts(), message: { id: `msg_${k}`, role: 'assistant', model: 'claude-sonnet-4', content: [{ type: 'tool_use', id: `t${k}`, name: 'Read', input: { file_path: `f${k}` } }], stop_reason: 'tool_use', usage: { input_tokens: 10, output_tokens: 5 } } });
    recs.push({ ...base(version), type: 'user', uuid: `r${k}`, parentUuid: `a${k}`, timestamp: ts(k === gapAfter ? 90 : 1), message: { role: 'user', content: [{ type: 'tool_result', tool_use_id: `t${k}`, content }] } });
    parent = `r${k}`;
    for (const x of between(k, parent)) {
      recs.push({ ...base(version), timestamp: ts(), ...x });
      if (typeof x.uuid === 'string') parent = x.uuid;
    }
  });
  recs.push({ ...base(version), type: 'assistant', uuid: 'end', parentUuid: parent, timestamp: ts(), message: { id: 'msg_end', role: 'assistant', model: 'claude-sonnet-4', content: [{ type: 'text', text: 'Done.' }], stop_reason: 'end_turn', usage: { input_tokens: 10, output_tokens: 5 } } });
  return recs;
}

async function imported(name: string, recs: unknown[]) {
  const f = join(w.root, name);
  await writeFile(f, recs.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const { sessions } = await w.import(f, { format: 'claude-code' });
  const s = sessions[0]!;
  return { s, untrained: s.main.filter((x) => x.response).map((x) => x.notTrained ?? null) };
}

describe('Claude Code, what the transcript does not hold as it was sent', () => {
  it('an image a tool returned: the steps whose context holds it are not trained', async () => {
    const { untrained } = await imported('image.jsonl', chain('2.0.55', ['text', [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBOR' } }], 'more']));
    expect(untrained.map((x) => !!x)).toEqual([false, false, true, true]);
    expect(untrained[2]).toMatch(/image or a document/);
  });

  it("the model's earlier thinking, kept by the API within a tool loop: the steps after it in the loop are not trained", async () => {
    const recs = chain('2.0.55', ['x', 'y', 'z']) as Array<{ uuid?: string; parentUuid?: string | null; message?: { content: unknown[] } }>;
    // The second reply thinks first; then the person says something, and the loop after it starts afresh.
    recs.find((r) => r.uuid === 'a1')!.message!.content.unshift({ type: 'thinking', thinking: 'The config is in f1.', signature: 'sig' });
    const person = { ...base('2.0.55'), type: 'user', uuid: 'p1', parentUuid: 'r2', timestamp: ts(), message: { role: 'user', content: 'Now summarize.' } };
    const after = { ...base('2.0.55'), type: 'assistant', uuid: 'a9', parentUuid: 'p1', timestamp: ts(), message: { id: 'msg_9', role: 'assistant', model: 'claude-sonnet-4', content: [{ type: 'text', text: 'Summary.' }], stop_reason: 'end_turn', usage: { input_tokens: 10, output_tokens: 5 } } };
    const end = recs.findIndex((r) => r.uuid === 'end');
    recs.splice(end, 1, person as never, after as never);
    const { untrained } = await imported('thinking.jsonl', recs);
    // a0, a1 (its own thinking is its reply's), a2 (after a1's thinking, in the loop), a9 (after the person: dropped).
    expect(untrained.map((x) => !!x)).toEqual([false, false, true, false]);
    expect(untrained[2]).toMatch(/earlier thinking/);
    // Claude Opus 4.5 keeps earlier thinking across turns too.
    for (const r of recs as Array<{ type?: string; message?: { model?: string } }>) if (r.type === 'assistant') r.message!.model = 'claude-opus-4-5-20251101';
    const opus = await imported('thinking-opus.jsonl', recs);
    expect(opus.untrained.map((x) => !!x)).toEqual([false, false, true, true]);
  });

  it('a message the person queued mid-turn (an attachment record): the steps after it are not trained', async () => {
    const queued = (k: number, parent: string) => (k === 0 ? [{ type: 'attachment', uuid: 'q1', parentUuid: parent, attachment: { type: 'queued_command', prompt: 'use ninja' } }] : []);
    const { untrained } = await imported('queued.jsonl', chain('2.0.55', ['x', 'y'], queued));
    expect(untrained.map((x) => !!x)).toEqual([false, true, true]);
    expect(untrained[1]).toMatch(/queued command/);
  });

  it('a tool result Claude Code replaced before sending: later requests carry the replacement', async () => {
    const recs = chain('2.0.55', ['FULL OUTPUT '.repeat(10), 'small']);
    recs.push({ ...base('2.0.55'), type: 'content-replacement', toolUseId: 't0', replacement: '<persisted-output>preview</persisted-output>' });
    const { s, untrained } = await imported('replaced.jsonl', recs);
    expect(untrained.every((x) => x === null)).toBe(true);
    const last = s.main.filter((x) => x.response).at(-1)!;
    const req = requestMessages(s.t, last.requestId!)!;
    expect(req.find((m) => m.role === 'tool' && m.tool_call_id === 't0')?.content).toBe('<persisted-output>preview</persisted-output>');
  });

  it('an hour idle before a request in 2.1 (older tool results cleared): the steps after it are not trained; in 2.0 they are', async () => {
    const late = await imported('idle-21.jsonl', chain('2.1.3', ['a', 'b'], undefined, 0));
    expect(late.untrained.map((x) => !!x)).toEqual([false, true, true]);
    expect(late.untrained[1]).toMatch(/an hour/);
    const older = await imported('idle-20.jsonl', chain('2.0.55', ['a', 'b'], undefined, 0));
    expect(older.untrained.every((x) => x === null)).toBe(true);
  });

  it('text beside tool results in one user record (a reminder Claude Code appended) follows them in later requests', async () => {
    const recs = chain('2.0.55', ['out0', 'out1']) as Array<{ uuid?: string; message?: { content: unknown[] } }>;
    const r0 = recs.find((r) => r.uuid === 'r0')!;
    r0.message!.content.push({ type: 'text', text: '<system-reminder>The todo list is empty.</system-reminder>' });
    const { s } = await imported('beside.jsonl', recs);
    const req = requestMessages(s.t, s.main.filter((x) => x.response).at(-1)!.requestId!)!;
    const at = req.findIndex((m) => m.role === 'tool' && m.tool_call_id === 't0');
    expect(req[at + 1]).toEqual({ role: 'user', content: '<system-reminder>The todo list is empty.</system-reminder>' });
  });
});
