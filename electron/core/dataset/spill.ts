// An external sort for the merge's per-step records, so that what a merge holds does not
// grow with the number of steps it merges: records are added in any order, kept in
// memory up to `runSize`, then sorted and written as a run (JSON lines); reading them
// back merges the runs (a binary heap of one head per run), each run read as a stream.
// The sorted result can be kept as one file and read again as often as needed.
//
// Everything is in one private folder (0700, files 0600) made with mkdtemp in the
// system's temporary folder, removed with `remove()` whatever happened (the merge calls
// it on success, failure and cancel).
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PRIVATE_FILE_MODE } from '../store/private-files';

/** Records per run: enough that a merge of millions of steps makes tens of runs, small enough to hold. */
export const DEFAULT_RUN_SIZE = 16_384;

export class SpillDir {
  private files = 0;

  private constructor(readonly dir: string) {}

  /** A fresh private folder (mkdtemp makes it 0700). */
  static async open(prefix = 'apollo-merge-'): Promise<SpillDir> {
    return new SpillDir(await mkdtemp(join(tmpdir(), prefix)));
  }

  /** A new file name in the folder. */
  file(name: string): string {
    return join(this.dir, `${++this.files}-${name}.jsonl`);
  }

  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Append JSON lines to a new 0600 file, in blocks. */
export class LineFile {
  private chunks: string[] = [];
  private size = 0;
  private handle: Awaited<ReturnType<typeof open>> | null = null;

  constructor(readonly path: string) {}

  async add(x: unknown): Promise<void> {
    const line = `${JSON.stringify(x)}\n`;
    this.chunks.push(line);
    this.size += line.length;
    if (this.size >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    this.handle ??= await open(this.path, 'wx', PRIVATE_FILE_MODE);
    if (this.chunks.length) await this.handle.write(this.chunks.join(''));
    this.chunks = [];
    this.size = 0;
  }

  async close(): Promise<void> {
    await this.flush();
    await this.handle!.close();
    this.handle = null;
  }
}

/** The records of a file written by LineFile, in order. */
export async function* readLines<T>(path: string): AsyncGenerator<T> {
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) yield JSON.parse(line) as T;
  } finally {
    stream.destroy();
  }
}

/** Records sorted by `compare` (a total order: equal records may come in any order), at most `runSize` of them in memory. */
export class ExternalSort<T> {
  private buffer: T[] = [];
  private readonly runs: string[] = [];

  constructor(
    private readonly dir: SpillDir,
    private readonly name: string,
    private readonly compare: (a: T, b: T) => number,
    private readonly runSize = DEFAULT_RUN_SIZE,
  ) {}

  async add(x: T): Promise<void> {
    this.buffer.push(x);
    if (this.buffer.length >= this.runSize) await this.spill();
  }

  private async spill(): Promise<void> {
    const f = new LineFile(this.dir.file(`${this.name}-run`));
    for (const x of this.buffer.sort(this.compare)) await f.add(x);
    await f.close();
    this.runs.push(f.path);
    this.buffer = [];
  }

  /** Every record added, in order (once: the runs are merged as they are read). */
  async *sorted(): AsyncGenerator<T> {
    if (!this.runs.length) {
      const all = this.buffer.sort(this.compare);
      this.buffer = [];
      yield* all;
      return;
    }
    if (this.buffer.length) await this.spill();
    const heads: Array<{ it: AsyncGenerator<T>; x: T }> = [];
    for (const r of this.runs) {
      const it = readLines<T>(r);
      const n = await it.next();
      if (!n.done) heads.push({ it, x: n.value });
    }
    // A binary min-heap of the runs' next records.
    const less = (i: number, j: number): boolean => this.compare(heads[i]!.x, heads[j]!.x) < 0;
    const swap = (i: number, j: number): void => {
      [heads[i], heads[j]] = [heads[j]!, heads[i]!];
    };
    const down = (i: number): void => {
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heads.length && less(l, m)) m = l;
        if (r < heads.length && less(r, m)) m = r;
        if (m === i) return;
        swap(i, m);
        i = m;
      }
    };
    for (let i = (heads.length >> 1) - 1; i >= 0; i--) down(i);
    try {
      while (heads.length) {
        const top = heads[0]!;
        yield top.x;
        const n = await top.it.next();
        if (n.done) {
          heads[0] = heads.at(-1)!;
          heads.pop();
        } else top.x = n.value;
        if (heads.length) down(0);
      }
    } finally {
      for (const h of heads) await h.it.return(undefined);
    }
  }

  /** Sort into one file that can be read again (readLines). */
  async toFile(): Promise<string> {
    const f = new LineFile(this.dir.file(`${this.name}-sorted`));
    for await (const x of this.sorted()) await f.add(x);
    await f.close();
    return f.path;
  }
}
