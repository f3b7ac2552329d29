/**
 * The `alsa:NAME` backend: capture and playback over the native addon's PCM streams.
 * @module
 */
import {
  PcmCapture,
  PcmPlayback,
  type NativeRtpReceiver,
  type NativeRtpSender,
  type PcmStats,
} from '@parloir/native';
import { AudioError } from './errors.ts';
import { checkFormat, checkFrameSamples } from './paced.ts';
import type {
  AudioDevice,
  AudioStreamStats,
  CaptureOptions,
  CaptureStream,
  DeviceBufferConfig,
  PlaybackOptions,
  PlaybackStream,
} from './types.ts';

function frames(ms: number | undefined, rate: number, fallback: number): number {
  if (ms === undefined) return fallback;
  if (typeof ms !== 'number' || !(ms > 0 && ms <= 2000)) {
    throw new AudioError(
      'AUDIO_ERR_BAD_ARG',
      `period/buffer must be 0..2000 ms, got ${String(ms)}`,
    );
  }
  return Math.max(16, Math.round((ms * rate) / 1000));
}

function toStats(s: PcmStats): AudioStreamStats {
  return {
    xruns: s.xruns,
    delaySamples: s.delayFrames,
    queuedSamples: s.ringFrames,
    deviceSamples: s.deviceFrames,
    silenceSamples: s.silenceFrames,
    droppedSamples: s.droppedFrames,
    periodSamples: s.periodFrames,
    bufferSamples: s.bufferFrames,
    realtime: s.realtime,
  };
}

function reconfigure(
  stream: PcmCapture | PcmPlayback,
  rate: number,
  config: { periodMs: number; bufferMs?: number },
): DeviceBufferConfig {
  const period = frames(config.periodMs, rate, 0);
  const buffer = frames(config.bufferMs, rate, period * 4);
  const r = stream.reconfigure({ periodFrames: period, bufferFrames: buffer });
  return { periodSamples: r.periodFrames, bufferSamples: r.bufferFrames };
}

class AlsaCaptureStream implements CaptureStream {
  readonly sampleRate: number;
  readonly channels: number;
  #pcm: PcmCapture;
  #frameSamples: number;

  constructor(name: string, o: CaptureOptions) {
    checkFormat(o.sampleRate, o.channels);
    if (typeof o.onFrame !== 'function') {
      throw new AudioError('AUDIO_ERR_BAD_ARG', 'onFrame must be a function');
    }
    this.sampleRate = o.sampleRate;
    this.channels = o.channels;
    this.#frameSamples = checkFrameSamples(o.frameSamples);
    const period = frames(o.periodMs, o.sampleRate, Math.round(o.sampleRate / 100));
    const onFrame = o.onFrame;
    this.#pcm = new PcmCapture({
      device: name,
      sampleRate: o.sampleRate,
      channels: o.channels,
      periodFrames: period,
      bufferFrames: frames(o.bufferMs, o.sampleRate, period * 4),
      frameSamples: this.#frameSamples,
      onFrame: (frame, sampleIndex) => onFrame(frame, { sampleIndex }),
      ...(o.onError ? { onError: o.onError } : {}),
    });
  }

  get frameSamples(): number {
    return this.#frameSamples;
  }
  set frameSamples(n: number) {
    this.#pcm.frameSamples = checkFrameSamples(n);
    this.#frameSamples = n;
  }
  get startedAtMs(): number | undefined {
    return this.#pcm.stats().startedAtMs;
  }
  reconfigure(config: { periodMs: number; bufferMs?: number }): DeviceBufferConfig {
    return reconfigure(this.#pcm, this.sampleRate, config);
  }
  attachSender(sender: NativeRtpSender | null): void {
    // An AlsaError (bad stream format, closed stream) goes through as is, like the others here.
    this.#pcm.attachSender(sender);
  }
  stats(): AudioStreamStats {
    return toStats(this.#pcm.stats());
  }
  close(): void {
    this.#pcm.close();
  }
}

class AlsaPlaybackStream implements PlaybackStream {
  readonly sampleRate: number;
  readonly channels: number;
  #pcm: PcmPlayback;
  #closed = false;

  constructor(name: string, o: PlaybackOptions) {
    checkFormat(o.sampleRate, o.channels);
    this.sampleRate = o.sampleRate;
    this.channels = o.channels;
    const period = frames(o.periodMs, o.sampleRate, Math.round(o.sampleRate / 100));
    this.#pcm = new PcmPlayback({
      device: name,
      sampleRate: o.sampleRate,
      channels: o.channels,
      periodFrames: period,
      bufferFrames: frames(o.bufferMs, o.sampleRate, period * 4),
      fillSilence: o.fillSilence ?? true,
      ...(o.onError ? { onError: o.onError } : {}),
    });
  }

  write(frame: Int16Array): boolean {
    return this.#pcm.write(frame);
  }
  get consumedSamples(): number {
    const s = this.#pcm.stats();
    return Math.max(0, s.deviceFrames - s.delayFrames);
  }
  get queuedSamples(): number {
    const s = this.#pcm.stats();
    return s.ringFrames + s.delayFrames;
  }
  get startedAtMs(): number | undefined {
    return this.#pcm.stats().startedAtMs;
  }
  reconfigure(config: { periodMs: number; bufferMs?: number }): DeviceBufferConfig {
    return reconfigure(this.#pcm, this.sampleRate, config);
  }
  attachReceiver(receiver: NativeRtpReceiver): void {
    // An AlsaError (bad stream format, closed stream) goes through as is, like the others here.
    this.#pcm.attachReceiver(receiver);
  }
  stats(): AudioStreamStats {
    return toStats(this.#pcm.stats());
  }
  async drain(): Promise<void> {
    // Wait on the event loop for the ring to empty; only the last device buffer is drained
    // synchronously by close().
    while (!this.#closed && this.#pcm.stats().ringFrames > 0 && !this.#pcm.stats().error) {
      await new Promise((r) => setTimeout(r, 10));
    }
    this.#closed = true;
    this.#pcm.close({ drain: true });
  }
  close(): void {
    this.#closed = true;
    this.#pcm.close();
  }
}

/** An ALSA PCM by name. Opening a stream opens the device (and may throw an AlsaError). */
export class AlsaDevice implements AudioDevice {
  readonly spec: string;
  readonly kind = 'alsa' as const;
  readonly #name: string;

  constructor(name: string) {
    this.#name = name;
    this.spec = `alsa:${name}`;
  }
  openCapture(options: CaptureOptions): CaptureStream {
    return new AlsaCaptureStream(this.#name, options);
  }
  openPlayback(options: PlaybackOptions): PlaybackStream {
    return new AlsaPlaybackStream(this.#name, options);
  }
}
