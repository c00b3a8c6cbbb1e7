import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloError } from '../../shared/errors';
import type { SessionEvent, SessionEventBody } from '../../shared/events';
import { exportBundle, type ExportBundleOptions, type Manifest } from '../../electron/core/dataset/bundle';
import { validateAsciicast, validateMistralJsonl, validateOpenAIJsonl, validateShareGPTJsonl } from '../../electron/core/dataset/validate';
import { realisticSession, run, SessionBuilder, TOOLS, writeRecording } from '../fixtures/sessions';

const j = (...p: string[]): string => p.join('');
const PLANTED = {
  command: j('gh', 'p_', 'Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8'),
  output: j('hf', '_', 'QwErTyUiOpAsDfGhJkLzXcVbNm12345678'),
  guidance: j('sk-', 'proj-', 'Guid4nce5ecret6Key7890abcdefGHIJKL'),
  comment: j('AKIA', 'ZZZZYYYYXXXX1234'),
  reasoning: j('sk-', 'ant-', 'api03-', 'Re4s0n1ngSecretKeyAbCdEfGhIjKl'),
  env: j('env-', 'configured-', 'secret-991'),
  terminal: j('xox', 'p-', '99887766554-33221100998-AbCdEfGhIjKl'),
  typed: j('typed-', 'endpoint-', 'key-4242'),
};

let root: string;
let sessionDir: string;
const events = realisticSession({ plant: { command: PLANTED.command, output: PLANTED.output, guidance: PLANTED.guidance, comment: PLANTED.comment, reasoning: PLANTED.reasoning, env: PLANTED.env } }).events;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-bundle-'));
  sessionDir = join(root, 'home', 'sessions', 'S1');
  await mkdir(sessionDir, { recursive: true });
  const t0 = events.find((e) => e.type === 'terminal.started')!.ts;
  await writeRecording(sessionDir, 'main', [
    { ts: t0 + 10, data: '$ python train.py\r\n' },
    { ts: t0 + 20, data: `SLACK=${PLANTED.terminal.slice(0, 9)}` },
    { ts: t0 + 30, data: `${PLANTED.terminal.slice(9)}\r\nloss 2.31 — ok ✓\r\n` },
  ]);
  // A human pastes a configured key into the terminal.
  events.push({ seq: 10_000, ts: t0 + 40, type: 'terminal.input', terminalId: 'main', data: `export KEY=${PLANTED.typed}\r`, source: 'human', offset: 60 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function options(outDir: string, over: Partial<ExportBundleOptions> = {}): ExportBundleOptions {
  return {
    home: join(root, 'home'),
    sessions: [{ sessionId: 'S1', events, sessionDir }],
    outDir,
    formats: ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'],
    secrets: [PLANTED.env, PLANTED.typed],
    appVersion: '0.1.0-test',
    ...over,
  };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, d.name);
    if (d.isDirectory()) out.push(...(await listFiles(p)));
    else out.push(p);
  }
  return out.sort();
}

async function leftovers(parent: string): Promise<string[]> {
  return (await readdir(parent)).filter((n) => n.includes('.tmp-'));
}

const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);

/**
 * A one-step session with a request record: the step's reply names the request it
 * answered, whose config carries `tools`. The fixtures' other sessions have no record
 * (their context is rebuilt); this one is exported exactly as recorded.
 */
function recordedSession(tools: unknown[]): SessionEvent[] {
  const b = new SessionBuilder({ name: 'Recorded' });
  b.rollout({ task: 'List the files.' });
  const add = (body: SessionEventBody): void => void b.add(body);
  add({ type: 'step.started', stepId: 'r1', parentId: null, branchId: 'main', depth: 1, rolloutId: 'r1' });
  add({ type: 'request.config', hash: 'cfg1', config: { model: 'm', tools } });
  add({
    type: 'model.request', requestId: 'q1', stepId: 'r1', purpose: 'step', base: null, keep: 0, config: 'cfg1',
    append: [{ role: 'system', content: 'RECORDED SYSTEM PROMPT' }, { role: 'user', content: 'RECORDED TASK TURN' }], owners: [null, null],
  });
  add({
    type: 'model.response', stepId: 'r1', content: '', reasoning: '', requestId: 'q1', finishReason: 'tool_calls', durationMs: 5, usage: null,
    toolCalls: [{ id: 'call_r1', name: 'run_command', arguments: JSON.stringify(run('ls').args) }],
  });
  add({ type: 'action.result', stepId: 'r1', toolCallId: 'call_r1', name: 'run_command', observation: 'a.txt', isError: false, durationMs: 1 });
  add({ type: 'step.finished', stepId: 'r1', promptTokens: 10 });
  return b.events;
}

describe('exportBundle', () => {
  let manifest: Manifest;
  let outDir: string;

  beforeAll(async () => {
    outDir = join(root, 'exports', 'bundle-a');
    const progress: Array<[number, number, string]> = [];
    const res = await exportBundle({ ...options(outDir), onProgress: (d, t, s) => progress.push([d, t, s]) });
    manifest = res.manifest;
    expect(res.dir).toBe(outDir);
    expect(progress.length).toBeGreaterThan(5);
    expect(progress.at(-1)).toEqual([progress.at(-1)![1], progress.at(-1)![1], 'done']);
    for (let i = 1; i < progress.length; i++) expect(progress[i]![0]).toBeGreaterThanOrEqual(progress[i - 1]![0]);
  });

  it('writes every format, valid, with a manifest whose SHA-256s match', async () => {
    const files = (await listFiles(outDir)).map((f) => relative(outDir, f));
    expect(files).toEqual([
      'axolotl.yml', 'dataset_info.json', 'llamafactory.yaml', 'manifest.json', 'mistral.jsonl', 'openai.jsonl', 'redactions.json', 'sharegpt.jsonl',
      'terminals/S1/main.cast', 'trajectory.jsonl',
    ]);
    expect(manifest.files.map((f) => f.path)).toEqual(files.filter((f) => f !== 'manifest.json'));
    for (const f of manifest.files) {
      const buf = await readFile(join(outDir, f.path));
      expect(createHash('sha256').update(buf).digest('hex'), f.path).toBe(f.sha256);
      expect(buf.length).toBe(f.bytes);
    }
    expect(JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8'))).toEqual(manifest);
    expect(validateOpenAIJsonl(await readFile(join(outDir, 'openai.jsonl'), 'utf8'))).toEqual([]);
    expect(validateShareGPTJsonl(await readFile(join(outDir, 'sharegpt.jsonl'), 'utf8'))).toEqual([]);
    expect(validateMistralJsonl(await readFile(join(outDir, 'mistral.jsonl'), 'utf8'))).toEqual([]);
    expect(validateAsciicast(await readFile(join(outDir, 'terminals/S1/main.cast'), 'utf8'))).toEqual([]);
  });

  it('describes sessions, branches, annotators, policy and counts', () => {
    expect(manifest).toMatchObject({ format: 'apollo-dataset-bundle', formatVersion: 2, appVersion: '0.1.0-test', formats: ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'] });
    expect(manifest.options).toEqual({ maxTokens: null, historyTokens: 32_768, warnTokens: 32_768, includeSummaries: false, dedupe: 'one-example-per-step' });
    expect(manifest.labelPolicy).toEqual({ unlabelled: 'keep', sources: ['annotator', 'judge', 'rule'], maskInvalidArguments: true });
    expect(manifest.sessions[0]).toMatchObject({ sessionId: 'S1', name: 'Fixture session', terminals: ['main'] });
    expect(manifest.sessions[0]!.branches.map((b) => [b.branchId, b.exported])).toEqual([['main', true], ['alt', true]]);
    expect(manifest.trajectories.map((t) => [t.line, t.branchId, t.actions])).toEqual([[1, 'main', 9], [2, 'alt', 6]]);
    expect(manifest.annotators).toEqual(['alice', 'bob']);
    // 11 distinct actions: 9 on main, 2 more on alt; each counted once although alt shares 4 with main.
    expect(manifest.counts).toMatchObject({ sessions: 1, trajectories: 2, actionLines: 8, steps: 11, actions: 11, kept: 8, masked: 3, unlabelled: 8, examplesSkipped: 0 });
    expect(manifest.counts.maskedBy).toMatchObject({ annotator: 2, 'invalid-arguments': 1, secret: 0 });
    expect(manifest.counts.labelledBy).toEqual({ annotator: 2, judge: 1, rule: 0 });
    expect(manifest.warnings).toContain('8 action(s) are unreviewed (no label from annotator, judge, rule): trained by the policy');
  });

  it('trains each action in exactly one example: the prefix alt shares with main is weight-0 context there', () => {
    const r = realisticSession();
    const [main, alt] = manifest.trajectories;
    expect(main).toMatchObject({ steps: 9, kept: 6, masked: 3, trainedSteps: [r.s.plan, r.s.install, r.s.trainRetry, r.s.out1, r.s.out2, r.s.evaluate] });
    // alt holds plan..trainRetry again, as context: only its own two steps are trained.
    expect(alt).toMatchObject({ steps: 6, kept: 2, masked: 4, trainedSteps: [r.s.alt1, r.s.alt2] });
    // One sharegpt / mistral line per trained action, each naming its step and example.
    expect(manifest.actions.map((a) => [a.line, a.example, a.branchId, a.stepId])).toEqual(
      [...main!.trainedSteps.map((s) => [1, 'main', s]), ...alt!.trainedSteps.map((s) => [2, 'alt', s])].map(([ex, b, s], i) => [i + 1, ex, b, s]),
    );
  });

  it('says in the manifest that the context of a log without request record was rebuilt', () => {
    // The fixture sessions have no request record: their examples are rebuilt by today's prompt code.
    expect(manifest.trajectories.map((t) => t.context)).toEqual(['reconstructed', 'reconstructed']);
    expect(manifest.counts.reconstructed).toBe(2);
    expect(manifest.warnings.some((w) => /^2 example\(s\) come from sessions recorded before the request record/.test(w))).toBe(true);
  });

  it('counts tokens per example and in total, under the documented tokenizer', () => {
    const { tokens } = manifest.counts;
    expect(tokens.tokenizer).toMatch(/^o200k_base/);
    expect(tokens.total).toBe(manifest.trajectories.reduce((n, t) => n + t.tokens, 0));
    expect(tokens.longest).toBe(Math.max(...manifest.trajectories.map((t) => t.tokens)));
    expect(tokens).toMatchObject({ limit: 32_768, overLimit: 0 });
    for (const t of manifest.trajectories) expect(t.tokens).toBeGreaterThan(500);
  });

  it('redacts planted secrets everywhere in the bundle and reports them', async () => {
    const all = await Promise.all((await listFiles(outDir)).map((f) => readFile(f, 'utf8')));
    const blob = all.join('\n');
    for (const [where, secret] of Object.entries(PLANTED)) {
      expect(blob.includes(secret), `${where} secret leaked`).toBe(false);
      // nor a large piece of it (a secret split across terminal batches)
      expect(blob.includes(secret.slice(-12)), `${where} secret tail leaked`).toBe(false);
    }
    const { redactions } = JSON.parse(await readFile(join(outDir, 'redactions.json'), 'utf8')) as { redactions: Array<{ file: string; line: number; path: string; kind: string; count: number }> };
    const kinds = new Set(redactions.map((r) => r.kind));
    for (const k of ['github-token', 'hf-token', 'openai-key', 'aws-access-key', 'anthropic-key', 'configured-secret', 'slack-token', 'sensitive-field']) expect(kinds, k).toContain(k);
    const files = new Set(redactions.map((r) => r.file));
    // The training files are redacted once, in the example stream (openai.jsonl's lines);
    // sharegpt.jsonl and mistral.jsonl are cut from those already-redacted lines.
    for (const f of ['openai.jsonl', 'trajectory.jsonl', 'terminals/S1/main.cast']) expect(files).toContain(f);
    for (const f of ['sharegpt.jsonl', 'mistral.jsonl']) expect(await readFile(join(outDir, f), 'utf8'), f).toContain('[REDACTED:hf-token]');
    expect(redactions.find((r) => r.file === 'openai.jsonl' && r.kind === 'github-token')).toMatchObject({ line: 1, path: expect.stringMatching(/^\/messages\/\d+\/tool_calls\/0\/function\/arguments$/) });
    expect(JSON.stringify(redactions)).not.toMatch(/ghp_|hf_Q|sk-/);
    expect(manifest.redactions.total).toBe(redactions.reduce((n, r) => n + r.count, 0));
    // the redacted arguments still parse
    const line = JSON.parse((await readFile(join(outDir, 'openai.jsonl'), 'utf8')).split('\n')[0]!) as { messages: Array<{ tool_calls?: Array<{ function: { arguments: string } }> }> };
    const args = line.messages.flatMap((m) => m.tool_calls ?? []).map((c) => JSON.parse(c.function.arguments) as { command?: string });
    expect(args.find((a) => a.command?.includes('--hub-token'))!.command).toContain('--hub-token [REDACTED:github-token]');
  });

  it('gives byte-identical files for the same input', async () => {
    const again = join(root, 'exports', 'bundle-b');
    const res = await exportBundle(options(again));
    const a = await listFiles(outDir);
    const b = await listFiles(again);
    expect(b.map((f) => relative(again, f))).toEqual(a.map((f) => relative(outDir, f)));
    for (let i = 0; i < a.length; i++) {
      const ha = createHash('sha256').update(await readFile(a[i]!)).digest('hex');
      const hb = createHash('sha256').update(await readFile(b[i]!)).digest('hex');
      expect(hb, relative(outDir, a[i]!)).toBe(ha);
    }
    expect(res.manifest).toEqual(manifest);
  });

  it('refuses an existing outDir', async () => {
    await expect(exportBundle(options(outDir))).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('leaves nothing behind when aborted after the first progress callback', async () => {
    const target = join(root, 'exports', 'aborted');
    const ctl = new AbortController();
    let calls = 0;
    const err = await exportBundle({ ...options(target), signal: ctl.signal, onProgress: () => {
      calls++;
      ctl.abort();
    } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApolloError);
    expect((err as ApolloError).code).toBe('CANCELLED');
    expect(calls).toBe(1);
    expect(await exists(target)).toBe(false);
    expect(await leftovers(join(root, 'exports'))).toEqual([]);
  });

  it('leaves nothing behind when validation fails', async () => {
    const target = join(root, 'exports', 'invalid');
    // The recorded request's tools carry a name OpenAI rejects: the example holds them as sent.
    const badTools = [...TOOLS, { type: 'function' as const, function: { name: 'run command', description: 'bad name', parameters: { type: 'object' } } }];
    const err = await exportBundle(options(target, { sessions: [{ sessionId: 'R', events: recordedSession(badTools), sessionDir: '' }] })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_REQUEST' });
    expect((err as ApolloError).message).toMatch(/openai\.jsonl:1: tools\[5\]/);
    expect(await exists(target)).toBe(false);
    expect(await leftovers(join(root, 'exports'))).toEqual([]);
  });

  it('exports chosen branches and formats only', async () => {
    const target = join(root, 'exports', 'alt-only');
    const res = await exportBundle(options(target, { formats: ['openai'], sessions: [{ sessionId: 'S1', events, sessionDir: '', branchIds: ['alt'] }] }));
    // openai.jsonl comes with the Axolotl entry that reads it.
    expect(res.manifest.files.map((f) => f.path)).toEqual(['axolotl.yml', 'openai.jsonl', 'redactions.json']);
    expect(res.manifest.trajectories.map((t) => t.branchId)).toEqual(['alt']);
    expect(res.manifest.sessions[0]!.branches.map((b) => [b.branchId, b.exported, b.skipped])).toEqual([['main', false, 'not selected'], ['alt', true, null]]);
    // Alone, alt trains its shared prefix too (nothing else trains it).
    expect(res.manifest.counts).toMatchObject({ actions: 6, kept: 5, masked: 1 });
    await expect(exportBundle(options(join(root, 'exports', 'nope'), { sessions: [{ sessionId: 'S1', events, sessionDir, branchIds: ['ghost'] }] }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('leaves out a branch with nothing to train, and says so', async () => {
    const target = join(root, 'exports', 'alt-masked');
    // Unreviewed actions skipped: on alt only the annotator's mask and unreviewed steps remain.
    const res = await exportBundle(options(target, { formats: ['openai'], sessions: [{ sessionId: 'S1', events, sessionDir: '', branchIds: ['alt'] }], labelPolicy: { unlabelled: 'mask' } }));
    expect(res.manifest.trajectories).toEqual([]);
    expect(res.manifest.counts).toMatchObject({ trajectories: 0, actions: 6, kept: 0, masked: 6, unlabelled: 5, examplesSkipped: 1 });
    expect(res.manifest.skipped).toEqual([{ sessionId: 'S1', branchId: 'alt', reason: 'nothing-to-train', steps: 6 }]);
    expect(res.manifest.sessions[0]!.branches.find((b) => b.branchId === 'alt')).toMatchObject({ exported: false, skipped: expect.stringMatching(/^nothing to train/) });
    expect(res.manifest.warnings).toContain('session S1 branch alt: nothing to train (every action masked or trained on another branch)');
    expect(res.manifest.warnings).toContain('5 action(s) are unreviewed (no label from annotator, judge, rule): skipped (not trained) by the policy');
    expect(await readFile(join(target, 'openai.jsonl'), 'utf8')).toBe('');
  });

  it('refuses to export unreviewed actions under the refuse policy, and writes nothing', async () => {
    const target = join(root, 'exports', 'refused');
    const err = await exportBundle(options(target, { labelPolicy: { unlabelled: 'refuse' } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApolloError);
    expect(err).toMatchObject({ code: 'BAD_REQUEST', details: { unlabelled: 8 } });
    expect((err as ApolloError).message).toBe('8 action(s) are unreviewed and the policy refuses to export them: label them, or choose to train or skip unreviewed actions');
    expect(await exists(target)).toBe(false);
    expect(await leftovers(join(root, 'exports'))).toEqual([]);
    // With every action reviewed there is nothing to refuse.
    const reviewed = realisticSession().events;
    const last = reviewed.at(-1)!;
    ['s1', 's3', 's4', 's5', 's6', 's7', 's10', 's11'].forEach((stepId, i) => reviewed.push({
      seq: last.seq + 1 + i, ts: last.ts + 1 + i, type: 'label.set', stepId, label: 'keep', tags: [], note: '', source: 'annotator', author: 'alice',
    }));
    const ok = await exportBundle(options(target, { formats: ['openai'], sessions: [{ sessionId: 'S1', events: reviewed, sessionDir: '' }], labelPolicy: { unlabelled: 'refuse' } }));
    // s7 stays masked although kept: its arguments are not valid JSON.
    expect(ok.manifest.counts).toMatchObject({ unlabelled: 0, kept: 8, masked: 3 });
  });

  it('plans without writing on a dry run: the same manifest a real export writes, refusals included', async () => {
    const target = join(root, 'exports', 'dry');
    const plan = await exportBundle(options(target, { dryRun: true }));
    expect(plan.dryRun).toBe(true);
    expect(await exists(target)).toBe(false);
    expect(await leftovers(join(root, 'exports'))).toEqual([]);
    const { files: _f, redactions: _r, ...planned } = plan.manifest;
    const { files: _f2, redactions: _r2, ...written } = manifest;
    expect(planned).toEqual(written);
    // A dry run may target an existing folder, and shows the refusal instead of throwing.
    const refused = await exportBundle(options(outDir, { dryRun: true, labelPolicy: { unlabelled: 'refuse' } }));
    expect(refused.manifest.counts.unlabelled).toBe(8);
    expect(refused.manifest.warnings).toContain('8 action(s) are unreviewed (no label from annotator, judge, rule): refused by the policy');
  });

  it('warns about examples over the token limit and splits them on maxTokens', async () => {
    const [main, alt] = manifest.trajectories.map((t) => t.tokens) as [number, number];
    expect(main).toBeGreaterThan(alt);
    const limit = Math.floor((main + alt) / 2);
    const warned = await exportBundle(options(join(root, 'exports', 'warn'), { dryRun: true, warnTokens: limit }));
    expect(warned.manifest.trajectories.map((t) => t.overLimit)).toEqual([true, false]);
    expect(warned.manifest.counts.tokens).toMatchObject({ limit, overLimit: 1 });
    expect(warned.manifest.warnings).toContain(`1 example(s) are longer than ${limit} tokens (o200k_base (gpt-tokenizer)); trainers with a shorter sequence length drop or cut them: export with a token limit to split them`);
    const max = alt - 100;
    const split = await exportBundle(options(join(root, 'exports', 'split'), { dryRun: true, maxTokens: max }));
    expect(split.manifest.trajectories.length).toBeGreaterThan(2);
    for (const t of split.manifest.trajectories) expect(t.tokens).toBeLessThanOrEqual(max);
    const trained = split.manifest.trajectories.flatMap((t) => t.trainedSteps);
    expect(trained.sort()).toEqual(manifest.trajectories.flatMap((t) => t.trainedSteps).sort());
    expect(split.manifest.counts).toMatchObject({ kept: 8, masked: 3 });
    // Below the fixed head (system prompt, task, tools) no split fits: the warning says so instead of advising a limit.
    const tiny = await exportBundle(options(join(root, 'exports', 'tiny'), { dryRun: true, maxTokens: 500 }));
    expect(tiny.manifest.trajectories.every((t) => t.overLimit)).toBe(true);
    expect(tiny.manifest.warnings.find((w) => w.includes('longer than 500 tokens'))).toMatch(/splitting at 500 tokens could not bring them under it/);
    for (const bad of [0, 63, 1.5]) await expect(exportBundle(options(join(root, 'exports', 'bad'), { maxTokens: bad }))).rejects.toMatchObject({ code: 'BAD_REQUEST' });
  });

  it('keeps sessions apart when their step ids repeat (two copies of one recording)', async () => {
    const copy = realisticSession().events;
    const res = await exportBundle(options(join(root, 'exports', 'two-copies'), {
      formats: ['openai'], sessions: [{ sessionId: 'S1', events, sessionDir: '' }, { sessionId: 'S2', events: copy, sessionDir: '' }],
    }));
    expect(res.manifest.trajectories.map((t) => [t.sessionId, t.branchId, t.kept])).toEqual([['S1', 'main', 6], ['S1', 'alt', 2], ['S2', 'main', 6], ['S2', 'alt', 2]]);
    expect(res.manifest.counts).toMatchObject({ sessions: 2, actions: 22, kept: 16, masked: 6 });
  });

  it('exports a recorded session exactly as recorded', async () => {
    const target = join(root, 'exports', 'recorded');
    const res = await exportBundle(options(target, { formats: ['openai'], sessions: [{ sessionId: 'R', events: recordedSession(TOOLS), sessionDir: '' }] }));
    expect(res.manifest.trajectories.map((t) => t.context)).toEqual(['recorded']);
    expect(res.manifest.counts.reconstructed).toBe(0);
    expect(res.manifest.warnings.some((w) => w.includes('request record'))).toBe(false);
    const line = JSON.parse(await readFile(join(target, 'openai.jsonl'), 'utf8')) as { messages: Array<{ role: string; content?: string; weight?: number }>; tools: unknown[] };
    expect(line.messages.map((m) => [m.role, m.content ?? null, m.weight ?? null])).toEqual([['system', 'RECORDED SYSTEM PROMPT', null], ['user', 'RECORDED TASK TURN', null], ['assistant', null, 1]]);
    expect(line.tools).toEqual(TOOLS);
  });

  it('streams a large recording and redacts secrets at window boundaries', async () => {
    const dir = join(root, 'home', 'sessions', 'BIG');
    const chunkText = 'x'.repeat(4000);
    const t0 = 1_700_000_000_000;
    const chunks: Array<{ ts: number; data: string }> = [];
    const secret = PLANTED.terminal;
    for (let i = 0; i < 1500; i++) {
      // a secret straddling a chunk boundary every 100 chunks
      const tail = i % 100 === 99 ? ` tok=${secret.slice(0, 10)}` : '';
      const head = i % 100 === 0 && i > 0 ? `${secret.slice(10)} ` : '';
      chunks.push({ ts: t0 + i * 16, data: `${head}${chunkText}\r\n${tail}` });
    }
    await writeRecording(dir, 'gpu', chunks);
    const target = join(root, 'exports', 'big');
    const res = await exportBundle({
      home: join(root, 'home'), sessions: [{ sessionId: 'BIG', events: [], sessionDir: dir }],
      outDir: target, formats: ['asciicast'], secrets: [], appVersion: 'x',
    });
    const cast = await readFile(join(target, 'terminals/BIG/gpu.cast'), 'utf8');
    expect(cast.includes(secret.slice(10))).toBe(false);
    expect(cast.split('[REDACTED:slack-token]').length - 1).toBe(14);
    expect(validateAsciicast(cast)).toEqual([]);
    expect(res.manifest.files.find((f) => f.path === 'terminals/BIG/gpu.cast')!.records).toBeGreaterThan(1400);
  });
});
