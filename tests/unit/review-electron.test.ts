// Which frames may use the IPC channel (the Electron main process's check, kept in a
// module without 'electron' so it runs here).
import { describe, expect, it } from 'vitest';
import { pathToFileURL } from 'node:url';
import { isAppUrl } from '../../electron/main/app-url';

const index = '/opt/apollo/resources/app.asar/out/renderer/index.html';

describe('isAppUrl', () => {
  it('admits the built renderer page only', () => {
    expect(isAppUrl(pathToFileURL(index).href, index, undefined)).toBe(true);
    expect(isAppUrl(`${pathToFileURL(index).href}#/session/x`, index, undefined)).toBe(true);
    expect(isAppUrl(pathToFileURL('/tmp/evil.html').href, index, undefined)).toBe(false);
    expect(isAppUrl('https://example.com/', index, undefined)).toBe(false);
  });

  it('admits the dev server by origin, not by string prefix', () => {
    const dev = 'http://localhost:5173';
    expect(isAppUrl('http://localhost:5173/', index, dev)).toBe(true);
    expect(isAppUrl('http://localhost:51730/', index, dev)).toBe(false);
    expect(isAppUrl('http://localhost:5173.evil.example/', index, dev)).toBe(false);
  });

  it('never throws on an empty or odd frame URL', () => {
    for (const u of ['', 'about:blank', 'not a url', 'file://%zz']) {
      expect(() => isAppUrl(u, index, undefined)).not.toThrow();
      expect(isAppUrl(u, index, undefined)).toBe(false);
    }
  });
});
