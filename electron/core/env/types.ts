// Where the agent works, as one interface: start a terminal, read/write/list/search
// files, snapshot and restore them, run a one-off command, say what it is. The local
// machine (local.ts) is what sessions have always used; SSH hosts, containers and
// pods (ssh.ts, container.ts, kubectl.ts) drive the user's own engines (`ssh`,
// `docker`/`podman`, `kubectl`): nothing here re-implements a transport. The core
// never touches the local disk on behalf of a remote environment.
import type { IPty } from 'node-pty';
import type { EnvRecord } from '../../../shared/events';
import type { EnvKind, EnvSpec } from '../../../shared/environments';
import type { PlanOptions } from '../pty/shell';
import type { Checkpoints, CheckpointOpenOptions } from './checkpoints';

export interface ExecOptions {
  /** Bytes for the command's stdin (none: stdin is empty). */
  stdin?: Buffer | string;
  /** Exit codes that count as success (default [0]); others throw EnvExecError. */
  ok?: readonly number[];
  /** Default 120 s. */
  timeoutMs?: number;
  /** Upper bound on collected stdout (default 256 MiB). */
  maxBytes?: number;
  signal?: AbortSignal;
}

export interface ExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** A file or folder as the environment sees it (symlinks followed). */
export interface FileStat {
  kind: 'file' | 'dir' | 'other';
  size: number;
}

export interface DirEntry {
  name: string;
  /** 'dir' only for a real folder (a symlink to one is a 'link'). */
  kind: 'file' | 'dir' | 'link' | 'other';
  /** Size of what the entry points to; null when that cannot be read (a dangling link). */
  size: number | null;
}

export interface SearchHit {
  /** Relative to the searched folder. */
  path: string;
  line: number;
  text: string;
}

/** How to start a terminal: the program node-pty runs on this machine and its environment. */
export interface TerminalLaunch {
  /** Absolute path of the executable on this machine (the shell, or `ssh`, `docker`...). */
  file: string;
  /** The command as the user gave it (or the shell), for display and events. */
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Where the local process starts (a remote terminal starts in a folder of the environment instead). */
  spawnCwd: string;
  /** Shell integration scripts were injected. */
  integrated: boolean;
  /** Secret the injected integration puts in its command-end and environment marks. */
  markNonce?: string;
  /** Start it through this instead of node-pty (a terminal kept in tmux, see tmux.ts). */
  open?: (size: { cols: number; rows: number }) => IPty;
  /** The tmux session the shell runs in: it outlives a dropped connection. */
  tmuxSession?: string;
}

/** What a terminal is started from: the same options a local launch is planned with. */
export type TerminalRequest = PlanOptions;

/** What an environment found out about itself (describe()). */
export interface EnvDescription {
  name: string;
  kind: EnvKind;
  /** Where it is, in a line ("ssh gpu@box:2222"). */
  target: string;
  /** `uname -sm` or the like. */
  system?: string;
  home?: string;
  /** The login shell. */
  shell?: string;
  /** `git --version` there; null: no git, so no checkpoints. */
  git: string | null;
  /** Terminals run inside tmux there (they survive a dropped connection). */
  tmux?: boolean;
  /** Time to run a trivial command, ms. */
  latencyMs?: number;
}

export type ConnectionState = 'connected' | 'connecting' | 'lost';

/** Thrown (as the cause) when an environment's connection is gone. */
export const CONNECTION_LOST = 'connection-lost';

export interface Environment {
  readonly spec: EnvSpec;
  readonly kind: EnvKind;
  readonly name: string;
  /** Recorded on terminals and actions that run here; null for the local machine as it always was. */
  record(): EnvRecord | null;
  /** Probe the environment (runs a command there). */
  describe(): Promise<EnvDescription>;
  /** `p` resolved against `base` with this environment's path rules (POSIX remotely; `~` is its home). */
  resolvePath(base: string, p: string): Promise<string>;
  /** The home folder in the environment. */
  home(): Promise<string>;

  /** What node-pty must run for a terminal in this environment. */
  planTerminal(req: TerminalRequest): Promise<TerminalLaunch>;

  /** Run a POSIX sh script there (`sh -c script`). */
  exec(script: string, opts?: ExecOptions): Promise<ExecResult>;

  /** null when there is nothing at `path`. Errors carry errno-like codes (ENOENT, EACCES...). */
  stat(path: string): Promise<FileStat | null>;
  readFile(path: string, maxBytes?: number): Promise<Buffer>;
  /** Write (creating missing parent folders); `existed`: a file was replaced. */
  writeFile(path: string, data: Buffer | string): Promise<{ existed: boolean }>;
  list(dir: string): Promise<DirEntry[]>;
  /** Fixed-string search under `dir` (text files), at most `max` hits. */
  search(dir: string, text: string, max?: number): Promise<SearchHit[]>;
  mkdirp(path: string): Promise<void>;

  /** A checkpoint store for `workDir` kept inside the environment. */
  checkpoints(opts: CheckpointOpenOptions): Promise<Checkpoints>;
  /** Why checkpoints cannot work here (no git, home folder...), or null. */
  checkpointsOff(workDir: string): Promise<string | null>;

  // ---- connection (always 'connected' for the local machine) ----
  connectionState(): ConnectionState;
  /** Why the connection is lost, while it is. */
  lostReason(): string | null;
  /** Check now (a terminal died, a command failed): true when the connection is up. */
  checkConnection(): Promise<boolean>;
  /** Resolves once connected (reconnecting as needed); rejects with CANCELLED on abort. */
  waitConnected(signal?: AbortSignal): Promise<void>;
  /** Called when the connection drops (once per drop). Returns the unsubscriber. */
  onLost(listener: (reason: string) => void): () => void;
  /**
   * What the shell of a terminal started here is running: its child processes, one
   * line each (`pid` is the local process node-pty started, used on this machine).
   */
  terminalProcesses(terminal: { id: string; pid: number | undefined }): Promise<string[]>;
  /** The terminal's shell was started in tmux there (it outlives a dropped connection). */
  keepsTerminal(terminalId: string): boolean;
  /** Terminals started in tmux whose shell still runs there (asks the environment). */
  keptTerminals(): Promise<string[]>;

  /** End connections and containers this environment started. */
  dispose(): Promise<void>;
}
