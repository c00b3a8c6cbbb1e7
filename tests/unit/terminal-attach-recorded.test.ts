// Replaying a recorded terminal of a session opened from its kept view (a review): the
// replay is the recording's bytes, read without loading the session's log; once the log
// is loaded (something records), the same bytes come through the recording it opened.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { ApolloCore } from '../../electron/core/app';
import { writeOpenView } from '../../electron/core/open-view';
import { openClient } from '../fixtures/core-client';
import { realisticSession, writeRecording } from '../fixtures/sessions';

const ID = 'recorded-review';
let home: string;
let dir: string;
let stepId: string | undefined;

const openCore = () => ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web', samples: false });

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-attach-recorded-'));
  dir = join(home, 'sessions', ID);
  await mkdir(dir, { recursive: true });
  const { events, s } = realisticSession();
  stepId = s.plan;
  await writeFile(join(dir, 'events.jsonl'), events.map((e) => `${JSON.stringify(e)}\n`).join(''));
  const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
  // Multi-byte characters, so a range may start or end inside one.
  await writeRecording(dir, 'main', Array.from({ length: 300 }, (_, i) => ({ ts: t0 + i, data: `$ echo ${i} ███ é\r\n${i}\r\n` })));
  // Close once with the log loaded, so the next open answers from the view kept beside it.
  const core = await openCore();
  try {
    await writeOpenView(await core.session(ID));
  } finally {
    await core.close();
  }
});
afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

it('replays the recording without loading the log, and gives the same bytes once it is loaded', async () => {
  const bytes = await readFile(join(dir, 'terminals', 'main.out'));
  const core = await openCore();
  try {
    const { call } = openClient(core);
    await call('sessions.open', { sessionId: ID, paged: true });
    expect(core.ws.isLoaded(ID)).toBe(false);
    const whole = await call('terminal.attach', { sessionId: ID, terminalId: 'main', maxBytes: bytes.length });
    const tail = await call('terminal.attach', { sessionId: ID, terminalId: 'main', maxBytes: 1001 });
    const range = await call('terminal.read', { sessionId: ID, terminalId: 'main', start: 17, end: 2049 });
    expect(core.ws.isLoaded(ID)).toBe(false);
    expect(whole).toMatchObject({ start: 0, end: bytes.length, data: bytes.toString('utf8'), truncated: false });
    expect(tail.end).toBe(bytes.length);
    expect(tail.data).toBe(bytes.subarray(tail.start, tail.end).toString('utf8'));
    expect(range.data).toBe(bytes.subarray(range.start, range.end).toString('utf8'));
    await expect(call('terminal.attach', { sessionId: ID, terminalId: 'nope' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(call('terminal.attach', { sessionId: 'no-such-session', terminalId: 'main' })).rejects.toMatchObject({ code: 'NOT_FOUND' });

    // Something records (a comment): the log is loaded, and the replay comes through its recording.
    await call('comment.add', { sessionId: ID, stepId: stepId!, text: 'loaded now' });
    expect(core.ws.isLoaded(ID)).toBe(true);
    expect(await call('terminal.attach', { sessionId: ID, terminalId: 'main', maxBytes: 1001 })).toEqual(tail);
    expect(await call('terminal.read', { sessionId: ID, terminalId: 'main', start: 17, end: 2049 })).toEqual(range);
  } finally {
    await core.close();
  }
});
