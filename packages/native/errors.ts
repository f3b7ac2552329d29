/**
 * Errors of the native package. Each has a stable literal `code`, the message of the C library
 * (libopus `opus_strerror`, alsa-lib `snd_strerror`) and, where one exists, a `cause`.
 * @module
 */

/** Codes raised by the Opus encoder and decoder. */
export type OpusErrorCode =
  | 'OPUS_ERR_BAD_ARG'
  | 'OPUS_ERR_BUFFER_TOO_SMALL'
  | 'OPUS_ERR_INVALID_PACKET'
  | 'OPUS_ERR_UNIMPLEMENTED'
  | 'OPUS_ERR_INVALID_STATE'
  | 'OPUS_ERR_ALLOC_FAIL'
  | 'OPUS_ERR_INTERNAL'
  | 'OPUS_ERR_CLOSED';

/** Codes raised by ALSA PCM streams and device listing. */
export type AlsaErrorCode =
  | 'ALSA_ERR_BUSY'
  | 'ALSA_ERR_NO_DEVICE'
  | 'ALSA_ERR_UNSUPPORTED'
  | 'ALSA_ERR_PERMISSION'
  | 'ALSA_ERR_IO'
  | 'ALSA_ERR_BAD_ARG'
  | 'ALSA_ERR_CLOSED';

/** Base class of every error the addon raises on purpose. */
export class NativeError extends Error {
  /** Stable machine-readable code, e.g. `OPUS_ERR_INVALID_PACKET`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NativeError';
    this.code = code;
  }
}

/** An Opus call failed: bad argument, corrupt packet, use after close… */
export class OpusError extends NativeError {
  declare readonly code: OpusErrorCode;
  constructor(code: OpusErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'OpusError';
  }
}

/** An ALSA call failed: device busy or missing, unsupported parameters, use after close… */
export class AlsaError extends NativeError {
  declare readonly code: AlsaErrorCode;
  constructor(code: AlsaErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'AlsaError';
  }
}

const OPUS_CODES = new Set<string>([
  'OPUS_ERR_BAD_ARG',
  'OPUS_ERR_BUFFER_TOO_SMALL',
  'OPUS_ERR_INVALID_PACKET',
  'OPUS_ERR_UNIMPLEMENTED',
  'OPUS_ERR_INVALID_STATE',
  'OPUS_ERR_ALLOC_FAIL',
  'OPUS_ERR_INTERNAL',
  'OPUS_ERR_CLOSED',
]);
const ALSA_CODES = new Set<string>([
  'ALSA_ERR_BUSY',
  'ALSA_ERR_NO_DEVICE',
  'ALSA_ERR_UNSUPPORTED',
  'ALSA_ERR_PERMISSION',
  'ALSA_ERR_IO',
  'ALSA_ERR_BAD_ARG',
  'ALSA_ERR_CLOSED',
]);

/**
 * Turns what the C side threw (a plain Error with a `code` property) into the matching class.
 * Anything else (a V8 TypeError such as "Illegal invocation") becomes `*_ERR_BAD_ARG` of `family`.
 */
export function fromNative(err: unknown, family: 'opus' | 'alsa'): NativeError {
  const raw: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' ? raw : '';
  const message = err instanceof Error ? err.message : String(err);
  if (OPUS_CODES.has(code)) return new OpusError(code as OpusErrorCode, message, { cause: err });
  if (ALSA_CODES.has(code)) return new AlsaError(code as AlsaErrorCode, message, { cause: err });
  return family === 'opus'
    ? new OpusError('OPUS_ERR_BAD_ARG', message, { cause: err })
    : new AlsaError('ALSA_ERR_BAD_ARG', message, { cause: err });
}
