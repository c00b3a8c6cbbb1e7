import { join } from 'node:path';
import type { CliCommand } from './index';
import { ApolloError } from '../../shared/errors';
import { SEARCH_KINDS, type SearchKind } from '../../shared/contract/sessions';
import { SessionSearch } from '../core/search/session-search';
import { readEventLog } from '../core/store/event-log';
import { resolveHome } from '../core/store/workspace';

const USAGE = 'apollo search SESSION QUERY [--limit N] [--kind action,observation,guidance,comment,summary,terminal] [--json] [--home DIR]';

export const searchCommand: CliCommand = {
  usage: USAGE,
  options: { limit: { type: 'string' }, kind: { type: 'string' }, json: { type: 'boolean' } },
  async run(values, positionals) {
    const [sessionId, ...words] = positionals;
    const query = words.join(' ');
    if (!sessionId || !query.trim()) {
      console.error(`apollo search: a session and a query are needed\n\nUsage: ${USAGE}`);
      return 2;
    }
    const limit = values.limit === undefined ? 50 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1) throw new ApolloError('BAD_REQUEST', `--limit must be a positive integer (got "${String(values.limit)}")`);
    const kinds = values.kind === undefined ? undefined : String(values.kind).split(',').map((k) => k.trim());
    for (const k of kinds ?? []) if (!(SEARCH_KINDS as readonly string[]).includes(k)) throw new ApolloError('BAD_REQUEST', `unknown --kind ${k} (one of ${SEARCH_KINDS.join(', ')})`);
    // Reads the log without taking the workspace: the index files it may write beside
    // the recordings are derived, written whole and renamed into place.
    const dir = join(resolveHome(values.home as string | undefined), 'sessions', sessionId);
    const log = await readEventLog(join(dir, 'events.jsonl')).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'ENOENT' ? new ApolloError('NOT_FOUND', `No session ${sessionId}`) : e;
    });
    const r = await new SessionSearch(dir, log).search(query, { limit, kinds: kinds as SearchKind[] | undefined });
    if (values.json) {
      console.log(JSON.stringify(r, null, 2));
      return 0;
    }
    for (const x of r.results) {
      const where = x.kind === 'terminal' ? `terminal ${x.terminalId} @${x.offset}` : x.kind;
      console.log(`${new Date(x.ts).toISOString()}  step ${x.stepId ?? '-'}  ${where}\n    ${x.snippet}`);
    }
    console.log(`${r.results.length}${r.truncated ? '+' : ''} result(s) in ${r.ms.toFixed(0)} ms`);
    return 0;
  },
};
