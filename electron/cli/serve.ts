import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { CliCommand } from './index';
import { ApolloCore } from '../core/app';
import { rendererDir, resourcesDir } from '../core/paths';
import { resolveHome } from '../core/store/workspace';
import { startWebHost } from '../web/server';
import { UsageError } from './usage';

/** The range the port of a workspace is taken from when no --port is given. */
export const WORKSPACE_PORTS = { first: 6400, count: 100 } as const;

/**
 * The port a workspace is served on by default: the same one at every start (from the
 * folder's path), because a browser keeps its cache and the page's own settings (panel
 * widths, the timeline shown or not: localStorage) per origin, so a new port each time
 * was a first visit each time, with the settings gone.
 */
export function workspacePort(home: string): number {
  return WORKSPACE_PORTS.first + (createHash('sha256').update(resolve(home)).digest().readUInt32BE(0) % WORKSPACE_PORTS.count);
}

export const serveCommand: CliCommand = {
  usage: 'apollo serve [--port N] [--home DIR]',
  options: { port: { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    if (values.port !== undefined && (!/^\d+$/.test(String(values.port)) || Number(values.port) > 65535)) throw new UsageError(`--port must be 0-65535, got ${String(values.port)}`);
    const home = resolveHome(values.home as string | undefined);
    const core = await ApolloCore.open({ home, resourcesDir: resourcesDir(), host: 'web', create: true });
    const start = (port: number) => startWebHost({ core, rendererDir: rendererDir(), port });
    const preferred = values.port === undefined ? workspacePort(home) : Number(values.port);
    // A port in use must not leave the workspace locked by a process that serves nothing.
    const host = await start(preferred)
      .catch((err: NodeJS.ErrnoException) => {
        // The workspace's own port taken (by another program): any free one, said below.
        if (values.port === undefined && err.code === 'EADDRINUSE') return start(0);
        throw err;
      })
      .catch(async (err: unknown) => {
        await core.close();
        throw err;
      });
    // Listening for the signals before the URL is printed: whoever reads it may stop the server at once.
    const stopped = new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    if (host.port !== preferred && values.port === undefined) {
      console.log(`Port ${preferred}, this workspace's, is in use: serving on ${host.port} instead (the browser keeps its cache and the page's settings per port).`);
    }
    if (core.created) console.log(`Created a new workspace at ${home}`);
    for (const w of core.ws.warnings) console.warn(`warning: ${w}`);
    console.log(`Apollo Workstation is serving workspace ${home}`);
    console.log(`Open: ${host.url}`);
    await stopped;
    await host.close();
    await core.close();
    return 0;
  },
};
