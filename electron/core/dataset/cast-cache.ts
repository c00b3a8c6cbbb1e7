// Converted recordings kept beside the session (`export-cache/<terminal>.cast` and its
// `.json`), so that an export of an unchanged recording takes the asciicast file an
// earlier export wrote instead of converting it again (converting is most of an
// all-formats export: ~5 s of CPU for 160 MB of output).
//
// Never a stale one: the key is a SHA-256 over everything the file's bytes depend on —
// the recording's and its timing log's bytes (their SHA-256 and sizes, so a grown, cut
// or rewritten recording misses), the terminal's events, its title, the configured
// secrets and the source text of the converter and the redaction rules (any change in
// another build misses: in a build, the built converter's whole code, see
// converterDigest). Only the key's digest is stored, never a secret.
//
// What is hashed, and when a file's stat stands for its bytes (as git's index does):
// the entry also keeps, for the recording, its timing log and the kept .cast, the
// SHA-256 last computed from the file and the stat it had then (dev, ino, size, mtime
// and ctime in nanoseconds), with the wall-clock time just before that stat. A later
// export trusts the kept SHA-256 without reading the file only when the stat is the same
// tuple exactly and the file's mtime is older than that time by more than
// RACY_MARGIN_NS; otherwise it hashes the file, as every export used to. Any write to
// the file, a chmod, a rename over it or a restore from a backup changes its ctime,
// which no user can set (utimes can put mtime back, not ctime), or its inode: it is
// hashed again. A file written in the margin before it was read ("racy", git's word: a
// second write in the same clock tick as the stat would leave the same tuple) is hashed
// at every export until it was read more than the margin after its last write; a write
// after a read of an older file always moves its mtime. What is left to trust is the
// clocks: a file system whose clock runs behind this machine's by more than the margin
// (a network mount) could leave a write racing the stat undetected, as in git. A stat tuple is only kept when the file still has it once
// the bundle is published, so a recording that grew meanwhile (a live terminal) is
// neither kept nor trusted.
//
// The kept .cast is hashed once after it is written (the first export that takes it:
// it is a copy of the bundle's file, made after publishing, and what was copied is not
// known until then), and then trusted by its stat: copied with copyFile (the kernel's
// copy; a clone of the blocks where the file system can), its stat read again after the
// copy (a write during it changes the tuple: then the copy is hashed), and the SHA-256
// the entry recorded goes into the manifest. A kept file that no longer hashes to that
// SHA-256 is dropped and the recording converted again. What a taking export hashed is
// written back into the entry once its bundle is published, so the next export need
// not hash it again.
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
import { z } from 'zod';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { TimingIndex } from '../store/timing-index';
import { asciicastConverterSource } from './asciicast';
import { convertRecording, type CastJob, type CastResult } from './cast-job';
import { builtCastWorker } from './cast-runner';
import { BufferedWriter, fsyncFile, LineCheck, place, scanFile } from './files';
import { builtCode } from './code-digest';
import { Redactor, redactionRulesSource } from './redact';
import { AsciicastValidator } from './validate';
import { freeBytes, writeFully } from '../store/disk';
import { PRIVATE_DIR_MODE, replaceFile } from '../store/private-files';

export const CAST_CACHE_DIR = 'export-cache';
/**
 * Free space a kept copy must leave on the session's file system: a cache must never
 * take the room a live recording on the same disk needs (a full disk pauses a rollout).
 */
export const CAST_CACHE_RESERVE_BYTES = 1 << 30;
const FORMAT = 'apollo-cast-cache/1';

/**
 * How much older than the time it was read a file's mtime must be for its stat
 * to stand for its bytes later: more than a timestamp's granularity (2 s on FAT, 1 s on
 * HFS+; the kernel's coarse clock lags the wall clock by a tick) and a small clock step.
 */
export const RACY_MARGIN_NS = 3_000_000_000n;

/** A conversion's outcome as the exporter uses it: the file's facts and the lines that had redactions. */
export interface CastOutcome {
  result: CastResult;
  lines: Array<[number, readonly string[]]>;
  /** Set when it was taken from the cache: what to write back into the entry once published. */
  taken?: Taken;
}

const decimal = z.string().regex(/^\d+$/);
/** (dev, ino, size, mtimeNs, ctimeNs) as decimal strings: what a later stat must equal exactly. */
const statTupleSchema = z.tuple([decimal, decimal, decimal, decimal, decimal]);
type StatTuple = z.infer<typeof statTupleSchema>;

/** A file's stat when it was last read, and the wall-clock time (ns) just before that stat. */
const seenSchema = z.object({ stat: statTupleSchema, readNs: decimal });
type Seen = z.infer<typeof seenSchema>;

/** What an input file held when it was last hashed; stat null when the file is missing ('none', 0). */
const inputFactsSchema = z.object({ sha256: z.string(), bytes: z.number().int().nonnegative(), stat: statTupleSchema.nullable(), readNs: decimal });
type InputFacts = z.infer<typeof inputFactsSchema>;

/** The key of a job's inputs, with each input's facts as the key used them (hashed now or trusted by stat). */
export interface CastKey {
  digest: string;
  inputs: { recording: InputFacts; timing: InputFacts };
  /** An input was read to hash it: its stat is worth writing back. */
  hashed: boolean;
  /** The kept entry as castKey read it: takeCachedCast reads it from here, not again. */
  entry: Entry | null;
}

interface Taken {
  entry: Entry;
  /** The kept file's stat when this export hashed it (null: trusted as the entry says, or changed during the copy). */
  kept: Seen | null;
}

/** An entry's `.json`, checked whole when read: a damaged or foreign one is no entry. */
const entrySchema = z.object({
  format: z.literal(FORMAT),
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  records: z.number().int().nonnegative(),
  lines: z.array(z.tuple([z.number().int(), z.array(z.string())])),
  /** Absent in entries of older builds: every file is then hashed. */
  inputs: z.object({ recording: inputFactsSchema, timing: inputFactsSchema }).optional(),
  kept: seenSchema.optional(),
});
type Entry = z.infer<typeof entrySchema>;

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

function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n).toString();
}

/** The stat tuple of `path`; null when it is missing and `missingOk`. */
async function statTuple(path: string, missingOk: boolean): Promise<StatTuple | null> {
  try {
    const st = await stat(path, { bigint: true });
    return [st.dev, st.ino, st.size, st.mtimeNs, st.ctimeNs].map(String) as StatTuple;
  } catch (e) {
    if (missingOk && (e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function sameStat(a: StatTuple | null | undefined, b: StatTuple | null | undefined): boolean {
  return !!a && !!b && a.every((x, i) => x === b[i]);
}

/**
 * Whether `now` (a stat just taken) lets `seen` stand for the file's bytes: the same
 * tuple, and an mtime older than the read by more than the margin (else a write in the
 * same tick as the stat that was kept would have left it unchanged).
 */
function trusted(seen: { stat: StatTuple | null; readNs: string } | null | undefined, now: StatTuple | null): boolean {
  if (!seen || !now || !sameStat(seen.stat, now)) return false;
  return BigInt(now[3]) < BigInt(seen.readNs) - RACY_MARGIN_NS;
}

/** An input's SHA-256 and size: the entry's when its stat stands for the file, else read and hashed. */
async function inputFacts(path: string, seen: InputFacts | undefined, missingOk: boolean): Promise<{ facts: InputFacts; hashed: boolean }> {
  const readNs = nowNs();
  const st = await statTuple(path, missingOk);
  if (!st) return { facts: { sha256: 'none', bytes: 0, stat: null, readNs }, hashed: false };
  if (seen && trusted(seen, st)) return { facts: { ...seen, stat: st }, hashed: false };
  const { sha256, bytes } = await scanFile(path);
  return { facts: { sha256, bytes, stat: st, readNs }, hashed: true };
}

/**
 * The key of a job (null when its inputs cannot be read: the conversion then says why).
 * The inputs whose stat the kept entry trusts are not read.
 */
export async function castKey(job: CastJob, sessionDir: string): Promise<CastKey | null> {
  try {
    const entry = await readEntry(entryPaths(sessionDir, job).meta);
    const inputs = entry?.inputs;
    const out = await inputFacts(job.recordingPath, inputs?.recording, false);
    const timing = await inputFacts(job.timingPath, inputs?.timing, true);
    // The secrets as the converter's redactor matches them (values and fingerprints alike).
    const secrets = new Redactor(job.secrets).fingerprint.toString('hex');
    const digest = createHash('sha256')
      .update(JSON.stringify([converterDigest(), job.terminalId, job.title, out.facts.sha256, out.facts.bytes, timing.facts.sha256, timing.facts.bytes, secrets]))
      .update(JSON.stringify(job.events))
      .digest('hex');
    return { digest, inputs: { recording: out.facts, timing: timing.facts }, hashed: out.hashed || timing.hashed, entry };
  } catch {
    return null;
  }
}

/** Whether the inputs still have the stat the key was made with (a live recording has grown: keep nothing). */
async function inputsUnchanged(job: CastJob, key: CastKey): Promise<boolean> {
  const [out, timing] = await Promise.all([statTuple(job.recordingPath, false), statTuple(job.timingPath, true)]);
  const same = (a: StatTuple | null, b: StatTuple | null): boolean => (a === null ? b === null : sameStat(a, b));
  return same(out, key.inputs.recording.stat) && same(timing, key.inputs.timing.stat);
}

async function readEntry(path: string): Promise<Entry | null> {
  try {
    const r = entrySchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * The kept conversion of `job`, placed at job.outPath, or null (no entry, another key,
 * or a file that no longer hashes to what the entry says: then the entry is removed).
 * The copy is hashed unless the kept file's stat stands for the SHA-256 the entry
 * recorded, before and after the copy.
 */
export async function takeCachedCast(sessionDir: string, job: CastJob, key: CastKey): Promise<CastOutcome | null> {
  const paths = entryPaths(sessionDir, job);
  // The entry castKey read (one read per export): the kept file is checked against it below either way.
  const e = key.entry;
  if (!e || e.key !== key.digest) return null;
  const readNs = nowNs();
  let before: StatTuple | null;
  try {
    before = await statTuple(paths.cast, false);
    await place(paths.cast, job.outPath, false);
  } catch {
    await rm(job.outPath, { force: true });
    return null;
  }
  const after = await statTuple(paths.cast, false).catch(() => null);
  const steady = sameStat(before, after);
  let kept: Seen | null = null;
  if (!(steady && trusted(e.kept, after) && after![2] === String(e.bytes))) {
    const seen = await scanFile(job.outPath).catch(() => null);
    if (!seen || seen.sha256 !== e.sha256 || seen.bytes !== e.bytes) {
      await rm(job.outPath, { force: true });
      await Promise.all([rm(paths.cast, { force: true }), rm(paths.meta, { force: true })]).catch(() => undefined);
      return null;
    }
    // What was copied is what the entry says; the kept file had `before` all through the copy.
    if (steady) kept = { stat: before!, readNs };
  }
  // Durable before the bundle that lists it is published, as a converted file is (BufferedWriter fsyncs on close).
  await fsyncFile(job.outPath);
  return { result: { bytes: e.bytes, sha256: e.sha256, records: e.records, errors: [] }, lines: e.lines, taken: { entry: e, kept } };
}

/** A temporary file older than this is a crash's leftover, not another export's copy in progress. */
const STALE_TEMPORARY_MS = 60 * 60 * 1000;

/**
 * Remove what a crash left mid-copy in `dir` (a kept recording's size each, or a kept
 * bundle's folder; never reused otherwise), older than STALE_TEMPORARY_MS.
 */
export async function dropStaleTemporaries(dir: string): Promise<void> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((f) => /\.tmp-[0-9a-f]{12}$/.test(f));
  const now = Date.now();
  await Promise.all(names.map(async (f) => {
    const st = await stat(join(dir, f)).catch(() => null);
    if (st && now - st.mtimeMs > STALE_TEMPORARY_MS) await rm(join(dir, f), { recursive: true, force: true });
  }));
}

async function writeEntry(path: string, entry: Entry): Promise<void> {
  await replaceFile(path, (fh) => writeFully(fh, Buffer.from(JSON.stringify(entry)), 0));
}

/**
 * Write back what an export that took the kept conversion hashed (the inputs whose stat
 * was not trusted, the kept file the first time it is taken), so that the next one need
 * not, unless the entry was replaced meanwhile or an input changed since.
 */
async function refreshEntry(sessionDir: string, job: CastJob, key: CastKey, taken: Taken): Promise<void> {
  if (!key.hashed && !taken.kept) return;
  const paths = entryPaths(sessionDir, job);
  const now = await readEntry(paths.meta);
  if (!now || now.key !== taken.entry.key || now.sha256 !== taken.entry.sha256) return;
  if (!(await inputsUnchanged(job, key))) return;
  const kept = taken.kept ?? now.kept;
  await writeEntry(paths.meta, { ...now, inputs: key.inputs, ...(kept ? { kept } : {}) });
}

/**
 * Keep the conversion of `job` whose published file is `file`, unless it had errors,
 * the recording changed since the key was made (its stat is another: a live terminal,
 * the file then holds more than the key describes) or the copy would leave less than
 * CAST_CACHE_RESERVE_BYTES free. For a conversion taken from the cache, write back what
 * was hashed (refreshEntry). Failures are ignored: it is a cache.
 */
export async function keepCachedCast(sessionDir: string, job: CastJob, key: CastKey, file: string, outcome: CastOutcome): Promise<void> {
  if (outcome.result.errors.length) return;
  if (outcome.taken) {
    await refreshEntry(sessionDir, job, key, outcome.taken).catch(() => undefined);
    return;
  }
  const paths = entryPaths(sessionDir, job);
  const tmp = `${paths.cast}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    if (!(await inputsUnchanged(job, key))) return;
    if ((await freeBytes(sessionDir)) < outcome.result.bytes + CAST_CACHE_RESERVE_BYTES) return;
    await mkdir(join(sessionDir, CAST_CACHE_DIR), { recursive: true, mode: PRIVATE_DIR_MODE });
    await dropStaleTemporaries(join(sessionDir, CAST_CACHE_DIR));
    await place(file, tmp, true);
    await rename(tmp, paths.cast);
    // No stat of the kept file yet: it is a copy of the bundle's, which is only known to be
    // the conversion once hashed, by the first export that takes it.
    await writeEntry(paths.meta, {
      format: FORMAT, key: key.digest, bytes: outcome.result.bytes, sha256: outcome.result.sha256, records: outcome.result.records,
      lines: outcome.lines.map(([n, kinds]) => [n, [...kinds]]), inputs: key.inputs,
    });
  } catch {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}
