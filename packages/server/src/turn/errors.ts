/**
 * Typed errors of the TURN relay. The `code` is the stable API; parsers of untrusted bytes return
 * these instead of throwing.
 */

/** Every error code the TURN relay produces. */
export type TurnErrorCode =
  | 'TURN_ERR_TRUNCATED'
  | 'TURN_ERR_NOT_STUN'
  | 'TURN_ERR_BAD_LENGTH'
  | 'TURN_ERR_BAD_ATTRIBUTE'
  | 'TURN_ERR_BAD_FINGERPRINT'
  | 'TURN_ERR_BAD_CHANNEL_DATA'
  | 'TURN_ERR_FRAME_TOO_LARGE'
  | 'TURN_ERR_BAD_OPTION'
  | 'TURN_ERR_BENCH_NOT_LOOPBACK'
  | 'TURN_ERR_NO_RELAY_PORT'
  | 'TURN_ERR_CLOSED';

/** An error of the TURN relay: a literal `code` plus a human message. */
export class TurnError extends Error {
  /** Stable machine-readable code. */
  readonly code: TurnErrorCode;

  constructor(code: TurnErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TurnError';
    this.code = code;
  }
}

/** A parse result: the value, or the typed error explaining why the bytes were rejected. */
export type TurnResult<T> = { ok: true; value: T } | { ok: false; error: TurnError };

/** Shorthand for a failed {@link TurnResult}. */
export function fail<T>(code: TurnErrorCode, message: string): TurnResult<T> {
  return { ok: false, error: new TurnError(code, message) };
}
