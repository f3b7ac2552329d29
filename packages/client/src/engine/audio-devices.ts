/**
 * The call pipeline's devices over `src/audio`'s {@link AudioDevice} backends (`alsa:NAME`,
 * `wav:PATH`, `null`), 48 kHz mono S16, attached to the C pipeline (call-pipeline.ts): the
 * capture feeds the C sender, the playback plays the C receiver, each on a native thread (the
 * ALSA I/O threads, or the sender's and receiver's own threads pacing `wav:`/`null` on the
 * monotonic clock like a sound card, so an output file's sample index is device time).
 * `startedAtMs` anchors the device clocks on `performance.now()`. Audio errors (`AUDIO_ERR_*`)
 * surface as `ENGINE_ERR_DEVICE` with the original as `cause`.
 */
import {
  openAudioDevice,
  parseDeviceSpec,
  readWav,
  type AudioDevice,
  type CaptureStream,
  type PlaybackStream,
} from '../audio/index.ts';
import type { NativeRtpReceiver, NativeRtpSender } from '@parloir/native';
import { EngineError } from './errors.ts';

const RATE = 48_000;

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

/** Capture from an audio device spec into the C sender. The stream opens at {@link attach}. */
export class DeviceCapture {
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

  /**
   * Starts capture into the C sender. ALSA: the capture thread feeds the sender each period.
   * `wav:` and `null`: the sender's own thread paces the file's samples (then silence) on the
   * monotonic clock.
   */
  attach(sender: NativeRtpSender): void {
    if (this.#stream !== undefined || this.#native !== undefined) return;
    const s = parseDeviceSpec(this.#spec);
    if (s.kind === 'alsa') {
      this.#open();
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

  /** Opens the ALSA stream the sender is then attached to. */
  #open(): void {
    try {
      this.#stream = this.#device.openCapture({
        sampleRate: RATE,
        channels: 1,
        frameSamples: this.#frameSamples,
        periodMs: this.#periodMs,
        onFrame: () => {
          // Frames captured before the sender is attached (at most one period) are dropped.
        },
      });
    } catch (err) {
      throw deviceError('capture', this.#spec, err);
    }
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

/** Playback of the C receiver to an audio device spec. The stream opens at {@link attach}. */
export class DevicePlayback {
  #spec: string;
  #device: AudioDevice;
  #periodMs = 10;
  #stream: PlaybackStream | undefined;

  /** `spec`: `alsa:NAME`, `wav:PATH` or `null`. */
  constructor(options: { spec: string }) {
    this.#spec = options.spec;
    this.#device = open(options.spec, 'playback');
  }

  /** `performance.now()` when device sample 0 played, ms, once started. */
  get startedAtMs(): number | undefined {
    return this.#stream?.startedAtMs;
  }

  /**
   * Plays the C receiver's audio. ALSA: the playback thread pulls it each period. `wav:` and
   * `null`: the receiver's own thread paces the device on the monotonic clock; `wav:` gets the
   * audio every 100 ms.
   */
  attach(receiver: NativeRtpReceiver): void {
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
    this.#stream?.close();
    return Promise.resolve();
  }
}
