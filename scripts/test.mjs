// `npm test`: the build, then vitest beside the typecheck and the lint. vitest needs the
// build (the CLI tests and the end-to-end tests run out/); the typecheck and the lint only
// read the sources, and the tests leave a core idle for about a third of their time
// (waiting on shells, Chromium and the scripted endpoint), so the checks run in that
// time rather than before it: on a fresh clone they are ~45 s of the run's wall time.
//
// The checks' output is printed whole after vitest's (never interleaved), with their
// times. The build failing stops everything (exit 1); otherwise the exit code is 1 when
// the typecheck or the lint failed, else vitest's. Arguments go to vitest:
// `npm test -- tests/unit/x.test.ts`.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const checkStages = ['typecheck', 'lint'];

// Through npm, so package.json stays the one place that says what each stage runs.
const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];

/** Runs `npm run NAME`; its output goes to `print` (default: stdout) whole when it ends. */
function run(name, print = (text) => process.stdout.write(text)) {
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
      print(`\n> npm run ${name}: ${ok ? 'ok' : `FAILED (${signal ?? `exit ${code}`})`} (${s} s)\n${out}`);
      resolve(ok);
    });
  });
}

if (!(await run('build'))) {
  console.error('\nnpm test: the build failed; the tests did not run.');
  process.exit(1);
}
let report = '';
const checks = Promise.all(checkStages.map((name) => run(name, (text) => (report += text))));
const tests = new Promise((resolve) => {
  const vitest = spawn(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
  vitest.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
});
const [code, results] = await Promise.all([tests, checks]);
process.stdout.write(report);
const failed = checkStages.filter((_, i) => !results[i]);
if (failed.length) {
  console.error(`\nnpm test: ${failed.join(' and ')} failed${code === 0 ? ' (the tests passed)' : ''}.`);
  process.exit(1);
}
process.exit(code);
