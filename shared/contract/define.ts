import type { z } from 'zod';

/** A command: its argument schema (validated on the host side) and its result type. */
export interface CommandDef<A extends z.ZodType, R> {
  args: A;
  /** Phantom field carrying the result type; never set at run time. */
  readonly result?: R;
}

export function command<R>() {
  return <A extends z.ZodType>(args: A): CommandDef<A, R> => ({ args });
}
