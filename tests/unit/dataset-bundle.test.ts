import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloError } from '../../shared/errors';
import { exportBundle, type ExportBundleOptions, type Manifest } from '../../electron/core/dataset/bundle';
import { validateAsciicast, validateOpenAIJsonl, validateShareGPTJsonl } from '../../electron/core/dataset/validate';
import { realisticSession, SYSTEM_PROMPT, TOOLS, writeRecording } from '../fixtures/sessions';

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
    sessions: [{ sessionId: 'S1', events, sessionDir, systemPrompt: SYSTEM_PROMPT, tools: TOOLS }],
    outDir,
    formats: ['openai', 'sharegpt', 'trajectory', 'asciicast'],
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
    expect(files).toEqual(['dataset_info.json', 'manifest.json', 'openai.jsonl', 'redactions.json', 'sharegpt.jsonl', 'terminals/S1/main.cast', 'trajectory.jsonl']);
    expect(manifest.files.map((f) => f.path)).toEqual(files.filter((f) => f !== 'manifest.json'));
    for (const f of manifest.files) {
      const buf = await readFile(join(outDir, f.path));
      expect(createHash('sha256').update(buf).digest('hex'), f.path).toBe(f.sha256);
      expect(buf.length).toBe(f.bytes);
    }
    expect(JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8'))).toEqual(manifest);
    expect(validateOpenAIJsonl(await readFile(join(outDir, 'openai.jsonl'), 'utf8'))).toEqual([]);
    expect(validateShareGPTJsonl(await readFile(join(outDir, 'sharegpt.jsonl'), 'utf8'))).toEqual([]);
    expect(validateAsciicast(await readFile(join(outDir, 'terminals/S1/main.cast'), 'utf8'))).toEqual([]);
  });

  it('describes sessions, branches, annotators, policy and counts', () => {
    expect(manifest).toMatchObject({ format: 'apollo-dataset-bundle', formatVersion: 1, appVersion: '0.1.0-test', formats: ['openai', 'sharegpt', 'trajectory', 'asciicast'] });
    expect(manifest.labelPolicy).toEqual({ unlabelled: 'keep', sources: ['annotator', 'judge', 'rule'], maskInvalidArguments: true });
    expect(manifest.sessions[0]).toMatchObject({ sessionId: 'S1', name: 'Fixture session', terminals: ['main'] });
    expect(manifest.sessions[0]!.branches.map((b) => [b.branchId, b.exported])).toEqual([['main', true], ['alt', true]]);
    expect(manifest.trajectories.map((t) => [t.line, t.branchId, t.actions])).toEqual([[1, 'main', 9], [2, 'alt', 6]]);
    expect(manifest.annotators).toEqual(['alice', 'bob']);
    // 11 distinct actions: 9 on main, 2 more on alt
    expect(manifest.counts).toMatchObject({ sessions: 1, trajectories: 2, steps: 11, actions: 11, kept: 8, masked: 3, unlabelled: 8 });
    expect(manifest.counts.maskedBy).toMatchObject({ annotator: 2, 'invalid-arguments': 1 });
    expect(manifest.counts.labelledBy).toEqual({ annotator: 2, judge: 1, rule: 0 });
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
    for (const f of ['openai.jsonl', 'sharegpt.jsonl', 'trajectory.jsonl', 'terminals/S1/main.cast']) expect(files).toContain(f);
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
    expect(await stat(target).then(() => true, () => false)).toBe(false);
    expect(await leftovers(join(root, 'exports'))).toEqual([]);
  });

  it('leaves nothing behind when validation fails', async () => {
    const target = join(root, 'exports', 'invalid');
    const badTools = [...TOOLS, { type: 'function' as const, function: { name: 'run command', description: 'bad name', parameters: { type: 'object' } } }];
    const err = await exportBundle(options(target, { sessions: [{ sessionId: 'S1', events, sessionDir, systemPrompt: SYSTEM_PROMPT, tools: badTools }] })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'BAD_REQUEST' });
    expect((err as ApolloError).message).toMatch(/openai\.jsonl:1: tools\[5\]/);
    expect(await stat(target).then(() => true, () => false)).toBe(false);
    expect(await leftovers(join(root, 'exports'))).toEqual([]);
  });

  it('exports chosen branches and formats only', async () => {
    const target = join(root, 'exports', 'alt-only');
    const res = await exportBundle(options(target, { formats: ['openai'], sessions: [{ sessionId: 'S1', events, sessionDir: '', branchIds: ['alt'], systemPrompt: SYSTEM_PROMPT, tools: TOOLS }], labelPolicy: { unlabelled: 'mask' } }));
    expect(res.manifest.files.map((f) => f.path)).toEqual(['openai.jsonl', 'redactions.json']);
    expect(res.manifest.trajectories).toHaveLength(1);
    expect(res.manifest.counts).toMatchObject({ actions: 6, kept: 0, masked: 6 });
    await expect(exportBundle(options(join(root, 'exports', 'nope'), { sessions: [{ sessionId: 'S1', events, sessionDir, branchIds: ['ghost'], systemPrompt: '', tools: TOOLS }] }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
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
      home: join(root, 'home'), sessions: [{ sessionId: 'BIG', events: [], sessionDir: dir, systemPrompt: '', tools: TOOLS }],
      outDir: target, formats: ['asciicast'], secrets: [], appVersion: 'x',
    });
    const cast = await readFile(join(target, 'terminals/BIG/gpu.cast'), 'utf8');
    expect(cast.includes(secret.slice(10))).toBe(false);
    expect(cast.split('[REDACTED:slack-token]').length - 1).toBe(14);
    expect(validateAsciicast(cast)).toEqual([]);
    expect(res.manifest.files.find((f) => f.path === 'terminals/BIG/gpu.cast')!.records).toBeGreaterThan(1400);
  });
});
