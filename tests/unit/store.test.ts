import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, open, readFile, rm, writeFile, appendFile, stat } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppendLog } from '../../electron/core/store/append-log';
import { EventLog, parseEventLog } from '../../electron/core/store/event-log';
import { Workspace, resolveHome } from '../../electron/core/store/workspace';
import { TerminalRecording, parseTiming } from '../../electron/core/store/terminal-recording';
import { ApolloError } from '../../shared/errors';
import { DISK_FAULT_ENV, freeBytes, truncateTo, writeFully } from '../../electron/core/store/disk';
import { DISK_KINDS, releaseTinyDisk, withTinyDisk } from '../fixtures/tiny-disk';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-store-'));
});
afterEach(async () => {
  releaseTinyDisk(dir);
  await rm(dir, { recursive: true, force: true });
});

describe('AppendLog', () => {
  it('assigns offsets at append time and commits groups', async () => {
    const log = await AppendLog.open(join(dir, 'a.log'));
    const a = log.append('hello ');
    const b = log.append('world\n');
    expect(a.offset).toBe(0);
    expect(b.offset).toBe(6);
    await Promise.all([a.durable, b.durable]);
    expect(log.durableSize).toBe(12);
    expect((await log.read(6, 12)).toString()).toBe('world\n');
    await log.close();
    expect(await readFile(join(dir, 'a.log'), 'utf8')).toBe('hello world\n');
  });

  it('continues at the end of an existing file', async () => {
    await writeFile(join(dir, 'a.log'), 'abc');
    const log = await AppendLog.open(join(dir, 'a.log'));
    expect(log.append('d').offset).toBe(3);
    await log.close();
  });

  it.for(DISK_KINDS)('reports a full disk (%s), rolls the file back and keeps what was committed', async (kind, ctx) => {
    await withTinyDisk(kind, dir, ctx, async ({ root: mnt }) => {
    const path = join(mnt, 'events.jsonl');
    const { log } = await EventLog.open(path, { maxDelayMs: 1 });
    const kept: number[] = [];
    for (let i = 0; i < 20; i++) {
      const { event, durable } = log.append({ type: 'warning', message: `small ${i}` });
      await durable;
      kept.push(event.seq);
    }
    const big = log.append({ type: 'warning', message: 'y'.repeat(200_000) });
    await expect(big.durable).rejects.toMatchObject({ code: 'DISK_FULL' });
    // The log still works for appends that fit, and nothing earlier was lost.
    const after = log.append({ type: 'warning', message: 'after' });
    await after.durable;
    await log.close();
    const parsed = parseEventLog(await readFile(path));
    expect(parsed.report).toEqual({ tornTail: false, corruptLines: [] });
    expect(parsed.events.map((e) => e.seq)).toEqual([...kept, after.event.seq]);
    expect(after.event.seq).toBe(kept.length + 1);
    });
  });
});

describe('EventLog recovery', () => {
  it('drops a torn last line and reports it', async () => {
    const path = join(dir, 'events.jsonl');
    await writeFile(path, '{"seq":1,"ts":1,"type":"warning","message":"a"}\n{"seq":2,"ts":2,"type":"warn');
    const { log, events, report } = await EventLog.open(path);
    expect(report.tornTail).toBe(true);
    expect(events.map((e) => e.seq)).toEqual([1]);
    const { event, durable } = log.append({ type: 'warning', message: 'b' });
    await durable;
    expect(event.seq).toBe(2);
    await log.close();
    const text = await readFile(path, 'utf8');
    expect(text.split('\n').filter(Boolean).map((l) => JSON.parse(l).seq)).toEqual([1, 2]);
  });

  it('skips corrupt lines in the middle and loads the rest', async () => {
    const path = join(dir, 'events.jsonl');
    await writeFile(path, ['{"seq":1,"ts":1,"type":"warning","message":"a"}', 'garbage{', '{"no":"type"}', '{"seq":4,"ts":4,"type":"warning","message":"d"}', ''].join('\n'));
    const { events, report, log } = await EventLog.open(path);
    expect(events.map((e) => e.seq)).toEqual([1, 4]);
    expect(report).toEqual({ tornTail: false, corruptLines: [2, 3] });
    expect(log.append({ type: 'warning', message: 'e' }).event.seq).toBe(5);
    await log.close();
  });

  it('reports a line that is JSON but not a valid event like a corrupt one', async () => {
    const path = join(dir, 'events.jsonl');
    await writeFile(path, [
      '{"seq":1,"ts":1,"type":"warning","message":"a"}',
      '{"seq":2,"ts":2,"type":"no.such.event"}',
      '{"seq":3,"ts":3,"type":"step.started","stepId":"s","parentId":null,"branchId":"main","depth":"one","rolloutId":"r"}',
      '{"seq":4,"ts":4,"type":"model.response","stepId":"s"}',
      '[1,2,3]',
      '{"seq":6,"ts":6,"type":"label.set","stepId":"s","label":"maybe","tags":[],"note":"","source":"annotator","author":"a"}',
      '{"seq":7,"ts":7,"type":"warning","message":"g","addedByANewerVersion":true}',
      '',
    ].join('\n'));
    const { events, report, log } = await EventLog.open(path);
    expect(events.map((e) => e.seq)).toEqual([1, 7]);
    expect(report).toEqual({ tornTail: false, corruptLines: [2, 3, 4, 5, 6] });
    // Unknown extra fields of a newer writer are kept.
    expect((events[1] as unknown as Record<string, unknown>).addedByANewerVersion).toBe(true);
    await log.close();
  });

  it('keeps every acknowledged event when the writer is killed with SIGKILL mid-burst', async () => {
    const path = join(dir, 'events.jsonl');
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '../fixtures/log-writer.ts'), path, '300'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked: number[] = [];
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, sig) => (sig === 'SIGKILL' ? resolve() : reject(new Error(`writer exited early: ${code}`))));
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop()!;
        for (const l of lines) acked.push(Number(l));
        if (acked.length >= 3000 && !child.killed) child.kill('SIGKILL');
      });
    });
    expect(acked.length).toBeGreaterThanOrEqual(3000);
    const { events, report, log } = await EventLog.open(path);
    await log.close();
    const present = new Set(events.map((e) => e.seq));
    const lost = acked.filter((s) => !present.has(s));
    expect(lost).toEqual([]);
    expect(report.corruptLines).toEqual([]);
    // Sequence numbers are dense: nothing in the middle vanished either.
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
  });
});

describe('Workspace', () => {
  it('resolves home from the flag, then APOLLO_HOME, then the OS folder', () => {
    expect(resolveHome('/x', { APOLLO_HOME: '/y' })).toBe('/x');
    expect(resolveHome(undefined, { APOLLO_HOME: '/y' })).toBe('/y');
    expect(resolveHome(undefined, {})).toMatch(/apollo/i);
  });

  it('creates, renames and deletes sessions, and survives a restart', async () => {
    let ws = await Workspace.open(dir);
    const s = await ws.create({ name: 'first', cwd: dir });
    await ws.rename(s.id, 'renamed');
    const other = await ws.create({ name: 'second', cwd: dir });
    await ws.remove(other.id);
    await ws.close();
    ws = await Workspace.open(dir);
    expect(ws.list().map((e) => e.name)).toEqual(['renamed']);
    const again = await ws.session(s.id);
    expect(again.events.map((e) => e.type)).toEqual(['session.created', 'session.renamed']);
    await expect(ws.session(other.id)).rejects.toBeInstanceOf(ApolloError);
    await ws.close();
  });

  it('seeds the shipped sample session once, and a deleted sample stays deleted', async () => {
    const samples = join(__dirname, '../../resources/samples');
    let ws = await Workspace.open(dir);
    await ws.seedSamples(samples);
    expect(ws.list().map((e) => e.id)).toEqual(['sample-sales-report']);
    const sample = await ws.session('sample-sales-report');
    expect(sample.report).toEqual({ tornTail: false, corruptLines: [] });
    expect(sample.events.filter((e) => e.type === 'step.started').length).toBeGreaterThan(3);
    expect(await sample.hasRecording('main')).toBe(true);
    await ws.remove('sample-sales-report');
    await ws.close();
    ws = await Workspace.open(dir);
    await ws.seedSamples(samples);
    expect(ws.list()).toEqual([]);
    await ws.close();
  });

  it('rebuilds a corrupt or missing index from the session folders', async () => {
    let ws = await Workspace.open(dir);
    const a = await ws.create({ name: 'alpha', cwd: dir });
    await ws.rename(a.id, 'alpha-2');
    const b = await ws.create({ name: 'beta', cwd: dir });
    await ws.close();

    await writeFile(join(dir, 'workspace.json'), '{ this is not json');
    ws = await Workspace.open(dir);
    expect(ws.warnings.join()).toMatch(/unreadable/);
    expect(ws.list().map((e) => e.name).sort()).toEqual(['alpha-2', 'beta']);
    await ws.close();

    await rm(join(dir, 'workspace.json'));
    ws = await Workspace.open(dir);
    expect(ws.list().map((e) => e.id).sort()).toEqual([a.id, b.id].sort());
    await ws.close();
  });

  it('loads a session with a torn tail and corrupt lines, reporting both', async () => {
    let ws = await Workspace.open(dir);
    const s = await ws.create({ name: 'x', cwd: dir });
    await s.append({ type: 'warning', message: 'one' });
    await ws.close();
    const log = join(dir, 'sessions', s.id, 'events.jsonl');
    await appendFile(log, 'not json at all\n{"seq":99,"ts":5,"type":"warning","message":"last"}\n{"seq":100,"ts');
    ws = await Workspace.open(dir);
    const again = await ws.session(s.id);
    expect(again.report.tornTail).toBe(true);
    expect(again.report.corruptLines).toEqual([3]);
    expect(again.events.map((e) => e.seq)).toEqual([1, 2, 99]);
    await ws.close();
  });

  it('records terminal bytes with a timing index, and storage per event does not grow with the log', async () => {
    const rec = await TerminalRecording.open(dir, 'main');
    const a = rec.append(Buffer.from('hello '), 1000);
    const b = rec.append(Buffer.from('world'), 1010);
    await rec.flush();
    expect([a.offset, b.offset]).toEqual([0, 6]);
    expect((await rec.read(6)).toString()).toBe('world');
    expect(parseTiming(await readFile(join(dir, 'main.timing.jsonl'), 'utf8'))).toEqual([
      { ts: 1000, offset: 0, length: 6 },
      { ts: 1010, offset: 6, length: 5 },
    ]);
    await rec.close();

    const { log } = await EventLog.open(join(dir, 'e.jsonl'), { durable: false });
    const sizes: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const before = log.size;
      log.append({ type: 'warning', message: 'same size' }, 1_700_000_000_000);
      sizes.push(log.size - before);
    }
    await log.close();
    // Only the digits of the sequence number may grow.
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(3);
    expect((await stat(join(dir, 'e.jsonl'))).size).toBe(sizes.reduce((x, y) => x + y, 0));
  });
});

describe('the simulated disk (test-only fault injection of the store)', () => {
  it('takes whole blocks, writes what fits before ENOSPC, gives blocks back on truncate, and is off without its variable', async () => {
    const budget = join(dir, 'free');
    const fh = await open(join(dir, 'f'), 'a+');
    try {
      // Off: a budget file nobody names changes nothing.
      await writeFile(budget, '0');
      await writeFully(fh, Buffer.alloc(10, 0x61));
      process.env[DISK_FAULT_ENV] = budget;
      // The rest of the file's first block is room; the next block is not.
      await writeFully(fh, Buffer.alloc(4086, 0x62));
      await expect(writeFully(fh, Buffer.alloc(5, 0x63))).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(await freeBytes(dir)).toBe(0);
      await writeFile(budget, '4096');
      // Needs two blocks, one is free: one block's worth is written, then ENOSPC.
      await expect(writeFully(fh, Buffer.alloc(6000, 0x64))).rejects.toMatchObject({ code: 'ENOSPC' });
      expect((await fh.stat()).size).toBe(8192);
      await truncateTo(fh, 4096);
      expect(await freeBytes(dir)).toBe(4096);
      // Removing the file frees the disk.
      await rm(budget);
      await writeFully(fh, Buffer.alloc(100_000, 0x65));
      expect((await fh.stat()).size).toBe(104_096);
      // Freed for good even for a write that read the count just before: it used to
      // write its new count back, bringing the disk back full (a resumed rollout then
      // paused again, at load, on the token counts written a second after each step).
      await writeFile(budget, String(1 << 20));
      const inFlight = writeFully(fh, Buffer.alloc(5000, 0x66)); // has read the count, awaits the file's size
      rmSync(budget);
      await inFlight;
      expect(existsSync(budget)).toBe(false);
    } finally {
      delete process.env[DISK_FAULT_ENV];
      await fh.close();
    }
  });
});
