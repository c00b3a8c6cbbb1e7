// The CLI loads each command's module on its own (electron/cli/index.ts), so the build
// splits the core into chunks shared between commands. Two modules that import each
// other's values can then run in either order: one's top level reads the other's exports
// before they exist (`apollo rollout` once refused --base-url that way: its options spread
// branch.ts's endpointOptions while still undefined). So no value import may close a cycle.
// Type-only imports are erased and dynamic import() runs later: neither counts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const LAYERS = ['electron/cli', 'electron/core', 'electron/web', 'shared'];

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return sources(rel);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** The modules a file imports for their values (relative specifiers, resolved to files of the tree). */
function valueImports(file: string): string[] {
  const sf = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const st of sf.statements) {
    let spec: string | undefined;
    if (ts.isImportDeclaration(st)) {
      const clause = st.importClause;
      if (clause?.isTypeOnly) continue;
      const named = clause?.namedBindings;
      const onlyTypes = clause && !clause.name && named && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
      if (onlyTypes) continue;
      spec = (st.moduleSpecifier as ts.StringLiteral).text;
    } else if (ts.isExportDeclaration(st) && st.moduleSpecifier && !st.isTypeOnly) {
      const named = st.exportClause;
      if (named && ts.isNamedExports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly)) continue;
      spec = (st.moduleSpecifier as ts.StringLiteral).text;
    }
    if (!spec?.startsWith('.')) continue;
    const base = resolve(ROOT, dirname(file), spec);
    const hit = [`${base}.ts`, join(base, 'index.ts')].find((p) => existsSync(p));
    if (hit) out.push(relative(ROOT, hit));
  }
  return out;
}

/** Every cycle's modules (strongly connected components of more than one module, or a module importing itself). */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || graph.get(v)?.includes(v)) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

describe('module graph of the CLI, the core, the web host and shared/', () => {
  it('has no cycle of value imports', () => {
    const graph = new Map(LAYERS.flatMap(sources).map((f) => [f, valueImports(f)] as const));
    expect(graph.size).toBeGreaterThan(100);
    expect(cycles(graph)).toEqual([]);
  });

  it('finds a cycle when there is one, and ignores type-only and dynamic imports', () => {
    expect(cycles(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]))).toEqual([['a', 'b', 'c']]);
    expect(cycles(new Map([['a', ['a']]]))).toEqual([['a']]);
    // branch.ts and rollout.ts as they were: rollout imported branch's values, branch rollout's EXIT.
    const rollout = valueImports('electron/cli/rollout.ts');
    expect(rollout).toContain('electron/cli/branch.ts');
    expect(valueImports('electron/cli/index.ts')).not.toContain('electron/cli/rollout.ts'); // loaded with import()
    expect(valueImports('electron/cli/branch.ts')).not.toContain('electron/cli/index.ts'); // import type { CliCommand }
  });
});
