// Entry of the keyframe worker (built to out/main/keyframe-worker.js; screen-workers.ts
// starts it): the emulators of the host's keyframe builds and screens, by number, so
// that parsing terminal output happens off the host's thread. Each message is one
// call; one emulator's calls come one at a time, several emulators' interleave.
import { parentPort } from 'node:worker_threads';
import { LocalScreen } from './screen-engine';
import type { WorkerReply, WorkerRequest } from './screen-workers';
import { errorText } from '../../../shared/errors';

const port = parentPort;
if (!port) throw new Error('keyframe-worker.ts runs as a worker thread only');
const screens = new Map<number, Promise<LocalScreen>>();

function screenOf(n: number): Promise<LocalScreen> {
  const s = screens.get(n);
  if (!s) throw new Error(`No screen ${n} in the keyframe worker`);
  return s;
}

async function handle(m: WorkerRequest): Promise<Omit<WorkerReply & { ok: true }, 'id' | 'ok'> | null> {
  switch (m.op) {
    case 'open': {
      const s = LocalScreen.open(m.size, m.init);
      screens.set(m.screen, s);
      await s;
      return {};
    }
    case 'feed':
      return { fed: await (await screenOf(m.screen)).feed(m.bytes, m.size, m.snap) };
    case 'snapshot':
      return { snapshot: await (await screenOf(m.screen)).snapshot(m.size) };
    case 'close': {
      const s = screens.get(m.screen);
      screens.delete(m.screen);
      void s?.then((x) => x.dispose());
      return null;
    }
  }
}

port.on('message', (m: WorkerRequest) => {
  handle(m).then(
    (r) => {
      if (r) port.postMessage({ id: m.id, ok: true, ...r } satisfies WorkerReply);
    },
    (e: unknown) => port.postMessage({ id: m.id, ok: false, error: errorText(e) } satisfies WorkerReply),
  );
});
