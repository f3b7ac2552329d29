/**
 * ITU-T G.711 PCMU (µ-law) and PCMA (A-law) codecs, bit-exact with the ITU-T G.191 Software Tool
 * Library reference (g711.c: ulaw_compress/ulaw_expand/alaw_compress/alaw_expand), which
 * implements the G.711 tables. RTP payload formats per RFC 3551 §4.5.14 (8000 Hz, one byte per
 * sample). Input and output PCM is 16-bit signed linear.
 */
import type { AudioDecoder } from './jitter-buffer.ts';

/** Encodes one 16-bit linear sample to µ-law (G.191 ulaw_compress). */
export function linearToUlaw(sample: number): number {
  const s = sample | 0;
  // One's complement for negatives, as G.191 does (not negation): keeps it bit-exact.
  let absno = s < 0 ? (~s >> 2) + 33 : (s >> 2) + 33;
  if (absno > 0x1fff) absno = 0x1fff;
  let i = absno >> 6;
  let segno = 1;
  while (i !== 0) {
    segno++;
    i >>= 1;
  }
  const highNibble = 0x08 - segno;
  const lowNibble = 0x0f - ((absno >> segno) & 0x0f);
  let out = (highNibble << 4) | lowNibble;
  if (s >= 0) out |= 0x80;
  return out & 0xff;
}

/** Decodes one µ-law byte to a 16-bit linear sample (G.191 ulaw_expand). */
export function ulawToLinear(code: number): number {
  const c = code & 0xff;
  const sign = c < 0x80 ? -1 : 1;
  const inverted = ~c;
  const exponent = (inverted >> 4) & 0x07;
  const mantissa = inverted & 0x0f;
  const step = 4 << (exponent + 1);
  // `| 0` turns the −0 of code 0x7F into 0.
  return (sign * ((0x80 << exponent) + step * mantissa + step / 2 - 4 * 33)) | 0;
}

/** Encodes one 16-bit linear sample to A-law (G.191 alaw_compress). */
export function linearToAlaw(sample: number): number {
  const s = sample | 0;
  let ix = s < 0 ? ~s >> 4 : s >> 4;
  if (ix > 15) {
    let iexp = 1;
    while (ix > 16 + 15) {
      ix >>= 1;
      iexp++;
    }
    ix -= 16;
    ix += iexp << 4;
  }
  if (s >= 0) ix |= 0x80;
  return (ix ^ 0x55) & 0xff;
}

/** Decodes one A-law byte to a 16-bit linear sample (G.191 alaw_expand). */
export function alawToLinear(code: number): number {
  const c = code & 0xff;
  const ix = (c ^ 0x55) & 0x7f;
  const iexp = ix >> 4;
  let mant = ix & 0x0f;
  if (iexp > 0) mant += 16;
  mant = (mant << 4) + 0x08;
  if (iexp > 1) mant <<= iexp - 1;
  return c > 127 ? mant : -mant;
}

const ULAW_DECODE = Int16Array.from({ length: 256 }, (_, i) => ulawToLinear(i));
const ALAW_DECODE = Int16Array.from({ length: 256 }, (_, i) => alawToLinear(i));

/** Encodes PCM to a PCMU payload (one byte per sample). */
export function encodePcmu(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = linearToUlaw(pcm[i] ?? 0);
  return out;
}

/** Decodes a PCMU payload to PCM. Any byte string is valid. */
export function decodePcmu(payload: Uint8Array): Int16Array {
  const out = new Int16Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = ULAW_DECODE[payload[i] ?? 0xff] ?? 0;
  return out;
}

/** Encodes PCM to a PCMA payload (one byte per sample). */
export function encodePcma(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = linearToAlaw(pcm[i] ?? 0);
  return out;
}

/** Decodes a PCMA payload to PCM. Any byte string is valid. */
export function decodePcma(payload: Uint8Array): Int16Array {
  const out = new Int16Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = ALAW_DECODE[payload[i] ?? 0xd5] ?? 0;
  return out;
}

/**
 * A G.711 decoder with the {@link AudioDecoder} shape the jitter buffer drives. Concealment
 * repeats the last 10 ms with a fading gain (in the spirit of G.711 Appendix I, simplified);
 * G.711 has no FEC, so `decodeFec` conceals.
 */
export class G711Decoder implements AudioDecoder {
  readonly #law: 'pcmu' | 'pcma';
  #history = new Int16Array(80);
  #gain = 1;

  /** @param law `pcmu` (µ-law) or `pcma` (A-law). */
  constructor(law: 'pcmu' | 'pcma') {
    this.#law = law;
  }

  /** Decodes one payload (8000 Hz mono). */
  decode(packet: Uint8Array): Int16Array {
    const pcm = this.#law === 'pcmu' ? decodePcmu(packet) : decodePcma(packet);
    this.#remember(pcm);
    this.#gain = 1;
    return pcm;
  }

  /** No FEC in G.711: conceals. */
  decodeFec(_nextPacket: Uint8Array, samples: number): Int16Array {
    return this.conceal(samples);
  }

  /** Repeats the last 10 ms, fading out by 20 % per 10 ms. */
  conceal(samples: number): Int16Array {
    const out = new Int16Array(samples);
    const h = this.#history;
    for (let i = 0; i < samples; i++) {
      if (i % h.length === 0) this.#gain = Math.max(0, this.#gain - 0.2);
      out[i] = Math.round((h[i % h.length] ?? 0) * this.#gain);
    }
    return out;
  }

  /** Forgets history. */
  reset(): void {
    this.#history = new Int16Array(80);
    this.#gain = 1;
  }

  #remember(pcm: Int16Array): void {
    if (pcm.length >= 80) this.#history = pcm.slice(pcm.length - 80);
  }
}
