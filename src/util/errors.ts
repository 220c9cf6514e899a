/**
 * One error type for everything a user can fix. The message is prefixed by its subsystem
 * (`parquet: …`, `verify: …`) and should end with what to do. `exitCode` follows the CLI's
 * contract: 1 for a failure, 2 for a usage error.
 */
export class VrdataError extends Error {
  readonly subsystem: string;
  readonly exitCode: 1 | 2;
  constructor(subsystem: string, message: string, options: { exitCode?: 1 | 2; cause?: unknown } = {}) {
    super(`${subsystem}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VrdataError';
    this.subsystem = subsystem;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** A usage error: bad flags or arguments (exit code 2). */
export function usageError(subsystem: string, message: string): VrdataError {
  return new VrdataError(subsystem, message, { exitCode: 2 });
}

/** Describes any thrown value in one line, without a stack trace. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
