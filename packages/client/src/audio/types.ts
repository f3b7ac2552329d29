/**
 * The `AudioDevice` interface every backend implements (`alsa:`, `wav:`, `null`), with its
 * options and stats. Capture delivers fixed-size interleaved S16 frames through a callback on the
 * event loop; playback `write()` never blocks. Both expose a device frame clock so latency can be
 * accounted for: sample index N of a stream is at `startedAtMs + N / sampleRate * 1000`.
 * @module
 */
import type { NativeRtpReceiver, NativeRtpSender } from '@parloir/native';

/** How `wav:` devices keep time: like a sound card, or as fast as the consumer goes (tests). */
export type AudioPace = 'realtime' | 'fast';

/** Options of {@link openAudioDevice}. */
export interface AudioDeviceOptions {
  /** `wav:` pacing; default `realtime`. `null` and `alsa:` are always real time. */
  pace?: AudioPace;
}

/** Where a captured frame sits on the device clock. */
export interface CaptureFrameInfo {
  /** Index of the frame's first sample (per channel) since the stream started. */
  sampleIndex: number;
}

/** Options of a capture stream. */
export interface CaptureOptions {
  /** Sample rate, Hz (8000..48000). */
  sampleRate: number;
  /** 1 or 2. */
  channels: number;
  /** Samples per channel in each delivered frame (480 = 10 ms at 48 kHz). */
  frameSamples: number;
  /** Device period, ms (ALSA; default 10). */
  periodMs?: number;
  /** Device buffer, ms (ALSA; default 4 periods). */
  bufferMs?: number;
  /** Each captured frame, interleaved; yours to keep. */
  onFrame: (frame: Int16Array, info: CaptureFrameInfo) => void;
  /** A device failure the stream cannot recover from. */
  onError?: (err: Error) => void;
  /**
   * `wav:` only: the file is exhausted (the last frame was padded with silence). Real-time
   * capture then goes on with silence, as a sound card would; fast capture stops.
   */
  onEnd?: () => void;
}

/** Options of a playback stream. */
export interface PlaybackOptions {
  /** Sample rate, Hz (8000..48000). */
  sampleRate: number;
  /** 1 or 2. */
  channels: number;
  /** Device period, ms (ALSA; also the consumption tick of real-time `wav:`/`null`; default 10). */
  periodMs?: number;
  /** Device buffer, ms (ALSA; default 4 periods). */
  bufferMs?: number;
  /**
   * ALSA: when nothing is queued, play silence (true, default: calls) or wait for data (false:
   * file playback, so that the output is exactly the input). `wav:`/`null` in real time always
   * consume silence when starved, like a sound card.
   */
  fillSilence?: boolean;
  /** A device failure the stream cannot recover from. */
  onError?: (err: Error) => void;
}

/** Live figures of a stream, in samples per channel. */
export interface AudioStreamStats {
  /** Overruns/underruns recovered by the device (ALSA), 0 elsewhere. */
  xruns: number;
  /** Audio inside the device (ALSA `snd_pcm_delay`), samples. */
  delaySamples: number;
  /** Audio waiting between device and JavaScript, samples. */
  queuedSamples: number;
  /** Samples transferred to/from the device, including playback silence. */
  deviceSamples: number;
  /** Playback: silence played because nothing was queued, samples. */
  silenceSamples: number;
  /** Playback: samples refused by `write()` because the queue was full. */
  droppedSamples: number;
  /** Device period, samples. */
  periodSamples: number;
  /** Device buffer, samples. */
  bufferSamples: number;
  /** Whether the device thread runs SCHED_FIFO (ALSA). */
  realtime: boolean;
}

/** Negotiated period and buffer, samples per channel. */
export interface DeviceBufferConfig {
  periodSamples: number;
  bufferSamples: number;
}

/** A running capture stream. */
export interface CaptureStream {
  /** Sample rate, Hz. */
  readonly sampleRate: number;
  /** Channel count. */
  readonly channels: number;
  /** Samples per channel per delivered frame; a change applies from the next frame. */
  frameSamples: number;
  /** `performance.now()` (ms) of sample index 0, once the device has started. */
  readonly startedAtMs: number | undefined;
  /** Changes the device period and buffer on the fly (ALSA); returns what the device granted. */
  reconfigure(config: { periodMs: number; bufferMs?: number }): DeviceBufferConfig;
  /**
   * ALSA, 48 kHz mono: the capture thread feeds a native RTP sender instead of `onFrame`
   * (`null`: back to `onFrame`).
   */
  attachSender?(sender: NativeRtpSender | null): void;
  /** Live figures. */
  stats(): AudioStreamStats;
  /** Stops capture. Idempotent. */
  close(): void;
}

/** A running playback stream. */
export interface PlaybackStream {
  /** Sample rate, Hz. */
  readonly sampleRate: number;
  /** Channel count. */
  readonly channels: number;
  /**
   * Queues interleaved PCM; never blocks. Returns false (and drops the frame) if the queue is
   * full; a long queue only adds latency.
   */
  write(frame: Int16Array): boolean;
  /**
   * Samples per channel the device has consumed so far, silence included (device clock). ALSA:
   * played; `wav:`/`null`: committed, up to one period ahead of the wall clock. Either way
   * `consumedSamples + queuedSamples` is the index where the next written sample will play.
   */
  readonly consumedSamples: number;
  /** Samples written but not played yet (queue plus device buffer). */
  readonly queuedSamples: number;
  /** `performance.now()` (ms) when device sample 0 played, once started. */
  readonly startedAtMs: number | undefined;
  /** Changes the device period and buffer on the fly (ALSA); returns what the device granted. */
  reconfigure(config: { periodMs: number; bufferMs?: number }): DeviceBufferConfig;
  /**
   * 48 kHz mono, real time: the device plays a native RTP receiver's audio, pulled on a native
   * thread (ALSA's playback thread, or the receiver's own paced thread for `wav:`/`null`),
   * instead of what `write()` queues. Once attached it stays until the stream closes.
   */
  attachReceiver?(receiver: NativeRtpReceiver): void;
  /** Live figures. */
  stats(): AudioStreamStats;
  /** Plays out everything queued, then closes. */
  drain(): Promise<void>;
  /** Stops at once, dropping what is queued. Idempotent. */
  close(): void;
}

/** One device spec opened: capture and playback streams come from here. */
export interface AudioDevice {
  /** The spec it was opened with, e.g. `alsa:default`. */
  readonly spec: string;
  /** Backend. */
  readonly kind: 'alsa' | 'wav' | 'null';
  /** Starts capturing. */
  openCapture(options: CaptureOptions): CaptureStream;
  /** Starts playback. */
  openPlayback(options: PlaybackOptions): PlaybackStream;
}
