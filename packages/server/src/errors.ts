/**
 * Errors of the server package (operational failures; protocol errors use `SignalingError` from
 * @parloir/protocol so their codes reach clients).
 */

/** Codes of {@link ServerError}. */
export type ServerErrorCode =
  'SRV_ERR_BAD_OPTIONS' | 'SRV_ERR_TLS' | 'SRV_ERR_LISTEN' | 'SRV_ERR_STORE' | 'SRV_ERR_MIGRATION';

/** A server-side operational error. */
export class ServerError extends Error {
  /** Stable machine-readable code. */
  readonly code: ServerErrorCode;
  constructor(code: ServerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ServerError';
    this.code = code;
  }
}
