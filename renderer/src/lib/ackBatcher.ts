// Flow control for terminal output: the host pauses a pty while this renderer has too
// many unacknowledged bytes. We acknowledge bytes only once xterm has *parsed* them
// (its write callback), so a flood of output cannot outrun the screen. Acks are batched
// (every ACK_BYTES or ACK_DELAY_MS, whichever comes first) to keep request traffic small.

export const ACK_BYTES = 64 * 1024;
export const ACK_DELAY_MS = 50;

export class AckBatcher {
  private pending = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private disposed = false;

  constructor(private readonly send: (bytes: number) => void) {}

  add(bytes: number): void {
    if (this.disposed || bytes <= 0) return;
    this.pending += bytes;
    if (this.pending >= ACK_BYTES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), ACK_DELAY_MS);
  }

  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending > 0) {
      const n = this.pending;
      this.pending = 0;
      this.send(n);
    }
  }

  dispose(): void {
    this.flush();
    this.disposed = true;
  }
}
