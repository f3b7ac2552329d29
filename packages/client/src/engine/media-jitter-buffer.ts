/**
 * The engine's receive buffer: `@parloir/media`'s adaptive {@link JitterBuffer} (delay quantiles,
 * FEC/PLC, time-stretch accelerate/expand) behind the engine's {@link JitterBufferPort}, with
 * libopus as its decoder. The playback device pulls 10 ms ticks, so the buffer runs with a 10 ms
 * tick whatever the sender's frame size. Arrival times (`push`) and pull times (`pull`) must be
 * on the same monotonic clock: the engine stamps arrivals with `performance.now()` when the
 * packet is read and pulls on the playback device's clock mapped onto it (engine.ts).
 */
import { JitterBuffer, type JitterBufferStats, type PlayoutDecision } from '@parloir/media';
import type { NativeJitterOptions, NativeRtpReceiver } from '@parloir/native';
import type { JitterBufferSnapshot } from '../qos-log/qos-log.ts';
import { NativeOpusDecoder } from './native-adapters.ts';
import type { DecoderPort, JitterBufferPort, JitterPacket, PullDecision } from './ports.ts';

const DECISION: Record<PlayoutDecision, PullDecision> = {
  normal: 'normal',
  fec: 'fec',
  plc: 'plc',
  accelerate: 'accelerate',
  expand: 'expand',
  reset: 'reset',
  buffering: 'silence',
};

/** A buffer decision (the media core's, or the same name from its C port) as the engine's. */
export function pullDecision(d: PlayoutDecision): PullDecision {
  return DECISION[d];
}

/** The media core's jitter buffer behind the engine's port. */
export class MediaJitterBuffer implements JitterBufferPort {
  #jb: JitterBuffer;

  /**
   * `minMs`/`maxMs`: initial delay bounds, ms; `decoder`: default libopus; `inOrderQuantile`:
   * quantile of in-order relative delay the target covers (default 0.9, see below).
   */
  constructor(options: {
    minMs: number;
    maxMs: number;
    decoder?: DecoderPort;
    inOrderQuantile?: number;
  }) {
    const o = engineJitterOptions(options.minMs, options.maxMs);
    this.#jb = new JitterBuffer({
      decoder: options.decoder ?? new NativeOpusDecoder(),
      codec: 'opus',
      ...o,
      inOrderQuantile: options.inOrderQuantile ?? o.inOrderQuantile,
    });
  }

  push(packet: JitterPacket, arrivalMs: number): void {
    this.#jb.insert(
      {
        sequenceNumber: packet.sequenceNumber,
        timestamp: packet.timestamp,
        ssrc: packet.ssrc ?? 0,
        marker: packet.marker,
        payload: packet.payload,
      },
      arrivalMs,
    );
  }

  pull(out: Int16Array, nowMs: number): PullDecision {
    // The device pulls 10 ms at a time, one buffer tick; longer pulls take several ticks.
    let decision: PullDecision = 'normal';
    for (let off = 0; off < out.length; off += this.#jb.tickSamples) {
      const r = this.#jb.pull(nowMs);
      out.set(r.pcm.subarray(0, Math.min(r.pcm.length, out.length - off)), off);
      if (r.decision !== 'normal') decision = pullDecision(r.decision);
    }
    return decision;
  }

  setBounds(minMs: number, maxMs: number): void {
    this.#jb.setDelayBounds({ minMs, maxMs });
  }

  snapshot(): JitterBufferSnapshot {
    return jitterSnapshot(this.#jb.stats());
  }
}

/**
 * The engine's jitter-buffer options, for the media core's buffer here and for its C port in the
 * native receiver (`@parloir/native` `NativeRtpReceiver`), so both run the same buffer.
 */
export function engineJitterOptions(minMs: number, maxMs: number): NativeJitterOptions {
  return {
    // A 5 ms tick: finer expand/accelerate steps, finer playout phase.
    tickMs: 5,
    minDelayMs: minMs,
    maxDelayMs: maxMs,
    // 0.9, not the media default 0.95 (NetEQ's): on a busy machine an event-loop stall at
    // either end (capture timer late at the sender, socket read late here) delivers a burst of
    // in-order packets whose delays decay from the stall's length to 0; 300 ms stalls every
    // 3 s put ~9 % of the history there and the 0.95 quantile chose 115–135 ms targets, built
    // by expansion and cut back by acceleration (timeline shifts). In-order lateness only
    // costs a wait (expand), never a packet; reordering is still covered by the 0.99 risk
    // quantile. docs/engine.md "Receive clocking".
    inOrderQuantile: 0.9,
    // The same 10 ms hysteresis above target as with a 10 ms tick before accelerating.
    accelerateAtTicks: 2,
    // Start at the floor, not the media default 40 ms: the excess left after start-up is only
    // cut while it is 10 ms or more above target, so starting high left 5–10 ms for the whole
    // call (bench:call at 20 ms frames: 57.6–58.3 → 47.4–49.2 ms). A jittery start expands instead.
    initialDelayMs: minMs,
  };
}

/** The QoS log's view of the buffer's counters (the media core's or the C port's). */
export function jitterSnapshot(
  s: Pick<
    JitterBufferStats,
    | 'currentDelayMs'
    | 'targetDelayMs'
    | 'latePackets'
    | 'concealedMs'
    | 'fecRecovered'
    | 'accelerateCount'
    | 'expandCount'
  >,
): JitterBufferSnapshot {
  return {
    delayMs: s.currentDelayMs,
    targetMs: s.targetDelayMs,
    latePackets: s.latePackets,
    concealedMs: s.concealedMs,
    fecRecovered: s.fecRecovered,
    accelerate: s.accelerateCount,
    expand: s.expandCount,
  };
}

/** The engine's settings and QoS view of the C jitter buffer inside a native receiver. */
export function nativeJitterBufferView(
  receiver: NativeRtpReceiver,
): Pick<JitterBufferPort, 'setBounds' | 'snapshot'> {
  return {
    setBounds: (minMs, maxMs) => receiver.setBounds(minMs, maxMs),
    snapshot: () => jitterSnapshot(receiver.stats().jitterBuffer),
  };
}
