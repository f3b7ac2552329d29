/**
 * Media keys bound to identities (issue 17 §1). The SDP passes through the signalling server
 * unsigned, so on its own it proves nothing about whose DTLS certificate it names. Each side
 * therefore signs, with its Ed25519 identity key, a statement naming the call, both identities
 * and its DTLS certificate fingerprint, and sends it with its offer or answer. The peer checks
 * it before any audio is sent or played:
 *
 * 1. the SDP carries exactly one fingerprint, SHA-256, and it is the signed one
 *    ({@link checkSignedSdp}), before the SDP is applied;
 * 2. the signature verifies, the signing key is the one whose user id the server announced, and
 *    the statement names this call and us ({@link verifyMediaBinding});
 * 3. once DTLS is up, the certificate the DTLS stack verified is the signed one
 *    ({@link checkNegotiatedFingerprint});
 * 4. the key matches the one pinned for this contact at the first call ({@link checkPin}).
 *
 * Any failure ends the call with a {@link MediaAuthError}, whose code and message the person
 * sees. Pure functions over Web Crypto: the native client and the browser run the same code.
 */
import { fromBase64, toBase64, userIdOf, verifyEd25519, type Signer } from './identity.ts';
import { normaliseFingerprint, sdpFingerprints } from './sas.ts';

/** Every code of {@link MediaAuthError}. */
export const MEDIA_AUTH_ERROR_CODES = [
  /** The peer's offer or answer came without a signed media binding. */
  'MEDIA_AUTH_ERR_NO_BINDING',
  /** The binding's signature does not verify, or it names another call or another person. */
  'MEDIA_AUTH_ERR_BAD_SIGNATURE',
  /** The binding is signed by a key other than the one of the user the server says we call. */
  'MEDIA_AUTH_ERR_WRONG_IDENTITY',
  /** The SDP has no fingerprint, more than one, or one that is not SHA-256. */
  'MEDIA_AUTH_ERR_FINGERPRINT_COUNT',
  /** The SDP's fingerprint, or the certificate DTLS negotiated, is not the signed one. */
  'MEDIA_AUTH_ERR_FINGERPRINT_MISMATCH',
  /** This contact's identity key differs from the one pinned at the first call. */
  'MEDIA_AUTH_ERR_KEY_CHANGED',
] as const;
/** A media authentication error code. */
export type MediaAuthErrorCode = (typeof MEDIA_AUTH_ERROR_CODES)[number];

/** Why a call's media was refused: a stable `code` and a message for the person. */
export class MediaAuthError extends Error {
  /** Stable machine-readable code. */
  readonly code: MediaAuthErrorCode;
  constructor(code: MediaAuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MediaAuthError';
    this.code = code;
  }
}

/** The signed statement sent with an offer or answer (the `binding` of a `call.signal`). */
export interface MediaBinding {
  /** The signer's raw Ed25519 public key, base64. */
  publicKey: string;
  /** The signer's DTLS certificate fingerprint, `sha-256 AB:CD:…`. */
  fingerprint: string;
  /** Ed25519 signature of {@link mediaBindingText}, base64. */
  signature: string;
}

/**
 * The text signed: call id, signer, peer, and the signer's certificate fingerprint, one per
 * line, after a version tag no other signed text of Parloir starts with.
 */
export function mediaBindingText(
  callId: string,
  signerUserId: string,
  peerUserId: string,
  fingerprint: string,
): string {
  return `parloir-media-v1\n${callId}\n${signerUserId}\n${peerUserId}\nsha-256 ${normaliseFingerprint(fingerprint)}`;
}

/** Signs our binding for a call. `fingerprint` is our DTLS certificate's (`sha-256 AB:…`). */
export async function signMediaBinding(
  signer: Signer,
  callId: string,
  peerUserId: string,
  fingerprint: string,
): Promise<MediaBinding> {
  const self = await userIdOf(signer.publicKey);
  const text = mediaBindingText(callId, self, peerUserId, fingerprint);
  const signature = await signer.sign(new TextEncoder().encode(text));
  return { publicKey: toBase64(signer.publicKey), fingerprint, signature: toBase64(signature) };
}

/** What {@link verifyMediaBinding} established about the peer. */
export interface VerifiedPeer {
  /** The peer's raw Ed25519 public key. */
  identityKey: Uint8Array;
  /** The peer's signed certificate fingerprint, `sha-256 ab…` (normalised hex). */
  fingerprint: string;
}

/**
 * Checks a peer's binding: present, signed by the key of `peerUserId` (as the server
 * announced it), naming this call, the peer and us. Throws {@link MediaAuthError}.
 */
export async function verifyMediaBinding(
  binding: MediaBinding | undefined,
  expected: { callId: string; peerUserId: string; selfUserId: string },
): Promise<VerifiedPeer> {
  if (binding === undefined) {
    throw new MediaAuthError(
      'MEDIA_AUTH_ERR_NO_BINDING',
      'the peer sent no signed media key: refusing the call (the server may have removed it, or the peer runs an old version)',
    );
  }
  const key = fromBase64(binding.publicKey);
  const signature = fromBase64(binding.signature);
  if (key?.length !== 32 || signature?.length !== 64) {
    throw new MediaAuthError('MEDIA_AUTH_ERR_BAD_SIGNATURE', 'the media binding is malformed');
  }
  const signerId = await userIdOf(key);
  if (signerId !== expected.peerUserId) {
    throw new MediaAuthError(
      'MEDIA_AUTH_ERR_WRONG_IDENTITY',
      `the media key is signed by ${signerId}, not by ${expected.peerUserId} whom you called: someone (the server?) is in the middle`,
    );
  }
  const text = mediaBindingText(
    expected.callId,
    expected.peerUserId,
    expected.selfUserId,
    binding.fingerprint,
  );
  if (!(await verifyEd25519(key, signature, new TextEncoder().encode(text)))) {
    throw new MediaAuthError(
      'MEDIA_AUTH_ERR_BAD_SIGNATURE',
      'the media binding signature does not verify for this call: someone (the server?) altered it',
    );
  }
  return { identityKey: key, fingerprint: `sha-256 ${normaliseFingerprint(binding.fingerprint)}` };
}

/**
 * Checks an SDP before it is applied: exactly one `a=fingerprint` line, SHA-256, equal to the
 * signed one. werift and browsers accept a certificate matching any fingerprint line, so a
 * second line would let a server's certificate through. Throws {@link MediaAuthError}.
 */
export function checkSignedSdp(sdp: string, signedFingerprint: string): void {
  const all = sdpFingerprints(sdp);
  const only = all[0];
  if (all.length !== 1 || only === undefined || !only.startsWith('sha-256 ')) {
    throw new MediaAuthError(
      'MEDIA_AUTH_ERR_FINGERPRINT_COUNT',
      `the peer's description has ${all.length} certificate fingerprints (${all.map((f) => f.split(' ')[0]).join(', ') || 'none'}); exactly one SHA-256 is required`,
    );
  }
  if (normaliseFingerprint(only) !== normaliseFingerprint(signedFingerprint)) {
    throw new MediaAuthError(
      'MEDIA_AUTH_ERR_FINGERPRINT_MISMATCH',
      "the certificate fingerprint in the peer's description is not the one the peer signed: someone (the server?) replaced it",
    );
  }
}

/**
 * Checks, once DTLS is up, that the certificate the DTLS stack verified (`negotiated`) is the
 * one the peer signed. Throws {@link MediaAuthError}.
 */
export function checkNegotiatedFingerprint(negotiated: string | undefined, signed: string): void {
  if (
    negotiated === undefined ||
    normaliseFingerprint(negotiated) !== normaliseFingerprint(signed)
  ) {
    throw new MediaAuthError(
      'MEDIA_AUTH_ERR_FINGERPRINT_MISMATCH',
      'the DTLS certificate negotiated is not the one the peer signed: someone is in the middle of the media',
    );
  }
}

/** One pinned contact key. */
export interface ContactPin {
  /** The contact's user id when pinned. */
  userId: string;
  /** The contact's raw Ed25519 public key, base64. */
  publicKey: string;
  /** When it was pinned, ISO 8601. */
  pinnedAt: string;
}

/**
 * Trust on first use, like a Signal safety number: the first call with a contact (by name)
 * pins its key; a later call with another key under the same name is refused with
 * `MEDIA_AUTH_ERR_KEY_CHANGED` until the person accepts the new key. Returns the pin to store
 * (the existing one, or a new one on first use).
 */
export function checkPin(
  existing: ContactPin | undefined,
  peer: { name: string; userId: string; identityKey: Uint8Array },
  nowIso: string,
): ContactPin {
  const publicKey = toBase64(peer.identityKey);
  if (existing === undefined) return { userId: peer.userId, publicKey, pinnedAt: nowIso };
  if (existing.publicKey !== publicKey) {
    throw new MediaAuthError(
      'MEDIA_AUTH_ERR_KEY_CHANGED',
      `WARNING: ${peer.name}'s identity key has changed since ${existing.pinnedAt} (was ${existing.userId}, now ${peer.userId}). This is someone else, or ${peer.name} reinstalled: check with them another way before you accept the new key`,
    );
  }
  return existing;
}
