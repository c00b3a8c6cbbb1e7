// Checkpoints, rewind and hand-written branches inside an SSH environment, against a
// real sshd: the shadow repository lives on the host (its own GIT_DIR under the
// profile's state folder), snapshots keep the budget and exclusions, a restore is all
// or nothing there, and a host without git says so before the first step.
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEventType } from '../../shared/events';
import { ApolloCore } from '../../electron/core/app';
import type { ResolvedEndpoint } from '../../electron/core/profiles';
import type { SessionLog } from '../../electron/core/store/workspace';
import { checkpointFiles, checkpointReadFile, createBranch, rewind } from '../../electron/core/annotate/index';
import { environmentFor } from '../../electron/core/env/registry';
import { RemoteCheckpointStore } from '../../electron/core/env/remote-checkpoints';
import type { ExecEnvironment } from '../../electron/core/env/remote';
import { startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';
import { sshdUnavailable, startSshd, type Sshd } from '../fixtures/sshd';

const why = await sshdUnavailable();
if (why) console.log(`skipped: no sshd (${why})`);

const TUNING = {
  llm: { retry: { baseDelayMs: 5, maxDelayMs: 50, maxRetries: 1, jitter: 0 }, timeoutMs: 10_000, idleTimeoutMs: 5_000 },
  tools: { commandTimeoutMs: 10_000, settleMs: 300 },
};

function events<T extends SessionEventType>(s: SessionLog, type: T): EventOf<T>[] {
  return s.events.filter((e): e is EventOf<T> => e.type === type);
}

/** SHA-256 of every file under `dir`, by relative path. */
async function hashTree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) await walk(p);
      else out[p] = createHash('sha256').update(await readFile(join(dir, p))).digest('hex');
    }
  };
  await walk('');
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

describe.skipIf(!!why)('checkpoints inside an ssh environment', () => {
  let sshd: Sshd;
  let root: string;
  let core: ApolloCore;
  const servers: FakeLlm[] = [];
  const endpoint = (s: FakeLlm): ResolvedEndpoint => ({ profile: 'fake', baseUrl: s.url, model: 'fake-model', apiKey: 'sk-test', toolMode: 'tools' });
  const fake = async (script: Parameters<typeof startFakeLlm>[0]) => {
    const s = await startFakeLlm(script);
    servers.push(s);
    return s;
  };

  beforeAll(async () => {
    sshd = await startSshd();
    root = await mkdtemp(join(tmpdir(), 'apollo-env-cp-'));
    core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web' });
    await core.ws.setSetting('annotator', 'alice');
  });
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await core?.close();
    await sshd?.close();
    await rm(root, { recursive: true, force: true });
  });

  describe('a rollout on the host', () => {
    let session: SessionLog;
    let work: string;
    const states: Record<string, string>[] = [];
    let stepIds: string[] = [];

    beforeAll(async () => {
      work = join(sshd.home, 'proj');
      await mkdir(work);
      await writeFile(join(work, 'README.md'), '# on the host\n');
      const capture = (reply: ReturnType<typeof tool>) => async () => {
        states.push(await hashTree(work));
        return reply;
      };
      const server = await fake([
        tool('run_command', { session_id: 'main', command: 'mkdir -p sub && echo one > a.txt && echo keep > sub/k.txt' }),
        capture(tool('run_command', { session_id: 'main', command: 'cd sub && export VIRTUAL_ENV=/x' })),
        capture(tool('create_file', { filename: 'b.txt', content: 'line1\nline2\n' })),
        capture(tool('edit_file', { path: 'b.txt', start: 2, end: 2, content: 'LINE2' })),
        capture(tool('run_command', { session_id: 'main', command: "rm ../a.txt && echo more >> k.txt && printf '\\000\\001' > bin.dat" })),
        capture(tool('finish', { message: 'done' })),
      ]);
      session = await core.ws.create({ name: 'remote', cwd: work, environment: sshd.spec('host') });
      const { done } = core.rollouts.start({ session, task: 'Make some files.', endpoint: endpoint(server), policy: 'model', maxSteps: 10, cwd: work, tuning: TUNING });
      expect(await done).toBe('finished');
      states.push(await hashTree(work));
      stepIds = events(session, 'step.started').map((e) => e.stepId);
    });

    it('checkpoints every step in a store on the host, none in the session folder', async () => {
      expect(events(session, 'checkpoint.failed')).toEqual([]);
      const cps = events(session, 'checkpoint.taken');
      expect(cps.map((c) => c.stepId)).toEqual(stepIds);
      expect(cps[1]!.shellCwd).toBe(join(work, 'sub'));
      expect(cps[1]!.env?.VIRTUAL_ENV).toBe('/x');
      const store = join(sshd.home, '.apollo-workstation', 'checkpoints', session.id);
      expect((await stat(join(store, 'HEAD'))).isFile()).toBe(true);
      expect(await stat(join(session.dir, 'checkpoints.git')).catch(() => null)).toBeNull();
      // Every action and terminal says where it ran.
      for (const r of events(session, 'action.result').filter((a) => a.name !== 'finish')) expect(r.env?.name).toBe('host');
      // The Files view reads the host's store.
      const files = await checkpointFiles(core, session.id, stepIds[3]!);
      expect(files.files.map((f) => f.path).sort()).toEqual(['README.md', 'a.txt', 'b.txt', 'sub/k.txt']);
      expect((await checkpointReadFile(core, session.id, stepIds[3]!, 'b.txt')).text).toBe('line1\nLINE2\n');
    });

    it('rewinds on the host: exact files, shell directory and environment back', async () => {
      for (const i of [2, 0, 4]) {
        const r = await rewind(core, { sessionId: session.id, toStepId: stepIds[i]! });
        expect(await hashTree(work)).toEqual(states[i]);
        const term = core.pty.list(session.id)[0]!;
        expect(term.id).toBe(r.terminalIds[0]);
        expect(term.envRecord?.name).toBe('host');
        expect((await term.runCommand('pwd', { wait: true, timeoutMs: 5_000 })).output).toBe(i === 0 ? work : join(work, 'sub'));
        expect((await term.runCommand('echo "${VIRTUAL_ENV-unset}"', { wait: true, timeoutMs: 5_000 })).output).toBe(i === 0 ? 'unset' : '/x');
      }
    });

    it('runs a hand-written branch on the checkpoint of its step, on the host', async () => {
      const r = await createBranch(core, {
        sessionId: session.id, fromStepId: stepIds[2]!, name: 'by hand',
        action: { name: 'run_command', arguments: { session_id: 'main', command: 'ls -1 .. && cat ../b.txt' } },
      });
      expect(r.action).toBe('ran');
      const step = events(session, 'step.started').find((e) => e.stepId === r.stepId)!;
      expect(step.world).toMatchObject({ kind: 'checkpoint', stepId: stepIds[2] });
      const res = events(session, 'action.result').find((e) => e.stepId === r.stepId)!;
      const obs = JSON.parse(res.observation) as { output: string; exit_code: number };
      expect(obs.exit_code).toBe(0);
      expect(obs.output).toBe('README.md\na.txt\nb.txt\nsub\nline1\nline2');
      expect(res.env?.name).toBe('host');
      // The branch's own step was checkpointed there too.
      expect(events(session, 'checkpoint.taken').some((c) => c.stepId === r.stepId)).toBe(true);
    });
  });

  describe('the store itself', () => {
    let work: string;
    let env: ExecEnvironment;
    beforeAll(async () => {
      work = join(sshd.home, 'store-test');
      await mkdir(join(work, 'd'), { recursive: true });
      const session = await core.ws.create({ name: 'store', cwd: work, environment: sshd.spec('store') });
      env = environmentFor(session) as ExecEnvironment;
    });

    const open = (extra: Partial<Parameters<typeof RemoteCheckpointStore.open>[0]> = {}) =>
      RemoteCheckpointStore.open({ env, storeDir: join(sshd.home, '.apollo-workstation', 'checkpoints', `t-${Math.random().toString(36).slice(2)}`), workDir: work, ...extra });

    it('leaves out what the local store leaves out, and says what', async () => {
      await writeFile(join(work, '.gitignore'), 'logs/\n');
      await mkdir(join(work, 'logs'));
      await writeFile(join(work, 'logs', 'run.log'), 'x');
      await mkdir(join(work, 'node_modules'));
      await writeFile(join(work, 'node_modules', 'm.js'), 'x');
      await writeFile(join(work, 'big.bin'), Buffer.alloc(5000));
      await writeFile(join(work, "odd 'name'\n.txt"), 'odd');
      await writeFile(join(work, 'd', 'a.txt'), 'a');
      const store = await open({ maxFileBytes: 4096 });
      const snap = await store.snapshot('one');
      expect(snap.skipped).toEqual(expect.arrayContaining([
        { path: 'big.bin', bytes: 5000, reason: 'too-big' }, { path: 'logs/', reason: 'excluded' }, { path: 'node_modules/', reason: 'excluded' },
      ]));
      expect((await store.files(snap.commit)).map((f) => f.path).sort()).toEqual(['.gitignore', 'd/a.txt', "odd 'name'\n.txt"]);
    });

    it('refuses a snapshot over budget at once, writing nothing', async () => {
      const store = await open({ budgetBytes: 1 });
      await expect(store.snapshot('too much')).rejects.toMatchObject({ code: 'DISK_FULL', message: expect.stringMatching(/^not checkpointed: over budget/), details: { reason: 'over-budget' } });
      expect((await store.usage()).bytes).toBeLessThan(4096 * 4);
    });

    it('undoes a restore that fails halfway: the folder is as it was and the error says so', async () => {
      const store = await open({ maxFileBytes: 4096 });
      const first = await store.snapshot('first');
      await writeFile(join(work, 'd', 'a.txt'), 'changed');
      await writeFile(join(work, 'new.txt'), 'new');
      await rm(join(work, "odd 'name'\n.txt"));
      await store.snapshot('second');
      const before = await hashTree(work);
      // The same store, opened with a fault in the swap's 6th move (after five have been made).
      const failing = await RemoteCheckpointStore.open({ env, storeDir: store.storeDir, workDir: work, maxFileBytes: 4096, faults: { failAtSwapStep: 6 } });
      await expect(failing.restore(first.commit)).rejects.toMatchObject({ code: 'IO', message: expect.stringMatching(/failed, and the working directory was left exactly as it was/) });
      expect(await hashTree(work)).toEqual(before);
      expect((await readdir(work)).filter((n) => n.startsWith('.apollo-restore-'))).toEqual([]);
      // Without the fault it restores, saying each stage (one script there writes and swaps: one stage).
      const said: string[] = [];
      await store.restore(first.commit, (p) => said.push(`${p.stage}: ${p.text}`));
      // a.txt changed and the odd name deleted since: 2 files written; new.txt added is only moved aside.
      expect(said).toEqual(['scan: Looking at the working directory', 'save: Keeping its current files in a checkpoint of their own', 'write: Writing 2 files from the checkpoint']);
      expect(await readFile(join(work, 'd', 'a.txt'), 'utf8')).toBe('a');
      expect(await stat(join(work, 'new.txt')).catch(() => null)).toBeNull();
      expect(await readFile(join(work, "odd 'name'\n.txt"), 'utf8')).toBe('odd');
      // Excluded content was never touched.
      expect(await readFile(join(work, 'big.bin'))).toHaveLength(5000);
      expect(await readFile(join(work, 'logs', 'run.log'), 'utf8')).toBe('x');
    });
  });

  describe('a host without git', () => {
    it('says so before the first step; rewind is refused with the reason', async () => {
      const bin = join(sshd.home, 'nogit-bin');
      await mkdir(bin, { recursive: true });
      await writeFile(join(bin, 'git'), '#!/bin/sh\nexit 127\n');
      await chmod(join(bin, 'git'), 0o755);
      const work = join(sshd.home, 'nogit');
      await mkdir(work, { recursive: true });
      const spec = sshd.spec('nogit');
      spec.options = [...(spec.options ?? []), `SetEnv=APOLLO_TEST_PATH=${bin}`];
      const session = await core.ws.create({ name: 'no git', cwd: work, environment: spec });
      const server = await fake([tool('run_command', { session_id: 'main', command: 'echo hi > f.txt' }), tool('finish', { message: 'ok' })]);
      const { done } = core.rollouts.start({ session, task: 't', endpoint: endpoint(server), policy: 'model', maxSteps: 5, cwd: work, tuning: TUNING });
      expect(await done).toBe('finished');
      const warning = session.events.findIndex((e) => e.type === 'warning');
      const firstStep = session.events.findIndex((e) => e.type === 'step.started');
      expect(warning).toBeGreaterThan(-1);
      expect(warning).toBeLessThan(firstStep);
      const w = session.events[warning]!;
      expect(w.type === 'warning' && w.message).toMatch(/Checkpoints are off: there is no git in ssh .* \(environment nogit\).*rewind is disabled/);
      const stepId = events(session, 'step.started')[0]!.stepId;
      await expect(rewind(core, { sessionId: session.id, toStepId: stepId })).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/has no checkpoint: taking it failed \(Checkpoints are off: there is no git/) });
      expect(await readFile(join(work, 'f.txt'), 'utf8')).toBe('hi\n');
    });
  });
});
