import { existsSync } from 'node:fs';
import { access, constants, lstat, mkdir, readdir, realpath, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { devNull } from 'node:os';
import { isAbsolute, join, posix, relative, resolve, sep } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import { GitFailure, firstLines, runGit, splitZ, type GitResult } from './git-runner';
import { mkdirPrivate, tightenDir } from '../store/private-files';

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
 * unreadable files (both reported as `skipped`). Nested git repositories are recorded
 * as plain files (their `.git` is left out), never as submodules.
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
  /** Disk budget of the store (default 2 GiB); snapshot refuses with DISK_FULL beyond it. */
  budgetBytes?: number;
}

export interface SnapshotResult {
  commit: string;
  /** Paths (relative, '/'-separated) left out of this snapshot: over maxFileBytes or unreadable. */
  skipped: string[];
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

export const BUILTIN_EXCLUDES: readonly string[] = ['.git', 'node_modules', '__pycache__', '.cache', '.venv', '*.pyc'];
export const DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024;
export const DEFAULT_BUDGET_BYTES = 2 * 1024 * 1024 * 1024;

const EMPTY_BLOB = 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391';
const EMPTY_TREE = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';
const ZERO_OID = '0000000000000000000000000000000000000000';
const TIP_REF = 'refs/heads/main';
const BASE_REF = 'refs/apollo/base';
/** Index-only marker that makes git walk into a nested repository as a plain directory. */
const NESTED_PLACEHOLDER = '.apollo-checkpoint-nested';
const AUTO_GC_EVERY = 50;
/** Disk allocation unit assumed when estimating loose-object growth. */
const OBJECT_BLOCK = 4096;
const VERIFY_TIMEOUT_MS = 120_000;
const STALE_LOCKS = ['index.lock', 'HEAD.lock', 'config.lock', 'packed-refs.lock', `${TIP_REF}.lock`, `${BASE_REF}.lock`];

const COMMIT_RE = /^[0-9a-fA-F]{4,64}$/;

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
  private snapshotsSinceGc = 0;
  /** Store size right after a gc that did not bring it under budget. */
  private futileGcBytes: number | null = null;
  /**
   * Upper-bound estimate of the store size: last measurement plus what was staged since.
   * Measuring (count-objects) costs a process per step, so it is done only when this
   * estimate reaches the budget (or after gc, or when usage() is asked).
   */
  private estimatedBytes: number | null = null;

  private constructor(
    readonly storeDir: string,
    readonly workDir: string,
    readonly excludes: readonly string[],
    readonly maxFileBytes: number,
    readonly budgetBytes: number,
    ignoreCase: boolean,
  ) {
    this.env = gitEnv(storeDir, workDir, ignoreCase);
    this.storeEnv = gitEnv(storeDir, null, ignoreCase);
  }

  static async open(opts: CheckpointStoreOptions): Promise<CheckpointStore> {
    if (!opts || typeof opts.storeDir !== 'string' || !opts.storeDir || typeof opts.workDir !== 'string' || !opts.workDir) {
      throw new ApolloError('BAD_REQUEST', 'CheckpointStore.open needs storeDir and workDir');
    }
    const maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    const budgetBytes = opts.budgetBytes ?? DEFAULT_BUDGET_BYTES;
    if (!(maxFileBytes > 0) || !(budgetBytes > 0)) {
      throw new ApolloError('BAD_REQUEST', 'maxFileBytes and budgetBytes must be positive numbers');
    }
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
    const store = new CheckpointStore(storeDir, workDir, excludes, maxFileBytes, budgetBytes, ignoreCase);
    await store.enqueue(() => store.init());
    return store;
  }

  /** Commit the current state of workDir. Every call yields a new commit id, even when nothing changed. */
  snapshot(label: string): Promise<SnapshotResult> {
    return this.enqueue(async () => {
      await this.ensureWorkDir();
      await this.enforceBudget();
      const { tree, skipped, grownBytes } = await this.stage();
      if (this.estimatedBytes !== null) this.estimatedBytes += grownBytes + OBJECT_BLOCK;
      const changed = this.baseTree === null || tree !== this.baseTree;
      const message = String(label ?? '').replace(/\0/g, '') || 'checkpoint';
      const commit = await this.commitTree(tree, message);
      await this.updateRefs(commit, commit);
      this.base = commit;
      this.baseTree = tree;
      if (++this.snapshotsSinceGc >= AUTO_GC_EVERY) {
        this.snapshotsSinceGc = 0;
        await this.git(['gc', '--auto', '--quiet'], { timeoutMs: 600_000 });
        this.estimatedBytes = null;
      }
      return { commit, skipped, changed };
    });
  }

  /**
   * Make workDir's (non-excluded) files exactly those of `commit`: later files are
   * deleted, modified ones rewritten, deleted ones re-created. Excluded paths (.git,
   * node_modules, big files, ignored files) are never written or deleted. Unsnapshotted
   * changes are kept in a commit of their own first (reachable, not returned).
   */
  restore(commit: string): Promise<void> {
    return this.enqueue(async () => {
      await this.ensureWorkDir();
      const target = await this.resolveCommit(commit);
      const targetTree = (await this.git(['rev-parse', '--verify', `${target}^{tree}`])).stdout.toString().trim();
      const { tree: curTree, grownBytes } = await this.stage();
      if (this.estimatedBytes !== null) this.estimatedBytes += grownBytes + OBJECT_BLOCK;
      if (this.baseTree !== null && curTree !== this.baseTree) {
        const safety = await this.commitTree(curTree, `before restore to ${target.slice(0, 12)}`);
        await this.updateRefs(safety, null);
      }
      if (curTree !== targetTree) {
        const changes = parseRawDiff(
          (await this.git(['diff-tree', '-r', '-z', '--no-renames', '--raw', targetTree, curTree])).stdout,
          'latin1',
        );
        // Index := target, keeping stat data of entries that did not change.
        await this.git(['read-tree', '-m', targetTree], { tree: true });
        const remove: string[] = [];
        const write: string[] = [];
        for (const c of changes) {
          if (c.status === 'A') remove.push(c.path);
          else if (c.status === 'D') write.push(c.path);
          else {
            remove.push(c.path);
            write.push(c.path);
          }
        }
        await this.removeFiles(remove);
        if (write.length > 0) {
          // No -f: an existing file (excluded, over the size limit) is never overwritten.
          const r = await this.git(['checkout-index', '-u', '-q', '-z', '--stdin'], {
            input: rawInput(write),
            ok: [0, 1],
            tree: true,
          });
          if (r.code !== 0 && firstLines(r.stderr) !== '') throw new GitFailure(['checkout-index'], r.code, r.stderr);
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
      const out = await this.git(['ls-tree', '-r', '-z', '-l', '--full-tree', c]);
      const files: CheckpointFile[] = [];
      for (const rec of splitZ(out.stdout)) {
        const tab = rec.indexOf('\t');
        const [mode, type, sha, size] = rec.slice(0, tab).split(/ +/);
        if (type !== 'blob' || !mode || !sha) continue;
        files.push({ path: rec.slice(tab + 1), size: Number(size), sha, mode });
      }
      return files;
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
      const shas = [...new Set(raw.flatMap((c) => [c.oldSha, c.newSha]).filter((s) => s !== ZERO_OID))];
      const sizes = new Map<string, number>();
      if (shas.length > 0) {
        const out = await this.git(['cat-file', '--batch-check=%(objectname) %(objectsize)'], { input: shas.join('\n') + '\n' });
        for (const line of out.stdout.toString('utf8').split('\n')) {
          const [sha, size] = line.split(' ');
          if (sha && size && /^\d+$/.test(size)) sizes.set(sha, Number(size));
        }
      }
      const side = (path: string, mode: string, sha: string): CheckpointFile | null =>
        sha === ZERO_OID ? null : { path, mode, sha, size: sizes.get(sha) ?? 0 };
      return raw.map((c) => ({
        path: c.path,
        status: c.status === 'A' ? 'added' : c.status === 'D' ? 'deleted' : c.status === 'T' ? 'typechange' : 'modified',
        before: side(c.path, c.oldMode, c.oldSha),
        after: side(c.path, c.newMode, c.newSha),
      }));
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
    return this.enqueue(() => this.measure());
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
    }).catch((e: unknown) => ({ ok: false, error: e instanceof Error ? e.message : String(e) }));
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
   * Bring the shadow index in line with workDir and return its tree. Big and unreadable
   * files are kept out (and reported), nested repositories are walked as plain dirs.
   */
  private async stage(): Promise<{ tree: string; skipped: string[]; grownBytes: number }> {
    // Paths inside stage/restore are "raw" (latin1: one char per byte) so that names that
    // are not valid UTF-8 still round-trip exactly through fs calls and git's stdin.
    const ls = splitZ((await this.git(['ls-files', '-z', '--others', '--modified', '--exclude-standard'], { tree: true })).stdout, 'latin1');
    const nested: string[] = [];
    const candidates = new Set<string>();
    for (const p of ls) {
      if (p.endsWith('/')) nested.push(p);
      else candidates.add(p);
    }
    const skipped: string[] = [];
    // Upper bound of what this stage adds to the store: each new/changed file as a loose
    // object (rounded to the block size), plus one tree per directory level above it.
    let grownBytes = 0;
    await mapLimit([...candidates], 64, async (p) => {
      const abs = this.abs(p);
      let st;
      try {
        st = await lstat(abs);
      } catch {
        return; // deleted: git add -A records that
      }
      if (!st.isFile()) return;
      if (st.size > this.maxFileBytes) {
        skipped.push(p);
        return;
      }
      try {
        await access(abs, constants.R_OK);
      } catch {
        skipped.push(p);
        return;
      }
      grownBytes += Math.ceil((st.size + 64) / OBJECT_BLOCK) * OBJECT_BLOCK + OBJECT_BLOCK * p.split('/').length;
    });
    skipped.sort();

    // mode 0 drops an index entry; the placeholder makes git treat a nested repo as a dir.
    const indexInfo = [
      ...skipped.map((p) => `0 ${ZERO_OID}\t${p}`),
      ...nested.map((dir) => `100644 ${EMPTY_BLOB}\t${dir}${NESTED_PLACEHOLDER}`),
    ];
    if (indexInfo.length > 0) {
      await this.git(['update-index', '-z', '--index-info'], { input: rawInput(indexInfo), tree: true });
    }
    if (ls.length > 0) {
      if (skipped.length === 0) {
        await this.git(['add', '-A'], { tree: true });
      } else {
        const specs = [':(top)', ...skipped.map((p) => `:(top,exclude,literal)${p}`)];
        await this.git(['add', '-A', '--pathspec-from-file=-', '--pathspec-file-nul'], { input: rawInput(specs), tree: true });
      }
    }
    const tree = (await this.git(['write-tree'], { tree: true })).stdout.toString().trim();
    return { tree, skipped: skipped.map((p) => Buffer.from(p, 'latin1').toString('utf8')), grownBytes };
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

  private async removeFiles(paths: string[]): Promise<void> {
    const dirs = new Set<string>();
    await mapLimit(paths, 64, async (p) => {
      try {
        await unlink(this.abs(p));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'EPERM') throw e;
      }
      for (let d = posix.dirname(p); d !== '.' && d !== '/' && d !== ''; d = posix.dirname(d)) dirs.add(d);
    });
    // Deepest first; a directory that still holds anything (excluded files, .git) stays.
    const ordered = [...dirs].sort((a, b) => b.split('/').length - a.split('/').length);
    for (const d of ordered) await rmdir(this.abs(d)).catch(() => undefined);
  }

  /** Absolute path (as bytes) of a raw relative path. */
  private abs(raw: string): Buffer {
    return Buffer.concat([Buffer.from(this.workDir + sep), Buffer.from(raw, 'latin1')]);
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

  private async measure(): Promise<CheckpointUsage> {
    const out = (await this.git(['count-objects', '-v'])).stdout.toString('utf8');
    let kib = 0;
    for (const line of out.split('\n')) {
      const m = /^(size|size-pack|size-garbage): (\d+)$/.exec(line.trim());
      if (m?.[2]) kib += Number(m[2]);
    }
    let bytes = kib * 1024;
    try {
      bytes += (await stat(join(this.storeDir, 'index'))).size;
    } catch {
      // no index yet
    }
    this.estimatedBytes = bytes;
    return { bytes, budgetBytes: this.budgetBytes, overBudget: bytes > this.budgetBytes };
  }

  private async enforceBudget(): Promise<void> {
    if (this.estimatedBytes !== null && this.estimatedBytes <= this.budgetBytes) return;
    let u = await this.measure();
    if (!u.overBudget) return;
    if (this.futileGcBytes === null || u.bytes > this.futileGcBytes) {
      await this.git(['gc', '--prune=now', '--quiet'], { timeoutMs: 600_000 });
      u = await this.measure();
      if (!u.overBudget) {
        this.futileGcBytes = null;
        return;
      }
      this.futileGcBytes = u.bytes;
    }
    throw new ApolloError(
      'DISK_FULL',
      `Checkpoint store for ${this.workDir} uses ${formatBytes(u.bytes)}, over its budget of ${formatBytes(u.budgetBytes)} ` +
        `(even after git gc); no checkpoint was taken. Raise the checkpoint budget or remove old sessions.`,
      { bytes: u.bytes, budgetBytes: u.budgetBytes },
    );
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
    o: { input?: string | Buffer; ok?: number[]; timeoutMs?: number; maxBytes?: number; literal?: boolean; tree?: boolean } = {},
  ): Promise<GitResult> {
    let env = o.tree ? this.env : this.storeEnv;
    if (o.literal) env = { ...env, GIT_LITERAL_PATHSPECS: '1' };
    const cwd = o.tree ? this.workDir : this.storeDir;
    return runGit(args, { cwd, env, input: o.input, ok: o.ok, timeoutMs: o.timeoutMs, maxBytes: o.maxBytes });
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

// -----------------------------------------------------------------------------------------

function gitEnv(storeDir: string, workDir: string | null, ignoreCase: boolean): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('GIT_')) env[k] = v;
  }
  const config: Array<[string, string]> = [
    ['core.bare', workDir === null ? 'true' : 'false'],
    ['core.hooksPath', devNull],
    ['core.fsmonitor', 'false'],
    ['core.autocrlf', 'false'],
    ['core.safecrlf', 'false'],
    ['core.eol', 'lf'],
    ['core.excludesFile', devNull],
    ['core.attributesFile', devNull],
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
  if (process.platform !== 'win32') config.push(['core.protectNTFS', 'false']);
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

interface RawChange {
  oldMode: string;
  newMode: string;
  oldSha: string;
  newSha: string;
  status: string;
  path: string;
}

/** Parses `git diff-tree -r -z --raw --no-renames`: ":om nm os ns S\0path\0"... */
function parseRawDiff(buf: Buffer, encoding: 'utf8' | 'latin1' = 'utf8'): RawChange[] {
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

function normalizeRelPath(p: string): string {
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

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
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
