import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Walk up from this module (source tree, out/main or out/main/chunks) to the first folder holding `rel`. */
function findUp(rel: string, marker: string): string | null {
  let dir = here;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, rel);
    if (existsSync(join(candidate, marker))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}

/**
 * The app's resources folder (shell integration, sample sessions). The same code
 * runs from source (vitest), bundled in out/main (CLI, web host) and packaged
 * (electron-builder puts it under process.resourcesPath, outside the asar archive,
 * because shells must read the integration scripts).
 */
export function resourcesDir(): string {
  if (process.env.APOLLO_RESOURCES) return process.env.APOLLO_RESOURCES;
  const packaged = (process as { resourcesPath?: string }).resourcesPath;
  if (packaged && existsSync(join(packaged, 'resources', 'shell-integration'))) return join(packaged, 'resources');
  return findUp('resources', 'shell-integration') ?? resolve(here, '../../resources');
}

/** The built renderer (index.html + assets), never the source folder of the same name. */
export function rendererDir(): string {
  return findUp(join('out', 'renderer'), 'index.html') ?? findUp('renderer', join('assets')) ?? resolve(here, '../renderer');
}
