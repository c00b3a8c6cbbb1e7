// The open reply kept beside the log (issue 10, paged open): a session closes, and the
// next core answers sessions.open from open-view.json without loading the log; the reply
// is exactly what reading the log gives; the log loads when something needs it; and a
// view that no longer describes its log (the log grew or was edited, the view damaged
// or from another version) is never used.
import { appendFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SessionOpenView } from '../../shared/contract/sessions';
import type { SessionEvent } from '../../shared/events';
import { ApolloCore } from '../../electron/core/app';
import { OPEN_VIEW_FILE, readOpenView, viewEvents, writeOpenView } from '../../electron/core/open-view';
import { compactLog } from '../../electron/core/session-trajectory';
import { openClient } from '../fixtures/core-client';
import { startTestHost } from '../fixtures/web-host';
import WebSocket from 'ws';
import type { HostMessage } from '../../shared/contract/index';
import { realisticSession } from '../fixtures/sessions';
import { mergeBySeq } from '../../shared/compact-events';

const ID = 'view-session';
let home: string;
let dir: string;

async function openCore(): Promise<ApolloCore> {
  return ApolloCore.open({ home, resourcesDir: resolve(__dirname, '../../resources'), host: 'web', samples: false });
}

/** sessions.open on a fresh core, and whether it answered before loading the log. */
async function openFresh(): Promise<{ core: ApolloCore; view: SessionOpenView; fromView: boolean; call: ReturnType<typeof openClient>['call']; pushes: SessionEvent[] }> {
  const core = await openCore();
  const pushes: SessionEvent[] = [];
  const { call } = openClient(core, (m) => {
    if (m.name === 'session.event') pushes.push((m.payload as { event: SessionEvent }).event);
  });
  const view = await call('sessions.open', { sessionId: ID });
  return { core, view, fromView: !core.ws.isLoaded(ID), call, pushes };
}

/** What the log itself gives: the session loaded and compacted, as sessions.open did before the view. */
async function fromLog(core: ApolloCore): Promise<Pick<SessionOpenView, 'events' | 'version' | 'report'>> {
  const s = await core.session(ID);
  const { events, version } = compactLog(s);
  return { events: [...events], version, report: s.report };
}

const same = (a: unknown, b: unknown) => expect(JSON.stringify(a)).toBe(JSON.stringify(b));

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'apollo-open-view-'));
  dir = join(home, 'sessions', ID);
  await mkdir(dir, { recursive: true });
  // A long observation and reasoning (cut in the compact form) and a corrupt line in the middle.
  const { events } = realisticSession({ plant: { output: 'x'.repeat(3000), reasoning: 'y'.repeat(2000) } });
  const lines = events.map((e) => `${JSON.stringify(e)}\n`);
  lines.splice(5, 0, '{"seq": "not an event"\n');
  await writeFile(join(dir, 'events.jsonl'), lines.join(''));
});

afterEach(async () => {
  await rm(home, { recursive: true, force: true });
});

describe('the open view kept beside the log', () => {
  it('is written when the session closes, private, and answers the next open exactly as the log would', async () => {
    const first = await openFresh();
    expect(first.fromView).toBe(false);
    expect(first.view.report.corruptLines).toEqual([6]);
    await first.core.close();
    expect((await stat(join(dir, OPEN_VIEW_FILE))).mode & 0o777).toBe(0o600);

    const next = await openFresh();
    expect(next.fromView).toBe(true);
    same(next.view, first.view);
    // The elided markers survive (a preview is never mistaken for the whole text).
    expect(next.view.events.some((e) => (e as { elided?: { observation?: number } }).elided?.observation)).toBe(true);
    same({ events: next.view.events, version: next.view.version, report: next.view.report }, await fromLog(next.core));
    await next.core.close();
  });

  it('is kept soon after a first open that read the log, so a process killed rather than closed leaves one', async () => {
    const first = await openFresh();
    expect(first.fromView).toBe(false);
    const end = Date.now() + 10_000;
    let kept = await readOpenView(dir);
    while (!kept && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 25));
      kept = await readOpenView(dir);
    }
    expect(kept).not.toBeNull();
    same(viewEvents(kept!), first.view.events);
    const written = (await stat(join(dir, OPEN_VIEW_FILE))).mtimeMs;
    await first.core.close();
    // Still current at the close: not written again.
    expect((await stat(join(dir, OPEN_VIEW_FILE))).mtimeMs).toBe(written);
    const next = await openFresh();
    expect(next.fromView).toBe(true);
    await next.core.close();
  });

  it('loads the log when something needs it, and what is recorded after the reply reaches the page', async () => {
    await (await openFresh()).core.close();
    const { core, view, fromView, call, pushes } = await openFresh();
    expect(fromView).toBe(true);
    const stepId = view.events.find((e) => e.type === 'step.started')!.stepId;
    await call('labels.set', { sessionId: ID, stepIds: [stepId], label: 'keep' });
    expect(core.ws.isLoaded(ID)).toBe(true);
    expect(pushes.map((e) => e.type)).toEqual(['label.set']);
    expect(pushes[0]!.seq).toBe(view.version + 1);
    await core.close();

    // The log grew: the view is written again at the close, with the label in it.
    const again = await openFresh();
    expect(again.fromView).toBe(true);
    expect(again.view.version).toBe(view.version + 1);
    same(again.view.events.at(-1), pushes[0]);
    same({ events: again.view.events, version: again.view.version, report: again.view.report }, await fromLog(again.core));
    await again.core.close();
  });

  it('grows at the close by what was appended since the load, byte for byte the view a whole write gives', async () => {
    await (await openFresh()).core.close();
    const path = join(dir, OPEN_VIEW_FILE);
    const grow = async (damage?: (text: string) => string): Promise<string> => {
      const { core, view, fromView, call } = await openFresh();
      expect(fromView).toBe(true);
      const stepIds = view.events.filter((e) => e.type === 'step.started').map((e) => (e as { stepId: string }).stepId);
      await call('labels.set', { sessionId: ID, stepIds: [stepIds[0]!], label: 'mask' });
      await call('comment.add', { sessionId: ID, stepId: stepIds.at(-1)!, text: 'a comment recorded after the load' });
      if (damage) await writeFile(path, damage(await readFile(path, 'utf8')));
      // What the close will do, done first (the close then finds it describing the log).
      expect(await writeOpenView(await core.session(ID))).toBe(damage ? 'whole' : 'grown');
      await core.close();
      return readFile(path, 'utf8');
    };
    const extended = await grow();
    // The same log, its view written whole (none kept: the open reads the log, the close writes it all).
    await rm(path);
    const whole = await openFresh();
    expect(whole.fromView).toBe(false);
    await whole.core.close();
    expect(extended).toBe(await readFile(path, 'utf8'));
    const again = await openFresh();
    expect(again.fromView).toBe(true);
    same({ events: again.view.events, version: again.view.version, report: again.view.report }, await fromLog(again.core));
    expect(again.view.events.at(-1)).toMatchObject({ type: 'comment.added', text: 'a comment recorded after the load' });
    await again.core.close();

    // A view changed on disk after the load is not grown from: the close writes it whole.
    const afterDamage = await grow((t) => `${t.slice(0, t.lastIndexOf('alice'))}alicf${t.slice(t.lastIndexOf('alice') + 5)}`);
    await rm(path);
    await (await openFresh()).core.close();
    expect(afterDamage).toBe(await readFile(path, 'utf8'));
  });

  it('is not used once the log changed without it: appended by hand, edited, or cut', async () => {
    await (await openFresh()).core.close();
    const log = join(dir, 'events.jsonl');
    const text = await readFile(log, 'utf8');
    const lastSeq = (JSON.parse(text.trimEnd().split('\n').at(-1)!) as SessionEvent).seq;
    await appendFile(log, `${JSON.stringify({ seq: lastSeq + 1, ts: Date.now(), type: 'warning', message: 'appended elsewhere' })}\n`);
    const grown = await openFresh();
    expect(grown.fromView).toBe(false);
    expect(grown.view.events.at(-1)).toMatchObject({ type: 'warning', message: 'appended elsewhere' });
    await grown.core.close();

    // Same size, another last line (its hash differs).
    const now = await readFile(log, 'utf8');
    await writeFile(log, now.replace('appended elsewhere', 'APPENDED ELSEWHERE'));
    const edited = await openFresh();
    expect(edited.fromView).toBe(false);
    expect(edited.view.events.at(-1)).toMatchObject({ message: 'APPENDED ELSEWHERE' });
    await edited.core.close();

    // Cut back to what it was before the append.
    await writeFile(log, text);
    const cut = await openFresh();
    expect(cut.fromView).toBe(false);
    expect(cut.view.version).toBe(lastSeq);
    await cut.core.close();
  });

  it('is not used when damaged or made by another version, and is written again', async () => {
    await (await openFresh()).core.close();
    const path = join(dir, OPEN_VIEW_FILE);
    const good = await readFile(path, 'utf8');
    const nl = good.indexOf('\n');
    const header = JSON.parse(good.slice(0, nl)) as Record<string, unknown>;
    const cases: Array<[string, string]> = [
      ['cut short', good.slice(0, good.length - 10)],
      ['garbage', 'not json at all'],
      ['another schema', `${JSON.stringify({ ...header, schema: 'another build' })}${good.slice(nl)}`],
      ['another compact form', `${JSON.stringify({ ...header, compact: -1 })}${good.slice(nl)}`],
      ['another count', `${JSON.stringify({ ...header, events: (header.events as number) - 1 })}${good.slice(nl)}`],
      // Still valid JSON of the same length, but not the text that was written: the page would show it.
      ['a changed byte', `${good.slice(0, good.lastIndexOf('alice'))}alicf${good.slice(good.lastIndexOf('alice') + 5)}`],
    ];
    for (const [what, text] of cases) {
      await writeFile(path, text);
      const o = await openFresh();
      expect(o.fromView, what).toBe(false);
      same({ events: o.view.events, version: o.view.version, report: o.view.report }, await fromLog(o.core));
      await o.core.close();
      // The close wrote a good one again.
      expect(await readFile(path, 'utf8'), what).toBe(good);
    }
  });

  it('reaches the page through the web host, its events spliced in unparsed, as the same reply', async () => {
    const events = (await readFile(join(dir, 'events.jsonl'), 'utf8'));
    const t = await startTestHost('apollo-open-view-web-', {
      seed: async (ws) => {
        await mkdir(join(ws, 'sessions', ID), { recursive: true });
        await writeFile(join(ws, 'sessions', ID, 'events.jsonl'), events);
        const c = await ApolloCore.open({ home: ws, resourcesDir: resolve(__dirname, '../../resources'), host: 'web', samples: false });
        await c.session(ID);
        await c.close();
      },
    });
    try {
      const sock = new WebSocket(`ws://127.0.0.1:${t.host.port}/ws?token=${t.host.token}`);
      await new Promise((r, j) => (sock.once('open', r), sock.once('error', j)));
      const frame = new Promise<{ text: string; binary: boolean }>((r) => sock.on('message', (d, binary) => {
        const text = d.toString();
        if ((JSON.parse(text) as HostMessage).kind === 'res') r({ text, binary });
      }));
      sock.send(JSON.stringify({ kind: 'req', id: 1, cmd: 'sessions.open', args: { sessionId: ID, paged: true } }));
      const got = await frame;
      sock.close();
      expect(got.binary).toBe(false);
      expect(t.core.ws.isLoaded(ID)).toBe(false);
      const viaSocket = (JSON.parse(got.text) as { result: SessionOpenView }).result;
      const inProcess = await openClient(t.core).call('sessions.open', { sessionId: ID, paged: true });
      expect(viaSocket).toEqual(inProcess);
      const s = await t.core.session(ID);
      same(mergeBySeq(viaSocket.events, viaSocket.tail!), compactLog(s).events);
    } finally {
      await t.close();
    }
  });

  it('is not written into a deleted session', async () => {
    const { core, call } = await openFresh();
    await call('sessions.delete', { sessionId: ID });
    await core.close();
    await expect(stat(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
