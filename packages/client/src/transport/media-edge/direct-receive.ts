/**
 * The direct edge's receive direction: `@parloir/native`'s {@link NativeRtpReceiver} reads the
 * ICE socket on a C thread, opens SRTP and buffers the audio in the C jitter buffer, and the
 * playback device's thread pulls it, so JavaScript is not woken per packet (docs/engine.md
 * "Network edges").
 *
 * What it needs from werift comes checked from internals.ts ({@link DirectEdgeParts}): the plain
 * UDP pair, Node's handle of its socket, the remote AES-GCM key and salt, the negotiated payload
 * types, and the receiver's per-SSRC statistics and ROC state.
 *
 * What stays werift's:
 * - every datagram the C thread does not take (STUN, DTLS, RTCP, another address or payload
 *   type) is handed to the socket's listeners as if libuv had read it, since libuv's reading of
 *   the socket is stopped while the C thread reads it;
 * - the first packet of each SSRC: werift opens it, creates its statistics and ROC state and
 *   emits it; {@link NativeReceive.insertFromWerift} then buffers it in C and tells the C thread
 *   the SSRC, which opens the rest;
 * - RTCP receiver reports: werift's `StreamStatistics` of each SSRC is fed from the C thread's
 *   per-packet records (arrival times included, RFC 3550 §A.8) every {@link DRAIN_MS}.
 *
 * On close the C thread's ROC state goes back into werift's, and libuv reads the socket again.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import {
  NativeRtpReceiver,
  type NativeJitterOptions,
  type ReceivedPacketRecord,
  type ReceiverInsertPacket,
} from '@parloir/native';
import type { SrtpReplayList } from '@parloir/media';
import { setUdpReading, type DirectEdgeParts } from './internals.ts';

/**
 * How often the per-packet records are read at the latest, ms (for werift's RTCP statistics and
 * the engine's QoS). The engine's once-a-second snapshot reads them first (`PeerTransport.stats`),
 * so this timer only matters without one; not sooner, to save the event loop a wakeup.
 */
export const DRAIN_MS = 5000;

/** werift's per-SSRC SRTP state (`SrtpContext.srtpSSRCStates[ssrc]`). */
interface RocState {
  rolloverCounter: number;
  lastSequenceNumber: number;
}

/** werift's `StreamStatistics` (not exported), as its `add` reads a packet. */
interface StreamStats {
  add(
    packet: {
      header: { sequenceNumber: number; timestamp: number; serializeSize: number };
      payload: { length: number };
    },
    nowSeconds?: number,
  ): void;
}

/** A receive direction running in C. */
export interface NativeReceive {
  /** The receiver (for the playback device and the engine's settings). */
  receiver: NativeRtpReceiver;
  /** Subscribes to the packets buffered, every {@link DRAIN_MS}; returns the unsubscribe. */
  onRecords(listener: (records: ReceivedPacketRecord[]) => void): () => void;
  /** Reads the records now (before a QoS snapshot). */
  drain(): void;
  /**
   * Buffers a packet werift received and emitted itself (the first of an SSRC, or one from
   * another address) unless the C replay list has it. Returns whether it was buffered.
   */
  insertFromWerift(packet: ReceiverInsertPacket): boolean;
  /** Stops the C thread, gives the ROC state and the socket back to werift. Idempotent. */
  close(): void;
}

/**
 * Opens the native receive direction of a call whose werift internals `parts` were checked.
 * `replay`: the transport's replay list so far, handed to the C receiver's (RFC 3711 §3.3.2), so
 * that a packet werift opened is not taken again.
 */
export function openDirectReceive(
  parts: DirectEdgeParts,
  jitter: NativeJitterOptions,
  replay?: SrtpReplayList,
): NativeReceive {
  const socket: Socket = parts.socket;
  const states = parts.remote.states;
  const streams = parts.remoteStreams;
  const toWerift = (buf: Buffer, rinfo: RemoteInfo): void => {
    socket.emit('message', buf, rinfo);
  };
  const native = new NativeRtpReceiver({
    fd: parts.fd,
    address: parts.address,
    port: parts.port,
    payloadTypes: parts.payloadTypes,
    key: parts.remote.key,
    salt: parts.remote.salt,
    jitter,
    channel: parts.channel,
    onDatagram: (data, address, port, family) =>
      toWerift(data, { address, port, family, size: data.length }),
  });
  const learn = (ssrc: number): void => {
    const st = states[ssrc] as RocState | undefined;
    if (st !== undefined && streams[ssrc] !== undefined) {
      native.learnSsrc(
        ssrc,
        st.rolloverCounter >>> 0,
        st.lastSequenceNumber & 0xffff,
        replay?.received(ssrc),
      );
    }
  };
  for (const key of Object.keys(states)) learn(Number(key));
  if (!setUdpReading(parts.handle, false)) {
    native.close();
    throw new Error('libuv would not stop reading the socket');
  }
  try {
    native.start();
  } catch (err) {
    setUdpReading(parts.handle, true);
    native.close();
    throw err;
  }

  const listeners: ((records: ReceivedPacketRecord[]) => void)[] = [];
  const drain = (): void => {
    if (native.closed) return;
    const records = native.takeRecords();
    if (records.length === 0) return;
    // RFC 3550 §A.3/§A.8 statistics for werift's receiver reports, with the packets' own
    // arrival times (werift's `add` takes them in seconds; only differences matter).
    for (const r of records) {
      if (r.inserted) continue; // werift counted those itself
      const stats = streams[r.ssrc] as StreamStats | undefined;
      stats?.add(
        {
          header: {
            sequenceNumber: r.sequenceNumber,
            timestamp: r.timestamp,
            serializeSize: r.headerBytes,
          },
          payload: { length: r.payloadBytes },
        },
        (performance.timeOrigin + r.arrivalMs) / 1000,
      );
    }
    for (const l of listeners) l(records);
  };
  const timer = setInterval(drain, DRAIN_MS);
  timer.unref();
  let closed = false;
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
      if (native.closed) return false;
      // werift has fed its own statistics for this packet; only the buffer and the QoS need it.
      const buffered = native.insert(packet);
      learn(packet.ssrc);
      return buffered;
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      drain();
      const rocs = native.ssrcStates();
      native.close();
      for (const s of rocs) {
        const st = states[s.ssrc] as RocState | undefined;
        if (st === undefined) continue;
        st.rolloverCounter = s.rolloverCounter;
        st.lastSequenceNumber = s.lastSequenceNumber;
      }
      setUdpReading(parts.handle, true);
    },
  };
}
