// Two clients showing one terminal (two browser tabs, the app and a tab): once both
// have gone, nothing may still count as watching it, or its output would be held
// for nobody and the terminal paused until the stall guard gives up on it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApolloCore } from '../../electron/core/app';
import type { PtyTerminal } from '../../electron/core/pty/terminal';

let root: string;
let core: ApolloCore;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'apollo-attach-clients-'));
  core = await ApolloCore.open({ home: join(root, 'ws'), resourcesDir: resolve('resources'), host: 'web' });
});
afterAll(async () => {
  await core.close();
  await rm(root, { recursive: true, force: true });
});

describe('terminal attach accounting across clients', () => {
  it('detaches the UI stream once the last client has gone, whatever the order', async () => {
    const s = await core.ws.create({ name: 'two clients', cwd: root });
    await core.session(s.id);
    await core.pty.create(s, { id: 'main', command: 'sleep', args: ['30'] });
    const term = core.pty.get(s.id, 'main') as PtyTerminal;
    const a = core.connect(() => {});
    const b = core.connect(() => {});

    core.attach(a.conn, s.id, 'main');
    core.attach(b.conn, s.id, 'main');
    b.close(); // a tab closed
    core.detach(a.conn, s.id, 'main'); // the other one switched away
    expect(term.ui.isAttached).toBe(false);

    core.attach(a.conn, s.id, 'main');
    core.attach(b.conn, s.id, 'main');
    core.attach(a.conn, s.id, 'main'); // a remount of the same view
    core.detach(b.conn, s.id, 'main');
    a.close();
    expect(term.ui.isAttached).toBe(false);
    await term.kill();
  });
});
