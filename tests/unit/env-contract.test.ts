// Environments through the contract, as the app's Settings and session list use them:
// profiles saved, listed, tested and removed; a session created in an SSH
// environment (real sshd), with a local notes shell beside its remote one.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostMessage } from '../../shared/contract/index';
import { ApolloCore } from '../../electron/core/app';
import { sshdUnavailable, startSshd, type Sshd } from '../fixtures/sshd';

const why = await sshdUnavailable();
if (why) console.log(`skipped: no sshd (${why})`);

let root: string;
let core: ApolloCore;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-env-contract-'));
  core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web' });
});
afterAll(async () => {
  await core?.close();
  await rm(root, { recursive: true, force: true });
});

type Reply = { ok: boolean; result?: unknown; error?: { code: string; message: string } };
async function call(cmd: string, args: unknown): Promise<Reply> {
  const replies: HostMessage[] = [];
  const client = core.connect((m) => replies.push(m));
  try {
    await client.receive({ kind: 'req', id: 1, cmd, args });
    return replies.find((m) => m.kind === 'res') as Reply;
  } finally {
    client.close();
  }
}

describe('environment profiles through the contract', () => {
  it('saves, lists and removes; the schema refuses what an engine would take for an option', async () => {
    expect((await call('environments.save', { spec: { kind: 'kubectl', name: 'k', pod: 'train-0', namespace: 'ml' } })).result).toEqual({
      spec: { kind: 'kubectl', name: 'k', pod: 'train-0', namespace: 'ml' }, target: 'kubectl pod ml/train-0',
    });
    const bad = await call('environments.save', { spec: { kind: 'ssh', name: 'x', host: '-oProxyCommand=evil' } });
    expect(bad).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/spec\.host/) } });
    const local = await call('environments.save', { spec: { kind: 'local', name: 'local' } });
    expect(local).toMatchObject({ ok: false, error: { message: expect.stringMatching(/"local" is this machine/) } });
    const list = (await call('environments.list', {})).result as { environments: Array<{ spec: { name: string }; target: string }> };
    expect(list.environments.map((e) => [e.spec.name, e.target])).toEqual([['local', 'this machine'], ['k', 'kubectl pod ml/train-0']]);
    expect((await call('environments.delete', { name: 'k' })).ok).toBe(true);
    expect((await call('environments.delete', { name: 'k' })).error?.code).toBe('NOT_FOUND');
  });
});

describe.skipIf(!!why)('sessions in an ssh environment through the contract', () => {
  let sshd: Sshd;
  beforeAll(async () => {
    sshd = await startSshd();
    await mkdir(join(sshd.home, 'proj'));
  });
  afterAll(async () => {
    await sshd?.close();
  });

  it('tests the profile, creates the session there, and can open a local shell beside it', async () => {
    expect((await call('environments.save', { spec: sshd.spec('gpu', { workdir: '~/proj' }) })).ok).toBe(true);
    const t = (await call('environments.test', { name: 'gpu' })).result as { ok: boolean; lines: string[] };
    expect(t.ok).toBe(true);
    expect(t.lines.join('\n')).toMatch(/git version/);
    const created = await call('sessions.create', { name: 'remote work', environment: 'gpu' });
    expect(created.ok).toBe(true);
    const info = created.result as { id: string; cwd: string; terminals: Array<{ id: string; cwd: string }> };
    expect(info.cwd).toBe(join(sshd.home, 'proj'));
    const s = await core.session(info.id);
    const started = s.events.find((e) => e.type === 'terminal.started');
    expect(started).toMatchObject({ terminalId: 'main', cwd: join(sshd.home, 'proj'), env: { name: 'gpu', kind: 'ssh' } });
    // A notes shell on this machine in the same session: no environment recorded, a local folder.
    const notes = await call('terminal.create', { sessionId: info.id, id: 'notes', environment: 'local' });
    expect(notes.ok).toBe(true);
    const local = s.events.filter((e) => e.type === 'terminal.started').find((e) => e.type === 'terminal.started' && e.terminalId === 'notes');
    expect(local).toMatchObject({ cwd: process.env.HOME });
    expect(local && 'env' in local ? local.env : undefined).toBeUndefined();
    // A missing folder there is refused before anything is created.
    const missing = await call('sessions.create', { name: 'nope', environment: 'gpu', cwd: '~/missing' });
    expect(missing).toMatchObject({ ok: false, error: { code: 'UNAVAILABLE', message: expect.stringMatching(/does not exist in gpu/) } });
  });
});
