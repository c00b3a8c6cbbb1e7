// `apollo label`, `apollo judge` and `apollo export` end to end: the built CLI on a
// copy of the recorded sample session in a temporary workspace.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { appendFile, cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventOf, SessionEvent } from '../../shared/events';
import { validateAsciicast, validateMistralJsonl, validateOpenAIJsonl } from '../../electron/core/dataset/validate';
import { checkSignature } from '../../electron/core/dataset/signing';
import { startFakeLlm, text, type FakeLlm, type FakeRequest } from '../fixtures/fake-llm-server';

const CLI = resolve(__dirname, '../../out/main/cli.js');
const SAMPLE = resolve(__dirname, '../../resources/samples/sample-sales-report');
const SID = 'sales';
// Step ids of the recording, read from it (the sample is re-recorded when the engine
// changes): steps 3 (the awk run on the misspelt file, failed, then retried), 5 (the
// identical awk run repeated right after the retry) and the last one.
const SAMPLE_STEPS = readFileSync(join(SAMPLE, 'events.jsonl'), 'utf8').split('\n').filter(Boolean)
  .map((l) => JSON.parse(l) as { type: string; stepId?: string })
  .filter((e) => e.type === 'step.started').map((e) => e.stepId!);
const FAILED_STEP = SAMPLE_STEPS[2]!;
/** The sample's retry of the failed awk is its step 4. */
const RETRY_STEP_NUMBER = 4;
const REPEATED_STEP = SAMPLE_STEPS[4]!;
const LAST_STEP = SAMPLE_STEPS.at(-1)!;
const SECRET = ['sk-', 'proj-', 'PlantedCliSecret0123456789abcdefGHIJ'].join('');

let root: string;
let home: string;

function apollo(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawn(process.execPath, [CLI, ...args, '--home', home], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((r) => p.on('exit', (code) => r({ code, stdout, stderr })));
}

async function sessionEvents(id = SID): Promise<SessionEvent[]> {
  const text = await readFile(join(home, 'sessions', id, 'events.jsonl'), 'utf8');
  return text.trim().split('\n').map((l) => JSON.parse(l) as SessionEvent);
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const d of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (d.isFile()) out.push(relative(dir, join(d.parentPath, d.name)));
  }
  return out.sort();
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The manifest fields the CLI summary reports. */
interface ManifestView {
  files: Array<{ path: string; sha256: string; bytes: number }>;
  labelPolicy: { unlabelled: string };
  options: { maxTokens: number | null; historyTokens: number; warnTokens: number; includeSummaries: boolean };
  counts: {
    trajectories: number; actionLines: number; examplesSkipped: number; actions: number; kept: number; masked: number; unlabelled: number;
    labelledBy: Record<string, number>; tokens: { total: number; longest: number; limit: number; overLimit: number };
  };
  trajectories: Array<{ tokens: number; overLimit: boolean; trainedSteps: string[] }>;
  warnings: string[];
  annotators: string[];
}

const readManifest = async (dir: string): Promise<ManifestView> => JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as ManifestView;

/** The numbers a summary printed (the total block), to compare with a manifest. */
function summaryNumbers(stdout: string): Record<string, number | string[]> {
  const total = stdout.slice(stdout.indexOf('\ntotal: ') + 1);
  const num = (re: RegExp): number => {
    const m = re.exec(total);
    if (!m) throw new Error(`${re} not in ${total}`);
    return Number(m[1]);
  };
  const warnings = total.includes('\nwarnings: none') ? [] : [...total.matchAll(/^ {2}- (.*)$/gm)].map((m) => m[1]!);
  return {
    examples: num(/examples (\d+) \(lines of openai\.jsonl\)/), actionLines: num(/action lines (\d+)/), skipped: num(/left out (\d+)/),
    actions: num(/actions (\d+):/), trained: num(/trained (\d+)/), masked: num(/masked (\d+)/), unreviewed: num(/unreviewed (\d+)/),
    tokens: num(/tokens (\d+):/), longest: num(/longest (\d+)/), limit: num(/limit (\d+)/), overLimit: num(/over the limit (\d+)/), warnings,
  };
}

function manifestNumbers(m: ManifestView): Record<string, number | string[]> {
  const c = m.counts;
  return {
    examples: c.trajectories, actionLines: c.actionLines, skipped: c.examplesSkipped, actions: c.actions, trained: c.kept, masked: c.masked,
    unreviewed: c.unlabelled, tokens: c.tokens.total, longest: c.tokens.longest, limit: c.tokens.limit, overLimit: c.tokens.overLimit, warnings: m.warnings,
  };
}

const ALL_FILES = [
  'axolotl.yml', 'dataset_info.json', 'llamafactory.yaml', 'manifest.json', 'manifest.sig', 'mistral.jsonl', 'openai.jsonl', 'redactions.json', 'sharegpt.jsonl',
  `terminals/${SID}/main.cast`, 'trajectory.jsonl',
];

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error('run `npm run build` first (npm test does)');
  root = await mkdtemp(join(tmpdir(), 'apollo-cli-export-'));
  home = join(root, 'home');
  await mkdir(join(home, 'sessions'), { recursive: true });
  await cp(SAMPLE, join(home, 'sessions', SID), { recursive: true });
  // Plant a secret: guidance the human typed after the last command, and a comment.
  const events = await sessionEvents();
  let seq = Math.max(...events.map((e) => e.seq));
  const ts = events.at(-1)!.ts;
  const planted = [
    { type: 'guidance.queued', guidanceId: 'g-planted', text: `push it with OPENAI_API_KEY=${SECRET}`, author: 'dana', branchId: 'main' },
    { type: 'guidance.delivered', guidanceId: 'g-planted', stepId: LAST_STEP },
    { type: 'comment.added', commentId: 'c-planted', stepId: LAST_STEP, text: `the key is ${SECRET}`, author: 'dana' },
  ];
  await appendFile(join(home, 'sessions', SID, 'events.jsonl'), planted.map((b) => `${JSON.stringify({ seq: ++seq, ts: ts + seq, ...b })}\n`).join(''));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('apollo label', () => {
  it('lists the rules', async () => {
    const r = await apollo(['label', '--list-rules']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/failed-retry/);
    expect(r.stdout).toMatch(/repeated-action/);
  });

  it('previews with --dry-run, then masks the failed-then-retried step and the repeated step, once', async () => {
    const before = (await sessionEvents()).length;
    const dry = await apollo(['label', SID, '--rules', 'failed-retry,repeated-action', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`failed-retry\\s+1\\s+step 3 \\(${FAILED_STEP.slice(0, 8)}\\)`));
    expect(dry.stdout).toMatch(new RegExp(`repeated-action\\s+1\\s+step 5 \\(${REPEATED_STEP.slice(0, 8)}\\)`));
    expect(dry.stdout).toMatch(/dry run: 2 new rule labels would be written/);
    expect((await sessionEvents()).length).toBe(before);

    const r = await apollo(['label', SID, '--rules', 'failed-retry,repeated-action']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/applied 2 new rule labels/);
    const labels = (await sessionEvents()).filter((e): e is EventOf<'label.set'> => e.type === 'label.set');
    expect(labels.map((l) => [l.stepId, l.label, l.source, l.rule])).toEqual([
      [FAILED_STEP, 'mask', 'rule', 'failed-retry'],
      [REPEATED_STEP, 'mask', 'rule', 'repeated-action'],
    ]);
    expect(labels[0]!.note).toContain(`retried at step ${RETRY_STEP_NUMBER}`);

    const again = await apollo(['label', SID, '--rules', 'failed-retry,repeated-action', '--branch', 'main']);
    expect(again.stderr).toBe('');
    expect(again.stdout).toMatch(/applied 0 new rule labels/);
    expect((await sessionEvents()).filter((e) => e.type === 'label.set')).toHaveLength(2);
  });

  it('rejects bad input', async () => {
    // Usage errors are refused before the workspace is opened, so they run side by side
    // with one that opens it; the two that open it run one after the other (its lock).
    const [noRules, badRule, noBranch] = await Promise.all([
      apollo(['label', SID]),
      apollo(['label', SID, '--rules', 'bogus']),
      apollo(['label', SID, '--rules', 'failed-retry', '--branch', 'nope']),
    ]);
    expect(noRules.code).toBe(2);
    expect(badRule.code).toBe(2);
    expect(noBranch.code).toBe(1);
    expect(noBranch.stderr).toMatch(/no branch nope/);
    const noSession = await apollo(['label', 'nope', '--rules', 'failed-retry']);
    expect(noSession.code).toBe(1);
    expect(noSession.stderr).toMatch(/No session nope/);
  });
});

describe('apollo export', () => {
  let bundle: string;

  it('writes a valid bundle: hashes match, masked steps weigh 0, the planted secret is redacted', async () => {
    bundle = join(root, 'out', 'bundle-a');
    const r = await apollo(['export', SID, '--out', bundle]);
    expect(r.stderr).toMatch(/export \d+\/\d+/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`bundle ${bundle}`);
    // The summary comes first, then the bundle.
    expect(r.stdout.indexOf('total: 1 session')).toBeGreaterThanOrEqual(0);
    expect(r.stdout.indexOf('total: 1 session')).toBeLessThan(r.stdout.indexOf(`bundle ${bundle}`));
    expect(r.stdout).toMatch(/actions 8: trained 6, masked 2, unreviewed 6 \(policy: train\)/);
    expect(r.stdout).toMatch(/redactions: [1-9]\d* \(/);

    const files = await filesUnder(bundle);
    expect(files).toEqual(ALL_FILES);
    // Signed with the annotator's key, created on this first export; the signature covers the manifest's bytes.
    const sig = checkSignature(await readFile(join(bundle, 'manifest.sig'), 'utf8'), await readFile(join(bundle, 'manifest.json')));
    expect(sig.state).toBe('signed');
    const manifest = await readManifest(bundle);
    expect(manifest.files.map((f) => f.path).sort()).toEqual(files.filter((f) => f !== 'manifest.json' && f !== 'manifest.sig'));
    for (const f of manifest.files) {
      const buf = await readFile(join(bundle, f.path));
      expect(sha256(buf), f.path).toBe(f.sha256);
      expect(buf.length).toBe(f.bytes);
    }
    expect(manifest.counts).toMatchObject({ kept: 6, masked: 2, labelledBy: { rule: 2 } });
    expect(summaryNumbers(r.stdout)).toEqual(manifestNumbers(manifest));
    // The shipped sample carries the request record: its examples are what the model was sent.
    expect(r.stdout).not.toMatch(/come from sessions recorded before the request record/);
    expect((manifest.counts as { reconstructed?: number }).reconstructed).toBe(0);

    const openai = await readFile(join(bundle, 'openai.jsonl'), 'utf8');
    expect(validateOpenAIJsonl(openai)).toEqual([]);
    const record = JSON.parse(openai.trim()) as { messages: Array<{ role: string; weight?: number; content?: string }> };
    const weights = record.messages.filter((m) => m.role === 'assistant').map((m) => m.weight);
    // Actions in order: think, create sales.csv, awk (failed), awk (retry), awk (repeated), report, cat, finish.
    expect(weights).toEqual([1, 1, 0, 1, 0, 1, 1, 1]);
    // Guidance delivered after the last step never reached the model: it is no training context.
    expect(openai).not.toContain('push it with OPENAI_API_KEY');
    expect(await readFile(join(bundle, 'trajectory.jsonl'), 'utf8')).toContain('push it with OPENAI_API_KEY=[REDACTED:');
    expect(validateAsciicast(await readFile(join(bundle, 'terminals', SID, 'main.cast'), 'utf8'))).toEqual([]);

    for (const f of files) expect(await readFile(join(bundle, f), 'utf8'), f).not.toContain(SECRET);
    expect(await readFile(join(bundle, 'redactions.json'), 'utf8')).toMatch(/trajectory\.jsonl/);

    const made = (await sessionEvents()).filter((e): e is EventOf<'export.made'> => e.type === 'export.made');
    expect(made.at(-1)).toMatchObject({ bundle, branchIds: ['main'], formats: ['openai', 'sharegpt', 'mistral', 'trajectory', 'asciicast'] });
  });

  it('is deterministic: a second export to another folder is byte-identical', async () => {
    const other = join(root, 'out', 'bundle-b');
    const r = await apollo(['export', SID, '--out', other, '--format', 'openai,sharegpt,mistral,trajectory,asciicast']);
    expect(r.code).toBe(0);
    // Nothing changed but the export.made the first appended: its files are copied from what it kept.
    expect(r.stdout).toContain('copied from the bundle an earlier export');
    const a = await filesUnder(bundle);
    expect(await filesUnder(other)).toEqual(a);
    for (const f of a) expect((await readFile(join(other, f))).equals(await readFile(join(bundle, f))), f).toBe(true);
  });

  it('honours --format and --branch', async () => {
    const out = join(root, 'out', 'openai-only');
    const r = await apollo(['export', SID, '--out', out, '--format', 'openai', '--branch', 'main']);
    // Not the formats of the bundle kept: built, and it says so.
    expect(r.stdout).toContain('\n  built: other options (formats)\n');
    expect(r.code).toBe(0);
    // openai.jsonl comes with the Axolotl entry that trains it by weight.
    expect(await filesUnder(out)).toEqual(['axolotl.yml', 'manifest.json', 'manifest.sig', 'openai.jsonl', 'redactions.json']);
    const mistral = join(root, 'out', 'mistral-only');
    expect((await apollo(['export', SID, '--out', mistral, '--format', 'mistral'])).code).toBe(0);
    expect(await filesUnder(mistral)).toEqual(['manifest.json', 'manifest.sig', 'mistral.jsonl', 'redactions.json']);
    expect(validateMistralJsonl(await readFile(join(mistral, 'mistral.jsonl'), 'utf8'))).toEqual([]);
  });

  it('refuses an existing --out folder, unknown sessions, formats and branches', async () => {
    const r = await apollo(['export', SID, '--out', bundle]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/already exists \[CONFLICT\]/);
    expect((await readdir(join(root, 'out'))).filter((f) => f.includes('.tmp-'))).toEqual([]);
    const noSession = await apollo(['export', 'nope', '--out', join(root, 'out', 'x')]);
    expect(noSession.code).toBe(1);
    expect(noSession.stderr).toMatch(/No session nope/);
    // Usage errors are refused before the workspace is opened: they run side by side,
    // and beside the one refusal that does open it.
    const bads = [['--max-tokens', 'lots'], ['--max-tokens', '63'], ['--history-tokens', '-5'], ['--warn-tokens', '1.5'], ['--unreviewed', 'maybe']];
    const [csv, noOut, noBranch, ...usage] = await Promise.all([
      apollo(['export', SID, '--out', join(root, 'out', 'x'), '--format', 'csv']),
      apollo(['export', SID]),
      apollo(['export', SID, '--out', join(root, 'out', 'x'), '--branch', 'nope']),
      ...bads.map((bad) => apollo(['export', SID, '--out', join(root, 'out', 'x'), ...bad])),
    ]);
    expect(csv!.code).toBe(2);
    expect(noOut!.code).toBe(2);
    expect(noBranch!.code).toBe(1);
    bads.forEach((bad, i) => {
      expect(usage[i]!.code, bad.join(' ')).toBe(2);
      expect(usage[i]!.stderr).toContain(bad[0]!);
    });
    expect(existsSync(join(root, 'out', 'x'))).toBe(false);
  });

  it('--help describes the new options', async () => {
    const r = await apollo(['export', '--help']);
    expect(r.code).toBe(0);
    for (const flag of ['mistral', '--max-tokens N', '--history-tokens N', '--warn-tokens N', '--summaries', '--unreviewed train|skip|refuse', '--dry-run']) expect(r.stdout).toContain(flag);
  });

  it('--dry-run writes nothing and prints the plan a real export then writes', async () => {
    const before = (await sessionEvents()).length;
    const out = join(root, 'out', 'dry');
    const dry = await apollo(['export', SID, '--out', out, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/^session sales \(/);
    expect(dry.stdout).toMatch(/dry run: nothing was written/);
    expect(dry.stdout).not.toMatch(/^bundle /m);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(join(root, 'out'))).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect((await sessionEvents()).length).toBe(before); // no export.made
    // The numbers are those of the bundle the same export writes.
    expect(summaryNumbers(dry.stdout)).toEqual(manifestNumbers(await readManifest(bundle)));
    // --out is optional for a dry run, and an existing one is no obstacle to planning.
    const noOut = await apollo(['export', SID, '--dry-run', '--unreviewed', 'skip']);
    expect(noOut.code).toBe(0);
    expect(noOut.stdout).toMatch(/actions 8: trained 0, masked 8, unreviewed 6 \(policy: skip\)/);
    expect(noOut.stdout).toContain('6 action(s) are unreviewed (no label from annotator, judge, rule): skipped (not trained) by the policy');
    expect((await apollo(['export', SID, '--out', bundle, '--dry-run'])).code).toBe(0);
  });

  it('--unreviewed refuse exits 1 with the reason and writes nothing; skip writes the policy into the manifest', async () => {
    const out = join(root, 'out', 'refused');
    const r = await apollo(['export', SID, '--out', out, '--unreviewed', 'refuse']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/6 action\(s\) are unreviewed and the policy refuses to export them/);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(join(root, 'out'))).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // The dry run shows the plan and the refusal.
    const dry = await apollo(['export', SID, '--dry-run', '--unreviewed', 'refuse']);
    expect(dry.code).toBe(1);
    expect(dry.stdout).toMatch(/unreviewed 6 \(policy: refuse\)/);
    expect(dry.stdout).toContain('refused by the policy');
    expect(dry.stderr).toMatch(/6 action\(s\) are unreviewed and --unreviewed refuse refuses to export them/);

    const skipped = join(root, 'out', 'skipped');
    const s = await apollo(['export', SID, '--out', skipped, '--unreviewed', 'skip', '--format', 'openai']);
    expect(s.code).toBe(0);
    const m = await readManifest(skipped);
    expect(m.labelPolicy.unlabelled).toBe('mask');
    // Only the rules' two masks are labels: nothing is left to train, and no line is written.
    expect(m.counts).toMatchObject({ trajectories: 0, kept: 0, masked: 8, unlabelled: 6, examplesSkipped: 1 });
    expect(await readFile(join(skipped, 'openai.jsonl'), 'utf8')).toBe('');
  });

  it('--max-tokens splits the example, each kept action still trained once; token options land in the manifest', async () => {
    const whole = await readManifest(bundle);
    expect(whole.trajectories).toHaveLength(1);
    const limit = whole.trajectories[0]!.tokens - 600;
    const out = join(root, 'out', 'split');
    const r = await apollo(['export', SID, '--out', out, '--format', 'openai,sharegpt', '--max-tokens', String(limit), '--history-tokens', '3000', '--warn-tokens', String(limit), '--summaries']);
    expect(r.code).toBe(0);
    const m = await readManifest(out);
    expect(m.options).toEqual({ maxTokens: limit, historyTokens: 3000, warnTokens: limit, includeSummaries: true, dedupe: 'one-example-per-step' });
    expect(m.trajectories.length).toBeGreaterThan(1);
    for (const t of m.trajectories) expect(t.tokens).toBeLessThanOrEqual(limit);
    const trained = m.trajectories.flatMap((t) => t.trainedSteps);
    expect([...trained].sort()).toEqual([...whole.trajectories[0]!.trainedSteps].sort());
    expect(summaryNumbers(r.stdout)).toEqual(manifestNumbers(m));
    const lines = (await readFile(join(out, 'openai.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(m.trajectories.length);
    expect(validateOpenAIJsonl(`${lines.join('\n')}\n`)).toEqual([]);
  });

  it('prints per-session numbers, then the total, for several sessions', async () => {
    const copy = 'sales-copy';
    await cp(join(home, 'sessions', SID), join(home, 'sessions', copy), { recursive: true });
    const dry = await apollo(['export', SID, copy, '--dry-run']);
    expect(dry.code).toBe(0);
    const blocks = dry.stdout.split(/^(?=session |total: )/m);
    expect(blocks.map((b) => b.split('\n')[0]!.split(' (')[0])).toEqual([`session ${SID}`, `session ${copy}`, 'total: 2 sessions, 16 steps; unreviewed actions: train']);
    // A copy of a recording repeats its step ids: it is still trained on its own.
    for (const b of blocks.slice(0, 2)) expect(b).toMatch(/actions 8: trained 6, masked 2, unreviewed 6/);
    expect(blocks[2]).toMatch(/actions 16: trained 12, masked 4, unreviewed 12/);
    await rm(join(home, 'sessions', copy), { recursive: true, force: true });
  });
});

describe('apollo judge', () => {
  let llm: FakeLlm;
  afterAll(async () => {
    await llm?.close();
  });

  it('labels every action through --base-url/--model and then has nothing left to do', async () => {
    llm = await startFakeLlm((req: FakeRequest) => {
      const user = (req.body.messages as Array<{ role: string; content: string }>).find((m) => m.role === 'user')!.content;
      const ids = [...user.matchAll(/^### Action (\S+)$/gm)].map((m) => m[1]!);
      return text(JSON.stringify({ results: ids.map((stepId) => ({ stepId, label: stepId === REPEATED_STEP ? 'mask' : 'keep', tags: [], rationale: 'ok' })) }));
    });
    const r = await apollo(['judge', SID, '--base-url', llm.url, '--model', 'judge-model', '--api-key-env', 'JUDGE_KEY'], { JUDGE_KEY: 'judge-secret-key' });
    expect(r.stderr).toMatch(/judging main: 8\/8/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/branch main: 8 actions labelled, 0 skipped/);
    expect(llm.requests[0]!.headers.authorization).toBe('Bearer judge-secret-key');
    const judged = (await sessionEvents()).filter((e): e is EventOf<'label.set'> => e.type === 'label.set' && e.source === 'judge');
    expect(judged).toHaveLength(8);
    expect(judged.find((l) => l.stepId === REPEATED_STEP)).toMatchObject({ label: 'mask', author: 'judge:judge-model' });
    // The secret planted in the session never reached the judge.
    expect(JSON.stringify(llm.requests.map((q) => q.body))).not.toContain(SECRET);

    const n = llm.requests.length;
    const again = await apollo(['judge', SID, '--base-url', llm.url, '--model', 'judge-model']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/0 actions labelled, 8 skipped/);
    expect(llm.requests.length).toBe(n);
  });

  it('needs an endpoint', async () => {
    // The usage error is refused before the workspace is opened: side by side.
    const [none, r] = await Promise.all([apollo(['judge', SID]), apollo(['judge', SID, '--profile', 'nope'])]);
    expect(none.code).toBe(2);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No endpoint profile named "nope"/);
  });
});
