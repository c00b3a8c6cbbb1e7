// The renderer's only door to the main process: one message channel each way,
// carrying the contract's envelopes. No Node or Electron API leaks through.
import { contextBridge, ipcRenderer } from 'electron';

const CHANNEL = 'apollo:msg';

contextBridge.exposeInMainWorld('apolloBridge', {
  send(msg: unknown): void {
    ipcRenderer.send(CHANNEL, msg);
  },
  onMessage(cb: (msg: unknown) => void): void {
    ipcRenderer.on(CHANNEL, (_event, msg: unknown) => cb(msg));
  },
});
