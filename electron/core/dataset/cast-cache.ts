// Converted recordings kept beside the session (`export-cache/<terminal>.cast` and its
// `.json`), so that an export of an unchanged recording takes the asciicast file an
// earlier export wrote instead of converting it again (converting is most of an
// all-formats export: ~5 s of CPU for 160 MB of output, against ~0.2 s to hash it).
//
// Never a stale one: the key is a SHA-256 over everything the file's bytes depend on —
// the recording's and its timing log's bytes (hashed whole, so a grown, cut or
// rewritten recording misses), the terminal's events, its title, the configured
// secrets and the source text of the converter and the redaction rules (any change in
// another build misses). Only the key's digest is stored, never a secret. A hit is
// checked against the SHA-256 the entry recorded while it is taken, so a cache file
// changed since (it may share its inode with a bundle's file) is dropped and the
// recording converted again.
//
// An entry is written only after its bundle was published (a failed or cancelled
// export leaves the session folder as it was), as a hard link to the bundle's file
// (no second copy on disk while the bundle exists; a copy across file systems), both
// 0600, renamed into place; not fsync'd: an entry lost in a crash is only converted again.
import { createHash, randomBytes } from 'node:crypto';
import { constants, copyFile, link, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { asciicastConverterSource } from './asciicast';
import { convertRecording, type CastJob, type CastResult } from './cast-job';
import { LineCheck, scanFile } from './files';
import { MIN_CONFIGURED_SECRET_LENGTH, redactionRulesSource } from './redact';
import { AsciicastValidator } from './validate';
import { PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../store/private-files';

export const CAST_CACHE_DIR = 'export-cache';
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

let converter: string | null = null;
/** The code that decides the bytes of a conversion, hashed once per process. */
function converterDigest(): string {
  converter ??= createHash('sha256')
    .update(FORMAT)
    .update(asciicastConverterSource())
    .update(redactionRulesSource())
    .update([convertRecording, LineCheck, AsciicastValidator].map((f) => f.toString()).join('\n'))
    .digest('hex');
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

/** Put `from` at `to` (which must not exist): a hard link, else a copy (another file system, no links). */
async function place(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch {
    await copyFile(from, to, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  }
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
    await place(paths.cast, job.outPath);
  } catch {
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

/**
 * Keep the conversion of `job` whose published file is `file`, unless it had errors or
 * the recording changed size since the key was made (a live terminal: the file then
 * holds more than the key describes). Failures are ignored: it is a cache.
 */
export async function keepCachedCast(sessionDir: string, job: CastJob, key: CastKey, file: string, outcome: CastOutcome): Promise<void> {
  if (outcome.result.errors.length) return;
  const paths = entryPaths(sessionDir, job);
  const tmp = `${paths.cast}.tmp-${randomBytes(6).toString('hex')}`;
  const metaTmp = `${paths.meta}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    const [out, timing] = await Promise.all([stat(job.recordingPath), stat(job.timingPath).catch(() => null)]);
    if (out.size !== key.sizes[0] || (timing?.size ?? 0) !== key.sizes[1]) return;
    await mkdir(join(sessionDir, CAST_CACHE_DIR), { recursive: true, mode: PRIVATE_DIR_MODE });
    await place(file, tmp);
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
