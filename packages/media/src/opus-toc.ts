/**
 * Opus packet TOC byte (RFC 6716 §3.1) and frame count (§3.2): the duration of a packet without
 * decoding it, so the jitter buffer can handle senders that change frame size mid-call.
 */
import { fail, ok, type Result } from './errors.ts';

/** Coding mode selected by the TOC config (RFC 6716 §3.1, Table 2). */
export type OpusMode = 'silk' | 'hybrid' | 'celt';

/** Audio bandwidth selected by the TOC config. */
export type OpusBandwidth = 'nb' | 'mb' | 'wb' | 'swb' | 'fb';

/** What the TOC byte and frame-count byte say about a packet. */
export interface OpusPacketInfo {
  /** TOC config number, 0..31. */
  config: number;
  /** Coding mode. */
  mode: OpusMode;
  /** Audio bandwidth. */
  bandwidth: OpusBandwidth;
  /** Whether the stereo flag is set. */
  stereo: boolean;
  /** Duration of one frame, in ms (2.5, 5, 10, 20, 40 or 60). */
  frameMs: number;
  /** Number of frames in the packet (1..48). */
  frameCount: number;
  /** Total packet duration in ms (frameMs × frameCount, at most 120). */
  durationMs: number;
}

const SILK_MS = [10, 20, 40, 60];
const HYBRID_MS = [10, 20];
const CELT_MS = [2.5, 5, 10, 20];

/**
 * Parses the TOC (and, for code 3, the frame-count byte) of an Opus packet. Never throws.
 * Validates the code 1/2/3 framing rules of RFC 6716 §3.2 that can be checked cheaply.
 */
export function parseOpusToc(packet: Uint8Array): Result<OpusPacketInfo> {
  const toc = packet[0];
  if (toc === undefined) return fail('MEDIA_ERR_OPUS_EMPTY', 'empty Opus packet');
  const config = toc >> 3;
  const stereo = (toc & 0x04) !== 0;
  const code = toc & 0x03;
  let mode: OpusMode;
  let bandwidth: OpusBandwidth;
  let frameMs: number;
  if (config < 12) {
    mode = 'silk';
    bandwidth = (['nb', 'mb', 'wb'] as const)[config >> 2] ?? 'wb';
    frameMs = SILK_MS[config & 3] ?? 20;
  } else if (config < 16) {
    mode = 'hybrid';
    bandwidth = config < 14 ? 'swb' : 'fb';
    frameMs = HYBRID_MS[config & 1] ?? 20;
  } else {
    mode = 'celt';
    bandwidth = (['nb', 'wb', 'swb', 'fb'] as const)[(config - 16) >> 2] ?? 'fb';
    frameMs = CELT_MS[config & 3] ?? 20;
  }
  let frameCount: number;
  if (code === 0) {
    frameCount = 1;
  } else if (code === 1) {
    // §3.2.3: two frames of equal compressed size.
    if ((packet.length - 1) % 2 !== 0) {
      return fail('MEDIA_ERR_OPUS_MALFORMED', 'Opus code 1 packet with odd payload length');
    }
    frameCount = 2;
  } else if (code === 2) {
    // §3.2.4: first frame length in one or two bytes.
    const b1 = packet[1];
    if (b1 === undefined) return fail('MEDIA_ERR_OPUS_MALFORMED', 'Opus code 2 packet truncated');
    const len = b1 < 252 ? b1 : b1 + 4 * (packet[2] ?? -1000);
    const header = b1 < 252 ? 2 : 3;
    if (len < 0 || header + len > packet.length) {
      return fail('MEDIA_ERR_OPUS_MALFORMED', 'Opus code 2 first frame longer than the packet');
    }
    frameCount = 2;
  } else {
    // §3.2.5: frame count byte, M in the low 6 bits, M ≥ 1 and at most 120 ms in total.
    const b1 = packet[1];
    if (b1 === undefined) return fail('MEDIA_ERR_OPUS_MALFORMED', 'Opus code 3 packet truncated');
    frameCount = b1 & 0x3f;
    if (frameCount === 0) return fail('MEDIA_ERR_OPUS_MALFORMED', 'Opus code 3 with 0 frames');
  }
  const durationMs = frameMs * frameCount;
  if (durationMs > 120) {
    return fail('MEDIA_ERR_OPUS_MALFORMED', `Opus packet of ${durationMs} ms (> 120 ms)`);
  }
  return ok({ config, mode, bandwidth, stereo, frameMs, frameCount, durationMs });
}

/**
 * Builds a TOC byte (RFC 6716 §3.1) for a one-frame (code 0) CELT or SILK packet of `frameMs`.
 * Used by tests and fakes to make packets of a given duration.
 * @param frameMs 2.5, 5, 10 or 20 gives a fullband CELT config; 40 or 60 a wideband SILK config.
 */
export function opusTocFor(frameMs: number): number {
  const celt = CELT_MS.indexOf(frameMs);
  if (celt >= 0) return (28 + celt) << 3;
  const silk = SILK_MS.indexOf(frameMs);
  if (silk >= 0) return (8 + silk) << 3;
  throw new RangeError(`no single-frame Opus config lasts ${frameMs} ms`);
}
