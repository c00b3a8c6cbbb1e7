// Names the code that opened a FileHandle Node later closed on garbage collection (the
// "Closing file descriptor N on garbage collection" / DEP0137 warning, which says
// nothing of where the handle came from). Preload it into every process of a run:
//   NODE_OPTIONS="--import $PWD/scripts/trace-filehandles.mjs" npx vitest run FILES
// Each handle collected unclosed appends its path and opening stack to
// $TMPDIR/apollo-filehandles-PID.txt. fs.promises.open is wrapped, so handles Node opens
// internally (readFile and the like, which close their own) are not seen.
import { appendFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const report = join(tmpdir(), `apollo-filehandles-${process.pid}.txt`);
const unclosed = new FinalizationRegistry((h) => {
  if (!h.closed) appendFileSync(report, `fd ${h.fd} ${h.path} (${process.argv.slice(1).join(' ')})\n${h.stack}\n---\n`);
});
const open = fsp.open;
fsp.open = async function traced(...args) {
  const stack = new Error().stack.split('\n').slice(2, 14).join('\n');
  const fh = await open.apply(this, args);
  const h = { fd: fh.fd, path: String(args[0]), stack, closed: false };
  unclosed.register(fh, h);
  const close = fh.close.bind(fh);
  fh.close = () => ((h.closed = true), close());
  return fh;
};
syncBuiltinESMExports(); // `import { open } from 'node:fs/promises'` elsewhere sees the wrapper too
