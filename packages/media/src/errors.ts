/**
 * Errors of the media package. Each has a stable literal `code` (the API), a human message and,
 * where one exists, a `cause`. Parsers of untrusted bytes return these instead of throwing.
 */

/** Every code this package can produce. */
export type MediaErrorCode =
  | 'MEDIA_ERR_RTP_TOO_SHORT'
  | 'MEDIA_ERR_RTP_VERSION'
  | 'MEDIA_ERR_RTP_PADDING'
  | 'MEDIA_ERR_RTP_EXTENSION'
  | 'MEDIA_ERR_OPUS_EMPTY'
  | 'MEDIA_ERR_OPUS_MALFORMED'
  | 'MEDIA_ERR_PAYLOAD_LENGTH'
  | 'MEDIA_ERR_BAD_OPTION'
  | 'MEDIA_ERR_TRACE_FORMAT'
  | 'MEDIA_ERR_IMPAIRMENT_SPEC';

/** Base class for every error this package raises or returns on purpose. */
export class MediaError extends Error {
  /** Stable machine-readable code, e.g. `MEDIA_ERR_RTP_TOO_SHORT`. */
  readonly code: MediaErrorCode;
  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MediaError';
    this.code = code;
  }
}

/** A parse result: the value, or a typed error (never a throw). */
export type Result<T> = { ok: true; value: T } | { ok: false; error: MediaError };

/** Wraps a value as a successful {@link Result}. */
export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** Wraps a new {@link MediaError} as a failed {@link Result}. */
export function fail<T>(code: MediaErrorCode, message: string): Result<T> {
  return { ok: false, error: new MediaError(code, message) };
}
