import { join } from 'node:path';
import type { CliCommand } from './index';
import { resolveHome, Workspace } from '../core/store/workspace';
import { resourcesDir } from '../core/paths';
import { UsageError } from './usage';

export const sessionsCommand: CliCommand = {
  usage: 'apollo sessions [--json] [--home DIR]',
  options: { json: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    // Read-only: no lock, nothing written, nothing created. A running `apollo serve` or
    // the app may hold the workspace; rewriting its index from here would overwrite
    // what it saved meanwhile. A fresh workspace lists the sample it will be given.
    const ws = await Workspace.open(resolveHome(values.home as string | undefined), { readOnly: true, samplesDir: join(resourcesDir(), 'samples') });
    for (const w of ws.warnings) console.warn(`warning: ${w}`);
    const list = ws.list();
    if (values.json) console.log(JSON.stringify(list, null, 2));
    else if (list.length === 0) console.log('No sessions yet.');
    else {
      for (const s of list) console.log(`${s.id}\t${new Date(s.updatedAt).toISOString()}\t${s.name}`);
    }
    await ws.close();
    return 0;
  },
};
