// False until the page has painted once since the component mounted. Work that can
// wait for the first picture waits on it: opening a session shows its steps before
// its terminal is created (making, fitting and restoring an xterm costs 100+ ms of
// main thread, which would otherwise delay that paint).
import { useEffect, useState } from 'react';

export function useAfterFirstPaint(): boolean {
  const [painted, setPainted] = useState(false);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    // A frame callback runs just before the paint; a task queued from it runs after.
    const raf = requestAnimationFrame(() => {
      timer = setTimeout(() => setPainted(true), 0);
    });
    return () => {
      cancelAnimationFrame(raf);
      clearTimeout(timer);
    };
  }, []);
  return painted;
}
