#!/usr/bin/env node
// The CLI is bundled with the rest of the core by `npm run build` (run on install).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../out/main/cli.js', import.meta.url));
if (!existsSync(cli)) {
  console.error('apollo: the app is not built yet. Run `npm run build` in the project folder first.');
  process.exit(1);
}
await import(cli);
