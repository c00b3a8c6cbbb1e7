// Where the keyframes' emulators run (keyframes.ts asks for them here): in the
// keyframe worker thread when the build has one (screen-workers.ts), else in this
// thread. Parsing a terminal's output is the keyframes' whole cost, about three times
// what recording it costs, and in the host's thread it competes with every other
// terminal's keyboard echo; so the worker parses and this thread only reads the
// recording and writes the keyframe file (its format and durability stay in one place).
import { HeadlessScreen } from './headless-screen';

export interface Size {
  cols: number;
  rows: number;
}

export interface FedScreen extends Size {
  /** Nothing half-parsed after the bytes (HeadlessScreen.atGround). */
  ground: boolean;
  /** The snapshot after the bytes, when asked for and at ground; else null. */
  snapshot: string | null;
}

/** One emulator, used by one caller at a time (each call awaited before the next). */
export interface EngineScreen {
  /** Resize to `size`, parse `bytes`; the snapshot too when `snapshotAtGround` and nothing is half-parsed. */
  feed(bytes: Uint8Array, size: Size, snapshotAtGround: boolean): Promise<FedScreen>;
  /** Resize to `size` and serialize. */
  snapshot(size: Size): Promise<string>;
  dispose(): void;
}

export interface ScreenEngine {
  /** A fresh emulator of `size`, with `init` (a keyframe's snapshot) written into it. */
  open(size: Size, init?: Uint8Array): Promise<EngineScreen>;
}

/** The emulator behind an EngineScreen, wherever it runs (the worker uses it too). */
export class LocalScreen implements EngineScreen {
  private constructor(private readonly screen: HeadlessScreen) {}

  static async open(size: Size, init?: Uint8Array): Promise<LocalScreen> {
    const s = new LocalScreen(new HeadlessScreen(size.cols, size.rows));
    if (init) await s.screen.write(init);
    return s;
  }

  async feed(bytes: Uint8Array, size: Size, snapshotAtGround: boolean): Promise<FedScreen> {
    this.screen.resize(size.cols, size.rows);
    await this.screen.write(bytes);
    const ground = this.screen.atGround();
    return { ground, snapshot: snapshotAtGround && ground ? this.screen.snapshot() : null, cols: this.screen.cols, rows: this.screen.rows };
  }

  snapshot(size: Size): Promise<string> {
    this.screen.resize(size.cols, size.rows);
    return Promise.resolve(this.screen.snapshot());
  }

  dispose(): void {
    this.screen.dispose();
  }
}

export const localEngine: ScreenEngine = { open: (size, init) => LocalScreen.open(size, init) };
