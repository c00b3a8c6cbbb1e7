// The one error shape that crosses the process boundary. Codes are stable so the
// UI and the CLI can react to them; messages are for people.
export const ERROR_CODES = [
  'BAD_REQUEST', // malformed message or arguments that fail validation
  'UNKNOWN_COMMAND',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'CONFLICT',
  'DISK_FULL',
  'IO',
  'SPAWN_FAILED',
  'UNAVAILABLE', // e.g. endpoint unreachable, session not live
  'CANCELLED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface ApolloErrorShape {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

export class ApolloError extends Error implements ApolloErrorShape {
  constructor(
    public readonly code: ErrorCode,
    message: string,
    public readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApolloError';
  }
  toJSON(): ApolloErrorShape {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
  static from(shape: ApolloErrorShape): ApolloError {
    return new ApolloError(shape.code, shape.message, shape.details);
  }
}

export function isApolloErrorShape(v: unknown): v is ApolloErrorShape {
  return (
    typeof v === 'object' && v !== null &&
    typeof (v as ApolloErrorShape).message === 'string' &&
    (ERROR_CODES as readonly string[]).includes((v as ApolloErrorShape).code)
  );
}

/** An error's message, or the thrown value as text. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
