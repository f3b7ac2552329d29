/**
 * RTP fixed header (RFC 3550 §5.1): parsing untrusted bytes, serialising, sequence-number and
 * timestamp unwrapping, and the send-side packetizer.
 */
import { fail, ok, type Result } from './errors.ts';

/** One RTP packet, header fields decoded. */
export interface RtpPacket {
  /** Payload type, 0..127 (RFC 3551 §6 static types, 96..127 dynamic). */
  payloadType: number;
  /** 16-bit sequence number as sent. */
  sequenceNumber: number;
  /** 32-bit media timestamp as sent, in clock-rate units (samples). */
  timestamp: number;
  /** Synchronisation source identifier (32-bit). */
  ssrc: number;
  /** Marker bit; for audio it flags the first packet of a talkspurt (RFC 3551 §4.1). */
  marker: boolean;
  /** Contributing sources (RFC 3550 §5.1 CSRC list). */
  csrcs: number[];
  /** Payload bytes, padding removed. A view into the input buffer. */
  payload: Uint8Array;
}

const RTP_HEADER_BYTES = 12;

/**
 * Parses an RTP packet. Never throws: a malformed packet yields a typed error
 * (RFC 3550 §5.1 header, §5.3.1 header extension, padding per §5.1 "P").
 */
export function parseRtp(bytes: Uint8Array): Result<RtpPacket> {
  if (bytes.length < RTP_HEADER_BYTES) {
    return fail('MEDIA_ERR_RTP_TOO_SHORT', `RTP packet of ${bytes.length} bytes (< 12)`);
  }
  const b0 = bytes[0] ?? 0;
  const b1 = bytes[1] ?? 0;
  if (b0 >> 6 !== 2) return fail('MEDIA_ERR_RTP_VERSION', `RTP version ${b0 >> 6} (expected 2)`);
  const padding = (b0 & 0x20) !== 0;
  const extension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = RTP_HEADER_BYTES + 4 * csrcCount;
  if (offset > bytes.length) {
    return fail('MEDIA_ERR_RTP_TOO_SHORT', `RTP packet too short for ${csrcCount} CSRCs`);
  }
  const csrcs: number[] = [];
  for (let i = 0; i < csrcCount; i++) csrcs.push(view.getUint32(RTP_HEADER_BYTES + 4 * i));
  if (extension) {
    if (offset + 4 > bytes.length) {
      return fail('MEDIA_ERR_RTP_EXTENSION', 'RTP header extension truncated');
    }
    const words = view.getUint16(offset + 2);
    offset += 4 + 4 * words;
    if (offset > bytes.length) {
      return fail('MEDIA_ERR_RTP_EXTENSION', 'RTP header extension longer than the packet');
    }
  }
  let end = bytes.length;
  if (padding) {
    const padBytes = bytes[bytes.length - 1] ?? 0;
    if (padBytes === 0 || offset + padBytes > bytes.length) {
      return fail('MEDIA_ERR_RTP_PADDING', `RTP padding of ${padBytes} bytes is invalid`);
    }
    end -= padBytes;
  }
  return ok({
    payloadType: b1 & 0x7f,
    marker: (b1 & 0x80) !== 0,
    sequenceNumber: view.getUint16(2),
    timestamp: view.getUint32(4),
    ssrc: view.getUint32(8),
    csrcs,
    payload: bytes.subarray(offset, end),
  });
}

/** Serialises an RTP packet (version 2, no padding, no extension). */
export function serializeRtp(packet: Omit<RtpPacket, 'csrcs'> & { csrcs?: number[] }): Uint8Array {
  const csrcs = packet.csrcs ?? [];
  const out = new Uint8Array(RTP_HEADER_BYTES + 4 * csrcs.length + packet.payload.length);
  const view = new DataView(out.buffer);
  out[0] = 0x80 | (csrcs.length & 0x0f);
  out[1] = (packet.marker ? 0x80 : 0) | (packet.payloadType & 0x7f);
  view.setUint16(2, packet.sequenceNumber & 0xffff);
  view.setUint32(4, packet.timestamp >>> 0);
  view.setUint32(8, packet.ssrc >>> 0);
  csrcs.forEach((c, i) => view.setUint32(RTP_HEADER_BYTES + 4 * i, c >>> 0));
  out.set(packet.payload, RTP_HEADER_BYTES + 4 * csrcs.length);
  return out;
}

/**
 * Extends a wrapping counter of `bits` bits (16 for sequence numbers, 32 for timestamps) to a
 * monotonic-ish JavaScript number, choosing the candidate closest to the last value seen
 * (RFC 3550 §A.1 keeps a cycle count the same way). Works for reordered input in either
 * direction as long as consecutive values are less than half the range apart.
 */
export class Unwrapper {
  readonly #range: number;
  readonly #half: number;
  #last: number | undefined;

  /** @param bits counter width: 16 (sequence numbers) or 32 (timestamps). */
  constructor(bits: 16 | 32) {
    this.#range = 2 ** bits;
    this.#half = this.#range / 2;
  }

  /** Returns the extended value of `value` (which is taken modulo 2^bits). */
  unwrap(value: number): number {
    const v = ((value % this.#range) + this.#range) % this.#range;
    if (this.#last === undefined) {
      // Start one cycle up so that early reordered packets from before a wrap stay positive.
      this.#last = v + this.#range;
      return this.#last;
    }
    const lastMod = this.#last % this.#range;
    let delta = v - lastMod;
    if (delta > this.#half) delta -= this.#range;
    else if (delta < -this.#half) delta += this.#range;
    const extended = this.#last + delta;
    if (extended > this.#last) this.#last = extended;
    return extended;
  }

  /** Forgets history (e.g. after an SSRC change). */
  reset(): void {
    this.#last = undefined;
  }
}

/** Options of {@link RtpPacketizer}. */
export interface RtpPacketizerOptions {
  /** Payload type to stamp on every packet. */
  payloadType: number;
  /** SSRC of this stream (32-bit). */
  ssrc: number;
  /** RTP clock rate in Hz (48000 for Opus per RFC 7587 §4.1, 8000 for G.711). */
  clockRate: number;
  /** First sequence number; RFC 3550 §5.1 says it should be random. Default 0. */
  initialSequenceNumber?: number;
  /** First timestamp; RFC 3550 §5.1 says it should be random. Default 0. */
  initialTimestamp?: number;
}

/**
 * Send side: stamps consecutive sequence numbers and media timestamps on encoded frames.
 * With DTX the sender calls {@link RtpPacketizer.skip} for each silent frame it does not send; the
 * timestamp keeps advancing, the sequence number does not (RFC 3550 §5.1), and the next packet
 * carries the marker bit as the start of a talkspurt (RFC 3551 §4.1, RFC 7587 §3.1.3).
 */
export class RtpPacketizer {
  readonly #payloadType: number;
  readonly #ssrc: number;
  readonly #clockRate: number;
  #sequenceNumber: number;
  #timestamp: number;
  #markNext = true;

  constructor(options: RtpPacketizerOptions) {
    this.#payloadType = options.payloadType;
    this.#ssrc = options.ssrc >>> 0;
    this.#clockRate = options.clockRate;
    this.#sequenceNumber = (options.initialSequenceNumber ?? 0) & 0xffff;
    this.#timestamp = (options.initialTimestamp ?? 0) >>> 0;
  }

  /**
   * Builds the packet for one encoded frame of `durationMs` ms and advances the counters.
   * @param payload encoded frame bytes.
   * @param durationMs frame duration in ms (e.g. 10, 20, 40, 60).
   */
  packetize(payload: Uint8Array, durationMs: number): RtpPacket {
    const packet: RtpPacket = {
      payloadType: this.#payloadType,
      sequenceNumber: this.#sequenceNumber,
      timestamp: this.#timestamp,
      ssrc: this.#ssrc,
      marker: this.#markNext,
      csrcs: [],
      payload,
    };
    this.#markNext = false;
    this.#sequenceNumber = (this.#sequenceNumber + 1) & 0xffff;
    this.#advance(durationMs);
    return packet;
  }

  /** DTX: a frame of `durationMs` ms is not sent; time advances, the next packet is marked. */
  skip(durationMs: number): void {
    this.#advance(durationMs);
    this.#markNext = true;
  }

  /** The sequence number the next packet will carry. */
  get nextSequenceNumber(): number {
    return this.#sequenceNumber;
  }

  /** The timestamp the next packet will carry, in clock-rate units. */
  get nextTimestamp(): number {
    return this.#timestamp;
  }

  #advance(durationMs: number): void {
    const samples = Math.round((durationMs * this.#clockRate) / 1000);
    this.#timestamp = (this.#timestamp + samples) >>> 0;
  }
}
