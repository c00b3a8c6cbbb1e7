// `apollo env` and `apollo rollout --env` end to end: the built CLI, a real sshd, a
// scripted endpoint. Profiles hold no secret; test says what it found; a rollout with
// --env works on the host, in the profile's working folder.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';
import { sshdUnavailable, startSshd, type Sshd } from '../fixtures/sshd';

const CLI = resolve(__dirname, '../../out/main/cli.js');
const why = await sshdUnavailable();
if (why) console.log(`skipped: no sshd (${why})`);

function apollo(args: string[]): Promise<{ code: number | null; out: string }> {
  const p = spawn(process.execPath, [CLI, ...args], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((r) => p.on('exit', (code) => r({ code, out })));
}

describe('apollo env (profiles, no engine needed)', () => {
  let home: string;
  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error('run `npm run build` first (npm test does)');
    home = await mkdtemp(join(tmpdir(), 'apollo-env-cli-'));
  });
  afterAll(() => rm(home, { recursive: true, force: true }));

  it('adds, lists and removes container and pod profiles; refuses wrong flags with usage', async () => {
    expect((await apollo(['env', 'add', 'k8s', '--kubectl', 'train-0', '--namespace', 'ml', '--context', 'prod', '--workdir', '/workspace', '--home', home])).code).toBe(0);
    expect((await apollo(['env', 'add', 'py', '--image', 'python:3.12', '--engine', 'podman', '--mount', home, '--home', home])).code).toBe(0);
    expect((await apollo(['env', 'add', 'box', '--docker', 'trainer', '--user', 'dev', '--home', home])).code).toBe(0);
    const list = await apollo(['env', 'list', '--json', '--home', home]);
    expect(JSON.parse(list.out)).toEqual([
      { kind: 'local', name: 'local' },
      { kind: 'docker', name: 'box', container: 'trainer', user: 'dev' },
      { kind: 'kubectl', name: 'k8s', workdir: '/workspace', pod: 'train-0', namespace: 'ml', context: 'prod' },
      { kind: 'podman', name: 'py', image: 'python:3.12', mount: home },
    ]);
    const text = await apollo(['env', 'list', '--home', home]);
    expect(text.out).toContain('k8s\tkubectl\tkubectl pod ml/train-0 (context prod)\tworkdir /workspace');
    const bads = [
      ['env', 'add', 'x', '--docker', 'c', '--identity', 'f'],
      ['env', 'add', 'x', '--ssh', 'a@b', '--docker', 'c'],
      ['env', 'add', 'x', '--ssh', 'a@b:99999'],
      ['env', 'add', 'x'],
      ['env', 'frobnicate', 'x'],
    ];
    // Side by side: a usage error is refused before the workspace is touched.
    const refused = await Promise.all(bads.map((bad) => apollo([...bad, '--home', home])));
    bads.forEach((bad, i) => {
      expect(refused[i]!.code, bad.join(' ')).toBe(2);
      expect(refused[i]!.out).toMatch(/Usage: apollo env/);
    });
    // A profile that fails its own checks is refused (exit 1), with the reason.
    const r = await apollo(['env', 'add', 'x', '--kubectl', 'pod', '--workdir', 'relative', '--home', home]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/workdir: an absolute path/);
    expect((await apollo(['env', 'remove', 'py', '--home', home])).code).toBe(0);
    expect(JSON.parse((await apollo(['env', 'list', '--json', '--home', home])).out).map((s: { name: string }) => s.name)).toEqual(['local', 'box', 'k8s']);
  });
});

describe.skipIf(!!why)('apollo env with a real sshd', () => {
  let sshd: Sshd;
  let home: string;
  let llm: FakeLlm | null = null;
  beforeAll(async () => {
    sshd = await startSshd();
    home = await mkdtemp(join(tmpdir(), 'apollo-env-cli-ssh-'));
    await mkdir(join(sshd.home, 'proj'));
  });
  afterAll(async () => {
    await llm?.close();
    await sshd?.close();
    await rm(home, { recursive: true, force: true });
  });

  const addArgs = (name: string, port: number, workdir = '~/proj') => [
    'env', 'add', name, '--ssh', `${sshd.spec().user}@127.0.0.1:${port}`, '--identity', join(sshd.dir, 'user_key'),
    '--ssh-option', `UserKnownHostsFile=${join(sshd.dir, 'known_hosts')}`, '--ssh-option', 'StrictHostKeyChecking=yes',
    '--workdir', workdir, '--state-dir', '~/.apollo-state', '--home', home,
  ];

  it('stores only names and paths, and test says what is there', async () => {
    const add = await apollo(addArgs('gpu', sshd.port));
    expect(add.code).toBe(0);
    expect(add.out).toContain(`environment gpu: ssh ${sshd.spec().user}@127.0.0.1:${sshd.port}, workdir ~/proj`);
    const settings = await readFile(join(home, 'workspace.json'), 'utf8');
    expect(JSON.parse(settings).settings.environments).toEqual([{
      kind: 'ssh', name: 'gpu', workdir: '~/proj', stateDir: '~/.apollo-state', host: '127.0.0.1', user: sshd.spec().user, port: sshd.port,
      identity: join(sshd.dir, 'user_key'), options: [`UserKnownHostsFile=${join(sshd.dir, 'known_hosts')}`, 'StrictHostKeyChecking=yes'],
    }]);
    // The private key's content is nowhere in the workspace.
    const key = await readFile(join(sshd.dir, 'user_key'), 'utf8');
    expect(settings).not.toContain(key.split('\n')[1]!);
    const t = await apollo(['env', 'test', 'gpu', '--home', home]);
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/reached in \d+ ms: Linux/);
    expect(t.out).toMatch(/git version .*: checkpoints and rewind work there/);
    expect(t.out).toContain(`working folder ${join(sshd.home, 'proj')}`);
  });

  it('test fails clearly for a host that does not answer or a missing folder', async () => {
    await apollo(addArgs('nowhere', 1));
    const t = await apollo(['env', 'test', 'nowhere', '--home', home]);
    expect(t.code).toBe(1);
    expect(t.out).toMatch(/apollo env test: Cannot connect to ssh .*127\.0\.0\.1:1 \(environment nowhere\): .*(refused|closed)/i);
    await apollo(addArgs('nofolder', sshd.port, '~/missing'));
    const m = await apollo(['env', 'test', 'nofolder', '--home', home]);
    expect(m.code).toBe(1);
    expect(m.out).toContain(`the working folder ${join(sshd.home, 'missing')} does not exist in nofolder`);
  });

  it('apollo rollout --env works on the host, in the profile working folder', async () => {
    llm = await startFakeLlm([
      tool('run_command', { session_id: 'main', command: 'hostname > where.txt && pwd' }),
      tool('create_file', { filename: 'notes.md', content: 'remote notes\n' }),
      tool('finish', { message: 'done' }),
    ]);
    const r = await apollo(['rollout', '--env', 'gpu', '--task', 'work remotely', '--base-url', llm.url, '--model', 'm', '--home', home]);
    expect(r.code, r.out).toBe(0);
    const work = join(sshd.home, 'proj');
    expect(r.out).toMatch(new RegExp(`session \\S+ in environment gpu \\(ssh .*\\), ${work}`));
    expect(await readFile(join(work, 'notes.md'), 'utf8')).toBe('remote notes\n');
    expect((await stat(join(work, 'where.txt'))).isFile()).toBe(true);
    const id = /session (\S+) in environment/.exec(r.out)![1]!;
    const log = (await readFile(join(home, 'sessions', id, 'events.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(log[0]).toMatchObject({ type: 'session.created', cwd: work, environment: { kind: 'ssh', name: 'gpu', port: sshd.port } });
    expect(log.filter((e) => e.type === 'checkpoint.taken')).toHaveLength(3);
    expect((await stat(join(sshd.home, '.apollo-state', 'checkpoints', id, 'HEAD'))).isFile()).toBe(true);
    const bad = await apollo(['rollout', '--env', 'gpu', '--cwd', 'relative/dir', '--task', 't', '--base-url', llm.url, '--model', 'm', '--home', home]);
    expect(bad.code, bad.out).toBe(2);
    expect(bad.out).toMatch(/--cwd must be an absolute path \(or ~\/\.\.\.\) in environment gpu/);
  });
});
