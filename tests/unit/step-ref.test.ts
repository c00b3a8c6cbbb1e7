// Step references on the command line (apollo branch / rewind / label --step): a step
// id is hex, so its short form can be all digits, like a step number.
import { describe, expect, it } from 'vitest';
import { resolveStepRef } from '../../electron/core/annotate/state';
import type { SessionEvent } from '../../shared/events';
import { foldTrajectory } from '../../shared/trajectory';

function session(ids: string[]) {
  const events: SessionEvent[] = [{ seq: 1, ts: 1, type: 'rollout.started', rolloutId: 'r', branchId: 'main', task: 't', endpoint: null, policy: 'model', maxSteps: 10, parentStepId: null } as SessionEvent];
  ids.forEach((id, i) => events.push({ seq: i + 2, ts: i + 2, type: 'step.started', stepId: id, parentId: i ? ids[i - 1]! : null, branchId: 'main', depth: i + 1, rolloutId: 'r' } as SessionEvent));
  return foldTrajectory(events);
}

describe('resolveStepRef', () => {
  const t = session(['a1b2c3d4-0000', '50069072-1111', 'ffff0000-2222']);

  it('takes digits as a step number, a short id made only of digits as that id', () => {
    expect(resolveStepRef(t, 's', '2')).toBe('50069072-1111');
    expect(resolveStepRef(t, 's', '50069072')).toBe('50069072-1111');
    expect(resolveStepRef(t, 's', '5006')).toBe('50069072-1111');
    expect(resolveStepRef(t, 's', 'a1b2')).toBe('a1b2c3d4-0000');
    expect(resolveStepRef(t, 's', '0')).toBeNull();
  });

  it('refuses digits that are both a step number and an id prefix, and says which', () => {
    const ids = Array.from({ length: 1235 }, (_, i) => `${(0xa0000000 + i).toString(16)}-x`);
    ids[7] = '1234beef-x';
    const big = session(ids);
    expect(() => resolveStepRef(big, 's', '1234')).toThrow(/both step 1234 on the main branch and the start of a step id/);
    expect(resolveStepRef(big, 's', '1233')).toBe(ids[1232]);
  });

  it('names what is missing', () => {
    expect(() => resolveStepRef(t, 's', '7')).toThrow(/has no step 7 on its main branch "main" \(it has 3 steps\)/);
    expect(() => resolveStepRef(t, 's', '99999999')).toThrow(/has no step 99999999/);
    expect(() => resolveStepRef(t, 's', 'beef')).toThrow(/No step "beef"/);
  });
});
