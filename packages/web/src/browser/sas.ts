/**
 * The call's short authentication string in the browser, computed exactly as the native client
 * does (packages/client/src/transport/sas.ts, which uses node:crypto and so cannot be bundled):
 * SHA-256 over `parloir-sas-v1|<fp1>|<fp2>` with the two DTLS fingerprints (RFC 5763 §5) normalised
 * to lowercase hex and sorted; the first 24 bits pick four words, the next 32 bits give six
 * digits. A browser↔native call thus shows the same code on both sides.
 */

/** 64 short, easily pronounced words (6 bits each). Same list, same order as the native client. */
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

/** A SAS in the two forms shown. */
export interface ShortAuthString {
  /** Four words, e.g. "maple tiger opera cloud". */
  words: string;
  /** Six decimal digits. */
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

/** Derives the SAS from the two fingerprints; order-independent. */
export async function deriveSas(
  fingerprintA: string,
  fingerprintB: string,
): Promise<ShortAuthString> {
  const parts = [normaliseFingerprint(fingerprintA), normaliseFingerprint(fingerprintB)].sort();
  const input = new TextEncoder().encode(`parloir-sas-v1|${parts.join('|')}`);
  const digest = new DataView(await crypto.subtle.digest('SHA-256', input));
  const bits = (digest.getUint8(0) << 16) | (digest.getUint8(1) << 8) | digest.getUint8(2);
  const words = [18, 12, 6, 0].map((shift) => WORDS[(bits >> shift) & 63] ?? '').join(' ');
  const digits = String(digest.getUint32(3) % 1_000_000).padStart(6, '0');
  return { words, digits };
}
