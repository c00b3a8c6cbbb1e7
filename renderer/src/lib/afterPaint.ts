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
export function useAfterFirstPaint(frames = 1): boolean {
  const [painted, setPainted] = useState(false);
  useEffect(() => {
    let cancel = () => {};
    const wait = (left: number) => {
      cancel = afterNextPaint(() => (left > 1 ? wait(left - 1) : setPainted(true)));
    };
    wait(frames);
    return () => cancel();
  }, [frames]);
  return painted;
}
