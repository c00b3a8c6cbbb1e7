// Seeding one shipped sample session (resources/samples/<id>) into a workspace, so a
// fresh install can open it offline with everything a recorded session has: its log,
// its terminal recordings and its checkpoint store (the Files tab and Rewind).
//
// The store ships as a git bundle (checkpoints.bundle, written by
// scripts/record-sample.ts) rather than as the raw shadow repository: a bundle is one
// packed, self-checking file holding exactly the refs and the objects they reach,
// while a raw store is hundreds of loose objects (read-only files git may not let a
// copy overwrite), an index holding the recording machine's file stat data and a
// description naming its folders. Unbundling it here makes a fresh store laid out as
// this version's own stores are.
//
// A sample also needs a working directory on this machine: the recording's folder
// (a temporary one on the machine that recorded it) is not here. Each seeded sample
// gets `work/` in its session folder, holding the files of its last checkpoint (the
// working directory as the recording left it), and the seeded log names it as the
// session's working directory, and as the place of each checkpoint. Everything else
// in the log stays as recorded: what the model was sent and what the tools answered
// name the recording's folder, because that is where it ran.
import { cp, lstat, readdir, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { devNull } from 'node:os';
import { join, relative } from 'node:path';
import { runGit } from '../checkpoints/git-runner';
import { mkdirPrivate, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-files';

/** The checkpoint store of a sample, as shipped. */
export const SAMPLE_BUNDLE = 'checkpoints.bundle';
/** The seeded sample's working directory, in its session folder. */
export const SAMPLE_WORK_DIR = 'work';
/** The session's checkpoint store (the name every session uses). */
const STORE_DIR = 'checkpoints.git';
const TIP_REF = 'refs/heads/main';
const BASE_REF = 'refs/apollo/base';

/**
 * Copy the sample at `src` into the new session folder `dest` (which must not exist).
 * Returns warnings: a store that cannot be unbundled (no git on this machine, a
 * damaged bundle) leaves the sample without checkpoints, which is said, not fatal.
 */
export async function seedSample(src: string, dest: string): Promise<string[]> {
  const warnings: string[] = [];
  // The log last: a folder without events.jsonl is no session, so a seed cut short lists nothing half-made.
  await cp(src, dest, { recursive: true, filter: (p) => p === src || (relative(src, p) !== SAMPLE_BUNDLE && relative(src, p) !== 'events.jsonl') });
  let workDir: string | null = null;
  if (await isFile(join(src, SAMPLE_BUNDLE))) {
    try {
      workDir = await unbundleCheckpoints(join(src, SAMPLE_BUNDLE), join(dest, STORE_DIR), join(dest, SAMPLE_WORK_DIR));
    } catch (err) {
      await rm(join(dest, STORE_DIR), { recursive: true, force: true }).catch(() => undefined);
      await rm(join(dest, SAMPLE_WORK_DIR), { recursive: true, force: true }).catch(() => undefined);
      warnings.push(`The sample session ${relative(join(dest, '..'), dest)} was copied without its checkpoints (${(err as Error).message}): its Files tab and Rewind are unavailable.`);
    }
  }
  const log = await readFile(join(src, 'events.jsonl'), 'utf8');
  await writeFile(join(dest, 'events.jsonl'), workDir ? relocateSampleLog(log, workDir) : log, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  return warnings;
}

/** The working directory a seeded sample will have (for listings of a workspace not seeded yet), or null. */
export async function seededWorkDir(src: string, dest: string): Promise<string | null> {
  return (await isFile(join(src, SAMPLE_BUNDLE))) ? join(dest, SAMPLE_WORK_DIR) : null;
}

/**
 * Make `storeDir` a checkpoint store holding every ref of `bundle` (and so every
 * checkpoint a checkpoint.taken event names: they are all reachable from the tip),
 * and `workDir` the files of its last checkpoint. Everything is owner-only, as the
 * store code keeps it. Returns workDir.
 */
export async function unbundleCheckpoints(bundle: string, storeDir: string, workDir: string): Promise<string> {
  await mkdirPrivate(storeDir);
  // As the store creates itself (shadow-git.ts init): bare, no templates (no hooks), branch main.
  await git(['init', '--quiet', '--bare', '--template=', '--initial-branch=main', storeDir], storeDir, {});
  const env = { GIT_DIR: storeDir };
  // Every ref as it is in the bundle (refs/apollo/base too, which a clone would leave behind); no remote is configured.
  await git(['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', bundle, '+refs/*:refs/*'], storeDir, env);
  await git(['rev-parse', '--verify', '--quiet', `${TIP_REF}^{commit}`], storeDir, env).catch(() => {
    throw new Error(`the bundle has no ${TIP_REF}`);
  });
  const base = await git(['rev-parse', '--verify', '--quiet', `${BASE_REF}^{commit}`], storeDir, env).catch(() => git(['rev-parse', `${TIP_REF}^{commit}`], storeDir, env));
  await mkdirPrivate(workDir);
  // The store's own index file (GIT_INDEX_FILE as the store sets it), so its first scan finds the files unchanged.
  const tree = { ...env, GIT_WORK_TREE: workDir, GIT_INDEX_FILE: join(storeDir, 'index') };
  await git(['read-tree', base.trim()], workDir, tree);
  await git(['checkout-index', '--all', '--force'], workDir, tree);
  await makePrivate(storeDir);
  return workDir;
}

/**
 * The sample's log with the working directory of this machine: session.created's cwd,
 * and each checkpoint's cwd and shell directory (where a Rewind restores files and
 * starts its shell) moved from the recording's folder to `workDir`. Other lines are
 * kept byte for byte.
 */
export function relocateSampleLog(text: string, workDir: string): string {
  const lines = text.split('\n');
  let from: string | null = null;
  const move = (p: string | undefined): string | undefined => {
    if (p === undefined || from === null) return p;
    if (p === from) return workDir;
    if (p.startsWith(`${from}/`)) return join(workDir, ...p.slice(from.length + 1).split('/'));
    return p;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (!line.includes('"type":"session.created"') && !line.includes('"type":"checkpoint.taken"')) continue;
    const ev = JSON.parse(line) as { type: string; cwd?: string; shellCwd?: string };
    if (ev.type === 'session.created') {
      from = ev.cwd ?? null;
      ev.cwd = workDir;
    } else if (ev.type === 'checkpoint.taken') {
      ev.cwd = move(ev.cwd);
      if (ev.shellCwd !== undefined) ev.shellCwd = move(ev.shellCwd);
    } else continue;
    lines[i] = JSON.stringify(ev);
  }
  return lines.join('\n');
}

/** Folders 0700, files without group or other access (git's read-only objects stay read-only for their owner). */
async function makePrivate(dir: string): Promise<void> {
  await chmod(dir, PRIVATE_DIR_MODE);
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await makePrivate(p);
    else if (e.isFile()) await chmod(p, (await lstat(p)).mode & 0o700);
  }
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then((s) => s.isFile(), () => false);
}

/** git with none of the user's configuration or GIT_* variables (as the store runs it); its stdout. */
async function git(args: string[], cwd: string, extra: Record<string, string>): Promise<string> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('GIT_')) env[k] = v;
  Object.assign(env, { GIT_CONFIG_GLOBAL: devNull, GIT_CONFIG_NOSYSTEM: '1', GIT_TERMINAL_PROMPT: '0', LC_ALL: 'C', ...extra });
  return (await runGit(args, { cwd, env, timeoutMs: 120_000 })).stdout.toString('utf8');
}
