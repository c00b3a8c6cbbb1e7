// Packaging: `engines`, README and Electron agree on the Node version; the package
// names its author; every target has its icon where electron-builder.yml says; and
// `npm run dist` on a machine that cannot download Electron says so in one line.
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const ROOT = resolve(__dirname, '../..');
// npm's own version reader (installed with the tooling), so ranges are read as npm reads them.
const semver = createRequire(join(ROOT, 'package.json'))('semver') as { satisfies(v: string, range: string): boolean; gte(a: string, b: string): boolean };
const read = (p: string) => readFile(join(ROOT, p), 'utf8');
const minimum = (range: string) => /(\d+)\.(\d+)/.exec(range)!.slice(1, 3).map(Number).join('.');

/** Width and height of a PNG, from its IHDR chunk. */
function pngSize(b: Buffer): [number, number] {
  expect(b.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
}

describe('packaging', () => {
  it('engines, README and Electron agree on the Node version', async () => {
    const pkg = JSON.parse(await read('package.json')) as { engines: { node: string }; author?: { name?: string; email?: string } };
    const electron = JSON.parse(await read('node_modules/electron/package.json')) as { engines: { node: string } };
    const least = `${minimum(pkg.engines.node)}.0`;
    // The documented Node is what Electron's line needs at least...
    expect(semver.gte(least, `${minimum(electron.engines.node)}.0`)).toBe(true);
    // ...and installs every package without an engine warning (optional ones are
    // platform builds npm skips where they do not fit).
    const lock = JSON.parse(await read('package-lock.json')) as { packages: Record<string, { engines?: { node?: string }; optional?: boolean }> };
    const warned = Object.entries(lock.packages).filter(([, p]) => !p.optional && p.engines?.node && !semver.satisfies(least, p.engines.node)).map(([name, p]) => `${name} ${p.engines!.node}`);
    expect(warned).toEqual([]);
    expect(await read('README.md')).toContain(`Node.js ≥ ${minimum(pkg.engines.node)}`);
    expect(pkg.author?.name).toBeTruthy();
    expect(pkg.author?.email).toMatch(/@/);
  });

  it('has an icon for every target, as electron-builder.yml references it', async () => {
    const yml = await read('electron-builder.yml');
    const icon = (target: string) => new RegExp(`^${target}:[\\s\\S]*?^  icon: (\\S+)`, 'm').exec(yml)?.[1];
    const linux = await readFile(join(ROOT, icon('linux')!));
    expect(pngSize(linux)).toEqual([1024, 1024]);

    // ICNS: PNG entries up to 1024 px (ic10).
    const icns = await readFile(join(ROOT, icon('mac')!));
    expect(icns.toString('ascii', 0, 4)).toBe('icns');
    expect(icns.readUInt32BE(4)).toBe(icns.length);
    const types: string[] = [];
    for (let at = 8; at < icns.length; at += icns.readUInt32BE(at + 4)) types.push(icns.toString('ascii', at, at + 4));
    expect(types).toEqual(expect.arrayContaining(['ic09', 'ic10']));

    // ICO: a 256 px image (size byte 0) among the smaller ones, each a valid PNG.
    const ico = await readFile(join(ROOT, icon('win')!));
    expect(ico.readUInt16LE(2)).toBe(1);
    const n = ico.readUInt16LE(4);
    const sizes: number[] = [];
    for (let i = 0; i < n; i++) {
      const e = 6 + i * 16;
      const [w] = pngSize(ico.subarray(ico.readUInt32LE(e + 12), ico.readUInt32LE(e + 12) + ico.readUInt32LE(e + 8)));
      expect(w).toBe(ico[e] === 0 ? 256 : ico[e]);
      sizes.push(w);
    }
    expect(sizes).toEqual(expect.arrayContaining([16, 32, 48, 256]));
  });

  it('npm run dist says in one line that it needs to download Electron when it cannot', { timeout: 30_000 }, async () => {
    const cache = await mkdtemp(join(tmpdir(), 'apollo-dist-cache-'));
    try {
      // An empty download cache and a mirror that cannot resolve (.invalid never does): offline, whatever this machine's network.
      const p = spawn(process.execPath, [join(ROOT, 'scripts/dist.mjs')], { cwd: ROOT, env: { ...process.env, ELECTRON_CACHE: cache, ELECTRON_MIRROR: 'https://electron-mirror.apollo.invalid/' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((r) => p.on('exit', r));
      expect(code).toBe(1);
      expect(out).toBe(''); // nothing was built
      const lines = err.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^npm run dist needs to download Electron \d+\.\d+\.\d+ .* from electron-mirror\.apollo\.invalid, which this machine cannot reach: connect it to the internet/);
      expect(err).not.toMatch(/\n\s+at |stackTrace/);
    } finally {
      await rm(cache, { recursive: true, force: true });
    }
  });
});
