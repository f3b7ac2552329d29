/**
 * SRTP AEAD_AES_128_GCM / AEAD_AES_256_GCM for RTP packets (RFC 7714), in C on the OpenSSL that
 * Node itself uses. One object per SRTP session key keeps OpenSSL's cipher context (and so the
 * AES key schedule) for its lifetime; each packet is one call that sets the IV, authenticates
 * the header, en- or decrypts the payload and allocates one output Buffer. `createCipheriv` per
 * packet instead builds a new native cipher object and key object every time.
 *
 * RTCP (RFC 7714 §9) is not here: it runs about once a second.
 * @module
 */
import { addon, type RawSrtpGcm } from './addon.ts';
import { NativeError } from './errors.ts';

/** Codes raised by {@link NativeSrtpGcm}. */
export type SrtpErrorCode = 'SRTP_ERR_BAD_ARG' | 'SRTP_ERR_CLOSED' | 'SRTP_ERR_INTERNAL';

/** A {@link NativeSrtpGcm} call failed: bad argument, use after close, OpenSSL failure. */
export class SrtpError extends NativeError {
  declare readonly code: SrtpErrorCode;
  constructor(code: SrtpErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'SrtpError';
  }
}

const CODES = new Set<string>(['SRTP_ERR_BAD_ARG', 'SRTP_ERR_CLOSED', 'SRTP_ERR_INTERNAL']);

function fromRaw(err: unknown): SrtpError {
  const raw: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' && CODES.has(raw) ? (raw as SrtpErrorCode) : undefined;
  const message = err instanceof Error ? err.message : String(err);
  return new SrtpError(code ?? 'SRTP_ERR_BAD_ARG', message, { cause: err });
}

/** Length of the AES-GCM authentication tag SRTP appends, in bytes (RFC 7714 §8.2). */
export const SRTP_GCM_TAG_BYTES = 16;

/**
 * The RTP half of one SRTP AES-GCM session: its session key and session salt (RFC 7714 §12,
 * derived by the SRTP key derivation function from the DTLS-SRTP master key). The IV of each
 * packet is `(0x0000 || SSRC || ROC || SEQ) XOR salt` (RFC 7714 §8.1), SSRC and SEQ read from
 * the packet's RTP header.
 */
export class NativeSrtpGcm {
  #raw: RawSrtpGcm;

  /**
   * @param key session key, 16 bytes (AES-128) or 32 bytes (AES-256)
   * @param salt session salt, 12 bytes
   */
  constructor(key: Uint8Array, salt: Uint8Array) {
    try {
      this.#raw = new addon.NativeSrtpGcm(key, salt);
    } catch (err) {
      throw fromRaw(err);
    }
  }

  /**
   * Protects one RTP packet (RFC 7714 §8.2).
   * @param header the serialized RTP header, CSRCs and header extension included (12 bytes or
   *   more); authenticated, not encrypted
   * @param payload the RTP payload, padding included
   * @param rolloverCounter the SRTP ROC of this packet's SSRC, uint32
   * @returns header || ciphertext || 16-byte tag, a new Buffer
   */
  sealRtp(header: Uint8Array, payload: Uint8Array, rolloverCounter: number): Buffer {
    try {
      return this.#raw.sealRtp(header, payload, rolloverCounter);
    } catch (err) {
      throw fromRaw(err);
    }
  }

  /**
   * Verifies and decrypts one SRTP packet (RFC 7714 §8.3).
   * @param packet header || ciphertext || 16-byte tag
   * @param headerLength length of the RTP header in `packet`, in bytes (12 or more)
   * @param rolloverCounter the SRTP ROC estimated for this packet, uint32
   * @returns header || plaintext, a new Buffer; `null` if the tag does not verify
   */
  openRtp(packet: Uint8Array, headerLength: number, rolloverCounter: number): Buffer | null {
    try {
      return this.#raw.openRtp(packet, headerLength, rolloverCounter);
    } catch (err) {
      throw fromRaw(err);
    }
  }

  /** Frees the OpenSSL contexts (wiping the key). Idempotent; later calls throw SRTP_ERR_CLOSED. */
  close(): void {
    this.#raw.close();
  }
}
