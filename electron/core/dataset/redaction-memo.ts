// The texts an export's redactor found nothing in, kept beside the session's event log
// (`redaction-clean.bin`), so that the next export scans only texts no earlier export
// scanned under the same rules. Redaction was half of a repeated OpenAI export's time
// (observations are JSON text: parsed, each string viewed and matched), and a session's
// texts never change once recorded: only new steps, and new labels, follow.
//
// Only a text's absence of secrets is kept, never a finding: a text with a hit is
// redacted afresh every time (it is rare), so nothing here can put a replacement where
// the rules would not. Keyed by the SHA-256 of the text (as token-counts.bin is), under
// a header naming the rules and the configured secrets (Redactor.fingerprint): a build
// whose rules differ in any way, or another list of secrets, never reads this file.
//
//   magic "APCLEAN1" + 16 bytes of the redactor's fingerprint, then 16-byte keys.
//
// The host also adds the texts of each new message as it is recorded, found clean by
// the same rules and the profiles' secrets (token-warmer.ts): the session's first export
// finds them there, unless its secrets differ (then the header does).
//
// Each save keeps the texts of that export only, so the file follows the session, not
// its history. Written to a temporary file (0600) and renamed; not fsync'd: a file lost
// in a crash (or one that is not valid) is ignored, and the texts are scanned again.
import { join } from 'node:path';
import { appendRecords, readRecords, writeRecords } from './record-file';
import type { CleanTexts } from './redact';
import { exportTextKey } from './tokens';

export const REDACTION_MEMO_FILE = 'redaction-clean.bin';
const MAGIC = Buffer.from('APCLEAN1', 'latin1');
const KEY_BYTES = 16;

/**
 * Texts this short are scanned again rather than looked up: hashing them costs about
 * what the redactor's first check (mayHold) does.
 */
export const MEMO_MIN_CHARS = 256;

function headerOf(fingerprint: Buffer): Buffer {
  return Buffer.concat([MAGIC, fingerprint.subarray(0, KEY_BYTES)]);
}

export class RedactionMemo implements CleanTexts {
  private readonly used = new Set<string>();
  private added = 0;

  private constructor(private readonly file: string, private readonly header: Buffer, private readonly known: Set<string>) {}

  /** The memo of the session folder `dir` for a redactor with this fingerprint (empty when none is valid for it). */
  static async open(dir: string, fingerprint: Buffer): Promise<RedactionMemo> {
    const file = join(dir, REDACTION_MEMO_FILE);
    const header = headerOf(fingerprint);
    const known = new Set<string>();
    const buf = await readRecords(file, header, KEY_BYTES);
    if (buf) for (let at = 0; at < buf.length; at += KEY_BYTES) known.add(buf.toString('base64', at, at + KEY_BYTES));
    return new RedactionMemo(file, header, known);
  }

  keyOf(text: string): string | null {
    return text.length < MEMO_MIN_CHARS ? null : exportTextKey(text);
  }

  isClean(key: string): boolean {
    if (!this.known.has(key)) return false;
    this.used.add(key);
    return true;
  }

  addClean(key: string): void {
    if (this.used.has(key)) return;
    this.used.add(key);
    if (!this.known.has(key)) this.added++;
  }

  /** Write the keys this export used, when they differ from the file's. A session folder that cannot take it only costs the next export a scan. */
  async save(): Promise<void> {
    if (this.added === 0 && this.used.size === this.known.size) return;
    await writeRecords(this.file, this.header, keyRecords([...this.used])).catch(() => undefined);
  }
}

/** Add the keys of texts found clean (`fingerprint`: the redactor's) without reading the memo (see appendRecords). */
export async function addCleanTexts(dir: string, fingerprint: Buffer, keys: readonly string[]): Promise<void> {
  if (!keys.length) return;
  await appendRecords(join(dir, REDACTION_MEMO_FILE), headerOf(fingerprint), KEY_BYTES, keyRecords(keys));
}

function keyRecords(keys: readonly string[]): Buffer {
  const records = Buffer.allocUnsafe(keys.length * KEY_BYTES);
  keys.forEach((k, i) => records.write(k, i * KEY_BYTES, KEY_BYTES, 'base64'));
  return records;
}
