/**
 * RTP audio payload formats: Opus (RFC 7587), PCMU/PCMA (RFC 3551 §4.5.14), L16 (RFC 3551
 * §4.5.11), and the duration of a payload in samples, which the jitter buffer needs when the
 * sender changes frame size without renegotiating.
 */
import { fail, ok, type Result } from './errors.ts';
import { parseOpusToc } from './opus-toc.ts';

/** Audio payload formats Parloir sends or receives. */
export type AudioCodec = 'opus' | 'pcmu' | 'pcma' | 'l16';

/** Static description of a payload format. */
export interface PayloadFormat {
  /** Codec name. */
  codec: AudioCodec;
  /** RTP clock rate in Hz. */
  clockRate: number;
  /** Default payload type (static per RFC 3551 Table 4, or Parloir's dynamic choice). */
  payloadType: number;
  /** Channels carried (L16 may be stereo; Opus RTP always advertises 2 per RFC 7587 §7). */
  channels: number;
}

/** The formats, with RFC 3551 static payload types 0 (PCMU), 8 (PCMA), 11 (L16 mono 44.1 kHz). */
export const PAYLOAD_FORMATS: Readonly<Record<AudioCodec, PayloadFormat>> = {
  // RFC 7587 §4.1: the RTP clock rate is always 48000 Hz whatever the coded bandwidth.
  opus: { codec: 'opus', clockRate: 48000, payloadType: 111, channels: 2 },
  pcmu: { codec: 'pcmu', clockRate: 8000, payloadType: 0, channels: 1 },
  pcma: { codec: 'pcma', clockRate: 8000, payloadType: 8, channels: 1 },
  l16: { codec: 'l16', clockRate: 44100, payloadType: 11, channels: 1 },
};

/**
 * Duration of one payload in RTP clock units (samples per channel).
 * @param codec payload format.
 * @param payload payload bytes (untrusted).
 * @param clockRate RTP clock rate in Hz (48000 for Opus).
 * @param channels interleaved channels, for L16 only.
 */
export function payloadDurationSamples(
  codec: AudioCodec,
  payload: Uint8Array,
  clockRate: number,
  channels = 1,
): Result<number> {
  switch (codec) {
    case 'opus': {
      const toc = parseOpusToc(payload);
      if (!toc.ok) return toc;
      return ok(Math.round((toc.value.durationMs * clockRate) / 1000));
    }
    case 'pcmu':
    case 'pcma':
      return ok(payload.length);
    case 'l16': {
      const frame = 2 * channels;
      if (payload.length % frame !== 0) {
        return fail('MEDIA_ERR_PAYLOAD_LENGTH', `L16 payload of ${payload.length} bytes`);
      }
      return ok(payload.length / frame);
    }
  }
}

/** Encodes PCM as an L16 payload: 16-bit signed, network byte order (RFC 3551 §4.5.11). */
export function encodeL16(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length * 2);
  const view = new DataView(out.buffer);
  for (let i = 0; i < pcm.length; i++) view.setInt16(2 * i, pcm[i] ?? 0, false);
  return out;
}

/** Decodes an L16 payload; an odd trailing byte is a typed error. */
export function decodeL16(payload: Uint8Array): Result<Int16Array> {
  if (payload.length % 2 !== 0) {
    return fail('MEDIA_ERR_PAYLOAD_LENGTH', `L16 payload of odd length ${payload.length}`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const out = new Int16Array(payload.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(2 * i, false);
  return ok(out);
}
