// Entry of the token-counting worker (built to out/main/token-count-worker.js): counts
// the texts of recorded events into their session's token-counts.bin (token-warmer.ts)
// off the host's thread, which loading the tokenizer and counting a long text would
// hold for seconds.
import { parentPort } from 'node:worker_threads';
import { countNewTexts, type CountReply, type CountRequest } from './token-warmer';

const port = parentPort;
if (!port) throw new Error('token-count-worker.ts runs as a worker thread only');
port.on('message', (m: CountRequest) => {
  // A cache: a batch that cannot be counted or kept is counted by the export.
  void countNewTexts(m.dir, m.texts, undefined, m.secrets).catch(() => undefined).then(() => port.postMessage({ id: m.id } satisfies CountReply));
});
