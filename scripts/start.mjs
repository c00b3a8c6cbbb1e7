// `npm start`: the Electron app where its binary is installed, otherwise the browser
// mode of the same app (the Electron binary is downloaded on first use and cannot be
// on machines without internet access).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

function newestMtime(dir) {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

function ensureBuilt() {
  const built = join(root, 'out/main/cli.js');
  const stale = !existsSync(built) || ['electron', 'renderer', 'shared'].some((d) => newestMtime(join(root, d)) > statSync(built).mtimeMs);
  if (!stale) return;
  console.log('Building the app…');
  const r = spawnSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** Path of the Electron executable if it was downloaded, else null (never triggers a download). */
function electronBinary() {
  const dir = join(root, 'node_modules/electron');
  try {
    const rel = readFileSync(join(dir, 'path.txt'), 'utf8').trim();
    const bin = join(dir, 'dist', rel);
    return existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

function run(cmd, argv) {
  const child = spawn(cmd, argv, { cwd: root, stdio: 'inherit' });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    child.kill('SIGTERM');
  };
  // Ctrl-C in a terminal reaches the child as well (same process group). A second
  // SIGINT from here would find the child's handler spent and kill it in the middle
  // of its orderly shutdown (terminals ended, logs committed); SIGTERM asks for the
  // same shutdown through a handler of its own, and also covers a signal sent to
  // this process alone.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, stop);
  // `npm start` runs this through `sh -c`: a SIGTERM to npm's pid reaches that shell,
  // which dies without passing it on, and this process is left orphaned with the
  // server holding the workspace lock. Losing the parent therefore stops the server too.
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 250);
  watch.unref();
  child.on('exit', (code, signal) => {
    clearInterval(watch);
    process.exit(code ?? (signal ? 1 : 0));
  });
}

ensureBuilt();
const electron = process.env.APOLLO_BROWSER_MODE ? null : electronBinary();
if (electron) {
  run(electron, ['.', ...args]);
} else {
  console.log('Electron binary not installed (it downloads on first use and this machine could not fetch it): starting the browser mode instead.');
  run(process.execPath, [join(root, 'out/main/cli.js'), 'serve', ...args]);
}
