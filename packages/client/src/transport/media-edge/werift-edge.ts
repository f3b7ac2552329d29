/**
 * The werift edge: werift makes, seals and sends each RTP packet and opens each one received
 * (its own SRTP, over TURN too), while capture, gain, Opus, the jitter buffer, decoding and
 * playout stay in the C pipeline. Packets cross between C and werift through two narrow calls:
 * the C sender hands each encoded frame to `send` (the transport's `sendOpus`), and the
 * transport inserts each packet werift opened into the C receiver (`insertFromWerift`).
 *
 * Taken for relayed pairs (werift wraps each packet for the relay and refreshes the allocation),
 * peers on another SRTP profile, and when werift or Node internals the direct edge needs changed
 * (internals.ts); JavaScript is then woken per packet each way.
 */
import {
  NativeRtpReceiver,
  NativeRtpSender,
  type NativeJitterOptions,
  type ReceivedPacketRecord,
} from '@parloir/native';
import type { NativeReceive } from './direct-receive.ts';

/** How often the per-packet records are read at the latest, ms (the QoS snapshot reads first). */
const DRAIN_MS = 5000;

/** The C sender of the werift edge: each encoded frame goes to `send` on the JavaScript thread. */
export function openWeriftSender(
  send: (payload: Buffer, clockSamples: number, marker: boolean) => void,
  start: { frameSamples: number; bitrateBps: number },
): NativeRtpSender {
  return new NativeRtpSender({
    onFrame: send,
    frameSamples: start.frameSamples,
    bitrateBps: start.bitrateBps,
  });
}

/**
 * The C receiver of the werift edge: no socket; every packet werift opened is inserted. werift
 * keeps its own receive statistics (it saw every packet), so the records only go to listeners.
 */
export function openWeriftReceive(jitter: NativeJitterOptions): NativeReceive {
  const native = new NativeRtpReceiver({ jitter });
  const listeners: ((records: ReceivedPacketRecord[]) => void)[] = [];
  const drain = (): void => {
    if (native.closed) return;
    const records = native.takeRecords();
    if (records.length === 0) return;
    for (const l of listeners) l(records);
  };
  const timer = setInterval(drain, DRAIN_MS);
  timer.unref();
  return {
    receiver: native,
    onRecords(listener) {
      listeners.push(listener);
      return () => {
        const i = listeners.indexOf(listener);
        if (i >= 0) listeners.splice(i, 1);
      };
    },
    drain,
    insertFromWerift(packet) {
      return native.closed ? false : native.insert(packet);
    },
    close() {
      if (native.closed) return;
      clearInterval(timer);
      drain();
      native.close();
    },
  };
}
