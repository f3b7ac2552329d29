/**
 * Short authentication string (SAS) for a call, shared by the native client and the browser so a
 * browser↔native call shows the same code on both sides. It is derived from both DTLS certificate
 * fingerprints (RFC 5763 §5): a man in the middle terminates DTLS separately with each side, so
 * each side sees a different remote fingerprint and the two codes differ (the idea of ZRTP's SAS,
 * RFC 6189 §7, over DTLS-SRTP fingerprints).
 *
 * Algorithm (v1): SHA-256 over `parloir-sas-v1|<fp1>|<fp2>`, the fingerprints normalised to
 * lowercase hex and sorted; the first 24 bits pick four words, the next 32 bits give six digits.
 */

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

/** Normalises a fingerprint ("sha-256 AB:CD:…" or "AB:CD:…") to lowercase hex without colons. */
export function normaliseFingerprint(fp: string): string {
  const value = fp.trim().split(/\s+/).pop() ?? '';
  return value.replaceAll(':', '').toLowerCase();
}

/** The `a=fingerprint` value of an SDP (session or first media level), or undefined. */
export function sdpFingerprint(sdp: string): string | undefined {
  const m = /^a=fingerprint:(\S+ \S+)\s*$/im.exec(sdp);
  return m?.[1];
}

/** The bytes hashed for the SAS of two fingerprints; order-independent. */
export function sasInput(fingerprintA: string, fingerprintB: string): Uint8Array<ArrayBuffer> {
  const parts = [normaliseFingerprint(fingerprintA), normaliseFingerprint(fingerprintB)].sort();
  return new TextEncoder().encode(`parloir-sas-v1|${parts.join('|')}`);
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
export async function deriveSas(
  fingerprintA: string,
  fingerprintB: string,
): Promise<ShortAuthString> {
  const digest = await crypto.subtle.digest('SHA-256', sasInput(fingerprintA, fingerprintB));
  return sasFromDigest(new Uint8Array(digest));
}
