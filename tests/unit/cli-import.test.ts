// `apollo import` end to end: the built CLI on real sample files in a temporary
// workspace: session ids on stdout, detection, duplicate refusal, errors and exit codes.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveSamples, sample } from '../fixtures/import';

const CLI = resolve(__dirname, '../../out/main/cli.js');
let root: string;
let home: string;

function apollo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [CLI, ...args, '--home', home], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((r) => p.on('exit', (code) => r({ code, stdout, stderr })));
}

const ids = (stdout: string) => stdout.trim().split('\n').filter(Boolean);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-cli-import-'));
  home = join(root, 'home');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe.skipIf(!haveSamples)('apollo import', () => {
  it('imports several inputs, detecting each format, and prints one session id per line', async () => {
    const r = await apollo(['import', sample('swe-agent/v1x_gpt4o_sweagenttestrepo-1c2844.traj'), sample('sft/openai-chat-tools_swe-gym-openhands.jsonl'), sample('asciinema/v3_agentguard_demo.cast')]);
    expect(r.stderr).toMatch(/imported v1x_gpt4o_sweagenttestrepo-1c2844\.traj \(swe-agent\): 1 session/);
    expect(r.stderr).toMatch(/\(openai-chat\): 5 sessions/);
    expect(r.stderr).toMatch(/\(asciicast\): 1 session/);
    expect(r.code).toBe(0);
    expect(ids(r.stdout)).toHaveLength(7);
    const listed = await apollo(['sessions', '--json']);
    const known = (JSON.parse(listed.stdout) as Array<{ id: string }>).map((s) => s.id);
    for (const id of ids(r.stdout)) expect(known).toContain(id);
  });

  it('refuses a second import of the same file unless --allow-duplicate', async () => {
    const file = sample('swe-agent/v1x_gpt4o_sweagenttestrepo-1c2844.traj');
    const again = await apollo(['import', file]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/was already imported \(same SHA-256\) as session .*--allow-duplicate \[CONFLICT\]/);
    expect(again.stdout).toBe('');
    const forced = await apollo(['import', file, '--allow-duplicate', '--name', 'second copy', '--json']);
    expect(forced.code).toBe(0);
    const [report] = JSON.parse(forced.stdout) as Array<{ format: string; sessionIds: string[] }>;
    expect(report).toMatchObject({ format: 'swe-agent' });
    const listed = JSON.parse((await apollo(['sessions', '--json'])).stdout) as Array<{ id: string; name: string }>;
    expect(listed.find((s) => s.id === report!.sessionIds[0])?.name).toBe('second copy');
  });
});

describe('apollo import errors', () => {
  it('a file of no known format, and a malformed one: exit 1 with the file named, nothing kept', async () => {
    await writeFile(join(root, 'notes.txt'), 'hello\n');
    await writeFile(join(root, 'broken.traj'), '{"trajectory": [{"action": "ls", ');
    // A new workspace gets the shipped sample whichever command opens it first: only imports count.
    const imported = async () => (await readdir(join(home, 'sessions')).catch(() => [] as string[])).filter((d) => d !== 'sample-sales-report');
    const before = await imported();
    const r = await apollo(['import', join(root, 'notes.txt'), join(root, 'broken.traj'), '--format', 'swe-agent']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/broken\.traj, line 1, column \d+: not valid JSON: the text ends/);
    expect(await imported()).toEqual(before);
    const unknown = await apollo(['import', join(root, 'notes.txt')]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/notes\.txt: not a format this app imports/);
    const missing = await apollo(['import', join(root, 'nope.json')]);
    expect(missing.stderr).toMatch(/nope\.json: no such file or folder \[NOT_FOUND\]/);
  });

  it('usage errors exit 2', async () => {
    expect((await apollo(['import'])).code).toBe(2);
    const bad = await apollo(['import', 'x.json', '--format', 'bogus']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown format "bogus"; known: innovatorbench, /);
  });
});
