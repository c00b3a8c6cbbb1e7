// A merge redacts with the lead's secrets. Each annotator's export was redacted with that
// annotator's configured secrets only: a key the lead knows (their own, a team key an
// annotator had not configured) would pass through a merge into the merged dataset. The
// merge redacts everything it writes again, with the exporter's Redactor and the lead's
// secrets (profiles.ts secrets(), as an export gets them): training files, step records,
// recordings, manifest and report; counts it as an export does; trains no reply that held
// one; and with nothing to redact writes the same bytes as before.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../shared/events';
import { exportBundle } from '../../electron/core/dataset/bundle';
import { mergeBundles, type MergeBundlesOptions } from '../../electron/core/dataset/merge';
import type { MaskedTurnReport, RedactionReport } from '../../electron/core/dataset/redact';
import { ApolloCore } from '../../electron/core/app';
import { mergeManager } from '../../electron/core/handlers/merge';
import { MergeManager } from '../../electron/core/merges';
import { Workspace } from '../../electron/core/store/workspace';
import { ok, run, SessionBuilder, writeRecording } from '../fixtures/sessions';
import { reportProblems, TRAINING_FILES } from '../fixtures/redaction-report';

// No built-in pattern matches it: only a configured secret redacts it.
const TEAM = ['corgi', 'Lantern', '51', 'velvetQz'].join('-');
/** Every piece of it long enough to give it away. */
const PIECES = Array.from({ length: TEAM.length - 7 }, (_, i) => TEAM.slice(i, i + 8));

let root: string;
const ids: Record<'deploy' | 'config' | 'mark3', string> = { deploy: '', config: '', mark3: '' };
const bundles = { alice: '', bob: '', carol: '' };

/**
 * The session every annotator exported: the key in a trained reply (a command), in an
 * observation that is JSON text (after a `\n` escape), in guidance, in a comment, in the
 * session's and a branch's names, and in the terminal (output split across two events,
 * and typed in two key presses).
 */
function teamSession(): { events: SessionEvent[]; start: number } {
  const b = new SessionBuilder({ name: `Deploy with ${TEAM}` });
  b.terminal('main');
  const start = b.ts;
  b.input('main', TEAM.slice(0, 9), 0, 'human', start + 15);
  b.input('main', `${TEAM.slice(9)}\r`, 0, 'human', start + 16);
  b.rollout({ task: 'Deploy the service' });
  ids.deploy = b.step({ content: 'Deploying.', calls: [run(`deploy --team ${TEAM}`)], results: [ok()] });
  ids.config = b.step({ content: 'MARK-2', calls: [run('cat config.json')], results: [ok(JSON.stringify({ success: true, exit_code: 0, output: `line one\n${TEAM}\n` }))] });
  b.guidance(`use ${TEAM} for staging`, { after: ids.config });
  ids.mark3 = b.step({ content: 'MARK-3', calls: [run('echo MARK-3')], results: [ok()] });
  b.comment(ids.mark3, `checked with ${TEAM}`);
  b.branch({ branchId: 'alt', from: ids.mark3, name: `try ${TEAM}` });
  b.step({ branchId: 'alt', content: 'MARK-A1', calls: [run('echo MARK-A1')], results: [ok()] });
  b.step({ calls: [{ name: 'finish', args: { summary: 'MARK-4 done' } }], results: [ok()] });
  return { events: b.events, start };
}

function labelled(events: SessionEvent[], author: string, labels: Record<string, 'keep' | 'mask'>): SessionEvent[] {
  const out = events.slice();
  let seq = out.at(-1)!.seq;
  let ts = out.at(-1)!.ts;
  for (const [stepId, label] of Object.entries(labels)) {
    out.push({ seq: ++seq, ts: (ts += 1000), type: 'label.set', stepId, label, tags: [], note: '', source: 'annotator', author } as SessionEvent);
  }
  return out;
}

async function exportAs(author: string, labels: Record<string, 'keep' | 'mask'>, secrets: string[]): Promise<string> {
  const { events, start } = teamSession();
  const sessionDir = join(root, author, 'sessions', 'team');
  await writeRecording(sessionDir, 'main', [{ ts: start + 10, data: '$ echo corgi-Lan' }, { ts: start + 20, data: 'tern-51-velvetQz\r\n' }]);
  const outDir = join(root, 'bundles', author);
  await exportBundle({
    home: root, sessions: [{ sessionId: 'team', events: labelled(events, author, labels), sessionDir }], outDir,
    formats: ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'], secrets, appVersion: 'test',
  });
  return outDir;
}

let n = 0;
const merge = (inputs: string[], over: Partial<MergeBundlesOptions> = {}) =>
  mergeBundles({ inputs, outDir: join(root, 'merged', `m${++n}`), allowUnsigned: true, appVersion: 'test', ...over });

async function filesOf(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (d.isFile()) out.set(relative(dir, join(d.parentPath, d.name)), await readFile(join(d.parentPath, d.name), 'utf8'));
  }
  return out;
}

/** Files of `dir` holding the key or a piece of it. */
async function leaks(dir: string): Promise<string[]> {
  return [...(await filesOf(dir))].filter(([, text]) => PIECES.some((p) => text.includes(p))).map(([f]) => f).sort();
}

const json = async <T>(dir: string, f: string): Promise<T> => JSON.parse(await readFile(join(dir, f), 'utf8')) as T;
const jsonl = async (dir: string, f: string): Promise<Array<Record<string, unknown>>> =>
  (await readFile(join(dir, f), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-merge-secrets-'));
  teamSession();
  const all = (label: 'keep' | 'mask') => Object.fromEntries(Object.values(ids).map((id) => [id, label]));
  // Neither annotator had the team key configured; Carol did (and labelled as Alice).
  bundles.alice = await exportAs('alice', all('keep'), []);
  bundles.bob = await exportAs('bob', { ...all('keep'), [ids.deploy]: 'mask' }, []);
  bundles.carol = await exportAs('carol', all('keep'), [TEAM]);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a merge redacts with the lead\'s secrets', () => {
  it('without them, the key the annotators did not configure passes into the merged bundle', async () => {
    const r = await merge([bundles.alice, bundles.bob]);
    expect(await leaks(r.dir)).toEqual(expect.arrayContaining(['manifest.json', 'mistral.jsonl', 'openai.jsonl', 'sharegpt.jsonl', 'terminals/team/main.cast', 'trajectory.jsonl']));
  });

  it('with them, no file of the merged bundle holds the key or a piece of it', async () => {
    const r = await merge([bundles.alice, bundles.bob], { secrets: [TEAM] });
    const files = await filesOf(r.dir);
    expect([...files.keys()]).toEqual(expect.arrayContaining(['terminals/team/main.cast', 'merge-report.html', 'merge-report.json', 'redactions.json']));
    expect(await leaks(r.dir)).toEqual([]);
    // It was there to redact: in the observation's JSON text after an escape, and split across output events.
    const openai = files.get('openai.jsonl')!;
    expect(openai).toContain('line one\\\\n[REDACTED:configured-secret]');
    const cast = files.get('terminals/team/main.cast')!.trim().split('\n').slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(cast.filter((e) => e[1] === 'o').map((e) => e[2])).toEqual(['$ echo [REDACTED:configured-secret]', '\r\n']);
    expect(cast.filter((e) => e[1] === 'i').map((e) => e[2]).join('')).toBe('[REDACTED:configured-secret]\r');
    // As the exporter redacts a recording for an annotator who had the key configured.
    expect(files.get('terminals/team/main.cast')).toBe(await readFile(join(bundles.carol, 'terminals/team/main.cast'), 'utf8'));
  });

  it('finds the key across output events in a recording longer than the redaction window', async () => {
    const b = new SessionBuilder({ name: 'long terminal' });
    b.terminal('main');
    const start = b.ts;
    b.rollout({ task: 'Watch it' });
    const s1 = b.step({ content: 'MARK-1', calls: [run('tail -f log')], results: [ok()] });
    b.label(s1, 'keep', { author: 'alice' });
    // ~1.3 MB in 61-byte events; the key planted across two events around the window's cuts (1 MiB, 1 MiB + 64 KiB).
    const line = `${'x'.repeat(59)}\r\n`;
    const chunks: Array<{ ts: number; data: string }> = [];
    // Split across two events, and (event 17 190) whole in one that the first window's cut goes through.
    const at = new Set([10, 18_262, 21_000]);
    for (let i = 0; i < 22_000; i++) {
      const data = at.has(i) ? `${line.slice(0, 56)}${TEAM.slice(0, 5)}`
        : at.has(i - 1) ? `${TEAM.slice(5)}${line.slice(TEAM.length - 5)}`
          : i === 17_190 ? `${line.slice(0, 20)}${TEAM}${line.slice(20 + TEAM.length)}` : line;
      chunks.push({ ts: start + 1 + i, data });
    }
    const sessionDir = join(root, 'long', 'sessions', 'long');
    await writeRecording(sessionDir, 'main', chunks);
    const outDir = join(root, 'bundles', 'long');
    await exportBundle({ home: root, sessions: [{ sessionId: 'long', events: b.events, sessionDir }], outDir, formats: ['openai', 'trajectory', 'asciicast'], secrets: [], appVersion: 'test' });
    const before = (await readFile(join(outDir, 'terminals/long/main.cast'), 'utf8')).split('\n');
    const r = await merge([outDir], { secrets: [TEAM] });
    expect(await leaks(r.dir)).toEqual([]);
    const after = (await readFile(join(r.dir, 'terminals/long/main.cast'), 'utf8')).split('\n');
    expect(after.length).toBe(before.length);
    const changed = after.map((l, i) => (l === before[i] ? -1 : i)).filter((i) => i >= 0);
    // The exporter's own window cut one of them across two events: every line holding a piece of one changes, no other.
    const bits = Array.from({ length: TEAM.length - 3 }, (_, i) => TEAM.slice(i, i + 4));
    const planted = before.flatMap((l, i) => (bits.some((p) => l.includes(p)) ? [i] : []));
    expect(planted.length).toBe(8);
    expect(changed).toEqual(planted);
    const { redactions } = await json<{ redactions: RedactionReport[] }>(r.dir, 'redactions.json');
    expect(redactions.filter((x) => x.file === 'terminals/long/main.cast').reduce((a, x) => a + x.count, 0)).toBe(4);
  });

  it('counts what it redacted as an export does, and trains no reply that held the key', async () => {
    const r = await merge([bundles.alice, bundles.bob], { secrets: [TEAM] });
    const m = r.manifest;
    const { redactions, maskedTurns } = await json<{ redactions: RedactionReport[]; maskedTurns: MaskedTurnReport[] }>(r.dir, 'redactions.json');
    const configured = redactions.filter((x) => x.kind === 'configured-secret');
    expect(new Set(configured.map((x) => x.file))).toEqual(new Set(['manifest.json', 'mistral.jsonl', 'openai.jsonl', 'sharegpt.jsonl', 'terminals/team/main.cast', 'trajectory.jsonl']));
    // Each placeholder of the training files is named where it is, in each file.
    expect(await reportProblems(r.dir, TRAINING_FILES)).toEqual([]);
    expect(m.redactions.byKind['configured-secret']).toBe(configured.reduce((a, x) => a + x.count, 0));
    expect(m.redactions.total).toBe(redactions.reduce((a, x) => a + x.count, 0));
    expect(m.redactions.secretTurns).toEqual({ masked: 1, dropped: 0 });
    expect(maskedTurns).toEqual([expect.objectContaining({ file: 'openai.jsonl', kinds: ['configured-secret'], action: 'masked' })]);
    const warning = m.warnings.find((w) => w.startsWith('this merge redacted'));
    expect(warning).toMatch(/^this merge redacted \d+ secret\(s\) the inputs still held \(\d+ configured-secret: .*\); 1 turn\(s\) holding one were not trained; see redactions.json$/);
    expect(r.report.warnings).toContain(warning);
    // Alice kept the deploy step, Bob masked it; either way its reply held the key: masked for that.
    expect(m.counts.maskedBy.secret).toBe(1);
    const step = (await jsonl(r.dir, 'trajectory.jsonl')).find((x) => x.stepId === ids.deploy)!;
    expect(step).toMatchObject({ weight: 0, merge: { reason: 'secret' } });
    for (const line of await jsonl(r.dir, 'openai.jsonl')) {
      for (const msg of line.messages as Array<{ role: string; weight?: number }>) {
        if (msg.weight === 1) expect(JSON.stringify(msg)).not.toContain('REDACTED');
      }
    }
    expect(m.actions.some((a) => a.stepId === ids.deploy)).toBe(false);
  });

  it('names where an input\'s own redactions are in the per-action files it derives', async () => {
    // Carol's export redacted the key itself: the merge finds nothing, and its report still names each placeholder.
    const r = await merge([bundles.carol, bundles.alice], { secrets: [TEAM] });
    expect(await reportProblems(r.dir, TRAINING_FILES)).toEqual([]);
    const only = await merge([bundles.carol]);
    expect(await reportProblems(only.dir, TRAINING_FILES)).toEqual([]);
    const { redactions } = await json<{ redactions: RedactionReport[] }>(only.dir, 'redactions.json');
    expect(redactions.some((x) => x.file === 'sharegpt.jsonl')).toBe(true);
  });

  it('with nothing to redact, writes the same bytes as a merge without secrets', async () => {
    const plain = await filesOf((await merge([bundles.alice, bundles.bob])).dir);
    expect(await filesOf((await merge([bundles.alice, bundles.bob], { secrets: ['absent-value-0000'] })).dir)).toEqual(plain);
    // Carol's export redacted the key already: the lead's secrets find nothing more.
    const carol = await filesOf((await merge([bundles.carol])).dir);
    expect(await filesOf((await merge([bundles.carol], { secrets: [TEAM] })).dir)).toEqual(carol);
  });

  it('one copy redacted by its annotator and one not are one session, as the lead redacts both', async () => {
    await expect(merge([bundles.carol, bundles.bob])).rejects.toThrow(/differs between bundles/);
    const mixed = await merge([bundles.carol, bundles.bob], { secrets: [TEAM] });
    const same = await merge([bundles.alice, bundles.bob], { secrets: [TEAM] });
    expect(mixed.manifest.merge.examples).toMatchObject({ in: same.manifest.merge.examples.in, distinct: same.manifest.merge.examples.distinct });
    for (const f of ['openai.jsonl', 'sharegpt.jsonl', 'mistral.jsonl']) {
      expect(await readFile(join(mixed.dir, f), 'utf8'), f).toBe(await readFile(join(same.dir, f), 'utf8'));
    }
    expect(await leaks(mixed.dir)).toEqual([]);
  });
});

describe('the app and the command line give the merge the lead\'s configured secrets', () => {
  it('Merge view: the dry run\'s report and conflict steps, and the merged bundle', async () => {
    const m = new MergeManager({ sink: () => undefined, secrets: async () => [TEAM], throttleMs: 0 });
    const req = { inputs: [bundles.alice, bundles.bob], policy: 'manual', allowUnsigned: true };
    const plan = await m.plan(req);
    expect(plan.steps.map((s) => s.stepId)).toContain(ids.deploy);
    expect(PIECES.some((p) => JSON.stringify(plan).includes(p))).toBe(false);
    const outDir = join(root, 'merged', 'app');
    const end = await m.start({ ...req, policy: 'any-mask', outDir }).finished;
    expect(end.state).toBe('done');
    expect(await leaks(outDir)).toEqual([]);
  });

  it('the app\'s merges: the keys of its endpoint profiles', async () => {
    const core = await ApolloCore.open({ home: join(root, 'app-home'), resourcesDir: resolve('resources'), host: 'web', samples: false });
    try {
      await core.profiles.save({ name: 'team', baseUrl: 'http://127.0.0.1:1/v1', model: 'm' });
      await core.profiles.setKey('team', TEAM);
      const plan = await mergeManager(core).plan({ inputs: [bundles.alice, bundles.bob], policy: 'any-mask', allowUnsigned: true });
      expect(PIECES.some((p) => JSON.stringify(plan).includes(p))).toBe(false);
      const outDir = join(root, 'merged', 'app-core');
      expect((await mergeManager(core).start({ inputs: [bundles.alice, bundles.bob], policy: 'any-mask', allowUnsigned: true, outDir }).finished).state).toBe('done');
      expect(await leaks(outDir)).toEqual([]);
    } finally {
      await core.close();
    }
  });

  describe('apollo merge', () => {
    // The built command, as the other CLI tests run it (npm test builds first).
    const CLI = resolve(__dirname, '../../out/main/cli.js');
    function apollo(args: string[], env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string; stderr: string }> {
      const full = { ...process.env, ...env };
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete full[k];
      const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: full });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      return new Promise((r) => p.on('exit', (code) => r({ code, stdout, stderr })));
    }
    beforeAll(() => {
      if (!existsSync(CLI)) throw new Error('run `npm run build` first (npm test does)');
    });

    it('redacts with the key variable of a profile of the workspace', async () => {
      const home = join(root, 'lead-home');
      const ws = await Workspace.open(home);
      await ws.setSetting('profiles', [{ name: 'team', baseUrl: 'http://127.0.0.1:1/v1', model: 'm', apiKeyEnv: 'APOLLO_TEST_TEAM_KEY' }]);
      await ws.close();
      const dir = join(root, 'merged', 'cli');
      const r = await apollo(['merge', bundles.alice, bundles.bob, '--out', dir, '--allow-unsigned', '--home', home], { APOLLO_TEST_TEAM_KEY: TEAM, OPENAI_API_KEY: undefined });
      expect(r.stderr).toMatch(/merge \d+\/\d+ done/);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/warning: this merge redacted \d+ secret/);
      expect(await leaks(dir)).toEqual([]);
    });

    it('without a workspace, with $OPENAI_API_KEY', async () => {
      const dir = join(root, 'merged', 'cli-no-home');
      const r = await apollo(['merge', bundles.alice, bundles.bob, '--out', dir, '--allow-unsigned', '--home', join(root, 'no-such-home')], { OPENAI_API_KEY: TEAM });
      expect(r.code).toBe(0);
      expect(await leaks(dir)).toEqual([]);
    });
  });
});
