// Token counts made as a session is recorded (token-warmer.ts): the session's first
// export then tokenizes nothing and writes what an export that counted everything
// writes; the host counts the texts of the events its sessions append, each count the
// exact count of that text.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApolloCore } from '../../electron/core/app';
import { readEventLog } from '../../electron/core/store/event-log';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { textKey, TokenCountStore } from '../../electron/core/dataset/token-store';
import { countTokensOf, tokenizedTexts } from '../../electron/core/dataset/tokens';
import { recordedTexts, TokenWarmer } from '../../electron/core/dataset/token-warmer';
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
