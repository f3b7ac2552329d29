/**
 * Pull-style playout over a push-style {@link PlaybackStream}: keeps the device queue topped up
 * to a target by asking `pull` for one frame at a time, stamped with the device sample index
 * where that frame will play. This is the shape a jitter buffer wants (it decides what to play
 * only when the device needs it) while the stream itself never blocks.
 *
 * One timer, re-armed for the moment the queue will have drained to the target (so one wakeup
 * per pulled frame, at the right time, instead of polling). A caller that is awake anyway — the
 * call engine when a packet has just arrived — can {@link Playout.service} the loop then and top
 * the queue up a little further, so the timer usually never fires: one process wakeup fewer per
 * frame, and the frame just received plays with no wait in the jitter buffer. The timer is a
 * {@link NativeTimer}, not `setTimeout`: pushed back at every packet, a `setTimeout` would still
 * wake the process at each replaced expiry (one idle wakeup per packet; see native/timer.ts).
 * @module
 */
import { NativeTimer } from '@parloir/native';
import { AudioError } from './errors.ts';
import type { PlaybackStream } from './types.ts';

/** Options of {@link startPlayout}. */
export interface PlayoutOptions {
  /** Samples per channel in each pulled frame (e.g. 480 = 10 ms at 48 kHz). */
  frameSamples: number;
  /**
   * Queue kept ahead of the device, samples per channel (`stream.queuedSamples`). Lower is less
   * latency, higher survives timer lateness. Read before every pull, so it may be a getter.
   * Default: two frames.
   */
  targetQueuedSamples?: number;
  /** Shortest wait between timer checks, ms (a device whose queue drains in steps). Default 1. */
  minWaitMs?: number;
  /**
   * Fills `out` (interleaved, `frameSamples` × channels) with what should play from device sample
   * index `deviceSample` on.
   */
  pull: (out: Int16Array, deviceSample: number) => void;
}

/** A running playout loop. */
export interface Playout {
  /** Changes the pulled frame size from the next pull, samples per channel. */
  setFrameSamples(samples: number): void;
  /**
   * Tops the queue up now to the target plus `aheadSamples` (per channel), pulling whole frames,
   * and re-arms the timer. For a caller that is awake anyway: with `aheadSamples` the time until
   * it is next awake, the timer does not fire in between.
   */
  service(aheadSamples?: number): void;
  /** Stops pulling (the stream stays open). Idempotent. */
  stop(): void;
}

/** Starts pulling frames into `stream`. */
export function startPlayout(stream: PlaybackStream, options: PlayoutOptions): Playout {
  let frame = options.frameSamples;
  const check = (n: number) => {
    if (!Number.isInteger(n) || n < 1 || n > stream.sampleRate) {
      throw new AudioError('AUDIO_ERR_BAD_ARG', `frameSamples must be 1..${stream.sampleRate}`);
    }
  };
  check(frame);
  if (typeof options.pull !== 'function') {
    throw new AudioError('AUDIO_ERR_BAD_ARG', 'pull must be a function');
  }
  const minWaitMs = Math.max(1, options.minWaitMs ?? 1);
  let stopped = false;
  const target = (): number => options.targetQueuedSamples ?? 2 * frame;
  const fill = (ahead: number): void => {
    const want = target() + ahead;
    // Bounded: never more than a second of audio per call, whatever the stream reports.
    for (let i = 0; i < 100 && !stopped; i++) {
      const queued = stream.queuedSamples;
      if (queued >= want) break;
      const at = stream.consumedSamples + queued;
      const out = new Int16Array(frame * stream.channels);
      options.pull(out, at);
      if (!stream.write(out)) break;
    }
  };
  const arm = (): void => {
    if (stopped) return;
    const ms = ((stream.queuedSamples - target()) * 1000) / stream.sampleRate;
    timer.arm(Math.max(minWaitMs, ms));
  };
  const onTimer = (): void => {
    // libuv timers count whole ms on the event loop's clock, so one may fire up to ~1 ms early:
    // pull if the queue is within 1 ms of the target rather than wake again for that.
    fill(Math.round(stream.sampleRate / 1000));
    arm();
  };
  const timer = new NativeTimer(onTimer);
  onTimer();
  return {
    setFrameSamples(samples: number) {
      check(samples);
      frame = samples;
    },
    service(aheadSamples = 0) {
      if (stopped) return;
      fill(Math.max(0, aheadSamples));
      arm();
    },
    stop() {
      stopped = true;
      timer.close();
    },
  };
}
