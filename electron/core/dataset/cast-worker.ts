// Entry of the recording worker (built to out/main/cast-worker.js): converts one
// recording (workerData, a CastJob) and reports to the exporter (cast-runner.ts). It
// runs in a thread of its own so that the megabytes of strings each megabyte of
// terminal output allocates are collected under the worker's small heap limit
// instead of piling up in the host's heap.
import { parentPort, workerData } from 'node:worker_threads';
import { convertRecording, type CastJob } from './cast-job';
import { toApolloError } from './files';
import type { WorkerMessage, WorkerRequest } from './cast-runner';

const port = parentPort;
if (!port) throw new Error('cast-worker.ts runs as a worker thread only');
const post = (m: WorkerMessage): void => port.postMessage(m);
const controller = new AbortController();
port.on('message', (m: WorkerRequest) => {
  if (m.type === 'abort') controller.abort();
});
// Listening must not keep the thread alive: it ends when the conversion has.
port.unref();
// Redactions travel with the next progress report, so few messages carry them.
let lines: Array<[number, string[]]> = [];
try {
  const result = await convertRecording(workerData as CastJob, {
    signal: controller.signal,
    onLine: (line, kinds) => void lines.push([line, [...kinds]]),
    onBytes: (done, size) => {
      post({ type: 'progress', done, size, lines });
      lines = [];
    },
  });
  post({ type: 'done', result, lines });
} catch (e) {
  const err = toApolloError(e, 'exporting', 'Export cancelled');
  post({ type: 'error', error: err.toJSON(), lines });
}
