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

/** False until the page has painted once since the component mounted. */
export function useAfterFirstPaint(): boolean {
  const [painted, setPainted] = useState(false);
  useEffect(() => afterNextPaint(() => setPainted(true)), []);
  return painted;
}
