// Terminals that outlive their connection: where the environment has tmux (3.0 or
// later) and GNU tail, a terminal's shell runs in a named tmux session on a socket of
// Apollo's own (`tmux -L apollo`, started with no user config), so a dropped ssh
// connection or a sleeping laptop leaves its job running, and the next terminal with
// the same name re-attaches to it.
//
// tmux's own client is not used for output: it redraws the screen, drops what scrolls
// by between two refreshes and swallows the shell-integration marks, and the recording
// is the dataset. Instead `pipe-pane` appends the pane's raw output to a log in the
// environment, and the local terminal reads it with `tail -f` from the byte where the
// previous client stopped, so nothing the job printed while the connection was down is
// lost, marks included (a command that ended meanwhile ends in the recording too).
// Keys go in through a control-mode client (`tmux -C`, commands on its stdin):
// `send-keys -H` (bytes as they are), `refresh-client -C` (size), `kill-session`
// (closing the terminal ends the shell; only a lost connection leaves it running).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { IDisposable, IPty } from 'node-pty';
import { shq } from './posix';

/** Apollo's tmux server (`tmux -L apollo ls` on the host lists the sessions). */
export const TMUX_SOCKET = 'apollo';

/** Options of Apollo's tmux server: no status line, no prefix key, nothing between the keys and the shell. */
const SERVER_OPTIONS = [
  'status off', 'prefix None', 'prefix2 None', 'escape-time 0', 'exit-empty on', 'destroy-unattached off', 'window-size latest',
  'history-limit 2000', 'mouse off', 'set-clipboard off',
];

/** tmux session name of a terminal: tmux refuses "." and ":" in names, so other ids get a hash. */
export function tmuxSessionName(sessionId: string, terminalId: string): string {
  const safe = terminalId.replace(/[^A-Za-z0-9_-]/g, '_');
  const tail = safe === terminalId ? safe : `${safe}-${createHash('sha256').update(terminalId).digest('hex').slice(0, 6)}`;
  return `apollo-${sessionId.replace(/[^A-Za-z0-9_-]/g, '_')}-${tail}`;
}

/** Can terminals persist here? tmux 3.0+ (send-keys -H) and a tail with --pid (GNU). */
export function tmuxUsable(version: string, tailPid: boolean): boolean {
  const m = /(\d+)\.(\d+)/.exec(version);
  if (!m) return /^tmux (master|next)/.test(version) && tailPid;
  return Number(m[1]) >= 3 && tailPid;
}

export interface PersistPaths {
  /** tmux session name. */
  name: string;
  /** The pane's raw output, appended by pipe-pane. */
  log: string;
  /** The shell-integration nonce of the shell in the session (re-attached terminals reuse it). */
  nonceFile: string;
}

export function persistPaths(runDir: string, name: string): PersistPaths {
  return { name, log: `${runDir}/${name}.log`, nonceFile: `${runDir}/${name}.nonce` };
}

const tmux = `tmux -L ${TMUX_SOCKET}`;

/** How far back in a pane log the start script looks for the shell's last mark. */
const MARK_SCAN_BYTES = 4 * 1024 * 1024;

/** Lists the names of the sessions of Apollo's tmux server, one a line. */
export const TMUX_LIST = `${tmux} list-sessions -F '#{session_name}'`;

/**
 * Run in the environment before a terminal starts: re-attach when the tmux session is
 * there (prints `attach`, the nonce, the log's size, busy or idle), else start it
 * detached with the pane piped into the log before the shell prints anything (prints
 * `new` and the nonce). See parsePersistStart.
 * `launcher` is the shell's launcher script (removed when re-attaching).
 */
export function persistStartScript(p: PersistPaths, launcher: string, nonce: string, shell: string): string {
  const shellName = shell.replace(/^.*\//, '');
  const t = `=${p.name}:`;
  // The pane waits (at most ~5 s) until its output is piped, so the first prompt is in the log.
  // A tmux server outlives the connection that started it, and new panes get its
  // environment: this connection's (HOME, PATH, SSH_AUTH_SOCK...) is handed over instead.
  const envFile = `${p.log.replace(/\.log$/, '')}.env`;
  const wait = `. ${shq(envFile)}; rm -f -- ${shq(envFile)}; i=0; until [ "$(tmux display -p '#{pane_pipe}')" = 1 ] || [ $i -ge 250 ]; do i=$((i+1)); sleep 0.02; done; exec sh ${shq(launcher)}`;
  // tmux runs it with the user's shell: sh -c keeps the syntax POSIX.
  const pane = `sh -c ${shq(wait)}`;
  return [
    'umask 077',
    `if ${tmux} has-session -t ${shq(`=${p.name}`)} 2>/dev/null && [ -f ${shq(p.nonceFile)} ]; then`,
    `  rm -f -- ${shq(launcher)}`,
    // Busy or idle: the shell's own last mark in the log says it. The foreground program
    // is only a fallback: a loop of the shell's own (`while ...; do sleep 1; done`) has the
    // shell in front between two sleeps, and would read as idle.
    `  n=$(cat ${shq(p.nonceFile)}); e=$(printf '\\033')`,
    `  m=$(tail -c ${MARK_SCAN_BYTES} ${shq(p.log)} 2>/dev/null | LC_ALL=C grep -aoE "$e]133;(A|C|D;-?[0-9]*;apollo-nonce=$n)" 2>/dev/null | tail -n 1)`,
    `  case "$m" in`,
    `    *'133;C') s=busy ;;`,
    `    *'133;A'|*"nonce=$n") s=idle ;;`,
    `    *) c=$(${tmux} display -p -t ${shq(t)} '#{pane_current_command}' 2>/dev/null)`,
    `      s=idle; [ -n "$c" ] && [ "$c" != ${shq(shellName)} ] && s=busy ;;`,
    `  esac`,
    `  printf 'attach\\n%s\\n%s\\n%s\\n' "$n" "$(wc -c < ${shq(p.log)} 2>/dev/null | tr -d ' ' || echo 0)" "$s"`,
    '  exit 0',
    'fi',
    `printf '%s' ${shq(nonce)} > ${shq(p.nonceFile)} || exit 13`,
    `: > ${shq(p.log)} || exit 13`,
    `export -p > ${shq(envFile)} || exit 13`,
    `${tmux} -f /dev/null new-session -d -s ${shq(p.name)} -x 120 -y 30 ${shq(pane)} \\; ` +
      `pipe-pane -t ${shq(t)} -o ${shq(`exec cat >> ${shq(p.log)}`)} \\; ` +
      SERVER_OPTIONS.map((o) => `set-option -g ${o}`).join(' \\; ') +
      ' >/dev/null 2>&1 || exit 14',
    `printf 'new\\n%s\\n' ${shq(nonce)}`,
  ].join('\n');
}

/**
 * The terminal's end in the environment: a control client for the keys (its own output
 * thrown away) and `tail -f` of the log from byte `from` for the output; it ends when
 * the client does (the session ended, or the connection dropped), after tail has passed
 * on the last bytes.
 */
export function persistRelayScript(p: PersistPaths, from: number): string {
  return [
    'exec 3<&0',
    `${tmux} -C attach-session -t ${shq(`=${p.name}`)} <&3 >/dev/null 2>&1 &`,
    'c=$!',
    'exec 3<&-',
    `tail -c +${from + 1} --pid=$c -s 0.2 -f ${shq(p.log)} 2>/dev/null`,
    `${tmux} has-session -t ${shq(`=${p.name}`)} 2>/dev/null || rm -f -- ${shq(p.log)} ${shq(p.nonceFile)}`,
  ].join('\n');
}

/** What persistStartScript found. */
export type PersistStart =
  | { kind: 'new'; nonce: string }
  /** `busy`: a job holds the pane (its foreground program is not the shell). */
  | { kind: 'attach'; nonce: string; logBytes: number; busy: boolean };

export function parsePersistStart(out: string): PersistStart | null {
  const [kind, nonce, size, state] = out.split('\n');
  if (!nonce || !/^[0-9a-f]+$/.test(nonce)) return null;
  if (kind === 'new') return { kind, nonce };
  if (kind === 'attach') return { kind, nonce, logBytes: Number(size) || 0, busy: state === 'busy' };
  return null;
}

/**
 * The mark a re-attached terminal starts with: what the shell is doing now, since its
 * own marks of that went to an earlier client. A job still running reads as a command
 * (133;C) until its end mark arrives through the log; an idle shell as a prompt.
 */
export function reattachMark(busy: boolean): Buffer {
  return Buffer.from(busy ? '\x1b]133;C\x07' : '\x1b]133;A\x07\x1b]133;B\x07', 'latin1');
}

/** A control-mode command line that types `bytes` into the pane (as they are). */
export function sendKeysCommands(name: string, bytes: Buffer): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 512) {
    const hex = [...bytes.subarray(i, i + 512)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    // tmux's command language takes POSIX single quoting as it is.
    lines.push(`send-keys -t ${shq(`=${name}:`)} -H ${hex}\n`);
  }
  return lines.join('');
}

export interface RelayOptions {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  cols: number;
  rows: number;
  name: string;
  /** Output to start with, before the log's (see reattachMark). */
  preamble?: Buffer;
  /** Bytes of the pane log passed on so far (where a re-attached terminal goes on from). */
  delivered: (bytes: number) => void;
}

/**
 * node-pty's IPty over the relay (the engine's client with pipes: `ssh -T`, `docker exec
 * -i`), so PtyTerminal drives a persistent terminal as it drives any other.
 */
export class TmuxRelayPty implements IPty {
  readonly pid: number;
  cols: number;
  rows: number;
  readonly process: string;
  handleFlowControl = false;
  private readonly child: ChildProcess;
  private readonly dataListeners = new Set<(d: string) => void>();
  private readonly exitListeners = new Set<(e: { exitCode: number; signal?: number }) => void>();
  private ended = false;
  private closing = false;

  constructor(private readonly o: RelayOptions) {
    this.cols = o.cols;
    this.rows = o.rows;
    this.process = o.file;
    this.child = spawn(o.file, o.args, { env: o.env, cwd: o.cwd, stdio: ['pipe', 'pipe', 'ignore'] });
    this.pid = this.child.pid ?? -1;
    let delivered = 0;
    this.child.stdout!.on('data', (b: Buffer) => {
      delivered += b.length;
      o.delivered(delivered);
      // PtyTerminal takes Buffers when spawned with `encoding: null`, as here.
      for (const l of this.dataListeners) l(b as unknown as string);
    });
    this.child.stdin!.on('error', () => undefined); // the connection went: the exit says so
    const exit = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (this.ended) return;
      this.ended = true;
      const e = { exitCode: code ?? (signal ? 128 : 1), ...(signal ? { signal: signalNumber(signal) } : {}) };
      // After the last output: stdout may still hold bytes when the process is reported gone.
      const fire = (): void => {
        for (const l of this.exitListeners) l(e);
      };
      if (this.child.stdout!.readableEnded) fire();
      else this.child.stdout!.once('end', fire).once('close', fire);
    };
    this.child.once('exit', exit);
    this.child.once('error', () => exit(127, null));
    this.command(`refresh-client -C ${o.cols}x${o.rows}\n`);
    // PtyTerminal subscribes right after construction.
    if (o.preamble) {
      const p = o.preamble;
      setImmediate(() => {
        for (const l of this.dataListeners) l(p as unknown as string);
      });
    }
  }

  private command(line: string): void {
    if (this.ended || this.child.stdin!.destroyed) return;
    this.child.stdin!.write(line);
  }

  get onData(): IPty['onData'] {
    return (listener: (d: string) => void): IDisposable => {
      this.dataListeners.add(listener);
      return { dispose: () => this.dataListeners.delete(listener) };
    };
  }

  get onExit(): IPty['onExit'] {
    return (listener: (e: { exitCode: number; signal?: number }) => void): IDisposable => {
      this.exitListeners.add(listener);
      return { dispose: () => this.exitListeners.delete(listener) };
    };
  }

  write(data: string | Buffer): void {
    this.command(sendKeysCommands(this.o.name, Buffer.isBuffer(data) ? data : Buffer.from(data, 'utf8')));
  }

  resize(cols: number, rows: number): void {
    this.cols = cols;
    this.rows = rows;
    this.command(`refresh-client -C ${cols}x${rows}\n`);
  }

  clear(): void {
    // nothing: tmux keeps no client-side scrollback here
  }

  /** The first kill ends the shell (kill-session); a later one (or SIGKILL) ends the client. */
  kill(signal?: string): void {
    if (!this.closing && signal !== 'SIGKILL') {
      this.closing = true;
      this.command(`kill-session -t ${shq(`=${this.o.name}`)}\n`);
      return;
    }
    this.child.kill(signal === 'SIGKILL' ? 'SIGKILL' : 'SIGTERM');
  }

  pause(): void {
    this.child.stdout!.pause();
  }

  resume(): void {
    this.child.stdout!.resume();
  }
}

function signalNumber(s: NodeJS.Signals): number {
  return ({ SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 } as Partial<Record<NodeJS.Signals, number>>)[s] ?? 15;
}
