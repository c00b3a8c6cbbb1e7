// An InnovatorBench node dump keeps each node's messages but not the tool schemas the
// agent offered, and a single node file has only its own request: the steps before it
// get cuts of it. Neither is the request the model saw, so the import says 'derived'
// and the export says what the context lacks, instead of passing it off as recorded.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImportWorkspace, origin } from '../fixtures/import';

let w: ImportWorkspace;
let dir: string;
beforeAll(async () => {
  w = await ImportWorkspace.create();
  dir = await mkdtemp(join(tmpdir(), 'apollo-ib-'));
});
afterAll(async () => {
  await w.close();
  await rm(dir, { recursive: true, force: true });
});

const node = {
  id: 'n2', parent_id: 'n1', timestamp: '2025-09-08T14:27:29', node_type: 'react', source: 'generate', depth: 2,
  messages: [
    { role: 'system', content: 'You are a research agent.' },
    { role: 'user', content: '<task_description>\nTrain the model.\n</task_description>\nTime remaining: 40h' },
    { role: 'assistant', content: null, tool_call: { call_id: 'c1', name: 'run_command', arguments: { session_id: 'main', command: 'ls' } } },
    { role: 'tool', tool_result: { call_id: 'c1', content: 'train.py' } },
  ],
  response: { role: 'assistant', content: null, model: 'gpt-x', usage: { input_tokens: 100, output_tokens: 9 }, tool_calls: [{ call_id: 'c2', name: 'run_command', arguments: { session_id: 'main', command: 'python train.py' } }] },
  observation: { success: true, message: 'started' },
};

describe('InnovatorBench node dumps say their context is derived', () => {
  it('one node: derived, and the export names the tool schemas it lacks', async () => {
    const file = join(dir, 'react_n2_1757345916.json');
    await writeFile(file, JSON.stringify(node));
    const { result, sessions } = await w.import(file);
    expect(result.format).toBe('innovatorbench');
    const [s] = sessions;
    expect(origin(s!)).toMatchObject({ format: 'innovatorbench', context: 'derived' });
    const out = await w.export([s!.id], ['openai']);
    expect(out.openai).toHaveLength(1);
    const manifest = JSON.parse(await readFile(join(out.dir, 'manifest.json'), 'utf8')) as { counts: { derived: number }; trajectories: Array<{ context: string }>; warnings: string[] };
    expect(manifest.counts.derived).toBe(1);
    expect(manifest.trajectories.map((t) => t.context)).toEqual(['derived']);
    expect(manifest.warnings.some((x) => /innovatorbench/.test(x) && /lacks the tool schemas/.test(x))).toBe(true);
  });
});
