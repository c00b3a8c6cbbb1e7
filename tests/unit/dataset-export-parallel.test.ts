// The recordings are converted while the training files are written: a recording that
// cannot be converted ends the whole export with its error, and nothing is left behind
// (no bundle, no staging folder), whichever of the two was still running.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBundle } from '../../electron/core/dataset/bundle';
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
  it('a recording that fails ends the export, leaving nothing behind', async () => {
    const events = realisticSession().events;
    const dir = join(root, 'home', 'sessions', 'S1');
    const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
    await writeRecording(dir, 'main', [{ ts: t0 + 10, data: '$ ls\r\n' }]);
    // A folder where a recording is expected: listed as one, unreadable as one.
    await mkdir(join(dir, 'terminals', 'broken.out'));
    const exports = join(root, 'exports');
    await mkdir(exports);
    const err = await exportBundle({
      home: join(root, 'home'), sessions: [{ sessionId: 'S1', events, sessionDir: dir }], outDir: join(exports, 'b'),
      formats: ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'], secrets: [], appVersion: 'x', castWorker: false,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApolloError);
    expect((err as ApolloError).code).toBe('IO');
    expect((err as ApolloError).message).toContain('EISDIR');
    expect(await readdir(exports)).toEqual([]);
  });
});
