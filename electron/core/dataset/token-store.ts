// Token counts of a session's texts, kept beside its event log (`token-counts.bin`) so
// that an export counts only the texts no earlier export counted: counting exactly
// (o200k_base, tokens.ts) was most of an OpenAI export's time, and loading the
// tokenizer alone ~0.4 s. Keyed by the SHA-256 of the text, so an entry can never
// answer for another text and nothing needs invalidating when the log grows; a file
// of another format or tokenizer, or cut short, is ignored and rewritten whole.
//
//   magic "APTOKEN2" + 8 bytes naming the tokenizer (SHA-256 prefix of its name and
//   version), then records of 16 bytes (SHA-256 prefix) + uint32 LE count. The
//   tokenizer's version is in the header: a build with another gpt-tokenizer (whose
//   ranks or splitting may count a text differently) never reads this one's counts.
//
// Each save keeps only the texts of that export, so the file follows the session,
// not its history. Written to a temporary file (0600) and renamed: a reader sees the
// old file or the new one. Not fsync'd: a file lost in a crash is only recounted.
import { hash } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { appendRecords, readRecords, writeRecords } from './record-file';

export const TOKEN_STORE_FILE = 'token-counts.bin';
/** The tokenizer the counts are of, with its version. */
function tokenizerId(): string {
  try {
    return `o200k_base gpt-tokenizer@${(createRequire(import.meta.url)('gpt-tokenizer/package.json') as { version: string }).version}`;
  } catch {
    return 'o200k_base gpt-tokenizer@unknown';
  }
}
/** The header of a file holding counts made by `tokenizer` (exported for tests). */
export function storeHeader(tokenizer: string): Buffer {
  return Buffer.concat([Buffer.from('APTOKEN2', 'latin1'), (hash('sha256', tokenizer, 'buffer') as Buffer).subarray(0, 8)]);
}
const MAGIC = storeHeader(tokenizerId());
export const TOKEN_STORE_HEADER_BYTES = MAGIC.length;
const KEY_BYTES = 16;
const RECORD = KEY_BYTES + 4;

/** Texts hashed by textKey in this process (tests: what a session's kept keys spared). */
let hashed = 0;
export function hashedTexts(): number {
  return hashed;
}

/** The store's key of a text. */
export function textKey(s: string): string {
  hashed++;
  // base64 of 16 bytes: a short, flat Map key.
  return (hash('sha256', s, 'buffer') as Buffer).toString('base64', 0, KEY_BYTES);
}

export class TokenCountStore {
  /** What the file held. */
  private readonly known: Map<string, number>;
  /** What this export used, in first-use order: what the next save writes. */
  private readonly used = new Map<string, number>();
  private added = 0;

  private constructor(private readonly file: string, known: Map<string, number>) {
    this.known = known;
  }

  /** The store of the session folder `dir` (empty when it has none, or one that is not valid). */
  static async open(dir: string): Promise<TokenCountStore> {
    const file = join(dir, TOKEN_STORE_FILE);
    const known = new Map<string, number>();
    const buf = await readRecords(file, MAGIC, RECORD);
    if (buf) {
      for (let at = 0; at < buf.length; at += RECORD) known.set(buf.toString('base64', at, at + KEY_BYTES), buf.readUInt32LE(at + KEY_BYTES));
    }
    return new TokenCountStore(file, known);
  }

  get size(): number {
    return this.known.size;
  }

  /** Whether the file holds a count for this key (not noted as used by this export). */
  has(key: string): boolean {
    return this.known.has(key);
  }

  /** The count of the text with this key, if an earlier export counted it. */
  get(key: string): number | undefined {
    const n = this.known.get(key);
    if (n !== undefined) this.used.set(key, n);
    return n;
  }

  /** The count of a text used by this export (counted now, or known). */
  put(key: string, n: number): void {
    if (!this.used.has(key)) {
      this.used.set(key, n);
      if (this.known.get(key) !== n) this.added++;
    }
  }

  /** Whether a save would change the file. */
  get stale(): boolean {
    return this.added > 0 || this.used.size !== this.known.size;
  }

  /** Write the counts this export used, when they differ from the file's. */
  async save(): Promise<void> {
    if (!this.stale) return;
    // A cache: a session folder that cannot take it (read-only, full) only costs the next export a recount.
    await writeRecords(this.file, MAGIC, countRecords([...this.used])).catch(() => undefined);
  }
}

/**
 * Add counts to the store of the session folder `dir` without reading it: appended to a
 * valid file, else a new one (0600, renamed into place) holding only these. Used as
 * texts are recorded (token-warmer.ts), so an export finds them counted. A write torn by
 * a crash leaves a file of the wrong length, which is ignored and rewritten whole.
 */
export async function addTokenCounts(dir: string, counts: ReadonlyArray<readonly [string, number]>): Promise<void> {
  if (!counts.length) return;
  await appendRecords(join(dir, TOKEN_STORE_FILE), MAGIC, RECORD, countRecords(counts));
}

/** Records of (key, count). */
function countRecords(counts: ReadonlyArray<readonly [string, number]>): Buffer {
  const records = Buffer.allocUnsafe(counts.length * RECORD);
  counts.forEach(([key, n], i) => {
    records.write(key, i * RECORD, KEY_BYTES, 'base64');
    records.writeUInt32LE(n, i * RECORD + KEY_BYTES);
  });
  return records;
}
