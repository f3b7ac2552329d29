/**
 * The call's short authentication string, computed synchronously for the transport. The
 * algorithm (input, word list, digits) is the shared one in @parloir/protocol's sas.ts; only the
 * SHA-256 call differs (node:crypto here, Web Crypto in the browser).
 */
import { createHash } from 'node:crypto';
import { sasFromDigest, sasInput, type SasParty, type ShortAuthString } from '@parloir/protocol';

export { normaliseFingerprint, type SasParty, type ShortAuthString } from '@parloir/protocol';

/** Derives the SAS of two parties (identity key + negotiated certificate); order-independent. */
export function deriveSas(a: SasParty, b: SasParty): ShortAuthString {
  return sasFromDigest(createHash('sha256').update(sasInput(a, b)).digest());
}
