// A step whose request the log names but cannot give back (a damaged log: the record is
// gone, or a request it builds on) is not trained: the context the exporter would put in
// its place (the one before, extended by the steps since) is not one it was sent.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSession } from '../../electron/bench/generate';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { readEventLog } from '../../electron/core/store/event-log';
import type { SessionEvent } from '../../shared/events';
import { branchPath, foldTrajectory } from '../../shared/trajectory';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-lost-request-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

let n = 0;
async function trainedSteps(events: SessionEvent[]): Promise<Set<string>> {
  const r = await exportBundle({
    home: join(root, 'home'), sessions: [{ sessionId: 'S', events, sessionDir: join(root, 'nowhere') }], outDir: join(root, `out-${++n}`),
    formats: ['openai'], secrets: [], appVersion: '0.1.0-test',
  });
  return new Set(r.manifest.trajectories.flatMap((t) => t.trainedSteps));
}

describe('a reply whose request the log cannot give back', () => {
  it('is context, never trained; the steps before it train as before', async () => {
    // A generated session records its requests as a rollout does (model.request, each on the one before).
    const g = await generateSession({ home: join(root, 'gen'), steps: 40, hours: 1, terminalMb: 0.2, seed: 5, id: 'G' });
    const events = (await readEventLog(join(g.dir, 'events.jsonl'))).events;
    const intact = await trainedSteps(events);
    const path = branchPath(foldTrajectory(events), 'main');
    // A trained step past the first, whose request is on record.
    const at = path.findIndex((s, i) => i > 0 && !!s.response?.requestId && intact.has(s.id));
    expect(at).toBeGreaterThan(0);
    const victim = path[at]!;
    const damaged = events.filter((e) => !(e.type === 'model.request' && e.requestId === victim.response!.requestId));
    const after = await trainedSteps(damaged);
    expect(after.has(victim.id)).toBe(false);
    for (const s of path.slice(0, at)) expect(after.has(s.id), `step ${s.depth}`).toBe(intact.has(s.id));
  });
});
