import { ZodError } from 'zod';
import { commands, isCommandName, requestMessageSchema, type CommandName, type HostMessage, type ParsedArgsOf, type PushEventName, type PushEvents, type ResultOf } from '../../shared/contract/index';
import { MAX_MESSAGE_DEPTH, nestedDeeperThan } from '../../shared/contract/depth';
import { ApolloError, type ApolloErrorShape } from '../../shared/errors';

/** One client of the core (an Electron window or a WebSocket). */
export interface Connection {
  readonly id: string;
  send(msg: HostMessage): void;
}

export type Handler<K extends CommandName> = (args: ParsedArgsOf<K>, conn: Connection) => Promise<ResultOf<K>> | ResultOf<K>;
export type HandlerMap = { [K in CommandName]?: Handler<K> };

export function toErrorShape(err: unknown): ApolloErrorShape {
  if (err instanceof ApolloError) return err.toJSON();
  if (err instanceof ZodError) {
    return { code: 'BAD_REQUEST', message: `Invalid arguments: ${err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}` };
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOSPC') return { code: 'DISK_FULL', message: 'Disk full: the change was not saved. Free some space and retry.' };
  if (e?.code === 'ENOENT') return { code: 'NOT_FOUND', message: e.message };
  return { code: 'INTERNAL', message: e?.message ?? String(err) };
}

/**
 * Validates an incoming message against the contract and runs its handler. Any
 * malformed input is answered with a typed error; nothing a client sends can throw
 * out of here.
 */
export async function dispatch(handlers: HandlerMap, conn: Connection, raw: unknown): Promise<void> {
  if (nestedDeeperThan(raw, MAX_MESSAGE_DEPTH)) {
    // Before any schema or handler sees it: they recurse, and would fail with INTERNAL.
    const id = messageId(raw);
    conn.send({ kind: 'res', id, ok: false, error: { code: 'BAD_REQUEST', message: `Malformed message: nested deeper than ${MAX_MESSAGE_DEPTH} levels` } });
    return;
  }
  const env = requestMessageSchema.safeParse(raw);
  if (!env.success) {
    conn.send({ kind: 'res', id: messageId(raw), ok: false, error: { code: 'BAD_REQUEST', message: 'Malformed message: expected {kind:"req", id, cmd, args}' } });
    return;
  }
  const { id, cmd, args } = env.data;
  try {
    if (!isCommandName(cmd)) throw new ApolloError('UNKNOWN_COMMAND', `Unknown command "${cmd}"`);
    const handler = handlers[cmd] as Handler<typeof cmd> | undefined;
    if (!handler) throw new ApolloError('UNAVAILABLE', `Command "${cmd}" is not available in this host`);
    const parsed = commands[cmd].args.parse(args ?? {}) as ParsedArgsOf<typeof cmd>;
    const result = await handler(parsed, conn);
    conn.send({ kind: 'res', id, ok: true, result: result ?? null });
  } catch (err) {
    conn.send({ kind: 'res', id, ok: false, error: toErrorShape(err) });
  }
}

/** The request id of a message refused before parsing, so the client can match the answer (-1: none). */
function messageId(raw: unknown): number {
  const id = (raw as { id?: unknown } | null)?.id;
  return typeof id === 'number' && Number.isInteger(id) && id >= 0 ? id : -1;
}

export function push<E extends PushEventName>(conn: Connection, name: E, payload: PushEvents[E]): void {
  conn.send({ kind: 'evt', name, payload });
}
