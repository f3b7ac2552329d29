/**
 * The narrow interfaces the call engine is wired through: the C media pipeline with its network
 * edge (call-pipeline.ts) and `@parloir/media`'s E-model and policy (media-quality.ts).
 */
import type { Suggestion as MediaSuggestion } from '@parloir/media';
import type { EchoState } from '@parloir/protocol';
import type { JitterBufferSnapshot } from '../qos-log/qos-log.ts';
import type { TransportStats } from '../transport/peer-transport.ts';

/** What one pull of the jitter buffer did (the C buffer's decisions, by name). */
export type PullDecision = 'normal' | 'fec' | 'plc' | 'accelerate' | 'expand' | 'silence' | 'reset';

/** One RTP packet the pipeline buffered (for receive statistics and probes). */
export interface PacketRecord {
  /** 16-bit RTP sequence number. */
  sequenceNumber: number;
  /** 32-bit RTP timestamp, 48 kHz ticks. */
  timestamp: number;
  /** Synchronisation source. */
  ssrc: number;
  /** Marker bit. */
  marker: boolean;
  /** Payload type. */
  payloadType: number;
  /** Payload bytes (padding removed). */
  payloadBytes: number;
  /** RTP header bytes. */
  headerBytes: number;
  /** `performance.now()` when it was read from the network, ms. */
  arrivalMs: number;
}

/** The capture's audio processing (issue 20), as the C pipeline runs it. */
export interface AudioProcessingSettings {
  /** webrtc AudioProcessing or speexdsp. */
  engine: 'webrtc' | 'speex';
  /** Echo cancellation. */
  aec: boolean;
  /** Noise suppression. */
  ns: boolean;
  /** Automatic gain control. */
  agc: boolean;
  /** Residual echo suppression (webrtc). */
  aecLevel: 'low' | 'moderate' | 'high';
  /** Noise suppression level, 0..3. */
  nsLevel: number;
}

/** A frame the pipeline sent (latency probes). */
export interface SentFrameProbe {
  /** Capture clock of its first sample, samples. */
  clockSamples: number;
  /** `performance.now()` when its last sample was captured, ms. */
  capturedAtMs: number;
  /** `performance.now()` when it was handed to the network edge, ms. */
  sentAtMs: number;
}

/** A tick the playback device pulled (latency probes). */
export interface PlayedTickProbe {
  /** The tick's audio, 48 kHz mono. */
  pcm: Int16Array;
  /** Playback device clock of its first sample, samples. */
  clockSamples: number;
  /** `performance.now()` of the pull, ms. */
  pulledAtMs: number;
  /** What the buffer did. */
  decision: PullDecision;
}

/**
 * A call's media pipeline: capture → gain/mute → Opus → RTP → SRTP → network edge, and network
 * edge → SRTP → jitter buffer → decode/FEC/PLC → playback, all in C (engine/call-pipeline.ts);
 * only the network edge varies (`direct` on the socket, or through `werift`). The engine sets it
 * up, changes its settings mid-call and reads its counters; it never sees a frame or a packet.
 */
export interface CallPipeline {
  /** Opens the network edge and starts both devices; `probing` records per-frame times. */
  start(
    initial: { frameMs: number; bitrateBps: number; jbMinMs: number; jbMaxMs: number },
    probing: boolean,
  ): void;
  /** `direct`, `relayed`, `werift (why)`, or `not started`. */
  readonly edge: string;
  /** When werift or Node internals the direct edge needs changed: the typed error. */
  readonly edgeError: { code: string; message: string } | undefined;
  /** Opus target bitrate, bit/s. */
  setBitrate(bps: number): void;
  /** In-band FEC on/off (RFC 6716 §2.1.7 LBRR). */
  setFec(on: boolean): void;
  /** Expected loss given to the encoder, percent 0..100. */
  setExpectedLoss(pct: number): void;
  /** Discontinuous transmission on/off. */
  setDtx(on: boolean): void;
  /** Frame size, samples at 48 kHz. */
  setFrameSamples(samples: number): void;
  /** Input gain, linear. */
  setGain(linear: number): void;
  /** Mute: frames are zeroed before encoding. */
  setMuted(on: boolean): void;
  /** Device period (ALSA period, paced device period), ms. */
  setPeriodMs(ms: number): void;
  /** Jitter-buffer delay bounds, ms. */
  setBounds(minMs: number, maxMs: number): void;
  /** Replaces the capture device during the call (alsa: to alsa:). */
  switchCapture(spec: string): Promise<void>;
  /** Replaces the playback device during the call (alsa: to alsa:). */
  switchPlayback(spec: string): Promise<void>;
  /** Output volume, linear (1 = as decoded). */
  setVolume(linear: number): void;
  /** The capture's audio processing; the capture thread applies it before its next frame. */
  setAudioProcessing(s: AudioProcessingSettings): void;
  /** The audio processing's state for the QoS snapshot (undefined before start). */
  echoState(): EchoState | undefined;
  /** The capture's peak |sample| (0..32768, after gain) since the last call; resets it. */
  takeInputPeak(): number;
  /** Capture device clock: samples captured so far. */
  readonly captureClockSamples: number;
  /** `performance.now()` of capture sample 0 and of playback sample 0, ms, once started. */
  readonly captureStartedAtMs: number | undefined;
  readonly playbackStartedAtMs: number | undefined;
  /** The jitter buffer's state. */
  jitterSnapshot(): JitterBufferSnapshot;
  /** Subscribes to the packets buffered (read a few times a second); returns the unsubscribe. */
  onRecords(listener: (records: PacketRecord[]) => void): () => void;
  /** Transport statistics (reads the records first). */
  stats(): Promise<TransportStats>;
  /** The probes recorded since the last call (with `probing`). */
  takeProbes(): { frames: SentFrameProbe[]; ticks: PlayedTickProbe[] };
  /** Stops the devices and the C pipeline. Idempotent. */
  stop(): Promise<void>;
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
