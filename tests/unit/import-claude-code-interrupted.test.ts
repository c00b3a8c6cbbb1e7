// Claude Code writes "[Request interrupted by user for tool use]" as the person's turn when they
// stop the tool use a reply asked for (and "[Request interrupted by user]" when they stop a reply):
// the context holds it, but nobody wrote it as guidance, and the reply it stopped is not trained.
// The records are as Claude Code writes them (one API response over several assistant records).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportWorkspace } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

const RECORDS: unknown[] = [{"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "user", "uuid": "u1", "parentUuid": null, "timestamp": "2025-10-01T10:00:00.000Z", "message": {"role": "user", "content": "Fix the bug"}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "assistant", "uuid": "a1", "parentUuid": "u1", "timestamp": "2025-10-01T10:01:00.000Z", "message": {"id": "msg_1", "role": "assistant", "model": "claude-sonnet-4", "content": [{"type": "thinking", "thinking": "Let me look", "signature": "x"}], "usage": {"input_tokens": 10, "output_tokens": 1}}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "assistant", "uuid": "a2", "parentUuid": "a1", "timestamp": "2025-10-01T10:01:00.000Z", "message": {"id": "msg_1", "role": "assistant", "model": "claude-sonnet-4", "content": [{"type": "text", "text": "Reading two files."}], "usage": {"input_tokens": 10, "output_tokens": 2}}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "assistant", "uuid": "a3", "parentUuid": "a2", "timestamp": "2025-10-01T10:01:00.000Z", "message": {"id": "msg_1", "role": "assistant", "model": "claude-sonnet-4", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {"file_path": "a"}}], "usage": {"input_tokens": 10, "output_tokens": 30}}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "assistant", "uuid": "a4", "parentUuid": "a3", "timestamp": "2025-10-01T10:01:00.000Z", "message": {"id": "msg_1", "role": "assistant", "model": "claude-sonnet-4", "content": [{"type": "tool_use", "id": "t2", "name": "Read", "input": {"file_path": "b"}}], "stop_reason": "tool_use", "usage": {"input_tokens": 10, "output_tokens": 60}}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "user", "uuid": "r1", "parentUuid": "a4", "timestamp": "2025-10-01T10:02:00.000Z", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "AAA"}]}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "user", "uuid": "r2", "parentUuid": "r1", "timestamp": "2025-10-01T10:02:00.000Z", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "no such file", "is_error": true}]}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "assistant", "uuid": "b1", "parentUuid": "r2", "timestamp": "2025-10-01T10:03:00.000Z", "message": {"id": "msg_2", "role": "assistant", "model": "claude-sonnet-4", "content": [{"type": "tool_use", "id": "t3", "name": "Bash", "input": {"command": "make"}}], "usage": {"input_tokens": 20, "output_tokens": 9}}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "user", "uuid": "r3", "parentUuid": "b1", "timestamp": "2025-10-01T10:04:00.000Z", "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t3", "content": "The user doesn't want to proceed with this tool use.", "is_error": true}]}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "user", "uuid": "i1", "parentUuid": "r3", "timestamp": "2025-10-01T10:04:00.000Z", "message": {"role": "user", "content": [{"type": "text", "text": "[Request interrupted by user for tool use]"}]}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "user", "uuid": "u2", "parentUuid": "i1", "timestamp": "2025-10-01T10:05:00.000Z", "message": {"role": "user", "content": "use ninja instead"}}, {"isSidechain": false, "userType": "external", "cwd": "/w", "sessionId": "s1", "version": "2.0.55", "type": "assistant", "uuid": "c1", "parentUuid": "u2", "timestamp": "2025-10-01T10:06:00.000Z", "message": {"id": "msg_3", "role": "assistant", "model": "claude-sonnet-4", "content": [{"type": "text", "text": "OK, done with ninja."}], "stop_reason": "end_turn", "usage": {"input_tokens": 30, "output_tokens": 9}}}];

describe('Claude Code, a reply the person interrupted', () => {
  it('is not trained, and the marker is not guidance; what the person wrote next is', async () => {
    const f = join(w.root, 'interrupted.jsonl');
    await writeFile(f, RECORDS.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const { sessions } = await w.import(f, { format: 'claude-code' });
    const s = sessions[0]!;
    const steps = s.main.filter((x) => x.response);
    const stopped = steps.find((x) => x.response!.toolCalls.some((c) => c.id === 't3'))!;
    expect(stopped.notTrained).toMatch(/interrupted/);
    const guidance = s.events.flatMap((e) => (e.type === 'guidance.queued' ? [e.text] : []));
    expect(guidance).toEqual(['use ninja instead']);
    expect(steps.filter((x) => x !== stopped).every((x) => !x.notTrained)).toBe(true);
  });
});
