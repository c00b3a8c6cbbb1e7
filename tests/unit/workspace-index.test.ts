// The workspace index: read-only opens write nothing (a listing beside a running
// writer must not undo what it saved), a lost index is rebuilt with its settings and
// says what it could not recover, and no session folder becomes a ghost from 1970.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApolloCore } from '../../electron/core/app';
import { Workspace } from '../../electron/core/store/workspace';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-ws-index-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SAMPLES = resolve('resources/samples');

describe('read-only opens', () => {
  it('refuse a workspace that does not exist, creating nothing', async () => {
    const home = join(dir, 'no', 'such', 'dir');
    await expect(Workspace.open(home, { readOnly: true })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('There is no workspace at') });
    await expect(stat(join(dir, 'no'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('never write the index, so a writer’s settings saved meanwhile stay', async () => {
    const home = join(dir, 'ws');
    const writer = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web' });
    try {
      await writer.ws.create({ name: 'one', cwd: dir });
      const reader = await Workspace.open(home, { readOnly: true });
      expect(reader.list().map((e) => e.name)).toContain('one');
      // The writer saves a setting (an acknowledged settings.set) while the reader is open.
      await writer.ws.setSettings({ annotator: 'bob' });
      const before = await readFile(join(home, 'workspace.json'), 'utf8');
      await reader.close();
      expect(await readFile(join(home, 'workspace.json'), 'utf8')).toBe(before);
      expect(JSON.parse(before).settings.annotator).toBe('bob');
      await expect(reader.setSetting('x', 1)).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    } finally {
      await writer.close();
    }
  });

  it('list the sample session of a fresh workspace without copying it', async () => {
    const home = join(dir, 'fresh');
    await mkdir(home);
    const ws = await Workspace.open(home, { readOnly: true, samplesDir: SAMPLES });
    expect(ws.list().map((e) => e.id)).toEqual(['sample-sales-report']);
    expect(ws.list()[0]!.createdAt).toBeGreaterThan(Date.UTC(2020, 0, 1));
    await ws.close();
    expect(await readdir(home)).toEqual([]);
  });

  it('show what a writer would repair, in memory only', async () => {
    const home = join(dir, 'ws');
    let ws = await Workspace.open(home);
    const s = await ws.create({ name: 'kept', cwd: dir });
    await ws.close();
    await writeFile(join(home, 'workspace.json'), '{ torn');
    ws = await Workspace.open(home, { readOnly: true });
    expect(ws.list().map((e) => e.id)).toEqual([s.id]);
    expect(ws.warnings.join()).toMatch(/unreadable.*next command that writes repairs it/);
    await ws.close();
    expect(await readFile(join(home, 'workspace.json'), 'utf8')).toBe('{ torn');
  });
});

describe('rebuilding a lost index', () => {
  it('keeps the endpoint profiles and the annotator (from the backup copy) and says so', async () => {
    const home = join(dir, 'ws');
    const core = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web', samples: false });
    await core.ws.create({ name: 'one', cwd: dir });
    await core.ws.setSettings({ annotator: 'bob' });
    await core.profiles.save({ name: 'local', baseUrl: 'http://127.0.0.1:8000/v1', model: 'qwen' });
    await core.close();

    await rm(join(home, 'workspace.json'));
    const ws = await Workspace.open(home);
    expect(ws.getSetting('annotator')).toBe('bob');
    expect(ws.getSetting<{ name: string }[]>('profiles')?.map((p) => p.name)).toEqual(['local']);
    expect(ws.list().map((e) => e.name)).toEqual(['one']);
    expect(ws.warnings.join('\n')).toMatch(/missing; it was rebuilt.*settings restored from workspace\.json\.bak \(1 endpoint profile, annotator bob\)/);
    await ws.close();
    // Written back: the next open is clean.
    const again = await Workspace.open(home);
    expect(again.warnings).toEqual([]);
    expect(again.getSetting('annotator')).toBe('bob');
    await again.close();
  });

  it('says what it could not recover when there is no backup', async () => {
    const home = join(dir, 'ws');
    const ws = await Workspace.open(home);
    await ws.create({ name: 'one', cwd: dir });
    await ws.setSettings({ annotator: 'bob' });
    await ws.close();
    await rm(join(home, 'workspace.json'));
    await rm(join(home, 'workspace.json.bak'));
    const rebuilt = await Workspace.open(home);
    expect(rebuilt.warnings.join('\n')).toMatch(/not recovered: the settings it held, if any \(endpoint profiles, annotator name, checkpoint limits\)/);
    await rebuilt.close();
  });

  it('leaves out a folder with an empty log and dates a nameless log from its oldest event, never 1970', async () => {
    const home = join(dir, 'ws');
    const ws = await Workspace.open(home);
    await ws.close();
    await mkdir(join(home, 'sessions', 'ghost'));
    await writeFile(join(home, 'sessions', 'ghost', 'events.jsonl'), '');
    await mkdir(join(home, 'sessions', 'headless'));
    await writeFile(join(home, 'sessions', 'headless', 'events.jsonl'), 'garbage\n{"seq":2,"ts":1700000000000,"type":"warning","message":"w"}\n');
    await rm(join(home, 'workspace.json'));
    const rebuilt = await Workspace.open(home);
    expect(rebuilt.list().map((e) => [e.id, e.createdAt])).toEqual([['headless', 1700000000000]]);
    expect(rebuilt.warnings.join('\n')).toMatch(/listed by id: headless/);
    expect(rebuilt.warnings.join('\n')).toMatch(/empty log were left out: ghost/);
    await rebuilt.close();
  });
});

describe('step counts in the index (issue 13: the sidebar shows them for sessions not opened)', () => {
  const step = (n: number) => ({ type: 'step.started' as const, stepId: `s${n}`, parentId: n > 1 ? `s${n - 1}` : null, branchId: 'main', depth: n, rolloutId: 'r1' });

  it('counts steps as they are appended, keeps them across opens, and rebuilds them from the log', async () => {
    const home = join(dir, 'ws');
    let ws = await Workspace.open(home);
    const s = await ws.create({ name: 'counted', cwd: dir });
    expect(ws.list()[0]).toMatchObject({ steps: 0 });
    await s.append(step(1));
    const second = await s.append(step(2));
    await s.append({ type: 'warning', message: 'not a step' });
    expect(ws.list()[0]).toMatchObject({ steps: 2, lastStepAt: second.ts });
    await ws.close();

    ws = await Workspace.open(home);
    expect(ws.list()[0]).toMatchObject({ steps: 2, lastStepAt: second.ts });
    await ws.close();

    await rm(join(home, 'workspace.json'));
    ws = await Workspace.open(home);
    expect(ws.list()[0]).toMatchObject({ name: 'counted', steps: 2, lastStepAt: second.ts });
    await ws.close();
  });

  it('reads the count of an older index entry (no steps field) from its log once', async () => {
    const home = join(dir, 'ws');
    let ws = await Workspace.open(home);
    const s = await ws.create({ name: 'old index', cwd: dir });
    const first = await s.append(step(1));
    await ws.close();
    const file = join(home, 'workspace.json');
    const data = JSON.parse(await readFile(file, 'utf8')) as { sessions: Record<string, Record<string, unknown>> };
    for (const e of Object.values(data.sessions)) {
      delete e.steps;
      delete e.lastStepAt;
    }
    await writeFile(file, JSON.stringify(data));
    // The index is newer than the log: only the missing count makes it read the log.
    const later = new Date(Date.now() + 60_000);
    await utimes(file, later, later);
    ws = await Workspace.open(home);
    expect(ws.list()[0]).toMatchObject({ name: 'old index', steps: 1, lastStepAt: first.ts });
    await ws.close();
  });
});
