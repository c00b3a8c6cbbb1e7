// Files of fixed-size records under a header, kept beside a session's log as caches
// (token-counts.bin, redaction-clean.bin): appended to as texts are recorded, rewritten
// whole by an export. Not fsync'd: a cache lost or torn in a crash is only made again.
import { open, readFile } from 'node:fs/promises';
import { writeFully } from '../store/disk';
import { PRIVATE_FILE_MODE, replaceFile } from '../store/private-files';

/** A file of `size` bytes starting with `head` holds whole records of `recordBytes` under `header`. */
function valid(size: number, head: Buffer, header: Buffer, recordBytes: number): boolean {
  return size >= header.length && head.subarray(0, header.length).equals(header) && (size - header.length) % recordBytes === 0;
}

/** The records of `file` (what follows its header), or null when it is missing or not a valid file of this header and record size. */
export async function readRecords(file: string, header: Buffer, recordBytes: number): Promise<Buffer | null> {
  const buf = await readFile(file).catch(() => null);
  return buf && valid(buf.length, buf, header, recordBytes) ? buf.subarray(header.length) : null;
}

/** Replace `file` with `header` and `records` (0600, renamed into place: a reader sees the old file or the new one). */
export function writeRecords(file: string, header: Buffer, records: Buffer): Promise<void> {
  return replaceFile(file, (fh) => writeFully(fh, Buffer.concat([header, records]), 0));
}

/**
 * Append `records` to `file` when it is a valid file of this header and record size
 * (read without reading its records), else write a new one holding only these. The
 * header is read through the descriptor the records are appended by: a file renamed
 * into place meanwhile (an export's, under another header) never receives them. A write
 * torn by a crash leaves a file of the wrong length, which the next reader ignores and
 * the next write replaces.
 */
export async function appendRecords(file: string, header: Buffer, recordBytes: number, records: Buffer): Promise<void> {
  const fh = await open(file, 'a+', PRIVATE_FILE_MODE);
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(header.length);
    await fh.read(head, 0, header.length, 0);
    if (valid(size, head, header, recordBytes)) {
      await writeFully(fh, records);
      return;
    }
  } finally {
    await fh.close();
  }
  await writeRecords(file, header, records);
}
