import { existsSync } from 'node:fs';
import { access, chmod, constants, lstat, mkdir, readdir, realpath, rename, rm, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { devNull } from 'node:os';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { ApolloError, errorText } from '../../../shared/errors';
import {
  CHECKPOINT_SETTING_HELP,
  DEFAULT_CHECKPOINT_BUDGET_BYTES,
  DEFAULT_CHECKPOINT_MAX_FILE_BYTES,
  formatByteSize,
  type CheckpointLimits,
} from '../../../shared/checkpoint-limits';
import type { SkippedFile } from '../../../shared/events';
import { GitFailure, firstLines, runGit, splitZ, type GitResult } from './git-runner';
import { mkdirPrivate, tightenDir } from '../store/private-files';
import { RESTORE_STAGES } from '../env/checkpoints';
import type { RestoreProgress } from '../../../shared/contract/annotate';

/**
 * Checkpoints of a working directory in a shadow git repository.
 *
 * The repository's GIT_DIR is `storeDir` (in the session folder, outside the working
 * directory) and its work tree is `workDir`. Every git call gets GIT_DIR, GIT_WORK_TREE
 * and GIT_INDEX_FILE explicitly, with the inherited GIT_* environment and the user's
 * global/system config dropped, so the user's own `.git` (and any nested repository's)
 * is never read or written: hooks, signing, fsmonitor, autocrlf and in-tree
 * `.gitattributes` conversions are all switched off.
 *
 * What a snapshot holds: every file under workDir except the built-in exclusions
 * (`.git`, `node_modules`, `__pycache__`, `.cache`, `.venv`, `*.pyc`), the caller's
 * patterns, paths the user's `.gitignore` files ignore, files over `maxFileBytes` and
 * unreadable files. What was left out is reported as `skipped` (a bounded list and a
 * count). Nested git repositories are recorded as plain files (their `.git` is left
 * out), never as submodules.
 *
 * Budget: before a snapshot writes anything, what it would add is estimated (stat sums
 * of new and changed files; when that is close to the budget, the blobs the store does
 * not have yet, by hashing without writing). A snapshot that would take the store over
 * `budgetBytes` is refused (DISK_FULL, "not checkpointed: over budget") and writes
 * nothing. Packing (git repack) only ever runs in the background, never on a step's path.
 *
 * Restore is all or nothing: see swapIn.
 *
 * Restore never overwrites or deletes an excluded path; a nested repository that did
 * not exist at the target step keeps its `.git` (deleting someone's repository is not
 * reversible), only its snapshotted files go.
 *
 * History: each commit's first parent is the step it was taken from (the last snapshot
 * or restore target), its second parent the previous tip, so every checkpoint stays
 * reachable from `refs/heads/main` and gc never drops a branch.
 *
 * One CheckpointStore per storeDir (per process); calls on it run one at a time.
 */

export interface CheckpointStoreOptions {
  /** The shadow repository (GIT_DIR). Created if missing or empty. Must be outside workDir. */
  storeDir: string;
  /** The directory whose files are checkpointed (GIT_WORK_TREE). Must exist. */
  workDir: string;
  /** Extra gitignore-style patterns, added to the built-in exclusions. */
  excludes?: string[];
  /** Files bigger than this are not checkpointed (default 10 MiB). */
  maxFileBytes?: number;
  /** Disk budget of the store (default 2 GiB): a snapshot that would go beyond it is refused. */
  budgetBytes?: number;
  /**
   * Fault injection for tests: called before each move of a restore's swap (see swapIn);
   * throwing there fails the restore at that point, as a real I/O error would.
   */
  faults?: { beforeSwapStep?(step: 'move-out' | 'move-in', path: string): void | Promise<void> };
}

/** A path a snapshot left out, and why (the checkpoint events' `skipped` entries). */
export type { SkippedFile };

export interface SnapshotResult {
  commit: string;
  /**
   * What this snapshot left out: over maxFileBytes and unreadable files first, then
   * excluded paths (ignored files, excluded folders as one entry each). At most
   * SKIPPED_LIST_MAX entries; skippedCount is the whole number.
   */
  skipped: SkippedFile[];
  skippedCount: number;
  /** False when the files are the same as at the step this one follows. */
  changed: boolean;
}

export interface CheckpointFile {
  /** Relative to workDir, '/'-separated. */
  path: string;
  size: number;
  /** Git blob id. */
  sha: string;
  /** Git mode: '100644' file, '100755' executable, '120000' symlink (content = target). */
  mode: string;
}

export interface CheckpointChange {
  path: string;
  status: 'added' | 'deleted' | 'modified' | 'typechange';
  before: CheckpointFile | null;
  after: CheckpointFile | null;
}

export interface CheckpointUsage {
  bytes: number;
  budgetBytes: number;
  overBudget: boolean;
}

/** Details of the DISK_FULL error of a snapshot refused for the budget. */
export interface OverBudgetDetails {
  reason: 'over-budget';
  /** Store size now. */
  bytes: number;
  budgetBytes: number;
  /** What the snapshot would have added (estimate). */
  addBytes: number;
  setting: 'checkpointBudgetBytes';
  skipped: SkippedFile[];
  skippedCount: number;
}

/** Prefix of restore's staging folder, at the top of workDir (excluded from snapshots). */
export const STAGE_PREFIX = '.apollo-restore-';
export const BUILTIN_EXCLUDES: readonly string[] = ['.git', 'node_modules', '__pycache__', '.cache', '.venv', '*.pyc', `/${STAGE_PREFIX}*`];
export const DEFAULT_MAX_FILE_BYTES = DEFAULT_CHECKPOINT_MAX_FILE_BYTES;
export const DEFAULT_BUDGET_BYTES = DEFAULT_CHECKPOINT_BUDGET_BYTES;
/** Most entries of a snapshot's skipped list (events stay small; the count is exact). */
export const SKIPPED_LIST_MAX = 50;

const EMPTY_BLOB = 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391';
export const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
export const ZERO_OID = '0000000000000000000000000000000000000000';
const TIP_REF = 'refs/heads/main';
const BASE_REF = 'refs/apollo/base';
/** Index-only marker that makes git walk into a nested repository as a plain directory. */
const NESTED_PLACEHOLDER = '.apollo-checkpoint-nested';
/** Background packing after this many snapshots (it used to be a synchronous `git gc --auto`). */
const MAINTAIN_EVERY = 50;
/** A background repack that takes longer is killed: it never holds the store for long. */
const MAINTENANCE_TIMEOUT_MS = 10 * 60_000;
/** Disk allocation unit assumed when estimating loose-object growth. */
const OBJECT_BLOCK = 4096;
const VERIFY_TIMEOUT_MS = 120_000;
const STALE_LOCKS = ['index.lock', 'HEAD.lock', 'config.lock', 'packed-refs.lock', `${TIP_REF}.lock`, `${BASE_REF}.lock`];

const COMMIT_RE = /^[0-9a-fA-F]{4,64}$/;

/** Restore's swap, step by step (paths raw), for undoing it. */
type Journal = Array<{ op: 'out' | 'in' | 'mkdir'; path: string } | { op: 'rmdir'; path: string; mode: number }>;

/** What a scan of workDir found (paths raw: latin1, one char per byte). */
export interface Scan {
  /** Anything listed by git (nothing listed: the index already matches workDir). */
  listed: boolean;
  /** Nested repositories (their folder, ending with '/'). */
  nested: string[];
  /** New or changed files and symlinks that staging hashes into the store. */
  fresh: Array<{ path: string; size: number; link?: boolean }>;
  /** Index entries whose file is gone. */
  gone: string[];
  tooBig: Array<{ path: string; size: number }>;
  unreadable: Array<{ path: string; size: number }>;
  /** Ignored and excluded paths (folders end with '/'); only when asked for. */
  excluded: string[];
  /** Upper bound of what staging adds to the store. */
  grownBytes: number;
}

export class CheckpointStore {
  /** Environment for commands that touch the work tree or the index. */
  private readonly env: NodeJS.ProcessEnv;
  /** Environment for object/ref-only commands: no work tree, so they work even if workDir is gone. */
  private readonly storeEnv: NodeJS.ProcessEnv;
  private tail: Promise<unknown> = Promise.resolve();
  /** Chronological tip (refs/heads/main). */
  private tip: string | null = null;
  /** The step the working directory is at: last snapshot or restore target. */
  private base: string | null = null;
  private baseTree: string | null = null;
  private snapshotsSinceMaintenance = 0;
  /** The background repack, while one runs. */
  private maintenance: Promise<void> | null = null;
  private maintenanceAbort: AbortController | null = null;
  private limits: CheckpointLimits;
  private readonly faults: CheckpointStoreOptions['faults'];
  /**
   * Upper-bound estimate of the store size: last measurement plus what was staged since.
   * Measuring (count-objects) costs a process per step, so it is done only when this
   * estimate plus the next snapshot's growth reaches the budget (or after packing, or
   * when usage() is asked).
   */
  private estimatedBytes: number | null = null;

  private constructor(
    readonly storeDir: string,
    readonly workDir: string,
    readonly excludes: readonly string[],
    limits: CheckpointLimits,
    ignoreCase: boolean,
    faults: CheckpointStoreOptions['faults'],
  ) {
    this.env = gitEnv(storeDir, workDir, ignoreCase);
    this.storeEnv = gitEnv(storeDir, null, ignoreCase);
    this.limits = limits;
    this.faults = faults;
  }

  get maxFileBytes(): number {
    return this.limits.maxFileBytes;
  }

  get budgetBytes(): number {
    return this.limits.budgetBytes;
  }

  static async open(opts: CheckpointStoreOptions): Promise<CheckpointStore> {
    if (!opts || typeof opts.storeDir !== 'string' || !opts.storeDir || typeof opts.workDir !== 'string' || !opts.workDir) {
      throw new ApolloError('BAD_REQUEST', 'CheckpointStore.open needs storeDir and workDir');
    }
    const limits = checkedLimits({ maxFileBytes: opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, budgetBytes: opts.budgetBytes ?? DEFAULT_BUDGET_BYTES });
    const excludes = (opts.excludes ?? []).map((p) => String(p).replace(/[\r\n]/g, '')).filter((p) => p.trim() !== '');

    let workDir: string;
    try {
      workDir = await realpath(resolve(opts.workDir));
      if (!(await stat(workDir)).isDirectory()) throw new ApolloError('BAD_REQUEST', `${opts.workDir} is not a directory`);
    } catch (e) {
      if (e instanceof ApolloError) throw e;
      throw new ApolloError('NOT_FOUND', `Working directory ${opts.workDir} does not exist`);
    }
    let storeDir: string;
    try {
      await mkdirPrivate(resolve(opts.storeDir));
      storeDir = await realpath(resolve(opts.storeDir));
      // Snapshots hold the working directory's files (.env files included): owner only.
      // git makes its objects 0444; a private store folder keeps everyone else out of them.
      await tightenDir(storeDir);
    } catch (e) {
      throw fsError(e, `Cannot create checkpoint store ${opts.storeDir}`);
    }
    const rel = relative(workDir, storeDir);
    if (rel === '') {
      throw new ApolloError('BAD_REQUEST', `Checkpoint store ${storeDir} cannot be the working directory itself`);
    }
    if (!rel.startsWith('..') && !isAbsolute(rel)) {
      // A workspace under the working directory (e.g. cwd = $HOME, data in
      // ~/.local/share) is common: the store then just leaves itself out.
      excludes.push(`/${rel.split(sep).join('/')}/`);
    }

    const ignoreCase = await probeIgnoreCase(storeDir);
    const store = new CheckpointStore(storeDir, workDir, excludes, limits, ignoreCase, opts.faults);
    await store.enqueue(() => store.init());
    return store;
  }

  /** Change the budget and the size limit (settings); they apply from the next snapshot on. */
  setLimits(limits: Partial<CheckpointLimits>): void {
    this.limits = checkedLimits({ ...this.limits, ...limits });
  }

  /** Resolves when no background packing is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.maintenance) await this.maintenance;
  }

  /**
   * Stop background packing (killed: a partial pack is never used) and wait for it, so
   * that the store's folder can be removed or the process can exit.
   */
  async close(): Promise<void> {
    this.maintenanceAbort?.abort();
    await this.idle();
  }

  /**
   * Commit the current state of workDir. Every call yields a new commit id, even when
   * nothing changed. Over budget it writes nothing and throws DISK_FULL with
   * OverBudgetDetails, quickly (no gc on this path).
   */
  snapshot(label: string): Promise<SnapshotResult> {
    return this.enqueue(async () => {
      await this.ensureWorkDir();
      const scan = await this.scan(true);
      const skipped = await this.describeSkipped(scan);
      const addBytes = await this.checkBudget(scan, skipped);
      const tree = await this.applyStage(scan);
      if (this.estimatedBytes !== null) this.estimatedBytes += addBytes + OBJECT_BLOCK;
      const changed = this.baseTree === null || tree !== this.baseTree;
      const message = String(label ?? '').replace(/\0/g, '') || 'checkpoint';
      const commit = await this.commitTree(tree, message);
      await this.updateRefs(commit, commit);
      this.base = commit;
      this.baseTree = tree;
      if (++this.snapshotsSinceMaintenance >= MAINTAIN_EVERY) {
        this.snapshotsSinceMaintenance = 0;
        this.startMaintenance();
      }
      return { commit, skipped: skipped.list, skippedCount: skipped.count, changed };
    });
  }

  /**
   * Make workDir's (non-excluded) files exactly those of `commit`: later files are
   * deleted, modified ones rewritten, deleted ones re-created. Excluded paths (.git,
   * node_modules, big files, ignored files) are never written or deleted. Unsnapshotted
   * changes are kept in a commit of their own first (reachable, not returned). Works
   * over budget (it is how one gets out of trouble). All or nothing: a restore that
   * fails leaves workDir exactly as it was, and says why.
   */
  restore(commit: string, onProgress?: (p: RestoreProgress) => void): Promise<void> {
    const say = onProgress ?? (() => undefined);
    return this.enqueue(async () => {
      await this.ensureWorkDir();
      const target = await this.resolveCommit(commit);
      const targetTree = (await this.git(['rev-parse', '--verify', `${target}^{tree}`])).stdout.toString().trim();
      say(RESTORE_STAGES.scan());
      const scan = await this.scan(false);
      say(RESTORE_STAGES.save());
      const curTree = await this.applyStage(scan);
      if (this.estimatedBytes !== null) this.estimatedBytes += scan.grownBytes + OBJECT_BLOCK;
      if (this.baseTree !== null && curTree !== this.baseTree) {
        const safety = await this.commitTree(curTree, `before restore to ${target.slice(0, 12)}`);
        await this.updateRefs(safety, null);
      }
      if (curTree !== targetTree) {
        const changes = parseRawDiff(
          (await this.git(['diff-tree', '-r', '-z', '--no-renames', '--raw', targetTree, curTree])).stdout,
          'latin1',
        );
        await this.swapIn(target, changes, say);
        // The files are in place. The index only caches what workDir holds (the next
        // stage recomputes whatever it gets wrong), so failing to update it is no failure.
        try {
          await this.git(['read-tree', '-m', targetTree], { tree: true });
          await this.git(['update-index', '-q', '--refresh'], { tree: true, ok: [0, 1] });
        } catch {
          // see above
        }
      }
      await this.updateRefs(null, target);
      this.base = target;
      this.baseTree = targetTree;
    });
  }

  /** The files of a snapshot, sorted by path. */
  files(commit: string): Promise<CheckpointFile[]> {
    return this.enqueue(async () => {
      const c = await this.resolveCommit(commit);
      return parseLsTree((await this.git(['ls-tree', '-r', '-z', '-l', '--full-tree', c])).stdout);
    });
  }

  /** What changed between two snapshots (`from` null = from nothing). */
  diff(from: string | null, to: string): Promise<CheckpointChange[]> {
    return this.enqueue(async () => {
      const toC = await this.resolveCommit(to);
      const fromC = from === null ? EMPTY_TREE : await this.resolveCommit(from);
      const raw = parseRawDiff(
        (await this.git(['diff-tree', '-r', '-z', '--no-renames', '--raw', fromC, toC])).stdout,
      );
      return changesOf(raw, await this.blobSizes(raw.flatMap((c) => [c.oldSha, c.newSha])));
    });
  }

  /** The bytes of one file in a snapshot (a symlink's content is its target). */
  readFile(commit: string, path: string): Promise<Buffer> {
    return this.enqueue(async () => {
      const rel = normalizeRelPath(path);
      const c = await this.resolveCommit(commit);
      const out = await this.git(['ls-tree', '-z', '-l', '--full-tree', c, '--', rel], { literal: true });
      const rec = splitZ(out.stdout)[0];
      if (rec === undefined) throw new ApolloError('NOT_FOUND', `No file ${rel} in checkpoint ${c.slice(0, 12)}`);
      const [, type, sha, size] = rec.slice(0, rec.indexOf('\t')).split(/ +/);
      if (type !== 'blob' || !sha) throw new ApolloError('BAD_REQUEST', `${rel} is a directory in checkpoint ${c.slice(0, 12)}`);
      const r = await this.git(['cat-file', 'blob', sha], { maxBytes: Number(size) + 1024 });
      return r.stdout;
    });
  }

  /** Disk used by the store (objects, packs, index). */
  usage(): Promise<CheckpointUsage> {
    return this.enqueue(async () => {
      const m = await this.measure();
      return { bytes: m.bytes, budgetBytes: this.budgetBytes, overBudget: m.bytes > this.budgetBytes };
    });
  }

  /** Bounded integrity check: refs resolve and every reachable object is present. Never throws. */
  verify(): Promise<{ ok: boolean; error?: string }> {
    return this.enqueue(async () => {
      try {
        await this.git(['fsck', '--connectivity-only', '--no-progress', '--no-dangling'], { timeoutMs: VERIFY_TIMEOUT_MS });
        if (this.tip !== null) await this.git(['rev-parse', '--verify', '--quiet', `${TIP_REF}^{commit}`]);
        return { ok: true };
      } catch (e) {
        return { ok: false, error: this.toApollo(e).message };
      }
    }).catch((e: unknown) => ({ ok: false, error: errorText(e) }));
  }

  // ---------------------------------------------------------------------------------------

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(async () => {
      try {
        return await fn();
      } catch (e) {
        throw this.toApollo(e);
      }
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async init(): Promise<void> {
    const d = this.storeDir;
    const has = (p: string): boolean => existsSync(join(d, p));
    if (!has('HEAD')) {
      if (has('objects') || has('refs') || has('config') || has('index')) {
        throw new ApolloError('IO', `Checkpoint store for ${this.workDir} is damaged: ${d}/HEAD is missing`);
      }
      if ((await readdir(d)).length > 0) {
        throw new ApolloError('BAD_REQUEST', `${d} is not empty and is not a checkpoint store`);
      }
      const env = { ...this.env };
      delete env.GIT_DIR;
      delete env.GIT_WORK_TREE;
      delete env.GIT_INDEX_FILE;
      await runGit(['init', '--quiet', '--bare', '--template=', `--initial-branch=main`, d], { cwd: d, env });
    }
    for (const lock of STALE_LOCKS) {
      // A lock left by a killed git; one process owns this store, so nobody holds it.
      await unlink(join(d, lock)).catch(() => undefined);
    }
    // A restore that completed but was killed while deleting what it replaced. (One
    // killed mid-swap leaves a folder without the suffix: it holds the files it had
    // moved aside, so it is left for the user; it is excluded from snapshots.)
    for (const name of await readdir(this.workDir).catch(() => [] as string[])) {
      if (name.startsWith(STAGE_PREFIX) && name.endsWith('.done')) await rm(join(this.workDir, name), { recursive: true, force: true }).catch(() => undefined);
    }
    await mkdir(join(d, 'info'), { recursive: true });
    const exclude = [
      '# Written by Apollo checkpoints on every open; edits are lost.',
      ...BUILTIN_EXCLUDES,
      ...(this.excludes.length > 0 ? ['# caller patterns', ...this.excludes] : []),
      '',
    ].join('\n');
    await writeFile(join(d, 'info', 'exclude'), exclude);
    // Highest-precedence attributes: store and restore bytes exactly, whatever the
    // work tree's .gitattributes say (no eol conversion, no filters, no ident).
    await writeFile(join(d, 'info', 'attributes'), '* -text -eol -filter -ident -working-tree-encoding\n');
    await writeFile(join(d, 'description'), `Apollo checkpoints of ${this.workDir}\n`);

    const refs = await this.git(['for-each-ref', '--format=%(refname) %(objectname) %(tree)', TIP_REF, BASE_REF]);
    for (const line of refs.stdout.toString('utf8').split('\n')) {
      const [name, oid, tree] = line.split(' ');
      if (name === TIP_REF && oid) this.tip = oid;
      if (name === BASE_REF && oid && tree) {
        this.base = oid;
        this.baseTree = tree;
      }
    }
    if (this.tip !== null && this.base === null) {
      this.base = this.tip;
      this.baseTree = (await this.git(['rev-parse', '--verify', `${this.tip}^{tree}`])).stdout.toString().trim();
    }
    // HEAD must be readable and point at our branch.
    await this.git(['symbolic-ref', 'HEAD', TIP_REF]);
  }

  /**
   * What staging would do, without writing anything to the store: the new and changed
   * files, those left out (too big, unreadable; and, with `listExcluded`, ignored and
   * excluded paths), and an upper bound of the growth.
   */
  private async scan(listExcluded: boolean): Promise<Scan> {
    // Paths inside scan/stage/restore are "raw" (latin1: one char per byte) so that names
    // that are not valid UTF-8 still round-trip exactly through fs calls and git's stdin.
    const [lsOut, ignoredOut] = await Promise.all([
      this.git(['ls-files', '-z', '--others', '--modified', '--exclude-standard'], { tree: true }),
      listExcluded ? this.git(['ls-files', '-z', '--others', '--ignored', '--exclude-standard', '--directory'], { tree: true }) : null,
    ]);
    const ls = splitZ(lsOut.stdout, 'latin1');
    const nested: string[] = [];
    const candidates = new Set<string>();
    for (const p of ls) {
      if (p.endsWith('/')) nested.push(p);
      else candidates.add(p);
    }
    const fresh: Scan['fresh'] = [];
    const gone: string[] = [];
    const tooBig: Scan['tooBig'] = [];
    const unreadable: Scan['unreadable'] = [];
    await mapLimit([...candidates], 64, async (p) => {
      const abs = this.abs(p);
      let st;
      try {
        st = await lstat(abs);
      } catch {
        gone.push(p); // deleted: git add -A records that (see applyStage)
        return;
      }
      if (st.isSymbolicLink()) {
        fresh.push({ path: p, size: st.size, link: true });
        return;
      }
      if (!st.isFile()) return;
      if (st.size > this.maxFileBytes) {
        tooBig.push({ path: p, size: st.size });
        return;
      }
      try {
        await access(abs, constants.R_OK);
      } catch {
        unreadable.push({ path: p, size: st.size });
        return;
      }
      fresh.push({ path: p, size: st.size });
    });
    const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    tooBig.sort(byPath);
    unreadable.sort(byPath);
    const listedIgnored = ignoredOut ? splitZ(ignoredOut.stdout, 'latin1').sort() : [];
    // git also lists a folder that holds only ignored entries before listing them: the
    // entries are what is left out, not the folder.
    const excluded = listedIgnored.filter((p, i) => !(p.endsWith('/') && listedIgnored[i + 1]?.startsWith(p)));
    return { listed: ls.length > 0, nested, fresh, gone, tooBig, unreadable, excluded, grownBytes: growthBound(fresh) };
  }

  /** The bounded skipped list of a scan (UTF-8 paths), with the whole count. */
  private async describeSkipped(scan: Scan): Promise<{ list: SkippedFile[]; count: number }> {
    const list: SkippedFile[] = [];
    const utf8 = (raw: string): string => Buffer.from(raw, 'latin1').toString('utf8');
    for (const f of scan.tooBig) if (list.length < SKIPPED_LIST_MAX) list.push({ path: utf8(f.path), bytes: f.size, reason: 'too-big' });
    for (const f of scan.unreadable) if (list.length < SKIPPED_LIST_MAX) list.push({ path: utf8(f.path), bytes: f.size, reason: 'unreadable' });
    const room = Math.max(0, SKIPPED_LIST_MAX - list.length);
    for (const p of scan.excluded.slice(0, room)) {
      if (p.endsWith('/')) {
        list.push({ path: utf8(p), reason: 'excluded' });
        continue;
      }
      const st = await lstat(this.abs(p)).catch(() => null);
      list.push({ path: utf8(p), ...(st ? { bytes: st.size } : {}), reason: 'excluded' });
    }
    return { list, count: scan.tooBig.length + scan.unreadable.length + scan.excluded.length };
  }

  /**
   * What this snapshot adds to the store; throws before anything is written when that
   * would take the store over budget. Cheap in the common case (the running estimate
   * is far from the budget); near it, one count-objects and, if still in doubt, a
   * hash of the new files without writing them.
   */
  private async checkBudget(scan: Scan, skipped: { list: SkippedFile[]; count: number }): Promise<number> {
    const budget = this.budgetBytes;
    let add = scan.grownBytes;
    if (this.estimatedBytes !== null && this.estimatedBytes + add <= budget) return add;
    const m = await this.measure();
    if (m.bytes + add <= budget) return add;
    // The upper bound says no: count only the blobs the store does not have yet.
    add = await this.newBlobBytes(scan);
    if (m.bytes + add <= budget) return add;
    // Packing loose objects may make room for a later step; never on this one's path.
    if (m.looseObjects > 0) this.startMaintenance();
    throw overBudgetError(m.bytes, budget, add, skipped);
  }

  /** Bytes the store grows by for the blobs of `scan` it does not hold yet (hashing, not writing). */
  private async newBlobBytes(scan: Scan): Promise<number> {
    // hash-object --stdin-paths reads one path per line (names with a newline stay
    // counted) and follows symlinks (a link's blob is its target's name: tiny, counted).
    const hashable = scan.fresh.filter((f) => !f.link && !f.path.includes('\n'));
    let add = treeBound(scan.fresh);
    for (const f of scan.fresh) if (f.link || f.path.includes('\n')) add += blobBound(f.size);
    if (hashable.length === 0) return add;
    let shas: string[];
    try {
      const out = await this.git(['hash-object', '--no-filters', '--stdin-paths'], {
        input: Buffer.from(hashable.map((f) => f.path).join('\n') + '\n', 'latin1'),
        tree: true,
      });
      shas = out.stdout.toString('utf8').split('\n').filter((l) => l !== '');
    } catch {
      return scan.grownBytes; // a file vanished or could not be read: keep the upper bound
    }
    if (shas.length !== hashable.length) return scan.grownBytes;
    const check = await this.git(['cat-file', '--batch-check=%(objectname)'], { input: shas.join('\n') + '\n' });
    const missing = new Set(
      check.stdout.toString('utf8').split('\n').filter((l) => l.endsWith(' missing')).map((l) => l.split(' ')[0]),
    );
    const counted = new Set<string>();
    hashable.forEach((f, i) => {
      const sha = shas[i] as string;
      if (missing.has(sha) && !counted.has(sha)) {
        counted.add(sha);
        add += blobBound(f.size);
      }
    });
    return add;
  }

  /**
   * Pack loose objects in the background (bounded by a timeout). `repack -d` without -a
   * only packs loose objects and then deletes loose copies that are packed, so it is
   * safe next to a running snapshot: nothing unpacked is ever pruned. (The old path ran
   * `git gc --prune=now` on the step's path, which held a rollout for minutes; run in
   * the background it could delete objects a concurrent `git add` had just written.)
   */
  private startMaintenance(): void {
    if (this.maintenance) return;
    const abort = new AbortController();
    this.maintenanceAbort = abort;
    this.maintenance = this.git(['repack', '-d', '-q'], { timeoutMs: MAINTENANCE_TIMEOUT_MS, signal: abort.signal })
      .then(
        () => undefined,
        () => undefined, // a failed or killed repack leaves the store as it was
      )
      .finally(() => {
        this.maintenance = null;
        this.maintenanceAbort = null;
        this.estimatedBytes = null;
      });
  }

  /** Bring the shadow index in line with workDir as scanned, and return its tree. */
  private async applyStage(scan: Scan): Promise<string> {
    const left = [...scan.tooBig, ...scan.unreadable].map((f) => f.path);
    // Gone files under a left-out path (a big file that replaced a folder) are dropped
    // here: `add -A` skips them, as the exclude pathspec of that path covers them.
    const under = left.length === 0 ? [] : scan.gone.filter((g) => left.some((p) => g.startsWith(`${p}/`)));
    // mode 0 drops an index entry; the placeholder makes git treat a nested repo as a dir.
    const indexInfo = [
      ...[...left, ...under].map((p) => `0 ${ZERO_OID}\t${p}`),
      ...scan.nested.map((dir) => `100644 ${EMPTY_BLOB}\t${dir}${NESTED_PLACEHOLDER}`),
    ];
    if (indexInfo.length > 0) {
      await this.git(['update-index', '-z', '--index-info'], { input: rawInput(indexInfo), tree: true });
    }
    if (scan.listed) {
      if (left.length === 0) {
        await this.git(['add', '-A'], { tree: true });
      } else {
        const specs = [':(top)', ...left.map((p) => `:(top,exclude,literal)${p}`)];
        await this.git(['add', '-A', '--pathspec-from-file=-', '--pathspec-file-nul'], { input: rawInput(specs), tree: true });
      }
    }
    return (await this.git(['write-tree'], { tree: true })).stdout.toString().trim();
  }

  /**
   * Put the files of `target` in place of the current ones, all or nothing.
   *
   * Why per-entry moves and not one directory swap: renaming workDir aside and a staged
   * copy in would change the folder's identity under anything that holds it (the app's
   * or CLI's own cwd, editors, watchers), fails outright when workDir is a mount point or
   * its parent is not writable, and would still have to carry the excluded content
   * (.git, node_modules, big files) across entry by entry. So:
   *  1. check: every file to write has a path of real folders (or of tracked entries that
   *     go first); folders that change are writable. Nothing is touched yet.
   *  2. stage: the target's files are written into a folder at the top of workDir (the
   *     same file system as its entries, so the moves below are renames; an entry on a
   *     mount inside workDir fails with EXDEV and is undone like any failure) and checked
   *     against the blob sizes and modes.
   *  3. swap: tracked entries that go are renamed into the staging folder, folders left
   *     empty are removed, staged files are renamed in; each step is journaled. Any
   *     failure undoes the journal in reverse, so workDir is left as it was.
   * Only a crash in the middle of step 3 can leave a mix; the staging folder then still
   * holds everything that was moved aside.
   */
  private async swapIn(target: string, changes: RawChange[], say: (p: RestoreProgress) => void): Promise<void> {
    const short = target.slice(0, 12);
    const out: string[] = [];
    const inn: Array<{ path: string; mode: string; sha: string }> = [];
    for (const c of changes) {
      if (c.status !== 'D') out.push(c.path); // present now (A, M, T)
      if (c.status !== 'A') inn.push({ path: c.path, mode: c.oldMode, sha: c.oldSha }); // in the checkpoint
    }
    await this.preflight(short, out, inn);

    const stageName = `${STAGE_PREFIX}${randomBytes(6).toString('hex')}`;
    const stageDir = join(this.workDir, stageName);
    try {
      await mkdir(join(stageDir, 'new'), { recursive: true });
      await mkdir(join(stageDir, 'old'));
    } catch (e) {
      await rm(stageDir, { recursive: true, force: true }).catch(() => undefined);
      throw restoreError(short, e, `cannot create a staging folder in ${this.workDir}`, []);
    }
    let keepStage = false;
    try {
      say(RESTORE_STAGES.write(inn.length));
      await this.materialize(short, stageDir, inn);
      const journal: Journal = [];
      try {
        await this.swap(stageDir, out, inn, journal, say);
      } catch (e) {
        const failures = await this.undo(stageDir, journal);
        keepStage = failures.length > 0;
        throw restoreError(short, e, null, failures, join(stageDir, 'old'));
      }
    } finally {
      if (!keepStage) {
        // Renamed first, so a kill while deleting leaves a folder that the next open removes.
        const done = `${stageDir}.done`;
        const gone = await rename(stageDir, done).then(() => done, () => stageDir);
        await rm(gone, { recursive: true, force: true }).catch(() => undefined);
      }
    }
  }

  /** Restore's step 1: refuse, touching nothing, what would fail halfway. */
  private async preflight(short: string, out: string[], inn: Array<{ path: string }>): Promise<void> {
    const leaving = new Set(out);
    const kinds = new Map<string, 'dir' | 'missing' | 'link' | 'file'>();
    const kindOf = async (rel: string): Promise<'dir' | 'missing' | 'link' | 'file'> => {
      let k = kinds.get(rel);
      if (k === undefined) {
        const st = await lstat(this.abs(rel)).catch(() => null);
        k = !st ? 'missing' : st.isSymbolicLink() ? 'link' : st.isDirectory() ? 'dir' : 'file';
        kinds.set(rel, k);
      }
      return k;
    };
    // Folders where entries are renamed, created or removed ('' = workDir itself).
    const changing = new Set<string>(['']);
    for (const p of out) changing.add(parentOf(p));
    const blocked = new Map<string, string[]>();
    for (const f of inn) {
      const parts = f.path.split('/');
      let deepest = '';
      for (let i = 1; i < parts.length; i++) {
        const a = parts.slice(0, i).join('/');
        const k = await kindOf(a);
        if (k === 'missing' || leaving.has(a)) break; // created anew below here
        if (k === 'dir') {
          deepest = a;
          continue;
        }
        const under = blocked.get(a) ?? [];
        under.push(f.path);
        blocked.set(a, under);
        break;
      }
      changing.add(deepest);
    }
    const first = [...blocked.entries()].sort(([a], [b]) => (a < b ? -1 : 1))[0];
    if (first) {
      const [raw, under] = first;
      const path = utf8(raw);
      const files = `${utf8(under[0] as string)}${under.length > 1 ? ` and ${under.length - 1} more` : ''}`;
      const rule = await this.ignoreRule(raw);
      const kind = kinds.get(raw);
      const why = rule
        ? rule.builtin
          ? `the checkpoint exclusions ("${rule.pattern}")`
          : `${rule.source}:${rule.line} ("${rule.pattern}")`
        : null;
      let lead: string;
      if (kind === 'link') {
        lead = rule && !rule.builtin
          ? `a .gitignore names a symlinked folder: "${path}" is a symbolic link that ${why} keeps out of checkpoints`
          : `"${path}" is a symbolic link that ${why ?? 'is not part of the checkpoints'}${why ? ' keep out of checkpoints' : ''}`;
      } else {
        const size = (await lstat(this.abs(raw)).catch(() => null))?.size ?? 0;
        const left = size > this.maxFileBytes ? `over the ${formatByteSize(this.maxFileBytes)} file size limit` : 'unreadable';
        lead = `"${path}" is a file kept out of checkpoints (${why ?? left})`;
      }
      throw new ApolloError(
        'CONFLICT',
        `${lead}, and checkpoint ${short} has files under it (${files}). Restoring them would write ${kind === 'link' ? 'through the link' : 'over it'}, ` +
          `so nothing was changed: move or remove "${path}"${rule && !rule.builtin ? ' (or stop ignoring it)' : ''} and try again.`,
        { cause: 'blocked', path, files: under.slice(0, 20).map(utf8) },
      );
    }
    for (const d of changing) {
      try {
        await access(this.abs(d), constants.W_OK | constants.X_OK);
      } catch (e) {
        throw restoreError(short, e, `no permission to change the folder "${d === '' ? '.' : utf8(d)}" of the working directory`, []);
      }
    }
  }

  /** The exclusion rule that matches a raw path, if any (for error messages). */
  private async ignoreRule(raw: string): Promise<{ source: string; line: string; pattern: string; builtin: boolean } | null> {
    try {
      const r = await this.git(['check-ignore', '-v', '-z', '--no-index', '--stdin'], { input: rawInput([raw]), tree: true, ok: [0, 1] });
      const [source, line, pattern] = splitZ(r.stdout);
      if (!source || !pattern) return null;
      const builtin = resolve(this.workDir, source) === join(this.storeDir, 'info', 'exclude');
      return { source, line: line ?? '', pattern, builtin };
    } catch {
      return null;
    }
  }

  /** Restore's step 2: write the target's files into `stageDir/new` and check them. */
  private async materialize(short: string, stageDir: string, inn: Array<{ path: string; mode: string; sha: string }>): Promise<void> {
    if (inn.length === 0) return;
    // A private index holding only the files to write; the store's own index is untouched.
    const env = { ...this.env, GIT_INDEX_FILE: join(stageDir, 'index') };
    const run = (args: string[], input?: Buffer): Promise<GitResult> => runGit(args, { cwd: this.workDir, env, input });
    await run(['update-index', '-z', '--index-info'], rawInput(inn.map((f) => `${f.mode} ${f.sha}\t${f.path}`)));
    await run(['checkout-index', '-a', '-q', `--prefix=${join(stageDir, 'new')}${sep}`]);
    const sizes = await this.blobSizes(inn.map((f) => f.sha));
    await mapLimit(inn, 64, async (f) => {
      const st = await lstat(this.inStage(stageDir, 'new', f.path)).catch(() => null);
      const want = sizes.get(f.sha);
      const ok =
        st !== null &&
        (f.mode === '120000' ? st.isSymbolicLink() : st.isFile() && ((st.mode & 0o100) !== 0) === (f.mode === '100755')) &&
        (want === undefined || st.size === want);
      if (!ok) {
        throw new ApolloError('IO', `restore to checkpoint ${short} stopped before changing anything: ${utf8(f.path)} could not be written out in full from the store (nothing was changed).`);
      }
    });
  }

  /** Restore's step 3, each step journaled in `j` (the caller undoes it on failure). */
  private async swap(stageDir: string, out: string[], inn: Array<{ path: string }>, j: Journal, say: (p: RestoreProgress) => void): Promise<void> {
    const total = out.length + inn.length;
    let done = 0;
    let said = 0;
    // Counted per move, said at most every 1/100 of them (a folder of 100,000 files is as many renames).
    const moved = (): void => {
      done++;
      if (done === total || done - said >= Math.ceil(total / 100)) {
        said = done;
        say(RESTORE_STAGES.swap(inn.length, out.length, done));
      }
    };
    say(RESTORE_STAGES.swap(inn.length, out.length, 0));
    for (const p of out) {
      await mkdir(this.inStage(stageDir, 'old', parentOf(p)), { recursive: true });
      try {
        await this.faults?.beforeSwapStep?.('move-out', utf8(p));
        await rename(this.abs(p), this.inStage(stageDir, 'old', p));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
          moved(); // gone since the scan
          continue;
        }
        throw pathError(e, 'move aside', p);
      }
      j.push({ op: 'out', path: p });
      moved();
    }
    // Folders the moves left empty, deepest first; one that still holds anything stays.
    const dirs = new Set<string>();
    for (const p of out) for (let d = parentOf(p); d !== ''; d = parentOf(d)) dirs.add(d);
    for (const d of [...dirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
      try {
        const { mode } = await lstat(this.abs(d));
        await rmdir(this.abs(d));
        j.push({ op: 'rmdir', path: d, mode });
      } catch {
        // not empty (or not ours to remove): it stays
      }
    }
    const known = new Set<string>();
    for (const f of inn) {
      // Something there now is excluded (a big file, an ignored folder): never overwritten.
      if (await lstat(this.abs(f.path)).then(() => true, () => false)) {
        moved();
        continue;
      }
      const parts = f.path.split('/');
      for (let i = 1; i < parts.length; i++) {
        const a = parts.slice(0, i).join('/');
        if (known.has(a)) continue;
        try {
          await mkdir(this.abs(a));
          j.push({ op: 'mkdir', path: a });
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw pathError(e, 'create the folder', a);
          if (!(await lstat(this.abs(a))).isDirectory()) throw pathError(new Error('it is not a folder'), 'write into', a);
        }
        known.add(a);
      }
      try {
        await this.faults?.beforeSwapStep?.('move-in', utf8(f.path));
        await rename(this.inStage(stageDir, 'new', f.path), this.abs(f.path));
      } catch (e) {
        throw pathError(e, 'put in place', f.path);
      }
      j.push({ op: 'in', path: f.path });
      moved();
    }
  }

  /** Undo a journal in reverse; returns what could not be undone. */
  private async undo(stageDir: string, journal: Journal): Promise<string[]> {
    const failures: string[] = [];
    for (const u of [...journal].reverse()) {
      try {
        if (u.op === 'in') await rename(this.abs(u.path), this.inStage(stageDir, 'new', u.path));
        else if (u.op === 'mkdir') await rmdir(this.abs(u.path));
        else if (u.op === 'rmdir') {
          await mkdir(this.abs(u.path));
          await chmod(this.abs(u.path), u.mode & 0o7777);
        } else await rename(this.inStage(stageDir, 'old', u.path), this.abs(u.path));
      } catch (e) {
        failures.push(`${utf8(u.path)}: ${(e as Error).message}`);
      }
    }
    return failures;
  }

  /** Sizes of blobs by id (unknown ids left out). */
  private async blobSizes(ids: string[]): Promise<Map<string, number>> {
    const shas = [...new Set(ids.filter((s) => s !== ZERO_OID))];
    const sizes = new Map<string, number>();
    if (shas.length === 0) return sizes;
    const out = await this.git(['cat-file', '--batch-check=%(objectname) %(objectsize)'], { input: shas.join('\n') + '\n' });
    for (const line of out.stdout.toString('utf8').split('\n')) {
      const [sha, size] = line.split(' ');
      if (sha && size && /^\d+$/.test(size)) sizes.set(sha, Number(size));
    }
    return sizes;
  }

  private async commitTree(tree: string, message: string): Promise<string> {
    const parents: string[] = [];
    if (this.base !== null) parents.push('-p', this.base);
    if (this.tip !== null && this.tip !== this.base) parents.push('-p', this.tip);
    return (await this.git(['commit-tree', tree, ...parents, '-m', message])).stdout.toString().trim();
  }

  /** Move the tip and/or the base ref in one transaction (the tip only forward from what we know). */
  private async updateRefs(tip: string | null, base: string | null): Promise<void> {
    const lines: string[] = [];
    if (tip !== null) lines.push(`update ${TIP_REF} ${tip} ${this.tip ?? ZERO_OID}`);
    if (base !== null) lines.push(`update ${BASE_REF} ${base}`);
    if (lines.length === 0) return;
    await this.git(['update-ref', '--stdin'], { input: lines.join('\n') + '\n' });
    if (tip !== null) this.tip = tip;
  }

  /** Absolute path (as bytes) of a raw relative path ('' = workDir). */
  private abs(raw: string): Buffer {
    return raw === '' ? Buffer.from(this.workDir) : Buffer.concat([Buffer.from(this.workDir + sep), Buffer.from(raw, 'latin1')]);
  }

  /** Absolute path (as bytes) of a raw relative path inside restore's staging folder. */
  private inStage(stageDir: string, side: 'new' | 'old', raw: string): Buffer {
    const base = join(stageDir, side);
    return raw === '' ? Buffer.from(base) : Buffer.concat([Buffer.from(base + sep), Buffer.from(raw, 'latin1')]);
  }

  /** A full commit id for a (possibly abbreviated) checkpoint id. */
  private async resolveCommit(id: string): Promise<string> {
    if (typeof id !== 'string' || !COMMIT_RE.test(id)) {
      throw new ApolloError('BAD_REQUEST', `Not a checkpoint id: ${JSON.stringify(id)}`);
    }
    const out = await this.git(['cat-file', '--batch-check=%(objectname) %(objecttype)'], { input: `${id}^{commit}\n` });
    const [sha, type] = out.stdout.toString('utf8').trim().split(' ');
    if (type === 'ambiguous') throw new ApolloError('BAD_REQUEST', `Checkpoint id ${id} is ambiguous`);
    if (type !== 'commit' || !sha) throw new ApolloError('NOT_FOUND', `No checkpoint ${id} in the store for ${this.workDir}`);
    return sha;
  }

  /** Store size (objects, packs, index) and the number of loose objects; refreshes the estimate. */
  private async measure(): Promise<{ bytes: number; looseObjects: number }> {
    const out = (await this.git(['count-objects', '-v'])).stdout.toString('utf8');
    let kib = 0;
    let looseObjects = 0;
    for (const line of out.split('\n')) {
      const m = /^(count|size|size-pack|size-garbage): (\d+)$/.exec(line.trim());
      if (!m?.[2]) continue;
      if (m[1] === 'count') looseObjects = Number(m[2]);
      else kib += Number(m[2]);
    }
    let bytes = kib * 1024;
    try {
      bytes += (await stat(join(this.storeDir, 'index'))).size;
    } catch {
      // no index yet
    }
    this.estimatedBytes = bytes;
    return { bytes, looseObjects };
  }

  private async ensureWorkDir(): Promise<void> {
    try {
      if ((await stat(this.workDir)).isDirectory()) return;
    } catch {
      // fall through
    }
    throw new ApolloError('NOT_FOUND', `Working directory ${this.workDir} no longer exists`);
  }

  /** Runs git against this store; `tree` for commands that need the work tree (cwd = workDir). */
  private git(
    args: string[],
    o: { input?: string | Buffer; ok?: number[]; timeoutMs?: number; maxBytes?: number; literal?: boolean; tree?: boolean; signal?: AbortSignal } = {},
  ): Promise<GitResult> {
    let env = o.tree ? this.env : this.storeEnv;
    if (o.literal) env = { ...env, GIT_LITERAL_PATHSPECS: '1' };
    const cwd = o.tree ? this.workDir : this.storeDir;
    return runGit(args, { cwd, env, input: o.input, ok: o.ok, timeoutMs: o.timeoutMs, maxBytes: o.maxBytes, signal: o.signal });
  }

  private toApollo(e: unknown): ApolloError {
    if (e instanceof ApolloError) return e;
    const where = `Checkpoint store for ${this.workDir}`;
    if (e instanceof GitFailure) {
      if (e.reason === 'spawn') {
        if (e.spawnError?.code === 'ENOENT' && !existsSync(this.storeDir)) {
          return new ApolloError('IO', `${where} is damaged: ${this.storeDir} no longer exists`);
        }
        if (e.spawnError?.code === 'ENOENT' && !existsSync(this.workDir)) {
          return new ApolloError('NOT_FOUND', `Working directory ${this.workDir} no longer exists`);
        }
        if (e.spawnError?.code === 'ENOENT') return new ApolloError('UNAVAILABLE', 'git is not installed or not on PATH');
        return new ApolloError('IO', `${where}: could not run git: ${e.spawnError?.message ?? 'spawn failed'}`);
      }
      if (e.reason === 'timeout') return new ApolloError('IO', `${where}: git ${e.args[0] ?? ''} timed out`);
      if (e.reason === 'aborted') return new ApolloError('CANCELLED', `${where}: git ${e.args[0] ?? ''} was stopped`);
      if (e.reason === 'overflow') return new ApolloError('IO', `${where}: git ${e.args[0] ?? ''} produced too much output`);
      const msg = firstLines(e.stderr) || `git ${e.args[0] ?? ''} exited with ${e.exitCode}`;
      if (/No space left on device|Disk quota exceeded|ENOSPC/i.test(e.stderr)) {
        return new ApolloError('DISK_FULL', `${where}: the disk is full: ${msg}`);
      }
      if (/\.lock'?: File exists/i.test(e.stderr)) {
        return new ApolloError('CONFLICT', `${where} is locked by another git process: ${msg}`);
      }
      if (/Permission denied|unable to index file|short read/i.test(e.stderr)) {
        return new ApolloError('IO', `${where}: a file could not be read or written: ${msg}`);
      }
      return new ApolloError('IO', `${where} is damaged: ${msg}`, { git: e.args.slice(0, 2), exitCode: e.exitCode });
    }
    return fsError(e, where);
  }
}

/** Upper bound of the loose objects for some files: each compressed at worst a little over its size, in whole blocks. */
export function growthBound(files: ReadonlyArray<{ path: string; size: number }>): number {
  let n = 0;
  for (const f of files) n += blobBound(f.size);
  return n + treeBound(files);
}

export function blobBound(size: number): number {
  return Math.ceil((size + Math.ceil(size / 1000) + 64) / OBJECT_BLOCK) * OBJECT_BLOCK;
}

/** One new tree object per folder above a changed file (and the root). */
export function treeBound(files: ReadonlyArray<{ path: string }>): number {
  if (files.length === 0) return 0;
  const dirs = new Set<string>(['']);
  for (const f of files) for (let d = parentOf(f.path); d !== ''; d = parentOf(d)) dirs.add(d);
  return dirs.size * OBJECT_BLOCK;
}

function parentOf(raw: string): string {
  const d = posix.dirname(raw);
  return d === '.' || d === '/' ? '' : d;
}

function utf8(raw: string): string {
  return Buffer.from(raw, 'latin1').toString('utf8');
}

function checkedLimits(l: CheckpointLimits): CheckpointLimits {
  if (!(l.maxFileBytes > 0) || !(l.budgetBytes > 0)) {
    throw new ApolloError('BAD_REQUEST', 'maxFileBytes and budgetBytes must be positive numbers');
  }
  return { maxFileBytes: l.maxFileBytes, budgetBytes: l.budgetBytes };
}

/** An fs error of the swap, saying what was being done to which path (code kept). */
function pathError(e: unknown, what: string, raw: string): Error {
  const err = e as NodeJS.ErrnoException;
  const out = new Error(`could not ${what} "${utf8(raw)}": ${err?.code ? `${err.code}: ` : ''}${(err?.message ?? String(e)).replace(/^[A-Z]+: /, '')}`) as NodeJS.ErrnoException;
  if (err?.code) out.code = err.code;
  return out;
}

/**
 * The error of a restore that did not happen. `what` replaces the cause's own wording
 * when given; `undoFailures` (with the folder holding what was moved aside) when the
 * swap could not be fully undone.
 */
function restoreError(short: string, cause: unknown, what: string | null, undoFailures: string[], keptIn?: string): ApolloError {
  const err = cause as NodeJS.ErrnoException;
  const reason = what ? `${what}: ${err?.message ?? String(cause)}` : (err?.message ?? String(cause));
  const code = err?.code === 'ENOSPC' || err?.code === 'EDQUOT' ? 'DISK_FULL' : 'IO';
  const hint = err?.code === 'EXDEV' ? ' (the path is on another file system: a mount point inside the working directory cannot be restored)' : '';
  if (undoFailures.length === 0) {
    return new ApolloError(code, `restore to checkpoint ${short} failed, and the working directory was left exactly as it was: ${reason}${hint}`, {
      cause: 'restore-failed', errno: err?.code,
    });
  }
  return new ApolloError(
    code,
    `restore to checkpoint ${short} failed (${reason}${hint}) and could not be fully undone (${undoFailures.slice(0, 3).join('; ')}` +
      `${undoFailures.length > 3 ? `; ${undoFailures.length - 3} more` : ''}); the files it had moved aside are kept in ${keptIn ?? 'the staging folder'}.`,
    { cause: 'restore-incomplete', errno: err?.code, keptIn },
  );
}

/**
 * The configuration every shadow-repository git call runs with (also the stores kept
 * inside remote environments, env/remote-checkpoints.ts, whose null device is given).
 */
export function shadowGitConfig(withWorkTree: boolean, ignoreCase: boolean, nullDevice: string = devNull, win32 = process.platform === 'win32'): Array<[string, string]> {
  const config: Array<[string, string]> = [
    ['core.bare', withWorkTree ? 'false' : 'true'],
    ['core.hooksPath', nullDevice],
    ['core.fsmonitor', 'false'],
    ['core.autocrlf', 'false'],
    ['core.safecrlf', 'false'],
    ['core.eol', 'lf'],
    ['core.excludesFile', nullDevice],
    ['core.attributesFile', nullDevice],
    ['core.logAllRefUpdates', 'false'],
    ['core.quotePath', 'false'],
    ['core.fileMode', 'true'],
    ['core.ignoreCase', ignoreCase ? 'true' : 'false'],
    ['core.sparseCheckout', 'false'],
    ['commit.gpgSign', 'false'],
    ['tag.gpgSign', 'false'],
    ['gc.autoDetach', 'false'],
    ['maintenance.auto', 'false'],
    ['submodule.recurse', 'false'],
    ['advice.addEmbeddedRepo', 'false'],
    ['user.name', 'Apollo Checkpoints'],
    ['user.email', 'checkpoints@apollo.invalid'],
  ];
  if (!win32) config.push(['core.protectNTFS', 'false']);
  return config;
}

function gitEnv(storeDir: string, workDir: string | null, ignoreCase: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('GIT_')) env[k] = v;
  }
  const config = shadowGitConfig(workDir !== null, ignoreCase);
  Object.assign(env, {
    GIT_DIR: storeDir,
    GIT_INDEX_FILE: join(storeDir, 'index'),
    GIT_CONFIG_GLOBAL: devNull,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_NO_REPLACE_OBJECTS: '1',
    GIT_AUTHOR_NAME: 'Apollo Checkpoints',
    GIT_AUTHOR_EMAIL: 'checkpoints@apollo.invalid',
    GIT_COMMITTER_NAME: 'Apollo Checkpoints',
    GIT_COMMITTER_EMAIL: 'checkpoints@apollo.invalid',
    LC_ALL: 'C',
    GIT_CONFIG_COUNT: String(config.length),
  });
  if (workDir !== null) env.GIT_WORK_TREE = workDir;
  config.forEach(([k, v], i) => {
    env[`GIT_CONFIG_KEY_${i}`] = k;
    env[`GIT_CONFIG_VALUE_${i}`] = v;
  });
  return env;
}

/** Case-insensitive file systems (macOS, Windows) need core.ignoreCase; probe next to the store. */
async function probeIgnoreCase(storeDir: string): Promise<boolean> {
  if (process.platform !== 'darwin' && process.platform !== 'win32') return false;
  const probe = join(storeDir, '.apollo-case-probe');
  try {
    await writeFile(probe, '');
    return existsSync(join(storeDir, '.APOLLO-CASE-PROBE'));
  } catch {
    return true;
  } finally {
    await unlink(probe).catch(() => undefined);
  }
}

export interface RawChange {
  oldMode: string;
  newMode: string;
  oldSha: string;
  newSha: string;
  status: string;
  path: string;
}

/** Parses `git diff-tree -r -z --raw --no-renames`: ":om nm os ns S\0path\0"... */
/** A snapshot refused for its size (local and remote stores say it alike). */
export function overBudgetError(used: number, budget: number, add: number, skipped: { list: SkippedFile[]; count: number }): ApolloError {
  const details: OverBudgetDetails = {
    reason: 'over-budget', bytes: used, budgetBytes: budget, addBytes: add, setting: 'checkpointBudgetBytes',
    skipped: skipped.list, skippedCount: skipped.count,
  };
  return new ApolloError(
    'DISK_FULL',
    `not checkpointed: over budget (${formatByteSize(used)} of ${formatByteSize(budget)} used; this step would add about ${formatByteSize(add)}). ` +
      `Raise the checkpoint budget (${CHECKPOINT_SETTING_HELP.budgetBytes}), leave big files out with a lower file size limit ` +
      `(${CHECKPOINT_SETTING_HELP.maxFileBytes}), or remove old sessions.`,
    details,
  );
}

/** `git diff-tree --raw` changes with their blob sizes, as the Files view shows them. */
export function changesOf(raw: RawChange[], sizes: Map<string, number>): CheckpointChange[] {
  const side = (path: string, mode: string, sha: string): CheckpointFile | null => (sha === ZERO_OID ? null : { path, mode, sha, size: sizes.get(sha) ?? 0 });
  return raw.map((c) => ({
    path: c.path,
    status: c.status === 'A' ? 'added' : c.status === 'D' ? 'deleted' : c.status === 'T' ? 'typechange' : 'modified',
    before: side(c.path, c.oldMode, c.oldSha),
    after: side(c.path, c.newMode, c.newSha),
  }));
}

/** The files of `git ls-tree -r -z -l` output (local and remote stores read it alike). */
export function parseLsTree(buf: Buffer): CheckpointFile[] {
  const files: CheckpointFile[] = [];
  for (const rec of splitZ(buf)) {
    const tab = rec.indexOf('\t');
    const [mode, type, sha, size] = rec.slice(0, tab).split(/ +/);
    if (type !== 'blob' || !mode || !sha) continue;
    files.push({ path: rec.slice(tab + 1), size: Number(size), sha, mode });
  }
  return files;
}

export function parseRawDiff(buf: Buffer, encoding: 'utf8' | 'latin1' = 'utf8'): RawChange[] {
  const parts = splitZ(buf, encoding);
  const out: RawChange[] = [];
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const meta = parts[i] ?? '';
    const path = parts[i + 1] ?? '';
    const [oldMode, newMode, oldSha, newSha, status] = meta.replace(/^:/, '').split(' ');
    if (!oldMode || !newMode || !oldSha || !newSha || !status) continue;
    // Gitlinks are never created by this store; ignore any that a foreign tool left.
    if (oldMode === '160000' || newMode === '160000') continue;
    out.push({ oldMode, newMode, oldSha, newSha, status: status.charAt(0), path });
  }
  return out;
}

/** NUL-terminated stdin for git -z, from raw (latin1) strings. */
function rawInput(records: readonly string[]): Buffer {
  return Buffer.from(records.join('\0') + '\0', 'latin1');
}

export function normalizeRelPath(p: string): string {
  if (typeof p !== 'string' || p === '' || p.includes('\0')) throw new ApolloError('BAD_REQUEST', 'A file path is required');
  const slashed = sep === '\\' ? p.replace(/\\/g, '/') : p;
  if (slashed.startsWith('/') || /^[A-Za-z]:/.test(slashed)) {
    throw new ApolloError('BAD_REQUEST', `Path must be relative to the working directory: ${p}`);
  }
  const norm = posix.normalize(slashed).replace(/\/+$/, '');
  if (norm === '.' || norm === '..' || norm.startsWith('../')) {
    throw new ApolloError('BAD_REQUEST', `Path must stay inside the working directory: ${p}`);
  }
  return norm;
}

function fsError(e: unknown, where: string): ApolloError {
  if (e instanceof ApolloError) return e;
  const err = e as NodeJS.ErrnoException;
  const msg = err?.message ?? String(e);
  if (err?.code === 'ENOSPC' || err?.code === 'EDQUOT') return new ApolloError('DISK_FULL', `${where}: the disk is full: ${msg}`);
  if (err?.code) return new ApolloError('IO', `${where}: ${msg}`);
  return new ApolloError('INTERNAL', `${where}: ${msg}`);
}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
