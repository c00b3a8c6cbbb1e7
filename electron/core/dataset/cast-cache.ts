// Converted recordings kept beside the session (`export-cache/<terminal>.cast` and its
// `.json`), so that an export of an unchanged recording takes the asciicast file an
// earlier export wrote instead of converting it again (converting is most of an
// all-formats export: ~5 s of CPU for 160 MB of output, against ~0.2 s to hash it).
//
// Never a stale one: the key is a SHA-256 over everything the file's bytes depend on —
// the recording's and its timing log's bytes (hashed whole, so a grown, cut or
// rewritten recording misses), the terminal's events, its title, the configured
// secrets and the source text of the converter and the redaction rules (any change in
// another build misses: in a build, the built converter's whole code, see
// converterDigest). Only the key's digest is stored, never a secret. A hit is checked
// against the SHA-256 the entry recorded while it is taken, so a cache file changed
// since is dropped and the recording converted again.
//
// An entry is written only after its bundle was published (a failed or cancelled
// export leaves the session folder as it was), 0600, renamed into place; not fsync'd:
// an entry lost in a crash is only converted again. The bundle's file and the kept one
// are copies of each other (a clone of the blocks where the file system can), never
// hard links: one inode shared by the cache and every bundle taken from it let a user
// or a tool that edits one bundle's .cast in place (or chmods it to share it) change
// every other bundle silently, under manifests that say otherwise. A copy costs ~80 ms
// for 128 MB here, against ~5 s of converting.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, constants, copyFile, mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { TimingIndex } from '../store/timing-index';
import { asciicastConverterSource } from './asciicast';
import { convertRecording, type CastJob, type CastResult } from './cast-job';
import { builtCastWorker } from './cast-runner';
import { BufferedWriter, LineCheck, scanFile } from './files';
import { MIN_CONFIGURED_SECRET_LENGTH, redactionRulesSource } from './redact';
import { AsciicastValidator } from './validate';
import { freeBytes } from '../store/disk';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../store/private-files';

export const CAST_CACHE_DIR = 'export-cache';
/**
 * Free space a kept copy must leave on the session's file system: a cache must never
 * take the room a live recording on the same disk needs (a full disk pauses a rollout).
 */
export const CAST_CACHE_RESERVE_BYTES = 1 << 30;
const FORMAT = 'apollo-cast-cache/1';

/** A conversion's outcome as the exporter uses it: the file's facts and the lines that had redactions. */
export interface CastOutcome {
  result: CastResult;
  lines: Array<[number, readonly string[]]>;
}

/** The key of a job's inputs, and their sizes when it was made (a recording still growing is not kept). */
export interface CastKey {
  digest: string;
  sizes: [number, number];
}

interface Entry {
  format: string;
  key: string;
  bytes: number;
  sha256: string;
  records: number;
  lines: Array<[number, string[]]>;
}

/**
 * The text of a built entry and of every module it imports, transitively (its chunks):
 * all the code that runs in it, whatever file it came from. Null when it cannot be read.
 */
export function builtCode(entry: string): string | null {
  const seen = new Set<string>();
  const parts: string[] = [];
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    parts.push(text);
    for (const m of text.matchAll(/(?:\bfrom|\bimport\(?)\s*["'](\.{1,2}\/[^"']+)["']/g)) visit(resolve(dirname(file), m[1]!));
  };
  try {
    visit(entry);
  } catch {
    return null;
  }
  return parts.join('\n');
}

let converter: string | null = null;
/**
 * The code that decides the bytes of a conversion, hashed once per process. In a build,
 * the recording worker's whole code (the same source the exporter's thread runs): a
 * list of functions misses the helpers it calls from other modules, and a build that
 * changed one of those would reuse what the old one wrote. From source, that list.
 */
function converterDigest(): string {
  if (converter) return converter;
  const worker = builtCastWorker();
  const built = worker ? builtCode(worker) : null;
  const h = createHash('sha256').update(FORMAT);
  if (built !== null) h.update('built\n').update(built);
  else {
    h.update(asciicastConverterSource())
      .update(redactionRulesSource())
      .update([convertRecording, LineCheck, AsciicastValidator, TimingIndex, BufferedWriter].map((f) => f.toString()).join('\n'));
  }
  converter = h.digest('hex');
  return converter;
}

function entryPaths(sessionDir: string, job: CastJob): { cast: string; meta: string } {
  // The terminal id is hashed into the name: ids are free text, file names are not.
  const name = createHash('sha256').update(job.terminalId).digest('hex').slice(0, 32);
  const dir = join(sessionDir, CAST_CACHE_DIR);
  return { cast: join(dir, `${name}.cast`), meta: join(dir, `${name}.json`) };
}

/** SHA-256 and size of a file; a missing one is ('none', 0). */
async function fileDigest(path: string): Promise<{ sha256: string; bytes: number }> {
  try {
    return await scanFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { sha256: 'none', bytes: 0 };
    throw e;
  }
}

/** The key of a job (null when its inputs cannot be read: the conversion then says why). */
export async function castKey(job: CastJob): Promise<CastKey | null> {
  try {
    const out = await scanFile(job.recordingPath);
    const timing = await fileDigest(job.timingPath);
    const secrets = [...new Set(job.secrets.filter((s) => typeof s === 'string' && s.length >= MIN_CONFIGURED_SECRET_LENGTH))].sort();
    const digest = createHash('sha256')
      .update(JSON.stringify([converterDigest(), job.terminalId, job.title, out.sha256, out.bytes, timing.sha256, timing.bytes, secrets]))
      .update(JSON.stringify(job.events))
      .digest('hex');
    return { digest, sizes: [out.bytes, timing.bytes] };
  } catch {
    return null;
  }
}

/**
 * A copy of `from` at `to` (which must not exist), a clone where the file system can,
 * 0600 whatever mode `from` has (a copy takes its source's: a bundle on a FAT drive
 * reads as 0755). `strict`: a mode that cannot be set fails it (the session folder's
 * file); a bundle's file system may have no modes to set.
 */
async function place(from: string, to: string, strict: boolean): Promise<void> {
  await copyFile(from, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  await chmod(to, PRIVATE_FILE_MODE).catch((e: unknown) => {
    if (strict) throw e;
  });
}

async function readEntry(path: string): Promise<Entry | null> {
  try {
    const e = JSON.parse(await readFile(path, 'utf8')) as Entry;
    return e && e.format === FORMAT && typeof e.key === 'string' && typeof e.sha256 === 'string' && Array.isArray(e.lines) ? e : null;
  } catch {
    return null;
  }
}

/**
 * The kept conversion of `job`, placed at job.outPath, or null (no entry, another key,
 * or a file that no longer hashes to what the entry says: then the entry is removed).
 */
export async function takeCachedCast(sessionDir: string, job: CastJob, key: CastKey): Promise<CastOutcome | null> {
  const paths = entryPaths(sessionDir, job);
  const e = await readEntry(paths.meta);
  if (!e || e.key !== key.digest) return null;
  try {
    await place(paths.cast, job.outPath, false);
  } catch {
    await rm(job.outPath, { force: true });
    return null;
  }
  const seen = await scanFile(job.outPath).catch(() => null);
  if (!seen || seen.sha256 !== e.sha256 || seen.bytes !== e.bytes) {
    await rm(job.outPath, { force: true });
    await Promise.all([rm(paths.cast, { force: true }), rm(paths.meta, { force: true })]).catch(() => undefined);
    return null;
  }
  return { result: { bytes: e.bytes, sha256: e.sha256, records: e.records, errors: [] }, lines: e.lines };
}

/** A temporary file older than this is a crash's leftover, not another export's copy in progress. */
const STALE_TEMPORARY_MS = 60 * 60 * 1000;

/** Remove what a crash left mid-copy (a kept recording's size each, never reused otherwise). */
async function dropStaleTemporaries(dir: string): Promise<void> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((f) => /\.tmp-[0-9a-f]{12}$/.test(f));
  const now = Date.now();
  await Promise.all(names.map(async (f) => {
    const st = await stat(join(dir, f)).catch(() => null);
    if (st && now - st.mtimeMs > STALE_TEMPORARY_MS) await rm(join(dir, f), { force: true });
  }));
}

/**
 * Keep the conversion of `job` whose published file is `file`, unless it had errors,
 * the recording changed size since the key was made (a live terminal: the file then
 * holds more than the key describes) or the copy would leave less than
 * CAST_CACHE_RESERVE_BYTES free. Failures are ignored: it is a cache.
 */
export async function keepCachedCast(sessionDir: string, job: CastJob, key: CastKey, file: string, outcome: CastOutcome): Promise<void> {
  if (outcome.result.errors.length) return;
  const paths = entryPaths(sessionDir, job);
  const tmp = `${paths.cast}.tmp-${randomBytes(6).toString('hex')}`;
  const metaTmp = `${paths.meta}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    const [out, timing] = await Promise.all([stat(job.recordingPath), stat(job.timingPath).catch(() => null)]);
    if (out.size !== key.sizes[0] || (timing?.size ?? 0) !== key.sizes[1]) return;
    if ((await freeBytes(sessionDir)) < outcome.result.bytes + CAST_CACHE_RESERVE_BYTES) return;
    await mkdir(join(sessionDir, CAST_CACHE_DIR), { recursive: true, mode: PRIVATE_DIR_MODE });
    await dropStaleTemporaries(join(sessionDir, CAST_CACHE_DIR));
    await place(file, tmp, true);
    await rename(tmp, paths.cast);
    const entry: Entry = {
      format: FORMAT, key: key.digest, bytes: outcome.result.bytes, sha256: outcome.result.sha256, records: outcome.result.records,
      lines: outcome.lines.map(([n, kinds]) => [n, [...kinds]]),
    };
    const fh = await open(metaTmp, 'wx', PRIVATE_FILE_MODE);
    try {
      await fh.writeFile(JSON.stringify(entry));
    } finally {
      await fh.close();
    }
    await rename(metaTmp, paths.meta);
  } catch {
    await Promise.all([rm(tmp, { force: true }), rm(metaTmp, { force: true })]).catch(() => undefined);
  }
}
