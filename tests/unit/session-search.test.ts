// Search across a session (actions, observations, guidance, comments, summaries,
// terminal output): the answers of a brute-force scan, with the step to jump to; the
// terminal index beside each recording finds matches across its block boundaries,
// in output written after it was built, and survives a recording rewritten under it.
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSession, type GeneratedSession } from '../../electron/bench/generate';
import { SessionSearch } from '../../electron/core/search/session-search';
import { SEARCH_BLOCK, TerminalSearchIndex, foldBytes } from '../../electron/core/search/terminal-index';
import { readEventLog } from '../../electron/core/store/event-log';
import { parseTiming } from '../../electron/core/store/terminal-recording';
import type { SessionEvent } from '../../shared/events';
import type { HostMessage } from '../../shared/contract/index';
import type { SearchResponse } from '../../shared/contract/sessions';
import { ApolloCore } from '../../electron/core/app';

let root: string;
let g: GeneratedSession;
let events: SessionEvent[];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-search-'));
  g = await generateSession({ home: join(root, 'home'), steps: 60, hours: 2, terminalMb: 3, seed: 3 });
  events = (await readEventLog(join(g.dir, 'events.jsonl'))).events;
}, 120_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Every case-insensitive (ASCII) occurrence of `q` in the file, the long way. */
async function bruteOffsets(path: string, q: string): Promise<number[]> {
  const hay = foldBytes(await readFile(path));
  const needle = foldBytes(Buffer.from(q));
  const out: number[] = [];
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + 1)) out.push(at);
  return out;
}

describe('session search', () => {
  it('finds what a scan of the log finds, each with its step; comments as they are now', async () => {
    const s = new SessionSearch(g.dir, { events });
    const guidance = events.find((e) => e.type === 'guidance.queued')!;
    const word = guidance.type === 'guidance.queued' ? guidance.text.split(' ').slice(0, 3).join(' ') : '';
    const r = await s.search(word.toUpperCase(), { kinds: ['guidance'] });
    const queued = events.filter((e) => e.type === 'guidance.queued' && e.text.toLowerCase().includes(word.toLowerCase()));
    expect(r.results.length).toBe(queued.length);
    const delivered = new Map(events.flatMap((e) => (e.type === 'guidance.delivered' ? [[e.guidanceId, e.stepId] as const] : [])));
    expect(r.results.map((x) => x.stepId).sort()).toEqual(queued.map((q) => (q.type === 'guidance.queued' ? delivered.get(q.guidanceId) ?? null : null)).sort());

    // Observations: every occurrence, in the step that recorded it.
    const q = 'nvidia a100';
    const obs = await s.search(q, { kinds: ['observation'], limit: 10_000 });
    let want = 0;
    for (const e of events) if (e.type === 'action.result') want += e.observation.toLowerCase().split(q).length - 1;
    expect(obs.results.length).toBe(want);
    expect(want).toBeGreaterThan(0);
    for (const x of obs.results) {
      const ev = events.find((e) => e.type === 'action.result' && e.stepId === x.stepId)!;
      expect(ev.type === 'action.result' && ev.observation.toLowerCase().slice(x.at!, x.at! + q.length)).toBe(q);
    }

    // Actions: the tool call's arguments are searched.
    const act = await s.search('"sleep_time"', { kinds: ['action'] });
    expect(act.results.length).toBe(events.filter((e) => e.type === 'model.response' && e.toolCalls.some((c) => c.name === 'sleep')).length);
    // And the model's reasoning (the Filter view asks for words past the page's preview of it).
    const thought = events.find((e) => e.type === 'model.response' && e.reasoning.length > 400)!;
    const words = thought.type === 'model.response' ? thought.reasoning.slice(-60, -20) : '';
    const inThought = await s.search(words, { kinds: ['action'], limit: 10_000 });
    expect(inThought.results.map((x) => x.stepId)).toContain(thought.type === 'model.response' ? thought.stepId : '');

    // A comment edited after the search started is found by its new text; a deleted one is not.
    const live = [...events];
    const s2 = new SessionSearch(g.dir, { events: live });
    const c = events.find((e) => e.type === 'comment.added')!;
    expect((await s2.search('needle-before', { kinds: ['comment'] })).results).toEqual([]);
    live.push({ seq: 1e6, ts: live.at(-1)!.ts + 1, type: 'comment.edited', commentId: c.type === 'comment.added' ? c.commentId : '', text: 'Look here: needle-after the edit', author: 'alice' });
    const edited = await s2.search('NEEDLE-AFTER', { kinds: ['comment'] });
    expect(edited.results.map((x) => x.stepId)).toEqual([c.type === 'comment.added' ? c.stepId : null]);
    live.push({ seq: 1e6 + 1, ts: live.at(-1)!.ts + 1, type: 'comment.deleted', commentId: c.type === 'comment.added' ? c.commentId : '', author: 'alice' });
    expect((await s2.search('needle-after', { kinds: ['comment'] })).results).toEqual([]);
  });

  it('finds every match in the terminals a scan finds, at its offset, in the step whose command wrote it there', async () => {
    const s = new SessionSearch(g.dir, { events });
    const tdir = join(g.dir, 'terminals');
    const starts = events.filter((e) => e.type === 'step.started').map((e) => ({ ts: e.ts, stepId: e.type === 'step.started' ? e.stepId : '' }));
    // Where each step's output in a terminal starts (its commands' first byte there), in the order the steps started.
    const startedAt = new Map(starts.map((st) => [st.stepId, st.ts]));
    const outputStarts = (tid: string) => {
      const first = new Map<string, number>();
      // A read-back (get_session_output) wrote nothing: it stands where the recording was when it read.
      const at = (e: { name: string; range: [number, number] }) => (e.name === 'get_session_output' ? e.range[1] : e.range[0]);
      for (const e of events) if (e.type === 'action.result' && e.terminalId === tid && e.range) first.set(e.stepId, Math.min(first.get(e.stepId) ?? Infinity, at({ name: e.name, range: e.range })));
      return [...first].map(([stepId, offset]) => ({ stepId, offset, ts: startedAt.get(stepId)! })).sort((a, b) => a.ts - b.ts);
    };
    let placedByOutput = 0;
    for (const q of ['Traceback', 'PYTEST', 'val_loss', 'x', 'loss=2.3']) {
      const r = await s.search(q, { kinds: ['terminal'], limit: 10_000 });
      expect(r.truncated).toBe(false);
      for (const tid of (await readdir(tdir)).filter((f) => f.endsWith('.out')).map((f) => f.slice(0, -4))) {
        const got = r.results.filter((x) => x.terminalId === tid);
        expect(got.map((x) => x.offset).sort((a, b) => a! - b!)).toEqual(await bruteOffsets(join(tdir, `${tid}.out`), q));
        // The match's bytes, which a replay opened at the hit shows as written.
        expect(got.every((x) => x.length === Buffer.byteLength(q))).toBe(true);
        const timing = parseTiming(await readFile(join(tdir, `${tid}.timing.jsonl`), 'utf8'));
        for (const x of got.slice(0, 50)) {
          const e = [...timing].reverse().find((t) => t.offset <= x.offset!) ?? timing[0]!;
          expect(x.ts).toBe(e.ts);
          // The step whose command's output this is (the last to start whose output there began at or before
          // the hit), as the replay bar names it; by time only in a terminal no step ran a command in.
          const here = outputStarts(tid);
          const step = here.length ? here.filter((st) => st.offset <= x.offset!).at(-1) : [...starts].reverse().find((st) => st.ts <= x.ts);
          expect(x.stepId).toBe(step?.stepId ?? null);
          if (here.length) placedByOutput++;
        }
      }
    }
    expect(placedByOutput).toBeGreaterThan(0);
    // The index was kept beside the recordings.
    expect((await readdir(tdir)).filter((f) => f.endsWith('.search.idx')).length).toBeGreaterThan(0);
  });

  it('answers sessions.search through the contract, and refuses a bad query', async () => {
    const core = await ApolloCore.open({ home: join(root, 'home'), resourcesDir: join(__dirname, '..', '..', 'resources'), host: 'web' });
    try {
      const replies = new Map<number, { ok: boolean; result?: unknown; error?: { code: string } }>();
      const c = core.connect((m: HostMessage) => {
        if (m.kind === 'res') replies.set(m.id, m as never);
      });
      const call = async (id: number, args: unknown) => {
        await c.receive({ kind: 'req', id, cmd: 'sessions.search', args });
        for (let i = 0; i < 500 && !replies.has(id); i++) await new Promise((r) => setTimeout(r, 10));
        return replies.get(id)!;
      };
      const r = await call(1, { sessionId: g.id, query: 'Traceback', kinds: ['terminal'] });
      expect(r.ok).toBe(true);
      const res = r.result as SearchResponse;
      expect(res.results.length).toBe((await bruteOffsets(join(g.dir, 'terminals', 'train.out'), 'Traceback')).length + (await bruteOffsets(join(g.dir, 'terminals', 'main.out'), 'Traceback')).length);
      expect(res.results.every((x) => x.kind === 'terminal' && typeof x.offset === 'number')).toBe(true);
      expect((await call(2, { sessionId: g.id, query: '' })).error?.code).toBe('BAD_REQUEST');
      expect((await call(3, { sessionId: g.id, query: 'x', kinds: ['nope'] })).error?.code).toBe('BAD_REQUEST');
      c.close();
    } finally {
      await core.close();
    }
  });

  it('a terminal snippet shows the text around the match, without the controls before it', async () => {
    const dir = join(root, 'snippet');
    await mkdir(join(dir, 'terminals'), { recursive: true });
    // A shell-integration mark long enough that the bytes just before the match start inside it.
    const mark = `\x1b]133;E;awk -F, "NR>1" sales.cvs;apollo-nonce=${'4f'.repeat(40)}\x07\x1b]133;C\x07`;
    await writeFile(join(dir, 'terminals', 'main.out'), `$ awk sales.cvs\r\n${mark}awk: line 1: Syntax error at or near ]\r\n\x1b]133;D;2\x07$ `);
    const r = await new SessionSearch(dir, { events: [] }).search('syntax error', { kinds: ['terminal'] });
    expect(r.results.map((x) => x.snippet)).toEqual(['$ awk sales.cvs awk: line 1: Syntax error at or near ] $']);
    // Further in: the snippet is cut around the match, and says so.
    await writeFile(join(dir, 'terminals', 'main.out'), `${'x'.repeat(5000)}\r\n${mark}awk: line 1: Syntax error${'y'.repeat(5000)}`);
    const far = await new SessionSearch(dir, { events: [] }).search('syntax error', { kinds: ['terminal'] });
    expect(far.results.map((x) => x.snippet)).toEqual([`…${'x'.repeat(46)} awk: line 1: Syntax error${'y'.repeat(60)}…`]);
  });

  it('the terminal index finds matches across block boundaries, in output added later, and after the recording is rewritten', async () => {
    const dir = join(root, 'blocks');
    await mkdir(dir, { recursive: true });
    const filler = (n: number, seed: number): Buffer => {
      const b = Buffer.alloc(n);
      let a = seed;
      for (let i = 0; i < n; i++) {
        a = (a * 1103515245 + 12345) >>> 0;
        b[i] = 97 + ((a >>> 16) % 26);
      }
      return b;
    };
    const out = join(dir, 't.out');
    const parts = [filler(SEARCH_BLOCK - 4, 1), Buffer.from('NeedleX'), filler(SEARCH_BLOCK * 3, 2), Buffer.from('needlex'), filler(1000, 3)];
    await writeFile(out, Buffer.concat(parts));
    const idx = new TerminalSearchIndex(dir, 't');
    expect((await idx.search('needlex', 100)).hits.map((h) => h.offset)).toEqual(await bruteOffsets(out, 'needlex'));
    expect(await idx.coveredBytes()).toBe(4 * SEARCH_BLOCK);
    // Output after the index: scanned until there is enough to index.
    await appendFile(out, Buffer.concat([filler(5000, 4), Buffer.from('NEEDLEX tail')]));
    expect((await idx.search('needlex', 100)).hits.map((h) => h.offset)).toEqual(await bruteOffsets(out, 'needlex'));
    // Rewritten under the index (a rollback, a restored copy): detected, rebuilt, right.
    await writeFile(out, Buffer.concat([filler(SEARCH_BLOCK * 2, 9), Buffer.from('needlex'), filler(SEARCH_BLOCK * 3, 8)]));
    const fresh = new TerminalSearchIndex(dir, 't');
    expect((await fresh.search('needlex', 100)).hits.map((h) => h.offset)).toEqual(await bruteOffsets(out, 'needlex'));
    expect((await idx.search('needlex', 100)).hits.map((h) => h.offset)).toEqual(await bruteOffsets(out, 'needlex'));
    // A limit stops early and says there is more.
    const many = await fresh.search('a', 10);
    expect(many.hits.length).toBe(10);
    expect(many.more).toBe(true);
    expect((await stat(join(dir, 't.search.idx'))).size).toBe(64 + 5 * 4096);
  });

  it('an index whose sets came back zeroed (a power loss after the rename) is detected by its CRC and rebuilt, so no match is missed', async () => {
    const dir = join(root, 'zeroed');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 't.out'), Buffer.concat([Buffer.alloc(SEARCH_BLOCK * 3, 'abc'), Buffer.from('walrus'), Buffer.alloc(SEARCH_BLOCK, 'q')]));
    expect((await new TerminalSearchIndex(dir, 't').search('walrus', 10)).hits).toEqual([{ offset: SEARCH_BLOCK * 3 }]);
    const path = join(dir, 't.search.idx');
    const bytes = await readFile(path);
    bytes.fill(0, 64);
    await writeFile(path, bytes);
    // Zeroed sets say "no trigram here": trusted, the match in block 3 would be skipped.
    expect((await new TerminalSearchIndex(dir, 't').search('walrus', 10)).hits).toEqual([{ offset: SEARCH_BLOCK * 3 }]);
    expect((await readFile(path)).subarray(64).some((b) => b !== 0)).toBe(true);
  });

  it('builders of the same index at once (the CLI beside the host) each rename a whole private file into place', async () => {
    const dir = join(root, 'race');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 't.out'), Buffer.concat([Buffer.alloc(SEARCH_BLOCK * 6, 'abc'), Buffer.from('zebra'), Buffer.alloc(100, 'q')]));
    const found = await Promise.all(Array.from({ length: 4 }, () => new TerminalSearchIndex(dir, 't').search('zebra', 10)));
    for (const f of found) expect(f.hits).toEqual([{ offset: SEARCH_BLOCK * 6 }]);
    expect((await readdir(dir)).sort()).toEqual(['t.out', 't.search.idx']);
    const st = await stat(join(dir, 't.search.idx'));
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.size).toBe(64 + 6 * 4096);
    expect(await new TerminalSearchIndex(dir, 't').coveredBytes()).toBe(SEARCH_BLOCK * 6);
  });
});
