// Workspace files are private to their owner: terminal recordings and event logs hold
// whatever went through the shells (tokens, passwords typed at prompts, keys in
// environment dumps), so no other local user may read them. New folders are made
// 0700 and new files 0600; folders and files left by older versions (0755/0644) are
// tightened when the workspace or the file is opened.
//
// The process umask is left alone on purpose: terminals inherit it, and the files the
// agent or the user create in their own projects must keep their usual modes.
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFully } from './disk';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Bits that give group or others any access. */
const SHARED_BITS = 0o077;

/** mkdir (recursive) whose new folders are 0700. An existing folder is left as it is: see tightenDir. */
export async function mkdirPrivate(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Remove group and other access from a folder (it becomes 0700). Symlinks and
 * missing paths are ignored: a link is not ours to change, and whatever it points to
 * is reached through a folder that is private already.
 */
export async function tightenDir(path: string): Promise<void> {
  const st = await lstat(path).catch(() => null);
  if (!st?.isDirectory() || (st.mode & 0o777) === PRIVATE_DIR_MODE) return;
  await chmod(path, PRIVATE_DIR_MODE).catch(() => undefined);
}

/**
 * Remove group and other access from a regular file, keeping the owner's own bits
 * (an executable stays executable for its owner).
 */
export async function tightenFile(path: string): Promise<void> {
  const st = await lstat(path).catch(() => null);
  if (!st?.isFile() || (st.mode & SHARED_BITS) === 0) return;
  await chmod(path, st.mode & 0o700).catch(() => undefined);
}

/**
 * Write a whole file: `fill` writes a new 0600 temporary beside `path` (`path.tmp-…`),
 * which is then renamed over it, so a reader sees the old file or the new, never part of
 * one. `sync`: on disk before the rename (for what is not rebuilt from another file).
 * On any failure the temporary is removed and the error thrown; `path` is as it was.
 */
export async function replaceFile(path: string, fill: (fh: FileHandle) => Promise<void>, opts: { sync?: boolean } = {}): Promise<void> {
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', PRIVATE_FILE_MODE);
    try {
      await fill(fh);
      if (opts.sync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
}

/** The same for an open file (no path lookup, so no race with a rename). */
export async function tightenHandle(fh: FileHandle): Promise<void> {
  const st = await fh.stat();
  if (st.isFile() && (st.mode & SHARED_BITS) !== 0) await fh.chmod(st.mode & 0o700).catch(() => undefined);
}

/** Tighten a folder and the regular files directly in it (not its subfolders). */
async function tightenShallow(dir: string): Promise<string[]> {
  await tightenDir(dir);
  const subdirs: string[] = [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) subdirs.push(p);
    else if (e.isFile()) await tightenFile(p);
  }
  return subdirs;
}

/**
 * Tighten what an older version left readable in a workspace: the folder itself, its
 * index (and the index's backup) and lock, the key files, and every session folder with its logs and terminal
 * recordings. Inside a session only the known folders are walked: `checkpoints.git`
 * (thousands of objects) is made 0700, which already keeps everyone else out of it,
 * and other folders there are left alone. The home folder itself is skipped when it
 * is the user's home directory or the root (a misconfigured --home must not change
 * those).
 */
export async function tightenWorkspace(home: string): Promise<void> {
  const abs = resolve(home);
  if (abs !== resolve(homedir()) && abs !== resolve('/')) await tightenDir(abs);
  for (const f of ['workspace.json', 'workspace.json.bak', 'workspace.lock']) await tightenFile(join(abs, f));
  await tightenShallow(join(abs, 'keys'));
  for (const session of await tightenShallow(join(abs, 'sessions'))) await tightenSession(session);
}

/** Tighten one session folder: its files, its terminal recordings, and its subfolders themselves. */
export async function tightenSession(dir: string): Promise<void> {
  for (const sub of await tightenShallow(dir)) {
    if (basename(sub) === 'terminals') await tightenShallow(sub);
    else await tightenDir(sub);
  }
}

/**
 * A lowdb adapter for a JSON file written privately: each write goes to a temporary
 * file created 0600 beside it, then renamed over it (atomic, as lowdb's own JSONFile
 * does; that one creates its temporary file with the default 0644, so every write
 * would make the index world-readable again). Writes are serialized in call order;
 * each caller learns when its own snapshot is in place, or why not.
 */
export class PrivateJSONFile<T> {
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  async read(): Promise<T | null> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    return JSON.parse(text) as T;
  }

  write(data: T): Promise<void> {
    // Serialized now: later changes to `data` belong to later writes.
    const text = JSON.stringify(data, null, 2);
    const run = this.chain.then(() => this.replace(text));
    this.chain = run.catch(() => undefined);
    return run;
  }

  private async replace(text: string): Promise<void> {
    const tmp = join(dirname(this.file), `.${basename(this.file)}.tmp`);
    const fh = await open(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      // A temporary file left by a crash keeps its old mode when reopened.
      await tightenHandle(fh);
      await writeFully(fh, Buffer.from(text, 'utf8'), 0);
      // On disk before it replaces the old index: an answer given after this write
      // (settings saved) must survive a crash or power loss.
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }
}
