/**
 * Short authentication string (SAS) for a call: derived from both DTLS certificate fingerprints so
 * that the two people can read it aloud and detect a man in the middle. A MITM terminates DTLS
 * separately with each side, so each side sees a different remote fingerprint and the two SAS
 * differ (the same idea as ZRTP's SAS, RFC 6189 §7, but over the DTLS-SRTP fingerprints of
 * RFC 5763 §5).
 */
import { createHash } from 'node:crypto';

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

/**
 * Derives the SAS from the two fingerprints. Order-independent: both sides get the same string
 * whichever is local. SHA-256 over the sorted, normalised fingerprints.
 */
export function deriveSas(fingerprintA: string, fingerprintB: string): ShortAuthString {
  const parts = [normaliseFingerprint(fingerprintA), normaliseFingerprint(fingerprintB)].sort();
  const digest = createHash('sha256')
    .update(`parloir-sas-v1|${parts.join('|')}`)
    .digest();
  const bits = digest.readUIntBE(0, 3); // 24 bits
  const words = [18, 12, 6, 0].map((shift) => WORDS[(bits >> shift) & 63] ?? '').join(' ');
  const digits = String(digest.readUInt32BE(3) % 1_000_000).padStart(6, '0');
  return { words, digits };
}
