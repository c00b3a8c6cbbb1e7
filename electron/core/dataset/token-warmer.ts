// Token counts made as a session is recorded, so that its first export finds them in
// `token-counts.bin` (token-store.ts) and costs what a repeat export costs: counting a
// 500-step session's texts exactly took ~1.1 s of its first OpenAI export, loading the
// tokenizer a few hundred ms of it. The texts an export counts are the messages of the
// request record, the replies and the tool schemas (tokens.ts); each is counted here
// when its event is appended, a second after the last one (a rollout's step boundary,
// not its streaming), in a worker thread (token-count-worker.ts): loading the tokenizer
// took 2.3 s and counting one 8.6 KB text of tqdm output up to 280 ms on the full
// generated session, turns the host's thread must not take (from source, with no built
// worker, in this thread, one text per turn). A text holding a secret is counted as the export
// writes it too (redacted by the built-in patterns); one whose export form differs
// otherwise (a configured key in it, a repaired tool call, a turn rendered for a
// hand-written step) is simply counted by the export: the store is keyed by the text's
// SHA-256, so nothing counted here can stand for another text. The texts found to hold
// no secret (by the built-in patterns and the profiles' secrets) are noted in the
// session's redaction memo (redaction-memo.ts), which the export reads only when its
// own secrets are the same.
import { Worker } from 'node:worker_threads';
import type { SessionEvent, WireMessage } from '../../../shared/events';
import { builtEntry } from '../built-entry';
import { Redactor } from './redact';
import { addCleanTexts, MEMO_MIN_CHARS } from './redaction-memo';
import { countTokensOf, noteTextKeys, type TextKeys } from './tokens';
import { addTokenCounts, textKey, TokenCountStore } from './token-store';
import type { SecretSpec } from './key-fingerprint';

/** The texts of an event that an export counts tokens of. */
export function recordedTexts(ev: SessionEvent): string[] {
  const out: string[] = [];
  if (ev.type === 'model.request') {
    for (const m of ev.append as WireMessage[]) {
      if (typeof m.content === 'string') out.push(m.content);
      if (Array.isArray(m.tool_calls)) {
        for (const c of m.tool_calls as Array<{ function?: { name?: string; arguments?: string } }>) out.push(c.function?.name ?? '', c.function?.arguments ?? '');
      }
    }
  } else if (ev.type === 'request.config') {
    const tools = ev.config.tools;
    if (Array.isArray(tools) && tools.length) out.push(JSON.stringify(tools));
  } else if (ev.type === 'model.response') {
    out.push(ev.content);
    for (const c of ev.toolCalls) out.push(c.name, c.arguments);
  }
  return out;
}

const DELAY_MS = 1000;

/** Counts texts into a session folder's store: in a worker (the host), or in this thread. */
/** `secrets`: what the export would redact besides the patterns (a promise: the worker starts at once, as the batch is handed over). */
export type TextCounter = (dir: string, texts: readonly string[], secrets?: Promise<readonly SecretSpec[]>) => Promise<void>;

/**
 * Count the texts of `texts` the store of `dir` does not hold, each as it is and as the
 * export writes it when a pattern or one of `secrets` redacts it, and append them; note
 * the long ones that hold nothing as clean. `between` runs after each text (in this
 * thread: a turn of the event loop for the host's other work).
 */
export async function countNewTexts(dir: string, texts: readonly string[], between?: () => Promise<void>, secrets: readonly SecretSpec[] = []): Promise<void> {
  // Read again for each batch, so it sees this process's earlier appends.
  const store = await TokenCountStore.open(dir);
  const redactor = new Redactor(secrets);
  const seen = new Set<string>();
  const counts: Array<[string, number]> = [];
  const clean = new Set<string>();
  for (const text of texts) {
    const { text: redacted, kinds } = redactor.redact(text);
    const own = textKey(text);
    if (kinds.length === 0 && redacted === text && text.length >= MEMO_MIN_CHARS) clean.add(own);
    const forms: Array<[string, string]> = redacted === text ? [[text, own]] : [[text, own], [redacted, textKey(redacted)]];
    for (const [s, key] of forms) {
      if (store.has(key) || seen.has(key)) continue;
      seen.add(key);
      counts.push([key, countTokensOf(s)]);
    }
    await between?.();
  }
  await addTokenCounts(dir, counts);
  await addCleanTexts(dir, redactor.fingerprint, [...clean]);
}

/** In this thread, one text per turn of the event loop. */
export const countInThread: TextCounter = async (dir, texts, secrets) => countNewTexts(dir, texts, () => new Promise<void>((r) => setImmediate(r)), await secrets);

/** The worker's file name in the build (electron.vite.config.ts names the entry). */
export const TOKEN_COUNT_WORKER_FILE = 'token-count-worker.js';
/** An idle worker is ended after this long: it holds the tokenizer's ranks (~35 MB). */
const WORKER_IDLE_MS = 30_000;

export type CountRequest = { id: number; dir: string; texts: readonly string[]; secrets: readonly SecretSpec[] };
export type CountReply = { id: number };

/**
 * One counting worker per process for every session, started on the first batch and
 * ended when idle. Idle it never keeps the process alive; busy it does (close() waits on
 * it). A worker that dies settles the batches in flight (a cache: the export counts what
 * is missing) and the next batch starts a new one.
 */
export class CountWorker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, () => void>();
  private idle: NodeJS.Timeout | null = null;
  /** Workers started so far (tests). */
  starts = 0;

  constructor(private readonly path: string, private readonly idleMs = WORKER_IDLE_MS) {}

  readonly count: TextCounter = (dir, texts, secrets) => {
    const w = this.start();
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    return new Promise<void>((resolve) => {
      const id = this.nextId++;
      this.pending.set(id, resolve);
      w.ref();
      void Promise.resolve(secrets ?? []).then((s) => {
        if (this.worker !== w) return; // it died meanwhile: its exit settled this batch
        w.postMessage({ id, dir, texts, secrets: s } satisfies CountRequest);
      });
    });
  };

  /** End the worker as a crash would (tests), or at shutdown. */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.path);
    this.worker = w;
    this.starts++;
    w.unref();
    w.on('message', (m: CountReply) => {
      const done = this.pending.get(m.id);
      this.pending.delete(m.id);
      done?.();
      if (this.pending.size) return;
      w.unref();
      this.idle = setTimeout(() => {
        // Forgotten first: a batch that comes while it ends starts a new one.
        if (this.worker !== w || this.pending.size) return;
        this.worker = null;
        void w.terminate();
      }, this.idleMs);
      this.idle.unref();
    });
    w.on('error', () => undefined);
    w.on('exit', () => {
      if (this.worker !== w) return;
      this.worker = null;
      const calls = [...this.pending.values()];
      this.pending.clear();
      for (const done of calls) done();
    });
    return w;
  }
}

let shared: TextCounter | null = null;
/** The host's counter: the built worker's, else this thread's (running from source). */
function defaultCounter(): TextCounter {
  if (!shared) {
    const path = builtEntry(TOKEN_COUNT_WORKER_FILE);
    shared = path ? new CountWorker(path).count : countInThread;
  }
  return shared;
}

export class TokenWarmer {
  private pending: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private closed = false;

  /**
   * `dir`: the session folder, where token-counts.bin lives. `secrets`: what an export
   * of it would redact besides the patterns (the profiles' keys), asked for each batch.
   */
  constructor(
    private readonly dir: string,
    private readonly delayMs = DELAY_MS,
    private readonly counter: TextCounter = defaultCounter(),
    private readonly secrets: () => Promise<readonly SecretSpec[]> = async () => [],
    /** The session's keys by text (tokens.ts sessionTextKeys): each text's is noted at once, in this thread (microseconds a step). */
    private readonly keys: TextKeys | null = null,
  ) {}
  /** Note the texts of an appended event, to be counted once the session is quiet. */
  take(ev: SessionEvent): void {
    if (this.closed) return;
    const texts = recordedTexts(ev);
    if (!texts.length) return;
    if (this.keys) noteTextKeys(this.keys, texts);
    for (const t of texts) this.pending.push(t);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush();
    }, this.delayMs);
    // A pending count never keeps a process alive: close() counts what is left.
    this.timer.unref();
  }

  /** Count everything noted so far. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    while (this.running) await this.running;
    if (!this.pending.length) return;
    this.running = this.count().finally(() => {
      this.running = null;
    });
    await this.running;
  }

  /** Count what is left (the last step's texts) and take no more. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  /**
   * Take no more and drop what is pending (the session is being deleted); settles once
   * a batch being counted has been written, so its file cannot appear in the folder
   * while the folder is being removed.
   */
  async stop(): Promise<void> {
    this.closed = true;
    this.pending = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.running) await this.running;
  }

  private async count(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      // No secrets when they cannot be read: the memo is then one no export with keys reads.
      await this.counter(this.dir, batch, this.secrets().catch(() => []));
    } catch {
      // A cache: what could not be counted or kept here is counted by the export.
    }
  }
}
