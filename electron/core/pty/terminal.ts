// One live terminal: a node-pty process, its recording, its shell-integration state
// and its stream to the UI.
import { readFileSync } from 'node:fs';
import type { IDisposable, IPty } from 'node-pty';
import { ApolloError } from '../../../shared/errors';
import type { EnvRecord, SessionEvent, SessionEventBody } from '../../../shared/events';
import type { TerminalInfo, TerminalStatus } from '../../../shared/types';
import type { SessionLog } from '../store/workspace';
import type { TerminalRecording } from '../store/terminal-recording';
import { cutOutsideSecrets } from '../dataset/secret-cut';
import { OscParser, toShellMark, type ShellMark } from './osc-parser';
import { terminalText, terminalTextAtWidths, utf8SafeEnd, utf8SkipContinuation, type WidthChange } from './strip-ansi';
import type { CommandResult, LiveTerminal, PtyHostEvents } from './types';
import { UiStream, type FlowOptions } from './ui-stream';
import type { SizeChange, TerminalKeyframes } from './keyframes';
import { terminalKeyframes } from './session-keyframes';
import type { SecretSpec } from '../dataset/key-fingerprint';

export interface TerminalLimits extends FlowOptions {
  /** Pause the pty when this many recorded bytes are not yet on disk; resume below the low mark. */
  diskHighWatermark: number;
  diskLowWatermark: number;
  /** Text longer than this (bytes) is returned as head + elision note + tail. */
  maxTextBytes: number;
  /** How long runCommand waits for the first prompt of an integrated shell. */
  promptWaitMs: number;
}

export interface TerminalInit {
  session: SessionLog;
  id: string;
  recording: TerminalRecording;
  pty: IPty;
  command: string;
  args: string[];
  cwd: string;
  cols: number;
  rows: number;
  integrated: boolean;
  /** The secret the injected integration puts in its marks (see LaunchPlan.markNonce). */
  markNonce?: string;
  /** The environment the shell runs in (absent: this machine). */
  envRecord?: EnvRecord;
  events: PtyHostEvents;
  limits: TerminalLimits;
}

interface RunWaiter {
  typedAt: number;
  /** Offset just after the C mark, once seen. */
  start: number | null;
  done: (r: { exitCode: number | null; end: number; timedOut: boolean; shellExited?: boolean }) => void;
}

/** ui: the client is behind; disk: output not yet on disk; record: a full disk holds output back. */
type PauseReason = 'ui' | 'disk' | 'record';

/** Quiescence heuristic for terminals without integration (see runCommand). */
const QUIET_AFTER_PROMPT_MS = 300;
const QUIET_NO_PROMPT_MS = 2000;
const IDLE_WITHOUT_MARKS_MS = 1000;
/** How long interrupt waits for a typed-ahead command line to start (C) or end (D) before Ctrl-C. */
const TYPED_AHEAD_WAIT_MS = 2000;
/** How long after Ctrl-C reached the shell itself interrupt watches for the job it was starting to take the terminal. */
const LOST_INTERRUPT_WATCH_MS = 2000;
/**
 * When Ctrl-C is sent again (ms after the first) while the command has not ended and no
 * job can be seen taking the terminal: a remote shell (the job's process group is on the
 * host, not here) or a platform without /proc. The first may have reached the shell
 * while it set the job up, as a local one can (see interrupt).
 */
const RESEND_INTERRUPT_MS = [500, 1200];
const PROMPT_LIKE = /[$#%>❯»:]\s?$/;
/**
 * A program asking for a secret (sudo, ssh, git, gpg...). Keys typed at it are
 * recorded masked: the log is exported, and human input is quoted to the agent's
 * model, so a typed password would otherwise leave the machine.
 */
// Beyond "Password:": openssl's "Enter PEM pass phrase:", huggingface-cli's "Enter your
// token (input will not be visible):", wandb's "Paste an API key …: ", gh's "? Paste your
// authentication token:"; with the stars a program echoes per key (sudo's pwfeedback).
// Ending in a colon: without shell integration the shell's own prompt is tested too, and
// `~/src/token-bucket> ` or `Save credentials?` must not mask what a person types there.
const SECRET_PROMPT = /\b(?:password|passphrase|pass phrase|passcode|PIN|token|api[ _-]?key|secret(?: key)?|credentials?)\b[^\n]{0,160}:\s*\**$/i;

/** Whether a program's last line asks for a secret (keys typed at it are recorded masked). */
export function isSecretPrompt(line: string): boolean {
  return SECRET_PROMPT.test(line);
}
const TAIL_BYTES = 256;

// The child of node-pty prints this when exec or chdir fails, then exits with 1.
const EXEC_FAILURE = /^(?:execvp\(3\)|chdir\(2\)) failed\.?:?\s*(.*)/;

export class PtyTerminal implements LiveTerminal {
  readonly id: string;
  readonly sessionId: string;
  readonly exited: Promise<{ exitCode: number | null; signal: number | null }>;
  readonly envRecord: EnvRecord | undefined;

  private status: TerminalStatus = 'starting';
  private readonly session: SessionLog;
  private readonly recording: TerminalRecording;
  private readonly pty: IPty;
  private readonly command: string;
  private readonly args: string[];
  private readonly cwd: string;
  private cols: number;
  private rows: number;
  private readonly injected: boolean;
  private readonly markNonce: string | undefined;
  private marksSeen = false;
  private promptSeen = false;
  private phase: 'unknown' | 'prompt' | 'command' = 'unknown';
  private cwdNow: string | undefined;
  /** The command line reported (OSC 133;E) for the command about to start. */
  private commandLine: string | undefined;
  private envNow: Record<string, string> | undefined;
  private lastOutput = Date.now();
  /** The last bytes of output (latin1), to spot a password prompt. */
  private outputTail = '';
  private lastInput = 0;
  private exitCode: number | null | undefined;
  private signal: number | null | undefined;
  private readonly events: PtyHostEvents;
  private readonly limits: TerminalLimits;
  private readonly parser = new OscParser();
  readonly ui: UiStream;
  private readonly pauseReasons = new Set<PauseReason>();
  private ptyPaused = false;
  private deadPoll: NodeJS.Timeout | null = null;
  private diskPending = 0;
  private recordingBlocked: string | undefined;
  private runWaiter: RunWaiter | null = null;
  /** A command was typed by runCommand and its C/D marks have not arrived yet. */
  private typedAhead = false;
  /** A human is typing a secret at a prompt that asked for one (write): masked until Enter. */
  private secretEntry = false;
  /** Recording offset when Ctrl-C was last sent (interrupt): the prompt that counts is one drawn after it. */
  private interruptedAt = -1;
  /** Command-end marks (D) seen: tells interrupt whether the command it stopped has ended. */
  private commandEnds = 0;
  private readonly promptWaiters = new Set<() => void>();
  /** Recording offset just after the last prompt-end mark (B): the shell reads input from there. */
  private promptEndAt = -1;
  private readonly promptEndWaiters = new Set<() => void>();
  private readonly disposables: IDisposable[] = [];
  private readonly appending = new Set<Promise<unknown>>();
  /** A runCommand is waiting on this terminal. */
  private running = false;
  /** Output and exit held back while start-up is being checked. */
  private probe: { chunks: Buffer[]; exit: { exitCode: number; signal?: number } | null; wake: (() => void) | null } | null = {
    chunks: [],
    exit: null,
    wake: null,
  };
  private resolveExited!: (v: { exitCode: number | null; signal: number | null }) => void;
  /** Built beside the recording as it grows (see keyframeSize); null until opened. */
  private keyframes: TerminalKeyframes | null = null;
  private readonly sizesBeforeKeyframes: SizeChange[] = [];
  /**
   * The widths the terminal had, from the offset of the recording each began at, for
   * reading its output (readText): a line drawn before a resize wraps at the width it had.
   * Seeded from the log (recordedWidths); bytes before the first are read at its width.
   */
  private readonly widths: TerminalWidth[];
  private killTimer: NodeJS.Timeout | null = null;

  constructor(init: TerminalInit) {
    this.id = init.id;
    this.session = init.session;
    this.sessionId = init.session.id;
    this.recording = init.recording;
    this.pty = init.pty;
    this.command = init.command;
    this.args = init.args;
    this.cwd = init.cwd;
    this.cols = init.cols;
    this.rows = init.rows;
    this.widths = recordedWidths(init.session.events, init.id, init.recording.size, init.cols);
    this.injected = init.integrated;
    this.markNonce = init.markNonce;
    this.envRecord = init.envRecord;
    this.events = init.events;
    this.limits = init.limits;
    this.exited = new Promise((r) => (this.resolveExited = r));
    this.ui = new UiStream(
      init.limits,
      (b, to) => safely(() => this.events.data({ sessionId: this.sessionId, terminalId: this.id, data: b.data, offset: b.offset, bytes: b.bytes }, to)),
      (p) => this.setPaused('ui', p),
    );
    // A full disk: the recording keeps the output in memory, and the program is paused
    // so that it cannot print more than memory should hold; both undone once written.
    this.recording.onBlocked = (err) => {
      this.recordingBlocked = err
        ? `Disk full: the output of terminal ${this.id} cannot be recorded, so its program is paused (nothing it printed is lost). It resumes once space is freed.`
        : undefined;
      this.setPaused('record', err !== null);
      this.emitChanged();
    };
    this.disposables.push(
      this.pty.onData((d) => {
        const buf = typeof d === 'string' ? Buffer.from(d, 'utf8') : (d as unknown as Buffer);
        if (this.probe) {
          this.probe.chunks.push(buf);
          this.probe.wake?.();
        } else this.onOutput(buf);
      }),
      this.pty.onExit((e) => {
        if (this.probe) {
          this.probe.exit = e;
          this.probe.wake?.();
        } else void this.onExit(e.exitCode, e.signal);
      }),
    );
  }

  /**
   * Wait briefly for the first output or an exit, to tell an exec failure (which
   * node-pty's child reports as text, then exit code 1) from a real start. Returns
   * the failure message, or null once the process is known to be running.
   */
  async probeStart(windowMs: number): Promise<string | null> {
    const p = this.probe!;
    if (p.chunks.length === 0 && !p.exit) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, windowMs);
        p.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      p.wake = null;
    }
    if (p.exit === null && p.chunks.length > 0) {
      // An exec failure is followed by exit at once: give it a moment to arrive.
      const text = Buffer.concat(p.chunks).toString('utf8');
      if (EXEC_FAILURE.test(text)) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 500);
          p.wake = () => {
            if (p.exit) {
              clearTimeout(t);
              resolve();
            }
          };
        });
        p.wake = null;
      }
    }
    const text = Buffer.concat(p.chunks).toString('utf8');
    const m = EXEC_FAILURE.exec(text);
    if (p.exit && m) {
      this.dispose();
      return `Cannot start "${this.command}": ${(m[1] ?? '').trim() || 'exec failed'}.`;
    }
    return null;
  }

  /** Record the start and let held-back output and exit flow. */
  begin(): Promise<unknown> {
    const p = this.probe!;
    this.probe = null;
    this.status = 'running';
    const started = this.append({
      type: 'terminal.started',
      terminalId: this.id,
      command: this.command,
      args: this.args,
      cwd: this.cwd,
      cols: this.cols,
      rows: this.rows,
      pid: this.pty.pid,
      integrated: this.injected,
      offset: this.recording.size,
      ...(this.envRecord ? { env: this.envRecord } : {}),
    });
    this.keyframeSize(this.recording.size, this.cols, this.rows);
    this.emitChanged();
    for (const c of p.chunks) this.onOutput(c);
    if (p.exit) void this.onExit(p.exit.exitCode, p.exit.signal);
    return started;
  }

  info(): TerminalInfo {
    const info: TerminalInfo = {
      id: this.id,
      command: this.command,
      args: this.args,
      cwd: this.cwd,
      status: this.status,
      cols: this.cols,
      rows: this.rows,
      pid: this.pty.pid,
      bytes: this.recording.size,
      integrated: this.injected || this.marksSeen,
    };
    if (this.exitCode !== undefined) info.exitCode = this.exitCode;
    if (this.signal !== undefined) info.signal = this.signal;
    if (this.recordingBlocked) info.recordingBlocked = this.recordingBlocked;
    return info;
  }

  // ---- output ---------------------------------------------------------------

  private onOutput(buf: Buffer): void {
    if (buf.length === 0) return;
    this.lastOutput = Date.now();
    let offset: number;
    try {
      const r = this.recording.append(buf, this.lastOutput);
      offset = r.offset;
      this.diskPending += buf.length;
      if (this.diskPending >= this.limits.diskHighWatermark) this.setPaused('disk', true);
      const settle = () => {
        this.diskPending -= buf.length;
        if (this.diskPending <= this.limits.diskLowWatermark) this.setPaused('disk', false);
      };
      r.durable.then(settle, settle);
    } catch {
      // The recording is closed (session closing): nothing more to keep.
      return;
    }
    this.outputTail = (this.outputTail + buf.toString('latin1', Math.max(0, buf.length - TAIL_BYTES))).slice(-TAIL_BYTES);
    const seqs = this.parser.feed(buf, offset);
    for (const s of seqs) {
      const m = toShellMark(s);
      if (m) this.onMark(m);
    }
    this.ui.push(buf, offset);
    this.keyframes?.noteOutput();
  }

  /**
   * Keyframes follow the recording as it is made, and must know each size from its
   * offset on before they build past it: told here, not left to the log's events.
   */
  private keyframeSize(offset: number, cols: number, rows: number): void {
    if (this.keyframes) return this.keyframes.resized(offset, cols, rows);
    this.sizesBeforeKeyframes.push({ offset, cols, rows });
    if (this.sizesBeforeKeyframes.length > 1) return;
    terminalKeyframes(this.session, this.id).then(
      (k) => {
        for (const c of this.sizesBeforeKeyframes) k.resized(c.offset, c.cols, c.rows);
        this.keyframes = k;
      },
      () => undefined, // no keyframes: screens are then built from the recording when asked for
    );
  }

  private onMark(m: ShellMark): void {
    // Our integration signs these: the same marks in a program's output (a `cat` of a
    // recording, a nested shell) must not end the command or set the environment.
    if (this.markNonce !== undefined && (m.kind === 'commandEnd' || m.kind === 'env' || m.kind === 'commandLine') && m.nonce !== this.markNonce) return;
    if (m.kind !== 'cwd' && m.kind !== 'env' && !this.marksSeen) {
      this.marksSeen = true;
      if (!this.injected) this.emitChanged();
    }
    switch (m.kind) {
      case 'cwd':
        this.cwdNow = m.cwd;
        break;
      case 'env':
        this.envNow = m.env;
        break;
      case 'commandLine':
        if (this.phase !== 'command') this.commandLine = m.command;
        break;
      case 'promptStart':
      case 'promptEnd':
        if (this.phase === 'command') break; // a program printing marks; wait for D
        this.phase = 'prompt';
        if (m.kind === 'promptEnd' || this.promptSeen) this.markPromptSeen();
        if (m.kind === 'promptEnd') {
          this.promptEndAt = m.end;
          for (const w of this.promptEndWaiters) w();
        }
        break;
      case 'commandStart': {
        this.markPromptSeen();
        if (this.phase === 'command') break; // several commands on one line: one start
        this.phase = 'command';
        this.typedAhead = false;
        if (this.runWaiter && this.runWaiter.start === null) this.runWaiter.start = m.end;
        const ev: SessionEventBody = { type: 'terminal.command', terminalId: this.id, phase: 'start', offset: m.end };
        if (this.cwdNow !== undefined) ev.cwd = this.cwdNow;
        if (this.commandLine !== undefined) ev.command = this.commandLine;
        this.commandLine = undefined;
        void this.append(ev);
        break;
      }
      case 'commandEnd': {
        this.markPromptSeen();
        this.commandEnds++;
        const wasCommand = this.phase === 'command';
        this.phase = 'prompt';
        this.commandLine = undefined;
        if (wasCommand) {
          const ev: SessionEventBody = { type: 'terminal.command', terminalId: this.id, phase: 'end', offset: m.start };
          if (m.exitCode !== null) ev.exitCode = m.exitCode;
          void this.append(ev);
        }
        // A typed line that never started (syntax error) still ends with D.
        if (wasCommand || this.typedAhead) {
          this.typedAhead = false;
          const w = this.runWaiter;
          if (w) w.done({ exitCode: m.exitCode, end: m.start, timedOut: false });
        }
        break;
      }
    }
  }

  private markPromptSeen(): void {
    if (this.promptSeen) return;
    this.promptSeen = true;
    for (const w of this.promptWaiters) w();
    this.promptWaiters.clear();
  }

  private setPaused(reason: PauseReason, on: boolean): void {
    if (on) this.pauseReasons.add(reason);
    else this.pauseReasons.delete(reason);
    const want = this.pauseReasons.size > 0 && this.status === 'running';
    if (want === this.ptyPaused) return;
    this.ptyPaused = want;
    if (want) {
      this.pty.pause();
      // node-pty reports an exit only after the paused socket drains: watch the
      // process so a paused terminal whose program died still delivers its last output.
      this.deadPoll = setInterval(() => {
        if (!isAlive(this.pty.pid)) this.forceResume();
      }, 50);
    } else {
      this.clearDeadPoll();
      this.pty.resume();
    }
  }

  private forceResume(): void {
    this.pauseReasons.clear();
    if (!this.ptyPaused) return;
    this.ptyPaused = false;
    this.clearDeadPoll();
    this.pty.resume();
  }

  private clearDeadPoll(): void {
    if (this.deadPoll) {
      clearInterval(this.deadPoll);
      this.deadPoll = null;
    }
  }

  private async onExit(exitCode: number, signal: number | undefined): Promise<void> {
    if (this.status === 'exited') return;
    this.ui.flush(true);
    this.status = 'exited';
    this.exitCode = exitCode;
    this.signal = signal ? signal : null;
    this.forceResume();
    if (this.killTimer) clearTimeout(this.killTimer);
    const end = this.recording.size;
    if (this.runWaiter) this.runWaiter.done({ exitCode, end, timedOut: false, shellExited: true });
    this.typedAhead = false;
    this.phase = 'unknown';
    for (const w of this.promptWaiters) w();
    this.promptWaiters.clear();
    for (const w of this.promptEndWaiters) w();
    this.emitChanged();
    await this.append({ type: 'terminal.exited', terminalId: this.id, exitCode, signal: this.signal, offset: end });
    this.dispose();
    this.resolveExited({ exitCode, signal: this.signal });
  }

  // ---- input ----------------------------------------------------------------

  write(data: string, source: 'human' | 'agent'): void {
    this.assertRunning();
    if (data.length === 0) return;
    this.pty.write(data);
    this.lastInput = Date.now();
    let recorded = data;
    // The shell reading its own prompt again ends any entry (the program left without an Enter).
    if (this.promptSeen && this.phase !== 'command') this.secretEntry = false;
    if (source === 'human' && (this.secretEntry || this.atSecretPrompt())) {
      recorded = data.replace(/[^\r\n]/g, '*');
      // Masked until the entry ends (Enter, Ctrl-C, Ctrl-D), key by key: a program that echoes
      // a star per key (sudo's pwfeedback) no longer ends its line in the prompt after the first.
      this.secretEntry = !/[\r\n\x03\x04]/.test(data);
    }
    void this.append({ type: 'terminal.input', terminalId: this.id, data: recorded, source, offset: this.recording.size });
  }

  resize(cols: number, rows: number): void {
    if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 || cols > 10_000 || rows > 10_000) {
      throw new ApolloError('BAD_REQUEST', `Invalid terminal size ${cols}x${rows}`);
    }
    this.assertRunning();
    if (cols === this.cols && rows === this.rows) return;
    this.pty.resize(cols, rows);
    if (cols !== this.cols) keepWidth(this.widths, { offset: this.recording.size, cols });
    this.cols = cols;
    this.rows = rows;
    this.keyframeSize(this.recording.size, cols, rows);
    void this.append({ type: 'terminal.resized', terminalId: this.id, cols, rows, offset: this.recording.size });
    this.emitChanged();
  }

  /** Is a program (not the shell's own prompt) asking for a secret right now? */
  private atSecretPrompt(): boolean {
    if (this.promptSeen && this.phase !== 'command') return false;
    return isSecretPrompt(terminalText(this.outputTail).split('\n').at(-1) ?? '');
  }

  // ---- commands -------------------------------------------------------------

  isIdle(): boolean {
    if (this.status !== 'running') return true;
    if (this.running || this.runWaiter || this.typedAhead) return false;
    if (this.promptSeen) return this.phase !== 'command';
    return Date.now() - Math.max(this.lastOutput, this.lastInput) >= IDLE_WITHOUT_MARKS_MS;
  }

  /**
   * With shell integration the command's output is exactly the bytes between its C
   * and D marks, and D carries the exit code. Without it (ssh, fish, sh, or a shell
   * whose startup files broke the hooks) the command counts as finished once output
   * has been quiet for 300 ms after a prompt-like last line (ending in $ # % > ❯ » :)
   * or for 2 s otherwise; the exit code is then unknown (null) and a silent command
   * that runs longer than 2 s is reported finished early. `timedOut` means output was
   * still flowing at the deadline.
   */
  async runCommand(command: string, opts: { wait: boolean; timeoutMs: number }): Promise<CommandResult> {
    this.assertRunning();
    // Without marks a previous command cannot be known to be running: only our own
    // waits count as busy there.
    if (this.running || this.typedAhead || (this.promptSeen && this.phase === 'command')) {
      throw new ApolloError('CONFLICT', `Terminal ${this.id} is busy with a running command; wait for it, interrupt it, or use another terminal.`);
    }
    this.running = true;
    try {
      return await this.runCommandNow(command, opts);
    } finally {
      this.running = false;
    }
  }

  private async runCommandNow(command: string, opts: { wait: boolean; timeoutMs: number }): Promise<CommandResult> {
    const deadline = Date.now() + Math.max(0, opts.timeoutMs);
    const marks = await this.waitForPrompt(Math.min(Math.max(0, opts.timeoutMs), this.limits.promptWaitMs));
    this.assertRunning();
    const text = command.replace(/\r\n?/g, '\n').replace(/\n+$/, '');
    // With integration a multi-line command is sent as one bracketed paste, so bash
    // and zsh run it as one command line with a single D mark at its end.
    const typed = marks && text.includes('\n') ? `\x1b[200~${text}\x1b[201~\r` : `${text}\r`;
    const typedAt = this.recording.size;
    if (!opts.wait) {
      if (marks) this.typedAhead = true;
      this.write(typed, 'agent');
      return { exitCode: null, timedOut: false, range: [typedAt, typedAt], output: '' };
    }
    const r = marks ? await this.waitMarks(typed, typedAt, deadline) : await this.waitQuiet(typed, typedAt, deadline);
    let output = await this.readText(r.range[0], r.range[1]);
    if (r.fromTyped) output = removeEcho(output, text);
    output = output.replace(/[ \t]+$/gm, '').replace(/\s+$/, '');
    await this.settled(); // the command's events are in the log before the caller records its result
    return { exitCode: r.exitCode, timedOut: r.timedOut, range: r.range, output, ...(r.shellExited ? { shellExited: true } : {}) };
  }

  private waitForPrompt(ms: number): Promise<boolean> {
    if (this.promptSeen) return Promise.resolve(true);
    if (!this.injected || ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.promptWaiters.delete(done);
        resolve(this.promptSeen);
      };
      const t = setTimeout(done, ms);
      this.promptWaiters.add(done);
    });
  }

  private waitMarks(typed: string, typedAt: number, deadline: number): Promise<{ exitCode: number | null; timedOut: boolean; range: [number, number]; fromTyped: boolean; shellExited?: boolean }> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const w: RunWaiter = {
        typedAt,
        start: null,
        done: ({ exitCode, end, timedOut, shellExited }) => {
          if (this.runWaiter !== w) return;
          this.runWaiter = null;
          if (timer) clearTimeout(timer);
          const start = w.start ?? typedAt;
          resolve({ exitCode: timedOut ? null : exitCode, timedOut, range: [start, Math.max(start, end)], fromTyped: w.start === null, ...(shellExited ? { shellExited } : {}) });
        },
      };
      this.runWaiter = w;
      this.typedAhead = true;
      this.write(typed, 'agent');
      timer = setTimeout(() => w.done({ exitCode: null, end: this.recording.size, timedOut: true }), Math.max(0, deadline - Date.now()));
    });
  }

  private async waitQuiet(typed: string, typedAt: number, deadline: number): Promise<{ exitCode: number | null; timedOut: boolean; range: [number, number]; fromTyped: boolean; shellExited?: boolean }> {
    this.write(typed, 'agent');
    for (;;) {
      await sleep(50);
      const now = Date.now();
      const end = this.recording.size;
      if (this.status !== 'running') return { exitCode: this.exitCode ?? null, timedOut: false, range: [typedAt, end], fromTyped: true, shellExited: true };
      const quietFor = now - Math.max(this.lastOutput, this.lastInput);
      const tail = end > typedAt ? await this.recording.read(Math.max(typedAt, end - 512), end) : Buffer.alloc(0);
      const lastLineBytes = tail.subarray(tail.lastIndexOf(0x0a) + 1);
      const promptLike = PROMPT_LIKE.test(terminalText(decodeUtf8(lastLineBytes)));
      if (quietFor >= (promptLike ? QUIET_AFTER_PROMPT_MS : QUIET_NO_PROMPT_MS)) {
        // Leave the new prompt out of the output.
        return { exitCode: null, timedOut: false, range: [typedAt, promptLike ? end - lastLineBytes.length : end], fromTyped: true };
      }
      if (now >= deadline) return { exitCode: null, timedOut: true, range: [typedAt, end], fromTyped: true };
    }
  }

  lastOutputAt(): number {
    return this.lastOutput;
  }

  shellCwd(): string | undefined {
    return this.cwdNow;
  }

  shellEnv(): Record<string, string> | undefined {
    return this.envNow && { ...this.envNow };
  }

  recordedBytes(): number {
    return this.recording.size;
  }

  /** `secrets`: exact values no cut of a long text may fall in, besides the patterns (see recordedText). */
  async readText(start: number, end?: number, secrets: readonly SecretSpec[] = []): Promise<string> {
    const stop = Math.min(end ?? this.recording.size, this.recording.size);
    const from = Math.max(0, Math.min(start, stop));
    return recordedText((a, b) => this.recording.read(a, b), from, stop, this.limits.maxTextBytes, secrets, this.widths);
  }

  // ---- control ---------------------------------------------------------------

  /**
   * Send Ctrl-C, and end the job for real if it ignores it. Resolves with the recording
   * offset at which Ctrl-C was sent: the prompt that shows the shell reading again is
   * drawn after it (see promptReady).
   */
  async interrupt(source: 'human' | 'agent' = 'agent'): Promise<number> {
    this.assertRunning();
    // A command line typed ahead (runCommand without wait) that the shell has not
    // started (C) or dropped (D) yet: a Ctrl-C now can land while readline is still
    // reading the line (garbling it, no prompt after), or reach the shell while it sets
    // the job up, which then runs on. Let the shell get that far first.
    const typedBy = Date.now() + TYPED_AHEAD_WAIT_MS;
    while (this.typedAhead && this.status === 'running' && Date.now() < typedBy) await sleep(10);
    this.assertRunning();
    const shell = this.pty.pid;
    const group = foregroundGroup(shell);
    const ends = this.commandEnds;
    const running = this.promptSeen && this.phase === 'command';
    const at = this.recording.size;
    this.interruptedAt = at;
    this.write('\x03', source);
    // A line still not started (a continuation prompt): Ctrl-C drops it.
    this.typedAhead = false;
    // Ctrl-C may be ignored (raw mode, trapped SIGINT): then end the job for real.
    const escalate = (g: number, sig: NodeJS.Signals, next?: () => void) => {
      if (this.status !== 'running' || foregroundGroup(shell) !== g) return;
      try {
        process.kill(-g, sig);
      } catch {
        return;
      }
      next?.();
    };
    const stop = (g: number) => setTimeout(() => escalate(g, 'SIGTERM', () => setTimeout(() => escalate(g, 'SIGKILL'), 1500).unref()), 500).unref();
    if (group !== null && group !== shell) {
      stop(group);
      return at;
    }
    // The shell held the terminal though a command runs: a builtin, or a job it is
    // starting (C is printed before the fork; the job takes the terminal after). The
    // SIGINT went to the shell, and a job that had no terminal yet never saw it and runs
    // on. Pass it on once a job holds the terminal, unless the command ended (D).
    // Where no job can be seen (a remote shell: here the terminal is always held by
    // ssh; no /proc), the same race leaves only Ctrl-C again, while no D came.
    if (!running) return at;
    const started = Date.now();
    const watchUntil = started + LOST_INTERRUPT_WATCH_MS;
    const resends = [...RESEND_INTERRUPT_MS];
    const watch = (): void => {
      if (this.status !== 'running' || this.commandEnds !== ends || Date.now() >= watchUntil) return;
      const g = foregroundGroup(shell);
      if (g === null || g === shell) {
        if (resends.length && Date.now() - started >= resends[0]!) {
          resends.shift();
          this.interruptedAt = this.recording.size;
          this.write('\x03', source);
        }
        setTimeout(watch, 20).unref();
        return;
      }
      try {
        process.kill(-g, 'SIGINT');
      } catch {
        return;
      }
      stop(g);
    };
    setTimeout(watch, 20).unref();
    return at;
  }

  /**
   * Resolves true once the shell reads input at a prompt drawn after recording offset
   * `since`: an integrated shell's prompt-end mark (B), else output quiet for 300 ms.
   * After Ctrl-C a shell redraws its prompt, and keys that reach it before it reads
   * again can lose their first character (readline, over ssh). False at the timeout or exit.
   */
  async promptReady(since: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + Math.max(0, timeoutMs);
    // Ctrl-C sent again after `since` (interrupt) makes the shell draw its prompt again.
    since = Math.max(since, this.interruptedAt);
    if (this.promptSeen) {
      if (this.promptEndAt > since) return true;
      return new Promise((resolve) => {
        const finish = (): void => {
          clearTimeout(t);
          this.promptEndWaiters.delete(check);
          resolve(this.promptEndAt > since);
        };
        const check = (): void => {
          if (this.promptEndAt > since || this.status !== 'running') finish();
        };
        const t = setTimeout(finish, Math.max(0, timeoutMs));
        this.promptEndWaiters.add(check);
      });
    }
    while (this.status === 'running' && Date.now() < deadline) {
      if (Date.now() - Math.max(this.lastOutput, this.lastInput) >= QUIET_AFTER_PROMPT_MS) return true;
      await sleep(50);
    }
    return false;
  }

  async kill(): Promise<void> {
    if (this.status === 'exited') return;
    this.forceResume();
    try {
      this.pty.kill();
    } catch {
      // already gone
    }
    this.killTimer ??= setTimeout(() => {
      try {
        this.pty.kill('SIGKILL');
      } catch {
        // already gone
      }
    }, 3000);
    await this.exited;
  }

  /** `consumer` (a client showing this terminal) gets live output from the returned offset on. */
  attach(consumer?: string): number {
    this.ui.attach(consumer);
    return this.recording.size;
  }

  detach(consumer?: string): void {
    this.ui.detach(consumer);
  }

  ack(bytes: number, consumer?: string): void {
    this.ui.ack(bytes, consumer);
  }

  /** Diagnostics for tests: flow-control state. */
  flowState(): { ptyPaused: boolean; unacked: number; lagging: boolean; diskPending: number; emitted: number } {
    return { ptyPaused: this.ptyPaused, unacked: this.ui.unackedBytes, lagging: this.ui.isLagging, diskPending: this.diskPending, emitted: this.ui.stats.emittedBytes };
  }

  private dispose(): void {
    // recording.onBlocked stays: output held back by a full disk outlives the program
    // that printed it, and its notice must still say when it is written.
    this.clearDeadPoll();
    this.ui.dispose();
    for (const d of this.disposables) d.dispose();
    this.disposables.length = 0;
  }

  private assertRunning(): void {
    if (this.status !== 'running') throw new ApolloError('UNAVAILABLE', `Terminal ${this.id} is not running (${this.status}).`);
  }

  private emitChanged(): void {
    safely(() => this.events.changed({ sessionId: this.sessionId, terminal: this.info() }));
  }

  private append(body: SessionEventBody): Promise<unknown> {
    // A failed append (disk full) is reported by the store to whoever writes next
    // and awaits; terminal output must keep flowing meanwhile.
    const p = this.session.append(body).catch(() => undefined);
    this.appending.add(p);
    void p.then(() => this.appending.delete(p));
    return p;
  }

  /** Resolves once every event recorded so far by this terminal is durable. */
  async settled(): Promise<void> {
    await Promise.all([...this.appending]);
  }
}

/** A throwing listener must not break the output pipeline (it runs inside node-pty's callbacks). */
function safely(f: () => void): void {
  try {
    f();
  } catch (e) {
    console.error('[pty] event listener failed:', e);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Recording bytes read past a cut so that a secret crossing it is seen whole: more than
 * the longest match the rules make (secret-cut.ts), in UTF-8, colours and all.
 */
const CUT_CONTEXT_BYTES = 64 * 1024;
/** How far past its cut a long text's tail may start, for the start of a line (characters). */
const TAIL_LINE_REACH = 1024;
/** Widths a terminal remembers (readText), the newest. */
const MAX_WIDTHS = 256;

/** From `offset` of its recording on, the terminal was `cols` wide. */
export type TerminalWidth = Pick<SizeChange, 'offset' | 'cols'>;

/**
 * Appends `w` to `widths` unless the width is the same; a window dragged wide and narrow
 * makes many, so the oldest go past MAX_WIDTHS (their bytes then read at the first kept).
 */
function keepWidth(widths: TerminalWidth[], w: TerminalWidth): void {
  if (widths.at(-1)?.cols === w.cols) return;
  widths.push(w);
  if (widths.length > MAX_WIDTHS) widths.splice(0, widths.length - MAX_WIDTHS);
}

/**
 * Bytes [from, stop) of a recording (`read`) as text; over `max` bytes, its first quarter
 * and the rest of `max` from its end around a note of what was left out. A cut through a
 * secret would leave a piece of it that no rule finds, here or in an export, so the cuts
 * move out of any secret and the word it begins in (secret-cut.ts). They are chosen in
 * the text as recorded, escapes included (the rules read through them), so the byte
 * offsets the note gives stay exact. `width`: the terminal's width, or the widths it had
 * by offset (each line is read at the one it was drawn at).
 */
export async function recordedText(read: (start: number, end: number) => Promise<Buffer>, from: number, stop: number, max: number, secrets: readonly SecretSpec[] = [], width: number | readonly TerminalWidth[] = 0): Promise<string> {
  const widths: readonly TerminalWidth[] = typeof width === 'number' ? [{ offset: 0, cols: width }] : width;
  if (stop - from <= max) return textAtWidths(await read(from, stop), from, widths);
  const headBytes = Math.floor(max / 4);
  const tailBytes = max - headBytes;

  const headBuf = await read(from, Math.min(stop, from + headBytes + CUT_CONTEXT_BYTES));
  const headRaw = decodeUtf8(headBuf);
  const headAt = Math.min(headRaw.length, decodeUtf8(headBuf.subarray(0, headBytes)).length);
  const headCut = cutOutsideSecrets(headRaw, headAt, 'start', secrets);
  const headEnd = headCut === headAt ? from + headBytes : from + utf8SkipContinuation(headBuf) + Buffer.byteLength(headRaw.slice(0, headCut));

  const tailFrom = Math.max(from, stop - tailBytes - CUT_CONTEXT_BYTES);
  const tailBuf = await read(tailFrom, stop);
  const tailRaw = decodeUtf8(tailBuf);
  const tailAt = Math.max(0, tailRaw.length - decodeUtf8(tailBuf.subarray(tailBuf.length - tailBytes)).length);
  // From the start of the next line when one is near: no half line for the agent, and the
  // rows of the first line can be counted (a command line wider than the terminal).
  const next = tailAt > 0 && tailRaw[tailAt - 1] !== '\n' ? tailRaw.indexOf('\n', tailAt) + 1 : tailAt;
  const tailCut = cutOutsideSecrets(tailRaw, next > 0 && next - tailAt <= TAIL_LINE_REACH ? next : tailAt, 'end', secrets);
  const atLine = tailCut === 0 || tailRaw[tailCut - 1] === '\n';
  const tailStart = tailCut === tailAt ? stop - tailBytes : Math.max(headEnd, tailFrom + utf8SkipContinuation(tailBuf) + Buffer.byteLength(tailRaw.slice(0, tailCut)));

  const head = textAtWidths(headBuf.subarray(0, headEnd - from), from, widths);
  // A tail that starts inside a line cannot count that line's rows.
  const tail = textAtWidths(tailBuf.subarray(tailStart - tailFrom), tailStart, atLine ? widths : [{ offset: 0, cols: 0 }]);
  return `${head}\n[… ${tailStart - headEnd} bytes omitted (recording bytes ${headEnd}-${tailStart}) …]\n${tail}`;
}

/**
 * The widths terminal `id` had, from its log (a terminal re-attached after a restart,
 * tmux's or ssh's, has recorded before), then `cols` from `offset` on: the newest
 * MAX_WIDTHS.
 */
function recordedWidths(events: readonly SessionEvent[], id: string, offset: number, cols: number): TerminalWidth[] {
  const out: TerminalWidth[] = [];
  for (const e of events) {
    if ((e.type === 'terminal.started' || e.type === 'terminal.resized') && e.terminalId === id && typeof e.offset === 'number' && e.offset <= offset) {
      keepWidth(out, { offset: e.offset, cols: e.cols });
    }
  }
  keepWidth(out, { offset, cols });
  return out;
}

/**
 * `buf`, the recording's bytes from offset `at`, as terminalText reads it, each line at
 * the width the terminal had (`widths`, by offset; bytes before the first at its width):
 * terminalTextAtWidths, its changes found by character. A change falls between output
 * chunks, which node-pty decodes whole characters into, so counting the characters up
 * to it is exact.
 */
function textAtWidths(buf: Buffer, at: number, widths: readonly TerminalWidth[]): string {
  let cols = widths[0]?.cols ?? 0;
  const skip = utf8SkipContinuation(buf);
  const changes: WidthChange[] = [];
  let byte = skip;
  let char = 0;
  for (const w of widths) {
    const rel = w.offset - at;
    if (rel <= skip) {
      cols = w.cols;
      continue;
    }
    if (rel >= buf.length) break;
    char += buf.toString('utf8', byte, rel).length;
    byte = rel;
    changes.push({ at: char, cols: w.cols });
  }
  return terminalTextAtWidths(decodeUtf8(buf), cols, changes);
}

function decodeUtf8(buf: Buffer): string {
  const s = utf8SkipContinuation(buf);
  return buf.subarray(s, utf8SafeEnd(buf)).toString('utf8');
}

/** Drop the echoed command line(s) at the start of `output`. */
export function removeEcho(output: string, command: string): string {
  const lines = output.split('\n');
  const cmdLines = command.split('\n');
  let i = 0;
  for (const c of cmdLines) {
    const l = lines[i];
    if (l === undefined || !l.trimEnd().endsWith(c.trimEnd())) break;
    i++;
  }
  return i > 0 ? lines.slice(i).join('\n') : output;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Foreground process group of the pty whose session leader is `pid` (Linux only). */
function foregroundGroup(pid: number): number | null {
  if (process.platform !== 'linux') return null;
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid pgrp session tty_nr tpgid ..."; comm may contain spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tpgid = Number(rest[5]);
    return Number.isInteger(tpgid) && tpgid > 0 ? tpgid : null;
  } catch {
    return null;
  }
}

