// Issue 10, "Bad input": a long session damaged the ways real ones are (a timing index
// from an older version, no keyframe file, a recording cut short by a crash, a torn last
// line in its log) opens through the host as the app opens it, and the session says
// what was repaired or rebuilt: the open's report, and warnings in its log.
import { appendFile, mkdtemp, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostMessage } from '../../shared/contract/index';
import type { SessionOpenView } from '../../shared/contract/sessions';
import { ApolloCore } from '../../electron/core/app';
import { generateSession } from '../../electron/bench/generate';

let root: string;
let home: string;
let id: string;
let dir: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-bad-input-'));
  home = join(root, 'ws');
  ({ id, dir } = await generateSession({ home, steps: 20, hours: 1, terminalMb: 1 }));
}, 60_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

interface Reply { ok: boolean; result?: unknown; error?: { code: string; message: string } }

describe('a damaged long session', () => {
  it('opens, repairs what it can and says what it repaired or rebuilt', async () => {
    const terms = join(dir, 'terminals');
    // An older version: the timing log without its index (and never any keyframes).
    await rm(join(terms, 'main.timing.idx'));
    await expect(stat(join(terms, 'main.keyframes'))).rejects.toThrow();
    // A crash: the last 1,000 bytes of the training job's output never reached the disk, nor the end of a log line.
    const train = join(terms, 'train.out');
    const size = (await stat(train)).size;
    await truncate(train, size - 1000);
    await appendFile(join(dir, 'events.jsonl'), '{"seq":999999,"ts":1,"type":"warn');

    const core = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web', samples: false });
    try {
      const replies = new Map<number, Reply>();
      const c = core.connect((m: HostMessage) => {
        if (m.kind === 'res') replies.set(m.id, m as unknown as Reply);
      });
      let next = 1;
      const call = async (method: string, params: unknown): Promise<unknown> => {
        const rid = next++;
        await c.receive({ kind: 'req', id: rid, cmd: method, args: params });
        const r = replies.get(rid)!;
        if (!r.ok) throw new Error(`${method}: ${r.error?.message}`);
        return r.result;
      };
      const open = (await call('sessions.open', { sessionId: id })) as SessionOpenView;
      expect(open.report.tornTail).toBe(true);
      expect(open.events.filter((e) => e.type === 'step.started')).toHaveLength(20);

      // The terminals as the page opens them: the screen (from keyframes) and the raw tail.
      const screen = (await call('terminal.screen', { sessionId: id, terminalId: 'train', offset: size })) as { offset: number; data: string };
      expect(screen.offset).toBeLessThanOrEqual(size - 1000);
      const replay = (await call('terminal.attach', { sessionId: id, terminalId: 'main' })) as { end: number };
      expect(replay.end).toBe((await stat(join(terms, 'main.out'))).size);
      expect((await stat(join(terms, 'main.timing.idx'))).size).toBeGreaterThan(0);

      const s = await core.session(id);
      const warnings = () => s.events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
      const deadline = Date.now() + 20_000;
      const wanted = [/train: the recording is shorter than its timing index/, /main was recorded by an older version.*converted/, /train had no keyframes.*building them/];
      while (!wanted.every((re) => warnings().some((w) => re.test(w))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const re of wanted) expect(warnings().join('\n')).toMatch(re);
      c.close();
    } finally {
      await core.close();
    }

    // Repaired on disk: the next open finds nothing to say.
    const again = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web', samples: false });
    try {
      const s = await again.session(id);
      expect(s.report).toEqual({ tornTail: false, corruptLines: [] });
      const before = s.events.length;
      await s.recording('train');
      await s.recording('main');
      // Anything opening them had to say was appended before this (the log keeps their order).
      await s.append({ type: 'warning', message: 'marker' });
      expect(s.events.slice(before).flatMap((e) => (e.type === 'warning' ? [e.message] : []))).toEqual(['marker']);
    } finally {
      await again.close();
    }
  }, 60_000);
});
