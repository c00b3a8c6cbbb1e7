// import.* over the contract: a file uploaded in chunks (or a file or folder named by
// its path on this machine), imported with progress pushed to the client, duplicates
// reported with the sessions they duplicate, and a cancel that leaves nothing behind.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ImportPushEvents } from '../../shared/contract/import';
import { ApolloCore } from '../../electron/core/app';
import { haveSamples, sample } from '../fixtures/import';
import { openClient } from '../fixtures/core-client';

type Progress = ImportPushEvents['import.progress'];
let root: string;
let core: ApolloCore;
let call: (cmd: string, args: unknown) => Promise<never>;
let progress: Progress[];
let closeLink: () => void;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-import-host-'));
  core = await ApolloCore.open({ home: join(root, 'home'), resourcesDir: resolve(__dirname, '../../resources'), host: 'web' });
  progress = [];
  const client = openClient(core, (m) => {
    if (m.kind === 'evt' && m.name === 'import.progress') progress.push(m.payload as Progress);
  });
  closeLink = client.link.close;
  call = client.call as unknown as typeof call;
});
afterEach(async () => {
  await core.close();
  await rm(root, { recursive: true, force: true });
});

async function until(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !pred(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(pred()).toBe(true);
}

async function upload(file: string, name: string, opts: { allowDuplicate?: boolean } = {}): Promise<string> {
  const buf = await readFile(file);
  const { importId } = await call('import.begin', { name, size: buf.length, ...opts }) as { importId: string };
  // Small chunks, sent without waiting for each other: the host keeps them in order.
  const sends: Promise<unknown>[] = [];
  for (let off = 0; off < buf.length; off += 64 * 1024) sends.push(call('import.chunk', { importId, offset: off, data: buf.subarray(off, off + 64 * 1024).toString('base64') }));
  await Promise.all(sends);
  await call('import.finish', { importId });
  return importId;
}

describe.skipIf(!haveSamples)('import over the contract', () => {
  it('uploads, imports, pushes progress and the new sessions', async () => {
    const id = await upload(sample('sft/openai-chat-tools_swe-gym-openhands.jsonl'), 'train.jsonl');
    await until(() => progress.some((p) => p.importId === id && p.stage === 'done'));
    const done = progress.find((p) => p.stage === 'done')!;
    expect(done).toMatchObject({ file: 'train.jsonl', format: 'openai-chat', sessions: 5 });
    expect(progress.some((p) => p.stage === 'uploading')).toBe(true);
    const listed = (await call('sessions.list', {})) as Array<{ id: string }>;
    for (const sid of done.sessionIds!) expect(listed.map((s) => s.id)).toContain(sid);
    // The upload itself is gone.
    expect((await readdir(join(root, 'home', '.import-staging'))).filter((d) => d.includes('upload'))).toEqual([]);

    const again = await upload(sample('sft/openai-chat-tools_swe-gym-openhands.jsonl'), 'train.jsonl');
    await until(() => progress.some((p) => p.importId === again && p.stage === 'failed'));
    const failed = progress.find((p) => p.importId === again && p.stage === 'failed')!;
    expect(failed.error?.code).toBe('CONFLICT');
    expect(failed.duplicateOf?.sort()).toEqual([...done.sessionIds!].sort());
  });

  it('a cancelled upload leaves nothing', async () => {
    const { importId } = await call('import.begin', { name: 'x.cast', size: 1000 }) as { importId: string };
    await call('import.chunk', { importId, offset: 0, data: Buffer.from('{"version": 2').toString('base64') });
    await call('import.cancel', { importId });
    expect(progress.at(-1)).toMatchObject({ importId, stage: 'cancelled' });
    expect(await readdir(join(root, 'home', '.import-staging'))).toEqual([]);
    await expect(call('import.chunk', { importId, offset: 13, data: '' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('refuses names with folders, bytes out of order and an early finish', async () => {
    await expect(call('import.begin', { name: '../evil.json', size: 1 })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    const { importId } = await call('import.begin', { name: 'a.json', size: 10 }) as { importId: string };
    await expect(call('import.chunk', { importId, offset: 5, data: 'AAAA' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    await expect(call('import.finish', { importId })).rejects.toMatchObject({ message: expect.stringMatching(/0 of 10 bytes/) });
  });
});

/** The open files of this process that are `path` (Linux: /proc/self/fd). */
async function openFilesAt(path: string): Promise<string[]> {
  const fds = await readdir('/proc/self/fd');
  const targets = await Promise.all(fds.map((fd) => readlink(join('/proc/self/fd', fd)).catch(() => '')));
  return targets.filter((t) => t === path);
}

describe('an upload nobody can finish', () => {
  const staging = () => join(root, 'home', '.import-staging');
  const begin = async (name: string) => {
    const { importId } = await call('import.begin', { name, size: 10 }) as { importId: string };
    await call('import.chunk', { importId, offset: 0, data: Buffer.from('{"a"').toString('base64') });
    const [dir] = await readdir(staging());
    return join(staging(), dir!, name);
  };

  it('is dropped when its client goes away: its file closed and removed', async () => {
    const path = await begin('a.json');
    expect(await openFilesAt(path)).toHaveLength(1);
    closeLink();
    await until(() => !existsSync(path));
    expect(await openFilesAt(path)).toEqual([]);
    expect(await readdir(staging())).toEqual([]);
  });

  it('is dropped when the core closes', async () => {
    const path = await begin('b.json');
    await core.close();
    expect(await openFilesAt(path)).toEqual([]);
    expect(await readdir(staging())).toEqual([]);
  });
});

/** A small OpenHands session folder (events/<n>.json), made here: the shared samples have no folder. */
async function openHandsFolder(dir: string): Promise<string> {
  await mkdir(join(dir, 'events'), { recursive: true });
  const events = [
    { id: 0, source: 'user', action: 'message', args: { content: 'List the files.' } },
    { id: 1, source: 'agent', action: 'run', args: { command: 'ls', thought: 'Look first.' }, tool_call_metadata: { tool_call_id: 'call_1', function_name: 'execute_bash' } },
    { id: 2, source: 'agent', observation: 'run', cause: 1, content: 'a.txt\n', extras: { metadata: { exit_code: 0 } } },
  ];
  for (const e of events) await writeFile(join(dir, 'events', `${e.id}.json`), JSON.stringify(e));
  return dir;
}

describe('import of a file or folder by its path on this machine', () => {
  it('announces a folder, imports it on finish with progress, and leaves the folder alone', async () => {
    const dir = await openHandsFolder(join(root, 'oh-session'));
    const announced = (await call('import.path', { path: dir })) as { importId: string; name: string; isDir: boolean };
    expect(announced).toMatchObject({ name: 'oh-session', isDir: true });
    // Nothing is read before finish: the client knows the id before any progress can arrive.
    expect(progress.filter((p) => p.importId === announced.importId)).toEqual([]);
    await call('import.finish', { importId: announced.importId });
    await until(() => progress.some((p) => p.importId === announced.importId && (p.stage === 'done' || p.stage === 'failed')));
    const done = progress.find((p) => p.importId === announced.importId && p.stage === 'done');
    expect(done).toMatchObject({ file: 'oh-session', format: 'openhands', sessions: 1 });
    const opened = (await call('sessions.open', { sessionId: done!.sessionIds![0] })) as { events: Array<{ type: string; format?: string; file?: string }> };
    expect(opened.events.find((e) => e.type === 'import.origin')).toMatchObject({ format: 'openhands', file: 'oh-session' });
    // The person's folder is read, never moved or removed.
    expect(await readdir(join(dir, 'events'))).toHaveLength(3);
  });

  it('refuses a relative or missing path, and a cancel before finish imports nothing and keeps the folder', async () => {
    await expect(call('import.path', { path: 'runs/nodes' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/full path/) });
    await expect(call('import.path', { path: join(root, 'nope') })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const dir = await openHandsFolder(join(root, 'kept'));
    const before = ((await call('sessions.list', {})) as unknown[]).length;
    const { importId } = (await call('import.path', { path: dir })) as { importId: string };
    await call('import.cancel', { importId });
    expect(progress.at(-1)).toMatchObject({ importId, stage: 'cancelled' });
    await expect(call('import.finish', { importId })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(((await call('sessions.list', {})) as unknown[]).length).toBe(before);
    expect(existsSync(join(dir, 'events', '2.json'))).toBe(true);
  });

  it('has no folder dialog in browser mode; a host that has one returns the chosen folder', async () => {
    await expect(call('import.chooseFolder', {})).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringMatching(/type the path/) });
    const other = await ApolloCore.open({ home: join(root, 'home2'), resourcesDir: resolve(__dirname, '../../resources'), host: 'electron', samples: false, chooseFolder: async () => '/data/run' });
    try {
      const replies: Array<{ kind: string; ok?: boolean; result?: unknown }> = [];
      const link = other.connect((m) => replies.push(m as never));
      await link.receive({ kind: 'req', id: 1, cmd: 'import.chooseFolder', args: {} });
      expect(replies.find((m) => m.kind === 'res')).toMatchObject({ ok: true, result: { path: '/data/run' } });
      link.close();
    } finally {
      await other.close();
    }
  });
});

describe.skipIf(!haveSamples)('an imported session in the annotator', () => {
  it('records a hand-written branch offline, refuses a rewind for want of an environment, and takes comments, labels and context views', async () => {
    const id = await upload(sample('swe-agent/v1x_gpt4o_sweagenttestrepo-1c2844.traj'), 'run.traj');
    await until(() => progress.some((p) => p.importId === id && p.stage === 'done'));
    const sessionId = progress.find((p) => p.stage === 'done')!.sessionIds![0]!;
    const opened = (await call('sessions.open', { sessionId })) as { events: Array<{ type: string; stepId?: string }> };
    const steps = opened.events.filter((e) => e.type === 'step.started').map((e) => e.stepId!);
    const plan = (await call('branch.handActionPlan', { sessionId, fromStepId: steps[1]! })) as { mode: string; reason?: string };
    expect(plan.mode).not.toBe('checkpoint');
    expect(JSON.stringify(plan)).toMatch(/environment it ran in was not recorded/);
    // Knowingly in the current state: there is none (the working directory is a stand-in file), so it waits offline.
    const b = (await call('branch.create', { sessionId, fromStepId: steps[1]!, action: { name: 'run_command', arguments: { session_id: 'main', command: 'ls' } }, runInCurrentState: true })) as { stepId: string };
    const after = (await call('sessions.open', { sessionId })) as { events: Array<{ type: string; stepId?: string; state?: string }> };
    expect(after.events.some((e) => e.type === 'action.result' && e.stepId === b.stepId)).toBe(false);
    expect(after.events.filter((e) => e.type === 'terminal.started')).toEqual([]);
    await expect(call('branch.rewind', { sessionId, toStepId: steps[1]! })).rejects.toMatchObject({ message: expect.stringMatching(/no checkpoint/) });
    await call('comment.add', { sessionId, stepId: steps[0]!, text: 'good first move' });
    await call('labels.set', { sessionId, stepIds: [steps[2]!], label: 'mask', tags: ['redundant'], note: '' });
    const view = (await call('steps.request', { sessionId, stepId: steps[2]! })) as { source: string; messages?: unknown[] } | null;
    expect(view?.source).toBe('recorded');
  });
});

