import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Workspace } from '../../electron/core/store/workspace';
import { memoryVault, Profiles, withoutKeys } from '../../electron/core/profiles';

let dir: string;
let ws: Workspace;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-profiles-'));
  ws = await Workspace.open(dir);
});
afterEach(async () => {
  await ws.close();
  await rm(dir, { recursive: true, force: true });
});

describe('endpoint profiles', () => {
  it('keeps keys out of the settings file and resolves them from env or the vault', async () => {
    const env = { MY_KEY: 'sk-from-env-0123456789' };
    const profiles = new Profiles(ws, memoryVault(), env);
    await profiles.save({ name: 'vllm', baseUrl: 'http://127.0.0.1:8000/v1', model: 'qwen', apiKeyEnv: 'MY_KEY', temperature: 0.2 });
    await profiles.save({ name: 'openai', baseUrl: 'https://api.example/v1', model: 'gpt' });
    expect((await profiles.list()).map((p) => [p.name, p.keySource])).toEqual([['openai', 'none'], ['vllm', 'env']]);
    await profiles.setKey('openai', 'sk-in-vault-abcdefghij');
    expect((await profiles.list()).find((p) => p.name === 'openai')?.keySource).toBe('memory');
    expect((await profiles.resolve('vllm')).apiKey).toBe('sk-from-env-0123456789');
    expect((await profiles.resolve('openai')).apiKey).toBe('sk-in-vault-abcdefghij');
    expect((await profiles.secrets()).sort()).toEqual(['sk-from-env-0123456789', 'sk-in-vault-abcdefghij']);
    // A key in $OPENAI_API_KEY (what apollo rollout uses without a profile) is redacted too, once.
    const withOpenai = new Profiles(ws, memoryVault(), { ...env, OPENAI_API_KEY: 'team-key-from-openai-var-42' });
    await withOpenai.setKey('openai', 'sk-in-vault-abcdefghij');
    expect((await withOpenai.secrets()).sort()).toEqual(['sk-from-env-0123456789', 'sk-in-vault-abcdefghij', 'team-key-from-openai-var-42']);
    const settings = await readFile(join(dir, 'workspace.json'), 'utf8');
    expect(settings).toContain('"MY_KEY"');
    expect(settings).not.toContain('sk-from-env');
    expect(settings).not.toContain('sk-in-vault');
  });

  it('says clearly when the key variable is unset or the profile is unknown', async () => {
    const profiles = new Profiles(ws, memoryVault(), {});
    await profiles.save({ name: 'p', baseUrl: 'http://127.0.0.1:1/v1', model: 'm', apiKeyEnv: 'NOT_SET_ANYWHERE' });
    await expect(profiles.resolve('p')).rejects.toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('$NOT_SET_ANYWHERE') });
    await expect(profiles.resolve('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await profiles.remove('p');
    expect(await profiles.list()).toEqual([]);
  });
});

describe('agent terminal environment', () => {
  it('drops the variables that hold endpoint keys', async () => {
    const profiles = new Profiles(ws, memoryVault(), {});
    await profiles.save({ name: 'p', baseUrl: 'http://127.0.0.1:1/v1', model: 'm', apiKeyEnv: 'VLLM_KEY' });
    const env = withoutKeys({ PATH: '/bin', OPENAI_API_KEY: 'a', VLLM_KEY: 'b', HF_TOKEN: 'kept' }, profiles.keyEnvNames());
    expect(env).toEqual({ PATH: '/bin', HF_TOKEN: 'kept' });
  });
});
