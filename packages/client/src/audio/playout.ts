/**
 * Pull-style playout over a push-style {@link PlaybackStream}: a timer keeps the device queue
 * topped up to a target by asking `pull` for one frame at a time, stamped with the device sample
 * index where that frame will play. This is the shape a jitter buffer wants (it decides what to
 * play only when the device needs it) while the stream itself never blocks.
 * @module
 */
import { AudioError } from './errors.ts';
import type { PlaybackStream } from './types.ts';

/** Options of {@link startPlayout}. */
export interface PlayoutOptions {
  /** Samples per channel in each pulled frame (e.g. 480 = 10 ms at 48 kHz). */
  frameSamples: number;
  /**
   * Queue kept ahead of the device, samples per channel (ring plus device buffer). Lower is less
   * latency, higher survives timer jitter. Default: two frames.
   */
  targetQueuedSamples?: number;
  /** Timer interval, ms. Default: half a frame. */
  tickMs?: number;
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
  /** Stops pulling (the stream stays open). Idempotent. */
  stop(): void;
}

/** Starts pulling frames into `stream` on a timer. */
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
  const tickMs = options.tickMs ?? Math.max(1, (frame * 500) / stream.sampleRate);
  let stopped = false;
  const tick = () => {
    const target = options.targetQueuedSamples ?? 2 * frame;
    // Bounded: never more than a second of audio per tick, whatever the stream reports.
    for (let i = 0; i < 100 && !stopped; i++) {
      const queued = stream.queuedSamples;
      if (queued >= target) break;
      const at = stream.consumedSamples + queued;
      const out = new Int16Array(frame * stream.channels);
      options.pull(out, at);
      if (!stream.write(out)) break;
    }
  };
  const timer = setInterval(tick, tickMs);
  tick();
  return {
    setFrameSamples(samples: number) {
      check(samples);
      frame = samples;
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
