// Where an extra entry of the build (a worker thread's script, named in
// electron.vite.config.ts) is at run time: beside the entry that runs (out/main/cli.js,
// out/main/index.js for Electron), or one folder up when this code was bundled into
// out/main/chunks. Null when running from source (the unit tests), where callers fall
// back to doing the work in their own thread.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function builtEntry(file: string): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const dir of [here, dirname(here)]) {
    const p = join(dir, file);
    if (existsSync(p)) return p;
  }
  return null;
}
