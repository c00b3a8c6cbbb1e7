import type { CliCommand } from './index';
import { ApolloCore } from '../core/app';
import { rendererDir, resourcesDir } from '../core/paths';
import { resolveHome } from '../core/store/workspace';
import { startWebHost } from '../web/server';
import { UsageError } from './usage';

export const serveCommand: CliCommand = {
  usage: 'apollo serve [--port N] [--home DIR]',
  options: { port: { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const port = values.port === undefined ? 0 : Number(values.port);
    if (!/^\d+$/.test(String(values.port ?? 0)) || !Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535, got ${String(values.port)}`);
    const home = resolveHome(values.home as string | undefined);
    const core = await ApolloCore.open({ home, resourcesDir: resourcesDir(), host: 'web', create: true });
    // A port in use must not leave the workspace locked by a process that serves nothing.
    const host = await startWebHost({ core, rendererDir: rendererDir(), port }).catch(async (err: unknown) => {
      await core.close();
      throw err;
    });
    if (core.created) console.log(`Created a new workspace at ${home}`);
    for (const w of core.ws.warnings) console.warn(`warning: ${w}`);
    console.log(`Apollo Workstation is serving workspace ${home}`);
    console.log(`Open: ${host.url}`);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await host.close();
    await core.close();
    return 0;
  },
};
