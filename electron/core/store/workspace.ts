import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { randomUUID, type Hash } from 'node:crypto';
import { Low } from 'lowdb';
import { ApolloError } from '../../../shared/errors';
import type { SessionEvent, SessionEventBody } from '../../../shared/events';
import type { LoadReport } from '../../../shared/types';
import { addToContent, EventLog, readEventLog, type ParsedLog } from './event-log';
import { mkdirPrivate, PRIVATE_DIR_MODE, PrivateJSONFile, tightenSession, tightenWorkspace } from './private-files';
import { recordingFile, TerminalRecording } from './terminal-recording';
import { seedSample, seededWorkDir } from './sample-seed';
import { APP_VERSION } from '../version';

export interface SessionIndexEntry {
  id: string;
  name: string;
  cwd: string;
  createdAt: number;
  updatedAt: number;
  /** Steps in its log (step.started events), so the list shows them without opening it (absent in older indexes: refreshed from the log at open). */
  steps?: number;
  /** When its last step started. */
  lastStepAt?: number;
}

export interface WorkspaceData {
  version: 1;
  sessions: Record<string, SessionIndexEntry>;
  settings: Record<string, unknown>;
}

const emptyData = (): WorkspaceData => ({ version: 1, sessions: {}, settings: {} });

/** A copy of the index that its writes may change without touching the live one (entries are replaced, never edited). */
const draftOf = (d: WorkspaceData): WorkspaceData => ({ ...d, sessions: { ...d.sessions }, settings: { ...d.settings } });

export interface WorkspaceOpenOptions {
  /**
   * Open for reading only (listing): nothing is created, repaired, tightened or
   * written, and no lock is needed. A missing folder is NOT_FOUND. What a writer
   * would repair (a lost index, sessions it does not list, the samples of a fresh
   * workspace) is shown in memory only.
   */
  readOnly?: boolean;
  /** Read-only opens of a workspace whose samples were never seeded list these sample sessions as they will be. */
  samplesDir?: string;
}

/** Settings are not facts of any session log, so a copy of them is kept beside the index to survive losing it. */
export const INDEX_BACKUP = 'workspace.json.bak';

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
  private readonly closedHooks = new Set<() => Promise<void>>();
  private closing: Promise<void> | null = null;
  /** Set once the close hooks have run: the log takes no more appends. */
  private logClosed = false;

  /** `log` null: read-only (a workspace opened for reading), the events as read; nothing can be appended. */
  constructor(
    readonly id: string,
    readonly dir: string,
    private readonly log: EventLog | null,
    events: SessionEvent[],
    readonly report: LoadReport,
    /** The log file as it was loaded (ParsedLog.loadedAs): what its first `events.length` events were read from. */
    readonly loadedAs: ParsedLog['loadedAs'] = undefined,
    /** ParsedLog.content of the log `events` were read from; carried on over every append. */
    private readonly content: Hash | null = null,
  ) {
    this.events = events;
  }

  /**
   * SHA-256 over the log lines of `events` other than export.made (ParsedLog.content),
   * as of now: what an export of a snapshot of `events` taken now may be keyed by. Null
   * when the events were not read from a log line by line.
   */
  get eventsDigest(): string | null {
    return this.content ? this.content.copy().digest('hex') : null;
  }

  /** True once close() was called (the session was deleted or the workspace closed). */
  get closed(): boolean {
    return this.closing !== null;
  }

  /** Append a fact; resolves once it is durable, then tells subscribers. */
  async append(body: SessionEventBody): Promise<SessionEvent> {
    if (!this.log) throw readOnlyError(this.dir);
    if (this.logClosed) throw this.closedError();
    const { durable, line } = this.log.append(body);
    await durable;
    // The event as the log holds it, as a reload reads it: not the object built to write it,
    // which shares what the caller passed (an array it changes later) and keeps what JSON
    // cannot say (NaN, undefined): memory and the log, and the digest of it, never differ.
    const event = JSON.parse(line) as SessionEvent;
    this.events.push(event);
    addToContent(this.content, event, line);
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

  /** Run `hook` once the log and the recordings are closed (nothing appends to them any more). Returns a function that unregisters it. */
  afterClose(hook: () => Promise<void>): () => void {
    this.closedHooks.add(hook);
    return () => this.closedHooks.delete(hook);
  }

  /** Opened for reading only: nothing is written in its folder. */
  get readOnly(): boolean {
    return this.log === null;
  }

  recording(terminalId: string): Promise<TerminalRecording> {
    // After a delete this would recreate the session folder the delete just removed.
    if (this.closing) return Promise.reject(this.closedError());
    // Opening a recording creates and repairs files.
    if (!this.log) return Promise.reject(readOnlyError(this.dir));
    let r = this.recordings.get(terminalId);
    if (!r) {
      // A full disk holds a live terminal's output back (its program paused) rather than dropping it.
      r = mkdirPrivate(join(this.dir, 'terminals')).then(() => TerminalRecording.open(join(this.dir, 'terminals'), terminalId, true, { holdOnFull: true }));
      // What opening found wrong with a recording or its timing index (a crash) is said in
      // the log, once: the next open finds it repaired.
      r = r.then((rec) => {
        const notes = [...rec.repairs];
        // Not a repair, but a file written beside the recording: said as the keyframes' first build is.
        if (rec.timingIndex.converted) notes.push(`Terminal ${terminalId} was recorded by an older version (its timing log without an index): converted to the timing index, once.`);
        for (const m of notes) void this.append({ type: 'warning', message: m }).catch(() => undefined);
        return rec;
      });
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
    return stat(recordingFile(this.dir, terminalId)).then(() => true, () => false);
  }

  get logBytes(): number {
    return this.log?.size ?? 0;
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
    await this.log?.close();
    for (const r of this.recordings.values()) await r.then((rec) => rec.close()).catch(() => undefined);
    for (const hook of [...this.closedHooks]) await hook().catch(() => undefined);
    this.closedHooks.clear();
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
  /** Read-only: the samples listed as they will be seeded, by id, and the folder they ship in. */
  private readonly previewed = new Map<string, string>();
  /** Index writes, one after the other: each writes the index as it is at its turn. */
  private writes: Promise<void> = Promise.resolve();
  private readonly backup: PrivateJSONFile<WorkspaceData>;
  /** The settings as last copied to the backup (JSON), to copy them only when they change. */
  private backedUp: string | null = null;

  private constructor(
    readonly home: string,
    private readonly db: Low<WorkspaceData>,
    readonly warnings: string[],
    readonly readOnly: boolean,
  ) {
    this.backup = new PrivateJSONFile<WorkspaceData>(join(home, INDEX_BACKUP));
  }

  static async open(home: string, opts: WorkspaceOpenOptions = {}): Promise<Workspace> {
    const readOnly = opts.readOnly ?? false;
    if (readOnly) {
      const st = await stat(home).catch(() => null);
      if (!st?.isDirectory()) {
        throw new ApolloError('NOT_FOUND', `There is no workspace at ${home} (the folder does not exist). Check --home or $APOLLO_HOME; \`apollo serve\` or \`apollo rollout\` creates a new workspace.`);
      }
    } else {
      await mkdirPrivate(join(home, 'sessions'));
      // Folders and files left readable by older versions become private before anything is read.
      await tightenWorkspace(home);
    }
    const file = join(home, 'workspace.json');
    const db = new Low<WorkspaceData>(new PrivateJSONFile<WorkspaceData>(file), emptyData());
    const warnings: string[] = [];
    let lost: string | null = null;
    let unreadable = false;
    try {
      await db.read();
      const d = db.data as Partial<WorkspaceData> | null;
      if (!d || d.version !== 1 || typeof d.sessions !== 'object' || d.sessions === null) throw new SyntaxError('unexpected shape');
      d.settings ??= {};
    } catch (err) {
      unreadable = true;
      if (readOnly) lost = `The workspace index is unreadable (${(err as Error).message}); listed from the session folders (the next command that writes repairs it).`;
      else {
        const aside = `${file}.corrupt-${Date.now()}`;
        await rename(file, aside).catch(() => {});
        lost = `The workspace index was unreadable (${(err as Error).message}); it was moved to ${aside} and rebuilt from the session folders.`;
      }
      db.data = emptyData();
    }
    const indexStat = await stat(file).catch(() => null);
    if (!lost && !indexStat) lost = readOnly ? '' : 'The workspace index (workspace.json) was missing; it was rebuilt from the session folders.';
    const ws = new Workspace(home, db, warnings, readOnly);
    if (lost !== null) await ws.rebuildIndex(lost, unreadable);
    else await ws.reconcile(indexStat!.mtimeMs);
    if (readOnly && opts.samplesDir && !ws.getSetting<boolean>('samplesSeeded')) await ws.previewSamples(opts.samplesDir);
    return ws;
  }

  private sessionsDir(): string {
    return join(this.home, 'sessions');
  }

  /**
   * Rebuild every index entry from the session folders. The settings (endpoint
   * profiles, annotator, checkpoint limits) are no session's facts: they come back
   * from the backup copy of the index when there is one, and the warning says what
   * could not be recovered. `why` opens the warning ('' for a fresh workspace: nothing to say).
   */
  async rebuildIndex(why = '', unreadable = false): Promise<void> {
    const sessions: Record<string, SessionIndexEntry> = {};
    const unnamed: string[] = [];
    const empty: string[] = [];
    for (const id of await this.sessionFolders()) {
      const entry = await this.entryFromLog(id);
      if (!entry) empty.push(id);
      else {
        sessions[id] = entry.entry;
        if (!entry.created) unnamed.push(id);
      }
    }
    this.db.data.sessions = sessions;
    const notes: string[] = [];
    const backup = await this.backup.read().catch(() => null);
    if (backup && typeof backup.settings === 'object' && backup.settings !== null) {
      this.db.data.settings = { ...backup.settings, ...this.db.data.settings };
      const profiles = Array.isArray(backup.settings.profiles) ? backup.settings.profiles.length : 0;
      notes.push(`settings restored from ${INDEX_BACKUP} (${profiles} endpoint profile${profiles === 1 ? '' : 's'}${typeof backup.settings.annotator === 'string' ? `, annotator ${backup.settings.annotator}` : ''})`);
      // Names given after the backup was written are in the logs; earlier ones in the backup too.
      for (const id of unnamed) {
        const b = Object.hasOwn(backup.sessions ?? {}, id) ? backup.sessions[id] : undefined;
        if (b && sessions[id]) sessions[id] = { ...sessions[id]!, name: b.name, cwd: b.cwd, createdAt: b.createdAt || sessions[id]!.createdAt };
      }
    } else if (why && Object.keys(sessions).length + empty.length > 0) {
      notes.push(`not recovered: the settings it held, if any (endpoint profiles, annotator name, checkpoint limits) — no backup copy (${INDEX_BACKUP}) was found; set them again in Settings`);
    }
    if (unnamed.length) notes.push(`${unnamed.length} session(s) whose log lost its first event are listed by id: ${unnamed.join(', ')}`);
    if (empty.length) notes.push(`${empty.length} session folder(s) with an empty log were left out: ${empty.join(', ')}`);
    // A fresh workspace has nothing to rebuild: no warning for it.
    const fresh = !unreadable && !backup && Object.keys(sessions).length + empty.length === 0;
    if (!fresh && (why || notes.length)) this.warnings.push(`${why}${notes.length ? ` ${notes.join('; ')}.` : ''}`.trim());
    if (!this.readOnly) await this.save();
  }

  /**
   * Add folders the index does not know (e.g. copied in), drop entries whose folder is
   * gone, and refresh entries whose log was written after the index (a crash, or an
   * index write that failed on a full disk after a durable rename).
   */
  private async reconcile(indexMtimeMs: number): Promise<void> {
    const folders = new Set(await this.sessionFolders());
    let changed = false;
    for (const id of Object.keys(this.db.data.sessions)) {
      if (!folders.has(id)) {
        delete this.db.data.sessions[id];
        changed = true;
      }
    }
    for (const id of folders) {
      const known = this.db.data.sessions[id];
      if (known) {
        const st = await stat(join(this.sessionsDir(), id, 'events.jsonl')).catch(() => null);
        // Equal counts as newer: file times are coarse (a clock tick), and a read too many costs little.
        // An entry of an older index has no step count: read it from the log once.
        if (!st || (st.mtimeMs < indexMtimeMs && known.steps !== undefined)) continue;
      }
      const entry = await this.entryFromLog(id);
      if (entry && (!known || JSON.stringify(entry.entry) !== JSON.stringify(known))) {
        const { updatedAt, steps, lastStepAt } = entry.entry;
        this.db.data.sessions[id] = entry.created || !known ? entry.entry : { ...known, updatedAt, steps, lastStepAt };
        changed = true;
      }
    }
    if (changed && !this.readOnly) await this.save();
  }

  private async sessionFolders(): Promise<string[]> {
    const out: string[] = [];
    // A read-only open of a workspace that never had a session has no sessions folder.
    for (const d of await readdir(this.sessionsDir(), { withFileTypes: true }).catch(() => [])) {
      if (d.isDirectory() && (await stat(join(this.sessionsDir(), d.name, 'events.jsonl')).then(() => true, () => false))) out.push(d.name);
    }
    return out;
  }

  /**
   * The index entry of a session from its log; `created` is false when the log has no
   * session.created (its first line was lost): the folder name stands in for its name.
   * Null for a log with no event at all (a folder left by a crash before its first write).
   */
  private async entryFromLog(id: string, dir = join(this.sessionsDir(), id)): Promise<{ entry: SessionIndexEntry; created: boolean } | null> {
    const path = join(dir, 'events.jsonl');
    // Line by line: a log larger than memory is never read whole.
    const input = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
    const opened = await new Promise<boolean>((resolve) => {
      input.once('open', () => resolve(true));
      input.once('error', () => resolve(false));
    });
    if (!opened) return null;
    const entry: SessionIndexEntry = { id, name: id, cwd: '', createdAt: 0, updatedAt: 0, steps: 0 };
    let created = false;
    let firstTs = 0;
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      // Only the few naming events and the steps matter; skip parsing the rest.
      if (line.includes('"step.started"')) {
        try {
          const ev = JSON.parse(line) as SessionEvent;
          if (ev.type === 'step.started') {
            entry.steps! += 1;
            entry.lastStepAt = Math.max(entry.lastStepAt ?? 0, ev.ts);
          }
        } catch {
          // corrupt line: the session loader reports it
        }
      }
      if (!line.includes('"session.')) {
        const ts = /"ts":(\d+)/.exec(line);
        if (ts) firstTs ||= Number(ts[1]);
        // An export records the fact in the log, but it is no activity of the session.
        if (line.includes('"export.made"')) continue;
        if (ts) entry.updatedAt = Math.max(entry.updatedAt, Number(ts[1]));
        continue;
      }
      try {
        const ev = JSON.parse(line) as SessionEvent;
        firstTs ||= ev.ts;
        entry.updatedAt = Math.max(entry.updatedAt, ev.ts);
        if (ev.type === 'session.created') {
          entry.name = ev.name;
          entry.cwd = ev.cwd;
          entry.createdAt = ev.ts;
          created = true;
        } else if (ev.type === 'session.renamed') entry.name = ev.name;
      } catch {
        // corrupt line: the session loader reports it
      }
    }
    if (!firstTs) return null;
    // Never "created in 1970": without its first event a session dates from its oldest one.
    if (!created) entry.createdAt = firstTs;
    entry.updatedAt ||= entry.createdAt;
    return { entry, created };
  }

  /**
   * Copy the sample sessions shipped with the app into a new workspace, once, so a
   * fresh install has something to open offline. Deleting them later is final.
   */
  async seedSamples(samplesDir: string): Promise<void> {
    if (this.readOnly) throw this.readOnlyError();
    if (this.getSetting<boolean>('samplesSeeded')) return;
    const samples = await readdir(samplesDir, { withFileTypes: true }).catch(() => []);
    const added: Record<string, SessionIndexEntry> = {};
    for (const d of samples) {
      const dest = join(this.sessionsDir(), d.name);
      if (!d.isDirectory() || (await stat(dest).then(() => true, () => false))) continue;
      // With its checkpoint store and a working directory of its own (see sample-seed.ts).
      this.warnings.push(...(await seedSample(join(samplesDir, d.name), dest)));
      // The copy takes the modes of the app's resources (0644).
      await tightenSession(dest);
      const entry = await this.entryFromLog(d.name);
      if (entry) added[d.name] = entry.entry;
    }
    await this.commit((d) => {
      Object.assign(d.sessions, added);
      d.settings.samplesSeeded = true;
    });
  }

  /** What seedSamples would add, in memory only (a read-only listing of a fresh workspace). */
  private async previewSamples(samplesDir: string): Promise<void> {
    for (const d of await readdir(samplesDir, { withFileTypes: true }).catch(() => [])) {
      if (!d.isDirectory() || Object.hasOwn(this.db.data.sessions, d.name)) continue;
      const entry = await this.entryFromLog(d.name, join(samplesDir, d.name));
      const cwd = await seededWorkDir(join(samplesDir, d.name), join(this.sessionsDir(), d.name));
      if (entry) this.db.data.sessions[d.name] = cwd ? { ...entry.entry, cwd } : entry.entry;
      if (entry) this.previewed.set(d.name, join(samplesDir, d.name));
    }
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

  /** `environment`: where the session works (a whole environment profile, no secrets); absent: this machine. */
  async create(opts: { name?: string; cwd?: string; id?: string; environment?: { kind: string; name: string } & Record<string, unknown> }): Promise<SessionLog> {
    if (this.readOnly) throw this.readOnlyError();
    const id = opts.id ?? `${new Date().toISOString().slice(0, 10)}-${randomUUID().slice(0, 8)}`;
    const dir = join(this.sessionsDir(), id);
    await mkdir(dir, { recursive: false, mode: PRIVATE_DIR_MODE }).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'EEXIST' ? new ApolloError('CONFLICT', `Session ${id} already exists`) : diskError(e, 'create the session');
    });
    const cwd = opts.cwd ?? homedir();
    const name = opts.name?.trim() || `Session ${new Date().toLocaleString('sv').slice(0, 16)}`;
    let log: SessionLog | null = null;
    let ev: SessionEvent;
    try {
      log = await this.load(id);
      ev = await log.append({ type: 'session.created', name, cwd, appVersion: APP_VERSION, ...(opts.environment ? { environment: opts.environment } : {}) });
    } catch (err) {
      // The session exists once its first event is durable; before that, a folder
      // left behind would come back at the next open as a nameless session.
      this.open.delete(id);
      await log?.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw diskError(err, 'create the session');
    }
    this.db.data.sessions[id] = { id, name, cwd, createdAt: ev.ts, updatedAt: ev.ts, steps: 0 };
    // The log holds the session: an index that cannot be written now is repaired from it at the next open.
    await this.save().catch(() => undefined);
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
      this.db.data.sessions[id] = entry.entry;
      out.push(entry.entry);
    }
    await this.save();
    return out;
  }

  async session(id: string): Promise<SessionLog> {
    this.entry(id);
    return this.load(id);
  }

  /** Whether the session's log is loaded (or loading) in this process. */
  isLoaded(id: string): boolean {
    return this.open.has(id);
  }

  /** The session's folder. */
  sessionDir(id: string): string {
    return this.previewed.get(id) ?? join(this.sessionsDir(), id);
  }

  private load(id: string): Promise<SessionLog> {
    let s = this.open.get(id);
    if (!s && this.readOnly) {
      // Opening a log for appends creates and repairs files: read it as it is (what a
      // writer would repair is only reported). A sample not seeded yet is read where it ships.
      const dir = this.previewed.get(id) ?? join(this.sessionsDir(), id);
      s = readEventLog(join(dir, 'events.jsonl')).then(({ events, report, content }) => new SessionLog(id, dir, null, events, report, undefined, content));
      s.catch(() => this.open.delete(id));
      this.open.set(id, s);
    }
    if (!s) {
      const dir = join(this.sessionsDir(), id);
      s = EventLog.open(join(dir, 'events.jsonl')).then(({ log, events, report, loadedAs, content }) => {
        const sl = new SessionLog(id, dir, log, events, report, loadedAs, content);
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
    // Counted as they are appended, so the list has them without reading any log.
    if (ev.type === 'step.started') {
      e.steps = (e.steps ?? 0) + 1;
      e.lastStepAt = ev.ts;
    }
    if (ev.type === 'session.renamed') {
      e.name = ev.name;
      // The log holds the fact; a failed index write (disk full) is repaired at the
      // next write or open, and must not become an unhandled rejection.
      if (!this.readOnly) this.save().catch(() => undefined);
    }
  }

  /**
   * Rename a session: done once the session.renamed event is durable (the index
   * follows from the log; see touch). A full disk before that is DISK_FULL and
   * nothing changed; after it, the rename stands whatever happens to the index.
   */
  async rename(id: string, name: string): Promise<void> {
    const s = await this.session(id);
    await s.append({ type: 'session.renamed', name });
  }

  async remove(id: string): Promise<void> {
    if (this.readOnly) throw this.readOnlyError();
    this.entry(id);
    // Out of the index first, so that nothing can open the session again while it is
    // being closed and its folder removed (a log reopened then would write into a
    // deleted file, and its recordings would recreate the folder).
    delete this.db.data.sessions[id];
    const s = this.open.get(id);
    this.open.delete(id);
    if (s) await s.then((log) => log.close()).catch(() => {});
    // The folder is the fact (removing frees space, so it works on a full disk); an
    // index still naming it is corrected at the next open, which finds no folder.
    await rm(join(this.sessionsDir(), id), { recursive: true, force: true });
    await this.save().catch(() => undefined);
  }

  getSetting<T>(key: string): T | undefined {
    return this.db.data.settings[key] as T | undefined;
  }

  async setSetting(key: string, value: unknown): Promise<void> {
    await this.setSettings({ [key]: value });
  }

  /**
   * Set several settings in one write. They are applied only once the index holding
   * them is on disk: until then readers see the old values, and when the write fails
   * (DISK_FULL) none of them is applied, so no later write can persist them either.
   */
  async setSettings(values: Record<string, unknown>): Promise<void> {
    await this.commit((d) => Object.assign(d.settings, values));
  }

  /**
   * Write the index with `change` made, then make the change in memory: the live index
   * only ever holds what is on disk (or, for the cached session entries, what the
   * logs hold). Writes run one at a time, each on the index as it is at its turn.
   */
  private commit(change: (d: WorkspaceData) => void): Promise<void> {
    if (this.readOnly) return Promise.reject(this.readOnlyError());
    const run = this.writes.then(async () => {
      const draft = draftOf(this.db.data);
      change(draft);
      await this.writeIndex(draft);
      change(this.db.data);
    });
    this.writes = run.catch(() => undefined);
    return run;
  }

  /** Write the index as it is now (after changes to the cached session entries). */
  private save(): Promise<void> {
    if (this.readOnly) return Promise.reject(this.readOnlyError());
    const run = this.writes.then(() => this.writeIndex(this.db.data));
    this.writes = run.catch(() => undefined);
    return run;
  }

  private async writeIndex(data: WorkspaceData): Promise<void> {
    await this.db.adapter.write(data).catch((e: unknown) => {
      throw diskError(e, 'save the workspace index');
    });
    // The settings are copied beside the index when they change: they are the part
    // of it that cannot be rebuilt from the session logs.
    const settings = JSON.stringify(data.settings);
    if (settings !== this.backedUp) {
      await this.backup.write(data).then(() => (this.backedUp = settings), () => undefined);
    }
  }

  async close(): Promise<void> {
    for (const s of this.open.values()) await s.then((log) => log.close()).catch(() => {});
    this.open.clear();
    if (!this.readOnly) await this.save().catch(() => {});
  }

  private readOnlyError(): ApolloError {
    return readOnlyError(this.home);
  }
}

function readOnlyError(where: string): ApolloError {
  return new ApolloError('UNAVAILABLE', `${where} is open read-only here.`);
}

/** A file system error as the contract's error: ENOSPC is DISK_FULL, saying what was not done. */
function diskError(err: unknown, doing: string): unknown {
  if (err instanceof ApolloError) return err;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new ApolloError('DISK_FULL', `Disk full: could not ${doing}; nothing was changed. Free some space and retry.`);
  return err;
}
