// Honest step timings in the UI: a finished step shows its active time (wall − paused)
// and what it waited on; a running step's timer leaves its rollout's pauses out, and
// stands still while the rollout is paused.
import { describe, expect, it } from 'vitest';
import { describeTimings, runningActiveMs, stepTimings } from '../../renderer/src/lib/steps';
import { applyEvent, emptyTrajectory } from '../../shared/trajectory';
import { SessionBuilder } from '../fixtures/sessions';

function finishedStep(wallMs: number, extra: { pausedMs?: number; modelMs?: number }) {
  const b = new SessionBuilder({ tickMs: 0 });
  b.rollout({ task: 't' });
  b.add({ type: 'step.started', stepId: 's1', parentId: null, branchId: 'main', depth: 1, rolloutId: 'r1' });
  b.ts += wallMs;
  b.add({ type: 'step.finished', stepId: 's1', promptTokens: 10, ...extra });
  const t = emptyTrajectory();
  for (const e of b.events) applyEvent(t, e);
  return t.steps.get('s1')!;
}

describe('step timings', () => {
  it('gives the active time of a step that waited out a pause, and says so', () => {
    const t = stepTimings(finishedStep(212_000, { pausedMs: 161_000, modelMs: 12_000 }))!;
    expect(t).toMatchObject({ wallMs: 212_000, activeMs: 51_000, pausedMs: 161_000, modelMs: 12_000 });
    expect(describeTimings(t)).toBe('51 s active · paused 2 m 41 s · 12 s waiting on the endpoint');
  });

  it('reads an older log without pause and endpoint times as all active', () => {
    const t = stepTimings(finishedStep(4_000, {}))!;
    expect(t).toMatchObject({ wallMs: 4_000, activeMs: 4_000, pausedMs: 0 });
    expect(t.modelMs).toBeUndefined();
    expect(describeTimings(t)).toBe('4.0 s active');
  });

  it('never reports more pause than wall time', () => {
    expect(stepTimings(finishedStep(1_000, { pausedMs: 5_000 }))).toMatchObject({ activeMs: 0, pausedMs: 1_000 });
  });

  it('leaves pauses out of a running step, and stands still while paused', () => {
    const start = 1_000_000;
    // Paused 10 s before the step started (irrelevant), then 30 s during it, now paused again since +50 s.
    const pauses = [{ from: start - 20_000, to: start - 10_000 }, { from: start + 5_000, to: start + 35_000 }, { from: start + 50_000 }];
    expect(runningActiveMs(start, pauses, start + 40_000)).toBe(10_000);
    expect(runningActiveMs(start, pauses, start + 50_000)).toBe(20_000);
    expect(runningActiveMs(start, pauses, start + 90_000)).toBe(20_000);
    expect(runningActiveMs(start, undefined, start + 7_000)).toBe(7_000);
  });
});
