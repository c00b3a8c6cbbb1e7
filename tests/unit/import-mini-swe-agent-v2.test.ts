// mini-swe-agent 2 with a text-based model (models/litellm_textbased_model.py): its actions
// are found by the config's action_regex, ```mswea_bash_command fences by default, not 1.x's
// ```bash; the trajectory is written as DefaultAgent.serialize writes it (trajectory_format
// "mini-swe-agent-1.1", the model's config under info.config.model).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportWorkspace } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

const REGEX = '```mswea_bash_command\\s*\\n(.*?)\\n```';

function traj(config: Record<string, unknown> | null) {
  return {
    trajectory_format: 'mini-swe-agent-1.1',
    info: { mini_version: '2.0.0', exit_status: 'Submitted', submission: '', config: { agent: {}, ...(config ? { model: config } : {}) } },
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Fix the bug.' },
      { role: 'assistant', content: 'Let me look.\n```mswea_bash_command\nls -la\n```', extra: { actions: [{ command: 'ls -la' }] } },
      { role: 'user', content: '<returncode>0</returncode>\n<output>\na.py\n</output>' },
      { role: 'assistant', content: 'Done.\n```mswea_bash_command\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\n```' },
      { role: 'exit', content: '', extra: { exit_status: 'Submitted', submission: '' } },
    ],
  };
}

describe('mini-swe-agent 2, text actions', () => {
  it('reads each reply\'s action with the config\'s action_regex, or the 2.x fence when the log has none', async () => {
    for (const [name, config] of [['with-regex', { model_name: 'gpt-4o', action_regex: REGEX }], ['without-regex', null]] as const) {
      const f = join(w.root, `${name}.traj.json`);
      await writeFile(f, JSON.stringify(traj(config)));
      const { sessions } = await w.import(f);
      const steps = sessions[0]!.main.filter((s) => s.response);
      expect(steps.map((s) => s.response!.toolCalls.map((c) => JSON.parse(c.arguments) as unknown)), name).toEqual([[{ command: 'ls -la' }], [{ command: 'echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT' }]]);
      expect(steps[0]!.results[0]!.observation).toContain('a.py');
    }
  });

  it('reads the list of the messages alone (as mini-swe-agent\'s own tests keep runs) when named with --format', async () => {
    const f = join(w.root, 'bare.traj.json');
    await writeFile(f, JSON.stringify(traj(null).messages));
    await expect(w.import(f)).rejects.toThrow(/not a format this app imports/);
    const { sessions } = await w.import(f, { format: 'mini-swe-agent' });
    const steps = sessions[0]!.main.filter((s) => s.response);
    expect(steps.map((s) => s.response!.toolCalls.map((c) => JSON.parse(c.arguments) as unknown))).toEqual([[{ command: 'ls -la' }], [{ command: 'echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT' }]]);
    expect(sessions[0]!.events.some((e) => e.type === 'warning' && /the list of the agent's messages alone/.test(e.message))).toBe(true);
  });
});
