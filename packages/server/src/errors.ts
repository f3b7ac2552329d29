/**
 * Errors of the server package (operational failures; protocol errors use `SignalingError` from
 * @parloir/protocol so their codes reach clients).
 */

/** Codes of {@link ServerError}. */
export type ServerErrorCode =
  | 'SRV_ERR_BAD_OPTIONS'
  | 'SRV_ERR_TLS'
  | 'SRV_ERR_LISTEN'
  | 'SRV_ERR_STORE'
  | 'SRV_ERR_MIGRATION'
  /** The database was written by a newer schema than this build knows. */
  | 'SRV_ERR_SCHEMA_NEWER'
  /** The database failed SQLite's integrity check, or is not a database. */
  | 'SRV_ERR_DATA_CORRUPT'
  /** A backup could not be made. */
  | 'SRV_ERR_BACKUP'
  /** A backup archive is corrupt, truncated, or of a newer schema: restore refused. */
  | 'SRV_ERR_RESTORE';

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
