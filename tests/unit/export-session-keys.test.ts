// The keys of a session's texts (the SHA-256 the token store and the redaction memo are
// keyed by) are noted by the host as each event is recorded and kept with the session, so
// its export hashes none of the texts its log holds, and a later export none at all; the
// bundle is byte for byte the one an export that hashed everything writes.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exportBundle, type ExportSessionInput } from '../../electron/core/dataset/bundle';
import { hashedTexts, textKey } from '../../electron/core/dataset/token-store';
import { recordedTexts, TokenWarmer } from '../../electron/core/dataset/token-warmer';
import { sessionTextKeys } from '../../electron/core/dataset/tokens';
import { borrowFold } from '../../electron/core/session-trajectory';
import { generateSession } from '../../electron/bench/generate';
import { readEventLog } from '../../electron/core/store/event-log';
import { ApolloCore } from '../../electron/core/app';
import { exportInputs, planExport } from '../../electron/core/exports';
import { resourcesDir } from '../../electron/core/paths';
import type { SessionEventBody } from '../../shared/events';
import { realisticSession } from '../fixtures/sessions';
import { treeHashes } from '../fixtures/tree-hashes';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-session-keys-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function exported(input: ExportSessionInput): Promise<{ files: Record<string, string>; hashed: number }> {
  const outDir = join(root, `out-${++n}`);
  const before = hashedTexts();
  await exportBundle({ home: root, sessions: [input], outDir, formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: [], appVersion: 'test', castWorker: false, bundleCache: false });
  const hashed = hashedTexts() - before;
  return { files: await treeHashes(outDir), hashed };
}

it('hashes no text the log holds once the host noted them as recorded, and writes the same bundle', async () => {
  // A recorded session in the store's format: requests (their messages as sent), replies, labels, branches, summaries.
  const g = await generateSession({ home: join(root, 'home'), steps: 60, hours: 2, terminalMb: 1, seed: 7, id: 'S1' });
  const sessionDir = g.dir;
  const events = (await readEventLog(join(sessionDir, 'events.jsonl'))).events;

  const plain = await exported({ sessionId: 'S1', events, sessionDir });
  expect(plain.hashed).toBeGreaterThan(0);

  // The host: one session object, its texts' keys noted by the warmer as each event is appended.
  const source = { events };
  const keys = sessionTextKeys(source);
  const warmer = new TokenWarmer(sessionDir, 60_000, async () => undefined, async () => [], keys);
  for (const ev of events) warmer.take(ev);
  await warmer.stop();
  const recorded = new Set(events.flatMap(recordedTexts));
  expect(keys.size).toBe(recorded.size);
  for (const [text, key] of keys) expect(key).toBe(textKey(text));

  const noted = await exported({ sessionId: 'S1', events, sessionDir, fold: borrowFold(source), textKeys: keys });
  expect(noted.files).toEqual(plain.files);
  // What it hashed are texts no event holds as they are (a redacted output, the tools as one text): the map has them now.
  expect(noted.hashed).toBeLessThan(plain.hashed);
  for (const text of keys.keys()) if (!recorded.has(text)) expect(text).toContain('[REDACTED:');

  const again = await exported({ sessionId: 'S1', events, sessionDir, fold: borrowFold(source), textKeys: keys });
  expect(again.files).toEqual(plain.files);
  expect(again.hashed).toBe(0);
});

it('keeps no key of a log older than the request record, whose every context is a copy', async () => {
  const story = realisticSession();
  const dir = join(root, 'old');
  const keys = sessionTextKeys({});
  await exportBundle({ home: root, sessions: [{ sessionId: 'OLD', events: story.events, sessionDir: dir, textKeys: keys }], outDir: join(root, `out-${++n}`), formats: ['openai'], secrets: [], appVersion: 'test', castWorker: false, bundleCache: false });
  expect(keys.size).toBe(0);
});

it('is the host\'s: what its sessions record is noted, what its plans and exports hash is kept for the next', async () => {
  const g = await generateSession({ home: join(root, 'host'), steps: 40, hours: 1, terminalMb: 1, seed: 9, id: 'S2' });
  const core = await ApolloCore.open({ home: join(root, 'host'), resourcesDir: resourcesDir(), host: 'web', samples: false });
  try {
    const session = await core.session(g.id);
    const keys = sessionTextKeys(session);
    // Opened from disk: nothing noted yet. A message recorded now is noted as it is appended.
    expect(keys.size).toBe(0);
    const text = 'A guidance message typed while the agent runs: check the GPU memory before the next epoch.';
    const ev = await session.append({ type: 'model.response', stepId: 'late-step', content: text, reasoning: '', toolCalls: [], usage: null, finishReason: 'stop', durationMs: 5 } as SessionEventBody);
    expect(recordedTexts(ev)).toContain(text);
    expect(keys.get(text)).toBe(textKey(text));

    const [input] = await exportInputs(core, [g.id]);
    expect(input!.textKeys).toBe(keys);
    const plan = async (): Promise<number> => {
      const before = hashedTexts();
      await planExport(core, { sessionIds: [g.id], formats: ['openai'] });
      return hashedTexts() - before;
    };
    expect(await plan()).toBeGreaterThan(0);
    // The dialog plans again as options change, and the export follows: its texts are hashed once.
    expect(await plan()).toBe(0);
  } finally {
    await core.close();
  }
});
