/**
 * Capture and playback streams paced by the wall clock (or not at all), shared by the `wav:` and
 * `null` backends. In real time they behave like a sound card: capture emits a frame when its
 * last sample is due; playback consumes samples as time passes and plays (writes) silence when
 * nothing is queued, so an output file's sample index is device time. Timers catch up on the
 * monotonic clock instead of drifting.
 * @module
 */
import { AudioError } from './errors.ts';
import type {
  AudioPace,
  AudioStreamStats,
  CaptureOptions,
  CaptureStream,
  DeviceBufferConfig,
  PlaybackOptions,
  PlaybackStream,
} from './types.ts';

/** Fast capture hands out at most this many frames per event-loop turn. */
const FAST_FRAMES_PER_TURN = 64;
/** Real-time playback refuses writes beyond this much queued audio, ms. */
const MAX_QUEUE_MS = 2000;

export function checkFormat(sampleRate: unknown, channels: unknown): void {
  if (
    typeof sampleRate !== 'number' ||
    !Number.isInteger(sampleRate) ||
    sampleRate < 8000 ||
    sampleRate > 48000
  ) {
    throw new AudioError(
      'AUDIO_ERR_BAD_ARG',
      `sampleRate must be an integer 8000..48000 Hz, got ${String(sampleRate)}`,
    );
  }
  if (channels !== 1 && channels !== 2) {
    throw new AudioError('AUDIO_ERR_BAD_ARG', `channels must be 1 or 2, got ${String(channels)}`);
  }
}

export function checkFrameSamples(n: unknown): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 48000 * 4) {
    throw new AudioError(
      'AUDIO_ERR_BAD_ARG',
      `frameSamples must be an integer 1..192000, got ${String(n)}`,
    );
  }
  return n;
}

/** Supplies capture audio: `take(n)` returns n×channels samples, or fewer at the end. */
export interface PacedSource {
  take(frames: number): Int16Array;
}

/** Receives played audio (silence included), in device order. */
export interface PacedSink {
  put(samples: Int16Array): void;
  close(): void;
}

/** A capture stream driven by timers. */
export class PacedCapture implements CaptureStream {
  readonly sampleRate: number;
  readonly channels: number;
  #frameSamples: number;
  #pace: AudioPace;
  #source: PacedSource;
  #opts: CaptureOptions;
  #startMs: number;
  #index = 0;
  #timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  #closed = false;
  #ended = false;

  constructor(options: CaptureOptions, source: PacedSource, pace: AudioPace) {
    checkFormat(options.sampleRate, options.channels);
    if (typeof options.onFrame !== 'function') {
      throw new AudioError('AUDIO_ERR_BAD_ARG', 'onFrame must be a function');
    }
    this.sampleRate = options.sampleRate;
    this.channels = options.channels;
    this.#frameSamples = checkFrameSamples(options.frameSamples);
    this.#opts = options;
    this.#source = source;
    this.#pace = pace;
    this.#startMs = performance.now();
    this.#schedule();
  }

  get frameSamples(): number {
    return this.#frameSamples;
  }
  set frameSamples(n: number) {
    this.#frameSamples = checkFrameSamples(n);
  }
  get startedAtMs(): number | undefined {
    return this.#startMs;
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#pace === 'fast') {
      this.#timer = setImmediate(() => this.#tick());
      return;
    }
    const dueMs = this.#startMs + ((this.#index + this.#frameSamples) * 1000) / this.sampleRate;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, dueMs - performance.now()));
  }

  #tick(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (let n = 0; !this.#closed; n++) {
      const fs = this.#frameSamples;
      if (this.#pace === 'fast') {
        if (n >= FAST_FRAMES_PER_TURN) break;
      } else if (this.#startMs + ((this.#index + fs) * 1000) / this.sampleRate > now) break;
      let frame = this.#ended ? new Int16Array(fs * this.channels) : this.#source.take(fs);
      if (frame.length < fs * this.channels) {
        const full = new Int16Array(fs * this.channels);
        full.set(frame);
        frame = full;
        this.#ended = true;
      }
      const index = this.#index;
      this.#index += fs;
      this.#opts.onFrame(frame, { sampleIndex: index });
      if (this.#ended && !this.#closed) {
        if (this.#pace === 'fast') {
          this.#opts.onEnd?.();
          this.close();
          return;
        }
        if (this.#opts.onEnd) {
          const onEnd = this.#opts.onEnd;
          this.#opts = { ...this.#opts, onEnd: undefined };
          onEnd();
        }
      }
    }
    this.#schedule();
  }

  reconfigure(config: { periodMs: number; bufferMs?: number }): DeviceBufferConfig {
    if (this.#closed) throw new AudioError('AUDIO_ERR_CLOSED', 'capture stream is closed');
    const period = Math.round((config.periodMs * this.sampleRate) / 1000);
    return { periodSamples: period, bufferSamples: period };
  }

  stats(): AudioStreamStats {
    return {
      xruns: 0,
      delaySamples: 0,
      queuedSamples: 0,
      deviceSamples: this.#index,
      silenceSamples: 0,
      droppedSamples: 0,
      periodSamples: this.#frameSamples,
      bufferSamples: this.#frameSamples,
      realtime: false,
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) {
      if (this.#pace === 'fast') clearImmediate(this.#timer as NodeJS.Immediate);
      else clearTimeout(this.#timer as NodeJS.Timeout);
    }
    this.#timer = undefined;
  }
}

/** A playback stream that consumes on the wall clock (real time) or on write (fast). */
export class PacedPlayback implements PlaybackStream {
  readonly sampleRate: number;
  readonly channels: number;
  #pace: AudioPace;
  #sink: PacedSink;
  #queue: Int16Array[] = [];
  #queued = 0; // samples per channel
  #consumed = 0;
  #silence = 0;
  #dropped = 0;
  #startMs: number;
  #periodMs: number;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #drainWaiters: (() => void)[] = [];

  constructor(options: PlaybackOptions, sink: PacedSink, pace: AudioPace) {
    checkFormat(options.sampleRate, options.channels);
    this.sampleRate = options.sampleRate;
    this.channels = options.channels;
    this.#sink = sink;
    this.#pace = pace;
    this.#periodMs = options.periodMs ?? 10;
    this.#startMs = performance.now();
    if (pace === 'realtime') this.#timer = setInterval(() => this.#tick(), this.#periodMs);
  }

  get consumedSamples(): number {
    return this.#consumed;
  }
  get queuedSamples(): number {
    return this.#queued;
  }
  get startedAtMs(): number | undefined {
    return this.#startMs;
  }

  write(frame: Int16Array): boolean {
    if (this.#closed) throw new AudioError('AUDIO_ERR_CLOSED', 'playback stream is closed');
    if (!(frame instanceof Int16Array) || frame.length % this.channels !== 0) {
      throw new AudioError(
        'AUDIO_ERR_BAD_ARG',
        `frame must be an Int16Array of whole ${this.channels}-channel samples`,
      );
    }
    const n = frame.length / this.channels;
    if (this.#pace === 'fast') {
      this.#sink.put(frame.slice());
      this.#consumed += n;
      return true;
    }
    if (((this.#queued + n) * 1000) / this.sampleRate > MAX_QUEUE_MS) {
      this.#dropped += n;
      return false;
    }
    this.#queue.push(frame.slice());
    this.#queued += n;
    return true;
  }

  #tick(): void {
    // Like a card with a one-period buffer: each tick commits audio up to one period past "now",
    // so what is written before the next tick lands at consumedSamples + queuedSamples, never
    // earlier than the moment it was written (timer lateness aside).
    const period = Math.round((this.#periodMs * this.sampleRate) / 1000);
    const due = Math.floor(((performance.now() - this.#startMs) * this.sampleRate) / 1000) + period;
    let need = due - this.#consumed;
    while (need > 0 && this.#queue.length > 0) {
      const head = this.#queue[0] as Int16Array;
      const have = head.length / this.channels;
      if (have <= need) {
        this.#sink.put(head);
        this.#queue.shift();
        need -= have;
        this.#queued -= have;
        this.#consumed += have;
      } else {
        this.#sink.put(head.subarray(0, need * this.channels));
        this.#queue[0] = head.subarray(need * this.channels);
        this.#queued -= need;
        this.#consumed += need;
        need = 0;
      }
    }
    if (need > 0) {
      this.#sink.put(new Int16Array(need * this.channels));
      this.#silence += need;
      this.#consumed += need;
    }
    if (this.#queued === 0 && this.#drainWaiters.length > 0) {
      for (const w of this.#drainWaiters.splice(0)) w();
    }
  }

  reconfigure(config: { periodMs: number; bufferMs?: number }): DeviceBufferConfig {
    if (this.#closed) throw new AudioError('AUDIO_ERR_CLOSED', 'playback stream is closed');
    if (typeof config.periodMs !== 'number' || !(config.periodMs >= 1 && config.periodMs <= 1000)) {
      throw new AudioError('AUDIO_ERR_BAD_ARG', 'periodMs must be 1..1000');
    }
    this.#periodMs = config.periodMs;
    if (this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = setInterval(() => this.#tick(), this.#periodMs);
    }
    const period = Math.round((this.#periodMs * this.sampleRate) / 1000);
    return { periodSamples: period, bufferSamples: period };
  }

  stats(): AudioStreamStats {
    const period = Math.round((this.#periodMs * this.sampleRate) / 1000);
    return {
      xruns: 0,
      delaySamples: 0,
      queuedSamples: this.#queued,
      deviceSamples: this.#consumed,
      silenceSamples: this.#silence,
      droppedSamples: this.#dropped,
      periodSamples: period,
      bufferSamples: period,
      realtime: false,
    };
  }

  async drain(): Promise<void> {
    if (this.#closed) return;
    if (this.#pace === 'realtime' && this.#queued > 0) {
      await new Promise<void>((resolve) => this.#drainWaiters.push(resolve));
    }
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
    this.#queued = 0;
    this.#sink.close();
    for (const w of this.#drainWaiters.splice(0)) w();
  }
}
