/**
 * Hands a connected werift call's RTP send direction to `@parloir/native`'s
 * {@link NativeRtpSender}: the C thread that captured a frame encodes, seals and sends it on the
 * ICE socket itself, so JavaScript is not woken per frame (docs/engine.md "Native send path").
 *
 * What it needs from werift, read once when the engine starts (werift 0.25, duck-typed; any
 * surprise gives a reason and the engine keeps the JavaScript path):
 * - the nominated ICE pair is a plain UDP one (`StunProtocol` over a `dgram` socket): relayed
 *   pairs (TURN) keep werift's path, which wraps each packet for the relay;
 * - the DTLS-SRTP profile is AEAD_AES_128_GCM (what two werift peers negotiate): the session
 *   key and salt of werift's local SRTP context, and the SSRC's rollover counter;
 * - the sender's SSRC, payload type and werift's sequence/timestamp offsets, so the stream goes
 *   on where werift's left off.
 *
 * werift keeps sending RTCP: its sender reports read `packetCount`, `octetCount`, `rtpTimestamp`
 * and `ntpTimestamp` off the RTCRtpSender, which this module turns into accessors over the native
 * counters (RFC 3550 §6.4.1: the NTP and RTP timestamps of a report describe the same instant).
 */
import { NativeRtpSender, udpSocketFd } from '@parloir/native';
import type { RTCPeerConnection, RTCRtpSender } from 'werift';

/** AES-GCM session key and salt lengths werift's GCM cipher uses, bytes. */
const KEY_BYTES = 16;
const SALT_BYTES = 12;
/** Seconds from 1900 (NTP era 0) to 1970 (RFC 5905 §6). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
const RATE = 48_000;

/** Where the stream continues from (the transport's own counters, before werift's offsets). */
export interface NativeSendStart {
  /** Next sequence number the transport would have used. */
  sequenceNumber: number;
  /** The transport's random RTP timestamp offset. */
  timestampOffset: number;
  /** Initial frame, samples at 48 kHz. */
  frameSamples: number;
  /** Initial bitrate, bit/s. */
  bitrateBps: number;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined =>
  typeof v === 'object' && v !== null ? (v as Obj) : undefined;

/**
 * Opens a native sender for `pc`'s audio sender, or says why not (the caller then keeps
 * werift's send path). Never throws.
 */
export function openNativeSender(
  pc: RTCPeerConnection,
  sender: RTCRtpSender,
  start: NativeSendStart,
): NativeRtpSender | string {
  try {
    return open(pc, sender, start);
  } catch (err) {
    return `native sender failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function open(
  pc: RTCPeerConnection,
  sender: RTCRtpSender,
  start: NativeSendStart,
): NativeRtpSender | string {
  if (pc.connectionState !== 'connected') return 'not connected';
  // The nominated ICE pair: plain UDP only.
  const connection = obj(obj(pc.iceTransports[0])?.connection);
  const pair = obj(connection?.nominated);
  const protocol = obj(pair?.protocol);
  const protoType = protocol?.type;
  if (protoType !== 'stun') {
    return `ICE pair is ${typeof protoType === 'string' ? protoType : 'unknown'}, not plain UDP`;
  }
  const socket = obj(obj(protocol?.transport)?.socket);
  const fd = socket === undefined ? undefined : udpSocketFd(socket as never);
  const remote = pair?.remoteAddr;
  if (fd === undefined) return 'no UDP socket file descriptor';
  if (!Array.isArray(remote) || typeof remote[0] !== 'string' || typeof remote[1] !== 'number') {
    return 'no remote address';
  }
  // DTLS-SRTP keys: AES-GCM only.
  const dtls = obj(sender.dtlsTransport);
  const local = obj(obj(dtls?.srtp)?.localContext);
  const cipher = obj(local?.cipher);
  const key = cipher?.srtpSessionKey;
  const salt = cipher?.srtpSessionSalt;
  if (cipher?.aeadAuthTagLen !== 16) return 'SRTP profile is not AES-GCM';
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) return 'unexpected SRTP key';
  if (!(salt instanceof Uint8Array) || salt.length < SALT_BYTES) return 'unexpected SRTP salt';
  const payloadType = sender.codec?.payloadType;
  if (payloadType === undefined) return 'no negotiated codec';
  const s = sender as unknown as Obj;
  const seqOffset = typeof s.seqOffset === 'number' ? s.seqOffset : 0;
  const tsOffset = typeof s.timestampOffset === 'number' ? s.timestampOffset : 0;
  const sequenceNumber = (start.sequenceNumber + seqOffset) & 0xffff;
  // RFC 3711 §3.3.1: the ROC of the next packet, from werift's state for this SSRC.
  const states = obj(local?.srtpSSRCStates);
  const st = obj(states?.[String(sender.ssrc)]);
  let roc = typeof st?.rolloverCounter === 'number' ? st.rolloverCounter : 0;
  const last = typeof st?.lastSequenceNumber === 'number' ? st.lastSequenceNumber : undefined;
  if (last !== undefined && st?.rolloverHasProcessed === true && sequenceNumber < last) roc++;

  const native = new NativeRtpSender({
    fd,
    address: remote[0],
    port: remote[1],
    ssrc: sender.ssrc,
    payloadType,
    sequenceNumber,
    rolloverCounter: roc >>> 0,
    timestampOffset: (start.timestampOffset + tsOffset) >>> 0,
    key,
    salt: salt.subarray(0, SALT_BYTES),
    frameSamples: start.frameSamples,
    bitrateBps: start.bitrateBps,
  });
  reportFromNative(sender, native);
  // werift starts its RTCP loop at the first RTP packet it sends itself; it will send none.
  void (sender as unknown as { runRtcp(): Promise<void> }).runRtcp();
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
