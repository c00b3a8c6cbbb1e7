// An export reads the session's own fold (session-trajectory.ts) instead of folding its
// events again. That fold grows in place as the session does, so an event folded into
// it while the export reads it (a label set meanwhile) must not reach the bundle: the
// bundle is always that of the events the export was given, and the export never
// changes the fold it borrowed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exportBundle, type ExportBundleOptions, type ExportSessionInput } from '../../electron/core/dataset/bundle';
import { borrowFold, trajectoryOf, type EventSource } from '../../electron/core/session-trajectory';
import type { SessionEvent } from '../../shared/events';
import { realisticSession } from '../fixtures/sessions';
import { treeHashes } from '../fixtures/tree-hashes';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-borrowed-fold-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function exportOf(sessions: ExportSessionInput[], o: Partial<ExportBundleOptions> = {}) {
  const outDir = join(root, `out-${++n}`);
  const r = await exportBundle({ home: root, sessions, outDir, formats: ['openai', 'sharegpt', 'trajectory'], secrets: [], appVersion: 'test', castWorker: false, bundleCache: false, ...o });
  return { r, files: await treeHashes(outDir) };
}

/** A label set on `stepId`, as the next event of `events`. */
function maskAfter(events: readonly SessionEvent[], stepId: string): SessionEvent {
  const last = events.at(-1)!;
  return { seq: last.seq + 1, ts: last.ts + 1, type: 'label.set', stepId, label: 'mask', tags: ['error'], note: 'late', source: 'annotator', author: 'ann' } as SessionEvent;
}

it('builds the bundle of its events when the borrowed fold takes a later event meanwhile', async () => {
  const story = realisticSession();
  const source: EventSource & { events: SessionEvent[] } = { events: [...story.events] };
  const sessionDir = join(root, 'S1');
  const events = source.events.slice();
  const alone = await exportOf([{ sessionId: 'S1', events, sessionDir }]);

  // The same label, already in the events: the bundle it makes differs, so a bundle that read the moved fold would show it.
  const late = maskAfter(events, story.s.install);
  const labelled = await exportOf([{ sessionId: 'S1', events: [...events, late], sessionDir }]);
  expect(labelled.r.manifest.counts.masked).toBe(alone.r.manifest.counts.masked + 1);
  expect(labelled.files).not.toEqual(alone.files);

  const fold = borrowFold(source);
  expect(fold.trajectory).toBe(trajectoryOf(source));
  let moved = false;
  const during = await exportOf([{ sessionId: 'S1', events, sessionDir, fold }], {
    onProgress: () => {
      if (moved) return;
      moved = true;
      // The host appends and folds an annotator's label while the export runs.
      source.events.push(late);
      trajectoryOf(source);
    },
  });
  expect(moved).toBe(true);
  expect(fold.current()).toBe(false);
  expect(trajectoryOf(source).steps.get(story.s.install)?.labelHistory.at(-1)?.label).toBe('mask');
  expect(during.files).toEqual(alone.files);
  expect(during.r.manifest).toEqual(alone.r.manifest);
});

it('reads a borrowed fold that stays current, and leaves it as it was', async () => {
  const story = realisticSession();
  const source: EventSource = { events: story.events };
  const sessionDir = join(root, 'S2');
  const fold = borrowFold(source);
  const before = structuredClone(fold.trajectory);
  const own = await exportOf([{ sessionId: 'S2', events: story.events.slice(), sessionDir, fold }]);
  const alone = await exportOf([{ sessionId: 'S2', events: story.events.slice(), sessionDir }]);
  expect(fold.current()).toBe(true);
  expect(own.files).toEqual(alone.files);
  expect(fold.trajectory).toEqual(before);
  // A fold of other events than those given is not read.
  const short = await exportOf([{ sessionId: 'S2', events: story.events.slice(0, -3), sessionDir, fold }]);
  const shortAlone = await exportOf([{ sessionId: 'S2', events: story.events.slice(0, -3), sessionDir }]);
  expect(short.files).toEqual(shortAlone.files);
});
