// The built `apollo` on a first run and around a running server: read-only commands
// create and write nothing, usage errors exit 2 with one clear line, a replay never
// writes into the folder it was started from, repaired logs are reported, and a
// headless rollout on a full disk pauses (exit 4) or resumes once space is freed.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, cp, mkdir, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { startServer } from '../e2e/harness';
import { startFakeLlm, tool, type FakeLlm } from '../fixtures/fake-llm-server';
import { DISK_KINDS, releaseTinyDisk, withTinyDisk } from '../fixtures/tiny-disk';

const CLI = resolve(__dirname, '../../out/main/cli.js');
const SAMPLE = resolve(__dirname, '../../resources/samples/sample-sales-report');
let dir: string;
let llm: FakeLlm | null = null;

beforeEach(async () => {
  if (!existsSync(CLI)) throw new Error('run `npm run build` first (npm test does)');
  dir = await mkdtemp(join(tmpdir(), 'apollo-first-run-'));
});
afterEach(async () => {
  await llm?.close();
  llm = null;
  releaseTinyDisk(dir);
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function apollo(args: string[], opts: { cwd?: string; onOutput?: (all: string) => void } = {}): Promise<Run> {
  const p = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? dir, env: { ...process.env, APOLLO_HOME: join(dir, 'default-home') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    opts.onOutput?.(stdout + stderr);
  });
  p.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    opts.onOutput?.(stdout + stderr);
  });
  return new Promise((r) => p.on('exit', (code) => r({ code, stdout, stderr })));
}

describe('read-only commands', () => {
  it('apollo sessions: a missing workspace is said and not created; a fresh one lists the sample', async () => {
    const missing = join(dir, 'nonexistent', 'deep', 'dir');
    const fresh = join(dir, 'fresh');
    await mkdir(fresh);
    // Side by side: three workspaces of their own, none of them written.
    const [r, removed, listed] = await Promise.all([
      apollo(['sessions', '--home', missing]),
      // A command that writes makes no workspace it was not asked for (env add may; remove has nothing to remove).
      apollo(['env', 'remove', 'gpu', '--home', missing]),
      apollo(['sessions', '--home', fresh]),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/There is no workspace at .*nonexistent\/deep\/dir \(the folder does not exist\)/);
    expect(removed.code).toBe(1);
    expect(removed.stderr).toMatch(/There is no workspace at .*nonexistent\/deep\/dir/);
    expect(existsSync(join(dir, 'nonexistent'))).toBe(false);

    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^sample-sales-report\t.*\tSample: sales report/m);
    expect(await readdir(fresh)).toEqual([]);
  });

  it('apollo sessions beside a running server takes no lock and does not rewrite its index', async () => {
    const home = join(dir, 'served');
    const server = await startServer(home);
    try {
      const url = new URL(server.url);
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${url.searchParams.get('token')}`);
      await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
      const answer = new Promise<{ ok: boolean }>((r) => ws.on('message', (d) => {
        const m = JSON.parse(d.toString()) as { kind: string; id?: number; ok: boolean };
        if (m.kind === 'res' && m.id === 1) r(m);
      }));
      ws.send(JSON.stringify({ kind: 'req', id: 1, cmd: 'settings.set', args: { annotator: 'bob' } }));
      expect((await answer).ok).toBe(true);
      ws.close();
      const index = join(home, 'workspace.json');
      const before = { text: await readFile(index, 'utf8'), mtime: (await stat(index)).mtimeMs };
      const r = await apollo(['sessions', '--home', home]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/sample-sales-report/);
      expect(await readFile(index, 'utf8')).toBe(before.text);
      expect((await stat(index)).mtimeMs).toBe(before.mtime);
      expect(JSON.parse(before.text).settings.annotator).toBe('bob');
    } finally {
      await server.stop();
    }
  });

  it('label --dry-run and export --dry-run beside a running server take no lock and change no file', async () => {
    const home = join(dir, 'served');
    const server = await startServer(home);
    try {
      const sid = 'sample-sales-report';
      const before = await snapshot(home);
      const runs = [
        ['label', sid, '--rules', 'all', '--dry-run', '--home', home],
        ['label', sid, '--keep', '1', '--mask', '2', '--dry-run', '--annotator', 'ann', '--home', home],
        ['export', sid, '--dry-run', '--home', home],
      ];
      // Side by side: each only reads, so none waits on another; nor on the writer, refused at the lock.
      const [writer, ...results] = await Promise.all([
        apollo(['label', sid, '--keep', '1', '--annotator', 'ann', '--home', home]),
        ...runs.map((args) => apollo(args)),
      ]);
      // The server holds the lock: a command that writes is refused.
      expect(writer!.code).toBe(1);
      expect(writer!.stderr).toMatch(/lock|in use|already open/i);
      runs.forEach((args, i) => {
        const r = results[i]!;
        expect([args.slice(0, 2).join(' '), r.code, r.stderr]).toEqual([args.slice(0, 2).join(' '), 0, '']);
        expect(r.stdout).toMatch(/dry run: /);
      });
      expect(await snapshot(home)).toEqual(before);
    } finally {
      await server.stop();
    }
  });
});

/** Every file under `root` (relative path → size, mtime and SHA-256), to show that nothing was written. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    const st = await stat(path);
    out[relative(root, path)] = `${st.size} ${st.mtimeMs} ${createHash('sha256').update(await readFile(path)).digest('hex')}`;
  }
  return out;
}

describe('usage errors', () => {
  it('exit 2 with one line and the usage, for every command', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['rollout', '--bogus'], /^apollo rollout: unknown option --bogus\n/],
      [['rollout', '--task', 'x', '--home', join(dir, 'h')], /^apollo rollout: --task, --base-url and --model are required/],
      [['rollout', '--replay', 'x', '--task', 'y'], /^apollo rollout: --replay runs a recorded trajectory with no model/],
      [['rollout', '--replay', 'x', '--max-steps', 'lots'], /^apollo rollout: --max-steps must be a positive integer, got lots/],
      [['serve', '--port', 'abc'], /^apollo serve: --port must be 0-65535, got abc/],
      [['serve', 'extra'], /^apollo serve: unexpected argument "extra"/],
      [['sessions', '--jsn'], /^apollo sessions: unknown option --jsn \(did you mean --json\?\)/],
      [['sessions', '--home'], /^apollo sessions: option --home needs a value/],
      [['sessions', '--json=yes'], /^apollo sessions: option --json takes no value/],
      [['export'], /^apollo export: at least one SESSION is required/],
      [['bench', '--generate', join(dir, 'g'), '--steps', 'many'], /^apollo bench: --steps must be a positive number \(got "many"\)/],
    ];
    // Side by side: each is refused before it touches anything, so none waits on another.
    const results = await Promise.all(cases.map(([args]) => apollo(args)));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i]!;
      expect([args.join(' '), r.code]).toEqual([args.join(' '), 2]);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/\n\nUsage: apollo /);
      // No stray quote from Node's own parser message.
      expect(r.stderr.split('\n')[0]).not.toMatch(/'/);
    }
    // Nothing was created by a refused invocation.
    expect(existsSync(join(dir, 'h'))).toBe(false);
    expect(existsSync(join(dir, 'g'))).toBe(false);
    expect(existsSync(join(dir, 'default-home'))).toBe(false);
  });
});

describe('apollo rollout --replay on a first run', () => {
  it('runs in a fresh folder under the workspace, prints it, and writes nothing where it was started', async () => {
    const started = join(dir, 'checkout');
    await mkdir(started);
    const home = join(dir, 'new-home');
    const r = await apollo(['rollout', '--replay', 'sample-sales-report', '--home', home], { cwd: started });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Created a new workspace at ${home}`);
    const m = /^working directory (\S+) \(a fresh folder for this replay/m.exec(r.stdout);
    expect(m).not.toBeNull();
    const cwd = m![1]!;
    expect(cwd.startsWith(join(home, 'replays') + '/')).toBe(true);
    expect(await readFile(join(cwd, 'report.md'), 'utf8')).toContain('Total: 495');
    expect(await readdir(started)).toEqual([]);
  });
});

describe('repaired logs', () => {
  it('the CLI says what it repaired when it opens a log', async () => {
    const home = join(dir, 'ws');
    // A copy of the recorded sample (the replay that makes one is the test above).
    await cp(SAMPLE, join(home, 'sessions', 'sample-sales-report'), { recursive: true });
    const log = join(home, 'sessions', 'sample-sales-report', 'events.jsonl');
    await appendFile(log, 'this line is not an event\n{"seq":100000,"ts":1,"type":"warn');
    const damaged = await readFile(log);
    // A dry run only reads: it says what it skipped and leaves the repair to a writer.
    const dry = await apollo(['export', 'sample-sales-report', '--dry-run', '--home', home]);
    expect(dry.code).toBe(0);
    expect(dry.stderr).toMatch(/session sample-sales-report: .*events\.jsonl needs repair \(the next command that writes does it\); read as: dropped a torn last line \(a write cut short by a crash\); skipped 1 corrupt or invalid line \(line \d+\); everything else loaded/);
    expect(await readFile(log)).toEqual(damaged);
    const r = await apollo(['label', 'sample-sales-report', '--keep', '1', '--annotator', 'ann', '--home', home]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/session sample-sales-report: .*events\.jsonl was repaired on opening: dropped a torn last line \(a write cut short by a crash\); skipped 1 corrupt or invalid line \(line \d+\); everything else loaded/);
  });
});

describe.each(DISK_KINDS)('a headless rollout on a full disk (%s)', (kind) => {
  it('pauses with exit 4, or waits for space and resumes', { timeout: 180_000 }, async (ctx) => {
    // The simulated disk reaches the CLI through the environment it inherits.
    await withTinyDisk(kind, dir, ctx, async ({ root: mnt, fill }) => {
      let free: (() => Promise<void>) | null = null;
      let fills = 0;
      // A scripted model whose second request fills the disk while it "thinks".
      const model = async (): Promise<FakeLlm> => {
        let n = 0;
        llm = await startFakeLlm(async () => {
          n++;
          if (n === 2) {
            fills++;
            free = await fill();
          }
          return n >= 3 ? tool('finish', { message: 'done' }) : tool('think', { thought: `step ${n} ${'x'.repeat(4000)}` });
        });
        return llm;
      };
      const work = join(dir, 'work');
      await mkdir(work);
      const run = async (home: string, wait: string, onOutput?: (all: string) => void) => {
        const m = await model();
        try {
          return await apollo(['rollout', '--task', 'think', '--base-url', m.url, '--model', 'm', '--cwd', work, '--home', join(mnt, home), '--wait-for-space', wait], { onOutput });
        } finally {
          await m.close();
          llm = null;
        }
      };

      const paused = await run('a', '0');
      expect(paused.stderr).toMatch(/rollout paused: Disk full/);
      expect(paused.stdout).toMatch(/^paused after \d+ steps/m);
      expect(paused.code).toBe(4);
      expect(fills).toBe(1);
      await free!();
      free = null;
      await rm(join(mnt, 'a'), { recursive: true, force: true });

      let freed = false;
      const waited = await run('b', '60', (all) => {
        if (!freed && free && /waiting up to 60 s for free space/.test(all)) {
          freed = true;
          void free();
        }
      });
      expect(waited.stderr).toMatch(/space freed: resuming the rollout/);
      expect(waited.stdout).toMatch(/^finished after \d+ steps/m);
      expect(waited.code).toBe(0);
      expect(fills).toBe(2);
    }, { size: '2m' });
  });
});
