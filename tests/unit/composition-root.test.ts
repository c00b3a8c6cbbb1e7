// One composition root: the hosts, the CLI, the bench and the scripts all drive the
// core that electron/core/app.ts builds (lock, key-free terminal environment,
// rollouts, control), never a hand-made one; nothing edits this process's
// environment to hide keys (the core's withoutKeys does, per terminal); the agent's
// tool schemas are declared once, in shared/tools.ts.
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { takeKey } from '../../electron/cli/branch';
import { withoutKeys } from '../../electron/core/profiles';

const ROOT = resolve(__dirname, '../..');

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const p = join(ROOT, dir, name);
    if (statSync(p).isDirectory()) out.push(...files(relative(ROOT, p)));
    else if (/\.(ts|tsx|mjs)$/.test(name)) out.push(relative(ROOT, p));
  }
  return out;
}

const source = [...files('electron'), ...files('scripts'), ...files('shared'), ...files('renderer/src')];
const text = (f: string) => readFileSync(join(ROOT, f), 'utf8');

describe('one composition root', () => {
  it('only electron/core/app.ts builds the terminal host, the rollout and control managers, and takes the lock', () => {
    const offenders = source.filter((f) => f !== 'electron/core/app.ts' && f !== 'electron/core/store/lock.ts' && /new (PtyHost|RolloutManager|ControlManager)\(|acquireWorkspaceLock\(/.test(text(f)));
    expect(offenders).toEqual([]);
  });

  it('commands, hosts and scripts open a workspace only through the core, or read-only', () => {
    const roots = source.filter((f) => /^(electron\/(cli|main|web|bench)|scripts)\//.test(f));
    const offenders = roots.filter((f) => [...text(f).matchAll(/Workspace\.open\([^;]*;/g)].some((m) => !/readOnly: true/.test(m[0])));
    expect(offenders).toEqual([]);
  });

  it('never edits process.env to keep keys out of terminals', () => {
    // Product code only: a script may set up a hermetic environment for what it records.
    const offenders = source.filter((f) => f.startsWith('electron/') && /delete process\.env|process\.env(\.[A-Za-z_]+|\[[^\]]+\])\s*=(?!=)/.test(text(f)));
    expect(offenders).toEqual([]);
    const before = { ...process.env };
    process.env.APOLLO_TEST_KEY_VAR = 'sk-test-not-a-real-key';
    try {
      expect(takeKey('APOLLO_TEST_KEY_VAR')).toBe('sk-test-not-a-real-key');
      // Still there: the core strips it from each terminal's environment instead.
      expect(process.env.APOLLO_TEST_KEY_VAR).toBe('sk-test-not-a-real-key');
      expect(withoutKeys(process.env, ['APOLLO_TEST_KEY_VAR']).APOLLO_TEST_KEY_VAR).toBeUndefined();
    } finally {
      delete process.env.APOLLO_TEST_KEY_VAR;
    }
    expect(process.env).toEqual(before);
  });

  it('declares the agent tools once (shared/tools.ts); every OpenAI tool schema is derived from it', () => {
    const toolNames = ['run_command', 'create_session', 'get_session_output', 'check_session_idle', 'input_in_session', 'kill_session_processes'];
    const declares = (t: string) => toolNames.some((n) => new RegExp(`name:\\s*['"]${n}['"][\\s\\S]{0,400}?parameters\\s*:`).test(t));
    expect(source.filter((f) => f !== 'shared/tools.ts' && declares(text(f)))).toEqual([]);
    expect(source.filter((f) => /export const TOOL_SCHEMAS\b/.test(text(f)))).toEqual(['electron/core/rollout/tools.ts']);
    // The recorded tool call ({id, name, arguments}) has one zod schema too: shared/events.ts.
    const callShape = /z\.(?:loose)?[oO]bject\(\{\s*id: z\.string\(\),\s*name: z\.string\(\),\s*arguments: z\.string\(\)/;
    expect(source.filter((f) => callShape.test(text(f)))).toEqual([]);
  });
});
