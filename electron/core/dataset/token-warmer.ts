// Token counts made as a session is recorded, so that its first export finds them in
// `token-counts.bin` (token-store.ts) and costs what a repeat export costs: counting a
// 500-step session's texts exactly took ~1.1 s of its first OpenAI export, loading the
// tokenizer a few hundred ms of it. The texts an export counts are the messages of the
// request record, the replies and the tool schemas (tokens.ts); each is counted here
// when its event is appended, a second after the last one (a rollout's step boundary,
// not its streaming), one text per turn of the event loop, so the host never holds its
// thread for more than one text. A text holding a secret is counted as the export
// writes it too (redacted by the built-in patterns); one whose export form differs
// otherwise (a configured key in it, a repaired tool call, a turn rendered for a
// hand-written step) is simply counted by the export: the store is keyed by the text's
// SHA-256, so nothing counted here can stand for another text.
import type { SessionEvent, WireMessage } from '../../../shared/events';
import { Redactor } from './redact';
import { countTokensOf } from './tokens';
import { addTokenCounts, textKey, TokenCountStore } from './token-store';

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

export class TokenWarmer {
  private pending: string[] = [];
  private store: TokenCountStore | null = null;
  /** Keys counted by this warmer (the store's snapshot does not see its own appends). */
  private readonly added = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private closed = false;
  private readonly redactor = new Redactor();

  /** `dir`: the session folder, where token-counts.bin lives. */
  constructor(private readonly dir: string, private readonly delayMs = DELAY_MS) {}

  /** Note the texts of an appended event, to be counted once the session is quiet. */
  take(ev: SessionEvent): void {
    if (this.closed) return;
    const texts = recordedTexts(ev);
    if (!texts.length) return;
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

  /** Take no more and drop what is pending (the session is being deleted). */
  stop(): void {
    this.closed = true;
    this.pending = [];
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private async count(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      this.store ??= await TokenCountStore.open(this.dir);
      const counts: Array<[string, number]> = [];
      for (const text of batch) {
        const redacted = this.redactor.redact(text).text;
        for (const s of redacted === text ? [text] : [text, redacted]) {
          const key = textKey(s);
          if (this.store.has(key) || this.added.has(key)) continue;
          this.added.add(key);
          counts.push([key, countTokensOf(s)]);
        }
        await new Promise<void>((r) => setImmediate(r));
      }
      await addTokenCounts(this.dir, counts);
    } catch {
      // A cache: what could not be counted or kept here is counted by the export.
    }
  }
}
