// Importing runs of other tools from the UI. The renderer may not see the host's
// file system (browser mode), so a file is uploaded in chunks to the host, which
// then imports it exactly as `apollo import` does and reports progress. A folder (a
// node dump, an OpenHands session) cannot be uploaded from a browser: it is named by
// its path on the host's machine, which is the person's own (the host runs there).
import { z } from 'zod';
import { command } from './define';
import type { ApolloErrorShape } from '../errors';

const id = z.string().min(1).max(200);

/** Raw bytes per chunk (base64 on the wire: 4/3 of it, well under the 4 MiB message limit). */
export const IMPORT_CHUNK_BYTES = 1024 * 1024;

export const importCommands = {
  'import.formats': command<Array<{ format: string; description: string }>>()(z.object({})),
  /** Announce a file to import; its bytes follow with import.chunk, then import.finish. */
  'import.begin': command<{ importId: string }>()(
    z.object({
      name: z.string().min(1).max(255).regex(/^[^/\\\0]+$/, 'a file name, without folders'),
      size: z.number().int().min(0).max(1024 ** 4),
      format: z.string().max(64).optional(),
      /** Import it even when the same bytes were imported before. */
      allowDuplicate: z.boolean().optional(),
    }),
  ),
  /** The next bytes of the file (in order: `offset` is where they start). */
  'import.chunk': command<{ received: number }>()(
    z.object({ importId: id, offset: z.number().int().min(0), data: z.string().max(Math.ceil((IMPORT_CHUNK_BYTES * 4) / 3) + 4) }),
  ),
  /**
   * A file or folder on the host's machine, by its path (absolute, or from `~/`):
   * announced like import.begin (nothing is read yet, so no progress can arrive before
   * the client knows the import's id), then started with import.finish.
   */
  'import.path': command<{ importId: string; name: string; size: number; isDir: boolean }>()(
    z.object({
      path: z.string().min(1).max(4096).refine((p) => !p.includes('\0'), 'a path without NUL characters'),
      format: z.string().max(64).optional(),
      allowDuplicate: z.boolean().optional(),
    }),
  ),
  /** The OS folder dialog of the Electron host (null: cancelled); UNAVAILABLE in browser mode, where the path is typed. */
  'import.chooseFolder': command<{ path: string | null }>()(z.object({})),
  /** All bytes sent (or a path announced): import them (progress and the outcome arrive as import.progress). */
  'import.finish': command<{ ok: true }>()(z.object({ importId: id })),
  /** Stop an upload or an import; nothing of it is kept. */
  'import.cancel': command<{ ok: true }>()(z.object({ importId: id })),
};

export type ImportStage = 'uploading' | 'hashing' | 'reading' | 'committing' | 'done' | 'failed' | 'cancelled';

export interface ImportPushEvents {
  'import.progress': {
    importId: string;
    file: string;
    stage: ImportStage;
    /** Bytes of the file handled in this stage, and its size. */
    bytes: number;
    total: number;
    sessions: number;
    /** With stage 'done'. */
    sessionIds?: string[];
    format?: string;
    /** With stage 'failed'. */
    error?: ApolloErrorShape;
    /** With a CONFLICT error: the sessions imported from the same bytes before. */
    duplicateOf?: string[];
  };
}
