// Whether the session timeline strip is shown: a per-machine preference (localStorage),
// shared by the header toggle, the key binding and the strip itself.
import { useSyncExternalStore } from 'react';

const KEY = 'apollo.timeline';
const listeners = new Set<() => void>();

function read(): boolean {
  try {
    return localStorage.getItem(KEY) !== 'hidden';
  } catch {
    return true;
  }
}

let shown = read();

export function setTimelineShown(on: boolean): void {
  shown = on;
  try {
    localStorage.setItem(KEY, on ? 'shown' : 'hidden');
  } catch {
    // storage refused: the choice lasts until the reload
  }
  for (const l of listeners) l();
}

export function useTimelineShown(): boolean {
  return useSyncExternalStore(
    (cb) => {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
    () => shown,
  );
}
