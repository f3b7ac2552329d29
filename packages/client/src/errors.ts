/**
 * Errors of the client package. Each has a stable literal `code`, a human message and, where one
 * exists, a `cause`.
 */

/** Base class for every error this package raises on purpose. */
export class ClientError extends Error {
  /** Stable machine-readable code, e.g. `CLI_ERR_UNKNOWN_COMMAND`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClientError';
    this.code = code;
  }
}

/** Bad command line: the process exits with status 2 and a one-line message. */
export class UsageError extends ClientError {
  constructor(
    code: 'CLI_ERR_UNKNOWN_COMMAND' | 'CLI_ERR_BAD_ARGS' | 'CLI_ERR_MISSING_ARG',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.name = 'UsageError';
  }
}
