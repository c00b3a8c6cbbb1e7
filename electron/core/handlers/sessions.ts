import { homedir } from 'node:os';
import { stat } from 'node:fs/promises';
import { ApolloError } from '../../../shared/errors';
import type { TerminalReplay } from '../../../shared/types';
import type { ApolloCore } from '../app';
import type { HandlerMap } from '../dispatch';
import { APP_VERSION } from '../version';
import { sessionSearch } from '../search/session-search';
import { EnvProfiles } from '../env/profiles';
import { testEnvironment } from '../env/probe';
import { LOCAL } from '../env/local';
import { compactLog, trajectoryOf, trajectoryVersion } from '../session-trajectory';
import { readOpenView, viewEvents, viewOpening, viewPage, writeOpenViewSoon, type OpenView } from '../open-view';
import { pagedOpen, pageOf, splitForPages, type PageSplit } from '../open-pages';
import { jsonText } from '../json-text';
import { replaySource } from './recordings';
import type { CompactEvent } from '../../../shared/compact-events';

/** Replaying more than this into a terminal costs the UI more than it helps. */
const DEFAULT_REPLAY_BYTES = 2 * 1024 * 1024;

/**
 * What the last paged opens answered from, for their pages (sessions.page): a view of a
 * few MB, or a loaded log's split; per session, the newest two sessions kept.
 */
class Recent<V> {
  private readonly values = new Map<string, V>();
  keep(sessionId: string, value: V): void {
    this.values.delete(sessionId);
    this.values.set(sessionId, value);
    for (const id of this.values.keys()) if (this.values.size > 2) this.values.delete(id);
  }
  get(sessionId: string): V | undefined {
    return this.values.get(sessionId);
  }
}

export function sessionHandlers(core: ApolloCore): HandlerMap {
  const keptViews = new Recent<OpenView>();
  // A loaded log's split at the version a paged open answered with: its pages come a few at a time.
  const splits = new Recent<{ version: number; split: PageSplit }>();
  return {
    'app.info': () => {
      const { kind, notice } = core.profiles.vault;
      return { version: APP_VERSION, host: core.opts.host, home: core.ws.home, platform: process.platform, keyStore: notice ? { kind, notice } : { kind } };
    },

    'sessions.list': () => core.listSessions(),

    'sessions.create': async (args) => {
      const spec = args.environment && args.environment !== 'local' ? new EnvProfiles(core.ws).get(args.environment) : null;
      let cwd: string;
      if (spec) {
        // Reached and checked there before anything is created.
        const where = args.cwd || spec.workdir;
        if (!where) throw new ApolloError('BAD_REQUEST', `Environment ${spec.name} has no working folder: give one (a folder there).`);
        const t = await testEnvironment(spec, where);
        if (t.error) throw new ApolloError('UNAVAILABLE', t.error);
        cwd = t.workdir!;
      } else {
        cwd = args.cwd || homedir();
        const st = await stat(cwd).catch(() => null);
        if (!st?.isDirectory()) throw new ApolloError('BAD_REQUEST', `Working directory does not exist: ${cwd}`);
      }
      const s = await core.ws.create({ name: args.name, cwd, ...(spec ? { environment: spec } : {}) });
      core.notifySessionsChanged();
      await core.session(s.id);
      for (const spec of args.terminals ?? [{ id: 'main' }]) {
        // A terminal that fails to start is recorded and reported; the session stays.
        await core.pty.create(s, spec).catch(() => {});
      }
      return core.sessionInfo(s.id);
    },

    'sessions.rename': async ({ sessionId, name }) => {
      await core.ws.rename(sessionId, name);
      core.notifySessionsChanged();
      return core.sessionInfo(sessionId);
    },

    'sessions.delete': async ({ sessionId }) => {
      await core.deleteSession(sessionId);
      return { deleted: true as const };
    },

    'sessions.search': async ({ sessionId, query, limit, kinds }) => {
      const s = await core.session(sessionId);
      return sessionSearch(s).search(query, { limit, kinds });
    },

    'sessions.open': async ({ sessionId, paged }) => {
      core.ws.entry(sessionId);
      // A session not loaded here yet answers from the view kept when it last closed, if it
      // still describes the log. The log loads when the page next asks for something that
      // needs it (its terminal): not at once, as decoding it would hold the event loop while
      // this reply is still being written to the socket (a 1.6 MB reply then took ~400 ms).
      const loaded = core.ws.isLoaded(sessionId);
      const kept = loaded ? null : await readOpenView(core.ws.sessionDir(sessionId), { dropDamaged: !core.ws.readOnly });
      if (kept && !core.ws.isLoaded(sessionId)) {
        const { report, version } = kept;
        const session = core.sessionInfoOf(sessionId, kept.facts);
        if (!paged) return { session, events: viewEvents(kept), report, version };
        keptViews.keep(sessionId, kept);
        // Sent as read: the tree and the pages it sends are slices of the bytes the view hashed.
        const { tail, pages } = viewOpening(kept);
        return { session, events: jsonText<CompactEvent[]>(kept.tree), report, version, tail: jsonText<CompactEvent[]>(tail), pages };
      }
      const s = await core.session(sessionId);
      if (!loaded && !s.readOnly) writeOpenViewSoon(s);
      const session = await core.sessionInfo(sessionId);
      const { events, version } = compactLog(s);
      // A copy: the owner's array grows with the log, the answer must not.
      if (!paged) return { session, events: events.slice(), report: s.report, version };
      const { events: tree, tail, pages } = pagedOpen(events, trajectoryOf(s));
      return { session, events: tree, report: s.report, version, tail, pages };
    },

    'sessions.page': async ({ sessionId, version, from, to }) => {
      core.ws.entry(sessionId);
      // The view a paged open answered from still holds that version's pages, loaded log or not (it only grows).
      const kept = keptViews.get(sessionId);
      const bytes = kept?.version === version ? viewPage(kept, from, to) : null;
      if (bytes) return { version, events: jsonText<CompactEvent[]>(bytes) };
      const s = await core.session(sessionId);
      const { events, version: now } = compactLog(s);
      if (version > now) throw new ApolloError('BAD_REQUEST', `Session ${sessionId} has no version ${version} (it is at ${now}).`);
      let cut = splits.get(sessionId);
      if (cut?.version !== version) splits.keep(sessionId, (cut = { version, split: splitForPages(events, version) }));
      return { version, events: pageOf(cut.split, from, to) };
    },

    'sessions.stepDetail': async ({ sessionId, stepIds }) => {
      const s = await core.session(sessionId);
      const t = trajectoryOf(s);
      const steps = [];
      for (const stepId of new Set(stepIds)) {
        const step = t.steps.get(stepId);
        if (step) steps.push({ stepId, results: step.results, ...(step.response ? { reasoning: step.response.reasoning } : {}) });
      }
      return { version: trajectoryVersion(s), steps };
    },

    'terminal.create': async ({ sessionId, environment, ...spec }) => {
      const s = await core.session(sessionId);
      const t = await core.pty.create(s, environment === 'local' ? { ...spec, environment: LOCAL } : spec);
      core.notifySessionsChanged();
      return t.info();
    },

    'terminal.input': ({ sessionId, terminalId, data }) => {
      const term = core.requireLive(sessionId, terminalId);
      core.control.checkInput(sessionId, terminalId);
      term.write(data, 'human');
      return { ok: true as const };
    },

    'terminal.resize': ({ sessionId, terminalId, cols, rows }) => {
      if (core.pty.has(sessionId, terminalId)) core.pty.get(sessionId, terminalId).resize(cols, rows);
      return { ok: true as const };
    },

    'terminal.attach': async ({ sessionId, terminalId, maxBytes, since }, conn) => {
      const rec = await replaySource(core, sessionId, terminalId);
      // Live data starts exactly where the replay ends.
      const end = core.pty.has(sessionId, terminalId) ? core.attach(conn, sessionId, terminalId) : rec.size;
      const start = Math.max(0, end - (maxBytes ?? DEFAULT_REPLAY_BYTES), Math.min(since ?? 0, end));
      return readReplay(sessionId, terminalId, rec, start, end);
    },

    'terminal.detach': ({ sessionId, terminalId }, conn) => {
      core.detach(conn, sessionId, terminalId);
      return { ok: true as const };
    },

    'terminal.ack': ({ sessionId, terminalId, bytes }, conn) => {
      core.ack(conn, sessionId, terminalId, bytes);
      return { ok: true as const };
    },

    'terminal.kill': async ({ sessionId, terminalId }) => {
      await core.requireLive(sessionId, terminalId).kill();
      return { ok: true as const };
    },

    'terminal.read': async ({ sessionId, terminalId, start, end }) => {
      const rec = await replaySource(core, sessionId, terminalId);
      const to = Math.min(end ?? rec.size, rec.size, start + 16 * 1024 * 1024);
      return readReplay(sessionId, terminalId, rec, start, to);
    },
  };
}

async function readReplay(
  sessionId: string,
  terminalId: string,
  rec: { read(start: number, end: number): Promise<Buffer> },
  start: number,
  end: number,
): Promise<TerminalReplay> {
  const buf = await rec.read(start, end);
  // Never start in the middle of a UTF-8 sequence.
  let skip = 0;
  while (start > 0 && skip < buf.length && skip < 4 && (buf[skip]! & 0xc0) === 0x80) skip++;
  // Never end in the middle of one either: drop an incomplete trailing sequence.
  let cut = buf.length;
  for (let i = buf.length - 1; i >= Math.max(skip, buf.length - 4); i--) {
    const b = buf[i]!;
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    if (buf.length - i < need) cut = i;
    break;
  }
  return {
    sessionId,
    terminalId,
    start: start + skip,
    end: start + cut,
    data: buf.toString('utf8', skip, cut),
    truncated: start + skip > 0,
  };
}
