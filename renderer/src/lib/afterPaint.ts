// Work that can wait for the next picture waits on it: opening a session shows its
// steps before its terminal is created (making, fitting and restoring an xterm costs
// 100+ ms of main thread, which would otherwise delay that paint), and before the
// address bar is written (see useRouteSync).
import { useEffect, useState } from 'react';

/** Run `cb` once the page has painted its next frame; returns a cancel. */
export function afterNextPaint(cb: () => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  // A frame callback runs just before the paint; a task queued from it runs after.
  const raf = requestAnimationFrame(() => {
    timer = setTimeout(cb, 0);
  });
  return () => {
    cancelAnimationFrame(raf);
    clearTimeout(timer);
  };
}

/**
 * False until the page has painted `frames` times since the component mounted. Work
 * that waits on different counts runs in tasks of its own, with a picture between them,
 * rather than in one long task after the first (the steps, then the terminal, then the
 * timeline: one 500 ms task on the 2,500-step session, which held every click as long).
 */
export function useAfterFirstPaint(frames = 1, opts: { idle?: boolean } = {}): boolean {
  const [painted, setPainted] = useState(false);
  const idle = opts.idle ?? false;
  useEffect(() => {
    let cancel = () => {};
    const done = () => {
      if (!idle || typeof requestIdleCallback === 'undefined') return setPainted(true);
      const id = requestIdleCallback(() => setPainted(true), { timeout: IDLE_TIMEOUT_MS });
      cancel = () => cancelIdleCallback(id);
    };
    const wait = (left: number) => {
      cancel = afterNextPaint(() => (left > 1 ? wait(left - 1) : done()));
    };
    wait(frames);
    return () => cancel();
  }, [frames, idle]);
  return painted;
}

/**
 * `idle`: and then until the page is idle, at most this long. The first paint of a
 * session view is not the one with its steps placed: the step list measures its rows
 * and lays them out again in the frames after, and a terminal made in between (its
 * xterm, and the attach, whose replay the host reads from the recording) pushed that
 * frame back by ~60 ms on the fifth-size session.
 */
const IDLE_TIMEOUT_MS = 500;
