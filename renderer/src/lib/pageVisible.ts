// Whether this page is on screen at all (not a background browser tab, not a
// minimised window). A terminal that is not on screen streams nothing: it catches up
// from the recording when it is shown again (see TerminalView).
import { useSyncExternalStore } from 'react';

function subscribe(onChange: () => void): () => void {
  document.addEventListener('visibilitychange', onChange);
  return () => document.removeEventListener('visibilitychange', onChange);
}

const visibleNow = () => document.visibilityState !== 'hidden';

export function usePageVisible(): boolean {
  return useSyncExternalStore(subscribe, visibleNow);
}
