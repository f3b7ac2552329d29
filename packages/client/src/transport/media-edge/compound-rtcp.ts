/**
 * One RTCP compound packet per interval for a call's audio — SR, RR, SDES (RFC 3550 §6.1) —
 * instead of werift 0.25's two loops, each on its own timer: its sender sends SR + SDES and its
 * receiver an RR, about once a second each. Two datagrams, two event-loop wakeups to send them
 * and two at the peer to receive them, where one of each does (the native paths leave the event
 * loop little else to do: docs/engine.md "Native receive path").
 *
 * The packets are werift's own, built exactly as its loops build them (same fields, same LSR and
 * DLSR arithmetic, same 0.5–1.5 s randomised interval, RFC 3550 §6.3.5), and sent through its
 * DTLS transport (SRTCP). A peer's werift routes each packet of a compound on its own, so the RR
 * still reaches its sender (RTT, remote loss) and the SR its receiver; browsers parse compound
 * packets as RFC 3550 says.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  compactNtp,
  RtcpReceiverInfo,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSourceDescriptionPacket,
  RtcpSrPacket,
  SourceDescriptionChunk,
  SourceDescriptionItem,
  timestampSeconds,
  type RTCRtpReceiver,
  type RTCRtpSender,
} from 'werift';
import { obj, type Obj } from './internals.ts';

/** werift's receive statistics of one SSRC (`StreamStatistics`), as its RR loop reads them. */
interface StreamStats {
  fraction_lost: number;
  packets_lost: number;
  max_seq: number | undefined;
  jitter: number;
}

/** The RR werift's receiver loop would send now, or undefined without a stream yet. */
function receiverReport(r: Obj): RtcpRrPacket | undefined {
  const streams = obj(r.remoteStreams) ?? {};
  const lastSr = obj(r.lastSRtimestamp) ?? {};
  const lastSrAt = obj(r.receiveLastSRTimestamp) ?? {};
  const reports = Object.entries(streams).map(([ssrc, value]) => {
    const stream = value as StreamStats;
    let lsr = 0;
    let dlsr = 0;
    const at = lastSrAt[ssrc];
    if (typeof lastSr[ssrc] === 'number' && lastSr[ssrc] !== 0 && typeof at === 'number') {
      lsr = lastSr[ssrc];
      // RFC 3550 §6.4.1: delay since the last SR, in 1/65536 s.
      const delay = timestampSeconds() - at;
      if (delay > 0 && delay < 65536) dlsr = Math.trunc(delay * 65536);
    }
    return new RtcpReceiverInfo({
      ssrc: Number(ssrc),
      fractionLost: stream.fraction_lost,
      packetsLost: stream.packets_lost,
      highestSequence: stream.max_seq ?? 0,
      jitter: stream.jitter,
      lsr,
      dlsr,
    });
  });
  if (reports.length === 0) return undefined;
  return new RtcpRrPacket({ ssrc: typeof r.rtcpSsrc === 'number' ? r.rtcpSsrc : 0, reports });
}

/**
 * Runs the compound loop for `sender` and `receiver` until the sender's RTCP is cancelled (werift
 * aborts it when the transceiver stops). werift's own loops are stopped and kept from starting.
 * Returns why not if werift's internals are not as expected (its loops then keep running).
 */
export function runCompoundRtcp(sender: RTCRtpSender, receiver: RTCRtpReceiver): string | true {
  const s = sender as unknown as Obj;
  const r = receiver as unknown as Obj;
  const cancel = s.rtcpCancel;
  const rCancel = r.rtcpCancel;
  const transport = obj(s.dtlsTransport);
  if (
    !(cancel instanceof AbortController) ||
    !(rCancel instanceof AbortController) ||
    typeof transport?.sendRtcp !== 'function' ||
    typeof s.rtcpRunning !== 'boolean' ||
    typeof r.rtcpRunning !== 'boolean'
  ) {
    return 'werift RTCP internals not as expected';
  }
  if (s.rtcpRunning) return "werift's sender RTCP loop already runs";
  // The receiver's loop checks `rtcpRunning` before it starts (at its first packet): a running
  // one is stopped through the flag and its timer's signal, and the flag then keeps it stopped.
  if (r.rtcpRunning) {
    r.rtcpRunning = false;
    r.rtcpCancel = new AbortController();
    rCancel.abort();
  }
  r.rtcpRunning = true;
  s.rtcpRunning = true;
  const send = transport.sendRtcp as (packets: unknown[]) => Promise<void>;
  void (async () => {
    while (!cancel.signal.aborted) {
      try {
        await sleep(500 + Math.random() * 1000, undefined, { signal: cancel.signal });
      } catch {
        return; // cancelled: the transceiver stopped
      }
      const ntp = s.ntpTimestamp as bigint;
      const packets: unknown[] = [
        new RtcpSrPacket({
          ssrc: s.ssrc as number,
          senderInfo: new RtcpSenderInfo({
            ntpTimestamp: ntp,
            rtpTimestamp: s.rtpTimestamp as number,
            packetCount: s.packetCount as number,
            octetCount: s.octetCount as number,
          }),
        }),
      ];
      s.lastSRtimestamp = compactNtp(ntp);
      s.lastSentSRTimestamp = timestampSeconds();
      const rr = receiverReport(r);
      if (rr !== undefined) packets.push(rr);
      if (typeof s.cname === 'string' && s.cname !== '') {
        packets.push(
          new RtcpSourceDescriptionPacket({
            chunks: [
              new SourceDescriptionChunk({
                source: s.ssrc as number,
                items: [new SourceDescriptionItem({ type: 1, text: s.cname })],
              }),
            ],
          }),
        );
      }
      try {
        await send.call(transport, packets);
      } catch {
        // Not sent (DTLS not up, socket closed): like werift, try again at the next interval.
      }
    }
  })();
  return true;
}
