// import.*: a file uploaded by a client in chunks into the staging area (or a file or
// folder named by its path on this machine), then imported by the same code as
// `apollo import`, with progress pushed to that client. A cancel (or a failure) at
// any point removes the upload and every staged session.
import { randomUUID } from 'node:crypto';
import { open, rm, stat, type FileHandle } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import type { ImportPushEvents } from '../../../shared/contract/import';
import { ApolloError } from '../../../shared/errors';
import type { ApolloCore } from '../app';
import { push, toErrorShape, type Connection, type HandlerMap } from '../dispatch';
import { ADAPTERS, importPath } from '../import/index';
import { mkdirPrivate, PRIVATE_FILE_MODE } from '../store/private-files';

type Progress = ImportPushEvents['import.progress'];

interface Upload {
  id: string;
  conn: Connection;
  name: string;
  size: number;
  format?: string;
  allowDuplicate: boolean;
  /** The upload's folder in the staging area; null for a path on this machine (nothing of it to remove). */
  dir: string | null;
  path: string;
  fh: FileHandle | null;
  received: number;
  abort: AbortController;
  /** 'uploading': announced, not started (a path import waits here for import.finish, with all its "bytes" in place). */
  state: 'uploading' | 'importing' | 'over';
  /** Chunks are written one after another, whatever order their requests are handled in. */
  writing: Promise<unknown>;
}

/** Progress pushes at most this often while a stage runs. */
const THROTTLE_MS = 100;

/** A core's uploads, and how one is dropped: closeUploads reaches them from the core's close paths. */
const uploadsOf = new WeakMap<object, { uploads: Map<string, Upload>; cleanup(u: Upload): Promise<void> }>();

/**
 * Drops the uploads still taking bytes (their file handle closed, their staged file
 * removed): those of `connId`, whose client went away and so can never finish or cancel
 * them, or, without it, all of them (the core closes). An upload already importing goes
 * on, or is aborted when the core closes, and cleans up after itself.
 */
export async function closeUploads(core: ApolloCore, connId?: string): Promise<void> {
  const of = uploadsOf.get(core);
  if (!of) return;
  const dropped = [...of.uploads.values()].filter((u) => connId === undefined || u.conn.id === connId);
  await Promise.all(dropped.map(async (u) => {
    if (connId === undefined) u.abort.abort();
    if (u.state !== 'uploading') return;
    await u.writing;
    await of.cleanup(u);
  }));
}

export function importHandlers(core: ApolloCore): HandlerMap {
  const uploads = new Map<string, Upload>();
  const get = (id: string, conn: Connection): Upload => {
    const u = uploads.get(id);
    if (!u || u.conn.id !== conn.id) throw new ApolloError('NOT_FOUND', `No import ${id}`);
    return u;
  };
  const report = (u: Upload, p: Omit<Progress, 'importId' | 'file'>) => push(u.conn, 'import.progress', { importId: u.id, file: u.name, ...p });
  const cleanup = async (u: Upload) => {
    u.state = 'over';
    uploads.delete(u.id);
    await u.fh?.close().catch(() => undefined);
    u.fh = null;
    if (u.dir) await rm(u.dir, { recursive: true, force: true }).catch(() => undefined);
  };
  uploadsOf.set(core, { uploads, cleanup });

  return {
    'import.formats': () => ADAPTERS.map((a) => ({ format: a.format, description: a.description })),

    'import.begin': async ({ name, size, format, allowDuplicate }, conn) => {
      if (format && !ADAPTERS.some((a) => a.format === format)) throw new ApolloError('BAD_REQUEST', `Unknown import format "${format}"`);
      const id = randomUUID();
      // Under the staging area, named by this process: a crash leaves it to be swept.
      const dir = join(core.ws.home, '.import-staging', `${process.pid}-upload-${id}`);
      await mkdirPrivate(dir);
      const path = join(dir, name);
      const fh = await open(path, 'wx', PRIVATE_FILE_MODE);
      const u: Upload = { id, conn, name, size, format, allowDuplicate: allowDuplicate === true, dir, path, fh, received: 0, abort: new AbortController(), state: 'uploading', writing: Promise.resolve() };
      uploads.set(id, u);
      return { importId: id };
    },

    'import.chunk': async ({ importId, offset, data }, conn) => {
      const u = get(importId, conn);
      const write = u.writing.then(async () => {
        if (u.state !== 'uploading' || !u.fh) throw new ApolloError('CONFLICT', `Import ${importId} takes no more bytes`);
        if (offset !== u.received) throw new ApolloError('BAD_REQUEST', `Import ${importId}: expected the bytes from ${u.received}, got them from ${offset}`);
        const buf = Buffer.from(data, 'base64');
        if (u.received + buf.length > u.size) throw new ApolloError('BAD_REQUEST', `Import ${importId}: more bytes than the ${u.size} announced`);
        let done = 0;
        while (done < buf.length) done += (await u.fh.write(buf, done, buf.length - done)).bytesWritten;
        u.received += buf.length;
        report(u, { stage: 'uploading', bytes: u.received, total: u.size, sessions: 0 });
        return u.received;
      });
      u.writing = write.catch(() => undefined);
      return { received: await write };
    },

    'import.finish': async ({ importId }, conn) => {
      const u = get(importId, conn);
      await u.writing;
      if (u.state !== 'uploading') throw new ApolloError('CONFLICT', `Import ${importId} is already running`);
      if (u.received !== u.size) throw new ApolloError('BAD_REQUEST', `Import ${importId}: ${u.received} of ${u.size} bytes received`);
      await u.fh?.close();
      u.fh = null;
      u.state = 'importing';
      let last = 0;
      void importPath(core.ws, u.path, {
        format: u.format, allowDuplicate: u.allowDuplicate, signal: u.abort.signal,
        onProgress: (p) => {
          const now = Date.now();
          if (now - last < THROTTLE_MS) return;
          last = now;
          report(u, { stage: p.stage, bytes: p.bytes, total: p.total, sessions: p.sessions });
        },
      }).then(
        // The upload is removed before the outcome is told: a client that hears it finds nothing left of it.
        async (r) => {
          await cleanup(u);
          core.notifySessionsChanged();
          report(u, { stage: 'done', bytes: u.size, total: u.size, sessions: r.sessionIds.length, sessionIds: r.sessionIds, format: r.format });
        },
        async (err: unknown) => {
          await cleanup(u);
          const error = toErrorShape(err);
          const dups = error.code === 'CONFLICT' ? (error.details as { sessionIds?: string[] } | undefined)?.sessionIds : undefined;
          report(u, { stage: error.code === 'CANCELLED' ? 'cancelled' : 'failed', bytes: 0, total: u.size, sessions: 0, error, ...(dups ? { duplicateOf: dups } : {}) });
        },
      );
      return { ok: true as const };
    },

    'import.path': async ({ path, format, allowDuplicate }, conn) => {
      if (format && !ADAPTERS.some((a) => a.format === format)) throw new ApolloError('BAD_REQUEST', `Unknown import format "${format}"`);
      const abs = hostPath(path);
      const st = await stat(abs).catch(() => null);
      if (!st) throw new ApolloError('NOT_FOUND', `There is no file or folder ${abs} on this machine.`);
      if (!st.isFile() && !st.isDirectory()) throw new ApolloError('BAD_REQUEST', `${abs} is neither a file nor a folder.`);
      const id = randomUUID();
      const size = st.isFile() ? st.size : 0;
      const u: Upload = {
        id, conn, name: basename(abs) || abs, size, format, allowDuplicate: allowDuplicate === true, dir: null, path: abs, fh: null,
        received: size, abort: new AbortController(), state: 'uploading', writing: Promise.resolve(),
      };
      uploads.set(id, u);
      return { importId: id, name: u.name, size, isDir: st.isDirectory() };
    },

    'import.chooseFolder': async () => {
      if (!core.opts.chooseFolder) throw new ApolloError('UNAVAILABLE', 'This host has no folder dialog (browser mode): type the path of the folder on this machine instead.');
      return { path: await core.opts.chooseFolder() };
    },

    'import.cancel': async ({ importId }, conn) => {
      const u = get(importId, conn);
      u.abort.abort();
      if (u.state === 'uploading') {
        await u.writing;
        await cleanup(u);
        report(u, { stage: 'cancelled', bytes: 0, total: u.size, sessions: 0 });
      }
      return { ok: true as const };
    },
  };
}

/**
 * A path typed by the person, on this machine: absolute, or from their home folder
 * (`~/…`). A relative one is refused: relative to what the host runs in is not what
 * anyone means.
 */
function hostPath(p: string): string {
  const t = p.trim();
  if (t === '~' || t.startsWith('~/')) return resolve(homedir(), t.slice(2));
  if (!isAbsolute(t)) throw new ApolloError('BAD_REQUEST', `Give the full path of the file or folder (such as /home/me/runs/nodes), not ${JSON.stringify(t)}.`);
  return resolve(t);
}
