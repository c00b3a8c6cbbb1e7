// What SWE-agent sent its model, read from its own code (agents.py, history_processors.py,
// types.py, v0.7 to v1.1): the history processors' view, not the history kept whole; 1.0's
// messages stored with each step; its own exit messages; a step that queried nothing.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestMessages } from '../../shared/trajectory';
import { ImportWorkspace } from '../fixtures/import';

let w: ImportWorkspace;
beforeAll(async () => {
  w = await ImportWorkspace.create();
});
afterAll(async () => {
  await w.close();
});

async function importTraj(name: string, v: unknown) {
  const f = join(w.root, name);
  await writeFile(f, JSON.stringify(v));
  const { sessions } = await w.import(f);
  return sessions[0]!;
}

const sys = { role: 'system', content: 'You are SWE-agent.', agent: 'main' };
const task = { role: 'user', content: 'fix the bug', agent: 'main' };
const call = (k: number) => ({ id: `c${k}`, type: 'function', function: { name: 'bash', arguments: JSON.stringify({ command: `cmd${k}` }) } });
const reply = (k: number) => ({ role: 'assistant', content: `step ${k}`, tool_calls: [call(k)], action: `cmd${k}`, agent: 'main' });
const obs = (k: number, text = `OUT${k}`) => ({ role: 'tool', content: text, tool_call_ids: [`c${k}`], agent: 'main' });

describe('SWE-agent: the context the model was sent', () => {
  it('1.0: each step is trained on the messages stored with the step before, as the processors left them', async () => {
    // last_n_observations n=1: after step 1 the stored messages show OUT0 as omitted, but step 1 was sent it whole.
    const omitted = (k: number) => obs(k, 'Old environment output: (1 lines omitted)');
    const after0 = [sys, task, reply(0), obs(0)];
    const after1 = [sys, task, reply(0), omitted(0), reply(1), obs(1)];
    const after2 = [sys, task, reply(0), omitted(0), reply(1), omitted(1), reply(2), obs(2)];
    const s = await importTraj('v10.traj', {
      environment: 'main', info: { exit_status: 'submitted', swe_agent_version: '1.0.1' },
      replay_config: JSON.stringify({ agent: { model: { name: 'gpt-4o' }, history_processors: [{ type: 'last_n_observations', n: 1 }] } }),
      history: [sys, task, reply(0), obs(0), reply(1), obs(1), reply(2), obs(2)],
      trajectory: [0, 1, 2].map((k) => ({ action: `cmd${k}`, observation: `OUT${k}`, response: `step ${k}`, thought: `step ${k}`, execution_time: 0.1, state: {}, messages: [after0, after1, after2][k] })),
    });
    const req1 = requestMessages(s.t, s.main[1]!.requestId!)!;
    expect(req1.map((m) => m.content)).toEqual(['You are SWE-agent.', 'fix the bug', 'step 0', 'OUT0']);
    const req2 = requestMessages(s.t, s.main[2]!.requestId!)!;
    expect(req2.map((m) => m.content)).toEqual(['You are SWE-agent.', 'fix the bug', 'step 0', 'Old environment output: (1 lines omitted)', 'step 1', 'OUT1']);
    expect(s.main.map((st) => !!st.notTrained)).toEqual([false, false, false]);
  });

  it('0.x: a step whose history held more observations than the default processor passes on whole is not trained', async () => {
    const steps = 8;
    const history: unknown[] = [{ role: 'system', content: 'SETUP', agent: 'primary' }, { role: 'user', content: 'ISSUE', agent: 'primary' }];
    const trajectory: unknown[] = [];
    for (let k = 0; k < steps; k++) {
      history.push({ role: 'assistant', content: `thought ${k}\n\`\`\`\nls ${k}\n\`\`\``, thought: `thought ${k}`, action: `ls ${k}\n`, agent: 'primary' });
      history.push({ role: 'user', content: `OBS ${k}`, agent: 'primary' });
      trajectory.push({ action: `ls ${k}\n`, observation: `OBS ${k}`, response: `thought ${k}\n\`\`\`\nls ${k}\n\`\`\``, thought: `thought ${k}`, state: '{}' });
    }
    const s = await importTraj('v0x.traj', { environment: 'swe_main', info: { exit_status: 'submitted', model_stats: { api_calls: steps } }, history, trajectory });
    // Last5Observations (0.x's default) keeps the issue and the last 5 observations: from the
    // step whose context holds a sixth observation on, what the model read is not this.
    expect(s.main.map((st) => !!st.notTrained)).toEqual([false, false, false, false, false, false, true, true]);
    expect(s.main[6]!.notTrained).toMatch(/only the last 5 of the 6 observations/);
    // Two calls more than the replies kept: retries after a format error, answered by steps unknown.
    const retried = await importTraj('v0x-retried.traj', { environment: 'swe_main', info: { exit_status: 'submitted', model_stats: { api_calls: steps + 2 } }, history, trajectory });
    expect(retried.main.every((st) => !!st.notTrained)).toBe(true);
    expect(retried.main[0]!.notTrained).toMatch(/2 model call\(s\) more than the replies/);
  });

  it('its own exit message is not trained, and a step that queried nothing ([{}]) does not stop the import', async () => {
    const q0 = [sys, task];
    const s = await importTraj('v11-exit.traj', {
      environment: 'main', info: { exit_status: 'exit_cost', swe_agent_version: '1.1.0' }, replay_config: JSON.stringify({ agent: { model: { name: 'gpt-4o' } } }),
      history: [sys, task, reply(0), obs(0)],
      trajectory: [
        { action: 'cmd0', observation: 'OUT0', response: 'step 0', thought: 'step 0', state: {}, query: q0 },
        { action: '', observation: 'Exited (autosubmitted)', response: 'Exit due to cost limit', thought: 'Exit due to cost limit', state: {}, query: [{}] },
      ],
    });
    expect(s.main.map((st) => st.notTrained ?? null)).toEqual([null, expect.stringMatching(/SWE-agent's own exit \(Exit due to cost limit\)/)]);
  });

  it('1.1 with function calling: a reply whose action SWE-agent blocked is not trained and ran nothing, and owns only the retry\'s turn', async () => {
    const blocked = { role: 'assistant', content: 'open it', tool_calls: [call(1)] };
    const err = { role: 'user', content: 'Operation \'vim\' is not supported by this environment.' };
    const q0 = [sys, task];
    const q1 = [sys, task, reply(0), obs(0)];
    const q2 = [...q1, blocked, err];
    const q3 = [...q1, reply(2), obs(2)];
    const s = await importTraj('v11-blocked.traj', {
      environment: 'main', info: { exit_status: 'submitted', swe_agent_version: '1.1.0' }, replay_config: JSON.stringify({ agent: { model: { name: 'gpt-4o' } } }),
      history: [sys, task, reply(0), obs(0), reply(2), obs(2), reply(3), obs(3)],
      trajectory: [
        { action: 'cmd0', observation: 'OUT0', response: 'step 0', thought: 'step 0', state: {}, query: q0 },
        { action: 'vim a.py', observation: '', response: 'open it', thought: 'open it', state: {}, query: q1 },
        { action: 'cmd2', observation: 'OUT2', response: 'step 2', thought: 'step 2', state: {}, query: q2 },
        { action: 'cmd3', observation: 'OUT3', response: 'step 3', thought: 'step 3', state: {}, query: q3 },
      ],
    });
    expect(s.main.map((st) => !!st.notTrained)).toEqual([false, true, false, false]);
    expect(s.main[1]!.results).toEqual([]);
    expect(s.main[2]!.notTrained).toBeUndefined();
  });
});
