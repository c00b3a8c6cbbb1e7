// Domain types shared by host and renderer. Persisted facts live in the session
// event log (see events.ts); these are the views built from it.
import type { RolloutState } from './events';

export type TerminalStatus = 'starting' | 'running' | 'exited' | 'failed' | 'recorded';

export interface TerminalSpec {
  /** Name of the terminal inside its session, e.g. "main" or "gpu_train". */
  id: string;
  /** Program to run; empty means the user's login shell. */
  command?: string;
  args?: string[];
  cwd?: string;
}

export interface TerminalInfo {
  id: string;
  command: string;
  args: string[];
  cwd: string;
  status: TerminalStatus;
  cols: number;
  rows: number;
  pid?: number;
  exitCode?: number | null;
  signal?: number | null;
  error?: string;
  /** Bytes recorded so far. */
  bytes: number;
  /** Whether the shell integration (OSC 133 marks) is active. */
  integrated: boolean;
  /**
   * Set while the disk is too full to record this terminal's output: its program is
   * paused (flow control) until space is freed, and no output is lost.
   */
  recordingBlocked?: string;
}

export interface SessionInfo {
  id: string;
  name: string;
  cwd: string;
  createdAt: number;
  updatedAt: number;
  /** live: its terminals run in this host now; recorded: opened from disk. */
  live: boolean;
  terminals: TerminalInfo[];
  steps: number;
  /** When its last step started (absent: no step yet). */
  lastStepAt?: number;
  /** The state of its rollout in this host (absent: none ran since the host started). */
  run?: RolloutState | 'idle';
}

export interface LoadReport {
  /** A torn last line was dropped (crash during a write). */
  tornTail: boolean;
  /** Line numbers (1-based) skipped because they did not parse. */
  corruptLines: number[];
}

export interface AppInfo {
  version: string;
  host: 'electron' | 'web';
  home: string;
  platform: string;
  /** Where stored API keys go: the OS keychain, or memory until the host stops (with the reason when a keychain was refused). */
  keyStore: { kind: 'keychain' | 'memory'; notice?: string };
}

export interface TerminalReplay {
  sessionId: string;
  terminalId: string;
  /** Byte offset in the recording where `data` starts. */
  start: number;
  /** Byte offset just after `data`; live data continues from here. */
  end: number;
  data: string;
  /** True when older output exists before `start`. */
  truncated: boolean;
}
