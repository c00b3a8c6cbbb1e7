// The run functions of the agent's tools (declared in shared/tools.ts), against the
// live terminals of a session (a `session_id` is a named terminal) and the files
// under the session's working directory, in the session's environment (the local
// machine, an SSH host, a container: env/types.ts): file tools read and write there,
// never on this machine's disk on behalf of a remote one.
//
// Observations are JSON objects like ResearchGym's (success, message,
// observation_type, output…), with long text capped head + tail; the full output
// stays in the terminal recording (`range`). A call the model got wrong (unknown
// tool, bad JSON, missing or mistyped argument) yields an observation starting with
// INVALID_TOOL_CALL so the model can correct itself and the label rules can find it.
import type { EnvRecord, ToolCall } from '../../../shared/events';
import {
  INVALID_TOOL_CALL, TOOL_NAMES, TOOLS, parseToolCall, toolParameters, toolSignature, validateToolArgs,
  type ToolArgs, type ToolName, type ValidToolCall,
} from '../../../shared/tools';
import type { TerminalInfo, TerminalSpec } from '../../../shared/types';
import type { LiveTerminal } from '../pty/types';
import type { SessionLog } from '../store/workspace';
import type { ToolSchema } from './llm';
import { environmentFor } from '../env/registry';
import { LOCAL } from '../env/local';
import { CONNECTION_LOST, type Environment } from '../env/types';
import { ApolloError, errorText } from '../../../shared/errors';
import { headAndTail } from '../dataset/secret-cut';
import type { SecretSpec } from '../dataset/key-fingerprint';

export { INVALID_TOOL_CALL, TOOL_NAMES, TOOLS, describeToolsForText, parseToolCall, type ParsedCall, type ToolName } from '../../../shared/tools';

/** How long run_command waits for a terminal that is not idle before calling it busy. */
const BUSY_GRACE_MS = 2_000;

/** What the tools need of the PTY host (the real PtyHost satisfies it). */
export interface TerminalHost {
  create(session: SessionLog, spec: TerminalSpec & { environment?: Environment }): Promise<LiveTerminal>;
  /** May throw (NOT_FOUND) or return undefined when there is no such terminal. */
  get(sessionId: string, terminalId: string): LiveTerminal | undefined;
  list(sessionId: string): LiveTerminal[];
  /** Kill a terminal and forget it (records terminal.closed); else LiveTerminal.kill() is used. */
  close?(session: SessionLog, terminalId: string): Promise<void>;
}

/** OpenAI `tools` for the chat request, derived from the declarations. */
export const TOOL_SCHEMAS: ToolSchema[] = TOOL_NAMES.map((name) => ({
  type: 'function',
  function: { name, description: TOOLS[name].description, parameters: toolParameters(name) },
}));

/** The observation of a call that validated but makes no sense here (range, name, time). */
function invalidHere(name: ToolName, reason: string): ToolOutcome {
  return { observation: `${INVALID_TOOL_CALL}: ${reason}. Usage: ${toolSignature(name)}.`, isError: true };
}

/**
 * Text-action mode (models without tool calling): the last fenced block of the reply.
 * ```json {"name": ..., "arguments": {...}} ``` is a tool call; ```bash ...``` runs
 * the block in the "main" session.
 */
export function parseTextAction(content: string, index = 0): ToolCall[] {
  const blocks = [...content.matchAll(/```([A-Za-z]*)[^\n]*\n([\s\S]*?)```/g)];
  const last = blocks[blocks.length - 1];
  if (!last) return [];
  const lang = (last[1] ?? '').toLowerCase();
  const body = (last[2] ?? '').replace(/\n$/, '');
  const id = `text_${index}`;
  if (lang === 'json' || (!lang && body.trim().startsWith('{'))) {
    try {
      const obj = JSON.parse(body) as { name?: unknown; tool?: unknown; arguments?: unknown; args?: unknown };
      const name = typeof obj.name === 'string' ? obj.name : typeof obj.tool === 'string' ? obj.tool : '';
      const a = obj.arguments ?? obj.args ?? {};
      return [{ id, name, arguments: typeof a === 'string' ? a : JSON.stringify(a) }];
    } catch {
      return [{ id, name: '', arguments: body }];
    }
  }
  if (['bash', 'sh', 'shell', 'console', 'zsh', ''].includes(lang)) {
    return [{ id, name: 'run_command', arguments: JSON.stringify({ session_id: 'main', command: body, wait_for_completion: true } satisfies ToolArgs<'run_command'>) }];
  }
  return [];
}

export interface ToolOptions {
  /** Characters of output kept in an observation (head + tail), default 8,000. */
  outputCap: number;
  /** How long run_command waits before reporting a command as still running (default 5 min). */
  commandTimeoutMs: number;
  /** Longest sleep the agent may ask for (default 1 h). */
  maxSleepMs: number;
  /** How long input_in_session / kill_session_processes wait for a reaction (default 1.5 s). */
  settleMs: number;
}

export const DEFAULT_TOOL_OPTIONS: ToolOptions = { outputCap: 8_000, commandTimeoutMs: 300_000, maxSleepMs: 3_600_000, settleMs: 1_500 };

export interface ToolContext {
  session: SessionLog;
  pty: TerminalHost;
  /** Working directory: relative paths and new terminals start here. */
  cwd: string;
  options: ToolOptions;
  /** Cuts sleeps and waits short (pause/stop). */
  signal?: AbortSignal;
  /** session_id → real terminal id (replay maps recorded names onto fresh terminals). */
  aliases?: Map<string, string>;
  /** Where files are read and written and new terminals start (default: the session's environment). */
  env?: Environment;
  /** Exact values no cut of an observation may fall in (the endpoint's key): see capText. */
  secrets?: readonly SecretSpec[];
}

export interface ToolOutcome {
  observation: string;
  isError: boolean;
  terminalId?: string;
  range?: [number, number];
  /** Set by `finish`. */
  finish?: { message: string };
  /** The environment the action ran in (absent: this machine). */
  env?: EnvRecord;
  /** The environment's connection dropped during the action: why (the rollout pauses until it is back). */
  lost?: string;
}

/**
 * Keep the head and tail of long text, with a note of what was left out; never cut
 * through a secret (`secrets`: the endpoint's keys, besides the patterns): see secret-cut.ts.
 */
export function capText(s: string, cap: number, where = 'the full output is in the terminal recording', secrets: readonly SecretSpec[] = []): string {
  const head = Math.floor(cap * 0.3);
  return headAndTail(s, head, cap - head, (n) => `\n[... ${n} characters omitted; ${where} ...]\n`, secrets);
}

const obs = (o: Record<string, unknown>): string => JSON.stringify(o);

function isoNow(): string {
  return new Date().toISOString();
}

const TERMINAL_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

function sleepFor(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((res) => {
    if (signal?.aborted) return res(false);
    const onAbort = () => {
      clearTimeout(t);
      res(false);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res(true);
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function envOf(ctx: ToolContext): Environment {
  return ctx.env ?? environmentFor(ctx.session);
}

function resolvePath(ctx: ToolContext, p: string): Promise<string> {
  return envOf(ctx).resolvePath(ctx.cwd, p);
}

/** What a missing path throws locally, for the same message everywhere. */
function noSuchPath(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: no such file or directory, '${path}'`), { code: 'ENOENT', path });
}

function numbered(lines: string[], from: number): string {
  return lines.map((l, i) => `${from + i}|${l}`).join('\n');
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Parse since_timestamp: ISO text, or epoch seconds (or ms). */
function parseSince(v: string): number | null {
  const n = Number(v);
  if (v.trim() !== '' && Number.isFinite(n)) return n > 1e12 ? n : n * 1000;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}

/** How long a new shell may take to show its first prompt. */
const NEW_TERMINAL_WAIT_MS = 10_000;

/** Bytes read from the end of a recording for a line window. */
const TAIL_WINDOW = 512 * 1024;

class ToolRunner {
  constructor(readonly ctx: ToolContext) {}

  termId(sessionId: string): string {
    return this.ctx.aliases?.get(sessionId) ?? sessionId;
  }

  /** The terminal, live or exited, or undefined. */
  find(sessionId: string): LiveTerminal | undefined {
    try {
      return this.ctx.pty.get(this.ctx.session.id, this.termId(sessionId)) ?? undefined;
    } catch {
      return undefined;
    }
  }

  live(sessionId: string): LiveTerminal | undefined {
    const t = this.find(sessionId);
    if (!t) return undefined;
    const st = t.info().status;
    return st === 'running' || st === 'starting' ? t : undefined;
  }

  noSession(sessionId: string): ToolOutcome {
    const names = this.ctx.pty.list(this.ctx.session.id).filter((t) => t.info().status === 'running').map((t) => t.id);
    return {
      observation: obs({
        success: false,
        message: `Session ${sessionId} does not exist or has exited. Open sessions: ${names.length ? names.join(', ') : 'none'}. Create it with create_session or run_command.`,
        observation_type: 'error',
        session_id: sessionId,
      }),
      isError: true,
    };
  }

  async ensure(sessionId: string): Promise<{ term: LiveTerminal; created: boolean }> {
    const t = this.live(sessionId);
    if (t) return { term: t, created: false };
    const term = await this.ctx.pty.create(this.ctx.session, { id: this.termId(sessionId), cwd: this.ctx.cwd, ...(this.ctx.env ? { environment: this.ctx.env } : {}) });
    await this.waitIdle(term, NEW_TERMINAL_WAIT_MS);
    return { term, created: true };
  }

  /** Wait until the terminal is idle (a new shell shows its first prompt). */
  async waitIdle(term: LiveTerminal, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!term.isIdle() && Date.now() < deadline) if (!(await sleepFor(50, this.ctx.signal))) break;
    return term.isIdle();
  }

  async settle(term: LiveTerminal): Promise<void> {
    const deadline = Date.now() + this.ctx.options.settleMs;
    let last = term.recordedBytes();
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      if (!(await sleepFor(100, this.ctx.signal))) return;
      const now = term.recordedBytes();
      if (now !== last) {
        last = now;
        quietSince = Date.now();
      } else if (Date.now() - quietSince >= 300 && now > 0) return;
    }
  }

  /**
   * First recording offset written at or after `since`: a binary search of the
   * recording's timing index (parsing the whole timing log per call took ~0.7 s and
   * hundreds of MB on a 40 MB log, blocking every client meanwhile).
   */
  async offsetAt(terminalId: string, since: number, end: number): Promise<number> {
    const rec = await this.ctx.session.recording(terminalId).catch(() => null);
    const hit = rec ? await rec.timingIndex.firstAtOrAfter(since) : null;
    return hit ? Math.min(hit.offset, end) : end;
  }
}

type ToolRun<N extends ToolName> = (r: ToolRunner, a: ToolArgs<N>) => Promise<ToolOutcome>;

/** What each declared tool does; a tool without a run function (or a run function without a tool) does not compile. */
const RUN: { [N in ToolName]: ToolRun<N> } = {
  async run_command(r, a) {
    const sid = a.session_id;
    const command = a.command;
    const wait = a.wait_for_completion !== false;
    const { term, created } = await r.ensure(sid);
    // A shell opened a moment ago (e.g. by the annotator) may not show its first
    // prompt yet; a short wait tells that apart from a command still running.
    if (!term.isIdle()) await r.waitIdle(term, BUSY_GRACE_MS);
    if (!term.isIdle()) {
      return {
        observation: obs({
          success: false,
          message: `Session ${sid} is busy: a command is still running, so the new command was not sent. Use another session, follow it with get_session_output / check_session_idle, answer it with input_in_session, or stop it with kill_session_processes.`,
          observation_type: 'command_run', session_id: sid, command,
        }),
        isError: true, terminalId: term.id,
      };
    }
    const t0 = Date.now();
    const res = await term.runCommand(command, { wait, timeoutMs: r.ctx.options.commandTimeoutMs });
    const secs = (Date.now() - t0) / 1000;
    const prefix = created ? `Session ${sid} was created. ` : '';
    if (!wait) {
      return {
        observation: obs({ success: true, message: `${prefix}Command sent to session ${sid}`, observation_type: 'command_run', timestamp: isoNow(), session_id: sid, command, async_execution: true, execution_time: secs }),
        isError: false, terminalId: term.id, range: res.range,
      };
    }
    // "completed" would be untrue of a command whose shell went away under it (it was
    // killed, or the terminals ended when the workstation closed): say what happened.
    const message = res.shellExited
      ? `${prefix}Command \`${command}\` did not report its end: the shell of session ${sid} exited after ${secs.toFixed(2)} seconds${res.exitCode === null ? '' : ` with exit code ${res.exitCode}`}.`
      : res.timedOut
      ? `${prefix}Command \`${command}\` is still running after ${secs.toFixed(1)} seconds. It keeps running in session ${sid}: follow it with get_session_output / check_session_idle, or stop it with kill_session_processes.`
      : `${prefix}Command \`${command}\` executed in ${secs.toFixed(2)} seconds. It is completed${res.exitCode === null ? '' : ` with exit code ${res.exitCode}`}!`;
    return {
      observation: obs({
        success: !res.shellExited, message, observation_type: 'command_run', timestamp: isoNow(), session_id: sid, command, async_execution: false,
        execution_time: secs, still_running: res.timedOut, exit_code: res.exitCode, output: capText(res.output, r.ctx.options.outputCap, undefined, r.ctx.secrets), ...(res.shellExited ? { shell_exited: true } : {}),
      }),
      isError: res.shellExited === true || (!res.timedOut && res.exitCode !== null && res.exitCode !== 0), terminalId: term.id, range: res.range,
    };
  },

  async create_session(r, { session_id: sid }) {
    if (r.live(sid)) {
      return { observation: obs({ success: false, message: `Session ${sid} already exists.`, observation_type: 'session', session_id: sid }), isError: true, terminalId: r.termId(sid) };
    }
    const term = await r.ctx.pty.create(r.ctx.session, { id: r.termId(sid), cwd: r.ctx.cwd, ...(r.ctx.env ? { environment: r.ctx.env } : {}) });
    await r.waitIdle(term, NEW_TERMINAL_WAIT_MS);
    return { observation: obs({ success: true, message: `Session ${sid} created in ${r.ctx.cwd}.`, observation_type: 'session', session_id: sid }), isError: false, terminalId: term.id };
  },

  async list_sessions(r) {
    const reverse = new Map([...(r.ctx.aliases ?? new Map<string, string>())].map(([k, v]) => [v, k]));
    const sessions = r.ctx.pty.list(r.ctx.session.id).map((t) => {
      const info: TerminalInfo = t.info();
      const running = info.status === 'running' || info.status === 'starting';
      return {
        session_id: reverse.get(t.id) ?? t.id, status: info.status, is_idle: running ? t.isIdle() : null,
        cwd: t.shellCwd() ?? info.cwd, last_activity: new Date(t.lastOutputAt()).toISOString(),
      };
    });
    return { observation: obs({ success: true, message: `${sessions.length} session(s).`, observation_type: 'session_list', sessions }), isError: false };
  },

  async get_session_output(r, a) {
    const sid = a.session_id;
    const term = r.find(sid);
    if (!term) return r.noSession(sid);
    // What it reads back was printed by earlier steps and is already credited to them;
    // this step's own range is only the time it took (output that arrived meanwhile),
    // or replay markers, search hits and the step's output would place it back there.
    const end = term.recordedBytes();
    let text: string;
    let message: string;
    if (a.since_timestamp !== undefined) {
      const since = parseSince(a.since_timestamp);
      if (since === null) return invalidHere('get_session_output', `since_timestamp "${a.since_timestamp.slice(0, 60)}" is neither an ISO time nor epoch seconds`);
      const start = await r.offsetAt(term.id, since, end);
      text = await term.readText(start, end, r.ctx.secrets);
      message = `Successfully retrieved the output since ${new Date(since).toISOString()}.`;
    } else {
      const startLines = a.start_lines;
      const endLines = a.end_lines ?? 0;
      if (startLines <= 0 || endLines < 0 || endLines >= startLines) {
        return invalidHere('get_session_output', `need start_lines > end_lines >= 0 (got start_lines=${startLines}, end_lines=${endLines})`);
      }
      const from = Math.max(0, end - TAIL_WINDOW);
      let lines = splitLines(await term.readText(from, end, r.ctx.secrets));
      if (from > 0) lines = lines.slice(1); // the first line may be cut
      const sel = lines.slice(Math.max(0, lines.length - startLines), lines.length - endLines);
      text = sel.join('\n');
      message = `Successfully retrieved ${sel.length} lines of output from line ${startLines} (counting from the end) to ${endLines ? `line ${endLines}` : 'the end'}.`;
    }
    const alive = term.info().status === 'running';
    return {
      observation: obs({
        success: true, message, observation_type: 'command_output_session', session_id: sid, output: capText(text, r.ctx.options.outputCap, undefined, r.ctx.secrets),
        is_alive: alive, is_idle: alive ? term.isIdle() : null, last_activity: term.lastOutputAt() / 1000,
      }),
      isError: false, terminalId: term.id, range: [end, term.recordedBytes()],
    };
  },

  async check_session_idle(r, { session_id: sid }) {
    const term = r.live(sid);
    if (!term) return r.noSession(sid);
    const idle = term.isIdle();
    // The terminal's own environment: a session's terminals may mix this machine and the remote one.
    const where = term.envRecord ? envOf(r.ctx) : LOCAL;
    const procs = idle ? [] : await where.terminalProcesses({ id: term.id, pid: term.info().pid }).catch(() => []);
    const ago = Math.round((Date.now() - term.lastOutputAt()) / 1000);
    const message = idle
      ? `Session is idle, because no command is running (last output ${ago} s ago).`
      : `Session is busy, because a command is still running (last output ${ago} s ago)${procs.length ? `; the session has the following active child processes:\n- ${procs.join('\n- ')}` : '.'}`;
    return { observation: obs({ success: true, message, observation_type: 'command_session_status', session_id: sid, is_idle: idle }), isError: false, terminalId: term.id };
  },

  async input_in_session(r, { session_id: sid, input_text }) {
    const term = r.live(sid);
    if (!term) return r.noSession(sid);
    const before = term.recordedBytes();
    term.write(input_text.replace(/\r?\n/g, '\r'), 'agent');
    await r.settle(term);
    const after = term.recordedBytes();
    const output = await term.readText(before, after, r.ctx.secrets);
    return {
      observation: obs({ success: true, message: `Input sent to session ${sid}.`, observation_type: 'command_output_session', session_id: sid, output: capText(output, r.ctx.options.outputCap, undefined, r.ctx.secrets), is_idle: term.isIdle() }),
      isError: false, terminalId: term.id, range: [before, after],
    };
  },

  async kill_session_processes(r, { session_id: sid }) {
    const term = r.live(sid);
    if (!term) return r.noSession(sid);
    const before = term.recordedBytes();
    const sentAt = await term.interrupt();
    const deadline = Date.now() + Math.max(r.ctx.options.settleMs, 3_000);
    while (!term.isIdle() && Date.now() < deadline) if (!(await sleepFor(100, r.ctx.signal))) break;
    const idle = term.isIdle();
    // Idle (the command-end mark) comes before the shell has redrawn its prompt; the
    // agent's next keys must not reach it before it reads again, or some are lost. It
    // returns as soon as the prompt is drawn; the bound is for a slow PROMPT_COMMAND on a
    // loaded machine (1 s after a slow interrupt left too little: the test's 1.5 s prompt).
    // The prompt must be one drawn after the Ctrl-C: a command typed ahead was waited for
    // first, and the prompt it was typed at may have been drawn after `before`.
    if (idle) await term.promptReady(sentAt, Math.max(0, deadline - Date.now()) + 3_000);
    return {
      observation: obs({
        success: idle,
        message: idle ? `Processes in session ${sid} were killed; the session is idle.` : `Sent Ctrl-C and killed the foreground processes of session ${sid}, but it is still busy; check it with check_session_idle.`,
        observation_type: 'command_session_status', session_id: sid, is_idle: idle,
      }),
      isError: !idle, terminalId: term.id, range: [before, term.recordedBytes()],
    };
  },

  async close_session(r, { session_id: sid }) {
    const term = r.live(sid);
    if (!term) return r.noSession(sid);
    if (r.ctx.pty.close) await r.ctx.pty.close(r.ctx.session, term.id);
    else await term.kill();
    return { observation: obs({ success: true, message: `Session ${sid} closed.`, observation_type: 'session', session_id: sid }), isError: false, terminalId: term.id };
  },

  async open_file(r, a) {
    const env = envOf(r.ctx);
    const path = await resolvePath(r.ctx, a.path);
    const st = await env.stat(path);
    if (!st) throw noSuchPath(path);
    if (st.kind === 'dir') return { observation: obs({ success: false, message: `${path} is a folder; use list_files.`, observation_type: 'error' }), isError: true };
    if (st.size > 50 * 1024 * 1024) return { observation: obs({ success: false, message: `${path} is ${st.size} bytes, too large to open; use run_command (head, grep, sed -n).`, observation_type: 'error' }), isError: true };
    const buf = await env.readFile(path, 50 * 1024 * 1024 + 1);
    if (buf.subarray(0, 8192).includes(0)) return { observation: obs({ success: false, message: `${path} is a binary file; inspect it with run_command.`, observation_type: 'error' }), isError: true };
    const lines = splitLines(buf.toString('utf8').replace(/\r\n/g, '\n'));
    const n = lines.length;
    const ctxLines = Math.max(1, a.context_lines ?? 100);
    const center = a.line_number;
    let first = center === undefined ? 1 : Math.max(1, center - Math.floor(ctxLines / 2));
    const last = Math.min(n, first + ctxLines - 1 + (center === undefined ? 0 : ctxLines % 2 === 0 ? 1 : 0));
    if (n === 0) first = 1;
    const header = [`[File: ${path} (${n} lines total)]`];
    if (first > 1) header.push(`(${first - 1} more lines above)`);
    if (last < n) header.push(`(${n - last} more lines below)`);
    const body = numbered(lines.slice(first - 1, last), first);
    return {
      observation: obs({
        success: true, message: `File ${path} opened successfully.`, observation_type: 'file_read', file_path: path,
        output: capText(`${header.join('\n')}\n${body}`, r.ctx.options.outputCap, 'ask for fewer context_lines', r.ctx.secrets),
      }),
      isError: false,
    };
  },

  async create_file(r, { filename, content }) {
    const path = await resolvePath(r.ctx, filename);
    const { existed } = await envOf(r.ctx).writeFile(path, content);
    return {
      observation: obs({
        success: true, message: `File ${path} ${existed ? 'overwritten' : 'created'} successfully`, observation_type: 'file_write', file_path: path,
        removed_context: '', added_context: capText(numbered(splitLines(content), 1), r.ctx.options.outputCap, 'open the file to see the rest', r.ctx.secrets),
      }),
      isError: false,
    };
  },

  async edit_file(r, a) {
    const cap = r.ctx.options.outputCap;
    const env = envOf(r.ctx);
    const path = await resolvePath(r.ctx, a.path);
    const text = (await env.readFile(path)).toString('utf8');
    const eol = text.includes('\r\n') ? '\r\n' : '\n';
    const trailing = text.endsWith('\n');
    const lines = text === '' ? [] : splitLines(text.replace(/\r\n/g, '\n'));
    const { start, end, content } = a;
    if (start < 1 || start > lines.length + 1 || end < start - 1 || end > lines.length) {
      return invalidHere('edit_file', `lines ${start}-${end} are out of range: ${path} has ${lines.length} lines (need 1 <= start <= ${lines.length + 1} and start - 1 <= end <= ${lines.length})`);
    }
    const added = content === '' ? [] : splitLines(content.replace(/\r\n/g, '\n'));
    const removed = lines.slice(start - 1, end);
    const next = [...lines.slice(0, start - 1), ...added, ...lines.slice(end)];
    await env.writeFile(path, next.join(eol) + (next.length && (trailing || text === '') ? eol : ''));
    return {
      observation: obs({
        success: true,
        message: `File ${path} edited successfully (lines ${start} to ${end} replaced by ${added.length} line(s)). Line numbers below line ${start} may have changed: review the edit with open_file.`,
        observation_type: 'file_write', file_path: path,
        removed_context: capText(numbered(removed, start), cap, 'open the file to see the rest', r.ctx.secrets),
        added_context: capText(numbered(added, start), cap, 'open the file to see the rest', r.ctx.secrets),
      }),
      isError: false,
    };
  },

  async list_files(r, a) {
    const dir = await resolvePath(r.ctx, a.path ?? '.');
    const entries = await envOf(r.ctx).list(dir);
    entries.sort((x, y) => x.name.localeCompare(y.name));
    const rows: string[] = [];
    for (const e of entries) {
      if (e.kind === 'dir') rows.push(`${e.name}/`);
      else rows.push(e.size === null ? e.name : `${e.name} (${e.size} bytes)`);
    }
    return {
      observation: obs({ success: true, message: `${entries.length} entries in ${dir}`, observation_type: 'file_list', path: dir, output: capText(rows.join('\n'), r.ctx.options.outputCap, 'list a sub-folder or use run_command', r.ctx.secrets) }),
      isError: false,
    };
  },

  async sleep(r, { sleep_time: secs }) {
    if (secs < 0) return invalidHere('sleep', 'sleep_time must be >= 0 seconds');
    const ms = Math.min(secs * 1000, r.ctx.options.maxSleepMs);
    const full = await sleepFor(ms, r.ctx.signal);
    const message = full
      ? `Sleep completed${ms < secs * 1000 ? ` (shortened to ${ms / 1000} s, the longest allowed)` : ''}. Please check the situation of the environment first (e.g. Is the command still alive in the terminal?). Do not sleep again in the next action. But you can sleep in the future.`
      : 'Sleep interrupted: the rollout was paused or stopped. Check the situation of the environment first.';
    return { observation: obs({ success: true, message, observation_type: 'base' }), isError: false };
  },

  async think() {
    return { observation: obs({ success: true, message: 'OK, your thought has been logged. Go ahead. Do not think more until you generate tools and interact with the real environment', observation_type: 'base' }), isError: false };
  },

  async finish(_r, a) {
    return { observation: obs({ success: true, message: 'Task finished.', observation_type: 'finish' }), isError: false, finish: { message: a.message ?? '' } };
  },
};

/** Run a validated call; the session name is checked here, where terminals are named. */
function dispatch<N extends ToolName>(call: { name: N; args: ToolArgs<N> }, ctx: ToolContext): Promise<ToolOutcome> {
  const sid: unknown = (call.args as Record<string, unknown>).session_id;
  if (typeof sid === 'string' && !TERMINAL_ID.test(sid)) {
    return Promise.resolve(invalidHere(call.name, `session_id "${sid.slice(0, 80)}" is not a valid name (letters, digits, "_", "-", "." only, at most 64)`));
  }
  const run: ToolRun<N> = RUN[call.name];
  return run(new ToolRunner(ctx), call.args);
}

/**
 * Execute one call whose arguments are already parsed (validated again here, so a
 * recorded or hand-written call cannot reach a tool with the wrong types).
 * Failures of the environment become error observations.
 */
export async function executeTool(name: string, args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
  const call = validateToolArgs(name, args);
  if (!call.ok) return { observation: call.error, isError: true };
  return runValid(call, ctx);
}

/** Tools that act on files (in the context's environment) rather than in a terminal. */
const FILE_TOOLS: ReadonlySet<ToolName> = new Set(['open_file', 'create_file', 'edit_file', 'list_files']);

async function runValid(call: ValidToolCall, ctx: ToolContext): Promise<ToolOutcome> {
  const env = envOf(ctx);
  const before = terminalOf(ctx, call);
  const wasRunning = before?.info().status === 'running';
  let o: ToolOutcome;
  let threw: unknown = null;
  try {
    o = await dispatch(call, ctx);
  } catch (err) {
    threw = err;
    const e = err as NodeJS.ErrnoException;
    const msg = e.code === 'ENOENT' ? `No such file or folder: ${e.path ?? ''}` : e.code === 'EACCES' ? `Permission denied: ${e.path ?? ''}` : e.message ?? String(err);
    o = { observation: obs({ success: false, message: `${call.name} failed: ${msg}`, observation_type: 'error' }), isError: true };
  }
  const term = o.terminalId ? safeGet(ctx, o.terminalId) : before;
  const rec = o.terminalId ? term?.envRecord : FILE_TOOLS.has(call.name) ? env.record() ?? undefined : undefined;
  if (rec) o.env = rec;
  // A remote environment whose terminal died or whose command failed may have lost its
  // connection: then the action says so, and the rollout pauses until it is back.
  const inEnv = FILE_TOOLS.has(call.name) || (!!term && term.envRecord?.name === env.record()?.name && env.kind !== 'local');
  const suspicious = threw !== null || env.connectionState() !== 'connected' || (wasRunning && term?.info().status === 'exited') || (o.terminalId !== undefined && !before && term?.info().status === 'exited');
  if (env.kind !== 'local' && inEnv && (isLost(threw) || (suspicious && !(await env.checkConnection())))) {
    const why = env.lostReason() ?? 'it stopped answering';
    o.lost = `The connection to environment ${env.name} was lost during ${call.name}: ${why}.`;
    const kept = term && env.keepsTerminal(term.id)
      ? ` The shell of session ${term.id} runs in tmux on the host, so what it was running goes on there; the session is re-attached when the connection is back (its output meanwhile included).`
      : '';
    o.observation = obs({
      success: false, observation_type: 'error',
      message: `${o.lost}${kept} What happened before the drop is kept (the terminal recording has the output). When the connection is back, check the state of the environment (is the command still running? did the file change?) before going on.`,
    });
    o.isError = true;
  }
  return o;
}

/**
 * After a dropped connection: open again the terminals whose shell kept running in
 * tmux in the environment (re-attached, with what they printed meanwhile). Says which
 * came back and, in words, which could not (they stay closed; run_command opens a
 * fresh one), so a rollout's state can say why a job's terminal is gone.
 */
export async function reattachTerminals(ctx: ToolContext): Promise<{ back: string[]; failed: string[] }> {
  const env = envOf(ctx);
  const back: string[] = [];
  const failed: string[] = [];
  let ids: string[];
  try {
    ids = await env.keptTerminals();
  } catch (err) {
    return { back, failed: [`the terminals kept there could not be listed (${errorText(err)})`] };
  }
  for (const id of ids) {
    const t = safeGet(ctx, id);
    if (t && t.info().status !== 'exited') continue;
    await ctx.pty.create(ctx.session, { id, cwd: t?.info().cwd ?? ctx.cwd, ...(ctx.env ? { environment: ctx.env } : {}) }).then(
      () => back.push(id),
      (err: unknown) => failed.push(`${id} (${errorText(err)})`),
    );
  }
  return { back, failed };
}


function isLost(err: unknown): boolean {
  return err instanceof ApolloError && (err.details as { cause?: unknown } | undefined)?.cause === CONNECTION_LOST;
}

function safeGet(ctx: ToolContext, terminalId: string): LiveTerminal | undefined {
  try {
    return ctx.pty.get(ctx.session.id, terminalId) ?? undefined;
  } catch {
    return undefined;
  }
}

/** The terminal a call names, if it exists already. */
function terminalOf(ctx: ToolContext, call: ValidToolCall): LiveTerminal | undefined {
  const sid = (call.args as Record<string, unknown>).session_id;
  return typeof sid === 'string' ? safeGet(ctx, ctx.aliases?.get(sid) ?? sid) : undefined;
}

/** Parse, validate and execute a call as the model produced it. */
export async function executeToolCall(call: ToolCall, ctx: ToolContext): Promise<ToolOutcome> {
  const p = parseToolCall(call);
  if (!p.ok) return { observation: p.error, isError: true };
  return executeTool(p.name, p.args, ctx);
}

/** Add a note (e.g. human terminal input) to an observation, keeping it JSON when it is. */
export function withNote(observation: string, note: string): string {
  try {
    const o = JSON.parse(observation) as unknown;
    if (o && typeof o === 'object' && !Array.isArray(o)) return JSON.stringify({ ...(o as Record<string, unknown>), note });
  } catch {
    // not JSON: append
  }
  return `${observation}\n\nNote: ${note}`;
}
