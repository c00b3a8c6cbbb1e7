import { createInterface } from 'node:readline/promises';
import type { CliCommand } from './index';
import { openCore, usage } from './branch';
import { ApolloError, errorText } from '../../shared/errors';
import { ADAPTERS, IMPORT_FORMATS, importPath, type ImportResult } from '../core/import/index';

/** Ask on the terminal; false when there is none to ask (a script, a pipe). */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

export const importCommand: CliCommand = {
  usage:
    `apollo import FILE|DIR... [--format ${IMPORT_FORMATS.join('|')}] [--name NAME] [--allow-duplicate] [--json] [--home DIR]\n` +
    '  The format is detected from the content unless --format names it. Each input becomes one session, or one per\n' +
    '  run it holds (an SFT line, an OpenHands instance, an Inspect sample); its sessions appear together or not at all.\n' +
    '  Prints the new session ids, one per line (--json: a report per input). An input imported before (same SHA-256)\n' +
    '  is refused unless --allow-duplicate (asked on a terminal). Progress goes to stderr.\n' +
    '  Exit 0 when every input imported, 1 when any failed (nothing of that input is kept), 2 on a usage error.\n' +
    `  Formats:\n${ADAPTERS.map((a) => `    ${a.format.padEnd(15)} ${a.description}`).join('\n')}`,
  options: {
    format: { type: 'string', short: 'f' },
    name: { type: 'string' },
    'allow-duplicate': { type: 'boolean' },
    json: { type: 'boolean' },
  },
  async run(v, positionals) {
    if (positionals.length === 0) return usage('import', 'at least one FILE or DIR is required.', this.usage);
    const format = v.format as string | undefined;
    if (format && !IMPORT_FORMATS.includes(format)) return usage('import', `unknown format "${format}"; known: ${IMPORT_FORMATS.join(', ')}.`, this.usage);
    if (v.name !== undefined && !(v.name as string).trim()) return usage('import', '--name must not be empty.', this.usage);

    // Importing into a new --home makes it (said on stderr), as serve and rollout do.
    const core = await openCore(v, undefined, { create: true });
    const abort = new AbortController();
    const onSignal = (): void => abort.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const reports: Array<ImportResult | { file: string; error: { code: string; message: string } }> = [];
    let failed = 0;
    try {
      for (const path of positionals) {
        let lastAt = Date.now();
        const opts = {
          format, name: v.name as string | undefined, allowDuplicate: v['allow-duplicate'] === true, signal: abort.signal,
          onProgress: (p: { file: string; bytes: number; total: number; stage: string; sessions: number }) => {
            const now = Date.now();
            if (now - lastAt < 1000) return;
            lastAt = now;
            const pct = p.total ? ` ${Math.floor((p.bytes / p.total) * 100)}%` : '';
            process.stderr.write(`import ${p.file}: ${p.stage}${pct}${p.sessions ? `, ${p.sessions} session(s)` : ''}\n`);
          },
        };
        try {
          let r: ImportResult;
          try {
            r = await importPath(core.ws, path, opts);
          } catch (err) {
            const dups = err instanceof ApolloError && err.code === 'CONFLICT' ? (err.details as { sessionIds?: string[] } | undefined)?.sessionIds : undefined;
            if (!dups || !(await confirm(`${errorText(err)}\nImport it again?`))) throw err;
            r = await importPath(core.ws, path, { ...opts, allowDuplicate: true });
          }
          reports.push(r);
          process.stderr.write(`imported ${r.file} (${r.format}): ${r.sessionIds.length} session${r.sessionIds.length === 1 ? '' : 's'}\n`);
          if (!v.json) for (const id of r.sessionIds) console.log(id);
        } catch (err) {
          failed++;
          const e = err instanceof ApolloError ? err : new ApolloError('INTERNAL', (err as Error)?.message ?? String(err));
          reports.push({ file: path, error: { code: e.code, message: e.message } });
          console.error(`apollo import: ${e.message} [${e.code}]`);
          if (e.code === 'CANCELLED') break;
        }
      }
      if (v.json) console.log(JSON.stringify(reports, null, 2));
      return failed ? 1 : 0;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await core.close();
    }
  },
};
