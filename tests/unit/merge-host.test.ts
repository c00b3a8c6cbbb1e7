// The host side of the Merge view: merge.plan is the dry run (nothing written), a merge
// runs in the background with progress and ends with the report, a cancel leaves
// nothing, and bad requests (a relative path, an unknown policy) are refused at once.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { fileKeyStore, loadSigningKey, type SigningKey } from '../../electron/core/dataset/signing';
import { MergeManager, type MergeProgress } from '../../electron/core/merges';
import { ok, run, SessionBuilder } from '../fixtures/sessions';

let root: string;
let lead: SigningKey;
const inputs: string[] = [];

async function bundle(author: string, label: 'keep' | 'mask'): Promise<string> {
  const b = new SessionBuilder({ name: 'Host merge' });
  b.rollout({ task: 'Merge from the app' });
  const s1 = b.step({ content: 'MARK-1', calls: [run('echo MARK-1')], results: [ok()] });
  b.step({ calls: [{ name: 'finish', args: { summary: 'done' } }], results: [ok()] });
  b.label(s1, label, { author });
  const key = (await loadSigningKey(fileKeyStore(join(root, 'keys', author)), author, { create: true }))!;
  const outDir = join(root, 'bundles', author);
  await exportBundle({ home: root, sessions: [{ sessionId: 'host', events: b.events, sessionDir: join(root, 'nowhere') }], outDir, formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: [], appVersion: 'test', sign: key });
  return outDir;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-merge-host-'));
  lead = (await loadSigningKey(fileKeyStore(join(root, 'keys', 'lead')), 'lead', { create: true }))!;
  inputs.push(await bundle('alice', 'keep'), await bundle('bob', 'mask'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function manager(): { m: MergeManager; pushed: MergeProgress[] } {
  const pushed: MergeProgress[] = [];
  return { m: new MergeManager({ sink: (p) => pushed.push(p), signingKey: async () => lead, throttleMs: 0 }), pushed };
}
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

describe('MergeManager', () => {
  it('plans without writing: the report and the conflicts to settle', async () => {
    const { m } = manager();
    const plan = await m.plan({ inputs, policy: 'manual' });
    expect(plan.report.actions).toMatchObject({ conflicts: 1, unsettled: 1 });
    expect(plan.steps[0]).toMatchObject({ content: 'MARK-1', settleable: true });
    expect((await readdir(root)).sort()).toEqual(['bundles', 'keys']);
  });

  it('writes in the background, signed, reporting progress up to the report', async () => {
    const { m, pushed } = manager();
    const outDir = join(root, 'merged');
    const { mergeId, finished } = m.start({ inputs, policy: 'manual', settlements: [{ sessionId: 'host', stepId: 's1', label: 'keep' }], outDir });
    const end = await finished;
    expect(end).toMatchObject({ mergeId, state: 'done', dir: outDir });
    expect(end.report!.conflicts[0]).toMatchObject({ decision: 'keep', settledBy: 'manual' });
    expect(pushed[0]).toMatchObject({ mergeId, state: 'running' });
    expect(pushed.at(-1)).toEqual(end);
    expect(pushed.every((p, i) => i === 0 || p.done >= pushed[i - 1]!.done)).toBe(true);
    expect(await exists(join(outDir, 'manifest.sig'))).toBe(true);
    expect(m.cancel(mergeId)).toBe(false);
  });

  it('a cancelled merge leaves nothing behind', async () => {
    const { m } = manager();
    const outDir = join(root, 'cancelled');
    const { mergeId, finished } = m.start({ inputs, policy: 'any-mask', outDir });
    expect(m.cancel(mergeId)).toBe(true);
    expect((await finished).state).toBe('cancelled');
    expect(await exists(outDir)).toBe(false);
    expect((await readdir(root)).filter((x) => x.includes('.tmp-'))).toEqual([]);
  });

  it('refuses relative paths and unknown policies at once; a failing merge is reported', async () => {
    const { m } = manager();
    await expect(m.plan({ inputs: ['bundles/alice'], policy: 'majority' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/must be a full path/) });
    await expect(m.plan({ inputs, policy: 'loudest' })).rejects.toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/Unknown merge policy/) });
    expect(() => m.start({ inputs, policy: 'majority', outDir: 'out' })).toThrow(/must be a full path/);
    const failed = await m.start({ inputs, policy: 'manual', outDir: join(root, 'never') }).finished;
    expect(failed).toMatchObject({ state: 'failed', error: expect.stringMatching(/1 conflict\(s\) to settle/) });
  });
});
