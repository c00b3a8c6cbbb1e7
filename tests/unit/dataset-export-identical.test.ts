// The export's speed work (redaction prefilter, validation and hashing while
// writing, per-action lines streamed, token counts cached) must not change a byte of
// what it writes. The expected SHA-256 of every file of these bundles was taken with
// the exporter as it was before that work (tests/fixtures/export-hashes.json;
// UPDATE_EXPORT_HASHES=1 prints the current ones instead of comparing).
//
// Inputs: the realistic fixture session (branches, labels, guidance, planted secrets,
// a terminal recording), and a generated long session (summaries, long observations,
// secrets in command output, a training job's progress output, side branches), each
// under the options that change the example stream (splits, history caps, summaries,
// reasoning, the unreviewed policy).
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSession } from '../../electron/bench/generate';
import { exportBundle, type ExportBundleOptions } from '../../electron/core/dataset/bundle';
import { readEventLog } from '../../electron/core/store/event-log';
import type { SessionEvent } from '../../shared/events';
import { realisticSession, writeRecording } from '../fixtures/sessions';
import { treeHashes } from '../fixtures/tree-hashes';

const UPDATE = process.env.UPDATE_EXPORT_HASHES === '1';
const EXPECTED_FILE = join(__dirname, '..', 'fixtures', 'export-hashes.json');

let root: string;
const inputs: Record<string, { sessionId: string; events: SessionEvent[]; sessionDir: string; secrets: string[] }> = {};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-identical-'));
  // The realistic fixture, with a recording.
  const planted = { output: ['hf', '_', 'QwErTyUiOpAsDfGhJkLzXcVbNm12345678'].join(''), env: ['env-', 'configured-', 'secret-991'].join(''), reasoning: ['sk-', 'ant-', 'api03-', 'Re4s0n1ngSecretKeyAbCdEfGhIjKl'].join('') };
  const events = realisticSession({ plant: planted }).events;
  const dir = join(root, 'home', 'sessions', 'S1');
  await mkdir(dir, { recursive: true });
  const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
  await writeRecording(dir, 'main', [
    { ts: t0 + 10, data: '$ python train.py\r\n' },
    { ts: t0 + 20, data: `TOKEN=${['xox', 'p-', '99887766554-33221100998-AbCdEfGhIjKl'].join('')}\r\n\x1b[32mloss 2.31\x1b[0m — ok ✓\r\n` },
    { ts: t0 + 30, data: 'done\r\n' },
  ]);
  inputs.fixture = { sessionId: 'S1', events, sessionDir: dir, secrets: [planted.env] };

  // A generated long session; its request ids (random UUIDs, as a rollout writes them) are renumbered so the input is the same every run.
  const g = await generateSession({ home: join(root, 'gen'), steps: 60, hours: 2, terminalMb: 2, seed: 7, id: 'G1' });
  const path = join(g.dir, 'events.jsonl');
  let text = await readFile(path, 'utf8');
  const ids: string[] = [];
  for (const ev of (await readEventLog(path)).events) if (ev.type === 'model.request') ids.push(ev.requestId);
  ids.forEach((id, i) => (text = text.split(id).join(`req-${String(i).padStart(6, '0')}`)));
  await writeFile(path, text);
  inputs.generated = { sessionId: 'G1', events: (await readEventLog(path)).events, sessionDir: g.dir, secrets: ['configured-secret-value-1234'] };
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const ALL: ExportBundleOptions['formats'] = ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'];
const CASES: Array<{ name: string; input: string; over: Partial<ExportBundleOptions> }> = [
  { name: 'fixture-all', input: 'fixture', over: {} },
  { name: 'fixture-split', input: 'fixture', over: { maxTokens: 300, historyTokens: 200 } },
  { name: 'fixture-summaries-reasoning', input: 'fixture', over: { includeSummaries: true, openai: { reasoning: 'field' }, labelPolicy: { unlabelled: 'mask' } } },
  { name: 'generated-all', input: 'generated', over: {} },
  { name: 'generated-history', input: 'generated', over: { historyTokens: 3000, maxTokens: 12_000, includeSummaries: true } },
  { name: 'generated-sharegpt', input: 'generated', over: { formats: ['sharegpt'] } },
];

describe('export output is the same bytes as before the speed work', () => {
  const got: Record<string, Record<string, string>> = {};
  for (const c of CASES) {
    it(c.name, async () => {
      const i = inputs[c.input]!;
      const outDir = join(root, 'out', c.name);
      await exportBundle({
        home: join(root, 'home'), sessions: [{ sessionId: i.sessionId, events: i.events, sessionDir: i.sessionDir }], outDir, formats: ALL, secrets: i.secrets,
        appVersion: '0.1.0-test', ...c.over,
      });
      got[c.name] = await treeHashes(outDir);
      if (UPDATE) return;
      const expected = JSON.parse(await readFile(EXPECTED_FILE, 'utf8')) as Record<string, Record<string, string>>;
      expect(got[c.name]).toEqual(expected[c.name]);
    }, 120_000);
  }
  it.runIf(UPDATE)('prints the hashes', async () => {
    await writeFile(EXPECTED_FILE, `${JSON.stringify(got, null, 2)}\n`);
    console.log(`wrote ${EXPECTED_FILE}`);
  });
});
