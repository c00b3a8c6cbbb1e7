// Sessions: the list mirrored from the host, and which one is open in the main area.
import type { LoadReport, SessionInfo } from '../../../shared/types';
import type { Transport } from '../../../shared/transport';
import type { ArgsOf } from '../../../shared/contract/index';
import type { SessionEvent } from '../../../shared/events';
import type { Slice } from './types';
import { mergeBySeq } from '../../../shared/compact-events';
import { describeError, type Outcome } from '../lib/errors';

export interface NewSessionInput {
  name: string;
  cwd: string;
  /** Command line for the first terminal; empty = login shell. Already parsed. */
  command?: { command: string; args: string[] };
  /** An environment profile to work in (absent or "local": this machine); `cwd` is then a folder there. */
  environment?: string;
}

export interface SessionsSlice {
  /** Newest first. */
  sessions: SessionInfo[];
  sessionsLoaded: boolean;
  openSessionId: string | null;
  /** Session being opened (request in flight). */
  openingSessionId: string | null;
  /** What the host reported when it loaded each opened session's log. */
  loadReports: Record<string, LoadReport>;

  bootstrap(): Promise<void>;
  /**
   * A session list from `sessions.list` / `sessions.changed`. It may be index-only (only
   * live terminals, steps 0), so it never removes terminals or lowers step counts we
   * learnt from a full view (sessions.open/create/rename, terminal.changed).
   */
  applySessionList(list: SessionInfo[]): void;
  /** A full view of one session (result of sessions.open/create/rename): authoritative. */
  upsertSession(s: SessionInfo): void;
  /** The step count (and when the last step started) of a session, as the open trajectory knows it. */
  setSessionSteps(sessionId: string, steps: number, lastStepAt?: number): void;
  /** New events of a session that is not open here: its step count and last-step time follow them. */
  countSessionSteps(sessionId: string, events: readonly SessionEvent[]): void;
  createSession(input: NewSessionInput): Promise<Outcome<SessionInfo>>;
  renameSession(sessionId: string, name: string): Promise<boolean>;
  deleteSession(sessionId: string): Promise<boolean>;
  openSession(sessionId: string): Promise<void>;
  closeSession(): void;
}

/** The first terminal every new session gets. */
export const DEFAULT_TERMINAL = 'main';

function sortSessions(list: SessionInfo[]): SessionInfo[] {
  return [...list].sort((a, b) => b.createdAt - a.createdAt || a.id.localeCompare(b.id));
}

export const createSessionsSlice =
  (transport: Transport): Slice<SessionsSlice> =>
  (set, get) => ({
    sessions: [],
    sessionsLoaded: false,
    openSessionId: null,
    openingSessionId: null,
    loadReports: {},

    bootstrap: async () => {
      try {
        const [info, list] = await Promise.all([transport.request('app.info', {}), transport.request('sessions.list', {})]);
        set({ appInfo: info, connection: { state: 'ready' } });
        void get().loadSettings();
        get().applySessionList(list);
        set({ sessionsLoaded: true });
      } catch (err) {
        const c = get().connection;
        if (c.state === 'failed' || c.state === 'lost') return; // the close handler already said why
        set({ connection: { state: 'failed', reason: err instanceof Error ? err.message : String(err) } });
      }
    },

    applySessionList: (list) => {
      const known = new Map(get().sessions.map((s) => [s.id, s]));
      const merged = list.map((s) => {
        const prev = known.get(s.id);
        return prev && prev.steps > s.steps ? { ...s, steps: prev.steps, lastStepAt: Math.max(prev.lastStepAt ?? 0, s.lastStepAt ?? 0) || undefined } : s;
      });
      set({ sessions: sortSessions(merged) });
      for (const s of list) get().mergeTerminals(s.id, s.terminals);
      const ids = new Set(list.map((s) => s.id));
      for (const id of Object.keys(get().terminals)) if (!ids.has(id)) get().forgetTerminals(id);
      const open = get().openSessionId;
      if (open && !ids.has(open)) get().closeSession();
    },

    upsertSession: (s) => {
      const others = get().sessions.filter((x) => x.id !== s.id);
      set({ sessions: sortSessions([...others, s]) });
      get().replaceTerminals(s.id, s.terminals);
    },

    setSessionSteps: (sessionId, steps, lastStepAt) => {
      const cur = get().sessions.find((s) => s.id === sessionId);
      if (!cur || (cur.steps === steps && cur.lastStepAt === (lastStepAt ?? cur.lastStepAt))) return;
      set({ sessions: get().sessions.map((s) => (s.id === sessionId ? { ...s, steps, lastStepAt: lastStepAt ?? s.lastStepAt } : s)) });
    },

    countSessionSteps: (sessionId, events) => {
      let n = 0;
      let last = 0;
      for (const e of events) {
        if (e.type !== 'step.started') continue;
        n++;
        last = Math.max(last, e.ts);
      }
      const cur = get().sessions.find((s) => s.id === sessionId);
      if (n && cur) get().setSessionSteps(sessionId, cur.steps + n, Math.max(cur.lastStepAt ?? 0, last));
    },

    createSession: async (input) => {
      const args: ArgsOf<'sessions.create'> = {
        terminals: [{ id: DEFAULT_TERMINAL, ...(input.command ?? {}) }],
      };
      if (input.name.trim()) args.name = input.name.trim();
      if (input.cwd.trim()) args.cwd = input.cwd.trim();
      if (input.environment && input.environment !== 'local') args.environment = input.environment;
      try {
        const s = await transport.request('sessions.create', args);
        // A failure of an earlier attempt is stale now (its toast stayed for a minute over the Send button).
        get().resolveToasts('Could not create the session');
        get().upsertSession(s);
        void get().openSession(s.id);
        return { ok: true, value: s };
      } catch (err) {
        get().reportError('Could not create the session', err);
        return { ok: false, error: describeError(err) };
      }
    },

    renameSession: async (sessionId, name) => {
      try {
        const s = await transport.request('sessions.rename', { sessionId, name });
        get().resolveToasts('Could not rename the session');
        get().upsertSession(s);
        return true;
      } catch (err) {
        get().reportError('Could not rename the session', err);
        return false;
      }
    },

    deleteSession: async (sessionId) => {
      try {
        await transport.request('sessions.delete', { sessionId });
        if (get().openSessionId === sessionId) get().closeSession();
        set({ sessions: get().sessions.filter((s) => s.id !== sessionId) });
        get().forgetTerminals(sessionId);
        return true;
      } catch (err) {
        get().reportError('Could not delete the session', err);
        return false;
      }
    },

    openSession: async (sessionId) => {
      if (get().openSessionId === sessionId || get().openingSessionId === sessionId) return;
      set({ openingSessionId: sessionId });
      get().beginTrajectoryLoad(sessionId);
      try {
        const res = await transport.request('sessions.open', { sessionId, paged: true });
        // Read by the bench (electron/bench/open-page.ts) to split the open into its parts.
        performance.mark('apollo:open:reply');
        if (get().openingSessionId !== sessionId) {
          // Superseded by another click while loading.
          if (get().openSessionId !== sessionId) get().dropTrajectory(sessionId);
          return;
        }
        const previous = get().openSessionId;
        get().resolveToasts('Could not open the session');
        get().upsertSession(res.session);
        // The tree and the newest steps' details now; the others by page after the first frame.
        // (The tail comes grouped by step: in seq order it merges with the tree in one pass.)
        const tail = res.tail ? [...res.tail].sort((a, b) => a.seq - b.seq) : null;
        get().loadTrajectory(sessionId, tail ? mergeBySeq(res.events, tail) : res.events, res.version, res.pages);
        get().noteEndpointEvents(sessionId, res.events);
        performance.mark('apollo:open:folded');
        set({
          openSessionId: sessionId,
          openingSessionId: null,
          loadReports: { ...get().loadReports, [sessionId]: res.report },
        });
        if (previous && previous !== sessionId) get().dropTrajectory(previous);
        const r = res.report;
        if (r.tornTail || r.corruptLines.length > 0) {
          const parts: string[] = [];
          if (r.tornTail) parts.push('an incomplete last record (interrupted write) was dropped');
          if (r.corruptLines.length) parts.push(`${r.corruptLines.length} unreadable line(s) were skipped (${r.corruptLines.slice(0, 5).join(', ')}${r.corruptLines.length > 5 ? ', …' : ''})`);
          get().pushToast({ level: 'warning', title: `Session “${res.session.name}” opened with repairs`, message: parts.join('; ') + '.' });
        }
      } catch (err) {
        if (get().openingSessionId === sessionId) set({ openingSessionId: null });
        if (get().openSessionId !== sessionId) get().dropTrajectory(sessionId);
        get().reportError('Could not open the session', err);
      }
    },

    closeSession: () => {
      const id = get().openSessionId;
      set({ openSessionId: null, openingSessionId: null });
      if (id) get().dropTrajectory(id);
    },
  });
