import type { CliCommand } from './index';
import { resolveHome, Workspace } from '../core/store/workspace';

export const sessionsCommand: CliCommand = {
  summary: 'list the sessions of the workspace',
  usage: 'apollo sessions [--json] [--home DIR]',
  options: { json: { type: 'boolean' } },
  async run(values) {
    const ws = await Workspace.open(resolveHome(values.home as string | undefined));
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
