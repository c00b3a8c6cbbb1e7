// The renderer's only door to the main process: one message channel each way,
// carrying the contract's envelopes, and the path of a file or folder dropped on the
// page (Electron no longer puts it on the File; the Merge view takes dropped bundle
// folders). No other Node or Electron API leaks through.
import { contextBridge, ipcRenderer, webUtils } from 'electron';

const CHANNEL = 'apollo:msg';

contextBridge.exposeInMainWorld('apolloBridge', {
  send(msg: unknown): void {
    ipcRenderer.send(CHANNEL, msg);
  },
  onMessage(cb: (msg: unknown) => void): void {
    ipcRenderer.on(CHANNEL, (_event, msg: unknown) => cb(msg));
  },
  pathForFile(file: File): string {
    return webUtils.getPathForFile(file);
  },
});
