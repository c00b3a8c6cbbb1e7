// Imported sessions are written into a staging folder beside sessions/ and renamed
// into place only once the whole input was read and every event validated, so a
// malformed file, a cancel or a crash leaves no half session: the workspace either
// gains every session of the input or none. (Staging lives outside sessions/ so the
// workspace's folder scan never indexes a half-written one; stale staging folders
// of a crashed import are removed by the next import.)
import { randomUUID } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sessionEventSchema, type SessionEventBody } from '../../../shared/events';
import { ApolloError } from '../../../shared/errors';
import { mkdirPrivate, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from '../store/private-files';
import type { Workspace } from '../store/workspace';

const STAGING = '.import-staging';

/** A write stream that honours backpressure, so a 1 GB input is written with bounded memory. */
class Sink {
  private readonly stream: WriteStream;
  private failed: Error | null = null;
  bytes = 0;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { flags: 'w', mode: PRIVATE_FILE_MODE });
    this.stream.on('error', (e) => (this.failed = e));
  }

  async write(data: string | Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    this.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (!this.stream.write(data)) await new Promise<void>((r) => this.stream.once('drain', r));
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.stream.end((err?: Error | null) => (err ? reject(err) : resolve()));
    });
    if (this.failed) throw this.failed;
    // Durable before the rename makes it visible.
    const fh = await open(this.path, 'r+');
    try {
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }
}

/** A terminal recording being imported: raw output plus its timing index (terminal-recording.ts layout). */
export class StagedRecording {
  private readonly out: Sink;
  private readonly timing: Sink;

  constructor(dir: string, readonly terminalId: string) {
    this.out = new Sink(join(dir, `${terminalId}.out`));
    this.timing = new Sink(join(dir, `${terminalId}.timing.jsonl`));
  }

  get size(): number {
    return this.out.bytes;
  }

  /** Append output shown at `ts`; returns the offset it starts at. */
  async append(data: Buffer, ts: number): Promise<number> {
    const offset = this.out.bytes;
    if (data.length === 0) return offset;
    await this.out.write(data);
    await this.timing.write(`[${Math.round(ts)},${offset},${data.length}]\n`);
    return offset;
  }

  async close(): Promise<void> {
    await Promise.all([this.out.close(), this.timing.close()]);
  }
}

export interface EventSource {
  /** Where in the source the event comes from, for the error message when it does not validate. */
  where?: string;
}

/** One session being imported: its events are validated as they are written. */
export class StagedSession {
  private readonly log: Sink;
  private seq = 0;
  private lastTs: number;
  private readonly recordings = new Map<string, StagedRecording>();
  private readonly sides = new Map<string, Sink>();

  constructor(
    readonly id: string,
    readonly dir: string,
    private readonly file: string,
    startTs: number,
  ) {
    this.log = new Sink(join(dir, 'events.jsonl'));
    this.lastTs = startTs;
  }

  /** Events written so far. */
  get count(): number {
    return this.seq;
  }

  /**
   * Append an event at `ts` (the source's time; default: the time of the previous
   * event, so order is kept). Refuses an event that is not valid, naming where in
   * the source it comes from: nothing invalid ever reaches a fold.
   */
  async append(body: SessionEventBody, ts?: number, src: EventSource & { keepClock?: boolean } = {}): Promise<void> {
    const t = ts !== undefined && Number.isFinite(ts) && ts >= 0 ? Math.round(ts) : this.lastTs;
    // An event stamped with another clock (the import itself) leaves the source's clock where it was.
    if (!src.keepClock) this.lastTs = t;
    const event = { seq: this.seq + 1, ts: t, ...body };
    const r = sessionEventSchema.safeParse(event);
    if (!r.success) {
      const issue = r.error.issues[0];
      const field = issue ? `${issue.path.join('.') || '(event)'}: ${issue.message}` : 'invalid';
      throw new ApolloError('BAD_REQUEST', `${this.file}${src.where ? `, ${src.where}` : ''}: cannot be imported as a ${body.type} event (${field})`);
    }
    this.seq++;
    await this.log.write(JSON.stringify(event) + '\n');
  }

  async recording(terminalId: string): Promise<StagedRecording> {
    let r = this.recordings.get(terminalId);
    if (!r) {
      await mkdirPrivate(join(this.dir, 'terminals'));
      r = new StagedRecording(join(this.dir, 'terminals'), terminalId);
      this.recordings.set(terminalId, r);
    }
    return r;
  }

  /** A line in a side file of the session folder (import/unknown.jsonl: source records kept verbatim). */
  async side(rel: string, line: string): Promise<void> {
    let s = this.sides.get(rel);
    if (!s) {
      await mkdirPrivate(join(this.dir, rel, '..'));
      s = new Sink(join(this.dir, rel));
      this.sides.set(rel, s);
    }
    await s.write(line.endsWith('\n') ? line : line + '\n');
  }

  async close(): Promise<void> {
    await this.log.close();
    for (const r of this.recordings.values()) await r.close();
    for (const s of this.sides.values()) await s.close();
  }
}

/** The sessions of one input, staged together and committed together. */
export class ImportBatch {
  readonly sessions: StagedSession[] = [];

  private constructor(
    private readonly home: string,
    readonly dir: string,
    private readonly file: string,
  ) {}

  static async open(home: string, file: string): Promise<ImportBatch> {
    const root = join(home, STAGING);
    await mkdirPrivate(root);
    await removeStale(root);
    const dir = join(root, `${process.pid}-${randomUUID()}`);
    await mkdir(dir, { mode: PRIVATE_DIR_MODE });
    return new ImportBatch(home, dir, file);
  }

  /** A new session folder with a fresh id (the same scheme as Workspace.create). */
  async session(startTs: number): Promise<StagedSession> {
    let id: string;
    do id = `${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`;
    while (this.sessions.some((s) => s.id === id) || (await exists(join(this.home, 'sessions', id))));
    const dir = join(this.dir, id);
    await mkdir(dir, { mode: PRIVATE_DIR_MODE });
    const s = new StagedSession(id, dir, this.file, startTs);
    this.sessions.push(s);
    return s;
  }

  /**
   * Move every staged session into the workspace and index them. A failure part-way
   * moves the ones already moved back out, so the workspace never keeps some.
   */
  async commit(ws: Workspace): Promise<string[]> {
    for (const s of this.sessions) await s.close();
    const moved: string[] = [];
    try {
      for (const s of this.sessions) {
        const dest = join(this.home, 'sessions', s.id);
        if (await exists(dest)) throw new ApolloError('CONFLICT', `Session ${s.id} already exists`);
        await rename(s.dir, dest);
        moved.push(s.id);
      }
      await ws.adopt(moved);
    } catch (err) {
      for (const id of moved) await rm(join(this.home, 'sessions', id), { recursive: true, force: true }).catch(() => undefined);
      await this.abort();
      throw err;
    }
    await rm(this.dir, { recursive: true, force: true });
    return moved;
  }

  async abort(): Promise<void> {
    for (const s of this.sessions) await s.close().catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A marker file as a session's working directory: never a folder, so nothing can run "there". */
export async function writeNoEnvironment(dir: string, text: string): Promise<string> {
  await mkdirPrivate(join(dir, 'import'));
  const path = join(dir, 'import', 'no-environment');
  await writeFile(path, text, { mode: PRIVATE_FILE_MODE });
  return path;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}

/** Staging folders of imports whose process is gone (a crash). */
async function removeStale(root: string): Promise<void> {
  for (const name of await readdir(root).catch(() => [] as string[])) {
    const pid = Number(name.split('-')[0]);
    if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && alive(pid))) continue;
    await rm(join(root, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
