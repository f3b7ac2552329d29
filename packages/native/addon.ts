/**
 * The raw addon as loaded from build/Release, with the shape the C side exports. Only the typed
 * wrappers (opus.ts, alsa.ts) use it.
 * @module
 */
import { createRequire } from 'node:module';

/** Versions of the C libraries the addon is linked against. */
export interface NativeVersions {
  /** libasound version string, e.g. "1.2.8". */
  alsa: string;
  /** libopus version string, e.g. "libopus 1.3.1". */
  opus: string;
}

/** One entry of `snd_device_name_hint(-1, "pcm")`. */
export interface RawPcmDevice {
  name: string;
  description: string;
  direction: 'both' | 'capture' | 'playback';
}

export interface RawOpusEncoder {
  encode(pcm: Int16Array): Uint8Array;
  encodeInto(pcm: Int16Array, out: Uint8Array): number;
  setCtl(request: number, value: number): void;
  getCtl(request: number): number;
  reset(): void;
  close(): void;
}

export interface RawOpusDecoder {
  decode(packet: Uint8Array): Int16Array;
  decodeFec(packet: Uint8Array, missingSamples: number): Int16Array;
  conceal(missingSamples: number): Int16Array;
  getCtl(request: number): number;
  setGain(q8dB: number): void;
  reset(): void;
  close(): void;
}

/** What `NativePcm.stats()` returns; times are CLOCK_MONOTONIC in ms. */
export interface RawPcmStats {
  xruns: number;
  delayFrames: number;
  ringFrames: number;
  ringCapacityFrames: number;
  deviceFrames: number;
  silenceFrames: number;
  droppedFrames: number;
  startMonotonicMs: number;
  nowMonotonicMs: number;
  periodFrames: number;
  bufferFrames: number;
  frameSamples: number;
  realtime: boolean;
  closed: boolean;
  error: string;
}

/**
 * Capture frames arrive as (frame, index); a fatal device error as (null, 0, code, message);
 * (null, -1) means more frames are waiting: call `drain()` on a later turn of the event loop.
 */
export type RawPcmCallback = (
  frame: Int16Array | null,
  firstFrameIndex: number,
  code?: string,
  message?: string,
) => void;

export interface RawPcm {
  write(frame: Int16Array): number;
  setFrameSamples(frames: number): void;
  setSink(sender: RawRtpSender | null): void;
  setSource(receiver: RawRtpReceiver | null): void;
  drain(): boolean;
  setFillSilence(fill: boolean): void;
  reconfigure(
    periodFrames: number,
    bufferFrames: number,
  ): {
    periodFrames: number;
    bufferFrames: number;
  };
  stats(): RawPcmStats;
  close(drain?: boolean): void;
}

export interface RawNativeTimer {
  arm(delayMs: number): void;
  disarm(): void;
  close(): void;
}

export interface RawSrtpGcm {
  sealRtp(header: Uint8Array, payload: Uint8Array, rolloverCounter: number): Buffer;
  openRtp(packet: Uint8Array, headerLength: number, rolloverCounter: number): Buffer | null;
  close(): void;
}

/** Options of the raw NativeRtpSender (see sender.ts for their meaning). */
export interface RawRtpSenderOptions {
  fd: number;
  address: Uint8Array;
  port: number;
  ssrc: number;
  payloadType: number;
  sequenceNumber: number;
  rolloverCounter: number;
  timestampOffset: number;
  key: Uint8Array;
  salt: Uint8Array;
  frameSamples: number;
  bitrate: number;
  complexity: number;
  /** TURN channel of the relayed edge; undefined: direct. */
  channel?: number | undefined;
}

export interface RawRtpSenderStats {
  packets: number;
  payloadBytes: number;
  sendErrors: number;
  lastErrno: number;
  lastTimestamp: number;
  lastSendMonotonicMs: number;
  startMonotonicMs: number;
  nowMonotonicMs: number;
  clockSamples: number;
  lbrrPackets: number;
}

export interface RawRtpSender {
  startPaced(pcm: Int16Array | null): void;
  set(name: string, value: number): void;
  stats(): RawRtpSenderStats;
  takePeak(): number;
  setProbing(on: boolean): void;
  takeProbes(): Float64Array;
  setDestination(to: {
    fd: number;
    address: Uint8Array;
    port: number;
    channel?: number | undefined;
  }): void;
  close(): void;
}

/** Options of the raw NativeRtpReceiver (see receiver.ts for their meaning). */
export interface RawRtpReceiverOptions {
  fd: number;
  address: Uint8Array;
  port: number;
  payloadTypes: Uint8Array;
  key: Uint8Array;
  salt: Uint8Array;
  jitter: {
    tickMs: number;
    minDelayMs: number;
    maxDelayMs: number;
    inOrderQuantile: number;
    accelerateAtTicks: number;
    initialDelayMs: number;
  };
  /** TURN channel of the relayed edge; undefined: direct. */
  channel?: number | undefined;
}

export interface RawRtpReceiverStats {
  jitterBuffer: Record<string, number>;
  packets: number;
  payloadBytes: number;
  authFailures: number;
  replayed: number;
  tooOld: number;
  forwarded: number;
  forwardDropped: number;
  socketErrors: number;
  recordsDropped: number;
  pcmDropped: number;
  playedSamples: number;
  silenceSamples: number;
  queuedSamples: number;
  leadMs: number;
  startMonotonicMs: number;
  nowMonotonicMs: number;
}

export interface RawRtpReceiver {
  start(): void;
  startPaced(keepPcm: boolean): void;
  setPeriodSamples(n: number): void;
  setBounds(minMs: number, maxMs: number): void;
  setVolumeQ16(q16: number): void;
  learnSsrc(
    ssrc: number,
    rolloverCounter: number,
    lastSequenceNumber: number,
    received?: Float64Array,
  ): void;
  ssrcStates(): Float64Array;
  insert(
    sequenceNumber: number,
    timestamp: number,
    ssrc: number,
    marker: boolean,
    payloadType: number,
    payload: Uint8Array,
    headerBytes: number,
    rolloverCounter: number,
  ): boolean;
  takeRecords(): Float64Array;
  takePcm(): Int16Array;
  setProbing(on: boolean): void;
  takeProbes(): { meta: Float64Array; pcm: Int16Array } | null;
  stats(): RawRtpReceiverStats;
  close(): void;
}

export interface Addon {
  versions(): NativeVersions;
  NativeRtpSender: new (
    options: RawRtpSenderOptions,
    onFrame?: (payload: Buffer, clockSamples: number, marker: boolean) => void,
  ) => RawRtpSender;
  NativeRtpReceiver: new (
    options: RawRtpReceiverOptions,
    onDatagram: (data: Buffer, address: string, port: number, family: string) => void,
  ) => RawRtpReceiver;
  NativeTimer: new (callback: () => void) => RawNativeTimer;
  NativeSrtpGcm: new (key: Uint8Array, salt: Uint8Array) => RawSrtpGcm;
  listPcmDevices(): RawPcmDevice[];
  opusPacketInfo(
    packet: Uint8Array,
    sampleRate: number,
  ): { frames: number; samples: number; channels: number; bandwidth: number };
  NativeOpusEncoder: new (
    sampleRate: number,
    channels: number,
    application: number,
  ) => RawOpusEncoder;
  NativeOpusDecoder: new (sampleRate: number, channels: number) => RawOpusDecoder;
  NativePcm: new (
    device: string,
    capture: boolean,
    sampleRate: number,
    channels: number,
    periodFrames: number,
    bufferFrames: number,
    frameSamples: number,
    ringFrames: number,
    fillSilence: boolean,
    callback: RawPcmCallback,
  ) => RawPcm;
}

const require = createRequire(import.meta.url);

/**
 * The loaded addon. `PARLOIR_NATIVE_ADDON` names another build of it, by absolute path: the
 * sanitizer suite (scripts/sanitize.ts) loads its ASan/UBSan and TSan builds this way.
 */
export const addon = require(
  process.env.PARLOIR_NATIVE_ADDON ?? './build/Release/parloir_native.node',
) as Addon;
