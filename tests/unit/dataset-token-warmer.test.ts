// Token counts made as a session is recorded (token-warmer.ts): the session's first
// export then tokenizes nothing and writes what an export that counted everything
// writes; the host counts the texts of the events its sessions append, each count the
// exact count of that text.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloCore } from '../../electron/core/app';
import { readEventLog } from '../../electron/core/store/event-log';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { Redactor } from '../../electron/core/dataset/redact';
import { textKey, TOKEN_STORE_FILE, TOKEN_STORE_HEADER_BYTES, TokenCountStore } from '../../electron/core/dataset/token-store';
import { countTokensOf, tokenizedTexts } from '../../electron/core/dataset/tokens';
import { CountWorker, recordedTexts, TokenWarmer } from '../../electron/core/dataset/token-warmer';
import type { SessionEvent } from '../../shared/events';
import { realisticSession } from '../fixtures/sessions';

let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-token-warmer-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function exportOnce(dir: string, events: SessionEvent[]) {
  const before = tokenizedTexts();
  const out = join(root, `out${++n}`);
  const r = await exportBundle({ home: root, sessions: [{ sessionId: 'S1', events, sessionDir: dir }], outDir: out, formats: ['openai', 'sharegpt'], secrets: [], appVersion: 'x', historyTokens: 300 });
  const files = await Promise.all(['openai.jsonl', 'sharegpt.jsonl', 'manifest.json'].map((f) => readFile(join(out, f), 'utf8')));
  return { r, files, counted: tokenizedTexts() - before };
}

describe('token counts made as the session is recorded', () => {
  it('leave the first export nothing to count, and give the bundle a fresh count gives', async () => {
    // A session recorded by a real rollout, with its request record (what the model was sent).
    const events = (await readEventLog(resolve('resources/samples/sample-sales-report/events.jsonl'))).events;
    // A secret in a tool result: the export counts the text as it writes it, redacted.
    const req = events.find((e) => e.type === 'model.request' && e.append.some((m) => m.role === 'tool'));
    const tool = req?.type === 'model.request' ? req.append.find((m) => m.role === 'tool') : undefined;
    expect(typeof tool?.content).toBe('string');
    tool!.content = `${String(tool!.content)}\nexport GITHUB_TOKEN=${['ghp_', 'Warm9Test8Token7Abcdef6Ghijkl5Mnopqr4'].join('')}`;
    const fresh = await exportOnce(join(root, 'fresh'), events);
    expect(fresh.counted).toBeGreaterThan(10);
    const dir = join(root, 'warmed');
    await mkdir(dir);
    const warmer = new TokenWarmer(dir);
    for (const ev of events) warmer.take(ev);
    await warmer.close();
    const first = await exportOnce(dir, events);
    expect(first.counted).toBe(0);
    expect(first.files).toEqual(fresh.files);
    expect(first.r.manifest.counts.tokens).toEqual(fresh.r.manifest.counts.tokens);
    expect(first.r.redactions.map((x) => x.kind)).toContain('github-token');
  });

  it('are made by the host for the events its sessions append, each the exact count of its text', async () => {
    const core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web', samples: false });
    let dir = '';
    const texts: string[] = [];
    try {
      const created = await core.ws.create({ name: 'warm', cwd: root });
      const s = await core.session(created.id);
      dir = s.dir;
      const recorded = realisticSession().events.filter((e) => e.type === 'request.config' || e.type === 'model.request' || e.type === 'model.response');
      expect(recorded.length).toBeGreaterThan(3);
      for (const ev of recorded) {
        const { seq: _seq, ts: _ts, ...body } = ev as SessionEvent & { seq: number; ts: number };
        await s.append(body as Parameters<typeof s.append>[0]);
        texts.push(...recordedTexts(ev));
      }
    } finally {
      // Closing counts what the last second appended.
      await core.close();
    }
    const store = await TokenCountStore.open(dir);
    const distinct = [...new Set(texts)];
    expect(distinct.length).toBeGreaterThan(10);
    expect(store.size).toBe(distinct.length);
    for (const t of distinct) expect(store.get(textKey(t))).toBe(countTokensOf(t));
  });
});

describe('a warmer stopped while it counts (the session is being deleted)', () => {
  it('settles only once the batch being counted has been written', async () => {
    const dir = join(root, 'stopped');
    await mkdir(dir);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const written: string[] = [];
    // A counter still busy when the session is deleted (a long text, the tokenizer loading).
    const slow = async (_dir: string, texts: readonly string[]): Promise<void> => {
      await gate;
      written.push(...texts);
    };
    const warmer = new TokenWarmer(dir, 0, slow);
    warmer.take({ type: 'model.response', content: 'being counted', toolCalls: [] } as unknown as SessionEvent);
    const flushing = warmer.flush();
    let stopped = false;
    const stopping = warmer.stop().then(() => void (stopped = true));
    warmer.take({ type: 'model.response', content: 'after the stop', toolCalls: [] } as unknown as SessionEvent);
    await new Promise((r) => setImmediate(r));
    expect(stopped).toBe(false);
    release();
    await Promise.all([flushing, stopping]);
    expect(stopped).toBe(true);
    expect(written).toEqual(['being counted']);
  });
});

// Needs the build (`npx electron-vite build`): the host counts in out/main/token-count-worker.js.
describe('token counts made in the counting worker', () => {
  const WORKER = resolve(__dirname, '../../out/main/token-count-worker.js');
  const secret = ['ghp_', 'Work9Er8Token7Abcdef6Ghijkl5Mnopqr4'].join('');
  const texts = [`a long observation ${'loss 0.123 '.repeat(2000)}`, `export GITHUB_TOKEN=${secret}`, 'short', 'short'];
  const events = (): SessionEvent[] => [{ type: 'model.response', content: texts[0]!, toolCalls: [{ id: 'c1', name: 'run_command', arguments: JSON.stringify({ command: texts[1] }) }] } as unknown as SessionEvent];

  it('are exact, the redacted form too, and never tokenize in the host thread', async () => {
    if (!existsSync(WORKER)) throw new Error(`${WORKER} is missing: run \`npx electron-vite build\` first`);
    const dir = join(root, 'in-worker');
    await mkdir(dir);
    const worker = new CountWorker(WORKER);
    const before = tokenizedTexts();
    const warmer = new TokenWarmer(dir, 0, worker.count);
    for (const ev of events()) warmer.take(ev);
    await warmer.close();
    // The tokenizer's load and every count ran in the worker: this thread was free.
    expect(tokenizedTexts()).toBe(before);
    expect(worker.starts).toBe(1);
    const store = await TokenCountStore.open(dir);
    const expected = [...new Set(recordedTexts(events()[0]!).flatMap((t) => [t, new Redactor().redact(t).text]))];
    expect(expected.some((t) => t.includes('[REDACTED:github-token]'))).toBe(true);
    expect(store.size).toBe(expected.length);
    for (const t of expected) expect(store.get(textKey(t))).toBe(countTokensOf(t));
    await worker.kill();
  });

  it('settle when the worker dies mid-batch, and the next batch starts a new one', async () => {
    const dir = join(root, 'killed');
    await mkdir(dir);
    const worker = new CountWorker(WORKER);
    const warmer = new TokenWarmer(dir, 0, worker.count);
    for (const ev of events()) warmer.take(ev);
    const flushed = warmer.flush();
    await worker.kill();
    await flushed;
    // Whatever it appended before it died is whole records (or nothing).
    const size = (await stat(join(dir, TOKEN_STORE_FILE)).catch(() => null))?.size ?? TOKEN_STORE_HEADER_BYTES;
    expect((size - TOKEN_STORE_HEADER_BYTES) % 20).toBe(0);
    warmer.take({ type: 'model.response', content: 'after the crash', toolCalls: [] } as unknown as SessionEvent);
    await warmer.close();
    expect(worker.starts).toBe(2);
    const store = await TokenCountStore.open(dir);
    expect(store.get(textKey('after the crash'))).toBe(countTokensOf('after the crash'));
    await worker.kill();
  });
});
