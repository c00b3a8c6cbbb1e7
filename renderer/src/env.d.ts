// The Electron preload exposes this object with contextBridge (contextIsolation on).
// Only main.tsx reads it; the rest of the renderer receives a Transport.
import type { HostMessage, RequestMessage } from '../../shared/contract/index';

export interface ApolloBridge {
  send(msg: RequestMessage): void;
  onMessage(cb: (msg: HostMessage) => void): void;
  /** Where a dropped file or folder is on disk ('' when it has no path). */
  pathForFile?(file: File): string;
}

declare global {
  interface Window {
    apolloBridge?: ApolloBridge;
  }
}
