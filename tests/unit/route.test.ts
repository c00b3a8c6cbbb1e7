// The address of what is on screen (renderer/src/lib/route.ts): what the app writes
// it reads back, ids with odd characters survive, and junk names nothing.
import { describe, expect, it } from 'vitest';
import { formatRoute, isNewPlace, parseRoute } from '../../renderer/src/lib/route';

describe('route', () => {
  it('round-trips session, view, branch and step', () => {
    for (const r of [
      { sessionId: 'sample-sales-report', mode: 'live' as const, branchId: 'main', step: 4 },
      { sessionId: '2026-01-01-ab/cd ef', mode: 'filter' as const, branchId: 'rewind#2', step: null },
      { sessionId: 's', mode: 'live' as const, branchId: null, step: null },
    ]) {
      expect(parseRoute(formatRoute(r))).toEqual(r);
    }
    expect(formatRoute({ sessionId: 's1', mode: 'filter', branchId: 'main', step: 3 })).toBe('#/s/s1/filter/b/main/step/3');
  });

  it('names nothing for other hashes, and tells a new place from another step', () => {
    for (const h of ['', '#', '#/', '#/x/y', '#/s/', '#/s/%E0%A4%A']) expect(parseRoute(h)).toBeNull();
    expect(parseRoute('#/s/a/step/x')).toEqual({ sessionId: 'a', mode: 'live', branchId: null, step: null });
    const a = parseRoute('#/s/a/live/step/1');
    expect(isNewPlace(a, parseRoute('#/s/a/live/step/2'))).toBe(false);
    expect(isNewPlace(a, parseRoute('#/s/a/filter'))).toBe(true);
    expect(isNewPlace(a, parseRoute('#/s/b/live'))).toBe(true);
    expect(isNewPlace(null, a)).toBe(true);
  });
});
