/**
 * The call's jitter-buffer options — the C buffer's in the pipeline (`jitter.c`, through
 * `NativeRtpReceiver`), and those a test or benchmark gives `@parloir/media`'s TypeScript model of
 * it to reproduce a call — plus the QoS log's view of the buffer's counters. The buffer that runs
 * in calls is `jitter.c`; `@parloir/media`'s `JitterBuffer` is its reference model
 * (`packages/native/test/jitter-cross.test.ts` keeps them identical tick by tick).
 */
import type { JitterBufferStats, PlayoutDecision } from '@parloir/media';
import type { NativeJitterOptions } from '@parloir/native';
import type { JitterBufferSnapshot } from '../qos-log/qos-log.ts';
import type { PullDecision } from './ports.ts';

const DECISION: Record<PlayoutDecision, PullDecision> = {
  normal: 'normal',
  fec: 'fec',
  plc: 'plc',
  accelerate: 'accelerate',
  expand: 'expand',
  reset: 'reset',
  buffering: 'silence',
};

/** A buffer decision (the C buffer's, named as the media model's) as the engine's. */
export function pullDecision(d: PlayoutDecision): PullDecision {
  return DECISION[d];
}

/** The call's jitter-buffer options (the C buffer's; a model run of the TS buffer takes the same). */
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
