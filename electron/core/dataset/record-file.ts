// Files of fixed-size records under a header, kept beside a session's log as caches
// (token-counts.bin, redaction-clean.bin): appended to as texts are recorded, rewritten
// whole by an export. Not fsync'd: a cache lost or torn in a crash is only made again.
import { open } from 'node:fs/promises';
import { writeFully } from '../store/disk';
import { PRIVATE_FILE_MODE, replaceFile } from '../store/private-files';

/** Whether `buf` (a whole file) is `header` then whole records of `recordBytes`. */
export function validRecordFile(buf: Buffer, header: Buffer, recordBytes: number): boolean {
  return buf.length >= header.length && buf.subarray(0, header.length).equals(header) && (buf.length - header.length) % recordBytes === 0;
}

/**
 * Append `records` to `file` when it is a valid file of this header and record size
 * (read without reading its records), else write a new one (0600, renamed into place)
 * holding only these. The header is read through the descriptor the records are
 * appended by: a file renamed into place meanwhile (an export's, under another header)
 * never receives them. A write torn by a crash leaves a file of the wrong length, which
 * the next reader ignores and the next write replaces.
 */
export async function appendRecords(file: string, header: Buffer, recordBytes: number, records: Buffer): Promise<void> {
  const fh = await open(file, 'a+', PRIVATE_FILE_MODE);
  try {
    const { size } = await fh.stat();
    const head = Buffer.alloc(header.length);
    const { bytesRead } = await fh.read(head, 0, header.length, 0);
    if (bytesRead === header.length && head.equals(header) && (size - header.length) % recordBytes === 0) {
      await writeFully(fh, records);
      return;
    }
  } finally {
    await fh.close();
  }
  await replaceFile(file, (w) => writeFully(w, Buffer.concat([header, records]), 0));
}
