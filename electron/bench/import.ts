// Import throughput: a large asciicast and a large SFT JSONL imported in one
// streaming pass, beside reading the same file, with the peak memory it took.
import { createWriteStream, statSync } from 'node:fs';
import { join } from 'node:path';
import { importPath } from '../core/import/index';
import { ApolloCore } from '../core/app';
import { resourcesDir } from '../core/paths';
import { peakRss, readAll } from './measure';

const IMPORT_BYTES = Number(process.env.BENCH_IMPORT_BYTES ?? 200_000_000);
const SFT_LINES = Number(process.env.BENCH_SFT_LINES ?? 2_000);

async function writeLines(path: string, header: string | null, line: (i: number) => string, until: (bytes: number, i: number) => boolean): Promise<void> {
  const out = createWriteStream(path);
  let bytes = 0;
  const put = async (s: string) => {
    bytes += Buffer.byteLength(s);
    if (!out.write(s)) await new Promise<void>((r) => out.once('drain', () => r()));
  };
  if (header) await put(header + '\n');
  for (let i = 0; !until(bytes, i); i++) await put(line(i) + '\n');
  await new Promise<void>((r) => out.end(r));
}

export async function benchImport(dir: string): Promise<void> {
  // The hosts' core (lock and all); imports go into its workspace as `apollo import` does.
  const core = await ApolloCore.open({ home: join(dir, 'import-home'), resourcesDir: resourcesDir(), host: 'web', samples: false });
  const ws = core.ws;
  try {
    const cast = join(dir, 'big.cast');
    const chunk = 'build step output \u001b[32mok\u001b[0m '.repeat(6);
    await writeLines(cast, JSON.stringify({ version: 3, term: { cols: 120, rows: 40 }, title: 'bench' }), (i) => (i % 20_000 === 19_999 ? JSON.stringify([0.01, 'm', `part ${i}`]) : JSON.stringify([0.001, 'o', `${chunk}${i}\r\n`])), (b) => b >= IMPORT_BYTES);
    const sft = join(dir, 'big.jsonl');
    const turn = 'x'.repeat(1500);
    await writeLines(sft, null, (i) => JSON.stringify({ messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: `task ${i} ${turn}` }, { role: 'assistant', content: null, tool_calls: [{ id: `c${i}`, type: 'function', function: { name: 'bash', arguments: '{"command":"ls"}' } }] }, { role: 'tool', tool_call_id: `c${i}`, content: turn }, { role: 'assistant', content: 'done', weight: 1 }], tools: [{ type: 'function', function: { name: 'bash', parameters: { type: 'object' } } }] }), (_b, i) => i >= SFT_LINES);
    for (const [what, path] of [['asciicast', cast], ['OpenAI chat JSONL', sft]] as const) {
      const bytes = statSync(path).size;
      const readMs = await readAll(path);
      const { value: r, mb } = await peakRss(async () => {
        const t0 = performance.now();
        const res = await importPath(ws, path, { allowDuplicate: true });
        return { res, ms: performance.now() - t0 };
      });
      const mbs = (n: number) => `${((bytes / 1e6) / (n / 1000)).toFixed(0)} MB/s`;
      console.log(`\nImporting a ${(bytes / 1e6).toFixed(0)} MB ${what} (${r.res.sessionIds.length.toLocaleString()} session${r.res.sessionIds.length === 1 ? '' : 's'})`);
      console.log(`${'import (hash + read + stage + commit), ms'.padEnd(46)} ${r.ms.toFixed(0).padStart(12)} ms   baseline ${readMs.toFixed(0).padStart(12)} ms   ${mbs(r.ms)} vs ${mbs(readMs)} reading it   (peak +${mb.toFixed(0)} MB RSS)`);
    }
  } finally {
    await core.close();
  }
}
