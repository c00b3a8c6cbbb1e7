// Records the sample session shipped in resources/samples/: a real rollout in real
// terminals, driven by a scripted endpoint (the test fixture) so that it can be
// re-recorded anywhere without a model. Run: npx tsx scripts/record-sample.ts
//
// It ships the session's log, its terminal recordings and its checkpoint store, as a
// git bundle (checkpoints.bundle: one packed file; see electron/core/store/sample-seed.ts
// for why not the raw store), which seeding unbundles into each new workspace.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { devNull, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { ApolloCore } from '../electron/core/app';
import { startFakeLlm, tool, type FakeReply } from '../tests/fixtures/fake-llm-server';
import type { ToolArgs, ToolName } from '../shared/tools';
import { parseEventLog } from '../electron/core/store/event-log';
import { SAMPLE_BUNDLE, unbundleCheckpoints } from '../electron/core/store/sample-seed';

const SAMPLE_ID = 'sample-sales-report';
const root = resolve(import.meta.dirname, '..');

// Typed against the tool declarations, so the shipped sample cannot drift from the tools.
const call = <N extends ToolName>(name: N, args: ToolArgs<N>, extra?: Parameters<typeof tool>[2]): FakeReply => tool(name, args, extra);

const plan: Array<FakeReply | ((n: number) => FakeReply)> = [
  call('think', { thought: 'Plan: create the data, compute the totals per region with awk, then write report.md.' }, { reasoning: 'The task needs a small CSV first.' }),
  call('create_file', { filename: 'sales.csv', content: 'region,month,amount\nnorth,jan,120\nsouth,jan,80\nnorth,feb,140\nsouth,feb,95\neast,feb,60\n' }),
  call('run_command', { session_id: 'main', command: 'awk -F, "NR>1 {s[$1]+=$3} END {for (r in s) print r, s[r]}" sales.cvs', wait_for_completion: true }),
  call('run_command', { session_id: 'main', command: 'awk -F, "NR>1 {s[\\$1]+=\\$3} END {for (r in s) print r, s[r]}" sales.csv | sort', wait_for_completion: true }, { content: 'Typo in the file name; retrying.' }),
  call('run_command', { session_id: 'main', command: 'awk -F, "NR>1 {s[\\$1]+=\\$3} END {for (r in s) print r, s[r]}" sales.csv | sort', wait_for_completion: true }),
  call('create_file', { filename: 'report.md', content: '# Sales by region\n\n| region | total |\n|---|---|\n| east | 60 |\n| north | 260 |\n| south | 175 |\n\nTotal: 495\n' }, { content: 'Following the guidance: the report includes the grand total.' }),
  call('run_command', { session_id: 'main', command: 'cat report.md && ls -l', wait_for_completion: true }),
  call('finish', { message: 'report.md written with totals per region and the grand total.' }),
];

const llm = await startFakeLlm(plan.map((p) => (typeof p === 'function' ? p(0) : { ...p, delayMs: 400 })), { model: 'scripted-demo' });
const work = await mkdtemp(join(tmpdir(), 'apollo-sample-'));
const home = join(work, 'home');
const cwd = join(work, 'project');
await mkdir(cwd);
// A hermetic shell: the recording shows its prompt, and each checkpoint records the
// shell's PATH (and virtualenv variables), which a Rewind on another machine restores.
// None of it may come from this machine's dotfiles, user or tools.
const userHome = join(work, 'userhome');
await mkdir(userHome);
await writeFile(join(userHome, '.bashrc'), 'PS1="$ "\n');
Object.assign(process.env, { HOME: userHome, SHELL: '/bin/bash', HISTFILE: '/dev/null', PATH: '/usr/local/bin:/usr/bin:/bin' });
for (const k of ['VIRTUAL_ENV', 'CONDA_PREFIX', 'CONDA_DEFAULT_ENV', 'PYTHONPATH', 'APOLLO_ENV_VARS']) delete process.env[k];
// The hosts' own core (lock, terminals without key variables, checkpoints), in a
// scratch workspace without the samples: this run records the sample itself.
const core = await ApolloCore.open({ home, resourcesDir: join(root, 'resources'), host: 'web', samples: false });
const session = await core.ws.create({ id: SAMPLE_ID, name: 'Sample: sales report (recorded)', cwd });
await core.session(SAMPLE_ID);
const { rollout, done } = core.rollouts.start({
  session,
  task: 'Create sales.csv with a few rows, compute the total amount per region, and write report.md.',
  endpoint: { profile: 'demo', baseUrl: llm.url, model: 'scripted-demo', apiKey: 'no-key', toolMode: 'tools' },
  policy: 'model',
  maxSteps: 20,
  cwd,
});
// Guidance arrives while the agent works, as an annotator would send it.
const unsub = session.subscribe((e) => {
  if (e.type === 'step.started' && e.depth === 5) void rollout.queueGuidance('Also give the grand total at the end of the report.', 'demo-annotator');
});
console.log(await done);
unsub();
await core.close();
await llm.close();
const dest = join(root, 'resources', 'samples', SAMPLE_ID);
await rm(dest, { recursive: true, force: true });
await mkdir(dest, { recursive: true });
await cp(join(home, 'sessions', SAMPLE_ID, 'events.jsonl'), join(dest, 'events.jsonl'));
// Not the timing index (.timing.idx): it is derived from the .timing.jsonl, and rebuilt from it on open.
await cp(join(home, 'sessions', SAMPLE_ID, 'terminals'), join(dest, 'terminals'), { recursive: true, filter: (p) => !p.endsWith('.timing.idx') });
// Every ref (refs/heads/main reaches every checkpoint; refs/apollo/base is the last one).
const gitEnv = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('GIT_'))), GIT_CONFIG_GLOBAL: devNull, GIT_CONFIG_NOSYSTEM: '1' };
await promisify(execFile)('git', ['--git-dir', join(home, 'sessions', SAMPLE_ID, 'checkpoints.git'), 'bundle', 'create', '--quiet', join(dest, SAMPLE_BUNDLE), '--all'], { env: gitEnv });
// The bundle must hold every checkpoint the log names, as seeding will see it.
const check = join(work, 'check');
await unbundleCheckpoints(join(dest, SAMPLE_BUNDLE), join(check, 'checkpoints.git'), join(check, 'work'));
const commits = parseEventLog(await readFile(join(dest, 'events.jsonl'))).events.flatMap((e) => (e.type === 'checkpoint.taken' ? [e.commit] : []));
if (commits.length === 0) throw new Error('the sample has no checkpoints');
for (const c of commits) await promisify(execFile)('git', ['--git-dir', join(check, 'checkpoints.git'), 'cat-file', '-e', `${c}^{commit}`], { env: gitEnv });
await rm(work, { recursive: true, force: true });
console.log(`sample written to ${dest} (${commits.length} checkpoints)`);
