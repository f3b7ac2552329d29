/**
 * The narrow interfaces the call engine is wired through. Each is implemented by an adapter over
 * another package: native Opus and ALSA, `@parloir/media`'s jitter buffer, E-model and policy,
 * and `src/audio`'s devices.
 */
import type { Suggestion as MediaSuggestion } from '@parloir/media';
import type { NativeRtpReceiver, NativeRtpSender } from '@parloir/native';
import type { JitterBufferSnapshot } from '../qos-log/qos-log.ts';

/** An Opus encoder at 48 kHz mono whose settings change between frames. */
export interface EncoderPort {
  /** Encodes one frame of `frameSamples` samples (10/20/40/60 ms at 48 kHz). */
  encode(pcm: Int16Array): Buffer;
  /** Target bitrate, bit/s. */
  setBitrate(bps: number): void;
  /** In-band FEC on/off (RFC 6716 §2.1.7 LBRR). */
  setFec(on: boolean): void;
  /** Expected loss given to the encoder, percent 0..100. */
  setExpectedLoss(pct: number): void;
  /** Discontinuous transmission on/off. */
  setDtx(on: boolean): void;
}

/** An Opus decoder at 48 kHz mono (the shape of `@parloir/media`'s `AudioDecoder`). */
export interface DecoderPort {
  /** Decodes one packet. */
  decode(packet: Uint8Array): Int16Array;
  /** Rebuilds the frame before `nextPacket` from its FEC data, `samples` long. */
  decodeFec(nextPacket: Uint8Array, samples: number): Int16Array;
  /** Packet-loss concealment of exactly `samples` samples. */
  conceal(samples: number): Int16Array;
  /** Forgets decoder state (new stream). */
  reset(): void;
}

/** One RTP packet as handed to the jitter buffer. */
export interface JitterPacket {
  /** 16-bit RTP sequence number. */
  sequenceNumber: number;
  /** 32-bit RTP timestamp, 48 kHz ticks. */
  timestamp: number;
  /** Marker bit. */
  marker: boolean;
  /** Synchronisation source (a change resets the buffer). */
  ssrc?: number;
  /** Opus payload. */
  payload: Buffer;
}

/** What one pull of the jitter buffer did (a subset of the media core's decisions). */
export type PullDecision = 'normal' | 'fec' | 'plc' | 'accelerate' | 'expand' | 'silence' | 'reset';

/** A jitter buffer that owns the decoder and gives one tick of PCM per pull. */
export interface JitterBufferPort {
  /** Inserts a packet that arrived at `arrivalMs` (monotonic ms). */
  push(packet: JitterPacket, arrivalMs: number): void;
  /** Writes exactly `out.length` samples of playout into `out`; returns what happened. */
  pull(out: Int16Array, nowMs: number): PullDecision;
  /** Changes min/max delay bounds, ms. */
  setBounds(minMs: number, maxMs: number): void;
  /** Current state. */
  snapshot(): JitterBufferSnapshot;
}

/** A capture device delivering fixed-size frames stamped with its own frame clock. */
export interface CapturePort {
  /**
   * Starts delivering frames of `frameSamples` samples. `clockSamples` is the device frame
   * clock (samples captured since start) at the first sample of the frame.
   */
  start(onFrame: (pcm: Int16Array, clockSamples: number) => void): void;
  /** Changes the frame size delivered, samples. */
  setFrameSamples(samples: number): void;
  /** Changes the device period, ms (ALSA period; no-op for files). */
  setPeriodMs(ms: number): void;
  /**
   * Optional: whether {@link startNative} can work with this device (checked before a native
   * sender is opened).
   */
  canStartNative?(): boolean;
  /**
   * Optional: starts capturing into a native RTP sender, whose thread then encodes and sends
   * each frame without JavaScript (instead of {@link start}).
   */
  startNative?(sender: NativeRtpSender): void;
  /** Optional: `performance.now()` of capture sample 0 (the device clock's origin), ms, once started. */
  readonly startedAtMs?: number | undefined;
  /** Stops; idempotent. */
  close(): Promise<void>;
}

/** A playback device that pulls PCM on its own clock. */
export interface PlaybackPort {
  /**
   * Starts playout. The device calls `pull(out, clockSamples, playAtMs)` each period to fill
   * `out`; `clockSamples` is the device frame clock (samples played since start) at `out[0]`, and
   * `playAtMs` the `performance.now()` time (ms) at which `out[0]` will play.
   */
  start(pull: (out: Int16Array, clockSamples: number, playAtMs: number) => void): void;
  /** Changes the device period, ms. */
  setPeriodMs(ms: number): void;
  /**
   * Optional: pull now, while the process is awake anyway, enough to last `aheadMs` beyond the
   * device's usual queue (the engine calls it when a packet arrives). Without it the device pulls
   * on its own clock only.
   */
  service?(aheadMs: number): void;
  /** Stops; idempotent. */
  /**
   * Optional: whether {@link startNative} can work with this device (checked before a native
   * receiver is opened).
   */
  canStartNative?(): boolean;
  /**
   * Optional: starts playout of a native receiver's audio, pulled on a native thread (instead
   * of {@link start}).
   */
  startNative?(receiver: NativeRtpReceiver): void;
  /** Optional: `performance.now()` at which playback sample 0 played, ms, once started. */
  readonly startedAtMs?: number | undefined;
  close(): Promise<void>;
}

/** The E-model and adaptation policy as the engine needs them. */
export interface QualityModelPort {
  /**
   * R factor and MOS from one-way delay (ms), loss left after FEC (%), burst ratio (1 = random)
   * and the codec configuration (bit/s, FEC), which sets Ie and Bpl.
   */
  assess(input: {
    oneWayDelayMs: number;
    lossPct: number;
    burstRatio: number;
    bitrateBps: number;
    fec: boolean;
  }): {
    rFactor: number;
    mos: number;
    grade: string;
  };
  /** Parameter changes and suggestions for the last window. */
  adapt(input: AdaptInput): AdaptOutput;
}

/** Input of the adaptation policy: one second of QoS plus the current settings. */
export interface AdaptInput {
  /** Loss of our stream reported by the peer, percent. */
  remoteLossPct: number;
  /** Loss of the incoming stream, percent. */
  lossPct: number;
  /** Interarrival jitter, ms. */
  jitterMs: number;
  /** RTT, ms. */
  rttMs: number;
  /** Estimated mouth-to-ear delay, ms. */
  oneWayDelayMs: number;
  /** Packets that arrived too late to play in the last window. */
  latePackets: number;
  /** Jitter-buffer target delay now, ms. */
  jbTargetMs: number;
  /** Current bitrate, bit/s. */
  bitrateBps: number;
  /** FEC on. */
  fec: boolean;
  /** Expected loss given to the encoder, %. */
  expectedLossPct: number;
  /** Frame, ms. */
  frameMs: number;
  /** Jitter-buffer minimum, ms. */
  jbMinMs: number;
}

/** Output of the adaptation policy. */
export interface AdaptOutput {
  /** Changes to apply (absent = keep). */
  changes: {
    bitrateBps?: number;
    fec?: boolean;
    expectedLossPct?: number;
    frameMs?: number;
    jbMinMs?: number;
  };
  /** Suggestions to show: en/fr text, a stable `id` and the change each proposes. */
  suggestions: MediaSuggestion[];
}
