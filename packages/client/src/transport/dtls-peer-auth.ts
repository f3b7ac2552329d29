/**
 * Checks of the two DTLS 1.2 handshake signatures that prove each peer holds the private key of
 * the certificate it sent. werift 0.25 checks neither: its client never verifies the
 * ServerKeyExchange signature, its server never verifies the client's CertificateVerify; it only
 * compares the certificate with the SDP fingerprint. A man in the middle of the media path could
 * then replay both (public) certificates and run its own ECDHE with each side; the fingerprints,
 * and so the SAS, would still match. media-edge/dtls-fix.ts runs these checks on the messages its
 * gate passes on and fails the handshake when one does not hold.
 *
 * Pure functions over message bodies (RFC 5246 §7.4, RFC 8422 §5.4, RFC 6347 §4.2.6).
 */
import { verify, X509Certificate, type KeyObject } from 'node:crypto';

/** TLS HashAlgorithm code (RFC 5246 §7.4.1.4.1) → node:crypto digest name. */
const HASHES: Record<number, string> = { 2: 'sha1', 4: 'sha256', 5: 'sha384', 6: 'sha512' };

/** The first (end-entity) certificate of a Certificate message body, DER; undefined if malformed. */
export function firstCertificate(body: Uint8Array): Buffer | undefined {
  // certificate_list<0..2^24-1>, each ASN.1Cert<1..2^24-1>.
  if (body.length < 6) return undefined;
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const length = b.readUIntBE(3, 3);
  if (length === 0 || 6 + length > b.length) return undefined;
  return b.subarray(6, 6 + length);
}

/** The public key of a DER certificate; undefined if it does not parse. */
export function certificateKey(der: Uint8Array): KeyObject | undefined {
  try {
    return new X509Certificate(der).publicKey;
  } catch {
    return undefined;
  }
}

function verifyWith(key: KeyObject, hashCode: number | undefined, data: Buffer, sig: Buffer) {
  const hash = hashCode === undefined ? undefined : HASHES[hashCode];
  if (hash === undefined) return false;
  try {
    return verify(hash, data, key, sig);
  } catch {
    return false;
  }
}

/**
 * Whether a ServerKeyExchange body (ECDHE, named curve, TLS 1.2 signature) is signed by `key`
 * over client_random + server_random + ServerECDHParams (RFC 8422 §5.4).
 */
export function verifyServerKeyExchange(
  key: KeyObject,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  body: Uint8Array,
): boolean {
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  // curve_type (1) named_curve (2) public<1..2^8-1>, then hash (1) signature (1) sig<0..2^16-1>.
  if (b.length < 4 || b[0] !== 3) return false;
  const paramsEnd = 4 + (b[3] ?? 0);
  if (paramsEnd + 4 > b.length) return false;
  const sigLength = b.readUInt16BE(paramsEnd + 2);
  if (paramsEnd + 4 + sigLength !== b.length) return false;
  const signed = Buffer.concat([clientRandom, serverRandom, b.subarray(0, paramsEnd)]);
  return verifyWith(key, b[paramsEnd], signed, b.subarray(paramsEnd + 4));
}

/**
 * Whether a CertificateVerify body is signed by `key` over `transcript`: every handshake message
 * from the ClientHello that carried the cookie up to the ClientKeyExchange, each with its 12-byte
 * DTLS handshake header as one unfragmented message (RFC 5246 §7.4.8, RFC 6347 §4.2.6).
 */
export function verifyCertificateVerify(
  key: KeyObject,
  transcript: Uint8Array,
  body: Uint8Array,
): boolean {
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  // SignatureAndHashAlgorithm (hash, signature), then signature<0..2^16-1>.
  if (b.length < 4) return false;
  const sigLength = b.readUInt16BE(2);
  if (4 + sigLength !== b.length) return false;
  return verifyWith(key, b[0], Buffer.from(transcript), b.subarray(4));
}
