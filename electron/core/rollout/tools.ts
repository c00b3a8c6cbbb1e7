// The agent's tools, with the names and arguments of InnovatorBench / ResearchGym, run
// against the live terminals of a session (a `session_id` is a named terminal) and
// the files under the session's working directory.
//
// Observations are JSON objects like ResearchGym's (success, message,
// observation_type, output…), with long text capped head + tail; the full output
// stays in the terminal recording (`range`). A call the model got wrong (unknown
// tool, bad JSON, missing or mistyped argument) yields an observation starting with
// INVALID_TOOL_CALL so the model can correct itself and the label rules can find it.
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { ToolCall } from '../../../shared/events';
import type { TerminalInfo, TerminalSpec } from '../../../shared/types';
import type { LiveTerminal } from '../pty/types';
import type { SessionLog } from '../store/workspace';
import { parseTiming } from '../store/terminal-recording';
import type { ToolSchema } from './llm';

/** Every invalid call's observation starts with this (label rules match it). */
/** How long run_command waits for a terminal that is not idle before calling it busy. */
const BUSY_GRACE_MS = 2_000;

export const INVALID_TOOL_CALL = 'Error: invalid tool call';

/** What the tools need of the PTY host (the real PtyHost satisfies it). */
export interface TerminalHost {
  create(session: SessionLog, spec: TerminalSpec): Promise<LiveTerminal>;
  /** May throw (NOT_FOUND) or return undefined when there is no such terminal. */
  get(sessionId: string, terminalId: string): LiveTerminal | undefined;
  list(sessionId: string): LiveTerminal[];
  /** Kill a terminal and forget it (records terminal.closed); else LiveTerminal.kill() is used. */
  close?(session: SessionLog, terminalId: string): Promise<void>;
}

type ParamType = 'string' | 'integer' | 'number' | 'boolean';

interface ParamSpec {
  type: ParamType;
  description: string;
  required?: boolean;
}

interface ToolSpec {
  description: string;
  params: Record<string, ParamSpec>;
}

const SESSION_ID: ParamSpec = { type: 'string', required: true, description: 'Name of the terminal session, e.g. "main" or "gpu_train".' };

export const TOOL_SPECS: Record<string, ToolSpec> = {
  run_command: {
    description:
      'Run a shell command in the terminal session `session_id` (created on first use). With wait_for_completion=true, wait until the command ends (or a timeout passes; it then keeps running) and return its output and exit code. Use wait_for_completion=false for long-running commands (training, servers, downloads) and follow them with get_session_output / check_session_idle.',
    params: {
      session_id: SESSION_ID,
      command: { type: 'string', required: true, description: 'The command line to run.' },
      wait_for_completion: { type: 'boolean', description: 'Wait for the command to finish (default true).' },
    },
  },
  create_session: {
    description: 'Create a new terminal session (a shell in the working directory) named `session_id`.',
    params: { session_id: SESSION_ID },
  },
  list_sessions: {
    description: 'List the terminal sessions with their status (idle or busy, working directory, last activity).',
    params: {},
  },
  get_session_output: {
    description:
      'Return the output of a terminal session. If `since_timestamp` is given, the output since that time; otherwise a window of lines counted from the end: from `start_lines` lines before the end to `end_lines` lines before the end (default: to the end). It may contain the output of earlier commands.',
    params: {
      session_id: SESSION_ID,
      start_lines: { type: 'integer', required: true, description: 'Start of the window, in lines counted from the end (e.g. 50 = the last 50 lines).' },
      end_lines: { type: 'integer', description: 'End of the window, in lines counted from the end (omit for the newest output).' },
      since_timestamp: { type: 'string', description: 'ISO time or Unix epoch seconds; return output produced after it.' },
    },
  },
  check_session_idle: {
    description: 'Check whether a terminal session is idle (no command running) or busy, with the processes it runs.',
    params: { session_id: SESSION_ID },
  },
  input_in_session: {
    description:
      'Type text into a terminal session, e.g. to answer an interactive prompt. A trailing "\\n" presses Enter; control characters such as "\\u0003" (Ctrl-C) are sent as they are.',
    params: { session_id: SESSION_ID, input_text: { type: 'string', required: true, description: 'The text to type.' } },
  },
  kill_session_processes: {
    description: 'Interrupt (Ctrl-C) and kill the processes running in a terminal session; the session stays open.',
    params: { session_id: SESSION_ID },
  },
  close_session: {
    description: 'Close a terminal session and kill everything running in it.',
    params: { session_id: SESSION_ID },
  },
  open_file: {
    description: 'Show a text file with line numbers: `context_lines` lines around `line_number` (default: the first 100 lines).',
    params: {
      path: { type: 'string', required: true, description: 'File path (absolute, or relative to the working directory).' },
      line_number: { type: 'integer', description: 'Line to center on (1-based).' },
      context_lines: { type: 'integer', description: 'Number of lines to show (default 100).' },
    },
  },
  create_file: {
    description: 'Create (or overwrite) a file with the given content; parent folders are created.',
    params: {
      filename: { type: 'string', required: true, description: 'File path (absolute, or relative to the working directory).' },
      content: { type: 'string', required: true, description: 'The full content of the file.' },
    },
  },
  edit_file: {
    description:
      'Replace lines `start` to `end` (1-based, both included) of a file with `content` (empty content deletes them; end = start - 1 inserts before `start`). Read the lines first with open_file; line numbers change after an edit.',
    params: {
      path: { type: 'string', required: true, description: 'File path (absolute, or relative to the working directory).' },
      start: { type: 'integer', required: true, description: 'First line to replace (1-based).' },
      end: { type: 'integer', required: true, description: 'Last line to replace (included).' },
      content: { type: 'string', required: true, description: 'The new lines.' },
    },
  },
  list_files: {
    description: 'List the files and folders in a folder (folders end with "/").',
    params: { path: { type: 'string', description: 'Folder path (default: the working directory).' } },
  },
  sleep: {
    description: 'Wait for `sleep_time` seconds, e.g. while a training job runs.',
    params: { sleep_time: { type: 'number', required: true, description: 'Seconds to wait.' } },
  },
  think: {
    description: 'Write down a thought or plan; it does not change anything.',
    params: { thought: { type: 'string', required: true, description: 'The thought.' } },
  },
  finish: {
    description: 'Finish the task, with a short summary of what was done and the results.',
    params: { message: { type: 'string', description: 'Summary of the outcome.' } },
  },
};

export const TOOL_NAMES = Object.keys(TOOL_SPECS);

function toSchema(name: string, spec: ToolSpec): ToolSchema {
  const properties: Record<string, unknown> = {};
  const required: string[] = [];
  for (const [p, s] of Object.entries(spec.params)) {
    properties[p] = { type: s.type, description: s.description };
    if (s.required) required.push(p);
  }
  return { type: 'function', function: { name, description: spec.description, parameters: { type: 'object', properties, required } } };
}

/** OpenAI `tools` for the chat request. */
export const TOOL_SCHEMAS: ToolSchema[] = Object.entries(TOOL_SPECS).map(([n, s]) => toSchema(n, s));

function signature(name: string): string {
  const spec = TOOL_SPECS[name];
  if (!spec) return name;
  const ps = Object.entries(spec.params).map(([p, s]) => `${p}${s.required ? '' : '?'}: ${s.type}`);
  return `${name}(${ps.join(', ')})`;
}

/** A plain-text description of the tools, for models without tool calling. */
export function describeToolsForText(): string {
  return TOOL_NAMES.map((n) => `- ${signature(n)}: ${TOOL_SPECS[n]!.description}`).join('\n');
}

export type ParsedCall = { ok: true; name: string; args: Record<string, unknown> } | { ok: false; error: string };

function invalid(reason: string, name?: string): { ok: false; error: string } {
  const usage = name && TOOL_SPECS[name] ? ` Usage: ${signature(name)}.` : ` Available tools: ${TOOL_NAMES.join(', ')}.`;
  return { ok: false, error: `${INVALID_TOOL_CALL}: ${reason}.${usage} Fix the call and try again.` };
}

/** Validate a call against the tool specs; unambiguous strings ("10", "true") are coerced. */
export function parseToolCall(call: Pick<ToolCall, 'name' | 'arguments'>): ParsedCall {
  const name = call.name?.trim() ?? '';
  const spec = TOOL_SPECS[name];
  if (!spec) return invalid(name ? `unknown tool "${name}"` : 'the call has no tool name');
  let raw: unknown;
  const text = (call.arguments ?? '').trim();
  if (text === '') raw = {};
  else {
    try {
      raw = JSON.parse(text);
    } catch (e) {
      return invalid(`the arguments of ${name} are not valid JSON (${(e as Error).message})`, name);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return invalid(`the arguments of ${name} must be a JSON object`, name);
  const given = raw as Record<string, unknown>;
  const args: Record<string, unknown> = {};
  for (const [p, s] of Object.entries(spec.params)) {
    let v = given[p];
    if (v === undefined || v === null) {
      if (s.required) return invalid(`missing required argument "${p}" (${s.type}) for ${name}`, name);
      continue;
    }
    if ((s.type === 'integer' || s.type === 'number') && typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) v = Number(v);
    if (s.type === 'boolean' && typeof v === 'string' && /^(true|false)$/i.test(v.trim())) v = v.trim().toLowerCase() === 'true';
    const ok =
      s.type === 'string' ? typeof v === 'string' :
      s.type === 'boolean' ? typeof v === 'boolean' :
      s.type === 'integer' ? typeof v === 'number' && Number.isInteger(v) :
      typeof v === 'number' && Number.isFinite(v);
    if (!ok) return invalid(`argument "${p}" of ${name} must be ${s.type === 'integer' ? 'an integer' : `a ${s.type}`}, got ${JSON.stringify(v).slice(0, 80)}`, name);
    args[p] = v;
  }
  return { ok: true, name, args };
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
    return [{ id, name: 'run_command', arguments: JSON.stringify({ session_id: 'main', command: body, wait_for_completion: true }) }];
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
}

export interface ToolOutcome {
  observation: string;
  isError: boolean;
  terminalId?: string;
  range?: [number, number];
  /** Set by `finish`. */
  finish?: { message: string };
}

/** Keep the head and tail of long text, with a note of what was left out. */
export function capText(s: string, cap: number, where = 'the full output is in the terminal recording'): string {
  if (s.length <= cap) return s;
  const head = Math.floor(cap * 0.3);
  const tail = cap - head;
  return `${s.slice(0, head)}\n[... ${s.length - head - tail} characters omitted; ${where} ...]\n${s.slice(s.length - tail)}`;
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

function resolvePath(ctx: ToolContext, p: string): string {
  return isAbsolute(p) ? p : resolve(ctx.cwd, p);
}

function numbered(lines: string[], from: number): string {
  return lines.map((l, i) => `${from + i}|${l}`).join('\n');
}

function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

function childProcesses(pid: number | undefined): Promise<string[]> {
  if (!pid || process.platform === 'win32') return Promise.resolve([]);
  const run = (cmd: string, args: string[]) =>
    new Promise<string>((res) => execFile(cmd, args, { timeout: 2_000 }, (err, out) => res(err ? '' : String(out))));
  return (async () => {
    const kids = (await run('pgrep', ['-P', String(pid)])).split(/\s+/).filter(Boolean);
    if (!kids.length) return [];
    const ps = await run('ps', ['-o', 'pid=,stat=,args=', '-p', kids.join(',')]);
    return ps
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)
      .map((l) => {
        const m = /^(\d+)\s+(\S+)\s+(.*)$/.exec(l);
        return m ? `Process ${m[1]} is in ${m[2]} status, running command \`${m[3]}\`` : l;
      });
  })();
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
  constructor(private readonly ctx: ToolContext) {}

  private termId(sessionId: string): string {
    return this.ctx.aliases?.get(sessionId) ?? sessionId;
  }

  /** The terminal, live or exited, or undefined. */
  private find(sessionId: string): LiveTerminal | undefined {
    try {
      return this.ctx.pty.get(this.ctx.session.id, this.termId(sessionId)) ?? undefined;
    } catch {
      return undefined;
    }
  }

  private live(sessionId: string): LiveTerminal | undefined {
    const t = this.find(sessionId);
    if (!t) return undefined;
    const st = t.info().status;
    return st === 'running' || st === 'starting' ? t : undefined;
  }

  private noSession(sessionId: string): ToolOutcome {
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

  private async ensure(sessionId: string): Promise<{ term: LiveTerminal; created: boolean }> {
    const t = this.live(sessionId);
    if (t) return { term: t, created: false };
    const term = await this.ctx.pty.create(this.ctx.session, { id: this.termId(sessionId), cwd: this.ctx.cwd });
    await this.waitIdle(term, NEW_TERMINAL_WAIT_MS);
    return { term, created: true };
  }

  /** Wait until the terminal is idle (a new shell shows its first prompt). */
  private async waitIdle(term: LiveTerminal, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!term.isIdle() && Date.now() < deadline) if (!(await sleepFor(50, this.ctx.signal))) break;
    return term.isIdle();
  }

  async run(name: string, a: Record<string, unknown>): Promise<ToolOutcome> {
    const cap = this.ctx.options.outputCap;
    const sid = typeof a.session_id === 'string' ? a.session_id : '';
    if (sid && !TERMINAL_ID.test(sid)) {
      return { observation: `${INVALID_TOOL_CALL}: session_id "${sid.slice(0, 80)}" is not a valid name (letters, digits, "_", "-", "." only, at most 64). Usage: ${signature(name)}.`, isError: true };
    }
    switch (name) {
      case 'run_command': {
        const command = a.command as string;
        const wait = a.wait_for_completion !== false;
        const { term, created } = await this.ensure(sid);
        // A shell opened a moment ago (e.g. by the annotator) may not show its first
        // prompt yet; a short wait tells that apart from a command still running.
        if (!term.isIdle()) await this.waitIdle(term, BUSY_GRACE_MS);
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
        const r = await term.runCommand(command, { wait, timeoutMs: this.ctx.options.commandTimeoutMs });
        const secs = (Date.now() - t0) / 1000;
        const prefix = created ? `Session ${sid} was created. ` : '';
        if (!wait) {
          return {
            observation: obs({ success: true, message: `${prefix}Command sent to session ${sid}`, observation_type: 'command_run', timestamp: isoNow(), session_id: sid, command, async_execution: true, execution_time: secs }),
            isError: false, terminalId: term.id, range: r.range,
          };
        }
        const message = r.timedOut
          ? `${prefix}Command \`${command}\` is still running after ${secs.toFixed(1)} seconds. It keeps running in session ${sid}: follow it with get_session_output / check_session_idle, or stop it with kill_session_processes.`
          : `${prefix}Command \`${command}\` executed in ${secs.toFixed(2)} seconds. It is completed${r.exitCode === null ? '' : ` with exit code ${r.exitCode}`}!`;
        return {
          observation: obs({
            success: true, message, observation_type: 'command_run', timestamp: isoNow(), session_id: sid, command, async_execution: false,
            execution_time: secs, still_running: r.timedOut, exit_code: r.exitCode, output: capText(r.output, cap),
          }),
          isError: !r.timedOut && r.exitCode !== null && r.exitCode !== 0, terminalId: term.id, range: r.range,
        };
      }
      case 'create_session': {
        if (this.live(sid)) {
          return { observation: obs({ success: false, message: `Session ${sid} already exists.`, observation_type: 'session', session_id: sid }), isError: true, terminalId: this.termId(sid) };
        }
        const term = await this.ctx.pty.create(this.ctx.session, { id: this.termId(sid), cwd: this.ctx.cwd });
        await this.waitIdle(term, NEW_TERMINAL_WAIT_MS);
        return { observation: obs({ success: true, message: `Session ${sid} created in ${this.ctx.cwd}.`, observation_type: 'session', session_id: sid }), isError: false, terminalId: term.id };
      }
      case 'list_sessions': {
        const reverse = new Map([...(this.ctx.aliases ?? new Map<string, string>())].map(([k, v]) => [v, k]));
        const sessions = this.ctx.pty.list(this.ctx.session.id).map((t) => {
          const info: TerminalInfo = t.info();
          const running = info.status === 'running' || info.status === 'starting';
          return {
            session_id: reverse.get(t.id) ?? t.id, status: info.status, is_idle: running ? t.isIdle() : null,
            cwd: t.shellCwd() ?? info.cwd, last_activity: new Date(t.lastOutputAt()).toISOString(),
          };
        });
        return { observation: obs({ success: true, message: `${sessions.length} session(s).`, observation_type: 'session_list', sessions }), isError: false };
      }
      case 'get_session_output': {
        const term = this.find(sid);
        if (!term) return this.noSession(sid);
        const end = term.recordedBytes();
        let text: string;
        let message: string;
        let range: [number, number];
        if (typeof a.since_timestamp === 'string') {
          const since = parseSince(a.since_timestamp);
          if (since === null) return { observation: `${INVALID_TOOL_CALL}: since_timestamp "${a.since_timestamp.slice(0, 60)}" is neither an ISO time nor epoch seconds. Usage: ${signature(name)}.`, isError: true };
          const start = await this.offsetAt(term.id, since, end);
          text = await term.readText(start, end);
          range = [start, end];
          message = `Successfully retrieved the output since ${new Date(since).toISOString()}.`;
        } else {
          const startLines = a.start_lines as number;
          const endLines = (a.end_lines as number | undefined) ?? 0;
          if (startLines <= 0 || endLines < 0 || endLines >= startLines) {
            return { observation: `${INVALID_TOOL_CALL}: need start_lines > end_lines >= 0 (got start_lines=${startLines}, end_lines=${endLines}). Usage: ${signature(name)}.`, isError: true };
          }
          const from = Math.max(0, end - TAIL_WINDOW);
          let lines = splitLines(await term.readText(from, end));
          if (from > 0) lines = lines.slice(1); // the first line may be cut
          const sel = lines.slice(Math.max(0, lines.length - startLines), lines.length - endLines);
          text = sel.join('\n');
          range = [from, end];
          message = `Successfully retrieved ${sel.length} lines of output from line ${startLines} (counting from the end) to ${endLines ? `line ${endLines}` : 'the end'}.`;
        }
        const alive = term.info().status === 'running';
        return {
          observation: obs({
            success: true, message, observation_type: 'command_output_session', session_id: sid, output: capText(text, cap),
            is_alive: alive, is_idle: alive ? term.isIdle() : null, last_activity: term.lastOutputAt() / 1000,
          }),
          isError: false, terminalId: term.id, range,
        };
      }
      case 'check_session_idle': {
        const term = this.live(sid);
        if (!term) return this.noSession(sid);
        const idle = term.isIdle();
        const procs = idle ? [] : await childProcesses(term.info().pid);
        const ago = Math.round((Date.now() - term.lastOutputAt()) / 1000);
        const message = idle
          ? `Session is idle, because no command is running (last output ${ago} s ago).`
          : `Session is busy, because a command is still running (last output ${ago} s ago)${procs.length ? `; the session has the following active child processes:\n- ${procs.join('\n- ')}` : '.'}`;
        return { observation: obs({ success: true, message, observation_type: 'command_session_status', session_id: sid, is_idle: idle }), isError: false, terminalId: term.id };
      }
      case 'input_in_session': {
        const term = this.live(sid);
        if (!term) return this.noSession(sid);
        const before = term.recordedBytes();
        term.write((a.input_text as string).replace(/\r?\n/g, '\r'), 'agent');
        await this.settle(term);
        const after = term.recordedBytes();
        const output = await term.readText(before, after);
        return {
          observation: obs({ success: true, message: `Input sent to session ${sid}.`, observation_type: 'command_output_session', session_id: sid, output: capText(output, cap), is_idle: term.isIdle() }),
          isError: false, terminalId: term.id, range: [before, after],
        };
      }
      case 'kill_session_processes': {
        const term = this.live(sid);
        if (!term) return this.noSession(sid);
        const before = term.recordedBytes();
        term.interrupt();
        const deadline = Date.now() + Math.max(this.ctx.options.settleMs, 3_000);
        while (!term.isIdle() && Date.now() < deadline) if (!(await sleepFor(100, this.ctx.signal))) break;
        const idle = term.isIdle();
        return {
          observation: obs({
            success: idle,
            message: idle ? `Processes in session ${sid} were killed; the session is idle.` : `Sent Ctrl-C and killed the foreground processes of session ${sid}, but it is still busy; check it with check_session_idle.`,
            observation_type: 'command_session_status', session_id: sid, is_idle: idle,
          }),
          isError: !idle, terminalId: term.id, range: [before, term.recordedBytes()],
        };
      }
      case 'close_session': {
        const term = this.live(sid);
        if (!term) return this.noSession(sid);
        if (this.ctx.pty.close) await this.ctx.pty.close(this.ctx.session, term.id);
        else await term.kill();
        return { observation: obs({ success: true, message: `Session ${sid} closed.`, observation_type: 'session', session_id: sid }), isError: false, terminalId: term.id };
      }
      case 'open_file': return this.openFile(a);
      case 'create_file': {
        const path = resolvePath(this.ctx, a.filename as string);
        const content = a.content as string;
        const existed = await stat(path).then((s) => s.isFile(), () => false);
        await mkdir(dirname(path), { recursive: true });
        await writeFile(path, content);
        return {
          observation: obs({
            success: true, message: `File ${path} ${existed ? 'overwritten' : 'created'} successfully`, observation_type: 'file_write', file_path: path,
            removed_context: '', added_context: capText(numbered(splitLines(content), 1), cap, 'open the file to see the rest'),
          }),
          isError: false,
        };
      }
      case 'edit_file': {
        const path = resolvePath(this.ctx, a.path as string);
        const text = await readFile(path, 'utf8');
        const eol = text.includes('\r\n') ? '\r\n' : '\n';
        const trailing = text.endsWith('\n');
        const lines = text === '' ? [] : splitLines(text.replace(/\r\n/g, '\n'));
        const start = a.start as number;
        const end = a.end as number;
        if (start < 1 || start > lines.length + 1 || end < start - 1 || end > lines.length) {
          return { observation: `${INVALID_TOOL_CALL}: lines ${start}-${end} are out of range: ${path} has ${lines.length} lines (need 1 <= start <= ${lines.length + 1} and start - 1 <= end <= ${lines.length}). Usage: ${signature(name)}.`, isError: true };
        }
        const content = a.content as string;
        const added = content === '' ? [] : splitLines(content.replace(/\r\n/g, '\n'));
        const removed = lines.slice(start - 1, end);
        const next = [...lines.slice(0, start - 1), ...added, ...lines.slice(end)];
        await writeFile(path, next.join(eol) + (next.length && (trailing || text === '') ? eol : ''));
        return {
          observation: obs({
            success: true,
            message: `File ${path} edited successfully (lines ${start} to ${end} replaced by ${added.length} line(s)). Line numbers below line ${start} may have changed: review the edit with open_file.`,
            observation_type: 'file_write', file_path: path,
            removed_context: capText(numbered(removed, start), cap, 'open the file to see the rest'),
            added_context: capText(numbered(added, start), cap, 'open the file to see the rest'),
          }),
          isError: false,
        };
      }
      case 'list_files': {
        const dir = resolvePath(this.ctx, (a.path as string | undefined) ?? '.');
        const entries = await readdir(dir, { withFileTypes: true });
        entries.sort((x, y) => x.name.localeCompare(y.name));
        const rows: string[] = [];
        for (const e of entries) {
          if (e.isDirectory()) rows.push(`${e.name}/`);
          else {
            const size = await stat(join(dir, e.name)).then((s) => s.size, () => null);
            rows.push(size === null ? e.name : `${e.name} (${size} bytes)`);
          }
        }
        return {
          observation: obs({ success: true, message: `${entries.length} entries in ${dir}`, observation_type: 'file_list', path: dir, output: capText(rows.join('\n'), cap, 'list a sub-folder or use run_command') }),
          isError: false,
        };
      }
      case 'sleep': {
        const secs = a.sleep_time as number;
        if (secs < 0) return { observation: `${INVALID_TOOL_CALL}: sleep_time must be >= 0 seconds. Usage: ${signature(name)}.`, isError: true };
        const ms = Math.min(secs * 1000, this.ctx.options.maxSleepMs);
        const full = await sleepFor(ms, this.ctx.signal);
        const message = full
          ? `Sleep completed${ms < secs * 1000 ? ` (shortened to ${ms / 1000} s, the longest allowed)` : ''}. Please check the situation of the environment first (e.g. Is the command still alive in the terminal?). Do not sleep again in the next action. But you can sleep in the future.`
          : 'Sleep interrupted: the rollout was paused or stopped. Check the situation of the environment first.';
        return { observation: obs({ success: true, message, observation_type: 'base' }), isError: false };
      }
      case 'think':
        return { observation: obs({ success: true, message: 'OK, your thought has been logged. Go ahead. Do not think more until you generate tools and interact with the real environment', observation_type: 'base' }), isError: false };
      case 'finish': {
        const message = (a.message as string | undefined) ?? '';
        return { observation: obs({ success: true, message: 'Task finished.', observation_type: 'finish' }), isError: false, finish: { message } };
      }
      default:
        return { observation: invalid(`unknown tool "${name}"`).error, isError: true };
    }
  }

  private async openFile(a: Record<string, unknown>): Promise<ToolOutcome> {
    const path = resolvePath(this.ctx, a.path as string);
    const st = await stat(path);
    if (st.isDirectory()) return { observation: obs({ success: false, message: `${path} is a folder; use list_files.`, observation_type: 'error' }), isError: true };
    if (st.size > 50 * 1024 * 1024) return { observation: obs({ success: false, message: `${path} is ${st.size} bytes, too large to open; use run_command (head, grep, sed -n).`, observation_type: 'error' }), isError: true };
    const buf = await readFile(path);
    if (buf.subarray(0, 8192).includes(0)) return { observation: obs({ success: false, message: `${path} is a binary file; inspect it with run_command.`, observation_type: 'error' }), isError: true };
    const lines = splitLines(buf.toString('utf8').replace(/\r\n/g, '\n'));
    const n = lines.length;
    const ctxLines = Math.max(1, (a.context_lines as number | undefined) ?? 100);
    const center = a.line_number as number | undefined;
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
        output: capText(`${header.join('\n')}\n${body}`, this.ctx.options.outputCap, 'ask for fewer context_lines'),
      }),
      isError: false,
    };
  }

  private async settle(term: LiveTerminal): Promise<void> {
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

  /** First recording offset written at or after `since`, from the timing index. */
  private async offsetAt(terminalId: string, since: number, end: number): Promise<number> {
    const text = await readFile(join(this.ctx.session.dir, 'terminals', `${terminalId}.timing.jsonl`), 'utf8').catch(() => '');
    const entries = parseTiming(text);
    for (const e of entries) if (e.ts >= since) return e.offset;
    return end;
  }
}

/** Execute one validated call. Failures of the environment become error observations. */
export async function executeTool(name: string, args: Record<string, unknown>, ctx: ToolContext): Promise<ToolOutcome> {
  try {
    return await new ToolRunner(ctx).run(name, args);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const msg = e.code === 'ENOENT' ? `No such file or folder: ${e.path ?? ''}` : e.code === 'EACCES' ? `Permission denied: ${e.path ?? ''}` : e.message ?? String(err);
    return { observation: obs({ success: false, message: `${name} failed: ${msg}`, observation_type: 'error' }), isError: true };
  }
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
