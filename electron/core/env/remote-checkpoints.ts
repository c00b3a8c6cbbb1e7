// Checkpoints kept where the files are: a shadow git repository inside a remote
// environment (by default ~/.apollo-workstation/checkpoints/<session> there), with its
// own GIT_DIR, driven by the environment's exec. It follows the local store
// (checkpoints/shadow-git.ts) rule for rule:
//   - the same exclusions (built-in, caller patterns, the user's .gitignore files, files
//     over the size limit, unreadable files), reported as the snapshot's skipped list;
//   - the same budget: what a snapshot would add is estimated from the scan before
//     anything is written (then, near the budget, by hashing the new files without
//     writing them), and a snapshot over budget is refused and writes nothing;
//   - the same all-or-nothing restore: the checkpoint's files are written into a staging
//     folder at the top of the working directory, checked, then swapped in entry by
//     entry with a journal; any failure undoes the journal in reverse, so the folder is
//     left as it was (the whole swap is one script run there: no round trip per file).
// Each operation is a handful of scripts (a scan, a stage, a swap), never one command
// per file. Paths travel byte-exact: NUL-separated output, and scripts that embed
// paths are sent as bytes over stdin (RUN_STDIN_SCRIPT), not as arguments.
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { ApolloError, errorText } from '../../../shared/errors';
import { DEFAULT_CHECKPOINT_BUDGET_BYTES, DEFAULT_CHECKPOINT_MAX_FILE_BYTES, type CheckpointLimits } from '../../../shared/checkpoint-limits';
import type { SkippedFile } from '../../../shared/events';
import {
  BUILTIN_EXCLUDES, EMPTY_TREE, SKIPPED_LIST_MAX, ZERO_OID, STAGE_PREFIX, blobBound, growthBound, normalizeRelPath, changesOf, overBudgetError, parseLsTree, parseRawDiff, shadowGitConfig, treeBound,
  type CheckpointChange, type CheckpointFile, type Scan as LocalScan, type CheckpointUsage, type RawChange, type SnapshotResult,
} from '../checkpoints/shadow-git';
import { splitZ } from '../checkpoints/git-runner';
import { RESTORE_STAGES, type Checkpoints } from './checkpoints';
import type { RestoreProgress } from '../../../shared/contract/annotate';
import { RUN_STDIN_SCRIPT, shq } from './posix';
import type { ExecResult } from './types';

const EMPTY_BLOB = 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391';
const TIP_REF = 'refs/heads/main';
const BASE_REF = 'refs/apollo/base';
const NESTED_PLACEHOLDER = '.apollo-checkpoint-nested';
const OBJECT_BLOCK = 4096;
const COMMIT_RE = /^[0-9a-fA-F]{4,64}$/;
const STALE_LOCKS = ['index.lock', 'HEAD.lock', 'config.lock', 'packed-refs.lock', `${TIP_REF}.lock`, `${BASE_REF}.lock`];

/** What the store needs of its environment. */
export interface ExecTarget {
  readonly name: string;
  exec(script: string, opts?: { stdin?: Buffer | string; ok?: readonly number[]; timeoutMs?: number; maxBytes?: number }): Promise<ExecResult>;
}

export interface RemoteStoreOptions {
  env: ExecTarget;
  /** GIT_DIR in the environment (absolute). */
  storeDir: string;
  /** The checkpointed folder in the environment (absolute). */
  workDir: string;
  excludes?: string[];
  maxFileBytes?: number;
  budgetBytes?: number;
  /** Tests: make the swap's move number N fail (1-based, in journal order), as an I/O error would. */
  faults?: { failAtSwapStep?: number };
}

/** What a scan found, as in the local store, plus the store's size from the same run. */
interface Scan extends LocalScan {
  /** Store size as measured by the same run. */
  storeBytes: number;
  looseObjects: number;
}

/** Bytes (latin1 string) of a script, for RUN_STDIN_SCRIPT. */
const raw = (s: string): Buffer => Buffer.from(s, 'latin1');
const utf8 = (r: string): string => Buffer.from(r, 'latin1').toString('utf8');
/** A single-quoted sh word (raw latin1 paths stay byte-exact: such scripts are sent as latin1 bytes). */
const q = shq;

export class RemoteCheckpointStore implements Checkpoints {
  private tail: Promise<unknown> = Promise.resolve();
  private tip: string | null = null;
  private base: string | null = null;
  private baseTree: string | null = null;
  private estimatedBytes: number | null = null;
  private limits: CheckpointLimits;

  private constructor(
    private readonly env: ExecTarget,
    readonly storeDir: string,
    readonly workDir: string,
    readonly excludes: readonly string[],
    limits: CheckpointLimits,
    private readonly faults: RemoteStoreOptions['faults'],
  ) {
    this.limits = limits;
  }

  get maxFileBytes(): number {
    return this.limits.maxFileBytes;
  }

  get budgetBytes(): number {
    return this.limits.budgetBytes;
  }

  static async open(o: RemoteStoreOptions): Promise<RemoteCheckpointStore> {
    const limits = checked({ maxFileBytes: o.maxFileBytes ?? DEFAULT_CHECKPOINT_MAX_FILE_BYTES, budgetBytes: o.budgetBytes ?? DEFAULT_CHECKPOINT_BUDGET_BYTES });
    if (!o.workDir.startsWith('/') || !o.storeDir.startsWith('/')) throw new ApolloError('BAD_REQUEST', 'A remote checkpoint store needs absolute paths');
    const r = await o.env.exec(`cd -- ${q(o.workDir)} 2>/dev/null || exit 3\npwd -P`, { ok: [0, 3] });
    if (r.code === 3) throw new ApolloError('NOT_FOUND', `Working directory ${o.workDir} does not exist in ${o.env.name}`);
    const workDir = r.stdout.toString('utf8').trim() || o.workDir;
    const storeDir = posix.normalize(o.storeDir);
    const rel = posix.relative(workDir, storeDir);
    if (rel === '') throw new ApolloError('BAD_REQUEST', `Checkpoint store ${storeDir} cannot be the working directory itself`);
    const excludes = (o.excludes ?? []).map((p) => String(p).replace(/[\r\n]/g, '')).filter((p) => p.trim() !== '');
    if (!rel.startsWith('..')) excludes.push(`/${rel}/`);
    const store = new RemoteCheckpointStore(o.env, storeDir, workDir, excludes, limits, o.faults);
    await store.enqueue(() => store.init());
    return store;
  }

  setLimits(limits: Partial<CheckpointLimits>): void {
    this.limits = checked({ ...this.limits, ...limits });
  }

  async idle(): Promise<void> {
    await this.tail;
  }

  async close(): Promise<void> {
    await this.idle();
  }

  snapshot(label: string): Promise<SnapshotResult> {
    return this.enqueue(async () => {
      const scan = await this.scan(true);
      const skipped = describeSkipped(scan);
      const addBytes = await this.checkBudget(scan, skipped);
      const message = String(label ?? '').replace(/\0/g, '') || 'checkpoint';
      const { tree, commit } = await this.stage(scan, { commit: message });
      if (this.estimatedBytes !== null) this.estimatedBytes += addBytes + OBJECT_BLOCK;
      const changed = this.baseTree === null || tree !== this.baseTree;
      this.tip = commit!;
      this.base = commit!;
      this.baseTree = tree;
      return { commit: commit!, skipped: skipped.list, skippedCount: skipped.count, changed };
    });
  }

  restore(commit: string, onProgress?: (p: RestoreProgress) => void): Promise<void> {
    const say = onProgress ?? (() => undefined);
    return this.enqueue(async () => {
      const target = await this.resolveCommit(commit);
      const targetTree = (await this.git(`gs rev-parse --verify ${target}^{tree}`)).stdout.toString('latin1').trim();
      say(RESTORE_STAGES.scan());
      const scan = await this.scan(false);
      say(RESTORE_STAGES.save());
      // Unsnapshotted changes are kept in a commit of their own first (reachable, not returned).
      const { tree: curTree } = await this.stage(scan, { safetyFor: this.baseTree, target });
      if (this.estimatedBytes !== null) this.estimatedBytes += scan.grownBytes + OBJECT_BLOCK;
      if (curTree !== targetTree) {
        const diff = await this.git(`gs diff-tree -r -z --no-renames --raw ${targetTree} ${curTree}`);
        const changes = parseRawDiff(diff.stdout, 'latin1');
        // One script there writes the files and swaps them in: said as one stage.
        say(RESTORE_STAGES.write(changes.filter((c) => c.status !== 'A').length));
        await this.swapIn(target, targetTree, changes);
      }
      await this.git(`printf 'update ${BASE_REF} %s\\n' ${target} | gs update-ref --stdin`);
      this.base = target;
      this.baseTree = targetTree;
    });
  }

  files(commit: string): Promise<CheckpointFile[]> {
    return this.enqueue(async () => {
      const c = await this.resolveCommit(commit);
      return parseLsTree((await this.git(`gs ls-tree -r -z -l --full-tree ${c}`)).stdout);
    });
  }

  diff(from: string | null, to: string): Promise<CheckpointChange[]> {
    return this.enqueue(async () => {
      const toC = await this.resolveCommit(to);
      const fromC = from === null ? EMPTY_TREE : await this.resolveCommit(from);
      const rawDiff = parseRawDiff((await this.git(`gs diff-tree -r -z --no-renames --raw ${fromC} ${toC}`)).stdout);
      return changesOf(rawDiff, await this.blobSizes(rawDiff.flatMap((c) => [c.oldSha, c.newSha])));
    });
  }

  readFile(commit: string, path: string): Promise<Buffer> {
    return this.enqueue(async () => {
      const rel = normalizeRelPath(path);
      const c = await this.resolveCommit(commit);
      const out = await this.git(`GIT_LITERAL_PATHSPECS=1 gs ls-tree -z -l --full-tree ${c} -- ${q(rel)}`);
      const rec = splitZ(out.stdout)[0];
      if (rec === undefined) throw new ApolloError('NOT_FOUND', `No file ${rel} in checkpoint ${c.slice(0, 12)}`);
      const [, type, sha, size] = rec.slice(0, rec.indexOf('\t')).split(/ +/);
      if (type !== 'blob' || !sha) throw new ApolloError('BAD_REQUEST', `${rel} is a directory in checkpoint ${c.slice(0, 12)}`);
      return (await this.git(`gs cat-file blob ${sha}`, { maxBytes: Number(size) + 1024 })).stdout;
    });
  }

  usage(): Promise<CheckpointUsage> {
    return this.enqueue(async () => {
      const m = parseCount((await this.git(`gs count-objects -v; printf 'index-bytes: %s\\n' "$(wc -c < "$G/index" 2>/dev/null || echo 0)"`)).stdout.toString('utf8'));
      this.estimatedBytes = m.bytes;
      return { bytes: m.bytes, budgetBytes: this.budgetBytes, overBudget: m.bytes > this.budgetBytes };
    });
  }

  verify(): Promise<{ ok: boolean; error?: string }> {
    return this.enqueue(async () => {
      try {
        await this.git('gs fsck --connectivity-only --no-progress --no-dangling', { timeoutMs: 120_000 });
        if (this.tip !== null) await this.git(`gs rev-parse --verify --quiet ${TIP_REF}^{commit}`);
        return { ok: true };
      } catch (e) {
        return { ok: false, error: (e as Error).message };
      }
    }).catch((e: unknown) => ({ ok: false, error: errorText(e) }));
  }

  // ---------------------------------------------------------------------------------

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * The start of every script: the store's own GIT_DIR, index and configuration (the
   * user's global and system git configuration are never read: HOME points into the
   * store), `gs` for object and ref commands, `gt` for work-tree commands (run from W).
   */
  private prelude(): string {
    const cfg = (tree: boolean) => shadowGitConfig(tree, false, '/dev/null', false).map(([k, v]) => `-c ${q(`${k}=${v}`)}`).join(' ');
    return [
      `G=${q(this.storeDir)}`,
      `W=${q(this.workDir)}`,
      `unset GIT_WORK_TREE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_NAMESPACE GIT_CEILING_DIRECTORIES GIT_COMMON_DIR GIT_CONFIG GIT_CONFIG_PARAMETERS GIT_CONFIG_COUNT`,
      `GIT_DIR=$G; GIT_INDEX_FILE=$G/index; HOME=$G; XDG_CONFIG_HOME=$G/.none; GIT_CONFIG_NOSYSTEM=1; GIT_CONFIG_GLOBAL=/dev/null; GIT_TERMINAL_PROMPT=0; GIT_NO_REPLACE_OBJECTS=1; LC_ALL=C`,
      `GIT_AUTHOR_NAME='Apollo Checkpoints'; GIT_AUTHOR_EMAIL=checkpoints@apollo.invalid; GIT_COMMITTER_NAME='Apollo Checkpoints'; GIT_COMMITTER_EMAIL=checkpoints@apollo.invalid`,
      `export GIT_DIR GIT_INDEX_FILE HOME XDG_CONFIG_HOME GIT_CONFIG_NOSYSTEM GIT_CONFIG_GLOBAL GIT_TERMINAL_PROMPT GIT_NO_REPLACE_OBJECTS LC_ALL GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL`,
      `gs() { git ${cfg(false)} "$@"; }`,
      `gt() { GIT_WORK_TREE=$W git ${cfg(true)} "$@"; }`,
      // Framed output: "name length\n" then that many bytes.
      `sect() { printf '%s %s\\n' "$1" "$(wc -c < "$2" | tr -d ' ')"; cat "$2"; }`,
    ].join('\n');
  }

  /** Run a store script (small, ASCII: as an argument) and fail with the store's words. */
  private async git(body: string, o: { ok?: number[]; timeoutMs?: number; maxBytes?: number; stdin?: Buffer } = {}): Promise<ExecResult> {
    const r = await this.env.exec(`${this.prelude()}\n${body}`, { ok: o.ok ?? [0], timeoutMs: o.timeoutMs ?? 300_000, maxBytes: o.maxBytes, stdin: o.stdin }).catch((e: unknown) => {
      throw this.storeError(e);
    });
    return r;
  }

  /** Run a script that embeds raw paths: sent as bytes over stdin. */
  private async runLarge(body: string, ok: number[] = [0]): Promise<ExecResult> {
    // The prelude is text (its folders as given); the body embeds raw (latin1) paths from git.
    const script = Buffer.concat([Buffer.from(`${this.prelude()}\n`, 'utf8'), raw(`${body}\n`)]);
    return this.env.exec(RUN_STDIN_SCRIPT, { stdin: script, ok, timeoutMs: 600_000 }).catch((e: unknown) => {
      throw this.storeError(e);
    });
  }

  private storeError(e: unknown): ApolloError {
    const where = `Checkpoint store for ${this.workDir} in ${this.env.name}`;
    if (e instanceof ApolloError && (e.code === 'UNAVAILABLE' || e.code === 'CANCELLED')) return e;
    const err = e as ApolloError & { result?: ExecResult };
    const stderr = err.result?.stderr ?? '';
    const msg = stderr.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('hint:')).slice(0, 3).join(' / ') || err.message;
    if (/No space left on device|Disk quota exceeded/i.test(stderr)) return new ApolloError('DISK_FULL', `${where}: the disk is full: ${msg}`);
    if (/not found|command not found/i.test(stderr) && /git/.test(stderr)) return new ApolloError('UNAVAILABLE', `${where}: git is not installed there`);
    return new ApolloError('IO', `${where}: ${msg}`);
  }

  private async init(): Promise<void> {
    const exclude = ['# Written by Apollo checkpoints on every open; edits are lost.', ...BUILTIN_EXCLUDES, ...(this.excludes.length ? ['# caller patterns', ...this.excludes] : []), ''].join('\n');
    const r = await this.git(
      [
        `umask 077`,
        `if [ ! -f "$G/HEAD" ]; then`,
        `  if [ -d "$G/objects" ] || [ -d "$G/refs" ]; then echo "damaged: $G/HEAD is missing" >&2; exit 5; fi`,
        `  mkdir -p -- "$G" || exit 13`,
        `  if [ -n "$(ls -A -- "$G" 2>/dev/null)" ]; then echo "$G is not empty and is not a checkpoint store" >&2; exit 6; fi`,
        `  git init --quiet --bare --template= "$G" >/dev/null 2>&1 || git init --quiet --bare "$G" || exit 4`,
        `fi`,
        ...STALE_LOCKS.map((l) => `rm -f -- "$G/${l}"`),
        // A restore that completed but was killed while deleting what it replaced.
        `for d in "$W"/${STAGE_PREFIX}*.done; do [ -d "$d" ] && rm -rf -- "$d"; done`,
        `mkdir -p -- "$G/info" || exit 13`,
        `printf '%s' ${q(exclude)} > "$G/info/exclude"`,
        `printf '* -text -eol -filter -ident -working-tree-encoding\\n' > "$G/info/attributes"`,
        `gs symbolic-ref HEAD ${TIP_REF} || exit 4`,
        `gs for-each-ref '--format=%(refname) %(objectname) %(tree)' ${TIP_REF} ${BASE_REF}`,
      ].join('\n'),
      { ok: [0] },
    );
    for (const line of r.stdout.toString('utf8').split('\n')) {
      const [name, oid, tree] = line.split(' ');
      if (name === TIP_REF && oid) this.tip = oid;
      if (name === BASE_REF && oid && tree) {
        this.base = oid;
        this.baseTree = tree;
      }
    }
    if (this.tip !== null && this.base === null) {
      this.base = this.tip;
      this.baseTree = (await this.git(`gs rev-parse --verify ${this.tip}^{tree}`)).stdout.toString().trim();
    }
  }

  /**
   * One run: the candidates git lists (new and modified files), each classified (link,
   * readable or unreadable file, gone), sizes of the readable ones (one wc per batch),
   * the ignored paths when asked, and the store's size.
   */
  private async scan(listExcluded: boolean): Promise<Scan> {
    const classify = [
      `nl='`,
      `'`,
      `n=$#`,
      `for f do`,
      `  case $f in */) continue ;; esac`,
      `  if [ -L "$f" ]; then printf 'L 0\\0%s\\0' "$f"`,
      `  elif [ -f "$f" ]; then`,
      `    if [ ! -r "$f" ]; then printf 'U %s\\0%s\\0' "$(ls -lnd -- "./$f" | awk '{print $5}')" "$f"`,
      `    else case $f in *"$nl"*) printf 'F %s\\0%s\\0' "$(wc -c < "$f" | tr -d ' ')" "$f" ;; *) printf 'F +\\0%s\\0' "$f"; set -- "$@" "./$f" ;; esac`,
      `    fi`,
      `  elif [ -e "$f" ]; then printf 'O 0\\0%s\\0' "$f"`,
      `  else printf 'X 0\\0%s\\0' "$f"`,
      `  fi`,
      `done`,
      `shift $n`,
      `[ $# -gt 0 ] && wc -c -- "$@" 2>/dev/null | while IFS= read -r l; do printf 'S\\0%s\\0' "$l"; done`,
      `exit 0`,
    ].join('\n');
    const r = await this.git(
      [
        `cd -- "$W" 2>/dev/null || { echo "Working directory $W no longer exists" >&2; exit 3; }`,
        `T=$(mktemp -d "$G/scan.XXXXXX") || exit 13`,
        `trap 'rm -rf -- "$T"' EXIT`,
        `gt ls-files -z --others --modified --exclude-standard > "$T/ls" || exit 4`,
        listExcluded ? `gt ls-files -z --others --ignored --exclude-standard --directory > "$T/ign" || exit 4` : `: > "$T/ign"`,
        `xargs -0 sh -c ${q(classify)} sh < "$T/ls" > "$T/cls" || exit 4`,
        `{ gs count-objects -v; printf 'index-bytes: %s\\n' "$(wc -c < "$G/index" 2>/dev/null || echo 0)"; } > "$T/count"`,
        `sect ls "$T/ls"; sect ign "$T/ign"; sect cls "$T/cls"; sect count "$T/count"`,
      ].join('\n'),
      { ok: [0, 3] },
    );
    if (r.code === 3) throw new ApolloError('NOT_FOUND', `Working directory ${this.workDir} no longer exists in ${this.env.name}`);
    const s = sections(r.stdout);
    const ls = splitZ(s.get('ls') ?? Buffer.alloc(0), 'latin1');
    const nested = ls.filter((p) => p.endsWith('/'));
    const cls = splitZ(s.get('cls') ?? Buffer.alloc(0), 'latin1');
    const sizes = new Map<string, number>();
    const recs: Array<{ kind: string; size: string; path: string }> = [];
    for (let i = 0; i + 1 < cls.length; i += 2) {
      const head = cls[i]!;
      if (head === 'S') {
        const m = /^\s*(\d+) \.\/(.*)$/s.exec(cls[i + 1]!);
        if (m) sizes.set(m[2]!, Number(m[1]));
        continue;
      }
      const [kind, size] = head.split(' ');
      recs.push({ kind: kind ?? '', size: size ?? '0', path: cls[i + 1]! });
    }
    const fresh: Scan['fresh'] = [];
    const gone: string[] = [];
    const tooBig: Scan['tooBig'] = [];
    const unreadable: Scan['unreadable'] = [];
    for (const x of recs) {
      if (x.kind === 'L') fresh.push({ path: x.path, size: 0, link: true });
      else if (x.kind === 'X') gone.push(x.path);
      else if (x.kind === 'U') unreadable.push({ path: x.path, size: Number(x.size) || 0 });
      else if (x.kind === 'F') {
        const size = x.size === '+' ? sizes.get(x.path) : Number(x.size);
        // No size: it went away or became unreadable between the test and wc.
        if (size === undefined || !Number.isFinite(size)) unreadable.push({ path: x.path, size: 0 });
        else if (size > this.maxFileBytes) tooBig.push({ path: x.path, size });
        else fresh.push({ path: x.path, size });
      }
    }
    const byPath = (a: { path: string }, b: { path: string }): number => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    tooBig.sort(byPath);
    unreadable.sort(byPath);
    const listedIgnored = splitZ(s.get('ign') ?? Buffer.alloc(0), 'latin1').sort();
    const excluded = listedIgnored.filter((p, i) => !(p.endsWith('/') && listedIgnored[i + 1]?.startsWith(p)));
    const m = parseCount((s.get('count') ?? Buffer.alloc(0)).toString('utf8'));
    this.estimatedBytes = m.bytes;
    return { listed: ls.length > 0, nested, fresh, gone, tooBig, unreadable, excluded, grownBytes: growthBound(fresh), storeBytes: m.bytes, looseObjects: m.looseObjects };
  }

  private async checkBudget(scan: Scan, skipped: { list: SkippedFile[]; count: number }): Promise<number> {
    const budget = this.budgetBytes;
    let add = scan.grownBytes;
    if (scan.storeBytes + add <= budget) return add;
    add = await this.newBlobBytes(scan);
    if (scan.storeBytes + add <= budget) return add;
    throw overBudgetError(scan.storeBytes, budget, add, skipped);
  }

  /** Bytes the store grows by for the blobs of `scan` it does not hold yet (hashing, not writing). */
  private async newBlobBytes(scan: Scan): Promise<number> {
    const hashable = scan.fresh.filter((f) => !f.link && !f.path.includes('\n'));
    let add = treeBound(scan.fresh);
    for (const f of scan.fresh) if (f.link || f.path.includes('\n')) add += blobBound(f.size);
    if (hashable.length === 0) return add;
    const list = hashable.map((f) => f.path).join('\n') + '\n';
    const r = await this.runLarge(
      [
        `cd -- "$W" || exit 3`,
        `T=$(mktemp -d "$G/hash.XXXXXX") || exit 13`,
        `trap 'rm -rf -- "$T"' EXIT`,
        `printf '%s' ${q(list)} > "$T/paths"`,
        `gt hash-object --no-filters --stdin-paths < "$T/paths" > "$T/shas" || exit 4`,
        `gs cat-file '--batch-check=%(objectname)' < "$T/shas" > "$T/check"`,
        `sect shas "$T/shas"; sect check "$T/check"`,
      ].join('\n'),
      [0, 3, 4],
    );
    if (r.code !== 0) return scan.grownBytes; // a file vanished or could not be read: keep the upper bound
    const s = sections(r.stdout);
    const shas = (s.get('shas') ?? Buffer.alloc(0)).toString('utf8').split('\n').filter(Boolean);
    if (shas.length !== hashable.length) return scan.grownBytes;
    const missing = new Set((s.get('check') ?? Buffer.alloc(0)).toString('utf8').split('\n').filter((l) => l.endsWith(' missing')).map((l) => l.split(' ')[0]));
    const counted = new Set<string>();
    hashable.forEach((f, i) => {
      const sha = shas[i]!;
      if (missing.has(sha) && !counted.has(sha)) {
        counted.add(sha);
        add += blobBound(f.size);
      }
    });
    return add;
  }

  /**
   * Bring the store's index in line with the scan and write its tree; then either commit
   * it (a snapshot: new tip and base) or, for a restore, keep unsnapshotted changes in a
   * safety commit (when the tree differs from `safetyFor`).
   */
  private async stage(scan: Scan, o: { commit?: string; safetyFor?: string | null; target?: string }): Promise<{ tree: string; commit?: string }> {
    const left = [...scan.tooBig, ...scan.unreadable].map((f) => f.path);
    const under = left.length === 0 ? [] : scan.gone.filter((g) => left.some((p) => g.startsWith(`${p}/`)));
    const indexInfo = [...[...left, ...under].map((p) => `0 ${ZERO_OID}\t${p}`), ...scan.nested.map((dir) => `100644 ${EMPTY_BLOB}\t${dir}${NESTED_PLACEHOLDER}`)];
    const parents = (): string => [this.base, this.tip !== this.base ? this.tip : null].filter((x): x is string => x !== null).map((p) => `-p ${p}`).join(' ');
    const lines = [`cd -- "$W" || exit 3`];
    if (indexInfo.length) lines.push(`printf '%s\\0' ${indexInfo.map(q).join(' ')} | gt update-index -z --index-info || exit 4`);
    if (scan.listed) lines.push(left.length === 0 ? `gt add -A || exit 4` : `gt add -A -- ':(top)' ${left.map((p) => q(`:(top,exclude,literal)${p}`)).join(' ')} || exit 4`);
    lines.push(`tree=$(gt write-tree) || exit 4`, `printf 'tree %s\\n' "$tree"`);
    if (o.commit !== undefined) {
      lines.push(
        `c=$(gs commit-tree "$tree" ${parents()} -m ${q(o.commit)}) || exit 4`,
        `printf 'update ${TIP_REF} %s %s\\nupdate ${BASE_REF} %s\\n' "$c" ${this.tip ?? ZERO_OID} "$c" | gs update-ref --stdin || exit 4`,
        `printf 'commit %s\\n' "$c"`,
      );
    } else if (o.safetyFor !== undefined && o.safetyFor !== null) {
      lines.push(
        `if [ "$tree" != ${o.safetyFor} ]; then`,
        `  c=$(gs commit-tree "$tree" ${parents()} -m ${q(`before restore to ${(o.target ?? '').slice(0, 12)}`)}) || exit 4`,
        `  printf 'update ${TIP_REF} %s %s\\n' "$c" ${this.tip ?? ZERO_OID} | gs update-ref --stdin || exit 4`,
        `  printf 'commit %s\\n' "$c"`,
        `fi`,
      );
    }
    const r = await this.runLarge(lines.join('\n'), [0, 3]);
    if (r.code === 3) throw new ApolloError('NOT_FOUND', `Working directory ${this.workDir} no longer exists in ${this.env.name}`);
    const out = r.stdout.toString('utf8');
    const tree = /^tree (\S+)$/m.exec(out)?.[1];
    const commit = /^commit (\S+)$/m.exec(out)?.[1];
    if (!tree) throw new ApolloError('IO', `Checkpoint store for ${this.workDir} in ${this.env.name}: staging wrote no tree`);
    if (commit && o.commit === undefined) this.tip = commit;
    return { tree, commit };
  }

  /**
   * The restore's swap, as one generated script (see the module comment): refuse what
   * would fail halfway (a file or link where the checkpoint has a folder; folders that
   * cannot be changed), stage the target's files in `.apollo-restore-*` and check them,
   * then move entries out and in with a journal, undoing it in reverse on any failure.
   */
  private async swapIn(target: string, targetTree: string, changes: RawChange[]): Promise<void> {
    const short = target.slice(0, 12);
    const out: string[] = [];
    const inn: Array<{ path: string; mode: string; sha: string }> = [];
    for (const c of changes) {
      if (c.status !== 'D') out.push(c.path);
      if (c.status !== 'A') inn.push({ path: c.path, mode: c.oldMode, sha: c.oldSha });
    }
    const leaving = new Set(out);
    const W = (p: string): string => `"$W"/${q(p)}`;
    const NEW = (p: string): string => `"$S/new"/${q(p)}`;
    const OLD = (p: string): string => `"$S/old"/${q(p)}`;
    const L: string[] = [`cd -- "$W" || exit 3`];

    // 1. check, touching nothing.
    L.push(
      `blocked() { printf '%s\\n' "$1" >&2; exit 20; }`,
      `chk() { for a do if [ -L "$W/$a" ]; then blocked "$a"; elif [ -d "$W/$a" ]; then continue; elif [ -e "$W/$a" ]; then blocked "$a"; else break; fi; done; }`,
    );
    const changing = new Set<string>(['']);
    for (const p of out) changing.add(parentOf(p));
    const chains = new Set<string>();
    for (const f of inn) {
      const parts = f.path.split('/');
      const chain: string[] = [];
      for (let i = 1; i < parts.length; i++) {
        const a = parts.slice(0, i).join('/');
        if (leaving.has(a)) break;
        chain.push(a);
      }
      changing.add(chain.at(-1) ?? '');
      if (chain.length) chains.add(chain.map(q).join(' '));
    }
    for (const c of chains) L.push(`chk ${c}`);
    for (const d of changing) L.push(`{ [ -w ${d === '' ? '"$W"' : W(d)} ] && [ -x ${d === '' ? '"$W"' : W(d)} ]; } || { [ ! -e ${d === '' ? '"$W"' : W(d)} ] || { printf '%s\\n' ${q(d === '' ? '.' : d)} >&2; exit 21; }; }`);

    // 2. stage the checkpoint's files and check them.
    const sizes = await this.blobSizes(inn.map((f) => f.sha));
    L.push(
      `S="$W"/${STAGE_PREFIX}${randomBytes(6).toString('hex')}`,
      `mkdir -- "$S" && mkdir -- "$S/new" "$S/old" || { rm -rf -- "$S"; exit 25; }`,
      `cleanup() { mv -- "$S" "$S.done" 2>/dev/null && rm -rf -- "$S.done" || rm -rf -- "$S"; }`,
    );
    if (inn.length) {
      L.push(
        `printf '%s\\0' ${inn.map((f) => q(`${f.mode} ${f.sha}\t${f.path}`)).join(' ')} | GIT_INDEX_FILE="$S/index" gt update-index -z --index-info || { cleanup; exit 22; }`,
        `GIT_INDEX_FILE="$S/index" gt checkout-index -a -q --prefix="$S/new/" || { cleanup; exit 22; }`,
        `bad() { printf '%s\\n' "$1" >&2; cleanup; exit 22; }`,
      );
      for (const f of inn) {
        const n = NEW(f.path);
        if (f.mode === '120000') L.push(`[ -L ${n} ] || bad ${q(f.path)}`);
        else {
          const exe = f.mode === '100755' ? `[ -x ${n} ]` : `[ ! -x ${n} ]`;
          const size = sizes.get(f.sha);
          const sz = size === undefined ? '' : ` && [ "$(wc -c < ${n} | tr -d ' ')" = ${size} ]`;
          L.push(`{ [ -f ${n} ] && [ ! -L ${n} ] && ${exe}${sz}; } || bad ${q(f.path)}`);
        }
      }
    }

    // 3. the swap, journaled; undo() replays the journal backwards.
    const SW: string[] = [];
    const undo: string[] = [];
    let step = 0;
    const fault = this.faults?.failAtSwapStep;
    const op = (cmd: string, undoCmd: string, what: string, path: string, guard?: string): void => {
      step++;
      const inject = fault === step ? 'false && ' : '';
      const body = `${inject}${cmd} || fail ${q(`could not ${what} "${path}"`)}; echo ${step} >> "$J"`;
      SW.push(guard ? `if ${guard}; then ${body}; fi` : body);
      undo.push(`${step}) ${undoCmd} ;;`);
    };
    const pre: string[] = [];
    for (const p of out) {
      const dir = parentOf(p);
      op(
        `{ mkdir -p -- ${dir ? OLD(dir) : '"$S/old"'} && mv -f -- ${W(p)} ${OLD(p)}; }`,
        `mv -f -- ${OLD(p)} ${W(p)}`,
        'move aside', p, `[ -e ${W(p)} ] || [ -L ${W(p)} ]`,
      );
    }
    const dirs = new Set<string>();
    for (const p of out) for (let d = parentOf(p); d !== ''; d = parentOf(d)) dirs.add(d);
    for (const d of [...dirs].sort((a, b) => b.split('/').length - a.split('/').length)) {
      step++;
      // A folder left empty by the moves goes; one that still holds anything stays.
      SW.push(`if rmdir -- ${W(d)} 2>/dev/null; then echo ${step} >> "$J"; fi`);
      undo.push(`${step}) mkdir -- ${W(d)} ;;`);
    }
    const known = new Set<string>();
    for (const f of inn) {
      const parts = f.path.split('/');
      const mk: string[] = [];
      for (let i = 1; i < parts.length; i++) {
        const a = parts.slice(0, i).join('/');
        if (known.has(a)) continue;
        known.add(a);
        mk.push(a);
      }
      // Something there now is excluded (a big file, an ignored folder): never overwritten.
      SW.push(`if [ ! -e ${W(f.path)} ] && [ ! -L ${W(f.path)} ]; then`);
      for (const a of mk) {
        step++;
        SW.push(`  if [ ! -d ${W(a)} ]; then { [ ! -e ${W(a)} ] && [ ! -L ${W(a)} ] && mkdir -- ${W(a)}; } || fail ${q(`could not create the folder "${a}"`)}; echo ${step} >> "$J"; fi`);
        undo.push(`${step}) rmdir -- ${W(a)} ;;`);
      }
      op(`mv -f -- ${NEW(f.path)} ${W(f.path)}`, `mv -f -- ${W(f.path)} ${NEW(f.path)}`, 'put in place', f.path);
      SW.push(`fi`);
    }
    pre.push(
      `J="$S/journal"`,
      `: > "$J"`,
      `undo() { u=0; for n in $(sort -rn "$J"); do case $n in`,
      ...undo.map((u) => `  ${u}`),
      `  esac || { printf 'undo %s\\n' "$n" >&2; u=1; }; done; return $u; }`,
      `fail() { printf '%s\\n' "$1" >&2; if undo; then cleanup; exit 23; else printf 'kept %s\\n' "$S/old" >&2; exit 24; fi; }`,
    );
    const script = [...L, ...pre, ...SW];
    script.push(
      `cleanup`,
      `gt read-tree -m ${targetTree} 2>/dev/null && gt update-index -q --refresh >/dev/null 2>&1`,
      `exit 0`,
    );
    const r = await this.runLarge(script.join('\n'), [0, 3, 20, 21, 22, 23, 24, 25]);
    const why = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
    const first = why[0] ?? '';
    switch (r.code) {
      case 0:
        return;
      case 3:
        throw new ApolloError('NOT_FOUND', `Working directory ${this.workDir} no longer exists in ${this.env.name}`);
      case 20:
        throw new ApolloError(
          'CONFLICT',
          `"${first}" is a file or symbolic link kept out of checkpoints, and checkpoint ${short} has files under it. Restoring them would write over it or through it, ` +
            `so nothing was changed: move or remove "${first}" and try again.`,
          { cause: 'blocked', path: first },
        );
      case 21:
        throw restoreError(short, `no permission to change the folder "${first}" of the working directory`);
      case 22:
        throw new ApolloError('IO', `restore to checkpoint ${short} stopped before changing anything: ${first || 'a file'} could not be written out in full from the store (nothing was changed).`);
      case 23:
        throw restoreError(short, first);
      case 24: {
        const kept = why.find((l) => l.startsWith('kept '))?.slice(5);
        throw new ApolloError('IO', `restore to checkpoint ${short} failed (${first}) and could not be fully undone; the files it had moved aside are kept in ${kept ?? 'the staging folder'}.`, {
          cause: 'restore-incomplete', keptIn: kept,
        });
      }
      default:
        throw restoreError(short, `cannot create a staging folder in ${this.workDir}`);
    }
  }

  private async blobSizes(ids: string[]): Promise<Map<string, number>> {
    const shas = [...new Set(ids.filter((s) => s !== ZERO_OID))];
    const sizes = new Map<string, number>();
    if (shas.length === 0) return sizes;
    const out = await this.git(`gs cat-file '--batch-check=%(objectname) %(objectsize)'`, { stdin: Buffer.from(shas.join('\n') + '\n') });
    for (const line of out.stdout.toString('utf8').split('\n')) {
      const [sha, size] = line.split(' ');
      if (sha && size && /^\d+$/.test(size)) sizes.set(sha, Number(size));
    }
    return sizes;
  }

  private async resolveCommit(id: string): Promise<string> {
    if (typeof id !== 'string' || !COMMIT_RE.test(id)) throw new ApolloError('BAD_REQUEST', `Not a checkpoint id: ${JSON.stringify(id)}`);
    const out = await this.git(`gs cat-file '--batch-check=%(objectname) %(objecttype)'`, { stdin: Buffer.from(`${id}^{commit}\n`) });
    const [sha, type] = out.stdout.toString('utf8').trim().split(' ');
    if (type === 'ambiguous') throw new ApolloError('BAD_REQUEST', `Checkpoint id ${id} is ambiguous`);
    if (type !== 'commit' || !sha) throw new ApolloError('NOT_FOUND', `No checkpoint ${id} in the store for ${this.workDir} in ${this.env.name}`);
    return sha;
  }
}

function describeSkipped(scan: Scan): { list: SkippedFile[]; count: number } {
  const list: SkippedFile[] = [];
  for (const f of scan.tooBig) if (list.length < SKIPPED_LIST_MAX) list.push({ path: utf8(f.path), bytes: f.size, reason: 'too-big' });
  for (const f of scan.unreadable) if (list.length < SKIPPED_LIST_MAX) list.push({ path: utf8(f.path), bytes: f.size, reason: 'unreadable' });
  for (const p of scan.excluded.slice(0, Math.max(0, SKIPPED_LIST_MAX - list.length))) list.push({ path: utf8(p), reason: 'excluded' });
  return { list, count: scan.tooBig.length + scan.unreadable.length + scan.excluded.length };
}

/** Framed sections ("name length\n" + bytes) of a script's output. */
export function sections(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let i = 0;
  while (i < buf.length) {
    const nl = buf.indexOf(0x0a, i);
    if (nl < 0) break;
    const [name, len] = buf.subarray(i, nl).toString('latin1').split(' ');
    const n = Number(len);
    if (!name || !Number.isInteger(n) || n < 0) break;
    out.set(name, buf.subarray(nl + 1, nl + 1 + n));
    i = nl + 1 + n;
  }
  return out;
}

function parseCount(text: string): { bytes: number; looseObjects: number } {
  let kib = 0;
  let looseObjects = 0;
  let index = 0;
  for (const line of text.split('\n')) {
    const m = /^(count|size|size-pack|size-garbage|index-bytes): (\d+)$/.exec(line.trim());
    if (!m?.[2]) continue;
    if (m[1] === 'count') looseObjects = Number(m[2]);
    else if (m[1] === 'index-bytes') index = Number(m[2]);
    else kib += Number(m[2]);
  }
  return { bytes: kib * 1024 + index, looseObjects };
}

function parentOf(p: string): string {
  const d = posix.dirname(p);
  return d === '.' || d === '/' ? '' : d;
}

function checked(l: CheckpointLimits): CheckpointLimits {
  if (!(l.maxFileBytes > 0) || !(l.budgetBytes > 0)) throw new ApolloError('BAD_REQUEST', 'maxFileBytes and budgetBytes must be positive numbers');
  return { maxFileBytes: l.maxFileBytes, budgetBytes: l.budgetBytes };
}

function restoreError(short: string, reason: string): ApolloError {
  return new ApolloError('IO', `restore to checkpoint ${short} failed, and the working directory was left exactly as it was: ${reason}`, { cause: 'restore-failed' });
}
