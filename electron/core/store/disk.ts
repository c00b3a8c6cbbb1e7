// The store's one way to put bytes in a file and to ask how much room is left, so
// that a full disk can be tested without root (a real tmpfs needs `mount`).
//
// Test-only fault injection: when $APOLLO_TEST_DISK_FREE_FILE names a file holding a
// decimal byte count, that count is the free space of a simulated disk shared by
// every process given the variable (a headless CLI run and the test driving it).
// Each write takes the 4 KiB blocks it adds to a file from it (and cutting a file
// back gives them back); a write that finds too few writes what fits and the next
// gets ENOSPC, as the kernel does. Writing a new count "fills" or
// "frees" the disk; removing the file frees it for good. Without the variable (any
// real run) writes go straight to the file system and nothing is read or counted.
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { statfs, type FileHandle } from 'node:fs/promises';

export const DISK_FAULT_ENV = 'APOLLO_TEST_DISK_FREE_FILE';

/** The simulated disk's free bytes, or null when there is none (not a test, or freed). */
function simulated(): { file: string; free: number } | null {
  const file = process.env[DISK_FAULT_ENV];
  if (!file) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const free = Number(text.trim());
  return Number.isFinite(free) && free >= 0 ? { file, free } : null;
}

/**
 * Store a new free count. Never creates the file: a write that read the count before
 * the test removed it (freed the disk for good) must not bring the disk back full.
 */
function setFree(file: string, free: number): void {
  let fd: number;
  try {
    fd = openSync(file, 'r+');
  } catch {
    return;
  }
  try {
    ftruncateSync(fd, 0);
    writeSync(fd, String(free), 0);
  } finally {
    closeSync(fd);
  }
}

function noSpace(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
}

/**
 * Write all of `buf` to `fh`, at `position` (absent: the file's current position, as
 * for a file opened to append). Throws what the file system says (ENOSPC, EIO); bytes
 * written before the failure stay in the file, for the caller to cut back.
 */
export async function writeFully(fh: FileHandle, buf: Buffer, position?: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const at = position === undefined ? null : position + done;
    const length = process.env[DISK_FAULT_ENV] ? await room(fh, buf.length - done, at) : buf.length - done;
    const { bytesWritten } = await fh.write(buf, done, length, at);
    done += bytesWritten;
  }
}

/** The simulated disk allocates whole blocks, as real ones do: a file has room up to the end of its last one. */
const BLOCK = 4096;
const blocks = (bytes: number): number => Math.ceil(bytes / BLOCK);

/**
 * How many of `wanted` bytes (at `at`, null: appended) fit on the simulated disk: a
 * write takes the blocks it adds to the file, and one that needs more blocks than
 * are free writes up to the last block it can have. ENOSPC when not a byte fits.
 */
async function room(fh: FileHandle, wanted: number, at: number | null): Promise<number> {
  const sim = simulated();
  if (!sim) return wanted;
  const size = (await fh.stat()).size;
  const start = at ?? size;
  const reach = (blocks(size) + Math.floor(sim.free / BLOCK)) * BLOCK;
  const granted = Math.max(0, Math.min(wanted, reach - start));
  if (granted === 0) throw noSpace();
  const added = blocks(Math.max(size, start + granted)) - blocks(size);
  if (added > 0) setFree(sim.file, sim.free - added * BLOCK);
  return granted;
}

/** Cut `fh` back to `length` bytes; on the simulated disk the blocks cut off are free again, as on a real one. */
export async function truncateTo(fh: FileHandle, length: number): Promise<void> {
  const before = process.env[DISK_FAULT_ENV] && simulated() ? (await fh.stat()).size : 0;
  await fh.truncate(length);
  // Read again: the test may have freed the disk meanwhile.
  const freed = blocks(before) - blocks(length);
  const sim = freed > 0 ? simulated() : null;
  if (sim) setFree(sim.file, sim.free + freed * BLOCK);
}

/** Bytes free for this user on the file system holding `dir` (0 when unknown). */
export async function freeBytes(dir: string): Promise<number> {
  const sim = simulated();
  if (sim) return sim.free;
  return statfs(dir).then((s) => s.bavail * s.bsize, () => 0);
}

/** Fill `buf` from `pos` (a read may return less than asked); the bytes read, short only at the end of the file. */
export async function readFully(fh: FileHandle, buf: Buffer, pos: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}
