// The one contract for everything that crosses the process boundary. Each domain
// declares its commands in its own file; they are merged here.
import { z } from 'zod';
import type { CommandDef } from './define';
import { sessionCommands, type SessionPushEvents } from './sessions';
import { rolloutCommands, type RolloutPushEvents } from './rollout';
import { annotateCommands, type AnnotatePushEvents } from './annotate';
import { importCommands, type ImportPushEvents } from './import';
import { mergeCommands, type MergePushEvents } from './merge';
import { environmentCommands } from './environments';
import { replayCommands } from './replay';
import type { ApolloErrorShape } from '../errors';

export const commands = {
  ...sessionCommands,
  ...rolloutCommands,
  ...annotateCommands,
  ...importCommands,
  ...mergeCommands,
  ...environmentCommands,
  ...replayCommands,
};

export type Commands = typeof commands;
export type CommandName = keyof Commands;
export type ArgsOf<K extends CommandName> = z.input<Commands[K]['args']>;
export type ParsedArgsOf<K extends CommandName> = z.output<Commands[K]['args']>;
export type ResultOf<K extends CommandName> = Commands[K] extends CommandDef<z.ZodType, infer R> ? R : never;

export type PushEvents = SessionPushEvents & RolloutPushEvents & AnnotatePushEvents & ImportPushEvents & MergePushEvents;
export type PushEventName = keyof PushEvents;

// Wire messages. The same envelopes travel over Electron IPC and WebSocket.
export interface RequestMessage { kind: 'req'; id: number; cmd: string; args: unknown }
export type ResponseMessage =
  | { kind: 'res'; id: number; ok: true; result: unknown }
  | { kind: 'res'; id: number; ok: false; error: ApolloErrorShape };
export interface PushMessage { kind: 'evt'; name: string; payload: unknown }
export type HostMessage = ResponseMessage | PushMessage;

export const requestMessageSchema = z.object({
  kind: z.literal('req'),
  id: z.number().int().nonnegative(),
  cmd: z.string().max(100),
  args: z.unknown(),
});

export function isCommandName(name: string): name is CommandName {
  return Object.prototype.hasOwnProperty.call(commands, name);
}
