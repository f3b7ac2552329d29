/**
 * Capture and playback streams paced by the wall clock (or not at all), shared by the `wav:` and
 * `null` backends. In real time they behave like a sound card: capture emits a frame when its
 * last sample is due (one timer per frame, due times on the monotonic clock, so it never
 * drifts); playback consumes samples as time passes and plays (writes) silence when nothing is
 * queued, so an output file's sample index is device time. Playback needs no timer: what the
 * device has consumed is a function of the clock, so it is brought up to date whenever the stream
 * is touched (write, queue and clock reads, stats, drain, close). A timer per period cost a
 * process wakeup every period (≈ 100 µs of CPU each on the 2-core VM) for nothing the caller
 * could see, and made the commit point depend on the timer's lateness.
 * @module
 */
import type { NativeRtpReceiver } from '@parloir/native';
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
  /** It throws the audio away (`null`): a native receiver then keeps none for it. */
  discards?: boolean;
}

/** How often the audio a native receiver played is moved into the sink, ms. */
const RECEIVER_DRAIN_MS = 100;

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
    // Whole milliseconds, rounded up: Node's timers count in whole ms from the loop's (truncated)
    // clock, so a fractional delay fires up to 1 ms early about two times in three, and the
    // frame then needs a second, 1 ms timer (≈ 85 instead of 50 wakeups/s at 20 ms frames).
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, Math.ceil(dueMs - performance.now())));
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

/** Longest silence committed in one piece, samples per channel (bounds one allocation). */
const MAX_SILENCE_CHUNK = 48000;

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
  #closed = false;
  #drainTimer: NodeJS.Timeout | undefined;
  #heldNowMs: number | undefined;
  #drainWaiters: (() => void)[] = [];
  #receiver: NativeRtpReceiver | undefined;
  #receiverTimer: NodeJS.Timeout | undefined;

  constructor(options: PlaybackOptions, sink: PacedSink, pace: AudioPace) {
    checkFormat(options.sampleRate, options.channels);
    this.sampleRate = options.sampleRate;
    this.channels = options.channels;
    this.#sink = sink;
    this.#pace = pace;
    this.#periodMs = options.periodMs ?? 10;
    this.#startMs = performance.now();
  }

  get consumedSamples(): number {
    if (this.#receiver !== undefined) {
      const s = this.#receiver.stats();
      return s.playedSamples - s.queuedSamples;
    }
    this.#advance();
    return this.#consumed;
  }
  get queuedSamples(): number {
    if (this.#receiver !== undefined) return this.#receiver.stats().queuedSamples;
    this.#advance();
    return this.#queued;
  }
  get startedAtMs(): number | undefined {
    if (this.#receiver !== undefined) return this.#receiver.stats().startedAtMs;
    return this.#startMs;
  }

  /**
   * The receiver's own thread paces this device from now on (real time only, 48 kHz mono); the
   * audio it plays reaches the sink every {@link RECEIVER_DRAIN_MS}, and at close.
   */
  attachReceiver(receiver: NativeRtpReceiver): void {
    if (this.#closed) throw new AudioError('AUDIO_ERR_CLOSED', 'playback stream is closed');
    if (this.#pace !== 'realtime' || this.sampleRate !== 48_000 || this.channels !== 1) {
      throw new AudioError(
        'AUDIO_ERR_BAD_ARG',
        'a native receiver plays to a real-time 48 kHz mono device only',
      );
    }
    if (this.#receiver !== undefined) {
      throw new AudioError('AUDIO_ERR_BAD_ARG', 'a native receiver is already attached');
    }
    receiver.setPeriodSamples(Math.round((this.#periodMs * this.sampleRate) / 1000));
    const keep = this.#sink.discards !== true;
    receiver.startPaced(keep);
    this.#receiver = receiver;
    if (keep) {
      this.#receiverTimer = setInterval(() => this.#takeFromReceiver(), RECEIVER_DRAIN_MS);
    }
  }

  #takeFromReceiver(): void {
    const r = this.#receiver;
    if (r === undefined || this.#sink.discards === true) return;
    const pcm = r.takePcm();
    if (pcm.length > 0) this.#sink.put(pcm);
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
    // Commit up to now first, so this frame lands at consumedSamples + queuedSamples as of now.
    this.#advance();
    if (((this.#queued + n) * 1000) / this.sampleRate > MAX_QUEUE_MS) {
      this.#dropped += n;
      return false;
    }
    this.#queue.push(frame.slice());
    this.#queued += n;
    return true;
  }

  /**
   * The device's view of now: read once per synchronous run and held until the microtasks run,
   * as if the device only moved between event-loop callbacks (like the timer it replaces). So
   * a caller that reads `consumedSamples + queuedSamples` and then writes sees the frame land
   * exactly there.
   */
  #clockMs(): number {
    if (this.#heldNowMs === undefined) {
      this.#heldNowMs = performance.now();
      queueMicrotask(() => (this.#heldNowMs = undefined));
    }
    return this.#heldNowMs;
  }

  /**
   * Brings the device up to the clock. Like a card with a one-period buffer, the device has
   * committed audio up to one period past now: queued audio first, silence when starved. So what
   * is written now lands at `consumedSamples + queuedSamples`, at least one period from now.
   */
  #advance(): void {
    // With a native receiver attached, its thread is the device and plays into the sink.
    if (this.#pace !== 'realtime' || this.#closed || this.#receiver !== undefined) return;
    const period = Math.round((this.#periodMs * this.sampleRate) / 1000);
    const due = Math.floor(((this.#clockMs() - this.#startMs) * this.sampleRate) / 1000) + period;
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
    // Bounded: a long unattended stretch is committed as silence in chunks of at most a second.
    while (need > 0) {
      const n = Math.min(need, MAX_SILENCE_CHUNK);
      this.#sink.put(new Int16Array(n * this.channels));
      this.#silence += n;
      this.#consumed += n;
      need -= n;
    }
  }

  reconfigure(config: { periodMs: number; bufferMs?: number }): DeviceBufferConfig {
    if (this.#closed) throw new AudioError('AUDIO_ERR_CLOSED', 'playback stream is closed');
    if (typeof config.periodMs !== 'number' || !(config.periodMs >= 1 && config.periodMs <= 1000)) {
      throw new AudioError('AUDIO_ERR_BAD_ARG', 'periodMs must be 1..1000');
    }
    this.#advance();
    this.#periodMs = config.periodMs;
    const period = Math.round((this.#periodMs * this.sampleRate) / 1000);
    this.#receiver?.setPeriodSamples(period);
    return { periodSamples: period, bufferSamples: period };
  }

  stats(): AudioStreamStats {
    this.#advance();
    const period = Math.round((this.#periodMs * this.sampleRate) / 1000);
    const r = this.#receiver?.stats();
    if (r !== undefined) {
      return {
        xruns: 0,
        delaySamples: 0,
        queuedSamples: r.queuedSamples,
        deviceSamples: r.playedSamples - r.queuedSamples,
        silenceSamples: r.silenceSamples,
        droppedSamples: 0,
        periodSamples: period,
        bufferSamples: period,
        realtime: false,
      };
    }
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
    this.#advance();
    if (this.#pace === 'realtime' && this.#queued > 0) {
      // Everything queued is committed once the clock has moved on by the queue's length.
      const ms = (this.#queued * 1000) / this.sampleRate;
      await new Promise<void>((resolve) => {
        this.#drainWaiters.push(resolve);
        this.#drainTimer ??= setTimeout(
          () => {
            this.#drainTimer = undefined;
            this.#advance();
            for (const w of this.#drainWaiters.splice(0)) w();
          },
          Math.max(0, Math.ceil(ms) + 1),
        );
      });
    }
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#advance();
    if (this.#receiver !== undefined) {
      clearInterval(this.#receiverTimer);
      this.#takeFromReceiver();
      this.#receiver = undefined;
    }
    this.#closed = true;
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    this.#queue = [];
    this.#queued = 0;
    this.#sink.close();
    for (const w of this.#drainWaiters.splice(0)) w();
  }
}
