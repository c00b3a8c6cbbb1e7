// `npm run dist`: package the app with electron-builder. Packaging downloads the
// Electron build for each target (and electron-builder's own tools) from GitHub; on a
// machine that cannot reach it, say so in one line before building anything, rather
// than ending in a `getaddrinfo ENOTFOUND` stack trace.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const electronVersion = JSON.parse(readFileSync(join(root, 'node_modules/electron/package.json'), 'utf8')).version;
const args = process.argv.slice(2);

/** Folders where @electron/get keeps downloaded Electron builds. */
function electronCaches() {
  if (process.env.ELECTRON_CACHE) return [process.env.ELECTRON_CACHE];
  const h = homedir();
  if (process.platform === 'darwin') return [join(h, 'Library/Caches/electron')];
  if (process.platform === 'win32') return [join(process.env.LOCALAPPDATA ?? join(h, 'AppData/Local'), 'electron/Cache')];
  return [join(process.env.XDG_CACHE_HOME ?? join(h, '.cache'), 'electron')];
}

/** Is this Electron version's build already downloaded? (Then packaging may work offline.) */
function cached() {
  const want = `electron-v${electronVersion}-`;
  const walk = (dir, depth) => {
    if (depth > 2 || !existsSync(dir)) return false;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isFile() && e.name.startsWith(want) && e.name.endsWith('.zip')) return true;
      if (e.isDirectory() && walk(join(dir, e.name), depth + 1)) return true;
    }
    return false;
  };
  return electronCaches().some((d) => walk(d, 0));
}

/** The host Electron is downloaded from: a mirror when one is set, else GitHub. */
function downloadHost() {
  const mirror = process.env.ELECTRON_MIRROR ?? process.env.npm_config_electron_mirror;
  try {
    return mirror ? new URL(mirror).hostname : 'github.com';
  } catch {
    return 'github.com';
  }
}

async function reachable(host) {
  const timeout = new Promise((r) => setTimeout(() => r(false), 5000).unref());
  return Promise.race([lookup(host).then(() => true, () => false), timeout]);
}

function offline(host) {
  console.error(
    `npm run dist needs to download Electron ${electronVersion} (and electron-builder's packaging tools) from ${host}, which this machine cannot reach: ` +
      'connect it to the internet, or set ELECTRON_MIRROR to a mirror it can reach (or put the Electron zip in ELECTRON_CACHE), then run npm run dist again.',
  );
  process.exit(1);
}

const host = downloadHost();
if (!cached() && !(await reachable(host))) offline(host);
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.warn(`note: Electron ${electronVersion}'s packaging tools (@electron/get, @electron/rebuild) declare Node >= 22.12; this is Node ${process.versions.node}.`);
}

const build = spawnSync('npx', ['electron-vite', 'build'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

// electron-builder's output goes through, and a download that fails half way (a flaky
// network) gets the same one-line explanation after it.
const child = spawn('npx', ['electron-builder', ...args], { cwd: root, stdio: ['inherit', 'inherit', 'pipe'] });
let err = '';
child.stderr.on('data', (d) => {
  err += d.toString();
  process.stderr.write(d);
});
child.on('exit', (code) => {
  if (code !== 0 && /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|ECONNRESET|getaddrinfo/.test(err)) offline(host);
  process.exit(code ?? 1);
});
