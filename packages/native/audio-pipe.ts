/**
 * A call's audio processing in the C pipeline (src/apm_pipe.cc, issue 20): echo cancellation,
 * noise suppression and automatic gain control on the capture thread, before gain and Opus,
 * against the far-end reference that the playback thread writes (what the device plays, after
 * volume, placed by its play time: `snd_pcm_delay` for ALSA, the paced clock for `wav:`/`null`).
 * The engine is the one {@link AudioProcessor} runs offline (src/apm_engine.cc): webrtc
 * AudioProcessing or speexdsp. Settings change at any time; the capture thread applies them
 * before its next frame.
 *
 * For tests, a paced capture (`wav:`/`null`) can hear the paced playback through a simulated
 * room ({@link AudioPipeRoom}): the acoustic echo loop of a laptop.
 * @module
 */
import { addon } from './addon.ts';
import { ApmError, callApm, type ApmEngine } from './apm.ts';
import type { NativeRtpReceiver } from './receiver.ts';
import type { NativeRtpSender } from './sender.ts';

/** What {@link AudioPipe} does; every field is required (the engine's settings in force). */
export interface AudioPipeSettings {
  /** Engine: 'webrtc' (AudioProcessing 0.3) or 'speex' (speexdsp, the baseline). */
  engine: ApmEngine;
  /** Echo cancellation. */
  aec: boolean;
  /** Noise suppression. */
  ns: boolean;
  /** Automatic gain control (webrtc: adaptive digital). */
  agc: boolean;
  /** webrtc: residual echo suppression 'low', 'moderate' or 'high'. */
  aecLevel: 'low' | 'moderate' | 'high';
  /** Noise suppression level 0 (low) … 3 (very high); speex: 6, 12, 18, 25 dB. */
  nsLevel: number;
  /** webrtc: the AEC's extended filter (see AudioProcessorOptions). Default true. */
  extendedFilter?: boolean;
}

/** A simulated room between the paced playback and the paced capture (tests). */
export interface AudioPipeRoom {
  /** Impulse response, 48 kHz taps (1..4800), e.g. a truncated `@parloir/media` Room.rir. */
  ir: Float32Array;
  /** Bulk delay before the response, ms (0..500). */
  delayMs: number;
  /** Linear gain of the echo (0..4). */
  gain: number;
}

/** Counters and the echo canceller's state. NaN where there is no value yet. */
export interface AudioPipeStats {
  /** 'off' when no processing is on, else the engine running. */
  engine: 'off' | ApmEngine;
  /** 10 ms capture frames processed. */
  frames: number;
  /** Capture frames left unprocessed: not a multiple of 10 ms (2.5 and 5 ms Opus frames). */
  bypassedFrames: number;
  /** 10 ms reference frames that were not (all) in the ring: playback not started or starved. */
  referenceMissingFrames: number;
  /** Samples the playback handed over as reference. */
  farSamples: number;
  /** Times the reference's play clock jumped more than 10 ms (device restarted, starved). */
  farResyncs: number;
  /** New engines built (at start and on changes that cannot apply in place). */
  rebuilds: number;
  /** Engines the library refused to build (processing is then off). */
  failures: number;
  /** Frames the library refused. */
  errors: number;
  /**
   * ERLE measured over the canceller, dB: capture power over output power per 10 ms frame, the
   * 80th percentile over the last 100 frames in which the far end played (frames of double
   * talk, where the near end speaks too, fall in the lower part). NaN with the AEC off.
   */
  measuredErleDb: number;
  /** webrtc's own ERLE average, dB. */
  libraryErleDb: number;
  /** webrtc's delay-agnostic estimate of the delay left after the device's, ms. */
  libraryDelayMs: number;
  /** webrtc: the last frame held echo. */
  streamHasEcho: boolean;
  /** The far end played ≥ 1 s (100 frames) since the AEC started and the ERLE is ≥ 10 dB. */
  converged: boolean;
}

interface RawAudioPipe {
  set(...args: unknown[]): void;
  attach(sender: unknown, receiver: unknown): void;
  stats(): AudioPipeStats;
  close(): void;
}
type RawAudioPipeClass = new (...args: unknown[]) => RawAudioPipe;

const AEC_LEVELS = ['low', 'moderate', 'high'] as const;

/**
 * Whether calls run webrtc's AEC with its extended filter (`extendedFilter` left out). bench:aec
 * measures both (its 'webrtc-ext' row is the other choice).
 */
export const DEFAULT_EXTENDED_FILTER = true;

function args(s: AudioPipeSettings): unknown[] {
  if (typeof s !== 'object' || s === null) {
    throw new ApmError('APM_ERR_BAD_OPTION', 'settings must be an object');
  }
  const level = AEC_LEVELS.indexOf(s.aecLevel);
  if (level < 0) {
    throw new ApmError('APM_ERR_BAD_OPTION', `aecLevel must be low, moderate or high`);
  }
  // High-pass on whenever anything is (as browsers do); speex's filter length and no delay hint:
  // the reference is placed by play time and the canceller finds the room's delay.
  return [
    s.engine,
    s.aec,
    s.ns,
    s.agc,
    true,
    s.nsLevel,
    level,
    200,
    0,
    s.extendedFilter ?? DEFAULT_EXTENDED_FILTER,
  ];
}

/** The audio processing of one call's capture, fed by its playback. Call close() when done. */
export class AudioPipe {
  #raw: RawAudioPipe;
  #settings: AudioPipeSettings;

  constructor(settings: AudioPipeSettings, room?: AudioPipeRoom) {
    const Raw = (addon as unknown as { NativeAudioPipe: RawAudioPipeClass }).NativeAudioPipe;
    const a = args(settings);
    if (room !== undefined && (typeof room !== 'object' || room === null)) {
      throw new ApmError('APM_ERR_BAD_OPTION', 'room must be an object');
    }
    this.#raw = callApm(() => new Raw(...a, room?.ir ?? null, room?.delayMs ?? 0, room?.gain ?? 0));
    this.#settings = { ...settings };
  }

  /** Settings in force (as last set). */
  get settings(): AudioPipeSettings {
    return { ...this.#settings };
  }

  /** Changes the settings; the capture thread applies them before its next frame. */
  set(settings: AudioPipeSettings): void {
    const a = args(settings);
    callApm(() => this.#raw.set(...a));
    this.#settings = { ...settings };
  }

  /**
   * Runs `sender`'s capture through this pipe and takes `receiver`'s playback as its reference
   * (either may be omitted). Once each: APM_ERR_STATE if one already has a pipe.
   */
  attach(sender: NativeRtpSender | undefined, receiver: NativeRtpReceiver | undefined): void {
    callApm(() => this.#raw.attach(sender?.raw ?? null, receiver?.raw ?? null));
  }

  /** Counters and the canceller's state. */
  stats(): AudioPipeStats {
    return callApm(() => this.#raw.stats());
  }

  /** Stops processing (frames then pass as captured). Idempotent. */
  close(): void {
    callApm(() => this.#raw.close());
  }
}
