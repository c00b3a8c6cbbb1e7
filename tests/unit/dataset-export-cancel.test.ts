// A Cancel that comes while one long trajectory's per-action lines are being written
// (a message to the host, so it can only land between turns of the event loop) ends
// the export within the next 128 lines, not after all of them, and leaves nothing behind.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { ApolloError } from '../../shared/errors';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

const ACTIONS = 1_000;
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-export-cancel-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('cancelling an export of a long trajectory', () => {
  it('takes effect between its lines', async () => {
    const b = new SessionBuilder({ name: 'long' });
    b.rollout({ task: 'Count to a thousand.' });
    for (let i = 1; i <= ACTIONS; i++) b.step({ calls: [run(`echo ${i}`)], results: [ok(JSON.stringify({ success: true, exit_code: 0, output: `${i}\n` }))] });
    const ctl = new AbortController();
    const reports: string[] = [];
    let reportsAfterCancel = -1;
    const err = await exportBundle({
      home: join(root, 'home'), sessions: [{ sessionId: 'L', events: b.events, sessionDir: join(root, 'home', 'sessions', 'L') }], outDir: join(root, 'out', 'bundle'),
      formats: ['sharegpt'], secrets: [], appVersion: 'x', castWorker: false, signal: ctl.signal,
      onProgress: (_done, _total, stage) => {
        reports.push(stage);
        if (reportsAfterCancel >= 0) reportsAfterCancel++;
        // As the host's Cancel arrives: in a later turn of the event loop.
        else if (stage.startsWith('examples ')) {
          reportsAfterCancel = 0;
          setImmediate(() => ctl.abort());
        }
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApolloError);
    expect((err as ApolloError).code).toBe('CANCELLED');
    // The first report came from within the example (128 lines in), and the Cancel ended it at the next turn.
    expect(reports).toEqual(['examples L/main']);
    expect(reportsAfterCancel).toBe(0);
    expect(await readdir(join(root, 'out')).catch(() => [])).toEqual([]);
  });
});
