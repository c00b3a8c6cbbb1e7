// SSH options can hold a password or a token (ProxyCommand=sshpass -p …, a proxy's
// --token). ssh needs the real value, so the settings (owner-only) keep it; every copy
// recorded or shown (session.created in events.jsonl, the listings, the messages) holds
// it redacted, and a session read back from its log still connects with the real one.
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestOnce } from '../fixtures/core-client';
import type { SshEnvSpec } from '../../shared/environments';
import { ApolloCore } from '../../electron/core/app';
import { EnvProfiles } from '../../electron/core/env/profiles';
import { environmentFor } from '../../electron/core/env/registry';
import { SshEnvironment } from '../../electron/core/env/ssh';
import { recordableSpec, resolveOptions } from '../../electron/core/env/spec-secrets';
import { Workspace } from '../../electron/core/store/workspace';
import { sshdUnavailable, startSshd, type Sshd } from '../fixtures/sshd';

const PASSWORD = ['hunter2', 'Sshpass', 'Pw'].join('');
const TOKEN = ['ghp_', 'ProxyTok3nSshOptionAbCdEfGhIjKlMnOp12'].join('');
const SECRETS = [PASSWORD, TOKEN];
const noSecret = (text: string, where: string): void => {
  for (const s of SECRETS) expect(text, where).not.toContain(s);
};

describe('the redacted copies of ssh options', () => {
  const spec: SshEnvSpec = {
    kind: 'ssh', name: 'jump', host: 'gpu-box',
    options: ['StrictHostKeyChecking=yes', `ProxyCommand=sshpass -p ${PASSWORD} ssh -W %h:%p bastion`, `SetEnv=API_TOKEN=${TOKEN}`],
  };

  it('redact the secret, keep the rest, and resolve back from the saved profile', () => {
    const copy = recordableSpec(spec);
    noSecret(JSON.stringify(copy), 'the copy');
    expect(copy.options).toEqual(['StrictHostKeyChecking=yes', 'ProxyCommand=sshpass -p [REDACTED:cli-password] ssh -W %h:%p bastion', 'SetEnv=API_TOKEN=[REDACTED:github-token]']);
    // The copy itself connects with the real ones; a JSON copy of it (a log line) needs the saved profile.
    expect(resolveOptions(copy)).toEqual(spec.options);
    const fromLog = JSON.parse(JSON.stringify(copy)) as SshEnvSpec;
    expect(resolveOptions(fromLog)).toBeNull();
    expect(resolveOptions(fromLog, spec)).toEqual(spec.options);
    // A password changed since in the profile: the recorded session uses the new one.
    const changed = { ...spec, options: spec.options!.map((o) => o.replace(PASSWORD, 'newPassw0rdValue')) };
    expect(resolveOptions(fromLog, changed)).toEqual(changed.options);
    expect(resolveOptions(fromLog, { ...spec, options: ['StrictHostKeyChecking=yes'] })).toBeNull();
    // Without a secret, nothing changes.
    const plain: SshEnvSpec = { kind: 'ssh', name: 'p', host: 'h', options: ['UserKnownHostsFile=/k'] };
    expect(recordableSpec(plain)).toBe(plain);
  });

  it('profiles: stored whole in the settings file (mode 0600), listed and returned redacted, and saved back unchanged', async () => {
    const home = await mkdtemp(join(tmpdir(), 'apollo-leak-ssh-ws-'));
    const ws = await Workspace.open(home);
    try {
      const profiles = new EnvProfiles(ws);
      noSecret(JSON.stringify(await profiles.save(spec)), 'save');
      noSecret(JSON.stringify(profiles.list()), 'list');
      const got = profiles.get('jump');
      noSecret(JSON.stringify(got), 'get');
      expect(resolveOptions(got as SshEnvSpec)).toEqual(spec.options);
      const file = join(home, 'workspace.json');
      expect(await readFile(file, 'utf8')).toContain(TOKEN);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      // A client saving back the profile as it was listed does not lose the secret.
      await profiles.save(JSON.parse(JSON.stringify(got)));
      expect((ws.getSetting<SshEnvSpec[]>('environments') ?? [])[0]!.options).toEqual(spec.options);
    } finally {
      await ws.close();
      await rm(home, { recursive: true, force: true });
    }
  });

  it('ssh gets the real options, never a redacted one, and its messages are redacted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'apollo-leak-ssh-bin-'));
    try {
      // A fake ssh that notes its arguments and fails quoting them, as ssh -v would quote a ProxyCommand.
      const argsFile = join(dir, 'args');
      await writeFile(join(dir, 'ssh'), `#!/bin/sh\nprintf '%s\\n' "$@" >> ${argsFile}\necho "debug1: Executing proxy command: exec $*" >&2\nexit 255\n`);
      await chmod(join(dir, 'ssh'), 0o755);
      const processEnv = () => ({ ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` });

      const fromLog = JSON.parse(JSON.stringify(recordableSpec(spec))) as SshEnvSpec;
      const env = new SshEnvironment(fromLog, { sessionId: 's1', processEnv, savedSpec: async () => spec });
      const err = await env.exec('true').then(() => null, (e: Error) => e);
      expect(err?.message).toMatch(/Cannot connect/);
      noSecret(err!.message, 'the error');
      const args = await readFile(argsFile, 'utf8');
      expect(args).toContain(`ProxyCommand=sshpass -p ${PASSWORD} ssh -W %h:%p bastion`);
      expect(args).toContain(`SetEnv=API_TOKEN=${TOKEN}`);
      await env.dispose();

      // The profile is gone: no connection attempt with the redacted value, and a clear error.
      await rm(argsFile);
      const orphan = new SshEnvironment(fromLog, { sessionId: 's2', processEnv, savedSpec: async () => undefined });
      const e2 = await orphan.exec('true').then(() => null, (e: Error) => e);
      expect(e2?.message).toMatch(/saved environment jump/);
      noSecret(e2!.message, 'the error');
      expect(await stat(argsFile).catch(() => null)).toBeNull();
      await orphan.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const why = await sshdUnavailable();
if (why) console.log(`skipped: no sshd (${why})`);

describe.skipIf(!!why)('a session in an ssh environment whose ProxyCommand holds a token', () => {
  let sshd: Sshd;
  let root: string;
  let home: string;
  let proxy: string;
  beforeAll(async () => {
    sshd = await startSshd();
    root = await mkdtemp(join(tmpdir(), 'apollo-leak-ssh-'));
    home = join(root, 'home');
    await mkdir(join(sshd.home, 'proj'));
    // A proxy that lets ssh through only with the token: the connection works only with the real option.
    proxy = join(root, 'proxy.cjs');
    await writeFile(proxy, [
      "const net = require('node:net');",
      'const [host, port, token] = process.argv.slice(2);',
      `if (token !== ${JSON.stringify(`--token=${TOKEN}`)}) { process.stderr.write('proxy: wrong token\\n'); process.exit(1); }`,
      'const s = net.connect(Number(port), host);',
      'process.stdin.pipe(s); s.pipe(process.stdout);',
      "s.on('close', () => process.exit(0)); s.on('error', () => process.exit(1));",
    ].join('\n'));
  });
  afterAll(async () => {
    await sshd?.close();
    await rm(root, { recursive: true, force: true });
  });

  const call = requestOnce;

  it('connects with the real option while the log, the listings and the answers hold it redacted, in this process and the next', async () => {
    const spec = sshd.spec('gpu', { workdir: '~/proj', options: [...(sshd.spec().options ?? []), `ProxyCommand=${process.execPath} ${proxy} %h %p --token=${TOKEN}`] });
    let core = await ApolloCore.open({ home, resourcesDir: resolve(__dirname, '../../resources'), host: 'web' });
    let sessionId: string;
    try {
      const saved = await call(core, 'environments.save', { spec });
      expect(saved.ok, saved.error?.message).toBe(true);
      noSecret(JSON.stringify(saved), 'environments.save');
      noSecret(JSON.stringify(await call(core, 'environments.list', {})), 'environments.list');
      const tested = await call(core, 'environments.test', { name: 'gpu' });
      expect(tested.result, JSON.stringify(tested)).toMatchObject({ ok: true });

      const created = await call(core, 'sessions.create', { name: 'remote', environment: 'gpu', terminals: [] });
      expect(created.ok, created.error?.message).toBe(true);
      noSecret(JSON.stringify(created), 'sessions.create');
      sessionId = (created.result as { id: string }).id;
      const session = await core.session(sessionId);
      const out = await environmentFor(session).exec('printf connected');
      expect(out.stdout.toString()).toBe('connected');
    } finally {
      await core.close();
    }

    const log = await readFile(join(home, 'sessions', sessionId, 'events.jsonl'), 'utf8');
    noSecret(log, 'events.jsonl');
    const createdEvent = JSON.parse(log.split('\n')[0]!) as { type: string; environment: SshEnvSpec };
    expect(createdEvent.type).toBe('session.created');
    expect(createdEvent.environment.options!.at(-1)).toContain('[REDACTED:');
    const settings = join(home, 'workspace.json');
    expect(await readFile(settings, 'utf8')).toContain(TOKEN);
    expect((await stat(settings)).mode & 0o777).toBe(0o600);

    // Another process: the spec comes from the log, the token from the settings.
    core = await ApolloCore.open({ home, resourcesDir: resolve(__dirname, '../../resources'), host: 'web' });
    try {
      const out = await environmentFor(await core.session(sessionId)).exec('printf again');
      expect(out.stdout.toString()).toBe('again');
    } finally {
      await core.close();
    }
  }, 60_000);
});
