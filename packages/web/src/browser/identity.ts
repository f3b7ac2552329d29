/**
 * The browser's Ed25519 identity, one per display name, kept in localStorage (PKCS#8 + raw public
 * key, base64) so a returning user keeps their name (the server binds a name to its first key).
 * Web Crypto Ed25519 needs a secure context: https, or http on localhost/127.0.0.1.
 */
import {
  fromBase64,
  generateIdentity,
  signerFromPkcs8,
  toBase64,
  type Signer,
} from '@parloir/protocol';

const KEY_PREFIX = 'parloir.identity.';

/** Loads the identity stored for `name`, or creates and stores a new one. */
export async function loadIdentity(name: string): Promise<Signer> {
  const key = KEY_PREFIX + name.toLowerCase();
  const stored = localStorage.getItem(key);
  if (stored !== null) {
    try {
      const parsed = JSON.parse(stored) as { pkcs8?: unknown; publicKey?: unknown };
      const pkcs8 = typeof parsed.pkcs8 === 'string' ? fromBase64(parsed.pkcs8) : undefined;
      const pub = typeof parsed.publicKey === 'string' ? fromBase64(parsed.publicKey) : undefined;
      if (pkcs8 !== undefined && pub !== undefined) return await signerFromPkcs8(pkcs8, pub);
    } catch {
      // A corrupt entry is replaced below; the server will see a new key for this name.
    }
  }
  const id = await generateIdentity();
  localStorage.setItem(
    key,
    JSON.stringify({ pkcs8: toBase64(id.pkcs8), publicKey: toBase64(id.publicKey) }),
  );
  return id;
}
