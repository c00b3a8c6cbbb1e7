// The benchmark's generated session (`apollo bench --generate`): written in the real
// store format, it opens in a workspace and folds to the steps and sizes it claims;
// the check the benchmark relies on refuses a session that is not what it claims.
import { mkdtemp, readdir, readFile, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSession, verifyGenerated, type GeneratedSession } from '../../electron/bench/generate';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { parseTiming } from '../../electron/core/store/terminal-recording';
import { Workspace } from '../../electron/core/store/workspace';
import { branchPath, foldTrajectory, requestMessages } from '../../shared/trajectory';

let root: string;
let g: GeneratedSession;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-gen-'));
  g = await generateSession({ home: join(root, 'home'), steps: 80, hours: 3, terminalMb: 3 });
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('apollo bench --generate', () => {
  it('writes a session that opens in a workspace and folds to the claimed steps and sizes', async () => {
    const ws = await Workspace.open(join(root, 'home'));
    try {
      expect(ws.list().map((s) => s.id)).toContain(g.id);
      const s = await ws.session(g.id);
      expect(s.report).toEqual({ tornTail: false, corruptLines: [] });
      const t = foldTrajectory(s.events);
      expect(t.steps.size).toBe(80);
      expect(s.events.at(-1)!.ts - s.events[0]!.ts).toBe(3 * 3_600_000);
      // The story the benchmark needs: branches, guidance delivered, summaries, labels, comments.
      expect([...t.branches.values()].map((b) => b.reason).sort()).toEqual(['branch', 'branch', 'rewind', 'root']);
      expect([...t.guidance.values()].filter((x) => x.delivered).length).toBeGreaterThanOrEqual(3);
      expect([...t.steps.values()].filter((x) => x.summary).length).toBeGreaterThanOrEqual(1);
      expect([...t.steps.values()].filter((x) => x.labelHistory.length).length).toBeGreaterThan(20);
      expect(t.comments.size).toBeGreaterThan(0);
      // Every step carries the request record a rollout writes, and it rebuilds.
      for (const step of t.steps.values()) {
        expect(step.requestId).toBeTruthy();
        expect(requestMessages(t, step.requestId!)?.length).toBeGreaterThan(1);
      }
      const main = branchPath(t, 'main');
      expect(main.at(-1)!.response!.toolCalls[0]!.name).toBe('finish');
      // Each side branch continues from a step of the main branch.
      for (const b of t.branches.values()) if (b.reason !== 'root') expect(t.steps.get(b.fromStepId!)!.branchId).toBe('main');
    } finally {
      await ws.close();
    }
    const v = await verifyGenerated(g.dir, g.claims);
    expect(v.steps).toBe(80);
    let bytes = 0;
    for (const f of await readdir(join(g.dir, 'terminals'))) if (f.endsWith('.out')) bytes += (await stat(join(g.dir, 'terminals', f))).size;
    expect(Math.abs(bytes - 3e6)).toBeLessThan(3e4);
    // Most terminal bytes are the training job's, produced over hours with its timing.
    const train = parseTiming(await readFile(join(g.dir, 'terminals', 'train.timing.jsonl'), 'utf8'));
    expect((await stat(join(g.dir, 'terminals', 'train.out'))).size).toBeGreaterThan(0.75 * 3e6);
    expect(train.at(-1)!.ts - train[0]!.ts).toBeGreaterThan(2.5 * 3_600_000);
    expect(g.counts.steps).toBe(80);
  });

  it('exports: the trainer files validate, and the secrets in command output are redacted', async () => {
    const ws = await Workspace.open(join(root, 'home'));
    try {
      const s = await ws.session(g.id);
      const r = await exportBundle({ home: join(root, 'home'), sessions: [{ sessionId: g.id, events: s.events, sessionDir: g.dir }], outDir: join(root, 'bundle'), formats: ['openai', 'sharegpt'], secrets: [], appVersion: 'test' });
      expect(r.manifest.counts.trajectories).toBeGreaterThan(1);
      expect(r.manifest.redactions.total).toBeGreaterThan(0);
    } finally {
      await ws.close();
    }
  });

  it('the check refuses a session that is not the size it claims', async () => {
    await expect(verifyGenerated(g.dir, { ...g.claims, steps: 81 })).rejects.toThrow(/not the size it claims: 80 steps fold, not 81/);
    await expect(verifyGenerated(g.dir, { ...g.claims, hours: 4 })).rejects.toThrow(/spans 3\.00 h, not 4 h/);
    const out = join(g.dir, 'terminals', 'train.out');
    const size = (await stat(out)).size;
    await truncate(out, Math.floor(size / 2));
    await expect(verifyGenerated(g.dir, g.claims)).rejects.toThrow(/terminals hold .* MB, not 3\.0 MB/);
  });

  it('refuses to write over an existing session, and refuses sizes that make no sense', async () => {
    await expect(generateSession({ home: join(root, 'home'), steps: 80, hours: 3, terminalMb: 3 })).rejects.toThrow(/already exists/);
    await expect(generateSession({ home: join(root, 'other'), steps: 5 })).rejects.toThrow(/at least 20/);
  });
});
