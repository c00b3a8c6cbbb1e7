// What to spawn for a terminal spec: the executable, its arguments, its environment
// and whether shell integration (OSC 133 / OSC 7 marks) is injected.
import { access, constants, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, delimiter, isAbsolute, join, resolve } from 'node:path';
import { ApolloError } from '../../../shared/errors';
import type { TerminalSpec } from '../../../shared/types';

export interface LaunchPlan {
  /** Absolute path of the executable. */
  file: string;
  /** The command as the user gave it (or the shell), for display and events. */
  command: string;
  args: string[];
  env: Record<string, string>;
  /** Shell integration scripts were injected. */
  integrated: boolean;
  /**
   * Secret the injected integration puts in its command-end and environment marks.
   * Output that merely contains such marks (a `cat` of a recording, a nested shell,
   * a downloaded file) cannot then fake a command's end, its exit code, or the
   * environment a rewind restores.
   */
  markNonce?: string;
}

export interface PlanOptions {
  spec: TerminalSpec;
  /** Folder in the environment (resolved). */
  cwd: string;
  /** Environment of this process for the new terminal (keys already removed). */
  env: NodeJS.ProcessEnv;
  resourcesDir: string;
  /** Inject shell integration into bash/zsh (default true). */
  shellIntegration: boolean;
  sessionId: string;
  /** Variables to set (null: unset) in the new terminal; see CreateSpec.env. */
  restoreEnv?: Record<string, string | null>;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Apply `restore` to `env`, and pass the names (APOLLO_RESTORE_VARS) and values
 * (APOLLO_RESTORE_ENV_<NAME>; absent = unset) on to the shell integration, which
 * re-applies them after the user's startup files and removes these helpers.
 */
function applyRestore(env: Record<string, string>, restore: Record<string, string | null> | undefined): void {
  if (!restore) return;
  const names: string[] = [];
  for (const [name, value] of Object.entries(restore)) {
    if (!ENV_NAME.test(name) || name.startsWith('APOLLO_RESTORE_')) {
      throw new ApolloError('BAD_REQUEST', `Invalid environment variable name "${name.slice(0, 80)}"`);
    }
    if (value === null) delete env[name];
    else env[name] = value;
    names.push(name);
    if (value !== null) env[`APOLLO_RESTORE_ENV_${name}`] = value;
  }
  if (names.length) env.APOLLO_RESTORE_VARS = names.join(' ');
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const s = await stat(path);
    if (!s.isFile()) return false;
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Find `command` the way execvp would, with a message a person can act on. */
export async function resolveExecutable(command: string, cwd: string, path: string | undefined): Promise<string> {
  if (command.includes('/')) {
    const full = isAbsolute(command) ? command : resolve(cwd, command);
    if (await isExecutableFile(full)) return full;
    const exists = await stat(full).then((s) => (s.isDirectory() ? 'dir' : 'file'), () => null);
    throw new ApolloError(
      'SPAWN_FAILED',
      exists === null ? `Cannot start "${command}": no such file.` : exists === 'dir' ? `Cannot start "${command}": it is a folder.` : `Cannot start "${command}": the file is not executable.`,
    );
  }
  for (const dir of (path ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const full = join(isAbsolute(dir) ? dir : resolve(cwd, dir), command);
    if (await isExecutableFile(full)) return full;
  }
  const hint = /\s/.test(command) ? ' Give the program as the command and its arguments separately (e.g. command "ssh", args ["gpu-box"]).' : '';
  throw new ApolloError('SPAWN_FAILED', `Cannot start "${command}": command not found on PATH.${hint}`);
}

export async function checkCwd(cwd: string): Promise<void> {
  const ok = await stat(cwd).then((s) => s.isDirectory(), () => false);
  if (!ok) throw new ApolloError('SPAWN_FAILED', `Cannot start the terminal: working folder "${cwd}" does not exist.`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** The user's login shell, else bash, else sh. */
async function defaultShell(env: NodeJS.ProcessEnv): Promise<string> {
  for (const s of [env.SHELL, '/bin/bash', '/usr/bin/bash', '/bin/sh']) {
    if (s && isAbsolute(s) && (await isExecutableFile(s))) return s;
  }
  return '/bin/sh';
}

function baseEnv(env: NodeJS.ProcessEnv, sessionId: string, terminalId: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  // Set by Electron for its own processes; would break Electron/Node apps run inside.
  delete out.ELECTRON_RUN_AS_NODE;
  delete out.ELECTRON_NO_ATTACH_CONSOLE;
  delete out.APOLLO_SHELL_LOGIN;
  delete out.APOLLO_MARK_NONCE;
  delete out.APOLLO_RESTORE_VARS;
  for (const k of Object.keys(out)) if (k.startsWith('APOLLO_RESTORE_ENV_')) delete out[k];
  out.TERM = 'xterm-256color';
  out.COLORTERM = 'truecolor';
  out.TERM_PROGRAM = 'apollo';
  out.APOLLO_SESSION_ID = sessionId;
  out.APOLLO_TERMINAL_ID = terminalId;
  return out;
}

function newNonce(): string {
  return randomBytes(12).toString('hex');
}

export async function planLaunch(o: PlanOptions): Promise<LaunchPlan> {
  const env = baseEnv(o.env, o.sessionId, o.spec.id);
  applyRestore(env, o.restoreEnv);
  const given = o.spec.command?.trim() ?? '';
  const isDefaultShell = given === '';
  const command = isDefaultShell ? await defaultShell(o.env) : given;
  const file = await resolveExecutable(command, o.cwd, env.PATH);
  const userArgs = o.spec.args ?? [];
  const name = basename(file);
  // Integration only when we choose the arguments: the default shell, or a bare `bash`/`zsh`.
  const mayInject = o.shellIntegration && userArgs.length === 0;
  const integrationDir = join(o.resourcesDir, 'shell-integration');

  if (mayInject && name === 'bash') {
    const rc = join(integrationDir, 'bash', 'apollo.bash');
    if (await exists(rc)) {
      if (isDefaultShell) env.APOLLO_SHELL_LOGIN = '1';
      const markNonce = (env.APOLLO_MARK_NONCE = newNonce());
      // --rcfile only applies to non-login shells; the script emulates a login shell.
      return { file, command, args: ['--rcfile', rc, '-i'], env, integrated: true, markNonce };
    }
  }
  if (mayInject && name === 'zsh') {
    const zdot = join(integrationDir, 'zsh');
    if (await exists(join(zdot, '.zshrc'))) {
      env.APOLLO_USER_ZDOTDIR = env.ZDOTDIR || env.HOME || '';
      env.ZDOTDIR = zdot;
      const markNonce = (env.APOLLO_MARK_NONCE = newNonce());
      return { file, command, args: isDefaultShell ? ['-l', '-i'] : ['-i'], env, integrated: true, markNonce };
    }
  }
  const args = isDefaultShell ? ['-l'] : userArgs;
  // No integration to re-apply a restored environment: the values set above stay, the helpers go.
  delete env.APOLLO_RESTORE_VARS;
  for (const k of Object.keys(env)) if (k.startsWith('APOLLO_RESTORE_ENV_')) delete env[k];
  return { file, command, args, env, integrated: false };
}
