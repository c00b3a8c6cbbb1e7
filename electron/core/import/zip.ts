// A small ZIP reader for Inspect's .eval logs: the central directory (ZIP64 too),
// then one entry at a time, stored or deflated (node:zlib inflateRaw). Hand-written
// because no zip library is a dependency of the app (one that sits in node_modules
// only as a build tool's dependency may vanish with it), and reading a few named
// entries needs nothing more than this: no encryption, no multi-disk archives.
import { open, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { inflateRaw } from 'node:zlib';
import { readFully } from '../store/disk';

const inflate = promisify(inflateRaw);

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

export class ZipError extends Error {}

async function readAt(fh: FileHandle, pos: number, len: number): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  if ((await readFully(fh, buf, pos)) < len) throw new ZipError('the archive is truncated');
  return buf;
}

export class ZipReader {
  private constructor(
    private readonly fh: FileHandle,
    readonly entries: ZipEntry[],
  ) {}

  static async open(path: string): Promise<ZipReader> {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      return new ZipReader(fh, await centralDirectory(fh, size));
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  entry(name: string): ZipEntry | undefined {
    return this.entries.find((e) => e.name === name);
  }

  async read(e: ZipEntry): Promise<Buffer> {
    const local = await readAt(this.fh, e.localOffset, 30);
    if (local.readUInt32LE(0) !== 0x04034b50) throw new ZipError(`entry ${e.name}: bad local header`);
    const start = e.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const data = await readAt(this.fh, start, e.compressedSize);
    if (e.method === 0) return data;
    if (e.method === 8) return inflate(data);
    throw new ZipError(`entry ${e.name}: compression method ${e.method} is not supported`);
  }

  close(): Promise<void> {
    return this.fh.close();
  }
}

async function centralDirectory(fh: FileHandle, size: number): Promise<ZipEntry[]> {
  // The end record is in the last 22 bytes plus a comment of up to 64 KiB.
  const tailLen = Math.min(size, 22 + 0xffff + 20);
  const tail = await readAt(fh, size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new ZipError('not a zip archive (no end of central directory)');
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || count === 0xffff) {
    // ZIP64: the locator just before the end record points at the ZIP64 end record.
    const loc = eocd - 20;
    if (loc < 0 || tail.readUInt32LE(loc) !== 0x07064b50) throw new ZipError('ZIP64 locator missing');
    const z64 = await readAt(fh, Number(tail.readBigUInt64LE(loc + 8)), 56);
    if (z64.readUInt32LE(0) !== 0x06064b50) throw new ZipError('bad ZIP64 end record');
    count = Number(z64.readBigUInt64LE(32));
    cdSize = Number(z64.readBigUInt64LE(40));
    cdOffset = Number(z64.readBigUInt64LE(48));
  }
  const cd = await readAt(fh, cdOffset, cdSize);
  const out: ZipEntry[] = [];
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (cd.readUInt32LE(p) !== 0x02014b50) throw new ZipError('bad central directory entry');
    const method = cd.readUInt16LE(p + 10);
    let compressedSize = cd.readUInt32LE(p + 20);
    let size32 = cd.readUInt32LE(p + 24);
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    let localOffset = cd.readUInt32LE(p + 42);
    const name = cd.toString('utf8', p + 46, p + 46 + nameLen);
    // ZIP64 sizes and offset, in that order, for the fields that are 0xFFFFFFFF.
    let x = p + 46 + nameLen;
    const end = x + extraLen;
    while (x + 4 <= end) {
      const id = cd.readUInt16LE(x);
      const len = cd.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        if (size32 === 0xffffffff) {
          size32 = Number(cd.readBigUInt64LE(q));
          q += 8;
        }
        if (compressedSize === 0xffffffff) {
          compressedSize = Number(cd.readBigUInt64LE(q));
          q += 8;
        }
        if (localOffset === 0xffffffff) localOffset = Number(cd.readBigUInt64LE(q));
      }
      x += 4 + len;
    }
    out.push({ name, method, compressedSize, size: size32, localOffset });
    p = end + commentLen;
  }
  return out;
}
