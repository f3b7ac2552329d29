/**
 * Ed25519 identities over Web Crypto (`crypto.subtle`), which Node 24 and Chromium both have, so
 * the web UI and the native client share this code. Keys travel as base64 of the raw 32-byte
 * public key (RFC 8032 §5.1.5); the user id is the first 16 bytes of SHA-256(public key) in hex.
 */

/** Bytes → standard base64. */
export function toBase64(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** Standard or url-safe base64 → bytes; undefined if malformed. */
export function fromBase64(text: string): Uint8Array | undefined {
  try {
    const bin = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** The user id (32 hex digits) of a raw Ed25519 public key. */
export async function userIdOf(publicKey: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', publicKey));
  return hex(digest.subarray(0, 16));
}

/** An identity able to sign challenges. Private keys never leave the signer. */
export interface Signer {
  /** Raw Ed25519 public key, 32 bytes. */
  readonly publicKey: Uint8Array;
  /** Ed25519 signature (64 bytes) of `data`. */
  sign(data: Uint8Array): Promise<Uint8Array>;
}

/** A freshly generated identity plus its exportable private key (PKCS#8 DER). */
export interface GeneratedIdentity extends Signer {
  /** PKCS#8 DER of the private key, for storing in the profile directory. */
  readonly pkcs8: Uint8Array;
}

/** Builds a signer from a stored PKCS#8 private key and its raw public key. */
export async function signerFromPkcs8(pkcs8: Uint8Array, publicKey: Uint8Array): Promise<Signer> {
  const key = await crypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
  return {
    publicKey,
    sign: async (data) => new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key, data)),
  };
}

/** Generates a new Ed25519 identity. */
export async function generateIdentity(): Promise<GeneratedIdentity> {
  const generated = await crypto.subtle.generateKey('Ed25519', true, ['sign', 'verify']);
  if (!('privateKey' in generated)) throw new TypeError('Ed25519 generateKey returned one key');
  const pair = generated;
  const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
  return {
    publicKey,
    pkcs8,
    sign: async (data) =>
      new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, pair.privateKey, data)),
  };
}

/** Verifies an Ed25519 signature; false (never a throw) on any malformed input. */
export async function verifyEd25519(
  publicKey: Uint8Array,
  signature: Uint8Array,
  data: Uint8Array,
): Promise<boolean> {
  try {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    const key = await crypto.subtle.importKey('raw', publicKey, { name: 'Ed25519' }, false, [
      'verify',
    ]);
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, data);
  } catch {
    return false;
  }
}
