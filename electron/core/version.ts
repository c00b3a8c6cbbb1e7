// Injected at build time would be nicer, but the core also runs straight from
// source under vitest; reading package.json keeps one source of truth.
import { createRequire } from 'node:module';

const requireJson = createRequire(import.meta.url);

function findVersion(): string {
  for (const p of ['../../package.json', '../../../package.json', '../package.json']) {
    try {
      const pkg = requireJson(p) as { name?: string; version?: string };
      if (pkg.name === 'apollo-workstation' && pkg.version) return pkg.version;
    } catch {
      // try the next layout (source tree vs. bundled out/main)
    }
  }
  return '0.0.0';
}

export const APP_VERSION = findVersion();
