import { ApolloError, ERROR_CODES, type ErrorCode } from '../../../shared/errors';

export interface ErrorView {
  code?: ErrorCode;
  message: string;
}

export function describeError(err: unknown): ErrorView {
  if (err instanceof ApolloError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { message: err.message };
  // An ErrorView already (e.g. the `error` of a failed Outcome handed on to reportError).
  if (err && typeof err === 'object' && typeof (err as ErrorView).message === 'string') {
    const { code, message } = err as ErrorView;
    return code && (ERROR_CODES as readonly string[]).includes(code) ? { code, message } : { message };
  }
  return { message: String(err) };
}

/** Outcome of a store action that also reports failures as toasts; dialogs show `error` inline. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ErrorView };

/** Run a request and return its result as an Outcome (a failure never throws). */
export async function attempt<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (err) {
    return { ok: false, error: describeError(err) };
  }
}
