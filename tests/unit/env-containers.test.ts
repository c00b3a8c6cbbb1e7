// Containers and pods with the real engines, where they run: a container started
// from an image (APOLLO_TEST_IMAGE, default debian:bookworm-slim; it must be present or
// pullable) and a pod named by APOLLO_TEST_POD. Where no engine answers, each says so
// in one "skipped" line; the command lines are checked everywhere (env-commands.test.ts).
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TOOL_OPTIONS, executeTool } from '../../electron/core/rollout/tools';
import { PtyHost } from '../../electron/core/pty/pty-host';
import { Workspace, type SessionLog } from '../../electron/core/store/workspace';
import { environmentFor } from '../../electron/core/env/registry';

const run = promisify(execFile);
const answers = (cmd: string, args: string[]) => run(cmd, args, { timeout: 15_000 }).then(() => true, () => false);

const engine = (await answers('docker', ['info'])) ? 'docker' : (await answers('podman', ['info'])) ? 'podman' : null;
if (!engine) console.log('skipped: no container engine (neither a docker nor a podman daemon answers)');
const pod = process.env.APOLLO_TEST_POD;
const cluster = pod ? await answers('kubectl', ['get', 'pod', pod]) : false;
if (!cluster) console.log(`skipped: no Kubernetes pod (${pod ? `kubectl cannot reach pod ${pod}` : 'set APOLLO_TEST_POD to a running pod'})`);

async function session(spec: Record<string, unknown>, cwd: string): Promise<{ ws: Workspace; s: SessionLog; pty: PtyHost; home: string }> {
  const home = await mkdtemp(join(tmpdir(), 'apollo-env-engine-'));
  const ws = await Workspace.open(home);
  const s = await ws.create({ name: 'engine', cwd, environment: spec as { kind: string; name: string } });
  const pty = new PtyHost({ resourcesDir: resolve('resources'), events: { data: () => undefined, changed: () => undefined } });
  return { ws, s, pty, home };
}

describe.skipIf(!engine)(`${engine ?? 'container'} environment from an image`, () => {
  let fx: Awaited<ReturnType<typeof session>>;
  let mount: string;
  beforeAll(async () => {
    mount = await mkdtemp(join(tmpdir(), 'apollo-env-mount-'));
    fx = await session({ kind: engine, name: 'ctr', image: process.env.APOLLO_TEST_IMAGE ?? 'debian:bookworm-slim', mount, workdir: '/work' }, '/work');
  }, 300_000);
  afterAll(async () => {
    await fx?.pty.dispose();
    await fx?.ws.close(); // removes the container it started
    await rm(fx?.home ?? '', { recursive: true, force: true });
    await rm(mount, { recursive: true, force: true });
  });

  it('runs commands and file tools inside the container, on the mounted folder', async () => {
    const ctx = { session: fx.s, pty: fx.pty, cwd: '/work', options: DEFAULT_TOOL_OPTIONS };
    const c = await executeTool('create_file', { filename: 'in.txt', content: 'inside\n' }, ctx);
    expect(c.isError).toBe(false);
    expect(await readFile(join(mount, 'in.txt'), 'utf8')).toBe('inside\n');
    const r = await executeTool('run_command', { session_id: 'main', command: 'cat in.txt && test -f /.dockerenv -o -f /run/.containerenv && echo contained' }, ctx);
    expect(JSON.parse(r.observation).output).toBe('inside\ncontained');
    expect(r.env).toMatchObject({ name: 'ctr', kind: engine });
    expect((await environmentFor(fx.s).describe()).kind).toBe(engine);
  }, 120_000);
});

describe.skipIf(!cluster)('kubectl environment', () => {
  it('runs a command in the pod', async () => {
    const fx = await session({ kind: 'kubectl', name: 'pod', pod }, '/tmp');
    try {
      const r = await environmentFor(fx.s).exec('echo in-pod');
      expect(r.stdout.toString().trim()).toBe('in-pod');
    } finally {
      await fx.pty.dispose();
      await fx.ws.close();
      await rm(fx.home, { recursive: true, force: true });
    }
  });
});
