// The code that decides what a cache beside a session holds: the text of a module and of
// every module it imports, transitively, read from disk. Caches key by it (cast-cache.ts,
// bundle-cache.ts) so that a build whose code differs in any way never reuses what an
// older one wrote, without a version number someone must remember to bump.
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** How a relative import names a file: as built (the name itself), or as a source module (TypeScript, extension left out). */
const MODULE_FILE_FORMS = ['', '.ts', '.tsx', '/index.ts'];

/**
 * The text of a built entry and of every module it imports, transitively (its chunks):
 * all the code that runs in it, whatever file it came from. From source, the same over
 * the TypeScript modules. Null when it cannot be read.
 */
export function builtCode(entry: string): string | null {
  const seen = new Set<string>();
  const parts: string[] = [];
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    parts.push(text);
    for (const m of text.matchAll(/(?:\bfrom|\bimport\(?)\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      const base = resolve(dirname(file), m[1]!);
      const found = MODULE_FILE_FORMS.map((f) => base + f).find((f) => statSync(f, { throwIfNoEntry: false })?.isFile());
      if (!found) throw new Error(`${base} not found`);
      visit(found);
    }
  };
  try {
    visit(entry);
  } catch {
    return null;
  }
  return parts.join('\n');
}

/**
 * The code that decides a bundle's bytes: the module at `moduleUrl` (the exporter's,
 * bundle.ts) and every module it imports, transitively, with the tokenizer's version
 * and the Unicode version regular expressions match by. Null when it cannot be read.
 * Its caller takes it when it loads: a build written over it later is not the code running.
 */
export function exportCodeDigest(moduleUrl: string): string | null {
  const text = builtCode(fileURLToPath(moduleUrl));
  if (text === null) return null;
  let tokenizer: string;
  try {
    tokenizer = (createRequire(moduleUrl)('gpt-tokenizer/package.json') as { version: string }).version;
  } catch {
    return null;
  }
  return createHash('sha256').update(text).update(`\ngpt-tokenizer ${tokenizer}\nunicode ${process.versions.unicode}`).digest('hex');
}
