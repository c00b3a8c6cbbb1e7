import { ApolloError, type ErrorCode } from '../../../shared/errors';

export interface ErrorView {
  code?: ErrorCode;
  message: string;
}

export function describeError(err: unknown): ErrorView {
  if (err instanceof ApolloError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { message: err.message };
  return { message: String(err) };
}

/** Outcome of a store action that also reports failures as toasts; dialogs show `error` inline. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ErrorView };
