// After Ctrl-C the command-end mark (D) arrives before the shell has redrawn its
// prompt and reads keys again; keys sent in between can lose their first character
// (bash's readline over ssh did, see env-ssh.test.ts). promptReady waits for the
// prompt-end mark (B) of a prompt drawn after a given offset, and
// kill_session_processes returns only once that prompt is there.
// A command typed ahead (run_command without waiting) is let start before Ctrl-C: bash
// prints C before it forks the job, and a Ctrl-C that reaches bash before the job holds
// the terminal is lost to the job, which ran on while the session was reported idle
// (and no prompt came: this file's second case failed so under load).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TOOL_OPTIONS, executeTool, type ToolContext } from '../../electron/core/rollout/tools';
import { ptyWorkspace } from '../fixtures/shell-home';

// A prompt that takes a while to draw once the file `slow` exists: between D and B.
const fx = ptyWorkspace('apollo-prompt-ready-', {
  '.bashrc': 'PS1="ready$ "\nPROMPT_COMMAND=\'[ -f "$HOME/slow" ] && sleep 1.5\'\n',
  '.profile': '. "$HOME/.bashrc"\n',
});

async function setup() {
  const cwd = await mkdtemp(join(fx.root, 'work-'));
  const session = await fx.ws.create({ cwd });
  const host = fx.host({ events: { data: () => undefined, changed: () => undefined }, env: { ...process.env, HOME: fx.userHome, SHELL: '/bin/bash' } });
  return { cwd, session, host };
}

describe('waiting for the prompt after an interrupt', () => {
  it('promptReady resolves at the prompt-end mark after the offset, not at the command end', async () => {
    const { session, host } = await setup();
    const t = await host.create(session, { id: 'main' });
    const r = await t.runCommand('true', { wait: true, timeoutMs: 10_000 });
    // The command ends (D) before the next prompt is drawn (B).
    expect(await t.promptReady(r.range[1], 10_000)).toBe(true);
    await writeFile(join(fx.userHome, 'slow'), '');
    try {
      await t.runCommand('sleep 30', { wait: false, timeoutMs: 0 });
      const before = t.recordedBytes();
      expect(await t.promptReady(before, 200)).toBe(false); // still running: no new prompt
      await t.interrupt();
      const idleBy = Date.now() + 5_000;
      while (!t.isIdle() && Date.now() < idleBy) await new Promise((r) => setTimeout(r, 20));
      expect(t.isIdle()).toBe(true);
      // Idle already (D was seen), but the prompt is still being drawn.
      expect(await t.readText(before)).not.toContain('ready$');
      expect(await t.promptReady(before, 10_000)).toBe(true);
      expect(await t.readText(before)).toContain('ready$');
    } finally {
      await rm(join(fx.userHome, 'slow'), { force: true });
    }
  });

  it('kill_session_processes returns once the shell reads input again', async () => {
    const { cwd, session, host } = await setup();
    const ctx: ToolContext = { session, pty: host, cwd, options: { ...DEFAULT_TOOL_OPTIONS, settleMs: 300 } };
    await executeTool('create_session', { session_id: 'main' }, ctx);
    await executeTool('run_command', { session_id: 'main', command: 'sleep 30', wait_for_completion: false }, ctx);
    await writeFile(join(fx.userHome, 'slow'), '');
    try {
      const k = await executeTool('kill_session_processes', { session_id: 'main' }, ctx);
      expect(JSON.parse(k.observation)).toMatchObject({ success: true, is_idle: true });
      const t = host.get(session.id, 'main');
      expect(await t.readText(k.range![0], k.range![1])).toContain('ready$');
    } finally {
      await rm(join(fx.userHome, 'slow'), { force: true });
    }
    const i = await executeTool('input_in_session', { session_id: 'main', input_text: 'echo typed-$((6*7))\n' }, ctx);
    expect(JSON.parse(i.observation).output).toContain('typed-42');
  });

  it('kill_session_processes right after run_command stops that command', async () => {
    const { cwd, session, host } = await setup();
    const ctx: ToolContext = { session, pty: host, cwd, options: { ...DEFAULT_TOOL_OPTIONS, settleMs: 300 } };
    await executeTool('create_session', { session_id: 'main' }, ctx);
    const t = host.get(session.id, 'main');
    // Several tries, to meet the shell while it starts the job.
    for (let n = 0; n < 5; n++) {
      await executeTool('run_command', { session_id: 'main', command: 'sleep 30', wait_for_completion: false }, ctx);
      const k = await executeTool('kill_session_processes', { session_id: 'main' }, ctx);
      expect(JSON.parse(k.observation)).toMatchObject({ success: true, is_idle: true });
      expect(await t.readText(k.range![0], k.range![1])).toContain('ready$');
      expect(t.isIdle()).toBe(true); // not a late C mark of a job still running
    }
  });
});
