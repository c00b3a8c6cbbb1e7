// The recordings are converted before the training files, or beside them once the
// session's token counts are kept: either way a recording that cannot be converted ends
// the whole export with its error, and nothing is left behind (no bundle, no staging
// folder), whichever of the two was still running; a secret across the redactor's window
// cut is redacted.
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { TOKEN_STORE_FILE } from '../../electron/core/dataset/token-store';
import { REDACTION_MEMO_FILE } from '../../electron/core/dataset/redaction-memo';
import { ApolloError } from '../../shared/errors';
import { realisticSession, writeRecording } from '../fixtures/sessions';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-export-parallel-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('recordings converted beside the training files', () => {
  it('redact a secret that straddles the cut of the redactor\'s 1 MB window', async () => {
    const events = realisticSession().events;
    const dir = join(root, 'home-window', 'sessions', 'S1');
    const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
    // 1,000-character batches: the first window is processed at 1,115,000 characters
    // (1 MB + the 64 KB overlap) and cut 65,536 characters before its end.
    const cut = 1_115_000 - 65_536;
    const secret = ['gh', 'p_', 'Window9Cut8Secret7Token6Abcdef5Ghijkl4'].join('');
    const text = Buffer.alloc(2_400_000, 'x');
    text.write(` token=${secret} `, cut - 20, 'latin1');
    const chunks = [];
    for (let i = 0; i < text.length; i += 1000) chunks.push({ ts: t0 + 10 + i, data: text.subarray(i, i + 1000) });
    await writeRecording(dir, 'main', chunks);
    const r = await exportBundle({
      home: join(root, 'home-window'), sessions: [{ sessionId: 'S1', events, sessionDir: dir }], outDir: join(root, 'window-out'),
      formats: ['asciicast'], secrets: [], appVersion: 'x', castWorker: false,
    });
    const cast = await readFile(join(root, 'window-out', 'terminals', 'S1', 'main.cast'), 'utf8');
    expect(cast).not.toContain(secret.slice(0, 20));
    expect(cast).not.toContain(secret.slice(20));
    expect(cast).toContain('[REDACTED:github-token]');
    expect(r.redactions.filter((x) => x.file === 'terminals/S1/main.cast').map((x) => x.kind)).toEqual(['github-token']);
  }, 60_000);

  it('a recording that fails ends the export, leaving nothing behind', async () => {
    const events = realisticSession().events;
    const dir = join(root, 'home', 'sessions', 'S1');
    const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
    await writeRecording(dir, 'main', [{ ts: t0 + 10, data: '$ ls\r\n' }]);
    // A folder where a recording is expected: listed as one, unreadable as one.
    await mkdir(join(dir, 'terminals', 'broken.out'));
    const exports = join(root, 'exports');
    await mkdir(exports);
    const base = { home: join(root, 'home'), sessions: [{ sessionId: 'S1', events, sessionDir: dir }], secrets: [], appVersion: 'x', castWorker: false as const };
    // First with no token counts (nor redaction memo) kept (the recordings go first), then with them (beside the training files).
    for (const kept of [false, true]) {
      if (kept) await exportBundle({ ...base, outDir: join(root, 'counts'), formats: ['openai'] });
      expect(await readdir(dir)).toEqual(kept ? ['terminals', TOKEN_STORE_FILE, REDACTION_MEMO_FILE].sort() : ['terminals']);
      const err = await exportBundle({ ...base, outDir: join(exports, 'b'), formats: ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApolloError);
      expect((err as ApolloError).code).toBe('IO');
      expect((err as ApolloError).message).toContain('EISDIR');
      expect(await readdir(exports)).toEqual([]);
    }
  });
});
