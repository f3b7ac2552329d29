/**
 * A shorter receive path for a connected werift call's SRTP audio: the ICE socket's datagrams
 * that are RTP from the selected remote address with our payload type are opened here (AES-GCM
 * in C, {@link NativeSrtpGcm}) and handed straight to the transport's listeners; everything else
 * (STUN, DTLS, RTCP, other payload types, another address) still goes to werift.
 *
 * Why: werift's per-packet path (ICE demux, DTLS transport, SRTP header parsing and ROC
 * bookkeeping, `RtpPacket` objects, routing by SSRC, per-track events) was about a sixth of an
 * answering client's CPU in `perf` (docs/engine.md "Benchmark").
 *
 * What stays werift's, so nothing else changes:
 * - the first packet of each SSRC (werift then creates its receive statistics, starts its RTCP
 *   receiver reports and its ROC state, from which this path starts);
 * - the receiver statistics behind werift's RRs: each packet is added to werift's
 *   `StreamStatistics` for its SSRC (RFC 3550 §A.3 loss and §A.8 jitter reported to the peer);
 * - werift's ROC state for the SSRC is kept up to date, so a packet werift sees later is opened
 *   with the right index.
 *
 * The rollover counter is estimated as RFC 3711 §3.3.1 and Appendix A say, and committed only
 * for packets that authenticate. A packet that does not authenticate is dropped, as werift does.
 * A packet whose index the transport's replay list (RFC 3711 §3.3.2, shared with the packets
 * werift emits) has, or that is more than its window old, is dropped before it is opened.
 */
import type { RemoteInfo } from 'node:dgram';
import { srtpIndex, type SrtpReplayList } from '@parloir/media';
import { NativeSrtpGcm } from '@parloir/native';
import type { RTCPeerConnection, RTCRtpReceiver, RTCRtpSender } from 'werift';
import type { ReceivedRtp } from './peer-transport.ts';
import { gcmContext, nominatedUdpPair, obj, type Obj } from './werift-media-internals.ts';

const TAG_BYTES = 16;

/** werift's per-SSRC SRTP state (`SrtpContext.srtpSSRCStates[ssrc]`). */
interface RocState {
  rolloverCounter: number;
  lastSequenceNumber: number;
  rolloverHasProcessed?: boolean;
}

/** werift's `StreamStatistics` (not exported), as its `add` reads a packet. */
interface StreamStats {
  add(packet: {
    header: { sequenceNumber: number; timestamp: number; serializeSize: number };
    payload: { length: number };
  }): void;
}

/** Index guess of RFC 3711 Appendix A: the ROC of `seq` given the highest `sl` seen with `roc`. */
export function guessRoc(roc: number, sl: number, seq: number): number {
  if (sl < 0x8000) return seq - sl > 0x8000 ? (roc - 1) >>> 0 : roc;
  return sl - 0x8000 > seq ? (roc + 1) >>> 0 : roc;
}

/**
 * Installs the short path on the nominated pair's socket. Returns an uninstall function, or why
 * it cannot (the caller keeps werift's path). Never throws.
 */
export function installFastReceive(
  pc: RTCPeerConnection,
  sender: RTCRtpSender,
  receiver: RTCRtpReceiver,
  deliver: (packet: ReceivedRtp) => void,
  replay: SrtpReplayList,
): (() => void) | string {
  try {
    return install(pc, sender, receiver, deliver, replay);
  } catch (err) {
    return `fast receive failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function install(
  pc: RTCPeerConnection,
  sender: RTCRtpSender,
  receiver: RTCRtpReceiver,
  deliver: (packet: ReceivedRtp) => void,
  replay: SrtpReplayList,
): (() => void) | string {
  const pair = nominatedUdpPair(pc);
  if (typeof pair === 'string') return pair;
  const { socket, address: rAddress, port: rPort } = pair;
  const ctx = gcmContext(sender, 'remote');
  if (typeof ctx === 'string') return ctx;
  const states = ctx.states;
  const streams = obj((receiver as unknown as Obj).remoteStreams);
  if (streams === undefined) return 'no receiver statistics';
  const codecs = obj((receiver as unknown as Obj).codecs);
  const types = new Set(Object.keys(codecs ?? {}).map(Number));
  if (types.size === 0) return 'no negotiated codec';
  const gcm = new NativeSrtpGcm(ctx.key, ctx.salt);

  const original = socket.listeners('message') as ((buf: Buffer, rinfo: RemoteInfo) => void)[];
  const toWerift = (buf: Buffer, rinfo: RemoteInfo): void => {
    for (const l of original) l.call(socket, buf, rinfo);
  };
  const fast = (buf: Buffer, rinfo: RemoteInfo): void => {
    if (
      buf.length < 12 + TAG_BYTES ||
      (buf[0] ?? 0) >> 6 !== 2 ||
      !types.has((buf[1] ?? 0) & 0x7f) ||
      rinfo.port !== rPort ||
      rinfo.address !== rAddress
    ) {
      toWerift(buf, rinfo);
      return;
    }
    const ssrc = buf.readUInt32BE(8);
    const stats = streams[ssrc] as StreamStats | undefined;
    const st = states[ssrc] as RocState | undefined;
    // The first packet of an SSRC goes through werift (statistics, RTCP, ROC state).
    if (stats === undefined || st === undefined) {
      toWerift(buf, rinfo);
      return;
    }
    const b0 = buf[0] ?? 0;
    let hl = 12 + 4 * (b0 & 0x0f);
    if (b0 & 0x10) {
      if (buf.length < hl + 4) return toWerift(buf, rinfo);
      hl += 4 + 4 * buf.readUInt16BE(hl + 2);
    }
    if (hl > buf.length - TAG_BYTES) return toWerift(buf, rinfo);
    const seq = buf.readUInt16BE(2);
    // The highest index authenticated so far, from the replay list: werift's state follows every
    // packet it opens, a replay from another address too, so it may lag far behind.
    const highest = replay.highest(ssrc);
    const roc =
      highest === undefined
        ? guessRoc(st.rolloverCounter, st.lastSequenceNumber, seq)
        : guessRoc(Math.floor(highest / 0x10000), highest % 0x10000, seq);
    const index = srtpIndex(roc, seq);
    if (replay.check(ssrc, index) !== 'fresh') return; // RFC 3711 §3.3.2, counted by the list
    const plain = gcm.openRtp(buf, hl, roc);
    if (plain === null) return; // RFC 3711 §3.3: an unauthenticated packet is dropped
    replay.commit(ssrc, index);
    if (
      roc === st.rolloverCounter
        ? seq > st.lastSequenceNumber
        : roc === (st.rolloverCounter + 1) >>> 0
    ) {
      st.rolloverCounter = roc;
      st.lastSequenceNumber = seq;
    }
    let end = plain.length;
    if (b0 & 0x20) {
      const pad = plain[end - 1] ?? 0;
      if (pad === 0 || pad > end - hl) return;
      end -= pad;
    }
    const timestamp = plain.readUInt32BE(4);
    const payload = plain.subarray(hl, end);
    stats.add({
      header: { sequenceNumber: seq, timestamp, serializeSize: hl },
      payload,
    });
    deliver({
      sequenceNumber: seq,
      timestamp,
      ssrc,
      marker: ((buf[1] ?? 0) & 0x80) !== 0,
      payloadType: (buf[1] ?? 0) & 0x7f,
      payload,
      sizeBytes: end,
    });
  };
  socket.removeAllListeners('message');
  socket.on('message', fast);
  return () => {
    socket.off('message', fast);
    for (const l of original) socket.on('message', l);
    gcm.close();
  };
}
