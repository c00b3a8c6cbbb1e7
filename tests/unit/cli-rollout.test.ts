// The headless CLI end to end: the built `apollo` against a scripted endpoint over
// real HTTP, acting in real terminals, with guidance written to its stdin.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startFakeLlm, status, tool, type FakeLlm } from '../fixtures/fake-llm-server';

const CLI = resolve(__dirname, '../../out/main/cli.js');
let dir: string;
let llm: FakeLlm | null = null;

beforeEach(async () => {
  if (!existsSync(CLI)) throw new Error('run `npm run build` first (npm test does)');
  dir = await mkdtemp(join(tmpdir(), 'apollo-cli-'));
});
afterEach(async () => {
  await llm?.close();
  llm = null;
  await rm(dir, { recursive: true, force: true });
});

function apollo(args: string[], opts: { stdin?: (w: NodeJS.WritableStream, out: () => string) => void; env?: NodeJS.ProcessEnv } = {}) {
  const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (out += d.toString()));
  opts.stdin?.(p.stdin, () => out);
  if (!opts.stdin) p.stdin.end();
  return new Promise<{ code: number | null; out: string }>((r) => p.on('exit', (code) => r({ code, out })));
}

describe('apollo rollout', () => {
  it('runs a task in real terminals, delivers stdin guidance and exits 0 when finished', async () => {
    let sawGuidance = false;
    const gate = join(dir, 'guidance-queued');
    let watching: NodeJS.Timeout | undefined;
    llm = await startFakeLlm((req) => {
      const msgs = req.body.messages as Array<{ role: string; content: string }>;
      const n = llm!.requests.length;
      if (msgs.some((m) => m.role === 'user' && m.content?.includes('<real_user>use printf'))) sawGuidance = true;
      // Step 1 runs until the guidance typed meanwhile is queued, 15 s at most (a `sleep 1`
      // gave it a second, a race on a loaded machine, and was waited out again by the replay below).
      if (n === 1) return tool('run_command', { session_id: 'main', command: `echo "st""ep-one" > one.txt && i=0 && until [ -f ${gate} ] || [ $i -ge 300 ]; do sleep 0.05; i=$((i+1)); done`, wait_for_completion: true }, { delayMs: 200 });
      if (n === 2) return tool('run_command', { session_id: 'main', command: 'cat one.txt && echo "key=${TEST_KEY:-unset}"', wait_for_completion: true });
      return tool('finish', { message: 'done' });
    });
    const res = await apollo(
      ['rollout', '--task', 'write a file', '--base-url', llm.url, '--model', 'fake-model', '--api-key-env', 'TEST_KEY', '--cwd', dir, '--home', join(dir, 'home')],
      {
        env: { TEST_KEY: 'sk-test-SECRET-0123456789abcdef' },
        stdin: (w, out) => {
          let sent = false;
          const timer = (watching = setInterval(() => {
            if (!sent && /step 1/.test(out())) {
              sent = true;
              w.write('use printf next time\n');
              w.end();
            }
            if (sent && /guidance queued/.test(out())) {
              clearInterval(timer);
              writeFileSync(gate, '');
            }
          }, 20));
        },
      },
    );
    clearInterval(watching);
    expect(res.out).toMatch(/session \S+/);
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/finished after 3 steps/);
    expect(sawGuidance).toBe(true);
    expect(await readFile(join(dir, 'one.txt'), 'utf8')).toBe('step-one\n');
    const sessionId = /session (\S+)/.exec(res.out)![1]!;
    const log = await readFile(join(dir, 'home', 'sessions', sessionId, 'events.jsonl'), 'utf8');
    expect(log).not.toContain('SECRET-0123456789');
    // The agent's shell never had the key: it cannot print it into the recording.
    const recording = await readFile(join(dir, 'home', 'sessions', sessionId, 'terminals', 'main.out'), 'utf8');
    expect(recording).toContain('key=unset');
    expect(recording).not.toContain('SECRET-0123456789');
    expect(log).toContain('"type":"guidance.delivered"');
    expect(log).toContain('"type":"checkpoint.taken"');

    // The recorded trajectory replays with no model at all, in a fresh session.
    const replayDir = join(dir, 'replay');
    await import('node:fs/promises').then((fs) => fs.mkdir(replayDir));
    const replay = await apollo(['rollout', '--replay', sessionId, '--cwd', replayDir, '--home', join(dir, 'home')]);
    expect(replay.code).toBe(0);
    expect(await readFile(join(replayDir, 'one.txt'), 'utf8')).toBe('step-one\n');
    const list = await apollo(['sessions', '--home', join(dir, 'home')]);
    expect(list.out).toMatch(/Replay of/);
  });

  it('exits 3 when the step budget is spent and 4 when the endpoint keeps failing', async () => {
    llm = await startFakeLlm(() => tool('think', { thought: 'hmm' }));
    const capped = await apollo(['rollout', '--task', 't', '--base-url', llm.url, '--model', 'm', '--max-steps', '2', '--cwd', dir, '--home', join(dir, 'h')]);
    expect(capped.code).toBe(3);
    await llm.close();
    llm = await startFakeLlm(() => status(401, { message: 'bad key' }));
    const dead = await apollo(['rollout', '--task', 't', '--base-url', llm.url, '--model', 'm', '--cwd', dir, '--home', join(dir, 'h')]);
    expect(dead.code).toBe(4);
    expect(dead.out).toMatch(/paused: .*401/);
  });

  it('rejects missing arguments with a usage error', async () => {
    const res = await apollo(['rollout', '--task', 'x', '--home', dir]);
    expect(res.code).toBe(2);
    expect(res.out).toMatch(/--base-url and --model are required/);
    const bad = await apollo(['rollout', '--bogus']);
    expect(bad.code).toBe(2);
  });
});

describe('apollo rollout --replay on a fresh workspace', () => {
  it('replays the shipped sample session with no endpoint', async () => {
    const work = join(dir, 'work');
    await import('node:fs/promises').then((fs) => fs.mkdir(work));
    const res = await apollo(['rollout', '--replay', 'sample-sales-report', '--cwd', work, '--home', join(dir, 'fresh')]);
    expect(res.code).toBe(0);
    expect(await readFile(join(work, 'report.md'), 'utf8')).toContain('Total: 495');
  });
});
