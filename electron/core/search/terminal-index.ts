// Search of a terminal recording (800 MB of training output and shell commands in a
// 30-hour session) without reading all of it per query: <terminal>.search.idx beside
// the recording holds, for every 256 KB block of output, a 4 KB bit set of the byte
// trigrams in it (ASCII letters folded to lower case, one hash each). A query reads only
// the blocks whose bit sets hold every trigram of it (a trigram of a match may start in
// the next block, so a block also counts the next block's set), then finds the matches
// in them. A short query (under 3 bytes) has no trigram and reads blocks until it has
// enough matches.
//
//   header (64 bytes)  "APSRCIDX", u32 version 2, u32 block size, u32 set bytes, u32 CRC-32 of the sets,
//                      f64 bytes covered (whole blocks), 32 bytes SHA-256 of the last
//                      4 KB covered (a recording rewritten after a rollback is detected)
//   then one set per covered block
//
// Output after the last whole block is scanned directly; the index is rewritten (a
// temporary file renamed into place, so a reader never sees half of one) once enough
// new output has accumulated, and synced before the rename: an index that comes back
// the right size but partly zeroed after a power loss would silently miss matches, so
// its CRC is checked on load and a mismatch rebuilds it. The sets are loaded in memory on first use (1.6% of the
// recording: 12.5 MB for 800 MB).
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { readFully as readAt, writeFully } from '../store/disk';
import { replaceFile } from '../store/private-files';

const MAGIC = Buffer.from('APSRCIDX', 'latin1');
const VERSION = 2;
const HEADER = 64;
export const SEARCH_BLOCK = 256 * 1024;
const SET_BYTES = 4096;
const SET_BITS_LOG2 = 15;
/** Unindexed output scanned per query before the index is extended. */
const EXTEND_AFTER = 16 << 20;
const FINGERPRINT = 4096;

/** ASCII letters to lower case; every other byte as it is. */
const FOLD = new Uint8Array(256).map((_, i) => (i >= 65 && i <= 90 ? i + 32 : i));

export function foldBytes(src: Buffer, dst: Buffer = Buffer.allocUnsafe(src.length)): Buffer {
  for (let i = 0; i < src.length; i++) dst[i] = FOLD[src[i]!]!;
  return dst;
}

function trigramBit(a: number, b: number, c: number): number {
  return Math.imul((a << 16) | (b << 8) | c, 0x9e3779b1) >>> (32 - SET_BITS_LOG2);
}

/** The set bits of every trigram starting in raw[0, n) (reading up to n + 2), folded as it goes (one pass). */
function fillSet(raw: Buffer, n: number, avail: number, set: Uint8Array): void {
  const last = Math.min(n, avail - 2);
  if (last <= 0) return;
  let a = FOLD[raw[0]!]!;
  let b = FOLD[raw[1]!]!;
  for (let i = 0; i < last; i++) {
    const c = FOLD[raw[i + 2]!]!;
    const bit = Math.imul((a << 16) | (b << 8) | c, 0x9e3779b1) >>> (32 - SET_BITS_LOG2);
    set[bit >>> 3]! |= 1 << (bit & 7);
    a = b;
    b = c;
  }
}

export interface TerminalHit {
  offset: number;
}

interface Loaded {
  covered: number;
  sets: Buffer;
  fingerprint: Buffer;
}

/** The search index of one recording, loaded (and extended) on demand. */
export class TerminalSearchIndex {
  private loaded: Loaded | null = null;
  private building: Promise<void> | null = null;

  constructor(readonly dir: string, readonly terminalId: string) {}

  get outPath(): string {
    return join(this.dir, `${this.terminalId}.out`);
  }

  get indexPath(): string {
    return join(this.dir, `${this.terminalId}.search.idx`);
  }

  /**
   * Offsets of up to `limit` matches of `query` (case-insensitive for ASCII letters),
   * in recording order, and whether there may be more.
   */
  async search(query: string, limit: number): Promise<{ hits: TerminalHit[]; more: boolean }> {
    const q = foldBytes(Buffer.from(query, 'utf8'));
    if (q.length === 0 || q.length > SEARCH_BLOCK) return { hits: [], more: false };
    const fh = await open(this.outPath, 'r').catch(() => null);
    if (!fh) return { hits: [], more: false };
    try {
      const size = (await fh.stat()).size;
      const idx = await this.current(fh, size);
      const bits: number[] = [];
      for (let i = 0; i + 2 < q.length; i++) bits.push(trigramBit(q[i]!, q[i + 1]!, q[i + 2]!));
      const blocks = Math.ceil(size / SEARCH_BLOCK);
      const nSets = idx.covered / SEARCH_BLOCK;
      const has = (b: number, bit: number): boolean => b < nSets && (idx.sets[b * SET_BYTES + (bit >>> 3)]! & (1 << (bit & 7))) !== 0;
      const hits: TerminalHit[] = [];
      const buf = Buffer.allocUnsafe(SEARCH_BLOCK + q.length);
      for (let b = 0; b < blocks; b++) {
        // A block past the index (not yet covered) or one touching it is always read.
        if (b + 1 < nSets && !bits.every((bit) => has(b, bit) || has(b + 1, bit))) continue;
        const start = b * SEARCH_BLOCK;
        const got = await readAt(fh, buf.subarray(0, Math.min(buf.length, size - start)), start);
        const hay = foldBytes(buf.subarray(0, got), buf);
        const inBlock = Math.min(SEARCH_BLOCK, got);
        for (let at = hay.indexOf(q); at >= 0 && at < inBlock; at = hay.indexOf(q, at + 1)) {
          if (hits.length === limit) return { hits, more: true };
          hits.push({ offset: start + at });
        }
      }
      return { hits, more: false };
    } finally {
      await fh.close();
    }
  }

  /** The index as it fits the recording now: loaded, rebuilt, or extended when needed. */
  private async current(fh: FileHandle, size: number): Promise<Loaded> {
    while (this.building) await this.building;
    let idx = this.loaded ?? (await this.read());
    if (idx && (idx.covered > size || !(await this.fits(fh, idx)))) idx = null;
    const whole = Math.floor(size / SEARCH_BLOCK) * SEARCH_BLOCK;
    if (!idx || whole - idx.covered >= EXTEND_AFTER) {
      const base = idx;
      const run = this.extend(fh, base, whole);
      this.building = run.then(() => undefined, () => undefined);
      try {
        idx = await run;
      } finally {
        this.building = null;
      }
    }
    this.loaded = idx;
    return idx;
  }

  private async read(): Promise<Loaded | null> {
    const fh = await open(this.indexPath, 'r').catch(() => null);
    if (!fh) return null;
    try {
      const size = (await fh.stat()).size;
      const head = Buffer.alloc(HEADER);
      if ((await readAt(fh, head, 0)) < HEADER || !head.subarray(0, 8).equals(MAGIC) || head.readUInt32LE(8) !== VERSION
        || head.readUInt32LE(12) !== SEARCH_BLOCK || head.readUInt32LE(16) !== SET_BYTES) return null;
      const covered = head.readDoubleLE(24);
      const n = covered / SEARCH_BLOCK;
      if (!Number.isInteger(n) || n < 0 || size !== HEADER + n * SET_BYTES) return null;
      const sets = Buffer.allocUnsafe(n * SET_BYTES);
      if ((await readAt(fh, sets, HEADER)) < sets.length || crc32(sets) !== head.readUInt32LE(20)) return null;
      return { covered, sets, fingerprint: Buffer.from(head.subarray(32, 64)) };
    } finally {
      await fh.close();
    }
  }

  private async fingerprintOf(fh: FileHandle, covered: number): Promise<Buffer> {
    const n = Math.min(FINGERPRINT, covered);
    const b = Buffer.alloc(n);
    await readAt(fh, b, covered - n);
    return createHash('sha256').update(b).digest();
  }

  /** The bytes the index describes are still those of the recording (not rewritten after a rollback). */
  private async fits(fh: FileHandle, idx: Loaded): Promise<boolean> {
    return (await this.fingerprintOf(fh, idx.covered)).equals(idx.fingerprint);
  }

  /** Sets for the blocks from `base.covered` (or 0) up to `whole`, written as a new index. */
  private async extend(fh: FileHandle, base: Loaded | null, whole: number): Promise<Loaded> {
    const from = base?.covered ?? 0;
    const n = whole / SEARCH_BLOCK;
    const sets = Buffer.alloc(n * SET_BYTES);
    if (base) base.sets.copy(sets, 0, 0, Math.min(base.sets.length, sets.length));
    const buf = Buffer.allocUnsafe(SEARCH_BLOCK + 2);
    for (let b = from / SEARCH_BLOCK; b < n; b++) {
      const got = await readAt(fh, buf, b * SEARCH_BLOCK);
      fillSet(buf, SEARCH_BLOCK, got, sets.subarray(b * SET_BYTES, (b + 1) * SET_BYTES));
    }
    const fingerprint = await this.fingerprintOf(fh, whole);
    const head = Buffer.alloc(HEADER);
    MAGIC.copy(head, 0);
    head.writeUInt32LE(VERSION, 8);
    head.writeUInt32LE(SEARCH_BLOCK, 12);
    head.writeUInt32LE(SET_BYTES, 16);
    head.writeUInt32LE(crc32(sets), 20);
    head.writeDoubleLE(whole, 24);
    fingerprint.copy(head, 32);
    // Derived and rebuildable: written whole and renamed, so a reader sees the old index or the new.
    try {
      await replaceFile(this.indexPath, async (out) => {
        await writeFully(out, head, 0);
        await writeFully(out, sets, HEADER);
      }, { sync: true });
    } catch {
      // A folder that cannot be written (read-only copy): the index is kept in memory only.
    }
    return { covered: whole, sets, fingerprint };
  }

  /** Bytes of the recording indexed so far (0 before the first search). */
  async coveredBytes(): Promise<number> {
    return (this.loaded ?? (await this.read()))?.covered ?? 0;
  }
}

/** Whether `dir` holds a recording of `terminalId`. */
export async function hasRecording(dir: string, terminalId: string): Promise<boolean> {
  return stat(join(dir, `${terminalId}.out`)).then(() => true, () => false);
}
