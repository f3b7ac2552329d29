/**
 * ALSA PCM capture and playback streams, typed. Each stream runs its own I/O thread in C; this
 * side only moves frames through the lock-free ring and reads the stats the thread publishes.
 * @module
 */
import type { NativeRtpSender } from './sender.ts';
import type { NativeRtpReceiver } from './receiver.ts';
import { addon, type RawPcm, type RawPcmStats } from './addon.ts';
import { AlsaError, fromNative, type AlsaErrorCode } from './errors.ts';

/** One ALSA PCM as listed by `snd_device_name_hint`. */
export interface PcmDeviceInfo {
  /** The name to open, e.g. `default`, `hw:CARD=PCH,DEV=0`, `null`. */
  name: string;
  /** Human description (may span lines). */
  description: string;
  /** Which directions the device declares. */
  direction: 'both' | 'capture' | 'playback';
}

/** Lists ALSA PCM devices (`snd_device_name_hint(-1, "pcm")`). */
export function listPcmDevices(): PcmDeviceInfo[] {
  try {
    return addon.listPcmDevices();
  } catch (err) {
    throw fromNative(err, 'alsa');
  }
}

/** Options shared by capture and playback streams. */
export interface PcmStreamOptions {
  /** ALSA PCM name: `default`, `hw:0,0`, `plughw:…`, `pulse`, or one from an asoundrc. */
  device: string;
  /** Sample rate, Hz (8000..48000). Must be supported as is (a `plug` device resamples). */
  sampleRate: number;
  /** 1 or 2 (interleaved). */
  channels: number;
  /** Requested period, frames (samples per channel). ALSA may round it. Default: 10 ms. */
  periodFrames?: number;
  /** Requested buffer, frames. ALSA may round it. Default: 4 periods. */
  bufferFrames?: number;
  /** Capacity of the ring between the I/O thread and JavaScript, ms. Default 1000. */
  ringMs?: number;
}

/** Options of a capture stream. */
export interface PcmCaptureOptions extends PcmStreamOptions {
  /** Frame handed to `onFrame`, samples per channel (e.g. 480 = 10 ms at 48 kHz). */
  frameSamples: number;
  /**
   * Called on the event loop with each captured frame (interleaved) and the device index of its
   * first sample, samples per channel since the stream started. The frame is yours to keep.
   */
  onFrame: (frame: Int16Array, firstSampleIndex: number) => void;
  /** Called once if the device fails beyond xrun recovery (e.g. unplugged). */
  onError?: (err: AlsaError) => void;
}

/** Options of a playback stream. */
export interface PcmPlaybackOptions extends PcmStreamOptions {
  /**
   * When the ring runs dry: true (default) plays silence, as a call needs; false waits for data,
   * as file playback wants (on a real card a long wait then shows up as an xrun).
   */
  fillSilence?: boolean;
  /** Called once if the device fails beyond xrun recovery. */
  onError?: (err: AlsaError) => void;
}

/** Live figures of a stream, for latency accounting and diagnostics. */
export interface PcmStats {
  /** Overruns (capture) or underruns (playback) recovered with `snd_pcm_recover`. */
  xruns: number;
  /** `snd_pcm_delay` at the last transfer, frames: audio inside the device. */
  delayFrames: number;
  /** Frames waiting in the ring (captured not yet delivered, or written not yet played). */
  ringFrames: number;
  /** Ring capacity, frames. */
  ringCapacityFrames: number;
  /** Frames transferred to or from the device since open, including playback silence. */
  deviceFrames: number;
  /** Playback: silence frames played because JavaScript was late. */
  silenceFrames: number;
  /** Playback: frames refused by `write()` because the ring was full. */
  droppedFrames: number;
  /** `performance.now()` (ms) of device frame 0, or undefined before the stream started. */
  startedAtMs: number | undefined;
  /** Negotiated period, frames. */
  periodFrames: number;
  /** Negotiated buffer, frames. */
  bufferFrames: number;
  /** Capture frame size handed to JavaScript, samples per channel. */
  frameSamples: number;
  /** Whether the I/O thread got SCHED_FIFO. */
  realtime: boolean;
  /** Whether the stream is closed. */
  closed: boolean;
  /** The ALSA message that stopped the stream, if one did. */
  error: string | undefined;
}

/** Negotiated period and buffer, frames. */
export interface PcmBufferConfig {
  periodFrames: number;
  bufferFrames: number;
}

function toStats(raw: RawPcmStats): PcmStats {
  return {
    xruns: raw.xruns,
    delayFrames: raw.delayFrames,
    ringFrames: raw.ringFrames,
    ringCapacityFrames: raw.ringCapacityFrames,
    deviceFrames: raw.deviceFrames,
    silenceFrames: raw.silenceFrames,
    droppedFrames: raw.droppedFrames,
    // performance.now() and CLOCK_MONOTONIC share libuv's clock; only the origin differs.
    startedAtMs:
      raw.startMonotonicMs < 0
        ? undefined
        : performance.now() - (raw.nowMonotonicMs - raw.startMonotonicMs),
    periodFrames: raw.periodFrames,
    bufferFrames: raw.bufferFrames,
    frameSamples: raw.frameSamples,
    realtime: raw.realtime,
    closed: raw.closed,
    error: raw.error === '' ? undefined : raw.error,
  };
}

function open(
  o: PcmStreamOptions,
  capture: boolean,
  frameSamples: number,
  fillSilence: boolean,
  cb: (frame: Int16Array | null, index: number, code?: string, message?: string) => void,
): RawPcm {
  if (o === null || typeof o !== 'object') {
    throw new AlsaError('ALSA_ERR_BAD_ARG', 'options must be an object');
  }
  const rate = o.sampleRate;
  const period = o.periodFrames ?? Math.round(rate / 100);
  const buffer = o.bufferFrames ?? period * 4;
  const ring = Math.round(((o.ringMs ?? 1000) * rate) / 1000);
  try {
    return new addon.NativePcm(
      o.device,
      capture,
      rate,
      o.channels,
      period,
      buffer,
      frameSamples,
      ring,
      fillSilence,
      cb,
    );
  } catch (err) {
    throw fromNative(err, 'alsa');
  }
}

function errorFrom(code: string | undefined, message: string | undefined): AlsaError {
  const c = (code ?? 'ALSA_ERR_IO') as AlsaErrorCode;
  return new AlsaError(c, message ?? 'device error');
}

/** Base of both directions: stats, on-the-fly reconfiguration and idempotent close. */
abstract class PcmStream {
  protected readonly raw: RawPcm;
  readonly #rate: number;
  readonly #channels: number;

  protected constructor(raw: RawPcm, rate: number, channels: number) {
    this.raw = raw;
    this.#rate = rate;
    this.#channels = channels;
  }

  /** Sample rate, Hz. */
  get sampleRate(): number {
    return this.#rate;
  }
  /** Channel count. */
  get channels(): number {
    return this.#channels;
  }

  /** Live figures; still readable after close. */
  stats(): PcmStats {
    return toStats(this.raw.stats());
  }

  /**
   * Changes period and buffer size while the stream runs (frames). The I/O thread stops the
   * device, renegotiates and restarts it: audio may glitch, the stream stays valid. Returns what
   * ALSA granted; on refusal the previous configuration stays and an {@link AlsaError} is thrown.
   */
  reconfigure(config: { periodFrames: number; bufferFrames?: number }): PcmBufferConfig {
    try {
      return this.raw.reconfigure(
        config.periodFrames,
        config.bufferFrames ?? config.periodFrames * 4,
      );
    } catch (err) {
      throw fromNative(err, 'alsa');
    }
  }
}

/** An ALSA capture stream delivering fixed-size frames to `onFrame`. */
export class PcmCapture extends PcmStream {
  constructor(options: PcmCaptureOptions) {
    const onFrame = options?.onFrame;
    const onError = options?.onError;
    if (typeof onFrame !== 'function') {
      throw new AlsaError('ALSA_ERR_BAD_ARG', 'onFrame must be a function');
    }
    // The addon delivers a bounded batch per call; when more is waiting it says so with index -1
    // and the rest is drained from setImmediate, so a capture device running faster than real
    // time (a file) cannot starve the event loop.
    const drainLater = (): void => {
      setImmediate(() => {
        if (raw.drain()) drainLater();
      });
    };
    const raw: RawPcm = open(
      options,
      true,
      options.frameSamples,
      false,
      (frame, index, code, msg) => {
        if (frame !== null) onFrame(frame, index);
        else if (index === -1) drainLater();
        else onError?.(errorFrom(code, msg));
      },
    );
    super(raw, options.sampleRate, options.channels);
  }

  /** Frame size handed to `onFrame`, samples per channel; a change applies from the next frame. */
  get frameSamples(): number {
    return this.raw.stats().frameSamples;
  }
  set frameSamples(samples: number) {
    try {
      this.raw.setFrameSamples(samples);
    } catch (err) {
      throw fromNative(err, 'alsa');
    }
  }

  /**
   * Hands the captured audio to a native RTP sender (48 kHz mono streams only): from the next
   * period the capture thread feeds `sender` itself and `onFrame` is no longer called; `null`
   * goes back to `onFrame`. The stream keeps the sender alive while attached.
   */
  attachSender(sender: NativeRtpSender | null): void {
    try {
      this.raw.setSink(sender === null ? null : sender.raw);
    } catch (err) {
      throw fromNative(err, 'alsa');
    }
  }

  /** Stops capture and closes the device. Idempotent. */
  close(): void {
    this.raw.close(false);
  }
}

/** An ALSA playback stream; `write()` never blocks. */
export class PcmPlayback extends PcmStream {
  constructor(options: PcmPlaybackOptions) {
    const onError = options?.onError;
    const raw = open(options, false, 1, options?.fillSilence ?? true, (frame, _i, code, msg) => {
      if (frame === null) onError?.(errorFrom(code, msg));
    });
    super(raw, options.sampleRate, options.channels);
  }

  /**
   * Queues interleaved PCM for the device. Returns false, and drops the frame (counted in
   * `droppedFrames`), if the ring has no room for all of it.
   */
  write(frame: Int16Array): boolean {
    try {
      return this.raw.write(frame) > 0 || frame.length === 0;
    } catch (err) {
      throw fromNative(err, 'alsa');
    }
  }

  /**
   * 48 kHz mono: the playback thread pulls the receiver's audio each period instead of playing
   * what `write()` queued (`null`: back to `write()`). The stream keeps the receiver alive while
   * attached.
   */
  attachReceiver(receiver: NativeRtpReceiver | null): void {
    try {
      this.raw.setSource(receiver === null ? null : receiver.raw);
    } catch (err) {
      throw fromNative(err, 'alsa');
    }
  }

  /** Whether silence is played when the ring runs dry (see {@link PcmPlaybackOptions}). */
  set fillSilence(fill: boolean) {
    try {
      this.raw.setFillSilence(fill);
    } catch (err) {
      throw fromNative(err, 'alsa');
    }
  }

  /**
   * Closes the device. Idempotent. With `drain`, first plays out everything queued; that waits
   * for the device buffer to empty (at most the buffer duration once the ring is empty).
   */
  close(options?: { drain?: boolean }): void {
    this.raw.close(options?.drain === true);
  }
}
