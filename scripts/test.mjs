// `npm test`: the build, the typecheck and the lint at once, then vitest. The three are
// independent (each reads the sources; only the build writes, into out/), and none keeps
// both cores busy the whole time: run one after the other they took ~40 s here warm,
// together they take as long as the slowest. vitest needs the build (the CLI tests and
// the end-to-end tests run out/), so it starts once all three passed.
//
// Each stage's output is printed whole when it ends (never interleaved), with its time.
// Any stage failing is reported and vitest does not run: exit 1. Otherwise the exit code
// is vitest's. Arguments go to vitest: `npm test -- tests/unit/x.test.ts`.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stages = ['build', 'typecheck', 'lint'];

// Through npm, so package.json stays the one place that says what each stage runs.
const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];

function run(name) {
  return new Promise((resolve) => {
    const started = Date.now();
    const env = process.stdout.isTTY ? { ...process.env, FORCE_COLOR: '1' } : process.env;
    const child = spawn(npm[0], [...npm.slice(1), 'run', '--silent', name], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (err) => (out += `${err.message}\n`));
    child.on('close', (code, signal) => {
      const ok = code === 0;
      const s = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(`\n> npm run ${name}: ${ok ? 'ok' : `FAILED (${signal ?? `exit ${code}`})`} (${s} s)\n${out}`);
      resolve(ok);
    });
  });
}

const results = await Promise.all(stages.map(run));
const failed = stages.filter((_, i) => !results[i]);
if (failed.length) {
  console.error(`\nnpm test: ${failed.join(', ')} failed; the tests did not run.`);
  process.exit(1);
}
const vitest = spawn(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
vitest.on('close', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
