// The sample a fresh workspace gets works offline end to end: it is seeded with its
// checkpoint store (unbundled from resources/samples/<id>/checkpoints.bundle) and a
// working directory of its own, so the Files tab reads every checkpoint the log names
// and a Rewind restores a step's files in a real shell.
import { cp, lstat, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEvent } from '../../shared/events';
import type { HostMessage } from '../../shared/contract/index';
import { Workspace } from '../../electron/core/store/workspace';
import { startTestHost, type TestHost } from '../fixtures/web-host';
import { useHermeticBash } from '../fixtures/shell-home';

const SAMPLE_ID = 'sample-sales-report';
const SAMPLE_DIR = resolve(__dirname, '../../resources/samples', SAMPLE_ID);
const shippedLog = (): Promise<string> => readFile(join(SAMPLE_DIR, 'events.jsonl'), 'utf8');
const parse = (text: string): SessionEvent[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as SessionEvent);
const of = <T extends SessionEvent['type']>(evs: SessionEvent[], type: T) => evs.filter((e): e is EventOf<T> => e.type === type);

let root: string;
let t: TestHost;
let sessionDir: string;
let workDir: string;
/** Main-branch step ids by number (1-based), from the shipped log. */
let steps: string[];

/** A command through the contract, as a client sends it. */
async function call<R>(cmd: string, args: unknown): Promise<R> {
  const replies: HostMessage[] = [];
  const client = t.core.connect((m) => replies.push(m));
  try {
    await client.receive({ kind: 'req', id: 1, cmd, args });
    const res = replies.find((m) => m.kind === 'res') as { ok: boolean; result?: R; error?: { message: string } };
    if (!res.ok) throw new Error(`${cmd}: ${res.error?.message}`);
    return res.result as R;
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-sample-seed-'));
  // Rewind starts a real shell: a hermetic one.
  await useHermeticBash(root);
  t = await startTestHost('apollo-sample-seed-host-');
  sessionDir = join(t.home, 'ws', 'sessions', SAMPLE_ID);
  workDir = join(sessionDir, 'work');
  const shipped = parse(await shippedLog());
  steps = of(shipped, 'step.started').filter((e) => e.branchId === 'main').sort((a, b) => a.depth - b.depth).map((e) => e.stepId);
});

afterAll(async () => {
  await t?.close();
  await rm(root, { recursive: true, force: true });
});

describe('the shipped sample on a fresh machine', () => {
  // First, as seeded: once opened, the store writes its own files inside its 0700 folder, as every store does.
  it('is seeded owner-only: the store folder and everything in it, and the working directory', async () => {
    const walk = async (d: string): Promise<string[]> => {
      const bad: string[] = [];
      const st = await lstat(d);
      if ((st.mode & 0o777) !== 0o700) bad.push(`${d} ${(st.mode & 0o777).toString(8)}`);
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) bad.push(...(await walk(p)));
        else if (((await lstat(p)).mode & 0o077) !== 0) bad.push(p);
      }
      return bad;
    };
    expect(await walk(join(sessionDir, 'checkpoints.git'))).toEqual([]);
    expect((await lstat(workDir)).mode & 0o777).toBe(0o700);
  });

  it('is seeded with its checkpoint store: every checkpoint the log names can be listed and read', async () => {
    expect(t.core.ws.entry(SAMPLE_ID).cwd).toBe(workDir);
    const log = parse(await readFile(join(sessionDir, 'events.jsonl'), 'utf8'));
    const cps = of(log, 'checkpoint.taken');
    expect(cps.length).toBe(steps.length);
    for (const c of cps) {
      expect(c.cwd).toBe(workDir);
      const { files } = await call<{ files: Array<{ path: string }> }>('checkpoint.files', { sessionId: SAMPLE_ID, stepId: c.stepId });
      const depth = steps.indexOf(c.stepId) + 1;
      // The agent thinks (1), writes sales.csv (2), runs awk (3-5), writes report.md (6), checks and finishes.
      expect([depth, files.map((f) => f.path)]).toEqual([depth, depth < 2 ? [] : depth < 6 ? ['sales.csv'] : ['report.md', 'sales.csv']]);
    }
    const report = await call<{ text: string }>('checkpoint.readFile', { sessionId: SAMPLE_ID, stepId: steps.at(-1), path: 'report.md' });
    expect(report.text).toContain('Total: 495');
    // The working directory is as the recording left it.
    expect((await readdir(workDir)).sort()).toEqual(['report.md', 'sales.csv']);
  });

  it('keeps the recorded log, only moving the working directory (and the checkpoints\') to this machine', async () => {
    const shipped = (await shippedLog()).split('\n');
    const seeded = (await readFile(join(sessionDir, 'events.jsonl'), 'utf8')).split('\n');
    expect(seeded.length).toBe(shipped.length);
    const recordedCwd = (parse(shipped[0]!)[0] as EventOf<'session.created'>).cwd;
    for (const [i, line] of seeded.entries()) {
      const moved = /"type":"(session\.created|checkpoint\.taken)"/.test(line);
      if (!moved) expect(line).toBe(shipped[i]);
      else {
        expect(line).not.toContain(recordedCwd);
        expect(line.replaceAll(JSON.stringify(workDir).slice(1, -1), recordedCwd)).toBe(shipped[i]);
      }
    }
  });

  it('rewinds to step 3: its files come back, in a fresh shell in the working directory', async () => {
    const r = await call<{ branchId: string }>('branch.rewind', { sessionId: SAMPLE_ID, toStepId: steps[2] });
    expect(r.branchId).toMatch(/^b-/);
    // Step 3 came before report.md was written.
    expect((await readdir(workDir)).sort()).toEqual(['sales.csv']);
    expect(await readFile(join(workDir, 'sales.csv'), 'utf8')).toMatch(/^region,month,amount\n/);
    const [term] = t.core.pty.list(SAMPLE_ID);
    expect((await term!.runCommand('pwd', { wait: true, timeoutMs: 5_000 })).output).toBe(workDir);
    const session = await t.core.ws.session(SAMPLE_ID);
    // The recorded shell directory was moved with the working directory: no "no longer exists" warning.
    expect(of(session.events, 'warning').map((w) => w.message)).toEqual([]);
    expect(of(session.events, 'branch.created').at(-1)).toMatchObject({ branchId: r.branchId, fromStepId: steps[2], reason: 'rewind' });
  });
});

describe('a sample whose checkpoints cannot be unbundled', () => {
  it('is seeded without them, and says so', async () => {
    const samples = join(root, 'samples');
    await cp(SAMPLE_DIR, join(samples, SAMPLE_ID), { recursive: true });
    await writeFile(join(samples, SAMPLE_ID, 'checkpoints.bundle'), 'not a bundle\n');
    const ws = await Workspace.open(join(root, 'broken-ws'));
    try {
      await ws.seedSamples(samples);
      expect(ws.list().map((e) => e.id)).toEqual([SAMPLE_ID]);
      expect(ws.warnings.join('\n')).toMatch(/sample session sample-sales-report was copied without its checkpoints .*Files tab and Rewind are unavailable/);
      const dir = join(root, 'broken-ws', 'sessions', SAMPLE_ID);
      expect(existsSync(join(dir, 'checkpoints.git'))).toBe(false);
      expect(existsSync(join(dir, 'work'))).toBe(false);
      // The log as shipped: nothing names a folder that was not made.
      expect(await readFile(join(dir, 'events.jsonl'), 'utf8')).toBe(await shippedLog());
    } finally {
      await ws.close();
    }
  });
});
