// Small POSIX sh building blocks for environments reached through an engine: every
// remote operation is one `sh -c` script (file reads and writes go over the command's
// stdin/stdout), so the scripts must work with any sh (dash, busybox, bash) and
// quote every value they embed.
import { posix } from 'node:path';

/** Single-quote for sh: safe for any bytes but NUL (paths may be latin1 "raw" strings). */
export function shq(s: string): string {
  if (s.includes('\0')) throw new Error('a NUL byte cannot be passed to a shell');
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `~`, `~/x`, absolute or relative (to `base`) POSIX paths, normalized. */
export function resolvePosix(home: string, base: string, p: string): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return posix.join(home, p.slice(2));
  if (p.startsWith('/')) return posix.normalize(p);
  const b = base === '~' ? home : base.startsWith('~/') ? posix.join(home, base.slice(2)) : base;
  return posix.resolve(b, p);
}

/** An errno-like error (the tools turn ENOENT/EACCES into their usual messages). */
export function fsError(code: string, path: string, message: string): NodeJS.ErrnoException {
  const e = new Error(`${code}: ${message}, '${path}'`) as NodeJS.ErrnoException;
  e.code = code;
  e.path = path;
  return e;
}

/** Exit codes the file scripts below use for errno values. */
export const EXIT_ERRNO: Record<number, string> = { 2: 'ENOENT', 13: 'EACCES', 20: 'ENOTDIR', 21: 'EISDIR', 27: 'EFBIG' };

/**
 * Prints `kind size` of a path with symlinks followed (kind: file, dir, other); exit 2
 * when nothing is there. The size of an unreadable file comes from `ls -ln`.
 */
export function statScript(path: string): string {
  return [
    `p=${shq(path)}`,
    `if [ -d "$p" ]; then printf 'dir 0'`,
    `elif [ -f "$p" ]; then`,
    `  if [ -r "$p" ]; then s=$(wc -c < "$p"); else s=$(ls -lnd -- "$p" | awk '{print $5}'); fi`,
    `  printf 'file %s' "$(printf '%s' "$s" | tr -d ' ')"`,
    `elif [ -e "$p" ]; then printf 'other 0'`,
    `else exit 2; fi`,
  ].join('\n');
}

export function readScript(path: string): string {
  return [
    `p=${shq(path)}`,
    `[ -e "$p" ] || exit 2`,
    `[ -d "$p" ] && exit 21`,
    `[ -r "$p" ] || exit 13`,
    `exec cat -- "$p"`,
  ].join('\n');
}

/** Write stdin to a file, creating its folder; prints 1 when a file was replaced, else 0. */
export function writeScript(path: string): string {
  return [
    `p=${shq(path)}`,
    `d=$(dirname -- "$p")`,
    `if [ -e "$d" ] && [ ! -d "$d" ]; then exit 20; fi`,
    `mkdir -p -- "$d" 2>/dev/null || exit 13`,
    `[ -d "$p" ] && exit 21`,
    `if [ -f "$p" ]; then e=1; else e=0; fi`,
    `cat > "$p" 2>/dev/null || exit 13`,
    `printf '%s' "$e"`,
  ].join('\n');
}

/**
 * The entries of a folder as `kind size\0name\0` records (kind: d dir, l link, f
 * file, o other; size '-' when unknown). Sizes of the readable regular files come from
 * one `wc -c` over all of them (in argument order), not one process per file.
 */
export function listScript(dir: string): string {
  return [
    `d=${shq(dir)}`,
    `[ -e "$d" ] || exit 2`,
    `[ -d "$d" ] || exit 20`,
    `cd -- "$d" 2>/dev/null || exit 13`,
    `nl='`,
    `'`,
    `set --`,
    `for f in * .[!.]* ..?*; do`,
    `  [ -e "$f" ] || [ -L "$f" ] || continue`,
    `  if [ -L "$f" ]; then k=l; elif [ -d "$f" ]; then k=d; elif [ -f "$f" ]; then k=f; else k=o; fi`,
    // A name with a newline would break wc's one-line-per-file output: its size is read alone.
    `  s=-`,
    `  if [ "$k" != d ] && [ -f "$f" ] && [ -r "$f" ]; then`,
    `    case $f in *"$nl"*) s=$(wc -c < "$f" | tr -d ' ') ;; *) s=+; set -- "$@" "./$f" ;; esac`,
    `  fi`,
    `  printf '%s %s\\0%s\\0' "$k" "$s" "$f"`,
    `done`,
    `printf 'SIZES\\0'`,
    `if [ $# -gt 0 ]; then wc -c -- "$@" 2>/dev/null | awk '{print $1}'; fi`,
  ].join('\n');
}

export interface ListRecord {
  name: string;
  kind: 'file' | 'dir' | 'link' | 'other';
  size: number | null;
}

/** Parse listScript's output. */
export function parseList(out: Buffer): ListRecord[] {
  const text = out.toString('utf8');
  const marker = text.lastIndexOf('SIZES\0');
  const recs = (marker >= 0 ? text.slice(0, marker) : text).split('\0');
  const sizes = (marker >= 0 ? text.slice(marker + 6) : '').split('\n').filter((l) => /^\d+$/.test(l.trim())).map(Number);
  const out2: ListRecord[] = [];
  let next = 0;
  for (let i = 0; i + 1 < recs.length; i += 2) {
    const [k, s] = (recs[i] ?? '').split(' ');
    const name = recs[i + 1] ?? '';
    const kind = k === 'd' ? 'dir' : k === 'l' ? 'link' : k === 'f' ? 'file' : 'other';
    let size: number | null = null;
    if (s === '+') size = sizes[next++] ?? null;
    else if (s && /^\d+$/.test(s)) size = Number(s);
    out2.push({ name, kind, size });
  }
  return out2;
}

/** Fixed-string search under a folder: `path:line:text` lines of text files, at most `max`. */
export function searchScript(dir: string, text: string, max: number): string {
  return [
    `d=${shq(dir)}`,
    `[ -d "$d" ] || exit 2`,
    `cd -- "$d" || exit 13`,
    `grep -rnIF -e ${shq(text)} -- . 2>/dev/null | head -n ${Math.max(1, Math.floor(max))}`,
    `exit 0`,
  ].join('\n');
}

/** Parse grep -rn output (`./path:line:text`). */
export function parseSearch(out: Buffer): Array<{ path: string; line: number; text: string }> {
  const hits: Array<{ path: string; line: number; text: string }> = [];
  for (const l of out.toString('utf8').split('\n')) {
    const m = /^(.*?):(\d+):(.*)$/.exec(l);
    if (!m) continue;
    hits.push({ path: (m[1] ?? '').replace(/^\.\//, ''), line: Number(m[2]), text: m[3] ?? '' });
  }
  return hits;
}

/** Facts about the environment, one `key=value` line each (see parseProbe). */
export const PROBE_SCRIPT = [
  `printf 'system=%s\\n' "$(uname -sm 2>/dev/null)"`,
  `printf 'home=%s\\n' "\${HOME-}"`,
  `s=\${SHELL-}`,
  `if [ -z "$s" ] && command -v getent >/dev/null 2>&1; then s=$(getent passwd "$(id -un 2>/dev/null)" 2>/dev/null | cut -d: -f7); fi`,
  `printf 'shell=%s\\n' "$s"`,
  `printf 'bash=%s\\n' "$(command -v bash 2>/dev/null)"`,
  `printf 'zsh=%s\\n' "$(command -v zsh 2>/dev/null)"`,
  `printf 'git=%s\\n' "$(git --version 2>/dev/null)"`,
  `printf 'tmux=%s\\n' "$(command -v tmux 2>/dev/null)"`,
  `printf 'tmuxv=%s\\n' "$(tmux -V 2>/dev/null)"`,
  // GNU tail's --pid: a persistent terminal's output ends when its tmux client does (see tmux.ts).
  `printf 'tailpid=%s\\n' "$(tail --pid=1 -c 0 /dev/null >/dev/null 2>&1 && echo 1)"`,
  `printf 'user=%s\\n' "$(id -un 2>/dev/null)"`,
].join('\n');

export interface Probe {
  system: string;
  home: string;
  shell: string;
  bash: string;
  zsh: string;
  git: string;
  tmux: string;
  /** `tmux -V`. */
  tmuxv: string;
  /** '1' when tail has --pid. */
  tailpid: string;
  user: string;
}

export function parseProbe(out: string): Probe {
  const p: Probe = { system: '', home: '', shell: '', bash: '', zsh: '', git: '', tmux: '', tmuxv: '', tailpid: '', user: '' };
  for (const line of out.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    const k = line.slice(0, i) as keyof Probe;
    if (k in p) p[k] = line.slice(i + 1).trim();
  }
  return p;
}

/** Write stdin to a temporary file and run it with sh: scripts of any size and bytes, without argv limits. */
export const RUN_STDIN_SCRIPT = [
  `t=$(mktemp 2>/dev/null || { t=\${TMPDIR:-/tmp}/apollo.$$; (umask 077; : > "$t") && printf '%s' "$t"; })`,
  `[ -n "$t" ] || exit 125`,
  `cat > "$t" || { rm -f "$t"; exit 125; }`,
  `sh "$t" < /dev/null`,
  `r=$?`,
  `rm -f "$t"`,
  `exit $r`,
].join('\n');

/**
 * The child processes of the shell whose pid `pidExpr` (sh text) yields, one
 * `pid stat args` line each (pgrep and ps as procps and busybox both have them).
 */
export function childProcessesScript(pidExpr: string): string {
  return [
    `p=${pidExpr}`,
    '[ -n "$p" ] || exit 0',
    'k=$(pgrep -P "$p" 2>/dev/null | tr \'\\n\' , | sed \'s/,$//\')',
    '[ -n "$k" ] || exit 0',
    'ps -o pid=,stat=,args= -p "$k" 2>/dev/null',
    'exit 0',
  ].join('\n');
}

/** The lines of childProcessesScript, as check_session_idle says them. */
export function parseProcesses(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const m = /^(\d+)\s+(\S+)\s+(.*)$/.exec(l);
      return m ? `Process ${m[1]} is in ${m[2]} status, running command \`${m[3]}\`` : l;
    });
}
