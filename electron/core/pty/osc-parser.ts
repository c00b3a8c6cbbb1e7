// Byte-level scanner for OSC sequences (ESC ] ... BEL | ESC \) in raw pty output.
// It keeps its state between chunks, so a sequence split anywhere across reads is
// still found, and it reports each sequence's absolute byte range in the recording.
// The bytes themselves are left untouched in the stream (xterm ignores these marks).

const ESC = 0x1b;
const BEL = 0x07;
const CAN = 0x18;
const SUB = 0x1a;
const RBRACKET = 0x5d; // ]
const BACKSLASH = 0x5c; // \

/** Payloads longer than this are dropped (they are not ours: images, hyperlinks...). */
const MAX_PAYLOAD = 4096;
/**
 * Our own reports may be longer: the environment (OSC 1337;ApolloEnv, long PATHs) and
 * the command line (OSC 133;E, a pasted script). See toShellMark.
 */
const LONG_PREFIXES = [Buffer.from('1337;ApolloEnv'), Buffer.from('133;E;')];
const MAX_LONG_PAYLOAD = 64 * 1024;

export interface OscSequence {
  /** Payload between `ESC ]` and the terminator, e.g. "133;D;0" or "7;file://h/tmp". */
  data: string;
  /** Absolute offset of the introducing ESC. */
  start: number;
  /** Absolute offset just after the terminator. */
  end: number;
}

const State = { Ground: 0, Esc: 1, Osc: 2, OscEsc: 3 } as const;
type State = (typeof State)[keyof typeof State];

export class OscParser {
  private state: State = State.Ground;
  private seqStart = 0;
  private payload: number[] = [];
  private overflow = false;

  /** Scan `chunk`, whose first byte sits at absolute offset `base`. */
  feed(chunk: Uint8Array, base: number): OscSequence[] {
    const out: OscSequence[] = [];
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case State.Ground: {
          const j = chunk.indexOf(ESC, i);
          if (j < 0) return out;
          this.seqStart = base + j;
          this.state = State.Esc;
          i = j + 1;
          break;
        }
        case State.Esc: {
          const b = chunk[i]!;
          if (b === RBRACKET) {
            this.state = State.Osc;
            this.payload = [];
            this.overflow = false;
            i++;
          } else if (b === ESC) {
            this.seqStart = base + i;
            i++;
          } else {
            this.state = State.Ground;
            i++;
          }
          break;
        }
        case State.Osc: {
          // Fast path: copy payload bytes up to the next control byte of interest.
          let j = i;
          while (j < n) {
            const b = chunk[j]!;
            if (b === BEL || b === ESC || b === CAN || b === SUB) break;
            j++;
          }
          if (!this.overflow) {
            if (this.payload.length + (j - i) > this.limit(chunk, i, j)) {
              this.overflow = true;
              this.payload = [];
            } else {
              for (let k = i; k < j; k++) this.payload.push(chunk[k]!);
            }
          }
          if (j >= n) return out;
          const b = chunk[j]!;
          if (b === BEL) {
            this.emit(out, base + j + 1);
            this.state = State.Ground;
          } else if (b === ESC) {
            this.state = State.OscEsc;
          } else {
            // CAN / SUB abort the sequence.
            this.state = State.Ground;
          }
          i = j + 1;
          break;
        }
        case State.OscEsc: {
          const b = chunk[i]!;
          if (b === BACKSLASH) {
            this.emit(out, base + i + 1);
            this.state = State.Ground;
            i++;
          } else {
            // ESC followed by anything else aborts the OSC and starts a new escape
            // sequence at that ESC (as xterm does).
            this.seqStart = base + i - 1;
            this.state = State.Esc;
          }
          break;
        }
      }
    }
    return out;
  }

  /** The payload cap: larger for our own long reports, recognised by their prefix. */
  private limit(chunk: Uint8Array, i: number, j: number): number {
    const at = (k: number) => (k < this.payload.length ? this.payload[k] : i + k - this.payload.length < j ? chunk[i + k - this.payload.length] : undefined);
    for (const prefix of LONG_PREFIXES) {
      let k = 0;
      while (k < prefix.length && at(k) === prefix[k]) k++;
      if (k === prefix.length) return MAX_LONG_PAYLOAD;
    }
    return MAX_PAYLOAD;
  }

  private emit(out: OscSequence[], end: number): void {
    if (!this.overflow) out.push({ data: Buffer.from(this.payload).toString('utf8'), start: this.seqStart, end });
    this.payload = [];
    this.overflow = false;
  }
}

export type ShellMark =
  | { kind: 'promptStart'; start: number; end: number }
  | { kind: 'promptEnd'; start: number; end: number }
  | { kind: 'commandStart'; start: number; end: number }
  | { kind: 'commandEnd'; start: number; end: number; exitCode: number | null; nonce?: string }
  /** The command line the shell is about to run (sent right before C). */
  | { kind: 'commandLine'; start: number; end: number; command: string; nonce?: string }
  | { kind: 'cwd'; start: number; end: number; cwd: string }
  | { kind: 'env'; start: number; end: number; env: Record<string, string>; nonce?: string };

/** Field carrying the terminal's secret in Apollo's own marks (not a valid variable name, so never a variable). */
const NONCE_FIELD = 'apollo-nonce=';

/** Variables the shell integration reports by default (more: names in $APOLLO_ENV_VARS). */
export const ENV_DEFAULT_VARS = ['PATH', 'VIRTUAL_ENV', 'CONDA_PREFIX', 'CONDA_DEFAULT_ENV', 'PYTHONPATH'] as const;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Names that look like they hold secrets are never kept, even when asked for. */
export const SECRET_NAME = /KEY|TOKEN|SECRET|PASSW|CREDENTIAL|PRIVATE|AUTH|COOKIE/i;

/** A variable name the environment report may carry. */
export function isReportableEnvName(name: string): boolean {
  return ENV_NAME.test(name) && !SECRET_NAME.test(name);
}

/**
 * Interpret an OSC sequence as a shell-integration mark (OSC 133 A-E, OSC 7, and
 * Apollo's environment report `OSC 1337;ApolloEnv;NAME=<percent-encoded>;...`, the
 * full set of reported variables that are set).
 */
export function toShellMark(seq: OscSequence): ShellMark | null {
  const { data, start, end } = seq;
  if (data === '1337;ApolloEnv' || data.startsWith('1337;ApolloEnv;')) {
    const env: Record<string, string> = {};
    let nonce: string | undefined;
    for (const field of data.slice('1337;ApolloEnv;'.length).split(';')) {
      if (field.startsWith(NONCE_FIELD)) {
        nonce = field.slice(NONCE_FIELD.length);
        continue;
      }
      const eq = field.indexOf('=');
      if (eq <= 0) continue;
      const name = field.slice(0, eq);
      if (!isReportableEnvName(name)) continue;
      env[name] = percentDecode(field.slice(eq + 1));
    }
    return nonce === undefined ? { kind: 'env', start, end, env } : { kind: 'env', start, end, env, nonce };
  }
  if (data.startsWith('133;')) {
    const parts = data.slice(4).split(';');
    switch (parts[0]) {
      case 'A':
        return { kind: 'promptStart', start, end };
      case 'B':
        return { kind: 'promptEnd', start, end };
      case 'C':
        return { kind: 'commandStart', start, end };
      case 'E': {
        // 133;E;<percent-encoded command line>;apollo-nonce=<n>
        const command = parts[1] === undefined ? '' : percentDecode(parts[1]);
        const nonce = parts.slice(2).find((p) => p.startsWith(NONCE_FIELD))?.slice(NONCE_FIELD.length);
        return nonce === undefined ? { kind: 'commandLine', start, end, command } : { kind: 'commandLine', start, end, command, nonce };
      }
      case 'D': {
        const code = parts[1] !== undefined && /^-?\d+$/.test(parts[1]) ? Number(parts[1]) : null;
        const nonce = parts.find((p) => p.startsWith(NONCE_FIELD))?.slice(NONCE_FIELD.length);
        return nonce === undefined ? { kind: 'commandEnd', start, end, exitCode: code } : { kind: 'commandEnd', start, end, exitCode: code, nonce };
      }
      default:
        return null;
    }
  }
  if (data.startsWith('7;')) {
    const cwd = parseFileUrl(data.slice(2));
    return cwd === null ? null : { kind: 'cwd', start, end, cwd };
  }
  return null;
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    // Not UTF-8 once decoded: keep the bytes as Latin-1 rather than lose the value.
    return s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  }
}

/** `file://host/some%20path` → `/some path`; null when not a file URL. */
export function parseFileUrl(url: string): string | null {
  const m = /^file:\/\/[^/]*(\/.*)$/.exec(url);
  if (!m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return m[1]!;
  }
}
