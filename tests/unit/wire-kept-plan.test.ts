// The app's export of a recorded rollout, as its Export dialog makes it: the plan (a dry
// run that keeps its examples), then the export that takes them. Checked against the
// wire (every context before a trained turn is a request the scripted endpoint received,
// the secret in one observation redacted) and against each trainer's own rules (OpenAI,
// axolotl, LLaMA-Factory, mistral-finetune: each kept action trained once, the masked one
// and the one holding a secret never); and byte for byte against an export that built
// everything itself.
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { branchPath, foldTrajectory } from '../../shared/trajectory';
import { Rollout } from '../../electron/core/rollout/engine';
import { canonicalJson } from '../../electron/core/rollout/request-record';
import { exportBundle, type ExportBundleOptions } from '../../electron/core/dataset/bundle';
import { TOKEN_STORE_FILE } from '../../electron/core/dataset/token-store';
import { tokenizedTexts } from '../../electron/core/dataset/tokens';
import { borrowFold } from '../../electron/core/session-trajectory';
import type { SessionLog } from '../../electron/core/store/workspace';
import { tool } from '../fixtures/fake-llm-server';
import { wireRig, type WireRig } from '../fixtures/wire-rig';
import { treeHashes } from '../fixtures/tree-hashes';
import * as ax from '../fixtures/trainers/axolotl';
import * as lf from '../fixtures/trainers/llamafactory';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';
import { parseYamlSubset } from '../fixtures/trainers/yaml-subset';

const TOKEN = `ghp_${'a1B2c3D4e5'.repeat(3)}abcdef`;
const STEPS = 6;
let rig: WireRig;
let session: SessionLog;
let n = 0;

beforeAll(async () => {
  rig = await wireRig('kept-plan', (_req, k) => {
    const m = k + 1;
    if (m >= STEPS) return tool('finish', { message: `MARK-P${m} done` }, { id: `callP${m}` });
    // Step 3 prints a token: its observation goes to the endpoint as it is, and to the bundle redacted.
    return tool('run_command', { session_id: 'main', command: m === 3 ? `echo MARK-P${m} ${TOKEN}` : `echo MARK-P${m}` }, { id: `callP${m}` });
  });
  session = await rig.ws.create({ cwd: rig.cwd, name: 'kept plan' });
  const r = new Rollout({
    session, pty: rig.pty, endpoint: rig.endpoint('sk-test-wire-kept-plan'), policy: 'model', task: 'Echo some markers.', maxSteps: 20, cwd: rig.cwd,
    llm: rig.llm, tools: { commandTimeoutMs: 10_000, settleMs: 200 },
  });
  expect(await r.run()).toBe('finished');
  // Step 2 masked by an annotator, the rest kept.
  for (const [i, s] of branchPath(foldTrajectory(session.events), 'main').entries()) {
    await session.append({ type: 'label.set', stepId: s.id, label: i === 1 ? 'mask' : 'keep', tags: [], note: '', source: 'annotator', author: 'ann' });
  }
}, 120_000);

afterAll(async () => {
  await rig?.close();
});

async function exportTo(o: Partial<ExportBundleOptions>): Promise<{ dir: string; tokenized: number }> {
  const dir = join(rig.home, `bundle-${++n}`);
  const before = tokenizedTexts();
  await exportBundle({
    home: rig.home, outDir: dir, formats: ['openai', 'sharegpt', 'mistral'], secrets: [], appVersion: 'test', bundleCache: false, castCache: false,
    sessions: [{ sessionId: session.id, events: session.events.slice(), sessionDir: session.dir, eventsDigest: session.eventsDigest!, fold: borrowFold(session) }],
    ...o,
  });
  return { dir, tokenized: tokenizedTexts() - before };
}

const markerIn = (v: unknown): string | undefined => /MARK-P\d+/.exec(JSON.stringify(v))?.[0];

it('writes, from the dialog\'s plan, the requests the endpoint received, each kept action trained once by every trainer', async () => {
  await rm(join(session.dir, TOKEN_STORE_FILE), { force: true });
  const built = await exportTo({});
  // As the app does: the plan, which counts and keeps; then the export, which takes it and counts nothing.
  await rm(join(session.dir, TOKEN_STORE_FILE), { force: true });
  await exportTo({ dryRun: true, keepPlan: true });
  const { dir, tokenized } = await exportTo({});
  expect(tokenized).toBe(0);
  expect(await treeHashes(dir)).toEqual(await treeHashes(built.dir));

  // The wire, the token as the bundle writes it.
  const wire = (ms: Array<Record<string, unknown>>) => canonicalJson(ms.map(({ weight: _w, ...m }) => (m.content === null ? (({ content: _c, ...rest }) => rest)(m) : m)));
  const received = new Set(rig.bodies.map((q) => wire(q.body.messages as Array<Record<string, unknown>>).replaceAll(TOKEN, '[REDACTED:github-token]')));
  expect(rig.bodies.some((q) => JSON.stringify(q.body.messages).includes(TOKEN))).toBe(true);
  const openai = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8')) as Array<{ messages: Array<Record<string, unknown>> }>;
  for (const f of ['openai.jsonl', 'sharegpt.jsonl', 'mistral.jsonl', 'manifest.json']) expect(await readFile(join(dir, f), 'utf8'), f).not.toContain(TOKEN);
  const trained: string[] = [];
  for (const line of openai) {
    expect(oa.validate(line)).toEqual([]);
    line.messages.forEach((m, i) => {
      if (m.role !== 'assistant' || m.weight !== 1) return;
      expect(received.has(wire(line.messages.slice(0, i))), `message ${i}: the messages before it are a request the endpoint received`).toBe(true);
    });
    trained.push(...oa.trainedTurns(line).trained.map((t) => markerIn([t.text, t.toolCalls])!));
  }
  // Step 2 masked by its label; step 3's own call holds the token, so it is context only (a placeholder is never trained).
  const kept = ['MARK-P1', 'MARK-P4', 'MARK-P5', 'MARK-P6'];
  expect(trained.sort()).toEqual(kept);

  const yml = parseYamlSubset(await readFile(join(dir, 'axolotl.yml'), 'utf8')) as ax.AxolotlConfig;
  const [ds] = ax.chatTemplateDatasets(yml);
  const axTrained = openai.flatMap((l) => ax.trainedTurns(l, ds!, yml).trained.map((t) => markerIn([t.text, t.toolCalls])!));
  expect(axTrained.sort()).toEqual(kept);

  const info = JSON.parse(await readFile(join(dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
  const train = parseYamlSubset(await readFile(join(dir, 'llamafactory.yaml'), 'utf8')) as { dataset: string; mask_history?: boolean };
  const sharegpt = parseJsonl(await readFile(join(dir, 'sharegpt.jsonl'), 'utf8'));
  const lfTrained = lf.trainedTurnsOfFile(sharegpt, info, train.dataset, { mask_history: train.mask_history }).flatMap((r) => {
    expect(r.error).toBeUndefined();
    return r.trained.map((t) => markerIn(t.text)!);
  });
  expect(lfTrained.sort()).toEqual(kept);

  const mistral = parseJsonl(await readFile(join(dir, 'mistral.jsonl'), 'utf8'));
  const miTrained = mistral.flatMap((l) => {
    const r = mi.trainedTurns(l, { dynamicChunkFnCall: true });
    expect(r.error).toBeUndefined();
    return r.trained.map((t) => markerIn([t.text, t.toolCalls])!);
  });
  expect(miTrained.sort()).toEqual(kept);
}, 60_000);
