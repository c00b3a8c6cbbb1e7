// Reading untrusted input: JSON with the line and column of a syntax error, JSONL
// as a stream of numbered lines (bounded memory however large the file), hashes of
// files and folders, and zod issues as "field a.b[2]: expected string".
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { ImportError } from './types';

export const HEAD_BYTES = 64 * 1024;

export async function readHead(path: string, bytes = HEAD_BYTES): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export async function readTail(path: string, size: number, bytes = HEAD_BYTES): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const n = Math.min(bytes, size);
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, size - n);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** SHA-256 of a file, streamed. */
export async function sha256File(path: string, onBytes?: (n: number) => void): Promise<string> {
  const h = createHash('sha256');
  let n = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    n += (chunk as Buffer).length;
    onBytes?.(n);
  }
  return h.digest('hex');
}

/** SHA-256 of a folder: of its sorted relative paths, each with its file's hash. */
export async function sha256Dir(dir: string, files: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  for (const f of files) h.update(`${f}\u0000${await sha256File(join(dir, f))}\n`);
  return h.digest('hex');
}

function lineCol(text: string, pos: number): { line: number; col: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, col: pos - last };
}

/**
 * Where a JSON text stops being valid: a small scanner run only after JSON.parse
 * failed, since V8's messages do not always carry a position.
 */
export function jsonErrorAt(text: string): { pos: number; what: string } | null {
  let i = 0;
  const ws = () => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\n' || text[i] === '\r' || text[i] === '\t')) i++;
  };
  const fail = (what: string) => ({ pos: i, what });
  type R = { pos: number; what: string } | null;
  const value = (): R => {
    ws();
    if (i >= text.length) return fail('the text ends where a value should be (truncated?)');
    const c = text[i]!;
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      ws();
      if (text[i] === close) {
        i++;
        return null;
      }
      for (;;) {
        if (c === '{') {
          ws();
          if (text[i] !== '"') return i >= text.length ? fail('the text ends inside an object (truncated?)') : fail('expected a property name in double quotes');
          const e = str();
          if (e) return e;
          ws();
          if (text[i] !== ':') return i >= text.length ? fail('the text ends inside an object (truncated?)') : fail("expected ':' after the property name");
          i++;
        }
        const e = value();
        if (e) return e;
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          return null;
        }
        return i >= text.length ? fail(`the text ends inside ${c === '{' ? 'an object' : 'an array'} (truncated?)`) : fail(`expected ',' or '${close}'`);
      }
    }
    if (c === '"') return str();
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|^true|^false|^null/.exec(text.slice(i, i + 400));
    if (!m) return fail(`unexpected character ${JSON.stringify(c)}`);
    i += m[0].length;
    return null;
  };
  const str = (): R => {
    i++;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return null;
      }
      if (c === 92) i += 2;
      else if (c < 32) return fail('a control character (e.g. a raw newline) inside a string');
      else i++;
    }
    return fail('the text ends inside a string (truncated?)');
  };
  const e = value();
  if (e) return e;
  ws();
  return i < text.length ? fail('unexpected text after the JSON value') : null;
}

/** JSON.parse with an error that names the file, line and column. */
export function parseJson(text: string, file: string, lineOffset = 0): unknown {
  try {
    return JSON.parse(text);
  } catch {
    const at = jsonErrorAt(text);
    if (!at) throw new ImportError(file, lineOffset ? `line ${lineOffset}` : null, 'not valid JSON');
    const { line, col } = lineCol(text, at.pos);
    const where = lineOffset ? `line ${lineOffset}${line > 1 ? ` (+${line - 1})` : ''}, column ${col}` : `line ${line}, column ${col}`;
    throw new ImportError(file, where, `not valid JSON: ${at.what}`);
  }
}

export async function readJsonFile(path: string, name: string): Promise<unknown> {
  return parseJson(await readUtf8(path, name), name);
}

/**
 * A whole file as text, refused when it is not UTF-8: decoding would replace the bytes
 * it cannot read with U+FFFD, and the session would hold text its source never had.
 */
export async function readUtf8(path: string, name: string): Promise<string> {
  const buf = await readFile(path);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw notUtf8(name, buf, 0, 1);
  }
}

/** Where in `buf` (its first byte at file offset `base`, on line `line`) UTF-8 decoding first fails. */
function notUtf8(name: string, buf: Buffer, base: number, line: number): ImportError {
  let lo = 0;
  let hi = buf.length;
  // The longest prefix that decodes (whole characters): the bad byte is just after it.
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, mid), { stream: true });
      lo = mid;
    } catch {
      hi = mid - 1;
    }
  }
  let n = line;
  for (let i = 0; i < lo; i++) if (buf[i] === 10) n++;
  return new ImportError(name, `line ${n}`, `is not UTF-8 text (near byte ${base + lo} of the file); nothing was imported, since replacing it would change what the source says`);
}

export interface Line {
  text: string;
  /** 1-based. */
  n: number;
  /** Bytes of the file read up to the end of this line. */
  bytes: number;
}

/** The lines of a file as a stream; blank lines are skipped. */
export async function* readLines(path: string, name = path): AsyncGenerator<Line> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let rest = '';
  let n = 0;
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const base = bytes;
    bytes += (chunk as Buffer).length;
    let decoded: string;
    try {
      decoded = decoder.decode(chunk as Buffer, { stream: true });
    } catch {
      throw notUtf8(name, chunk as Buffer, base, n + 1);
    }
    const text = rest + decoded;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      n++;
      const line = text.slice(start, nl).replace(/\r$/, '');
      if (line.trim()) yield { text: line, n, bytes };
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  try {
    rest += decoder.decode();
  } catch {
    throw new ImportError(name, `line ${n + 1}`, 'ends inside a UTF-8 character: the file is cut short or not UTF-8 text; nothing was imported');
  }
  if (rest.trim()) yield { text: rest.replace(/\r$/, ''), n: n + 1, bytes };
}

/** Validate with zod; a failure names the first offending field. */
export function check<T>(schema: z.ZodType<T>, value: unknown, file: string, where: string | null, what: string): T {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const path = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
  throw new ImportError(file, where, `not ${what}: ${path ? `field ${path}: ` : ''}${issue.message}`);
}

/** A timestamp (ISO text, seconds or milliseconds since the epoch) as ms; undefined when unreadable. */
/**
 * A source tool's version string ("0.38.0", "2.1.3-beta") at `min` (major, minor, patch…)
 * or later; false when it is not a version.
 */
export function versionAtLeast(v: unknown, min: readonly number[]): boolean {
  const m = typeof v === 'string' ? /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(v) : null;
  if (!m) return false;
  const got = [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)];
  for (let i = 0; i < min.length; i++) if ((got[i] ?? 0) !== min[i]) return (got[i] ?? 0) > min[i]!;
  return true;
}

export function toMs(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return v < 1e11 ? v * 1000 : v;
  if (typeof v === 'string' && v) {
    // Naive ISO times (no zone), as Python's isoformat() writes them, are read as UTC.
    const t = Date.parse(/T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(v) ? `${v}Z` : v);
    return Number.isFinite(t) ? t : undefined;
  }
  return undefined;
}

/** Any value as text for an observation: strings verbatim, the rest as JSON. */
export function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (v === undefined || v === null) return '';
  return JSON.stringify(v);
}

/** Tool-call arguments as the raw JSON text the model would have produced. */
export function argsText(v: unknown): string {
  if (typeof v === 'string') return v;
  return JSON.stringify(v ?? {});
}

export interface SourceRecord {
  value: unknown;
  /** "line 12" (JSONL) or "record 3" (a JSON list) or null (one JSON value). */
  where: string | null;
  /** 1-based position among the records. */
  index: number;
}

/**
 * The records of a JSON or JSON Lines file: a .jsonl file line by line (streamed),
 * otherwise one JSON value, a list being its records. A .jsonl file that holds one
 * multi-line JSON list is refused with a message saying so, rather than failing on
 * its first line.
 */
export async function* readRecords(path: string, name: string, head: Buffer, onBytes?: (n: number) => void): AsyncGenerator<SourceRecord> {
  const text = head.toString('utf8').replace(/^\uFEFF/, '');
  const first = text.trimStart()[0];
  const jsonl = /\.jsonl$/i.test(name) || (first === '{' && /}\s*\r?\n\s*{/.test(text));
  if (jsonl) {
    if (first === '[') {
      const firstLine = text.trimStart().split('\n')[0]!.trim();
      if (!/]\s*$/.test(firstLine)) throw new ImportError(name, 'line 1', 'a JSON list where JSON Lines (one JSON object per line) were expected; save it as .json to import it as a list of records');
    }
    let index = 0;
    for await (const line of readLines(path, name)) {
      onBytes?.(line.bytes);
      const value = parseJson(line.text, name, line.n);
      if (Array.isArray(value)) throw new ImportError(name, `line ${line.n}`, 'a JSON list where JSON Lines (one JSON object per line) were expected');
      yield { value, where: `line ${line.n}`, index: ++index };
    }
    return;
  }
  const value = await readJsonFile(path, name);
  onBytes?.(Buffer.byteLength(text));
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield { value: v, where: `record ${i + 1}`, index: i + 1 };
  } else yield { value, where: null, index: 1 };
}

/**
 * JSON text as Python's json.dumps writes it by default (", " and ": " separators,
 * non-ASCII escaped as \uXXXX): the form Python agents put observations in the
 * model's context, so a result rebuilt from a structured observation reads as the
 * agent sent it.
 */
export function pyJson(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (typeof v === 'number') return Number.isFinite(v) ? (Number.isInteger(v) && !Object.is(v, -0) ? String(v) : pyFloat(v)) : v > 0 ? 'Infinity' : v < 0 ? '-Infinity' : 'NaN';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(pyJson).join(', ')}]`;
  if (typeof v === 'object') return `{${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${pyJson(k)}: ${pyJson(x)}`).join(', ')}}`;
  return 'null';
}

function pyFloat(v: number): string {
  // Python's repr: shortest round-trip digits, exponent from 1e16 up and below 1e-4.
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e16 || a < 1e-4)) {
    const [m, e] = v.toExponential().split('e') as [string, string];
    const exp = Number(e);
    return `${m.includes('.') ? m : m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const s = String(v);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}
