/**
 * The one error type that crosses process and bridge boundaries. `message` says what went wrong,
 * `hint` says what the person can do about it; both are shown verbatim by the CLI and the UI.
 */
export type ErrorCode =
  | 'BAD_INPUT'
  | 'NOT_FOUND'
  | 'NOT_JSONL'
  | 'INVALID_LINES'
  | 'EMPTY_FILE'
  | 'DB_FROM_FUTURE'
  | 'DB_OPEN_FAILED'
  | 'SANDBOX_UNAVAILABLE'
  | 'CONFLICT'
  /** The services are shutting down (or not up yet): nothing new starts. */
  | 'UNAVAILABLE'
  | 'INTERNAL';

export class AppError extends Error {
  override readonly name = 'AppError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
    readonly details?: readonly string[],
  ) {
    super(message);
  }
}

export function isAppError(e: unknown): e is AppError {
  return e instanceof AppError;
}

/** One line for a terminal or a toast: the message, then what to do. */
export function describeError(e: unknown): string {
  if (e instanceof AppError) return e.hint ? `${e.message} — ${e.hint}` : e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
