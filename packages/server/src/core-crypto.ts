/**
 * The signalling core's crypto, on node:crypto: Ed25519 signature checks, random ids and the
 * user id of a public key. The core stays free of node:crypto (it takes these as options); the
 * server and the core's tests pass this one object, so the tests run the real checks.
 */
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import type { SignalingCoreOptions } from './core/signaling-core.ts';

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410 §4); the 32-byte key follows. */
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Whether `signature` is `publicKey`'s Ed25519 signature of `data`; false on malformed input. */
export function verifyEd25519(
  publicKey: Uint8Array,
  signature: Uint8Array,
  data: Uint8Array,
): boolean {
  try {
    const key = createPublicKey({
      key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
    return verify(null, data, key, signature);
  } catch {
    return false;
  }
}

/** The options of {@link SignalingCore} that need crypto. */
export const CORE_CRYPTO: Pick<SignalingCoreOptions, 'verifySignature' | 'randomId' | 'userIdOf'> =
  {
    verifySignature: verifyEd25519,
    /** `n` random bytes, base64url. */
    randomId: (n) => randomBytes(n).toString('base64url'),
    /** The first 16 bytes of SHA-256 of the public key, hex (as @parloir/protocol's userIdOf). */
    userIdOf: (pub) => createHash('sha256').update(pub).digest('hex').slice(0, 32),
  };
