// Bundles kept beside the first exported session (`export-cache/bundles/<key>/`), so
// that exporting again what was exported before (another folder, a second copy for a
// trainer, the same export after the app restarted) copies the files it wrote instead
// of building, redacting, counting, encoding and checking every example again: the
// training files of a 30-hour session are ~0.4 s of CPU for OpenAI alone, 3 s for all
// formats, and copying them is the speed of the disk.
//
// Never a stale one: the key is a SHA-256 over everything the bundle's bytes depend on:
//   - each session's events, by SessionLog.eventsDigest: the SHA-256 of the log lines
//     they were parsed from, except export.made (each export appends one, and no file
//     of a bundle depends on them; dataset-bundle-cache.test.ts checks both), its branch
//     selection and its recordings (their conversion's own key, cast-cache.ts);
//   - every option that reaches a file (formats, label policy, token limits, summaries,
//     reasoning, the app version the manifest names) and the configured secrets, as the
//     redactor's fingerprint (the secrets as it matches them: order and duplicates make
//     no other key; only the key's digest is stored, never a secret);
//   - the code: the text of this module and every module it imports, transitively (the
//     built chunks, or the TypeScript sources), read once when this module loads, the
//     tokenizer's package version and the Unicode version of the regular expressions.
// A caller that cannot name its events by such a digest (exportBundle given events from
// anywhere else) gets no cache: `ExportSessionInput.eventsDigest` is set only where the
// events are a snapshot of a loaded log (exports.ts).
//
// The entry keeps every file of the bundle but the recordings (those are kept, and
// checked, by the cast cache) and the signature (made afresh for the key in use), with
// each file's size and SHA-256. Taking it copies each file into the new bundle's
// staging folder (a clone of the blocks where the file system can), hashes the copy
// and fsyncs it; a file that does not hash to what the entry says drops the entry and
// the export is built as if there were none. The manifest, validated, says the rest:
// the recordings' files must come out as it lists them, else the same.
//
// An entry is written while the bundle is staged and renamed into place only once the
// bundle is published; a cancelled or failed export leaves none. A session folder keeps
// the newest KEPT_BUNDLES entries, and none where keeping one would leave less than
// CAST_CACHE_RESERVE_BYTES free (a live recording on the same disk comes first).
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { freeBytes } from '../store/disk';
import { PRIVATE_DIR_MODE } from '../store/private-files';
import { CAST_CACHE_DIR, CAST_CACHE_RESERVE_BYTES, dropStaleTemporaries } from './cast-cache';
import { fsyncFile, place, scanFile } from './files';
import { exportManifestSchema } from './manifest-schema';
import type { Manifest } from './bundle';
import type { RedactionReport } from './redact';

const FORMAT = 'apollo-bundle-cache/1';
export const BUNDLE_CACHE_DIR = join(CAST_CACHE_DIR, 'bundles');
/** Entries a session folder keeps (an OpenAI export and an all-formats one, say). */
export const KEPT_BUNDLES = 2;
const ENTRY_FILE = 'entry.json';

/** What a bundle's bytes depend on (see the head of this file); recordings by their conversion's key. */
export interface BundleKeyParts {
  options: unknown;
  /** Redactor.fingerprint (hex) of the redactor the export uses: its rules and the configured secrets. */
  redaction: string;
  sessions: ReadonlyArray<{ sessionId: string; eventsDigest: string | undefined; selected: readonly string[]; terminals: readonly string[] }>;
  /** The conversion key of every recording, in bundle order (null: a recording with none, so no key). */
  casts: ReadonlyArray<string | null>;
}

/** The key of a bundle, or null when something it depends on has no name (events without a digest, a recording without a key, code that cannot be read). */
export function bundleKey(parts: BundleKeyParts, code: string | null): string | null {
  if (code === null) return null;
  if (parts.sessions.some((s) => !s.eventsDigest) || parts.casts.some((c) => c === null)) return null;
  return createHash('sha256').update(JSON.stringify([FORMAT, code, parts.options, parts.redaction, parts.sessions, parts.casts])).digest('hex');
}

/**
 * What an entry says of the inputs it was made from, so that an export that builds can
 * say which of them changed (explainBuilt). Digests and option values only, never a
 * secret: the redactor's fingerprint and the code's digest are hashed again and cut to
 * 64 bits, which tells two apart.
 */
const notedSchema = z.object({
  code: z.string(),
  redaction: z.string(),
  options: z.record(z.string(), z.unknown()),
  sessions: z.array(z.object({ sessionId: z.string(), eventsDigest: z.string(), events: z.number().int().nonnegative(), selected: z.array(z.string()), terminals: z.array(z.string()) })),
  casts: z.array(z.string().nullable()),
});
export type NotedInputs = z.infer<typeof notedSchema>;

const entrySchema = z.object({
  format: z.literal(FORMAT),
  key: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.array(z.object({ path: z.string().regex(/^[A-Za-z0-9._-]+$/), bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
  /** Absent in entries of earlier builds. */
  noted: notedSchema.optional(),
});
type Entry = z.infer<typeof entrySchema>;

/**
 * The inputs as an entry notes them: `parts` as the key has them, with each session's
 * count of events (the digest only says that they differ) and the code's digest.
 */
export function noteInputs(parts: BundleKeyParts, code: string, events: readonly number[]): NotedInputs {
  const short = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);
  return {
    code: short(code),
    redaction: short(parts.redaction),
    options: parts.options as Record<string, unknown>,
    sessions: parts.sessions.map((p, i) => ({ sessionId: p.sessionId, eventsDigest: p.eventsDigest ?? '', events: events[i] ?? 0, selected: [...p.selected], terminals: [...p.terminals] })),
    casts: [...parts.casts],
  };
}

/** Options as the export dialog and the CLI name them; null: derived from the formats, said by them. */
const OPTION_NAMES: Record<string, string | null> = {
  policy: 'label policy', maxTokens: 'max tokens', historyTokens: 'history tokens', warnTokens: 'warning tokens', includeSummaries: 'summaries',
  reasoning: 'reasoning', formats: 'formats', appVersion: 'app version', perAction: null, castOnly: null,
};

/** What differs between the inputs an entry noted and `now`, in the user's terms (empty: nothing noted differs). */
function differences(then: NotedInputs, now: NotedInputs): string[] {
  const out: string[] = [];
  if (then.code !== now.code) out.push('another build of Apollo made the kept bundle');
  if (then.redaction !== now.redaction) out.push('the secrets to redact (or the redaction rules) are not the same');
  const options = [...new Set([...Object.keys(then.options), ...Object.keys(now.options)])]
    .filter((k) => JSON.stringify(then.options[k]) !== JSON.stringify(now.options[k]))
    .map((k) => (k in OPTION_NAMES ? OPTION_NAMES[k] : k))
    .filter((k): k is string => k !== null)
    .sort();
  if (options.length) out.push(`other options (${options.join(', ')})`);
  // Recordings are listed only for an export with asciicast: otherwise the formats say it.
  const withCasts = (n: NotedInputs) => Array.isArray(n.options.formats) && n.options.formats.includes('asciicast');
  const recordings = withCasts(then) && withCasts(now);
  for (const s of now.sessions) {
    const was = then.sessions.find((x) => x.sessionId === s.sessionId)!;
    if (was.eventsDigest !== s.eventsDigest) out.push(`session ${s.sessionId} changed since (${was.events} events then, ${s.events} now)`);
    if (JSON.stringify(was.selected) !== JSON.stringify(s.selected)) out.push(`other branches of session ${s.sessionId}`);
    if (recordings && JSON.stringify(was.terminals) !== JSON.stringify(s.terminals)) out.push(`other recordings of session ${s.sessionId}`);
  }
  if (!out.length && recordings && JSON.stringify(then.casts) !== JSON.stringify(now.casts)) out.push('a recording changed since');
  return out;
}

/**
 * Why an export of `now` found no bundle to take, in a sentence: what differs from the
 * closest bundle kept for the same sessions (another build, other secrets, other
 * options, new events, other branches, a changed recording), or that none is kept.
 */
export async function explainBuilt(cacheDir: string, now: NotedInputs): Promise<string> {
  const names = (await readdir(cacheDir).catch(() => [] as string[])).filter((n) => /^[0-9a-f]{64}$/.test(n));
  const kept: Array<{ at: number; noted: NotedInputs | undefined }> = [];
  for (const name of names) {
    try {
      const r = entrySchema.safeParse(JSON.parse(await readFile(join(cacheDir, name, ENTRY_FILE), 'utf8')));
      if (r.success) kept.push({ at: (await stat(join(cacheDir, name))).mtimeMs, noted: r.data.noted });
    } catch {
      // not an entry (a crash's leftover): nothing to compare with
    }
  }
  const ids = (n: NotedInputs) => JSON.stringify(n.sessions.map((s) => s.sessionId).sort());
  const candidates = kept.flatMap((k) => (k.noted && ids(k.noted) === ids(now) ? [{ at: k.at, diff: differences(k.noted, now) }] : []));
  // The fewest differences, then the newest: the bundle this export came closest to taking.
  const closest = candidates.sort((a, b) => a.diff.length - b.diff.length || b.at - a.at)[0];
  if (!closest) return kept.some((k) => !k.noted) ? 'the bundles kept beside the session were made by an earlier build, which noted nothing to compare with' : 'no earlier export of these sessions is kept';
  return closest.diff.length ? closest.diff.join('; ') : 'the kept bundle of these inputs was not usable (a file in it changed or went missing)';
}

const redactionsFileSchema = z.object({
  redactions: z.array(z.object({ file: z.string(), line: z.number().int(), path: z.string(), kind: z.string(), count: z.number().int().positive() })),
});

/** A kept bundle's files placed in a staging folder: what its manifest says of them, and its redaction report. */
export interface TakenBundle {
  manifest: Manifest;
  manifestText: string;
  redactions: RedactionReport[];
}

function entryDir(cacheDir: string, key: string): string {
  return join(cacheDir, key);
}

/**
 * The bundle kept under `key`, its files copied into `stageDir` (hashed, fsync'd), or
 * null (none, or one that no longer is what its entry says: then it is removed, and
 * whatever was copied with it).
 */
export async function takeCachedBundle(cacheDir: string, key: string, stageDir: string): Promise<TakenBundle | null> {
  const dir = entryDir(cacheDir, key);
  let entry: Entry;
  try {
    const r = entrySchema.safeParse(JSON.parse(await readFile(join(dir, ENTRY_FILE), 'utf8')));
    if (!r.success || r.data.key !== key) throw new Error('not an entry of this key');
    entry = r.data;
  } catch {
    // No entry, or a damaged one: a damaged one is removed so it is not read again.
    if (await stat(dir).then(() => true, () => false)) await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    return null;
  }
  const placed: string[] = [];
  const unplace = () => Promise.all(placed.map((f) => rm(f, { force: true })));
  const drop = async (): Promise<null> => {
    await unplace();
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    return null;
  };
  try {
    for (const f of entry.files) {
      const to = join(stageDir, f.path);
      await place(join(dir, f.path), to, false);
      placed.push(to);
      const seen = await scanFile(to);
      if (seen.sha256 !== f.sha256 || seen.bytes !== f.bytes) return await drop();
      await fsyncFile(to);
    }
    const manifestText = await readFile(join(stageDir, 'manifest.json'), 'utf8');
    const raw = JSON.parse(manifestText) as unknown;
    if (!exportManifestSchema.safeParse(raw).success) return await drop();
    const manifest = raw as Manifest;
    // Every file the manifest lists but the recordings is here, as it says.
    const byPath = new Map(entry.files.map((f) => [f.path, f]));
    for (const f of manifest.files) {
      if (f.format === 'asciicast') continue;
      const kept = byPath.get(f.path);
      if (!kept || kept.sha256 !== f.sha256 || kept.bytes !== f.bytes) return await drop();
    }
    const red = redactionsFileSchema.safeParse(JSON.parse(await readFile(join(stageDir, 'redactions.json'), 'utf8')));
    if (!red.success) return await drop();
    // The newest use counts for pruning (prune keeps the most recently used).
    const now = new Date();
    await utimes(dir, now, now).catch(() => undefined);
    return { manifest, manifestText, redactions: red.data.redactions };
  } catch (e) {
    // The bundle's disk is full: the export fails as a build would, the entry stays good.
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      await unplace();
      throw e;
    }
    return await drop();
  }
}

/** An entry being written beside a staged bundle: renamed into place by commit() once the bundle is published, else removed. */
export interface StagedEntry {
  commit(): Promise<void>;
  discard(): Promise<void>;
}

/**
 * Copy `files` (bundle-relative, at the top of `stageDir`, with the sizes and hashes
 * the manifest gives them) into a new entry for `key`; null when the disk has no room
 * to spare for it or the copy failed (a cache: the export goes on either way).
 */
export async function stageBundleEntry(cacheDir: string, key: string, stageDir: string, files: Entry['files'], noted: NotedInputs): Promise<StagedEntry | null> {
  const bytes = files.reduce((n, f) => n + f.bytes, 0);
  const tmp = join(cacheDir, `${key}.tmp-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(cacheDir, { recursive: true, mode: PRIVATE_DIR_MODE });
    if ((await freeBytes(cacheDir)) - bytes < CAST_CACHE_RESERVE_BYTES) return null;
    await mkdir(tmp, { mode: PRIVATE_DIR_MODE });
    // All at once, each settled before a failure removes the folder (no copy left writing into it).
    const placed = await Promise.allSettled(files.map((f) => place(join(stageDir, f.path), join(tmp, f.path), true)));
    const failed = placed.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const entry: Entry = { format: FORMAT, key, files, noted };
    const fh = await open(join(tmp, ENTRY_FILE), 'wx', 0o600);
    try {
      await fh.writeFile(JSON.stringify(entry));
    } finally {
      await fh.close();
    }
  } catch {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    return null;
  }
  return {
    async commit() {
      try {
        const dir = entryDir(cacheDir, key);
        await rm(dir, { recursive: true, force: true });
        await rename(tmp, dir);
        await prune(cacheDir, key);
      } catch {
        await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      }
    },
    async discard() {
      await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    },
  };
}

/** Keep the newest KEPT_BUNDLES entries (`keep` among them), and no crash's leftovers. */
async function prune(cacheDir: string, keep: string): Promise<void> {
  await dropStaleTemporaries(cacheDir);
  const names = (await readdir(cacheDir).catch(() => [] as string[])).filter((n) => n !== keep && !/\.tmp-[0-9a-f]{12}$/.test(n));
  const entries: Array<{ name: string; at: number }> = [];
  for (const name of names) {
    const st = await stat(join(cacheDir, name)).catch(() => null);
    if (st) entries.push({ name, at: st.mtimeMs });
  }
  entries.sort((a, b) => b.at - a.at);
  for (const e of entries.slice(KEPT_BUNDLES - 1)) await rm(join(cacheDir, e.name), { recursive: true, force: true }).catch(() => undefined);
}
