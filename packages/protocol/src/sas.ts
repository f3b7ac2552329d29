/**
 * Short authentication string (SAS) for a call, shared by the native client and the browser so a
 * browser↔native call shows the same code on both sides.
 *
 * Algorithm (v2): SHA-256 over `parloir-sas-v2|<party>|<party>`, each party written
 * `<identity public key, base64>:<DTLS certificate SHA-256, lowercase hex>` and the two sorted
 * as strings; the first 24 bits pick four words, the next 32 bits give six digits.
 *
 * The certificates are the ones the DTLS stack negotiated (ours, and the one the peer proved it
 * holds in the handshake), never fingerprints read from SDP text: a server that rewrites the SDP
 * then changes nothing the SAS covers. A man in the middle terminates DTLS separately with each
 * side, so each side sees a different remote certificate (and, unless it holds the peer's
 * private key, a different identity key) and the two codes differ — the idea of ZRTP's SAS
 * (RFC 6189 §7) over DTLS-SRTP (RFC 5763 §5). Including the identity keys means that once two
 * people have compared the code, the pinned keys (media-binding.ts) carry that check to later
 * calls.
 */
import { toBase64 } from './identity.ts';

/** 64 short, easily pronounced words (6 bits each); 4 words = 24 bits. */
const WORDS = [
  'apple', 'arrow', 'bacon', 'badge', 'berry', 'blaze', 'cabin', 'camel',
  'candy', 'cedar', 'chalk', 'cider', 'cloud', 'cobra', 'coral', 'crane',
  'daisy', 'delta', 'dingo', 'eagle', 'ember', 'fable', 'ferry', 'flute',
  'gecko', 'giant', 'grape', 'hazel', 'heron', 'honey', 'igloo', 'ivory',
  'jelly', 'koala', 'lemon', 'lilac', 'llama', 'lotus', 'mango', 'maple',
  'melon', 'moose', 'north', 'oasis', 'olive', 'opera', 'otter', 'panda',
  'pearl', 'piano', 'pilot', 'quartz', 'radio', 'raven', 'robin', 'salsa',
  'tango', 'tiger', 'tulip', 'ultra', 'vivid', 'whale', 'yacht', 'zebra',
] as const; // prettier-ignore

/** A SAS in the two forms we show. */
export interface ShortAuthString {
  /** Four words, e.g. "maple tiger opera cloud". */
  words: string;
  /** Six decimal digits, e.g. "042917". */
  digits: string;
}

/** One side of a call, as the SAS covers it. */
export interface SasParty {
  /** Raw Ed25519 identity public key, 32 bytes. */
  identityKey: Uint8Array;
  /**
   * SHA-256 fingerprint of the DTLS certificate negotiated for this side, in any of the forms
   * {@link normaliseFingerprint} accepts ("sha-256 AB:CD:…", "AB:CD:…", hex).
   */
  certificateFingerprint: string;
}

/** Normalises a fingerprint ("sha-256 AB:CD:…" or "AB:CD:…") to lowercase hex without colons. */
export function normaliseFingerprint(fp: string): string {
  const value = fp.trim().split(/\s+/).pop() ?? '';
  return value.replaceAll(':', '').toLowerCase();
}

/** Formats a SHA-256 digest as an SDP fingerprint value: `sha-256 AB:CD:…` (RFC 8122 §5). */
export function formatFingerprint(digest: Uint8Array): string {
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, '0').toUpperCase());
  return `sha-256 ${hex.join(':')}`;
}

/** Every `a=fingerprint` line of an SDP (session and media level), as `<algorithm> <value>`. */
export function sdpFingerprints(sdp: string): string[] {
  return [...sdp.matchAll(/^a=fingerprint:[ \t]*(\S+)[ \t]+(\S+)[ \t]*\r?$/gim)].map(
    (m) => `${(m[1] ?? '').toLowerCase()} ${m[2] ?? ''}`,
  );
}

/**
 * The one `a=fingerprint` value of an SDP, or undefined if it has none, more than one (werift
 * and browsers accept a certificate matching any of them, so a second line is how a server slips
 * its own certificate in), or one that is not SHA-256.
 */
export function sdpFingerprint(sdp: string): string | undefined {
  const all = sdpFingerprints(sdp);
  if (all.length !== 1) return undefined;
  const only = all[0];
  return only?.startsWith('sha-256 ') === true ? only : undefined;
}

/** The bytes hashed for the SAS of two parties; order-independent. */
export function sasInput(a: SasParty, b: SasParty): Uint8Array<ArrayBuffer> {
  const parts = [a, b]
    .map((p) => `${toBase64(p.identityKey)}:${normaliseFingerprint(p.certificateFingerprint)}`)
    .sort();
  return new TextEncoder().encode(`parloir-sas-v2|${parts.join('|')}`);
}

/** Maps a SHA-256 digest of {@link sasInput} to the words and digits shown. */
export function sasFromDigest(digest: Uint8Array): ShortAuthString {
  const view = new DataView(digest.buffer, digest.byteOffset, digest.byteLength);
  const bits = (view.getUint8(0) << 16) | (view.getUint8(1) << 8) | view.getUint8(2);
  const words = [18, 12, 6, 0].map((shift) => WORDS[(bits >> shift) & 63] ?? '').join(' ');
  const digits = String(view.getUint32(3) % 1_000_000).padStart(6, '0');
  return { words, digits };
}

/** Derives the SAS with Web Crypto (browser and Node alike). */
export async function deriveSas(a: SasParty, b: SasParty): Promise<ShortAuthString> {
  const digest = await crypto.subtle.digest('SHA-256', sasInput(a, b));
  return sasFromDigest(new Uint8Array(digest));
}
