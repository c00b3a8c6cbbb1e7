// `apollo label --keep/--mask` end to end: the built CLI (out/main/cli.js, build with
// `npx electron-vite build`) sets annotator labels on a session written from events,
// and everything is read back from the session log. Bad steps, unknown tags and a
// missing annotator are refused before anything is written.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEvent } from '../../shared/events';
import { effectiveLabel, foldTrajectory } from '../../shared/trajectory';
import { failed, run, SessionBuilder } from '../fixtures/sessions';
import { startFakeLlm, text, type FakeLlm, type FakeRequest } from '../fixtures/fake-llm-server';

const CLI = resolve(__dirname, '../../out/main/cli.js');
const SID = 'three';

let root: string;
let home: string;

/**
 * main m-0001..m-0006; `alt` branched from step 2 (alt-first, alt-second) and left when
 * the annotator branched `bee` from step 4 (bee-1..bee-3), which went on.
 */
function session(): SessionEvent[] {
  const b = new SessionBuilder({ name: 'three branches' });
  b.rollout({ task: 'Fix the build.' });
  for (let i = 1; i <= 6; i++) {
    // Step 3's build fails and step 4 retries it (on main and on bee alike).
    if (i === 3) b.step({ id: 'm-0003', calls: [run('make all')], results: [failed('make: *** [all] Error 2', 2)] });
    else b.step({ id: `m-000${i}`, calls: [run(i === 4 ? 'make all' : `step ${i}`)] });
  }
  b.branch({ branchId: 'alt', from: 'm-0002', author: 'alice' });
  b.step({ branchId: 'alt', id: 'alt-first', calls: [run('alt 1')] });
  b.step({ branchId: 'alt', id: 'alt-second', calls: [run('alt 2')] });
  b.branch({ branchId: 'bee', from: 'm-0004', author: 'alice' });
  for (let i = 1; i <= 3; i++) b.step({ branchId: 'bee', id: `bee-${i}`, calls: [run(`bee ${i}`)] });
  return b.events;
}

function apollo(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  delete childEnv.APOLLO_ANNOTATOR;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  const p = spawn(process.execPath, [CLI, ...args, '--home', home], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((r) => p.on('exit', (code) => r({ code, stdout, stderr })));
}

async function events(): Promise<SessionEvent[]> {
  const text = await readFile(join(home, 'sessions', SID, 'events.jsonl'), 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l) as SessionEvent);
}

async function labelsSince(n: number): Promise<Array<EventOf<'label.set'>>> {
  return (await events()).slice(n).filter((e): e is EventOf<'label.set'> => e.type === 'label.set');
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('out/main/cli.js is missing: build it first with `npx electron-vite build`.');
  root = await mkdtemp(join(tmpdir(), 'apollo-cli-label-'));
  home = join(root, 'home');
  await mkdir(join(home, 'sessions', SID), { recursive: true });
  await writeFile(join(home, 'sessions', SID, 'events.jsonl'), session().map((e) => `${JSON.stringify(e)}\n`).join(''));
  // An index that does not list the session yet (as after copying a session folder in): adopted without a warning.
  await writeFile(join(home, 'workspace.json'), JSON.stringify({ version: 1, sessions: {}, settings: {} }));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('apollo label --keep/--mask', () => {
  it('sets annotator labels by step number, range, id and id prefix, with tags and a note', async () => {
    const before = (await events()).length;
    const r = await apollo(['label', SID, '--keep', '1,2', '--mask', '5-6,alt-s', '--mask', 'bee-3', '--tag', 'superseded', '--note', 'went elsewhere', '--annotator', 'alice']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/keep\s+2\s+step 1 \(m-0001\), step 2 \(m-0002\)/);
    expect(r.stdout).toMatch(/applied 6 annotator labels/);
    const set = await labelsSince(before);
    expect(set.map((e) => [e.stepId, e.label])).toEqual([
      ['m-0001', 'keep'], ['m-0002', 'keep'], ['m-0005', 'mask'], ['m-0006', 'mask'], ['alt-second', 'mask'], ['bee-3', 'mask'],
    ]);
    for (const e of set) expect(e).toMatchObject({ source: 'annotator', author: 'alice', tags: ['superseded'], note: 'went elsewhere' });
  });

  it('counts step numbers along --branch, and takes the annotator from $APOLLO_ANNOTATOR', async () => {
    const before = (await events()).length;
    const r = await apollo(['label', SID, '--branch', 'bee', '--mask', '5-6', '--keep', '4'], { APOLLO_ANNOTATOR: 'bob' });
    expect(r.code).toBe(0);
    const set = await labelsSince(before);
    expect(set.map((e) => [e.stepId, e.label, e.author, e.tags, e.note])).toEqual([
      ['m-0004', 'keep', 'bob', [], ''], ['bee-1', 'mask', 'bob', [], ''], ['bee-2', 'mask', 'bob', [], ''],
    ]);
    // --annotator wins over the environment.
    const again = await apollo(['label', SID, '--keep', '3', '--annotator', 'carol'], { APOLLO_ANNOTATOR: 'bob' });
    expect(again.code).toBe(0);
    expect((await labelsSince(before + set.length)).map((e) => [e.stepId, e.author])).toEqual([['m-0003', 'carol']]);
  });

  it('previews with --dry-run and writes nothing', async () => {
    const before = (await events()).length;
    const r = await apollo(['label', SID, '--mask', '1-3', '--dry-run', '--annotator', 'alice']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/dry run: 3 annotator labels would be written/);
    expect((await events()).length).toBe(before);
  });

  it('refuses a missing annotator, unknown tags and bad steps with a clear error, writing nothing', async () => {
    const before = (await events()).length;
    // `opens`: refused only once the workspace is open (these take its lock, so they run one
    // after another); the rest are refused before it is opened and run side by side with them.
    const cases: Array<{ args: string[]; env?: Record<string, string>; code: number; err: RegExp; opens?: true }> = [
      { args: ['--keep', '1'], code: 2, err: /--keep\/--mask need --annotator NAME \(or \$APOLLO_ANNOTATOR\)/ },
      { args: ['--keep', '1', '--annotator', ' '], code: 2, err: /--annotator needs a name/ },
      { args: ['--keep', '1'], env: { APOLLO_ANNOTATOR: '' }, code: 2, err: /need --annotator/ },
      { args: ['--mask', '1', '--tag', 'error,bogus', '--annotator', 'alice'], code: 2, err: /unknown tag bogus; known: error, redundant, off-track, unsafe, superseded, other/ },
      { args: ['--mask', '0', '--annotator', 'alice'], code: 2, err: /step numbers start at 1/ },
      { args: ['--mask', '5-3', '--annotator', 'alice'], code: 2, err: /--mask 5-3: a range goes from the lower step number to the higher/ },
      { args: ['--keep', '1', '--mask', '2,99', '--annotator', 'alice'], code: 1, err: /has no step 99 on its main branch "main" \(it has 6 steps\)/, opens: true },
      { args: ['--mask', '4-9', '--annotator', 'alice'], code: 1, err: /has no step 9 on its main branch/, opens: true },
      { args: ['--branch', 'alt', '--mask', '5', '--annotator', 'alice'], code: 1, err: /has no step 5 on branch "alt" \(it has 4 steps\)/, opens: true },
      { args: ['--branch', 'nope', '--mask', '1', '--annotator', 'alice'], code: 1, err: /has no branch nope/, opens: true },
      { args: ['--mask', 'alt-', '--annotator', 'alice'], code: 1, err: /Step prefix "alt-" is ambiguous/, opens: true },
      { args: ['--mask', 'zzzz', '--annotator', 'alice'], code: 1, err: /No step "zzzz"/, opens: true },
      { args: ['--keep', '1,2', '--mask', 'm-0002', '--annotator', 'alice'], code: 2, err: /step 2 \(m-0002\) given to both --keep and --mask/, opens: true },
      { args: ['--mask', '1', '--rules', 'all', '--annotator', 'alice'], code: 2, err: /give --rules or --keep\/--mask, not both/ },
      { args: ['--mask', '1', '--note', 'x'.repeat(10_001), '--annotator', 'alice'], code: 2, err: /note/, opens: true },
    ];
    const results = new Map<(typeof cases)[number], Awaited<ReturnType<typeof apollo>>>();
    const one = async (c: (typeof cases)[number]) => void results.set(c, await apollo(['label', SID, ...c.args], c.env));
    await Promise.all([
      ...cases.filter((c) => !c.opens).map(one),
      (async () => {
        for (const c of cases.filter((x) => x.opens)) await one(c);
      })(),
    ]);
    for (const c of cases) {
      const r = results.get(c)!;
      expect(r.code, c.args.join(' ')).toBe(c.code);
      expect(r.stderr, c.args.join(' ')).toMatch(c.err);
    }
    expect((await events()).length).toBe(before);
  });

  it('names the annotator on rule runs; the annotator labels keep precedence over them', async () => {
    const before = (await events()).length;
    const r = await apollo(['label', SID, '--rules', 'abandoned-branch', '--annotator', 'dana']);
    expect(r.code).toBe(0);
    const set = await labelsSince(before);
    // alt-first and alt-second (left for bee), m-0005 and m-0006 (main after bee's fork point).
    expect(set.map((e) => e.stepId).sort()).toEqual(['alt-first', 'alt-second', 'm-0005', 'm-0006']);
    for (const e of set) expect(e).toMatchObject({ source: 'rule', rule: 'abandoned-branch', author: 'rules (dana)' });
    const t = foldTrajectory(await events());
    expect(effectiveLabel(t.steps.get('alt-second')!)).toMatchObject({ source: 'annotator', author: 'alice' });
    expect(effectiveLabel(t.steps.get('alt-first')!)).toMatchObject({ source: 'rule', author: 'rules (dana)' });
    // Without a name, rule labels stay authored by "rules".
    const n = (await events()).length;
    expect((await apollo(['label', SID, '--rules', 'failed-retry'])).code).toBe(0);
    expect((await labelsSince(n)).map((e) => [e.stepId, e.author])).toEqual([['m-0003', 'rules']]);
  });

  it('names the annotator on judge runs, keeping the model', async () => {
    let llm: FakeLlm | undefined;
    try {
      llm = await startFakeLlm((req: FakeRequest) => {
        const user = (req.body.messages as Array<{ role: string; content: string }>).find((m) => m.role === 'user')!.content;
        const ids = [...user.matchAll(/^### Action (\S+)$/gm)].map((m) => m[1]!);
        return text(JSON.stringify({ results: ids.map((stepId) => ({ stepId, label: 'keep', tags: [], rationale: 'ok' })) }));
      });
      const before = (await events()).length;
      const r = await apollo(['judge', SID, '--branch', 'alt', '--base-url', llm.url, '--model', 'jm'], { APOLLO_ANNOTATOR: 'erin' });
      expect(r.code).toBe(0);
      const judged = (await labelsSince(before)).filter((e) => e.source === 'judge');
      // On alt only alt-first has no annotator label by now: the judge skips the others.
      expect(judged.map((e) => e.stepId)).toEqual(['alt-first']);
      for (const e of judged) expect(e.author).toBe('judge:jm (erin)');
      expect((await apollo(['judge', SID, '--base-url', llm.url, '--model', 'jm', '--annotator', ''])).code).toBe(2);
    } finally {
      await llm?.close();
    }
  });

  it('documents the options in --help', async () => {
    const r = await apollo(['label', '--help']);
    expect(r.code).toBe(0);
    for (const o of ['--keep STEPS', '--mask STEPS', '--tag', '--note', '--annotator NAME', 'APOLLO_ANNOTATOR', '1,3,5-8']) expect(r.stdout).toContain(o);
    expect((await apollo(['judge', '--help'])).stdout).toContain('--annotator NAME');
  });
});
