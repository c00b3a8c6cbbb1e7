// Results match what was saved: on a full disk (the store's simulated one, and a
// real small tmpfs where it can be mounted) every command
// answers exactly what is durable, a terminal that cannot record pauses its program
// and loses nothing, and a rollout pauses instead of failing and resumes once space
// is freed.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApolloCore } from '../../electron/core/app';
import { Workspace } from '../../electron/core/store/workspace';
import type { PtyTerminal } from '../../electron/core/pty/terminal';
import type { PushEvents } from '../../shared/contract/index';
import { DISK_KINDS, releaseTinyDisk, withTinyDisk } from '../fixtures/tiny-disk';
import { startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';
import { connectClient, type Call } from '../fixtures/core-client';

let dir: string;
let llm: FakeLlm | null = null;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'apollo-disk-full-'));
});
afterEach(async () => {
  await llm?.close();
  llm = null;
  releaseTinyDisk(dir);
  await rm(dir, { recursive: true, force: true });
});

/** The core on `home` with one client; the client's notices are collected. */
async function openCore(home: string): Promise<{ core: ApolloCore; call: Call; notices: PushEvents['notice'][] }> {
  const core = await ApolloCore.open({ home, resourcesDir: resolve('resources'), host: 'web', samples: false });
  const notices: PushEvents['notice'][] = [];
  const call = connectClient(core, (m) => m.name === 'notice' && notices.push(m.payload as PushEvents['notice']));
  return { core, call, notices };
}

async function until(cond: () => boolean | Promise<boolean>, ms = 20_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const index = async (home: string) => JSON.parse(await readFile(join(home, 'workspace.json'), 'utf8')) as { settings: Record<string, unknown>; sessions: Record<string, { name: string; createdAt: number }> };

describe.each(DISK_KINDS)('commands on a full disk (%s) answer what is durable', (kind) => {
  it('settings.set: DISK_FULL and not applied, neither in memory nor by a later write', async (ctx) => {
    await withTinyDisk(kind, dir, ctx, async ({ root: home, fill }) => {
      const { core, call } = await openCore(home);
      try {
        await call('settings.set', { annotator: 'alice' });
        const s = await call('sessions.create', { name: 'x', cwd: dir, terminals: [] });
        const free = await fill();
        await expect(call('settings.set', { annotator: 'bob' })).rejects.toMatchObject({ code: 'DISK_FULL' });
        expect((await call('settings.get', {})).annotator).toBe('alice');
        await free();
        // The next index write (a rename) must not carry the refused value along.
        await call('sessions.rename', { sessionId: s.id, name: 'y' });
        await call('settings.set', { checkpointMaxFileBytes: 1024 * 1024 });
        expect((await index(home)).settings.annotator).toBe('alice');
        expect((await call('settings.get', {})).annotator).toBe('alice');

        // A profile is a setting too: refused on a full disk, it is not listed, and no later write saves it.
        const free2 = await fill();
        await expect(call('profiles.save', { name: 'ghost', baseUrl: 'http://127.0.0.1:9', model: 'm' })).rejects.toMatchObject({ code: 'DISK_FULL' });
        expect(await call('profiles.list', {})).toEqual([]);
        await free2();
        await call('settings.set', { annotator: 'carol' });
        expect((await index(home)).settings.profiles ?? []).toEqual([]);

        // A value is visible only once it is on disk.
        const pending = core.ws.setSettings({ annotator: 'dave' });
        expect(core.ws.getSetting('annotator')).toBe('carol');
        await pending;
        expect(core.ws.getSetting('annotator')).toBe('dave');
      } finally {
        await core.close();
      }
      expect((await index(home)).settings.annotator).toBe('dave');
    });
  });

  it('sessions.rename: saved once its event is durable, even when the index cannot be written', async (ctx) => {
    await withTinyDisk(kind, dir, ctx, async ({ root: home, fill }) => {
      const { core, call } = await openCore(home);
      let id: string;
      try {
        id = (await call('sessions.create', { name: 'before', cwd: dir, terminals: [] })).id;
        // Full, except the room left in the log's last block: a small append fits, a new index file does not.
        const free = await fill();
        const renamed = await call('sessions.rename', { sessionId: id, name: 'after' });
        expect(renamed.name).toBe('after');
        expect(await readFile(join(home, 'sessions', id, 'events.jsonl'), 'utf8')).toContain('"session.renamed"');
        // The index on disk could not follow (neither after the rename nor at close,
        // which writes it again); it is repaired from the log.
        await core.close();
        expect(Object.values((await index(home)).sessions).map((e) => e.name)).toEqual(['before']);
        await free();
      } finally {
        await core.close();
      }
      const ws = await Workspace.open(home);
      expect(ws.list().map((e) => e.name)).toEqual(['after']);
      await ws.close();
    });
  });

  it('sessions.create: DISK_FULL leaves no session behind (no ghost dated 1970)', async (ctx) => {
    await withTinyDisk(kind, dir, ctx, async ({ root: home, fill }) => {
      const { core, call } = await openCore(home);
      const free = await fill();
      try {
        await expect(call('sessions.create', { name: 'ghost', cwd: dir, terminals: [] })).rejects.toMatchObject({ code: 'DISK_FULL' });
        expect(await call('sessions.list', {})).toEqual([]);
      } finally {
        await core.close();
      }
      expect(await readdir(join(home, 'sessions'))).toEqual([]);
      await free();
      const ws = await Workspace.open(home);
      expect(ws.list()).toEqual([]);
      await ws.close();
    });
  });

  it('a terminal that cannot record pauses its program, says so, and loses no output', async (ctx) => {
    await withTinyDisk(kind, dir, ctx, async ({ root: home, fill }) => {
      const { core, call, notices } = await openCore(home);
      try {
        const go = join(dir, 'go');
        const s = await call('sessions.create', { name: 't', cwd: dir, terminals: [] });
        const session = await core.session(s.id);
        // Waits for the disk to be full, then prints 20,000 numbered lines (~170 KB) over a few
        // seconds, 100 every 10 ms. In one perl (Debian's perl-base is always there): as a shell
        // loop of seq and sleep it started 400 processes, ~0.5 s of CPU, for the same lines.
        const script = '$| = 1; select(undef, undef, undef, 0.05) until -e $ARGV[0]; for my $i (0 .. 199) { print join("\\n", $i * 100 + 1 .. $i * 100 + 100), "\\n"; select(undef, undef, undef, 0.01) }';
        const term = (await core.pty.create(session, { id: 'out', command: 'perl', args: ['-e', script, go] })) as PtyTerminal;
        const free = await fill();
        await writeFile(go, '');
        await until(() => term.info().recordingBlocked !== undefined, 20_000, 'the recording to block');
        expect(term.flowState().ptyPaused).toBe(true);
        await until(() => notices.some((n) => n.level === 'error' && /Disk full: the output of terminal out cannot be recorded/.test(n.message)), 5000, 'the notice');
        // Paused: the pty is no longer read, so once what was in flight has arrived the
        // program waits, printing nothing more (it would print ~170 KB in a few seconds).
        let seen = -1;
        let since = Date.now();
        await until(() => {
          const now = term.recordedBytes();
          if (now !== seen) [seen, since] = [now, Date.now()];
          return Date.now() - since >= 300;
        }, 10_000, 'the output to stop');
        await new Promise((r) => setTimeout(r, 500)); // a window to show that nothing more comes
        expect(term.recordedBytes()).toBe(seen);
        expect(seen).toBeLessThan(100_000); // of ~170 KB: it stopped early, it did not finish
        expect(term.info().status).toBe('running');

        await free();
        await term.exited;
        expect(term.info().recordingBlocked).toBeUndefined();
        expect(notices.some((n) => n.level === 'info' && /records again/.test(n.message))).toBe(true);
        await session.close();
        const out = (await readFile(join(home, 'sessions', s.id, 'terminals', 'out.out'), 'utf8')).replace(/\r/g, '');
        const lines = out.split('\n').filter((l) => /^\d+$/.test(l));
        expect(lines.length).toBe(20000);
        expect(lines.at(-1)).toBe('20000');
        // The events point exactly at the end of what was recorded.
        const events = (await readFile(join(home, 'sessions', s.id, 'events.jsonl'), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; offset?: number });
        const exited = events.find((e) => e.type === 'terminal.exited');
        expect(exited?.offset).toBe((await stat(join(home, 'sessions', s.id, 'terminals', 'out.out'))).size);
      } finally {
        await core.close();
      }
    }, { size: '2m' });
  });

  it('a rollout that hits a full disk pauses (not failed) and resumes once space is freed', async (ctx) => {
    await withTinyDisk(kind, dir, ctx, async ({ root: home, fill }) => {
      const { core, call } = await openCore(home);
      let free: (() => Promise<void>) | null = null;
      try {
        llm = await startFakeLlm(async (req) => {
          const n = llm!.requests.length;
          if (n === 2 && !free) free = await fill(); // the disk fills while the model thinks
          void req;
          return n >= 3 ? tool('finish', { message: 'done' }) : tool('think', { thought: `step ${n} ${'x'.repeat(8000)}` });
        });
        await call('profiles.save', { name: 'fake', baseUrl: llm.url, model: 'fake-model' });
        const s = await call('sessions.create', { name: 'r', cwd: dir, terminals: [] });
        await call('rollout.start', { sessionId: s.id, task: 'do it', profile: 'fake', maxSteps: 10 });
        const rollout = core.rollouts.get(s.id)!;
        await until(() => rollout.state === 'paused' || rollout.state === 'failed' || rollout.state === 'finished', 30_000, 'the rollout to stop');
        expect(rollout.state).toBe('paused');
        expect(rollout.diskFull).toBe(true);
        expect(rollout.error).toMatch(/Disk full/);
        await free!();
        // The message says why a resume paused again (seen once at load ~10: a 'paused' with no reason printed).
        expect(await core.rollouts.resume(s.id), `resumed: ${rollout.state} ${rollout.error ?? ''}`).toBe('finished');
        const log = await readFile(join(home, 'sessions', s.id, 'events.jsonl'), 'utf8');
        expect(log).not.toContain('"state":"failed"');
        expect(log).toContain('"state":"finished"');
      } finally {
        await core.close();
      }
    }, { size: '1m' });
  });
});
