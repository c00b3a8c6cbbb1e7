// One writer per workspace. Two processes (the app and `apollo serve`, two `serve`s,
// an `apollo export` beside a running app) would each keep their own sequence
// numbers for the same session logs and overwrite each other's workspace.json, so a
// process that opens the core takes this lock first.
import { link, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ApolloError } from '../../../shared/errors';

export const LOCK_FILE = 'workspace.lock';

interface Holder {
  pid: number;
  host: string;
  /** What holds it, for the message: "apollo serve", "the desktop app"... */
  what: string;
  /** ms since the epoch when it was taken. */
  since: number;
}

export interface WorkspaceLock {
  readonly path: string;
  release(): Promise<void>;
}

/** A lock file still being written (created empty, content a moment later) is this young at most. */
const FRESH_MS = 10_000;

/**
 * Take the workspace lock, or throw CONFLICT naming the process that holds it. A
 * lock left by a process that is gone (crash, SIGKILL, reboot) is taken over: its
 * pid is checked on this machine, and a pid reused by a later process (a restarted
 * container often gets the same pid) does not count.
 */
export async function acquireWorkspaceLock(home: string, what: string): Promise<WorkspaceLock> {
  const path = join(home, LOCK_FILE);
  const mine: Holder = { pid: process.pid, host: hostname(), what, since: Date.now() };
  const text = JSON.stringify(mine);
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      // Owner only, like every workspace file (it names the holder's process and host).
      await writeFile(path, text, { flag: 'wx', mode: 0o600 });
      return { path, release: () => release(path, text) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new ApolloError('IO', `Cannot lock the workspace ${home} (${(e as Error).message}). Check that the folder exists and is writable.`);
      }
    }
    let seen: string;
    try {
      seen = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
      throw e;
    }
    const holder = parseHolder(seen);
    if (holder ? holderIsAlive(holder) : await isFresh(path)) throw inUse(home, path, holder);
    await breakStale(path, seen);
  }
  throw new ApolloError('CONFLICT', `Cannot lock the workspace ${home}: other processes keep taking it. Close the other Apollo Workstation windows or servers using it and retry.`);
}

function parseHolder(text: string): Holder | null {
  try {
    const h = JSON.parse(text) as Partial<Holder>;
    if (typeof h.pid === 'number' && Number.isInteger(h.pid) && h.pid > 0 && typeof h.host === 'string') {
      return { pid: h.pid, host: h.host, what: typeof h.what === 'string' ? h.what : 'another process', since: typeof h.since === 'number' ? h.since : 0 };
    }
  } catch {
    // torn or foreign content
  }
  return null;
}

async function isFresh(path: string): Promise<boolean> {
  const st = await stat(path).catch(() => null);
  return st !== null && Date.now() - st.mtimeMs < FRESH_MS;
}

/** Is the process that wrote this lock still running? (Unknown on another machine: assume so.) */
export function holderIsAlive(h: Holder): boolean {
  if (h.host !== hostname()) return true;
  if (h.pid === process.pid) {
    // Our own pid: another core in this process, unless the lock predates this process.
    return h.since >= processStartMs() - 1000;
  }
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const started = pidStartMs(h.pid);
  // A process that started after the lock was taken is not the one that took it.
  return started === null || started <= h.since + 1000;
}

function processStartMs(): number {
  return Date.now() - process.uptime() * 1000;
}

/** Start time of a process (Linux: /proc), or null when it cannot be known. */
function pidStartMs(pid: number): number | null {
  if (process.platform !== 'linux') return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]); // field 22 of the file: starttime, in clock ticks since boot
    const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
    if (!Number.isFinite(ticks) || !btime) return null;
    return Number(btime[1]) * 1000 + ticks * 10; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

function inUse(home: string, path: string, h: Holder | null): ApolloError {
  const who = h ? `${h.what} (process ${h.pid}${h.host !== hostname() ? ` on ${h.host}` : ''}, since ${new Date(h.since).toLocaleString()})` : 'another process that is opening it';
  return new ApolloError(
    'CONFLICT',
    `The workspace ${home} is in use by ${who}. Only one Apollo Workstation process may write a workspace: ` +
      `close the other one (or use it), or pass a different --home. If no such process is running, delete ${path}.`,
  );
}

/**
 * Remove a dead holder's lock without removing a live one that replaced it in the
 * meantime: move it aside under a unique name, and only delete it if it is still
 * the lock we judged stale.
 */
async function breakStale(path: string, seen: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomUUID().slice(0, 8)}`;
  try {
    await rename(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const moved = await readFile(aside, 'utf8').catch(() => seen);
  if (moved !== seen) {
    // Someone took the lock between our read and the rename: give it back (link
    // fails rather than overwrite if yet another process holds it by now).
    await link(aside, path).catch(() => undefined);
    await rm(aside, { force: true });
    return;
  }
  await rm(aside, { force: true });
}

async function release(path: string, text: string): Promise<void> {
  // Only our own lock: never one that replaced it.
  const now = await readFile(path, 'utf8').catch(() => null);
  if (now === text) await rm(path, { force: true });
}
