// The Electron preload exposes this object with contextBridge (contextIsolation on).
// Only main.tsx reads it; the rest of the renderer receives a Transport.
import type { HostMessage, RequestMessage } from '../../shared/contract/index';

export interface ApolloBridge {
  send(msg: RequestMessage): void;
  onMessage(cb: (msg: HostMessage) => void): void;
}

declare global {
  interface Window {
    apolloBridge?: ApolloBridge;
  }
}
