/**
 * Audio processing for 10 ms mono frames: echo cancellation, noise suppression, automatic gain
 * control and a high-pass filter, by Debian's libwebrtc-audio-processing (the WebRTC
 * AudioProcessing module, 0.3 API, the one PulseAudio's and PipeWire's echo-cancel modules use)
 * or by speexdsp (MDF echo canceller + preprocessor) as the baseline. src/apm.cc and
 * src/speex_ec.c. Synchronous: each call processes one frame on the calling thread.
 *
 * Order per 10 ms: `processReverse(far)` with the frame being played, then `process(near)` with
 * the frame captured at the same time. The bulk delay between them (device buffers, the room)
 * goes to `setStreamDelayMs`; `@parloir/media`'s `estimateBulkDelay` finds it from the signals.
 * @module
 */
import { addon } from './addon.ts';
import { NativeError } from './errors.ts';

/** Codes raised by {@link AudioProcessor}. */
export type ApmErrorCode =
  | 'APM_ERR_BAD_OPTION'
  | 'APM_ERR_UNSUPPORTED_RATE'
  | 'APM_ERR_BAD_ARG'
  | 'APM_ERR_CLOSED'
  | 'APM_ERR_STATE'
  | 'APM_ERR_INTERNAL';

/**
 * An {@link AudioProcessor} or `AudioPipe` call failed: bad option, unsupported rate, bad frame,
 * after close, a second pipe on a sender or receiver (APM_ERR_STATE).
 */
export class ApmError extends NativeError {
  declare readonly code: ApmErrorCode;
  constructor(code: ApmErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ApmError';
  }
}

/** The processing engines. */
export type ApmEngine = 'webrtc' | 'speex';

/** Options of {@link AudioProcessor}. */
export interface AudioProcessorOptions {
  /** Engine. Default 'webrtc'. */
  engine?: ApmEngine;
  /** Sample rate, Hz: 8000, 16000, 32000 or 48000. Default 48000. Frames are rate/100 samples. */
  sampleRate?: number;
  /** Echo cancellation. Default true. */
  aec?: boolean;
  /** Noise suppression. Default true. */
  ns?: boolean;
  /** Automatic gain control (adaptive digital for webrtc). Default false. */
  agc?: boolean;
  /** High-pass filter (webrtc only; speex has none). Default true. */
  highPass?: boolean;
  /** Noise suppression level 0 (low) … 3 (very high); speex: 6, 12, 18, 25 dB. Default 2. */
  nsLevel?: number;
  /**
   * webrtc only: how hard the non-linear stage suppresses residual echo: 'low', 'moderate' or
   * 'high'. Higher removes more echo and more of the near end in double talk. Default 'high'.
   */
  aecLevel?: 'low' | 'moderate' | 'high';
  /** speex only: adaptive filter length, ms, 20..1000. Default 200. */
  tailMs?: number;
  /**
   * webrtc only: the AEC's extended filter (longer echo tails; about 15 % of the processing's
   * CPU, see bench:aec). Default true.
   */
  extendedFilter?: boolean;
  /** Bulk delay from far to capture, ms (see setStreamDelayMs). Default 0. */
  delayMs?: number;
}

/** Counters and the echo canceller's state. NaN where the engine gives no value. */
export interface AudioProcessorStats {
  engine: ApmEngine;
  /** Capture frames processed. */
  frames: number;
  /** Far frames fed. */
  reverseFrames: number;
  /** Bulk delay in use, ms. */
  delayMs: number;
  /** Frames the library refused (webrtc error codes); `lastError` is the last code. */
  errors: number;
  lastError: number;
  /**
   * ERLE measured here for both engines, dB: smoothed (~1 s) capture power over output power,
   * over frames while the far end plays. Includes near-end speech, so it is low in double talk.
   */
  measuredErleDb: number;
  /** webrtc's own ERLE and ERL averages, dB (NaN for speex). */
  libraryErleDb: number;
  libraryErlDb: number;
  /** webrtc's delay-agnostic estimate of the remaining delay (median), ms (NaN for speex). */
  libraryDelayMs: number;
  /** webrtc: fraction of delay estimates it rates poor (NaN for speex). */
  fractionPoorDelays: number;
  /** webrtc: the last frame held echo (false for speex). */
  streamHasEcho: boolean;
}

interface RawApm {
  processReverse(far: Int16Array): void;
  process(near: Int16Array): void;
  setStreamDelayMs(ms: number): void;
  stats(): AudioProcessorStats;
  close(): void;
}

type RawApmClass = new (
  engine: string,
  sampleRate: number,
  aec: boolean,
  ns: boolean,
  agc: boolean,
  highPass: boolean,
  nsLevel: number,
  tailMs: number,
  aecLevel: number,
  extendedFilter: boolean,
) => RawApm;

const CODES = new Set<string>([
  'APM_ERR_BAD_OPTION',
  'APM_ERR_UNSUPPORTED_RATE',
  'APM_ERR_BAD_ARG',
  'APM_ERR_CLOSED',
  'APM_ERR_STATE',
  'APM_ERR_INTERNAL',
]);

/**
 * Runs an addon call of the audio processing (this module's and audio-pipe.ts's); a throw becomes
 * an ApmError with the addon's code (APM_ERR_BAD_ARG if it has none of ours).
 */
export function callApm<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    const raw: unknown =
      err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
    const code =
      typeof raw === 'string' && CODES.has(raw) ? (raw as ApmErrorCode) : 'APM_ERR_BAD_ARG';
    throw new ApmError(code, err instanceof Error ? err.message : String(err), { cause: err });
  }
}

const AEC_LEVELS = ['low', 'moderate', 'high'];

const KEYS = new Set([
  'aecLevel',
  'engine',
  'sampleRate',
  'aec',
  'ns',
  'agc',
  'highPass',
  'nsLevel',
  'tailMs',
  'delayMs',
  'extendedFilter',
]);

function bool(v: unknown, name: string, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new ApmError('APM_ERR_BAD_OPTION', `${name} must be a boolean`);
  return v;
}

/** One echo canceller / noise suppressor / AGC for one mono stream. Call close() when done. */
export class AudioProcessor {
  #raw: RawApm;
  /** Samples per frame (10 ms). */
  readonly frameSamples: number;
  /** Sample rate, Hz. */
  readonly sampleRate: number;
  /** Engine in use. */
  readonly engine: ApmEngine;

  constructor(options: AudioProcessorOptions = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ApmError('APM_ERR_BAD_OPTION', 'options must be an object');
    }
    for (const k of Object.keys(options)) {
      if (!KEYS.has(k)) throw new ApmError('APM_ERR_BAD_OPTION', `unknown option ${k}`);
    }
    const engine = options.engine ?? 'webrtc';
    if (engine !== 'webrtc' && engine !== 'speex') {
      throw new ApmError('APM_ERR_BAD_OPTION', `engine must be 'webrtc' or 'speex'`);
    }
    const rate = options.sampleRate ?? 48000;
    const Raw = (addon as unknown as { NativeApm: RawApmClass }).NativeApm;
    this.#raw = callApm(
      () =>
        new Raw(
          engine,
          rate,
          bool(options.aec, 'aec', true),
          bool(options.ns, 'ns', true),
          bool(options.agc, 'agc', false),
          bool(options.highPass, 'highPass', true),
          options.nsLevel ?? 2,
          options.tailMs ?? 200,
          AEC_LEVELS.indexOf(options.aecLevel ?? 'high'),
          bool(options.extendedFilter, 'extendedFilter', true),
        ),
    );
    this.engine = engine;
    this.sampleRate = rate;
    this.frameSamples = rate / 100;
    if (options.delayMs !== undefined) this.setStreamDelayMs(options.delayMs);
  }

  /** Feeds one far (played) frame of `frameSamples` samples: the echo reference. */
  processReverse(far: Int16Array): void {
    callApm(() => this.#raw.processReverse(far));
  }

  /** Processes one capture frame of `frameSamples` samples in place. */
  process(near: Int16Array): void {
    callApm(() => this.#raw.process(near));
  }

  /** Sets the bulk delay from far to capture, ms (0..500 webrtc, 0..~1980 speex at 48 kHz). */
  setStreamDelayMs(ms: number): void {
    callApm(() => this.#raw.setStreamDelayMs(ms));
  }

  /** Counters and echo canceller state. */
  stats(): AudioProcessorStats {
    return callApm(() => this.#raw.stats());
  }

  /** Frees the engine; later calls throw APM_ERR_CLOSED. Idempotent. */
  close(): void {
    callApm(() => this.#raw.close());
  }
}
