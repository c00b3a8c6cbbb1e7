// Every real sample, imported and exported: trajectory.jsonl's weight (which a merge
// reads as the bundle's decision) says exactly what the training files train. A step
// with weight 1 is one the manifest's examples train, and every step they train has
// weight 1; an action not trained has a reason. A Claude Code user's own shell command
// once read weight 1 here while no example held it as a model turn.
import { readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveSamples, ImportWorkspace, SAMPLES } from '../fixtures/import';

function files(dir: string): string[] {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith('.md') ? [] : [p];
  });
}

type StepLine = { kind: string; sessionId: string; stepId: string; response: unknown; weight: number | null; weightReason: string | null };

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w?.close();
});

describe.skipIf(!haveSamples)('the real samples: trajectory.jsonl weights are what the training files train', () => {
  for (const f of haveSamples ? files(SAMPLES) : []) {
    it(relative(SAMPLES, f), async () => {
      const { result } = await w.import(f);
      const { dir } = await w.export(result.sessionIds, ['openai', 'trajectory']);
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { trajectories: Array<{ sessionId: string; trainedSteps: string[] }> };
      const trained = manifest.trajectories.flatMap((t) => t.trainedSteps.map((s) => `${t.sessionId}/${s}`)).sort();
      const steps = (await readFile(join(dir, 'trajectory.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as StepLine).filter((l) => l.kind === 'step');
      expect(steps.filter((s) => s.weight === 1).map((s) => `${s.sessionId}/${s.stepId}`).sort()).toEqual(trained);
      for (const s of steps) if (s.response && s.weight === 0) expect(s.weightReason, s.stepId).toBeTruthy();
    }, 60_000);
  }
});
