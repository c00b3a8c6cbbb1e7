// What the rest of the core (rollout tools, hosts) may ask of a live terminal.
// Implemented by the node-pty based PtyHost in this folder.
import type { EnvRecord } from '../../../shared/events';
import type { TerminalInfo, TerminalSpec } from '../../../shared/types';
import type { SecretSpec } from '../dataset/key-fingerprint';

export interface CommandResult {
  /** Exit code reported by shell integration; null when unknown or still running. */
  exitCode: number | null;
  /** True when the wait timed out and the command is still running. */
  timedOut: boolean;
  /** Recording byte range of the command's output. */
  range: [number, number];
  /** Output text of the range, ANSI escapes stripped, decoded as UTF-8. */
  output: string;
  /** The shell exited before the command reported its end (an `exit`, a kill, the terminals ended on quit). */
  shellExited?: boolean;
}

export interface LiveTerminal {
  readonly id: string;
  readonly sessionId: string;
  /** The environment the shell runs in (absent: this machine). */
  readonly envRecord?: EnvRecord;
  info(): TerminalInfo;
  /** Send keys. Human input is recorded as a `terminal.input` event. */
  write(data: string, source: 'human' | 'agent'): void;
  resize(cols: number, rows: number): void;
  /**
   * Type `command` and (if wait) resolve when shell integration reports its end or
   * when `timeoutMs` passes (then `timedOut` is true and it keeps running).
   */
  runCommand(command: string, opts: { wait: boolean; timeoutMs: number }): Promise<CommandResult>;
  /** True when no command is running (prompt shown) per shell integration. */
  isIdle(): boolean;
  /** ms epoch of the last output byte. */
  lastOutputAt(): number;
  /** Current working directory of the shell, when integration reports it (OSC 7). */
  shellCwd(): string | undefined;
  /**
   * The allowlisted environment variables of the shell as of its last prompt, when
   * integration reports them (PATH, VIRTUAL_ENV, CONDA_PREFIX, CONDA_DEFAULT_ENV,
   * PYTHONPATH and names listed in $APOLLO_ENV_VARS; never names that look secret).
   */
  shellEnv(): Record<string, string> | undefined;
  /** Bytes recorded so far (next output lands at this offset). */
  recordedBytes(): number;
  /**
   * Read recorded output as text (escapes stripped) between two offsets; a long span is
   * cut to its head and tail, never inside a secret (the patterns, and `secrets`).
   */
  readText(start: number, end?: number, secrets?: readonly SecretSpec[]): Promise<string>;
  /**
   * Send Ctrl-C (once a command typed ahead has started) and kill the foreground
   * process group if it ignores it. Resolves with the recording offset of the Ctrl-C.
   */
  interrupt(): Promise<number>;
  /** True once the shell reads input at a prompt drawn after recording offset `since` (false at the timeout). */
  promptReady(since: number, timeoutMs: number): Promise<boolean>;
  kill(): Promise<void>;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ exitCode: number | null; signal: number | null }>;
}

export interface PtyHostEvents {
  /**
   * Batched output for the UI, for the `consumers` (client ids) showing the terminal
   * that keep up; `bytes` counts the raw bytes in this batch (for flow control).
   */
  data(e: { sessionId: string; terminalId: string; data: string; offset: number; bytes: number }, consumers: readonly string[]): void;
  changed(e: { sessionId: string; terminal: TerminalInfo }): void;
}

export type { TerminalSpec };
