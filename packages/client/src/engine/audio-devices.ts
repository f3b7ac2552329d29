/**
 * The engine's {@link CapturePort} and {@link PlaybackPort} over `src/audio`'s
 * {@link AudioDevice} backends (`alsa:NAME`, `wav:PATH`, `null`): 48 kHz mono S16, device frame
 * clocks (capture `sampleIndex`, playback device sample index) and `startedAtMs` anchors on
 * `performance.now()`. Playback is pull-style through {@link startPlayout}: the jitter buffer is
 * asked for one 10 ms tick at a time when the device queue runs low, and real-time `wav:`/`null`
 * play silence on underrun like a sound card, so an output file's sample index is device time.
 * Audio errors (`AUDIO_ERR_*`) surface as `ENGINE_ERR_DEVICE` with the original as `cause`.
 */
import {
  openAudioDevice,
  parseDeviceSpec,
  readWav,
  startPlayout,
  type AudioDevice,
  type CaptureStream,
  type Playout,
  type PlaybackStream,
} from '../audio/index.ts';
import type { NativeRtpReceiver, NativeRtpSender } from '@parloir/native';
import { EngineError } from './errors.ts';
import type { CapturePort, PlaybackPort } from './ports.ts';

const RATE = 48_000;
/** The playback pulls the jitter buffer in 5 ms ticks (the buffer's tick, media-jitter-buffer.ts). */
const TICK_SAMPLES = 240;
/** Least queue kept ahead of an ALSA device (ring plus device buffer), samples. */
const ALSA_MIN_QUEUE_SAMPLES = 960;
/** Least queue kept ahead of a paced (`wav:`/`null`) device beyond its committed period. */
const PACED_MIN_QUEUE_SAMPLES = 240;

function deviceError(what: string, spec: string, err: unknown): EngineError {
  const msg = err instanceof Error ? err.message : String(err);
  return new EngineError('ENGINE_ERR_DEVICE', `${what} ${spec}: ${msg}`, { cause: err });
}

function open(spec: string, what: string): AudioDevice {
  try {
    return openAudioDevice(spec);
  } catch (err) {
    throw deviceError(what, spec, err);
  }
}

/** Capture from an audio device spec. The stream opens at {@link DeviceCapture.start}. */
export class DeviceCapture implements CapturePort {
  #spec: string;
  #device: AudioDevice;
  #frameSamples: number;
  #periodMs = 10;
  #stream: CaptureStream | undefined;
  #native: NativeRtpSender | undefined;

  /** `spec`: `alsa:NAME`, `wav:PATH` or `null`; `frameSamples`: initial frame, samples. */
  constructor(options: { spec: string; frameSamples: number }) {
    this.#spec = options.spec;
    this.#device = open(options.spec, 'capture');
    this.#frameSamples = options.frameSamples;
    // Check a wav: input now, so a bad file fails the command before any call is placed.
    const s = parseDeviceSpec(options.spec);
    if (s.kind === 'wav') {
      try {
        const w = readWav(s.path);
        if (w.sampleRate !== RATE || w.channels !== 1) {
          throw new Error(`need 48000 Hz mono, got ${w.sampleRate} Hz × ${w.channels} ch`);
        }
      } catch (err) {
        throw deviceError('capture', options.spec, err);
      }
    }
  }

  /** `performance.now()` of capture sample 0 (device clock origin), ms, once started. */
  get startedAtMs(): number | undefined {
    return this.#stream?.startedAtMs ?? this.#native?.stats().startedAtMs;
  }

  /** Every backend has a native path (see {@link startNative}). */
  canStartNative(): boolean {
    return true;
  }

  /**
   * Starts capture into a native sender. ALSA: the capture thread feeds the sender each period.
   * `wav:` and `null`: the sender's own thread paces the file's samples (then silence) on the
   * monotonic clock, as the JavaScript paced device does.
   */
  startNative(sender: NativeRtpSender): void {
    if (this.#stream !== undefined || this.#native !== undefined) return;
    const s = parseDeviceSpec(this.#spec);
    if (s.kind === 'alsa') {
      this.start(() => {
        // Frames captured before the sender is attached (at most one period) are dropped.
      });
      // start() has just set it (the narrowing above does not know).
      const stream = this.#stream as CaptureStream | undefined;
      try {
        if (stream?.attachSender === undefined) throw new Error('no native path');
        stream.attachSender(sender);
      } catch (err) {
        stream?.close();
        this.#stream = undefined;
        throw deviceError('capture', this.#spec, err);
      }
      this.#native = sender;
      return;
    }
    let pcm: Int16Array | null = null;
    if (s.kind === 'wav') {
      try {
        pcm = readWav(s.path).samples;
      } catch (err) {
        throw deviceError('capture', this.#spec, err);
      }
    }
    sender.startPaced(pcm);
    this.#native = sender;
  }

  start(onFrame: (pcm: Int16Array, clockSamples: number) => void): void {
    if (this.#stream !== undefined) return;
    try {
      this.#stream = this.#device.openCapture({
        sampleRate: RATE,
        channels: 1,
        frameSamples: this.#frameSamples,
        periodMs: this.#periodMs,
        onFrame: (frame, info) => onFrame(frame, info.sampleIndex),
      });
    } catch (err) {
      throw deviceError('capture', this.#spec, err);
    }
  }

  setFrameSamples(samples: number): void {
    this.#frameSamples = samples;
    if (this.#stream !== undefined) this.#stream.frameSamples = samples;
  }

  setPeriodMs(ms: number): void {
    this.#periodMs = ms;
    if (this.#stream === undefined) return;
    try {
      this.#stream.reconfigure({ periodMs: ms });
    } catch (err) {
      throw deviceError('capture', this.#spec, err);
    }
  }

  close(): Promise<void> {
    this.#stream?.close();
    return Promise.resolve();
  }
}

/** Playback to an audio device spec, pulling 10 ms ticks. The stream opens at `start`. */
export class DevicePlayback implements PlaybackPort {
  #spec: string;
  #device: AudioDevice;
  #periodMs = 10;
  #stream: PlaybackStream | undefined;
  #playout: Playout | undefined;

  /** `spec`: `alsa:NAME`, `wav:PATH` or `null`. */
  constructor(options: { spec: string }) {
    this.#spec = options.spec;
    this.#device = open(options.spec, 'playback');
  }

  /** `performance.now()` when device sample 0 played, ms, once started. */
  get startedAtMs(): number | undefined {
    return this.#stream?.startedAtMs;
  }

  start(pull: (out: Int16Array, clockSamples: number, playAtMs: number) => void): void {
    if (this.#stream !== undefined) return;
    try {
      this.#stream = this.#device.openPlayback({
        sampleRate: RATE,
        channels: 1,
        periodMs: this.#periodMs,
        fillSilence: true,
      });
    } catch (err) {
      throw deviceError('playback', this.#spec, err);
    }
    // How much to keep queued ahead of the device, read before every pull (a period change
    // applies at once). Either way about two device periods of audio sit between the pull and
    // the speaker, like a card run with two periods:
    // - `wav:`/`null` have already committed one period past now (audio written now plays at
    //   least a period later), so one more period queued (at least 5 ms, timer lateness) makes
    //   two; a pull at the target plays ≈ 2 periods later;
    // - ALSA's queue counts the device buffer, so two periods, and at least 20 ms.
    const period = (): number => Math.round((this.#periodMs * RATE) / 1000);
    const paced = this.#device.kind !== 'alsa';
    this.#playout = startPlayout(this.#stream, {
      frameSamples: TICK_SAMPLES,
      get targetQueuedSamples() {
        return paced
          ? Math.max(period(), PACED_MIN_QUEUE_SAMPLES)
          : Math.max(ALSA_MIN_QUEUE_SAMPLES, 2 * period());
      },
      pull: (out, deviceSample) => {
        const t0 = this.#stream?.startedAtMs;
        pull(
          out,
          deviceSample,
          t0 === undefined ? performance.now() : t0 + (deviceSample * 1000) / RATE,
        );
      },
    });
  }

  /** Every backend has a native path (see {@link startNative}). */
  canStartNative(): boolean {
    return true;
  }

  /**
   * Plays a native receiver's audio. ALSA: the playback thread pulls it each period. `wav:` and
   * `null`: the receiver's own thread paces the device on the monotonic clock, as the
   * JavaScript paced device does; `wav:` gets the audio every 100 ms.
   */
  startNative(receiver: NativeRtpReceiver): void {
    if (this.#stream !== undefined) return;
    let stream: PlaybackStream;
    try {
      stream = this.#device.openPlayback({
        sampleRate: RATE,
        channels: 1,
        periodMs: this.#periodMs,
        fillSilence: true,
      });
    } catch (err) {
      throw deviceError('playback', this.#spec, err);
    }
    try {
      if (stream.attachReceiver === undefined) throw new Error('no native path');
      stream.attachReceiver(receiver);
    } catch (err) {
      stream.close();
      throw deviceError('playback', this.#spec, err);
    }
    this.#stream = stream;
  }

  /**
   * Tops the device queue up now, `aheadMs` beyond its target (see {@link Playout.service}): the
   * engine calls it when a packet has arrived, with the packet's duration, so the pull that plays
   * the packet happens while the process is awake anyway.
   */
  service(aheadMs: number): void {
    this.#playout?.service(Math.round((aheadMs * RATE) / 1000));
  }

  setPeriodMs(ms: number): void {
    this.#periodMs = ms;
    if (this.#stream === undefined) return;
    try {
      this.#stream.reconfigure({ periodMs: ms });
    } catch (err) {
      throw deviceError('playback', this.#spec, err);
    }
  }

  close(): Promise<void> {
    this.#playout?.stop();
    this.#stream?.close();
    return Promise.resolve();
  }
}
