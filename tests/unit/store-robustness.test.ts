// The store under failure and races: offsets and sequence numbers after a failed commit,
// appends racing close, a rollback that cannot be done, prototype keys as session
// ids, delete racing an open, and a failed index write.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { AppendLog } from '../../electron/core/store/append-log';
import { EventLog, parseEventLog } from '../../electron/core/store/event-log';
import { Workspace } from '../../electron/core/store/workspace';
import { ApolloError } from '../../shared/errors';
import { foldTrajectory, pathTo } from '../../shared/trajectory';
import type { SessionEvent } from '../../shared/events';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-store-robustness-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Hooks {
  failNextWrite: boolean;
  /** Resolves the truncate of a rollback when called. */
  releaseTruncate: (() => void) | null;
  truncateFails: boolean;
  truncateStarted: Promise<void>;
}

/** Make the log's next write fail with ENOSPC, and hold its rollback (truncate) until released. */
function sabotage(log: AppendLog): Hooks {
  const fh = (log as unknown as { fh: FileHandle }).fh;
  const write = fh.write.bind(fh) as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
  const truncate = fh.truncate.bind(fh);
  let started!: () => void;
  const hooks: Hooks = { failNextWrite: true, releaseTruncate: null, truncateFails: false, truncateStarted: new Promise((r) => (started = r)) };
  (fh as unknown as { write: unknown }).write = async (...a: unknown[]) => {
    if (hooks.failNextWrite) {
      hooks.failNextWrite = false;
      // Half of the group lands before the disk fills up.
      const buf = a[0] as Buffer;
      await write(buf, a[1], Math.floor((a[2] as number) / 2));
      throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    }
    return write(...a);
  };
  (fh as unknown as { truncate: unknown }).truncate = async (len: number) => {
    started();
    await new Promise<void>((r) => (hooks.releaseTruncate = r));
    if (hooks.truncateFails) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    return truncate(len);
  };
  return hooks;
}

describe('AppendLog after a failed commit', () => {
  it('gives appends made during the rollback the offsets their bytes really get', async () => {
    const path = join(dir, 'a.out');
    const log = await AppendLog.open(path);
    await log.append('committed|').durable;
    const hooks = sabotage(log);
    const lost = log.append('this group fails');
    await hooks.truncateStarted;
    // Output keeps arriving while the file is being cut back.
    const next = log.append('next');
    hooks.releaseTruncate!();
    await expect(lost.durable).rejects.toMatchObject({ code: 'DISK_FULL' });
    await next.durable;
    expect(next.offset).toBe('committed|'.length);
    expect((await log.read(next.offset, next.offset + 4)).toString()).toBe('next');
    await log.close();
    expect(await readFile(path, 'utf8')).toBe('committed|next');
  });

  it('takes no more appends when the failed group cannot be cut off the file', async () => {
    const path = join(dir, 'b.out');
    const log = await AppendLog.open(path);
    await log.append('ok\n').durable;
    const hooks = sabotage(log);
    hooks.truncateFails = true;
    const lost = log.append('torn group\n');
    await hooks.truncateStarted;
    const during = log.append('queued meanwhile\n');
    hooks.releaseTruncate!();
    await expect(lost.durable).rejects.toBeInstanceOf(ApolloError);
    // Written after the torn bytes, it would be glued to them and lost on the next open.
    await expect(during.durable).rejects.toMatchObject({ message: expect.stringMatching(/restart/i) });
    expect(() => log.append('later\n')).toThrow(/restart/i);
    await log.close();
  });

  it('refuses appends once close has begun instead of accepting and then losing them', async () => {
    const log = await AppendLog.open(join(dir, 'c.out'), { maxDelayMs: 5 });
    const a = log.append('a');
    const closing = log.close();
    let late: { durable: Promise<void> } | null = null;
    try {
      late = log.append('b');
    } catch (e) {
      expect(e).toBeInstanceOf(ApolloError);
    }
    await a.durable;
    await closing;
    // Accepted appends must be committed, never dropped.
    if (late) await late.durable;
    expect(late).toBeNull();
  });
});

describe('EventLog after a failed commit', () => {
  it('keeps sequence numbers dense and strictly increasing in the file', async () => {
    const path = join(dir, 'events.jsonl');
    const { log } = await EventLog.open(path);
    for (let i = 0; i < 3; i++) await log.append({ type: 'warning', message: `ok ${i}` }).durable;
    const file = (log as unknown as { file: AppendLog }).file;
    const hooks = sabotage(file);
    const lost = [log.append({ type: 'warning', message: 'lost a' }), log.append({ type: 'warning', message: 'lost b' })];
    await hooks.truncateStarted;
    const during = log.append({ type: 'warning', message: 'during rollback' });
    hooks.releaseTruncate!();
    for (const l of lost) await expect(l.durable).rejects.toMatchObject({ code: 'DISK_FULL' });
    await during.durable;
    const after = log.append({ type: 'warning', message: 'after' });
    await after.durable;
    await log.close();
    const seqs = parseEventLog(await readFile(path)).events.map((e) => e.seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    expect([during.event.seq, after.event.seq]).toEqual([4, 5]);
  });
});

describe('Workspace', () => {
  it('does not take prototype keys for session ids', async () => {
    const ws = await Workspace.open(dir);
    for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(() => ws.entry(id)).toThrow(ApolloError);
      await expect(ws.session(id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    }
    await ws.close();
  });

  it('cannot reopen a session while it is being deleted, and a closed session recreates nothing', async () => {
    const ws = await Workspace.open(dir);
    const s = await ws.create({ name: 'x', cwd: dir });
    const removing = ws.remove(s.id);
    await expect(ws.session(s.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await removing;
    await expect(s.recording('main')).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(s.append({ type: 'warning', message: 'late' })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    await expect(stat(join(dir, 'sessions', s.id))).rejects.toMatchObject({ code: 'ENOENT' });
    await ws.close();
  });

  it('does not leave an unhandled rejection when the index cannot be written after a rename', async () => {
    const ws = await Workspace.open(dir);
    const s = await ws.create({ name: 'x', cwd: dir });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    // The index file's own writer: every index write goes through it.
    const db = (ws as unknown as { db: { adapter: { write: () => Promise<void> } } }).db.adapter;
    const write = db.write.bind(db);
    let writes = 0;
    db.write = () => {
      writes++;
      return Promise.reject(Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' }));
    };
    try {
      // The rename event is durable; the index write that follows fails.
      await s.append({ type: 'session.renamed', name: 'y' });
      await new Promise((r) => setTimeout(r, 50));
      expect(writes).toBeGreaterThan(0); // the failing write really happened
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      db.write = write;
    }
    await ws.close();
  });
});

describe('trajectory fold', () => {
  it('does not loop forever on a step that is its own ancestor', () => {
    const base = { ts: 1, branchId: 'main', rolloutId: 'r', depth: 1 };
    const events = [
      { seq: 1, type: 'step.started', stepId: 'a', parentId: 'b', ...base },
      { seq: 2, type: 'step.started', stepId: 'b', parentId: 'a', ...base },
    ] as SessionEvent[];
    const t = foldTrajectory(events);
    expect(pathTo(t, 'a').map((s) => s.id)).toEqual(['b', 'a']);
  });
});
