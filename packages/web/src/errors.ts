/**
 * Errors raised by the web UI itself (not by the server): a literal `code` plus a human message.
 * Server errors keep their `SIG_ERR_*` codes.
 */

/** Every web UI error code. */
export type WebErrorCode =
  | 'WEB_ERR_UNREACHABLE'
  | 'WEB_ERR_CLOSED'
  | 'WEB_ERR_CRYPTO'
  | 'WEB_ERR_MICROPHONE'
  | 'WEB_ERR_ACTION'
  | 'WEB_ERR_SETTINGS'
  | 'WEB_ERR_CONTROL_CLOSED'
  | 'WEB_ERR_NATIVE_CONNECT';

/** An error with a stable code (the code of a control-API or server error it relays, if any). */
export class WebError extends Error {
  /** Stable code. */
  readonly code: string;

  /** Creates an error with `code` and `message`. */
  constructor(code: WebErrorCode | (string & {}), message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WebError';
    this.code = code;
  }
}
