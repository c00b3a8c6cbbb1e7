// The per-action lines (sharegpt.jsonl, mistral.jsonl) of a rollout that summarized its
// context, exported with a history cap. The request after a summary carried the system
// prompt, the task, the summary and the turn that continues from it, then the recent
// steps: a line cut from it keeps that head, as the OpenAI split does, and drops only
// the oldest of the turns after it. A line that kept the task and then verbatim steps
// the summary had replaced would train the model on a context it never received.
//
// Checked against what the scripted endpoint received (each action's own request) and
// with the trainers' own rules (tests/fixtures/trainers).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { branchPath, foldTrajectory } from '../../shared/trajectory';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { Rollout } from '../../electron/core/rollout/engine';
import { mergeBundles } from '../../electron/core/dataset/merge';
import { exportBundle, type Manifest } from '../../electron/core/dataset/bundle';
import { parseBundleManifest } from '../../electron/core/dataset/manifest-schema';
import { text, tool, type FakeRequest } from '../fixtures/fake-llm-server';
import { wireRig, type WireRig } from '../fixtures/wire-rig';
import * as lf from '../fixtures/trainers/llamafactory';
import * as mi from '../fixtures/trainers/mistral';
import * as oa from '../fixtures/trainers/openai';
import { parseJsonl } from '../fixtures/trainers/common';
import { parseYamlSubset } from '../fixtures/trainers/yaml-subset';

let home: string;
let cwd: string;
let ws: Workspace;
let pty: PtyHost;
let rig: WireRig;
let session: SessionLog;
const STEPS = 10;

const isSummaryRequest = (q: FakeRequest) => JSON.stringify(q.body.messages.at(-1) ?? {}).includes('state_snapshot');

beforeAll(async () => {
  let k = 0;
  let summaries = 0;
  rig = await wireRig('summary', (req) => {
    if (isSummaryRequest(req)) return text(`<state_snapshot>SUMMARY-TEXT-${++summaries}</state_snapshot>`);
    k++;
    // Each action ~300 tokens, so the context is summarized and the history cap cuts.
    if (k >= STEPS) return tool('finish', { message: `MARK-Z${k}` }, { id: `callZ${k}` });
    return tool('think', { thought: `MARK-Z${k} ${'pad '.repeat(300)}` }, { id: `callZ${k}` });
  });
  ({ home, cwd, ws, pty } = rig);
  session = await ws.create({ cwd, name: 'summary history' });
  const r = new Rollout({
    session, pty, endpoint: rig.endpoint('sk-test-wire-summary'),
    policy: 'model', task: 'Think it through.', maxSteps: 20, cwd, summarizeAtTokens: 3000, keepRecentSteps: 3,
    llm: rig.llm,
    tools: { commandTimeoutMs: 10_000, settleMs: 100 },
  });
  expect(await r.run()).toBe('finished');
  for (const s of branchPath(foldTrajectory(session.events), 'main')) {
    await session.append({ type: 'label.set', stepId: s.id, label: 'keep', tags: [], note: '', source: 'annotator', author: 'ann' });
  }
}, 120_000);

afterAll(async () => {
  await rig?.close();
});

type Msg = { role: string; content?: string | null; tool_calls?: Array<{ function: { name: string; arguments: string } }> };

/** A message as both the wire and a mistral line say it (call ids are renamed there, so left out). */
function key(m: Msg): string {
  if (m.role === 'assistant') return m.tool_calls?.length ? `call ${m.tool_calls.map((c) => `${c.function.name} ${c.function.arguments}`).join(' | ')}` : `text ${m.content ?? ''}`;
  return `${m.role} ${m.content ?? ''}`;
}

const markerIn = (v: unknown): string | undefined => /MARK-Z\d+/.exec(JSON.stringify(v))?.[0];

/** The request (as the endpoint received it) that action MARK-Zk answered: the k-th that was not a summary request. */
function requestOf(marker: string): Msg[] {
  const k = Number(marker.slice('MARK-Z'.length));
  return rig.bodies.filter((q) => !isSummaryRequest(q))[k - 1]!.body.messages as Msg[];
}

/** The head of a request the endpoint received: system and task, and after a summary the summary and the turn after it. */
function wireHead(req: Msg[]): number {
  return String(req[2]?.content ?? '').includes('SUMMARY-TEXT') ? 4 : 2;
}

describe('per-action lines after a summary, with the history capped', () => {
  let dir: string;
  let manifest: Manifest;
  beforeAll(async () => {
    dir = join(home, 'bundle');
    const r = await exportBundle({
      home, sessions: [{ sessionId: session.id, events: session.events.slice() as SessionEvent[], sessionDir: session.dir }], outDir: dir,
      formats: ['openai', 'sharegpt', 'mistral'], secrets: [], appVersion: 'test', historyTokens: 1500, bundleCache: false, castCache: false,
    });
    manifest = r.manifest;
  });

  it('the rollout was summarized, and later actions were answered on a request that carried the summary', () => {
    const after = rig.bodies.filter((q) => !isSummaryRequest(q) && JSON.stringify(q.body.messages).includes('SUMMARY-TEXT'));
    expect(rig.bodies.some(isSummaryRequest)).toBe(true);
    expect(after.length).toBeGreaterThan(0);
    // The history cap cuts: some line is shorter than its request.
    expect(manifest.options.historyTokens).toBe(1500);
  });

  it('mistral.jsonl: each line is its request\'s head, then the latest turns of that request, then the action', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'mistral.jsonl'), 'utf8')) as Array<{ messages: Msg[] }>;
    expect(lines).toHaveLength(STEPS);
    let cut = 0;
    let withSummary = 0;
    for (const line of lines) {
      const marker = markerIn(line.messages.at(-1));
      expect(marker).toBeDefined();
      const req = requestOf(marker!);
      const head = wireHead(req);
      const ctx = line.messages.slice(0, -1).map(key);
      const wire = req.map(key);
      // The head as sent, then a run of the request's own latest turns (none the request did not carry).
      expect(ctx.slice(0, head), marker).toEqual(wire.slice(0, head));
      const rest = ctx.slice(head);
      expect(rest, marker).toEqual(wire.slice(wire.length - rest.length));
      if (wire.length > ctx.length) cut++;
      if (head === 4) {
        withSummary++;
        expect(JSON.stringify(line.messages.slice(0, 4))).toContain('SUMMARY-TEXT');
      }
    }
    expect(cut).toBeGreaterThan(0);
    expect(withSummary).toBeGreaterThan(0);
  });

  it('mistral-finetune trains every action once, each on its own line', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'mistral.jsonl'), 'utf8'));
    for (const chunk of [true, false]) {
      const trained = lines.flatMap((l) => {
        const r = mi.trainedTurns(l, { dynamicChunkFnCall: chunk });
        expect(r.error).toBeUndefined();
        return r.trained.map((x) => markerIn([x.text, x.toolCalls]));
      });
      expect(trained).toEqual(Array.from({ length: STEPS }, (_, i) => `MARK-Z${i + 1}`));
    }
  });

  it('sharegpt.jsonl: LLaMA-Factory trains each action once, after the summary when its request carried one', async () => {
    const info = JSON.parse(await readFile(join(dir, 'dataset_info.json'), 'utf8')) as Record<string, unknown>;
    const train = parseYamlSubset(await readFile(join(dir, 'llamafactory.yaml'), 'utf8')) as { mask_history: boolean; dataset: string };
    const lines = parseJsonl(await readFile(join(dir, 'sharegpt.jsonl'), 'utf8')) as Array<{ conversations: Array<{ from: string; value: string }>; system: string }>;
    const results = lf.trainedTurnsOfFile(lines, info, train.dataset, { mask_history: train.mask_history });
    const trained = results.map((r) => {
      expect(r.dropped).toBeUndefined();
      expect(r.trained).toHaveLength(1);
      return markerIn(r.trained[0]!.text);
    });
    expect(trained).toEqual(Array.from({ length: STEPS }, (_, i) => `MARK-Z${i + 1}`));
    lines.forEach((line, i) => {
      const req = requestOf(trained[i]!);
      expect(line.system).toBe(req[0]!.content);
      expect(line.conversations[0]).toEqual({ from: 'human', value: req[1]!.content });
      if (wireHead(req) === 4) {
        // The summary and the turn after it, as the request carried them, before any step.
        expect(line.conversations[1]).toEqual({ from: 'gpt', value: req[2]!.content });
        expect(line.conversations[2]).toEqual({ from: 'human', value: req[3]!.content });
      } else {
        expect(JSON.stringify(line)).not.toContain('SUMMARY-TEXT');
      }
    });
  });

  it('openai.jsonl (its split keeps the same head) still trains every action once; the manifest reads back', async () => {
    const lines = parseJsonl(await readFile(join(dir, 'openai.jsonl'), 'utf8'));
    const trained = lines.flatMap((l) => oa.trainedTurns(l).trained.map((x) => markerIn([x.text, x.toolCalls])));
    expect(trained.sort()).toEqual(Array.from({ length: STEPS }, (_, i) => `MARK-Z${i + 1}`).sort());
    expect(manifest.actions.map((a) => a.stepId)).toEqual(branchPath(foldTrajectory(session.events), 'main').filter((s) => s.response).map((s) => s.id));
    const parsed = parseBundleManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
    expect('error' in parsed ? parsed.error : null).toBeNull();
  });
});

describe('a merge of such a bundle', () => {
  it('derives the same per-action lines from the merged OpenAI lines (their head keeps the summary too)', async () => {
    const dir = join(home, 'to-merge');
    await exportBundle({
      home, sessions: [{ sessionId: session.id, events: session.events.slice() as SessionEvent[], sessionDir: session.dir }], outDir: dir,
      formats: ['openai', 'sharegpt', 'mistral', 'trajectory'], secrets: [], appVersion: 'test', historyTokens: 1500, bundleCache: false, castCache: false,
    });
    const merged = join(home, 'merged');
    await mergeBundles({ inputs: [dir], outDir: merged, allowUnsigned: true });
    for (const f of ['sharegpt.jsonl', 'mistral.jsonl']) {
      const exported = parseJsonl(await readFile(join(dir, f), 'utf8'));
      expect(exported.some((l) => JSON.stringify(l).includes('SUMMARY-TEXT')), f).toBe(true);
      expect(parseJsonl(await readFile(join(merged, f), 'utf8')), f).toEqual(exported);
    }
  });
});
