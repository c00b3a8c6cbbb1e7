import { cp, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Low } from 'lowdb';
import { ApolloError } from '../../../shared/errors';
import type { SessionEvent, SessionEventBody } from '../../../shared/events';
import type { LoadReport } from '../../../shared/types';
import { EventLog } from './event-log';
import { mkdirPrivate, PRIVATE_DIR_MODE, PrivateJSONFile, tightenSession, tightenWorkspace } from './private-files';
import { TerminalRecording } from './terminal-recording';
import { APP_VERSION } from '../version';

export interface SessionIndexEntry {
  id: string;
  name: string;
  cwd: string;
  createdAt: number;
  updatedAt: number;
}

export interface WorkspaceData {
  version: 1;
  sessions: Record<string, SessionIndexEntry>;
  settings: Record<string, unknown>;
}

const emptyData = (): WorkspaceData => ({ version: 1, sessions: {}, settings: {} });

/** Where the workspace lives: --home, else APOLLO_HOME, else the OS app-data folder. */
export function resolveHome(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return flag;
  if (env.APOLLO_HOME) return env.APOLLO_HOME;
  const h = homedir();
  if (process.platform === 'darwin') return join(h, 'Library', 'Application Support', 'Apollo Workstation');
  if (process.platform === 'win32') return join(env.APPDATA ?? join(h, 'AppData', 'Roaming'), 'Apollo Workstation');
  return join(env.XDG_DATA_HOME ?? join(h, '.local', 'share'), 'apollo-workstation');
}

type Listener = (event: SessionEvent) => void;

/** One session on disk: its event log and terminal recordings. */
export class SessionLog {
  readonly events: SessionEvent[];
  private readonly listeners = new Set<Listener>();
  private readonly recordings = new Map<string, Promise<TerminalRecording>>();
  private readonly closeHooks = new Set<() => Promise<void>>();
  private closing: Promise<void> | null = null;
  /** Set once the close hooks have run: the log takes no more appends. */
  private logClosed = false;

  constructor(
    readonly id: string,
    readonly dir: string,
    private readonly log: EventLog,
    events: SessionEvent[],
    readonly report: LoadReport,
  ) {
    this.events = events;
  }

  /** True once close() was called (the session was deleted or the workspace closed). */
  get closed(): boolean {
    return this.closing !== null;
  }

  /** Append a fact; resolves once it is durable, then tells subscribers. */
  async append(body: SessionEventBody): Promise<SessionEvent> {
    if (this.logClosed) throw this.closedError();
    const { event, durable } = this.log.append(body);
    await durable;
    this.events.push(event);
    for (const l of this.listeners) l(event);
    return event;
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /**
   * Run `hook` when the session closes, before its log and recordings are (e.g. to
   * end the terminals that write into them). Returns a function that unregisters it.
   */
  onClose(hook: () => Promise<void>): () => void {
    this.closeHooks.add(hook);
    return () => this.closeHooks.delete(hook);
  }

  recording(terminalId: string): Promise<TerminalRecording> {
    // After a delete this would recreate the session folder the delete just removed.
    if (this.closing) return Promise.reject(this.closedError());
    let r = this.recordings.get(terminalId);
    if (!r) {
      r = mkdirPrivate(join(this.dir, 'terminals')).then(() => TerminalRecording.open(join(this.dir, 'terminals'), terminalId));
      // A failure to open (too many open files...) must not stick for the life of the session.
      r.catch(() => {
        if (this.recordings.get(terminalId) === r) this.recordings.delete(terminalId);
      });
      this.recordings.set(terminalId, r);
    }
    return r;
  }

  async hasRecording(terminalId: string): Promise<boolean> {
    if (this.recordings.has(terminalId)) return true;
    return stat(join(this.dir, 'terminals', `${terminalId}.out`)).then(() => true, () => false);
  }

  get logBytes(): number {
    return this.log.size;
  }

  /** Run the close hooks (their last events are still recorded), then commit and close everything. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shut();
    return this.closing;
  }

  private async shut(): Promise<void> {
    await Promise.resolve(); // `closed` is true from here on, also inside the hooks
    for (const hook of [...this.closeHooks]) await hook().catch(() => undefined);
    this.closeHooks.clear();
    this.logClosed = true;
    // Appends accepted before this point are committed by the log's close.
    await this.log.close();
    for (const r of this.recordings.values()) await r.then((rec) => rec.close()).catch(() => undefined);
  }

  private closedError(): ApolloError {
    return new ApolloError('UNAVAILABLE', `Session ${this.id} is closed (it was deleted, or the app is shutting down): nothing more can be recorded in it.`);
  }
}

/**
 * The workspace folder: a small lowdb index (sessions, settings) beside one folder
 * per session. The index is a cache of facts that live in the session logs, so a
 * missing or corrupt index is rebuilt from them.
 */
export class Workspace {
  private readonly open = new Map<string, Promise<SessionLog>>();

  private constructor(
    readonly home: string,
    private readonly db: Low<WorkspaceData>,
    readonly warnings: string[],
  ) {}

  static async open(home: string): Promise<Workspace> {
    await mkdirPrivate(join(home, 'sessions'));
    // Folders and files left readable by older versions become private before anything is read.
    await tightenWorkspace(home);
    const file = join(home, 'workspace.json');
    const db = new Low<WorkspaceData>(new PrivateJSONFile<WorkspaceData>(file), emptyData());
    const warnings: string[] = [];
    let needsRebuild = false;
    try {
      await db.read();
      const d = db.data as Partial<WorkspaceData> | null;
      if (!d || d.version !== 1 || typeof d.sessions !== 'object' || d.sessions === null) throw new SyntaxError('unexpected shape');
      d.settings ??= {};
    } catch (err) {
      const aside = `${file}.corrupt-${Date.now()}`;
      await rename(file, aside).catch(() => {});
      warnings.push(`The workspace index was unreadable (${(err as Error).message}); it was moved to ${aside} and rebuilt from the session folders.`);
      db.data = emptyData();
      needsRebuild = true;
    }
    if (!(await stat(file).then(() => true, () => false))) needsRebuild = true;
    const ws = new Workspace(home, db, warnings);
    if (needsRebuild) await ws.rebuildIndex();
    else await ws.reconcile();
    return ws;
  }

  private sessionsDir(): string {
    return join(this.home, 'sessions');
  }

  /** Rebuild every index entry from the session folders. */
  async rebuildIndex(): Promise<void> {
    const sessions: Record<string, SessionIndexEntry> = {};
    for (const id of await this.sessionFolders()) {
      const entry = await this.entryFromLog(id);
      if (entry) sessions[id] = entry;
    }
    this.db.data.sessions = sessions;
    await this.db.write();
  }

  /** Add folders the index does not know (e.g. copied in) and drop entries whose folder is gone. */
  private async reconcile(): Promise<void> {
    const folders = new Set(await this.sessionFolders());
    let changed = false;
    for (const id of Object.keys(this.db.data.sessions)) {
      if (!folders.has(id)) {
        delete this.db.data.sessions[id];
        changed = true;
      }
    }
    for (const id of folders) {
      if (this.db.data.sessions[id]) continue;
      const entry = await this.entryFromLog(id);
      if (entry) {
        this.db.data.sessions[id] = entry;
        changed = true;
      }
    }
    if (changed) await this.db.write();
  }

  private async sessionFolders(): Promise<string[]> {
    const out: string[] = [];
    for (const d of await readdir(this.sessionsDir(), { withFileTypes: true })) {
      if (d.isDirectory() && (await stat(join(this.sessionsDir(), d.name, 'events.jsonl')).then(() => true, () => false))) out.push(d.name);
    }
    return out;
  }

  private async entryFromLog(id: string): Promise<SessionIndexEntry | null> {
    const path = join(this.sessionsDir(), id, 'events.jsonl');
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch {
      return null;
    }
    const entry: SessionIndexEntry = { id, name: id, cwd: '', createdAt: 0, updatedAt: 0 };
    for (const line of text.split('\n')) {
      // Only the few naming events matter; skip parsing the rest.
      if (!line.includes('"session.')) {
        // An export records the fact in the log, but it is no activity of the session.
        if (line.includes('"export.made"')) continue;
        const ts = /"ts":(\d+)/.exec(line);
        if (ts) entry.updatedAt = Math.max(entry.updatedAt, Number(ts[1]));
        continue;
      }
      try {
        const ev = JSON.parse(line) as SessionEvent;
        entry.updatedAt = Math.max(entry.updatedAt, ev.ts);
        if (ev.type === 'session.created') {
          entry.name = ev.name;
          entry.cwd = ev.cwd;
          entry.createdAt = ev.ts;
        } else if (ev.type === 'session.renamed') entry.name = ev.name;
      } catch {
        // corrupt line: the session loader reports it
      }
    }
    return entry;
  }

  /**
   * Copy the sample sessions shipped with the app into a new workspace, once, so a
   * fresh install has something to open offline. Deleting them later is final.
   */
  async seedSamples(samplesDir: string): Promise<void> {
    if (this.getSetting<boolean>('samplesSeeded')) return;
    const samples = await readdir(samplesDir, { withFileTypes: true }).catch(() => []);
    for (const d of samples) {
      const dest = join(this.sessionsDir(), d.name);
      if (!d.isDirectory() || (await stat(dest).then(() => true, () => false))) continue;
      await cp(join(samplesDir, d.name), dest, { recursive: true });
      // The copy takes the modes of the app's resources (0644).
      await tightenSession(dest);
      const entry = await this.entryFromLog(d.name);
      if (entry) this.db.data.sessions[d.name] = entry;
    }
    await this.setSetting('samplesSeeded', true);
  }

  list(): SessionIndexEntry[] {
    return Object.values(this.db.data.sessions).sort((a, b) => b.updatedAt - a.updatedAt);
  }

  entry(id: string): SessionIndexEntry {
    // Own keys only: "constructor" or "__proto__" are not sessions.
    const e = Object.hasOwn(this.db.data.sessions, id) ? this.db.data.sessions[id] : undefined;
    if (!e) throw new ApolloError('NOT_FOUND', `No session ${id}`);
    return e;
  }

  async create(opts: { name?: string; cwd?: string; id?: string }): Promise<SessionLog> {
    const id = opts.id ?? `${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`;
    const dir = join(this.sessionsDir(), id);
    await mkdir(dir, { recursive: false, mode: PRIVATE_DIR_MODE }).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'EEXIST' ? new ApolloError('CONFLICT', `Session ${id} already exists`) : e;
    });
    const cwd = opts.cwd ?? homedir();
    const name = opts.name?.trim() || `Session ${new Date().toLocaleString('sv').slice(0, 16)}`;
    const session = this.load(id);
    const log = await session;
    const ev = await log.append({ type: 'session.created', name, cwd, appVersion: APP_VERSION });
    this.db.data.sessions[id] = { id, name, cwd, createdAt: ev.ts, updatedAt: ev.ts };
    await this.db.write();
    return log;
  }

  /**
   * Index session folders that were written complete elsewhere and renamed into
   * sessions/ (an import stages its sessions so they appear whole or not at all).
   */
  async adopt(ids: readonly string[]): Promise<SessionIndexEntry[]> {
    const out: SessionIndexEntry[] = [];
    for (const id of ids) {
      const entry = await this.entryFromLog(id);
      if (!entry) throw new ApolloError('NOT_FOUND', `Session folder ${id} has no readable events.jsonl`);
      this.db.data.sessions[id] = entry;
      out.push(entry);
    }
    await this.db.write();
    return out;
  }

  async session(id: string): Promise<SessionLog> {
    this.entry(id);
    return this.load(id);
  }

  private load(id: string): Promise<SessionLog> {
    let s = this.open.get(id);
    if (!s) {
      const dir = join(this.sessionsDir(), id);
      s = EventLog.open(join(dir, 'events.jsonl')).then(({ log, events, report }) => {
        const sl = new SessionLog(id, dir, log, events, report);
        sl.subscribe((ev) => this.touch(id, ev));
        return sl;
      });
      s.catch(() => this.open.delete(id));
      this.open.set(id, s);
    }
    return s;
  }

  private touch(id: string, ev: SessionEvent): void {
    const e = this.db.data.sessions[id];
    if (!e) return;
    // The session list sorts and ages sessions by their last activity: exporting a
    // bundle records export.made in every exported session, and must not make them all "now".
    if (ev.type !== 'export.made') e.updatedAt = ev.ts;
    if (ev.type === 'session.renamed') {
      e.name = ev.name;
      // The log holds the fact; a failed index write (disk full) is repaired at the
      // next write or open, and must not become an unhandled rejection.
      this.db.write().catch(() => undefined);
    }
  }

  async rename(id: string, name: string): Promise<void> {
    const s = await this.session(id);
    await s.append({ type: 'session.renamed', name });
    await this.db.write();
  }

  async remove(id: string): Promise<void> {
    this.entry(id);
    // Out of the index first, so that nothing can open the session again while it is
    // being closed and its folder removed (a log reopened then would write into a
    // deleted file, and its recordings would recreate the folder).
    delete this.db.data.sessions[id];
    const s = this.open.get(id);
    this.open.delete(id);
    if (s) await s.then((log) => log.close()).catch(() => {});
    await this.db.write();
    await rm(join(this.sessionsDir(), id), { recursive: true, force: true });
  }

  getSetting<T>(key: string): T | undefined {
    return this.db.data.settings[key] as T | undefined;
  }

  async setSetting(key: string, value: unknown): Promise<void> {
    this.db.data.settings[key] = value;
    await this.db.write();
  }

  /** Set several settings in one write; when the write fails, none of them is applied. */
  async setSettings(values: Record<string, unknown>): Promise<void> {
    const before = { ...this.db.data.settings };
    Object.assign(this.db.data.settings, values);
    try {
      await this.db.write();
    } catch (err) {
      this.db.data.settings = before;
      throw err;
    }
  }

  async close(): Promise<void> {
    for (const s of this.open.values()) await s.then((log) => log.close()).catch(() => {});
    this.open.clear();
    await this.db.write().catch(() => {});
  }
}
