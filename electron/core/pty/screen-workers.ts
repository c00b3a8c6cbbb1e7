// The keyframe worker: one worker thread per host (keyframe-worker.ts, built to
// out/main/keyframe-worker.js) holding the emulators of every terminal's keyframe
// build and of each screen asked for. One, not one per terminal: the host has a core or
// two to spare, a worker costs ~10 MB and a start of tens of ms, and floods in several
// terminals at once are rare (each still gets its turn, message by message).
//
// Keyframes are an optimisation: a worker that dies (a crash, out of memory, killed)
// fails the calls in flight and the emulators it held with WorkerStopped, says so, and
// the next call starts a new one; the builder then goes on from its last keyframe.
// Nothing of the recording depends on it.
import { Worker } from 'node:worker_threads';
import { builtEntry } from '../built-entry';
import { localEngine, type EngineScreen, type FedScreen, type ScreenEngine, type Size } from './screen-engine';

/** The worker's file name in the build (electron.vite.config.ts names the entry). */
export const KEYFRAME_WORKER_FILE = 'keyframe-worker.js';
/** Emulators with no scrollback are small: a runaway worker dies here, not the host. */
const WORKER_HEAP_MB = 256;

export type WorkerRequest =
  | { id: number; op: 'open'; screen: number; size: Size; init?: Uint8Array }
  | { id: number; op: 'feed'; screen: number; size: Size; bytes: Uint8Array; snap: boolean }
  | { id: number; op: 'snapshot'; screen: number; size: Size }
  | { id: 0; op: 'close'; screen: number };
export type WorkerReply = { id: number; ok: true; fed?: FedScreen; snapshot?: string } | { id: number; ok: false; error: string };

export class WorkerStopped extends Error {}

interface Pending {
  resolve(r: WorkerReply & { ok: true }): void;
  reject(e: Error): void;
}

export class ScreenWorkers implements ScreenEngine {
  private worker: Worker | null = null;
  /** Each started worker's number: an emulator belongs to the one it was opened in. */
  private generation = 0;
  private nextId = 1;
  private nextScreen = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly stopListeners = new Set<(why: string) => void>();
  /** Workers started so far (the first one included). */
  starts = 0;
  private closing = false;

  constructor(private readonly path: string) {}

  /** Told each time a worker stops on its own (not by close()). */
  onStopped(listener: (why: string) => void): () => void {
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.path, { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } });
    this.worker = w;
    this.generation++;
    this.starts++;
    // Idle, it must not keep the process alive; busy, it must (a caller waits on it).
    w.unref();
    w.on('message', (m: WorkerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) w.unref();
      if (m.ok) p.resolve(m);
      else p.reject(new Error(m.error));
    });
    let why = 'it stopped';
    w.on('error', (e: Error & { code?: string }) => {
      why = e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `it ran out of memory (${WORKER_HEAP_MB} MB)` : `it failed: ${e.message}`;
    });
    w.on('exit', (code) => {
      if (this.worker !== w) return;
      this.worker = null;
      const message = `The keyframe worker stopped (${why}, exit code ${code}); a new one starts on the next keyframe or screen.`;
      const calls = [...this.pending.values()];
      this.pending.clear();
      for (const p of calls) p.reject(new WorkerStopped(message));
      if (this.closing) return;
      console.error(`[keyframes] ${message}`);
      for (const l of this.stopListeners) l(message);
    });
    return w;
  }

  private call(req: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    const w = this.start();
    return new Promise((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      w.ref();
      w.postMessage(req, transfer);
    });
  }

  async open(size: Size, init?: Uint8Array): Promise<EngineScreen> {
    const screen = this.nextScreen++;
    this.start();
    const gen = this.generation;
    const bytes = init ? copy(init) : undefined;
    await this.call({ id: this.requestId(), op: 'open', screen, size, ...(bytes ? { init: bytes } : {}) }, bytes ? [bytes.buffer as ArrayBuffer] : []);
    return new WorkerScreen(this, screen, gen);
  }

  /** @internal WorkerScreen's calls: fail at once for an emulator of a worker that has stopped. */
  request(gen: number, req: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    if (gen !== this.generation || !this.worker) return Promise.reject(new WorkerStopped('The keyframe worker that held this screen stopped'));
    return this.call(req, transfer);
  }

  /** @internal */
  release(gen: number, screen: number): void {
    if (gen === this.generation && this.worker) this.worker.postMessage({ id: 0, op: 'close', screen } satisfies WorkerRequest);
  }

  /** @internal */
  requestId(): number {
    return this.nextId++;
  }

  /** Stop the worker as a crash would (tests: what a dead worker leaves behind). */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker?.terminate();
    this.closing = false;
  }
}

class WorkerScreen implements EngineScreen {
  private disposed = false;

  constructor(
    private readonly pool: ScreenWorkers,
    private readonly screen: number,
    private readonly gen: number,
  ) {}

  async feed(bytes: Uint8Array, size: Size, snap: boolean): Promise<FedScreen> {
    const b = copy(bytes);
    const r = await this.pool.request(this.gen, { id: this.pool.requestId(), op: 'feed', screen: this.screen, size, bytes: b, snap }, [b.buffer as ArrayBuffer]);
    return r.fed!;
  }

  async snapshot(size: Size): Promise<string> {
    const r = await this.pool.request(this.gen, { id: this.pool.requestId(), op: 'snapshot', screen: this.screen, size });
    return r.snapshot!;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool.release(this.gen, this.screen);
  }
}

/** Bytes in an ArrayBuffer of their own, to transfer (a Buffer may be a slice of a shared pool). */
function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

let shared: ScreenEngine | null = null;

/** The host's engine: the built worker when there is one (out/main), else this thread (from source). */
export function screenEngine(): ScreenEngine {
  if (!shared) {
    const path = builtEntry(KEYFRAME_WORKER_FILE);
    shared = path ? new ScreenWorkers(path) : localEngine;
  }
  return shared;
}
