// An endpoint key kept in the app's keychain (keychain.ts) cannot be read by the command
// line, nor by the app once it runs without that keychain: `apollo export` and `apollo
// merge` redacted with the patterns only, and a key of no known shape that an annotator
// pasted into a terminal or guidance went out in the dataset. So when a key is stored,
// the app also keeps, in the owner-only workspace settings, a keyed hash of it: its
// length, the characters it is made of, a random salt and HMAC-SHA-256(salt, key). A
// redactor given that fingerprint hashes every run of those characters as long as the key
// (at the run's start and at its end: a key is written beside a quote, a space, `=`, or
// a full stop; at every place of a run at most GLUED_REACH longer) and replaces what
// matches, as it does the value itself.
//
// Only keys of MIN_FINGERPRINT_LENGTH characters or more get one: the hash of a short
// key could be found by trying every key, so those stay in the keychain alone (the
// command line says so when it exports). A key's value never leaves the keychain.
import { createHmac, randomBytes } from 'node:crypto';
import { z } from 'zod';

export const MIN_FINGERPRINT_LENGTH = 16;
/** Up to this many characters of a run besides a key, every place in it is tried. */
const GLUED_REACH = 32;

export const KeyFingerprintSchema = z.object({
  length: z.number().int().min(MIN_FINGERPRINT_LENGTH).max(4096),
  /** Every character a run of the key is made of (the key's own, its letters as both cases). */
  alphabet: z.string().min(1).max(256),
  salt: z.string().regex(/^[A-Za-z0-9+/]+=*$/),
  hmac: z.string().regex(/^[A-Za-z0-9+/]+=*$/),
});
export type KeyFingerprint = z.infer<typeof KeyFingerprintSchema>;

/** A secret to redact: its value, or (a key this process cannot read) its fingerprint. */
export type SecretSpec = string | KeyFingerprint;

const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';

/**
 * The characters a run holding the key is read over: the key's punctuation as it is,
 * every letter if it has one, every digit if it has one (a hex key and its neighbours,
 * a key's other case in what is around it: a run reads up to the first other character).
 */
function alphabetOf(key: string): string {
  const own = new Set(key);
  let out = '';
  if (/[A-Za-z]/.test(key)) out += LETTERS;
  if (/[0-9]/.test(key)) out += DIGITS;
  for (const c of [...own].sort()) if (!/[A-Za-z0-9]/.test(c)) out += c;
  return out;
}

function hmac(salt: string, text: string): string {
  return createHmac('sha256', Buffer.from(salt, 'base64')).update(text).digest('base64');
}

/**
 * Fingerprints of `key` as it may be written: as it is, and as it reads inside JSON text
 * when that differs (a quote or a backslash in it). Empty for a key too short to
 * fingerprint safely, or one holding a line break (it is never one run).
 */
export function fingerprintKey(key: string): KeyFingerprint[] {
  if (key.length < MIN_FINGERPRINT_LENGTH || /\s/.test(key)) return [];
  const forms = new Set([key, JSON.stringify(key).slice(1, -1)]);
  return [...forms].map((form) => {
    const salt = randomBytes(16).toString('base64');
    return { length: form.length, alphabet: alphabetOf(form), salt, hmac: hmac(salt, form) };
  });
}

/** Whether `value` is the key `fp` was made from (or its JSON form). */
export function isKeyOf(fp: KeyFingerprint, value: string): boolean {
  return value.length === fp.length && hmac(fp.salt, value) === fp.hmac;
}

function escapeClass(chars: string): string {
  return [...chars].map((c) => (/[\\\]^-]/.test(c) ? `\\${c}` : c)).join('');
}

/** Finds the keys of a list of fingerprints in text (see the file header). */
export class KeyFingerprints {
  private readonly groups: Array<{ run: RegExp; any: RegExp; lengths: Array<[number, KeyFingerprint[]]> }> = [];

  constructor(fps: readonly KeyFingerprint[]) {
    const byAlphabet = new Map<string, Map<number, KeyFingerprint[]>>();
    for (const fp of fps) {
      const lengths = byAlphabet.get(fp.alphabet) ?? new Map<number, KeyFingerprint[]>();
      byAlphabet.set(fp.alphabet, lengths);
      lengths.set(fp.length, [...(lengths.get(fp.length) ?? []), fp]);
    }
    for (const [alphabet, lengths] of [...byAlphabet].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const shortest = Math.min(...lengths.keys());
      const cls = `[${escapeClass(alphabet)}]{${shortest},}`;
      this.groups.push({ run: new RegExp(cls, 'g'), any: new RegExp(cls), lengths: [...lengths].sort(([a], [b]) => a - b) });
    }
  }

  /** False when `text` has no run long enough to be one of the keys. */
  mayHold(text: string): boolean {
    return this.groups.some((g) => g.any.test(text));
  }

  /** [start, end) of each key found in `text`, in no particular order. */
  find(text: string): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    for (const g of this.groups) {
      g.run.lastIndex = 0;
      for (const m of text.matchAll(g.run)) {
        const a = m.index;
        const b = a + m[0].length;
        for (const [len, fps] of g.lengths) {
          if (len > b - a) break;
          // Every place in a run a little longer than the key (glued to a few of its
          // characters on both sides); in a longer one (a blob), its start and its end.
          const starts = b - a - len <= GLUED_REACH ? Array.from({ length: b - a - len + 1 }, (_, k) => a + k) : [a, b - len];
          for (const at of starts) {
            const piece = text.slice(at, at + len);
            if (fps.some((fp) => hmac(fp.salt, piece) === fp.hmac)) {
              out.push([at, at + len]);
              break;
            }
          }
        }
      }
    }
    return out;
  }
}
