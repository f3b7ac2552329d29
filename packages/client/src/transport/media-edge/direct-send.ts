/**
 * The direct edge's send direction: `@parloir/native`'s {@link NativeRtpSender} makes the RTP
 * packet, seals it and sends it on the ICE socket itself, on the thread that captured the frame,
 * so JavaScript is not woken per frame (docs/engine.md "Network edges").
 *
 * What it needs from werift comes checked from internals.ts ({@link DirectEdgeParts}): the plain
 * UDP pair and its socket's descriptor, the local AES-GCM session key and salt, the SSRC's
 * rollover counter, SSRC, payload type and werift's sequence/timestamp offsets, so the stream
 * goes on where werift's left off.
 *
 * werift keeps sending RTCP: its sender reports read `packetCount`, `octetCount`, `rtpTimestamp`
 * and `ntpTimestamp` off the RTCRtpSender, which this module turns into accessors over the native
 * counters (RFC 3550 §6.4.1: the NTP and RTP timestamps of a report describe the same instant).
 */
import { NativeRtpSender } from '@parloir/native';
import type { RTCRtpReceiver, RTCRtpSender } from 'werift';
import { runCompoundRtcp } from './compound-rtcp.ts';
import { obj, type DirectEdgeParts, type Obj } from './internals.ts';

/** Seconds from 1900 (NTP era 0) to 1970 (RFC 5905 §6). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
const RATE = 48_000;

/** Where the stream continues from (the transport's own counters, before werift's offsets). */
export interface DirectSendStart {
  /** Next sequence number the transport would have used. */
  sequenceNumber: number;
  /** The transport's random RTP timestamp offset. */
  timestampOffset: number;
  /** Initial frame, samples at 48 kHz. */
  frameSamples: number;
  /** Initial bitrate, bit/s. */
  bitrateBps: number;
}

/**
 * Opens the native sender of a call whose werift internals `parts` were checked, and takes over
 * werift's sender reports (one RTCP compound per interval with the receiver's RR, or werift's own
 * loops if that cannot be set up).
 */
export function openDirectSender(
  sender: RTCRtpSender,
  receiver: RTCRtpReceiver,
  parts: DirectEdgeParts,
  start: DirectSendStart,
): NativeRtpSender {
  const sequenceNumber = (start.sequenceNumber + parts.seqOffset) & 0xffff;
  // RFC 3711 §3.3.1: the ROC of the next packet, from werift's state for this SSRC.
  const st = obj(parts.local.states[String(parts.ssrc)]);
  let roc = typeof st?.rolloverCounter === 'number' ? st.rolloverCounter : 0;
  const last = typeof st?.lastSequenceNumber === 'number' ? st.lastSequenceNumber : undefined;
  if (last !== undefined && st?.rolloverHasProcessed === true && sequenceNumber < last) roc++;

  const native = new NativeRtpSender({
    fd: parts.fd,
    address: parts.address,
    port: parts.port,
    ssrc: parts.ssrc,
    payloadType: parts.payloadType,
    sequenceNumber,
    rolloverCounter: roc >>> 0,
    timestampOffset: (start.timestampOffset + parts.timestampOffset) >>> 0,
    key: parts.local.key,
    salt: parts.local.salt,
    frameSamples: start.frameSamples,
    bitrateBps: start.bitrateBps,
    channel: parts.channel,
  });
  reportFromNative(sender, native);
  // werift starts its RTCP loop at the first RTP packet it sends itself; it will send none. One
  // compound SR + RR + SDES per interval, or werift's own loops if that cannot be set up.
  if (runCompoundRtcp(sender, receiver) !== true) {
    void (sender as unknown as { runRtcp(): Promise<void> }).runRtcp();
  }
  return native;
}

/**
 * Makes werift's sender reports describe the native stream: the four fields its RTCP loop reads
 * become accessors that add the native counters to what werift had sent itself. The NTP time is
 * cached for 50 ms because werift reads it twice per report (in the report and for its LSR).
 */
function reportFromNative(sender: RTCRtpSender, native: NativeRtpSender): void {
  const s = sender as unknown as Obj;
  const base = {
    packets: typeof s.packetCount === 'number' ? s.packetCount : 0,
    octets: typeof s.octetCount === 'number' ? s.octetCount : 0,
  };
  let ntp = { at: -1e9, value: 0n };
  const define = (name: string, get: () => unknown, set: (v: unknown) => void): void => {
    Object.defineProperty(sender, name, { get, set, configurable: true, enumerable: true });
  };
  define(
    'packetCount',
    () => (base.packets + native.stats().packets) >>> 0,
    (v) => {
      if (typeof v === 'number') base.packets = v - native.stats().packets;
    },
  );
  define(
    'octetCount',
    () => (base.octets + native.stats().payloadBytes) >>> 0,
    (v) => {
      if (typeof v === 'number') base.octets = v - native.stats().payloadBytes;
    },
  );
  let rtpFallback: unknown;
  define(
    'rtpTimestamp',
    () => {
      const st = native.stats();
      if (st.lastSentAtMs === undefined) return rtpFallback;
      const elapsed = Math.max(0, performance.now() - st.lastSentAtMs);
      return (st.lastTimestamp + Math.round((elapsed * RATE) / 1000)) >>> 0;
    },
    (v) => {
      rtpFallback = v;
    },
  );
  define(
    'ntpTimestamp',
    () => {
      const now = performance.now();
      if (now - ntp.at > 50) ntp = { at: now, value: ntpNow() };
      return ntp.value;
    },
    () => {
      // werift sets it per packet it sends itself; the getter always gives the time now.
    },
  );
}

/** The 64-bit NTP timestamp of now (RFC 5905 §6: seconds since 1900, 32-bit fraction). */
function ntpNow(): bigint {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  const frac = Math.floor(((ms - sec * 1000) / 1000) * 2 ** 32);
  return (BigInt(sec + NTP_UNIX_OFFSET_S) << 32n) | BigInt(frac >>> 0);
}
