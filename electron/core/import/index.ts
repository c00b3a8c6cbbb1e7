// `importPaths`: files and folders of other tools' runs into sessions of the
// workspace. Per input: choose the adapter (--format, else the most confident
// detector), hash the input (a second import of the same bytes is recognised and
// refused unless allowed), read it into staged sessions, and commit them together.
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import type { Workspace } from '../store/workspace';
import { APP_VERSION } from '../version';
import { emitRun } from './emit';
import { readHead, readTail, sha256Dir, sha256File } from './source';
import { ImportBatch, writeNoEnvironment } from './staging';
import { ImportError, type ImportAdapter, type ImportContext, type ImportInput, type RunIR } from './types';
import { ADAPTERS } from './adapters';

export { ImportError } from './types';
export { ADAPTERS } from './adapters';

export const IMPORT_FORMATS: readonly string[] = ADAPTERS.map((a) => a.format);

export interface ImportProgress {
  file: string;
  /** Bytes of this input read so far, and its size. */
  bytes: number;
  total: number;
  stage: 'hashing' | 'reading' | 'committing';
  sessions: number;
}

export interface ImportOptions {
  format?: string;
  /** Session name (a file of several runs: "NAME (item)"). */
  name?: string;
  /** Import an input whose hash matches an earlier import anyway. */
  allowDuplicate?: boolean;
  signal?: AbortSignal;
  onProgress?(p: ImportProgress): void;
}

export interface ImportResult {
  file: string;
  format: string;
  sha256: string;
  sessionIds: string[];
}

/** Sessions already imported from an input with this hash. */
export async function importedWithHash(ws: Workspace, sha256: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of ws.list()) {
    const head = await readHead(join(ws.home, 'sessions', e.id, 'events.jsonl'), 16 * 1024).catch(() => null);
    if (!head) continue;
    // The origin is the second event; a match on the hash text is confirmed by parsing its line.
    for (const line of head.toString('utf8').split('\n').slice(0, 3)) {
      if (!line.includes('"import.origin"') || !line.includes(sha256)) continue;
      try {
        if ((JSON.parse(line) as { sha256?: string }).sha256 === sha256) out.push(e.id);
      } catch {
        // a torn line
      }
    }
  }
  return out;
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (d.isFile() && !d.name.startsWith('.')) out.push(relative(dir, join(d.parentPath, d.name)));
  }
  return out.sort();
}

export async function describeInput(path: string): Promise<ImportInput> {
  const abs = resolve(path);
  const st = await stat(abs).catch((e: NodeJS.ErrnoException) => {
    throw new ApolloError('NOT_FOUND', `${path}: ${e.code === 'ENOENT' ? 'no such file or folder' : e.message}`);
  });
  if (st.isDirectory()) {
    const files = await listFiles(abs);
    const first = files.find((f) => /\.(json|jsonl)$/i.test(f));
    return { path: abs, name: basename(abs), isDir: true, size: 0, head: first ? await readHead(join(abs, first)) : Buffer.alloc(0), tail: Buffer.alloc(0), files };
  }
  return { path: abs, name: basename(abs), isDir: false, size: st.size, head: await readHead(abs), tail: await readTail(abs, st.size) };
}

export function detectFormat(input: ImportInput): { adapter: ImportAdapter; confidence: number } | null {
  let best: { adapter: ImportAdapter; confidence: number } | null = null;
  for (const a of ADAPTERS) {
    let c = 0;
    try {
      c = a.detect(input);
    } catch {
      c = 0;
    }
    if (c > (best?.confidence ?? 0)) best = { adapter: a, confidence: c };
  }
  return best && best.confidence >= 0.5 ? best : null;
}

/**
 * A file that starts as one JSON document and does not end as one was cut short (copied
 * in part, or still being written): say that, rather than that its format is unknown.
 * JSON Lines (a first line that is a whole document) is not one document, and its
 * adapters read a torn last line themselves.
 */
function cutShort(input: ImportInput): string | null {
  if (input.isDir || !input.size) return null;
  const head = input.head.toString('utf8').trimStart();
  if (!/^[[{]/.test(head)) return null;
  const nl = head.indexOf('\n');
  if (nl > 0) {
    try {
      JSON.parse(head.slice(0, nl));
      return null;
    } catch {
      // not JSON Lines: one document
    }
  }
  const last = input.tail.toString('latin1').trimEnd().slice(-1);
  if (last === '}' || last === ']') return null;
  return `cut short: it starts as a JSON document but ends in the middle of one (${input.size} bytes); was it copied in part, or still being written? Import the whole file`;
}

function adapterFor(input: ImportInput, format: string | undefined): ImportAdapter {
  if (format) {
    const a = ADAPTERS.find((x) => x.format === format);
    if (!a) throw new ApolloError('BAD_REQUEST', `Unknown import format "${format}"; known: ${IMPORT_FORMATS.join(', ')}`);
    return a;
  }
  const d = detectFormat(input);
  if (!d) {
    const cut = cutShort(input);
    if (cut) throw new ImportError(input.name, null, cut);
    throw new ImportError(input.name, null, `not a format this app imports (${IMPORT_FORMATS.join(', ')}); if it is one of them, name it with --format`);
  }
  return d.adapter;
}

/** Import one file or folder; its sessions appear together, or none on any error. */
export async function importPath(ws: Workspace, path: string, opts: ImportOptions = {}): Promise<ImportResult> {
  const input = await describeInput(path);
  const adapter = adapterFor(input, opts.format);
  const report = (stage: ImportProgress['stage'], bytes: number, sessions = 0) =>
    opts.onProgress?.({ file: input.name, bytes, total: input.size, stage, sessions });
  const checkAbort = () => {
    if (opts.signal?.aborted) throw new ApolloError('CANCELLED', `Import of ${input.name} cancelled; nothing was imported`);
  };
  report('hashing', 0);
  const sha256 = input.isDir ? await sha256Dir(input.path, input.files ?? []) : await sha256File(input.path, (n) => report('hashing', n));
  checkAbort();
  if (!opts.allowDuplicate) {
    const dups = await importedWithHash(ws, sha256);
    if (dups.length) {
      throw new ApolloError('CONFLICT', `${input.name} was already imported (same SHA-256) as session ${dups.join(', ')}; import it again only with --allow-duplicate`, { sessionIds: dups, sha256 });
    }
  }
  const batch = await ImportBatch.open(ws.home, input.name);
  try {
    const ctx: ImportContext = {
      input, format: adapter.format, sha256, signal: opts.signal,
      progress: (bytes) => {
        checkAbort();
        report('reading', bytes, batch.sessions.length);
      },
      session: async (meta) => {
        checkAbort();
        const s = await batch.session(meta.startTs ?? Date.now());
        const finalDir = join(ws.home, 'sessions', s.id);
        const cwd = join(finalDir, 'import', 'no-environment');
        await writeNoEnvironment(s.dir, `Session ${s.id} was imported from ${input.name} (${adapter.format}). The environment it ran in${meta.sourceCwd ? ` (${meta.sourceCwd})` : ''} was not recorded: nothing can run in it, and this file stands in for its working directory so that nothing ever does.\n`);
        const name = opts.name ? (meta.item ? `${opts.name} (${meta.item})` : opts.name) : meta.name;
        await s.append({ type: 'session.created', name, cwd, appVersion: APP_VERSION }, meta.startTs);
        await s.append({
          type: 'import.origin', format: adapter.format, file: input.name, sha256,
          ...(meta.toolVersion ? { toolVersion: meta.toolVersion } : {}), ...(meta.item ? { item: meta.item } : {}),
          context: meta.context, ...(meta.sourceCwd ? { sourceCwd: meta.sourceCwd } : {}), ...(meta.unknown ? { unknown: meta.unknown } : {}),
          // Stamped now: the import happened now (and the session list shows it among the recent ones),
          // while every other event keeps the source's time.
        }, Date.now(), { keepClock: true });
        return s;
      },
    };
    const runs = await adapter.read(input, ctx);
    if (runs) {
      for await (const run of runs as AsyncIterable<RunIR>) {
        checkAbort();
        await emitRun(ctx, run);
        report('reading', input.size, batch.sessions.length);
      }
    }
    checkAbort();
    if (batch.sessions.length === 0) throw new ImportError(input.name, null, 'holds no run to import');
    report('committing', input.size, batch.sessions.length);
    const ids = await batch.commit(ws);
    return { file: input.name, format: adapter.format, sha256, sessionIds: ids };
  } catch (err) {
    await batch.abort();
    throw err;
  }
}
