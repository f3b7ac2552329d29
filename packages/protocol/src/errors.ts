/**
 * Errors of the signalling protocol. The `code` is the stable API: the server puts it in
 * `{type:'error', code, message}` frames and clients switch on it. Model: fastify's `FST_ERR_*`
 * registry, undici's `UndiciError`.
 */

/** Every error code that can appear on the wire or from the client session core. */
export const SIG_ERROR_CODES = [
  /** The frame is not valid JSON. */
  'SIG_ERR_BAD_JSON',
  /** The frame is JSON but fails its message schema. */
  'SIG_ERR_SCHEMA',
  /** The `type` is unknown. */
  'SIG_ERR_UNKNOWN_TYPE',
  /** The frame exceeds the maximum frame size (64 KiB). */
  'SIG_ERR_MESSAGE_TOO_LARGE',
  /** The client speaks another protocol version. */
  'SIG_ERR_VERSION',
  /** A request other than `auth` arrived before authentication. */
  'SIG_ERR_NOT_AUTHENTICATED',
  /** `auth` arrived twice on one connection. */
  'SIG_ERR_ALREADY_AUTHENTICATED',
  /** The challenge signature does not verify with the given key. */
  'SIG_ERR_BAD_SIGNATURE',
  /** The server password is missing or wrong. */
  'SIG_ERR_BAD_PASSWORD',
  /** The display name, or one that looks like it (TS #39 skeleton), is bound to another key. */
  'SIG_ERR_NAME_TAKEN',
  /**
   * The display name is empty, too long, or holds control, bidi, zero-width or other invisible
   * characters or unusual spaces (names.ts `normalizeName`).
   */
  'SIG_ERR_BAD_NAME',
  /** `--max-users` users are already online. */
  'SIG_ERR_SERVER_FULL',
  /** The host refused this connection (host mode). */
  'SIG_ERR_REFUSED',
  /** The request needs host approval first (host mode). */
  'SIG_ERR_PENDING_APPROVAL',
  /** The user is offline, unknown to you, or does not want to hear from you. Deliberately vague. */
  'SIG_ERR_UNAVAILABLE',
  /** You blocked this user; unblock them first. */
  'SIG_ERR_BLOCKED',
  /** You are already in a call (one call per client). */
  'SIG_ERR_ALREADY_IN_CALL',
  /** The call id is unknown or you are not a party to it. */
  'SIG_ERR_NOT_IN_CALL',
  /** The call is not in a state that allows this action. */
  'SIG_ERR_ILLEGAL_TRANSITION',
  /** You cannot call yourself or message yourself. */
  'SIG_ERR_SELF',
  /** The chat text is longer than the maximum. */
  'SIG_ERR_MESSAGE_TOO_LONG',
  /** Your chat quota is used up: messages per day, or bytes stored; the message says which. */
  'SIG_ERR_CHAT_QUOTA',
  /** Too many messages, call attempts or wrong passwords (per connection, identity or IP). */
  'SIG_ERR_RATE_LIMITED',
  /** Not allowed for this connection (e.g. `host.decide` from a non-host). */
  'SIG_ERR_FORBIDDEN',
  /** The host request id is unknown or already decided. */
  'SIG_ERR_UNKNOWN_REQUEST',
  /** The server is shutting down. */
  'SIG_ERR_SHUTTING_DOWN',
  /** Something failed on the server; the message says what. */
  'SIG_ERR_INTERNAL',
  /** Client side: no answer to a request within the request timeout. */
  'SIG_ERR_TIMEOUT',
  /** Client side: the connection closed before the answer came. */
  'SIG_ERR_DISCONNECTED',
  /** Client side: the server's TLS certificate differs from the one pinned on first use. */
  'SIG_ERR_FINGERPRINT_MISMATCH',
] as const;

/** A signalling error code. */
export type SigErrorCode = (typeof SIG_ERROR_CODES)[number];

const CODE_SET: ReadonlySet<string> = new Set(SIG_ERROR_CODES);

/** Whether `code` is one of {@link SIG_ERROR_CODES}. */
export function isSigErrorCode(code: unknown): code is SigErrorCode {
  return typeof code === 'string' && CODE_SET.has(code);
}

/** An error with a stable literal `code` and a human message. */
export class SignalingError extends Error {
  /** Stable machine-readable code. */
  readonly code: SigErrorCode;
  constructor(code: SigErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SignalingError';
    this.code = code;
  }
}
