import { z } from 'zod';
import { command } from './define';
import type { AppInfo, LoadReport, SessionInfo, TerminalInfo, TerminalReplay } from '../types';
import type { CompactEvent } from '../compact-events';
import type { StepResult } from '../trajectory';

const id = z.string().min(1).max(200);
export const terminalName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - (1-64)');
export const SEARCH_KINDS = ['action', 'observation', 'guidance', 'comment', 'summary', 'terminal'] as const;

const terminalSpec = z.object({
  id: terminalName,
  command: z.string().max(4096).optional(),
  args: z.array(z.string().max(4096)).max(256).optional(),
  cwd: z.string().max(4096).optional(),
});

export const sessionCommands = {
  'app.info': command<AppInfo>()(z.object({})),
  'sessions.list': command<SessionInfo[]>()(z.object({})),
  'sessions.create': command<SessionInfo>()(
    z.object({
      name: z.string().max(200).optional(),
      cwd: z.string().max(4096).optional(),
      terminals: z.array(terminalSpec).max(32).optional(),
      /** An environment profile to work in (absent or "local": this machine); `cwd` is then a folder there (default its workdir). */
      environment: z.string().min(1).max(64).optional(),
    }),
  ),
  'sessions.rename': command<SessionInfo>()(z.object({ sessionId: id, name: z.string().min(1).max(200) })),
  'sessions.delete': command<{ deleted: true }>()(z.object({ sessionId: id })),
  /**
   * The session's log in its compact form (shared/compact-events.ts: long observations
   * cut, request bodies left out, each cut marked `elided`) and the version it is at
   * (the seq of its last event; later pushes carry theirs).
   */
  /**
   * `paged`: the reply holds the session's tree (every event but what its steps said and
   * got: model.response, action.result) with the details of its newest steps (`tail`);
   * `pages` says which steps' details to fetch with sessions.page.
   */
  'sessions.open': command<SessionOpenView>()(z.object({ sessionId: id, paged: z.boolean().optional() })),
  /**
   * The details (model.response, action.result, compact) of the steps [from, to) in the
   * order steps started, as the log held them at `version` (a paged open's), grouped by
   * step (each step's in seq order).
   */
  'sessions.page': command<SessionPage>()(
    z.object({ sessionId: id, version: z.number().int().min(0), from: z.number().int().min(0), to: z.number().int().min(0) }).refine((a) => a.to >= a.from, 'to must not be before from'),
  ),
  /** The full tool results and reasoning of some steps (what the compact view cut), by step id; unknown ids are left out. */
  'sessions.stepDetail': command<StepDetailResponse>()(
    z.object({ sessionId: id, stepIds: z.array(id).min(1).max(500) }),
  ),
  'terminal.create': command<TerminalInfo>()(
    // environment "local": a shell on this machine in a session that works elsewhere (notes beside the remote job).
    z.object({ sessionId: id, environment: z.literal('local').optional() }).extend(terminalSpec.shape),
  ),
  'terminal.input': command<{ ok: true }>()(
    z.object({ sessionId: id, terminalId: terminalName, data: z.string().max(1_000_000) }),
  ),
  'terminal.resize': command<{ ok: true }>()(
    z.object({
      sessionId: id,
      terminalId: terminalName,
      cols: z.number().int().min(2).max(1000),
      rows: z.number().int().min(1).max(1000),
    }),
  ),
  /**
   * Start receiving `terminal.data` for a terminal (while it is on screen); returns the
   * recent history to paint first: at most `maxBytes`, and nothing before `since` (a
   * screen that already shows the output up to there, catching up after being hidden).
   */
  'terminal.attach': command<TerminalReplay>()(
    z.object({
      sessionId: id,
      terminalId: terminalName,
      maxBytes: z.number().int().min(0).max(64 * 1024 * 1024).optional(),
      since: z.number().int().min(0).optional(),
    }),
  ),
  'terminal.detach': command<{ ok: true }>()(z.object({ sessionId: id, terminalId: terminalName })),
  /** Flow control: the renderer has processed `bytes` more bytes of this terminal's data. */
  'terminal.ack': command<{ ok: true }>()(
    z.object({ sessionId: id, terminalId: terminalName, bytes: z.number().int().min(0) }),
  ),
  'terminal.kill': command<{ ok: true }>()(z.object({ sessionId: id, terminalId: terminalName })),
  'terminal.read': command<TerminalReplay>()(
    z.object({
      sessionId: id,
      terminalId: terminalName,
      start: z.number().int().min(0),
      end: z.number().int().min(0).optional(),
    }),
  ),
  /**
   * Search the session: actions, observations, guidance, comments, summaries and terminal
   * output, case-insensitively, for one string; results in the order things happened.
   */
  'sessions.search': command<SearchResponse>()(
    z.object({
      sessionId: id,
      query: z.string().min(1).max(1000),
      limit: z.number().int().min(1).max(10_000).optional(),
      kinds: z.array(z.enum(SEARCH_KINDS)).max(SEARCH_KINDS.length).optional(),
    }),
  ),
};

export interface SessionOpenView {
  session: SessionInfo;
  /** A paged open's: every event but the steps' details (seq order); else all of them. */
  events: CompactEvent[];
  report: LoadReport;
  /** The seq of the last event the view holds (0: an empty log). */
  version: number;
  /**
   * A paged open's: the details of every step outside `pages.left` (the newest steps, and
   * those of the branch it opens on), grouped by step.
   */
  tail?: CompactEvent[];
  /** A paged open's: which steps' details sessions.page gives. */
  pages?: PageRanges;
}

/**
 * The ranges of steps [from, to) (in the order they started) whose details are left to
 * fetch, and the page size they are cut in: a range of whole pages is served from the
 * view kept beside the log as read, any other from the log.
 */
export interface PageRanges {
  size: number;
  left: Array<[number, number]>;
}

export interface SessionPage {
  version: number;
  events: CompactEvent[];
}

export interface StepDetailResponse {
  /** The version the details were read at. */
  version: number;
  /** `reasoning`: the model's whole reasoning, for a step it answered. */
  steps: { stepId: string; results: StepResult[]; reasoning?: string }[];
}

/** Where a search result is. */
export type SearchKind = (typeof SEARCH_KINDS)[number];

export interface SearchResult {
  kind: SearchKind;
  /** The step to jump to (for terminal output: the step running when it was written); null: none yet. */
  stepId: string | null;
  /** When it was recorded (ms epoch). */
  ts: number;
  /** Text around the match (whitespace folded; terminal controls removed). */
  snippet: string;
  /** Character offset of the match in its text (log results). */
  at?: number;
  /** Terminal results: the recording, the byte offset of the match in it and its length in bytes. */
  terminalId?: string;
  offset?: number;
  length?: number;
}

export interface SearchResponse {
  results: SearchResult[];
  /** More matches than `limit` exist. */
  truncated: boolean;
  ms: number;
}

export interface SessionPushEvents {
  /** Live terminal output. `offset` is the recording offset of the first byte. */
  'terminal.data': { sessionId: string; terminalId: string; data: string; offset: number; bytes: number };
  'terminal.changed': { sessionId: string; terminal: TerminalInfo };
  'sessions.changed': { sessions: SessionInfo[] };
  /** A new fact was appended to a session's log, in its compact form; `version` is the log's version with it (its seq). */
  'session.event': { sessionId: string; event: CompactEvent; version: number };
  /** Something the user should know that is not an answer to a request. */
  notice: { level: 'info' | 'warning' | 'error'; message: string; sessionId?: string };
}
