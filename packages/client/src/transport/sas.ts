/**
 * The call's short authentication string, computed synchronously for the transport. The
 * algorithm (input, word list, digits) is the shared one in @parloir/protocol's sas.ts; only the
 * SHA-256 call differs (node:crypto here, Web Crypto in the browser).
 */
import { createHash } from 'node:crypto';
import { sasFromDigest, sasInput, type ShortAuthString } from '@parloir/protocol';

export { normaliseFingerprint, type ShortAuthString } from '@parloir/protocol';

/** Derives the SAS from the two DTLS fingerprints; order-independent. */
export function deriveSas(fingerprintA: string, fingerprintB: string): ShortAuthString {
  return sasFromDigest(createHash('sha256').update(sasInput(fingerprintA, fingerprintB)).digest());
}
