/**
 * libopus encoder and decoder (RFC 6716), typed. Frame sizes, rates and every CTL are checked in
 * C as well, so no JavaScript value can crash the process; failures are {@link OpusError}s.
 * @module
 */
import { addon, type RawOpusDecoder, type RawOpusEncoder } from './addon.ts';
import { fromNative, OpusError } from './errors.ts';

/** Sample rates libopus encodes and decodes at, in Hz. */
export type OpusSampleRate = 8000 | 12000 | 16000 | 24000 | 48000;
/** Encoder application (OPUS_APPLICATION_*). */
export type OpusApplication = 'voip' | 'audio' | 'restricted-lowdelay';
/** Signal hint (OPUS_SET_SIGNAL). */
export type OpusSignal = 'auto' | 'voice' | 'music';
/** Audio bandwidth (OPUS_SET_MAX_BANDWIDTH): 4, 6, 8, 12 or 20 kHz. */
export type OpusBandwidth = 'narrowband' | 'mediumband' | 'wideband' | 'superwideband' | 'fullband';
/** Frame durations the encoder accepts, in ms (RFC 6716 §2.1.4). */
export type OpusFrameMs = 2.5 | 5 | 10 | 20 | 40 | 60;

/** The frame durations, in ms, in increasing order. */
export const OPUS_FRAME_MS: readonly OpusFrameMs[] = [2.5, 5, 10, 20, 40, 60];

// From opus_defines.h.
const APPLICATION = { voip: 2048, audio: 2049, 'restricted-lowdelay': 2051 } as const;
const SIGNAL = { auto: -1000, voice: 3001, music: 3002 } as const;
const BANDWIDTH = {
  narrowband: 1101,
  mediumband: 1102,
  wideband: 1103,
  superwideband: 1104,
  fullband: 1105,
} as const;
const CTL = {
  application: 4000,
  bitrate: 4002,
  maxBandwidth: 4004,
  vbr: 4006,
  complexity: 4010,
  inbandFec: 4012,
  packetLossPerc: 4014,
  dtx: 4016,
  vbrConstraint: 4020,
  signal: 4024,
  lookahead: 4027,
  finalRange: 4031,
  lastPacketDuration: 4039,
  gain: 4045,
  inDtx: 4049,
} as const;

/** `bitrate` value meaning "let libopus choose" (OPUS_AUTO). */
export const OPUS_BITRATE_AUTO = -1000;
/** `bitrate` value meaning "as many bits as the frame allows" (OPUS_BITRATE_MAX). */
export const OPUS_BITRATE_MAX = -1;

function keyOf<T extends Record<string, number>>(table: T, value: number): keyof T {
  for (const [k, v] of Object.entries(table)) if (v === value) return k;
  throw new OpusError('OPUS_ERR_INTERNAL', `libopus returned unknown value ${value}`);
}

function lookup<T extends Record<string, number>>(table: T, key: unknown, what: string): number {
  if (typeof key !== 'string' || !Object.hasOwn(table, key)) {
    throw new OpusError(
      'OPUS_ERR_BAD_ARG',
      `${what} must be one of ${Object.keys(table).join(', ')}, got ${String(key)}`,
    );
  }
  return table[key] as number;
}

/** Samples per channel in one frame of `frameMs` at `sampleRate`; throws for other durations. */
export function opusFrameSamples(sampleRate: number, frameMs: number): number {
  if (!OPUS_FRAME_MS.includes(frameMs as OpusFrameMs)) {
    throw new OpusError(
      'OPUS_ERR_BAD_ARG',
      `frame duration must be one of ${OPUS_FRAME_MS.join(', ')} ms, got ${frameMs}`,
    );
  }
  return (sampleRate * frameMs) / 1000;
}

/** Encoder settings. Everything but `sampleRate`, `channels` and `application` can change later. */
export interface OpusEncoderOptions {
  /** Input sample rate, Hz. */
  sampleRate: OpusSampleRate;
  /** 1 (mono) or 2 (stereo, interleaved). */
  channels: 1 | 2;
  /** Coding mode; `voip` for calls. */
  application: OpusApplication;
  /** Frame duration, ms; `encode()` requires exactly this many samples. Default 20. */
  frameMs?: OpusFrameMs;
  /** Target bitrate, bit/s (500..512000), or {@link OPUS_BITRATE_AUTO}/{@link OPUS_BITRATE_MAX}. */
  bitrate?: number;
  /** 0 (fastest) .. 10 (best). libopus default 9 (10 on some builds). */
  complexity?: number;
  /** In-band forward error correction (LBRR, RFC 6716 §2.1.7). */
  fec?: boolean;
  /** Expected packet loss, percent (0..100); drives how much FEC is spent. */
  packetLossPerc?: number;
  /** Discontinuous transmission: tiny packets during silence. */
  dtx?: boolean;
  /** Variable bitrate (default true). */
  vbr?: boolean;
  /** Constrained VBR (default true): bounded bitrate swings when `vbr` is on. */
  cvbr?: boolean;
  /** Upper bound on the coded audio bandwidth. */
  maxBandwidth?: OpusBandwidth;
  /** Signal hint. */
  signal?: OpusSignal;
}

/** An Opus encoder. Call {@link OpusEncoder.close} when done (the GC frees it otherwise). */
export class OpusEncoder {
  #raw: RawOpusEncoder;
  #sampleRate: OpusSampleRate;
  #channels: 1 | 2;
  #frameMs: OpusFrameMs = 20;
  #frameLength: number;

  constructor(options: OpusEncoderOptions) {
    const app = lookup(APPLICATION, options.application, 'application');
    try {
      this.#raw = new addon.NativeOpusEncoder(options.sampleRate, options.channels, app);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
    this.#sampleRate = options.sampleRate;
    this.#channels = options.channels;
    this.#frameLength = opusFrameSamples(this.#sampleRate, 20) * this.#channels;
    if (options.frameMs !== undefined) this.frameMs = options.frameMs;
    if (options.bitrate !== undefined) this.bitrate = options.bitrate;
    if (options.complexity !== undefined) this.complexity = options.complexity;
    if (options.fec !== undefined) this.fec = options.fec;
    if (options.packetLossPerc !== undefined) this.packetLossPerc = options.packetLossPerc;
    if (options.dtx !== undefined) this.dtx = options.dtx;
    if (options.vbr !== undefined) this.vbr = options.vbr;
    if (options.cvbr !== undefined) this.cvbr = options.cvbr;
    if (options.maxBandwidth !== undefined) this.maxBandwidth = options.maxBandwidth;
    if (options.signal !== undefined) this.signal = options.signal;
  }

  /** Input sample rate, Hz. */
  get sampleRate(): OpusSampleRate {
    return this.#sampleRate;
  }
  /** Channel count. */
  get channels(): 1 | 2 {
    return this.#channels;
  }

  /** Frame duration, ms. Changing it takes effect at the next `encode()`. */
  get frameMs(): OpusFrameMs {
    return this.#frameMs;
  }
  set frameMs(ms: OpusFrameMs) {
    this.#frameLength = opusFrameSamples(this.#sampleRate, ms) * this.#channels;
    this.#frameMs = ms;
  }
  /** Samples per channel in one frame. */
  get frameSamples(): number {
    return this.#frameLength / this.#channels;
  }

  #set(ctl: number, value: number): void {
    try {
      this.#raw.setCtl(ctl, value);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }
  #get(ctl: number): number {
    try {
      return this.#raw.getCtl(ctl + 1);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }
  #bool(value: unknown, what: string): number {
    if (typeof value !== 'boolean') {
      throw new OpusError('OPUS_ERR_BAD_ARG', `${what} must be a boolean`);
    }
    return value ? 1 : 0;
  }

  /** Target bitrate, bit/s (reads back what libopus will use). */
  get bitrate(): number {
    return this.#get(CTL.bitrate);
  }
  set bitrate(bitsPerSecond: number) {
    this.#set(CTL.bitrate, bitsPerSecond);
  }
  /** Computational complexity, 0..10. */
  get complexity(): number {
    return this.#get(CTL.complexity);
  }
  set complexity(value: number) {
    this.#set(CTL.complexity, value);
  }
  /** In-band FEC on or off. */
  get fec(): boolean {
    return this.#get(CTL.inbandFec) !== 0;
  }
  set fec(on: boolean) {
    this.#set(CTL.inbandFec, this.#bool(on, 'fec'));
  }
  /** Expected packet loss, percent. */
  get packetLossPerc(): number {
    return this.#get(CTL.packetLossPerc);
  }
  set packetLossPerc(percent: number) {
    this.#set(CTL.packetLossPerc, percent);
  }
  /** Discontinuous transmission on or off. */
  get dtx(): boolean {
    return this.#get(CTL.dtx) !== 0;
  }
  set dtx(on: boolean) {
    this.#set(CTL.dtx, this.#bool(on, 'dtx'));
  }
  /** Variable bitrate on or off. */
  get vbr(): boolean {
    return this.#get(CTL.vbr) !== 0;
  }
  set vbr(on: boolean) {
    this.#set(CTL.vbr, this.#bool(on, 'vbr'));
  }
  /** Constrained VBR on or off. */
  get cvbr(): boolean {
    return this.#get(CTL.vbrConstraint) !== 0;
  }
  set cvbr(on: boolean) {
    this.#set(CTL.vbrConstraint, this.#bool(on, 'cvbr'));
  }
  /** Upper bound on the coded bandwidth. */
  get maxBandwidth(): OpusBandwidth {
    return keyOf(BANDWIDTH, this.#get(CTL.maxBandwidth));
  }
  set maxBandwidth(bw: OpusBandwidth) {
    this.#set(CTL.maxBandwidth, lookup(BANDWIDTH, bw, 'maxBandwidth'));
  }
  /** Signal hint. */
  get signal(): OpusSignal {
    return keyOf(SIGNAL, this.#get(CTL.signal));
  }
  set signal(s: OpusSignal) {
    this.#set(CTL.signal, lookup(SIGNAL, s, 'signal'));
  }
  /** Coding mode; libopus allows switching it only before the first `encode()`. */
  get application(): OpusApplication {
    return keyOf(APPLICATION, this.#get(CTL.application));
  }
  set application(app: OpusApplication) {
    this.#set(CTL.application, lookup(APPLICATION, app, 'application'));
  }
  /** Encoder lookahead, samples per channel at the encoder's rate. */
  get lookahead(): number {
    try {
      return this.#raw.getCtl(CTL.lookahead);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }
  /** Whether the last frame was coded as DTX silence. */
  get inDtx(): boolean {
    try {
      return this.#raw.getCtl(CTL.inDtx) !== 0;
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }

  #checkLength(pcm: Int16Array): void {
    if (pcm instanceof Int16Array && pcm.length !== this.#frameLength) {
      throw new OpusError(
        'OPUS_ERR_BAD_ARG',
        `pcm holds ${pcm.length} samples; a ${this.#frameMs} ms frame at ${this.#sampleRate} Hz × ${this.#channels} ch holds ${this.#frameLength}`,
      );
    }
  }

  /** Encodes one frame of interleaved PCM (exactly {@link frameSamples} × channels samples). */
  encode(pcm: Int16Array): Uint8Array {
    this.#checkLength(pcm);
    try {
      return this.#raw.encode(pcm);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }

  /** Encodes one frame into `out` without allocating; returns the packet length, bytes. */
  encodeInto(pcm: Int16Array, out: Uint8Array): number {
    this.#checkLength(pcm);
    try {
      return this.#raw.encodeInto(pcm, out);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }

  /** Resets the codec state (OPUS_RESET_STATE), as at a stream start; settings are kept. */
  reset(): void {
    try {
      this.#raw.reset();
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }

  /** Frees the encoder. Idempotent; later calls throw `OPUS_ERR_CLOSED`. */
  close(): void {
    this.#raw.close();
  }
}

/** Decoder settings. */
export interface OpusDecoderOptions {
  /** Output sample rate, Hz (any Opus stream decodes at any of these). */
  sampleRate: OpusSampleRate;
  /** 1 or 2 output channels. */
  channels: 1 | 2;
}

/** An Opus decoder with FEC recovery and packet-loss concealment. */
export class OpusDecoder {
  #raw: RawOpusDecoder;
  #sampleRate: OpusSampleRate;
  #channels: 1 | 2;

  constructor(options: OpusDecoderOptions) {
    try {
      this.#raw = new addon.NativeOpusDecoder(options.sampleRate, options.channels);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
    this.#sampleRate = options.sampleRate;
    this.#channels = options.channels;
  }

  /** Output sample rate, Hz. */
  get sampleRate(): OpusSampleRate {
    return this.#sampleRate;
  }
  /** Output channel count. */
  get channels(): 1 | 2 {
    return this.#channels;
  }

  /** Decodes one packet into interleaved PCM (its whole duration). */
  decode(packet: Uint8Array): Int16Array {
    try {
      return this.#raw.decode(packet);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }

  /**
   * Rebuilds a lost frame from the in-band FEC (LBRR) carried by the packet that followed it.
   * Returns exactly `missingSamples` per channel (a multiple of 2.5 ms); if `nextPacket` carries
   * no FEC, libopus conceals instead. Call `decode(nextPacket)` afterwards as usual.
   */
  decodeFec(nextPacket: Uint8Array, missingSamples: number): Int16Array {
    try {
      return this.#raw.decodeFec(nextPacket, missingSamples);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }

  /** Packet-loss concealment of exactly `missingSamples` per channel (a multiple of 2.5 ms). */
  conceal(missingSamples: number): Int16Array {
    try {
      return this.#raw.conceal(missingSamples);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }

  /** Duration of the last decoded or concealed packet, samples per channel. */
  get lastPacketDuration(): number {
    try {
      return this.#raw.getCtl(CTL.lastPacketDuration);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }

  /** Output gain, in Q8 dB (256 = +1 dB). */
  get gain(): number {
    try {
      return this.#raw.getCtl(CTL.gain);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }
  set gain(q8dB: number) {
    try {
      this.#raw.setGain(q8dB);
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }

  /** Resets the decoder state (OPUS_RESET_STATE), e.g. after a stream switch. */
  reset(): void {
    try {
      this.#raw.reset();
    } catch (err) {
      throw fromNative(err, 'opus');
    }
  }

  /** Frees the decoder. Idempotent; later calls throw `OPUS_ERR_CLOSED`. */
  close(): void {
    this.#raw.close();
  }
}

/** What the TOC and frame count of a packet say (RFC 6716 §3.1), without decoding it. */
export interface OpusPacketInfo {
  /** Frames in the packet. */
  frames: number;
  /** Duration, samples per channel at the rate asked for. */
  samples: number;
  /** Coded channels. */
  channels: number;
  /** Coded bandwidth. */
  bandwidth: OpusBandwidth;
}

/** Parses a packet's header; throws `OPUS_ERR_INVALID_PACKET` for a malformed one. */
export function opusPacketInfo(packet: Uint8Array, sampleRate: OpusSampleRate): OpusPacketInfo {
  try {
    const r = addon.opusPacketInfo(packet, sampleRate);
    return { ...r, bandwidth: keyOf(BANDWIDTH, r.bandwidth) };
  } catch (err) {
    throw err instanceof OpusError ? err : fromNative(err, 'opus');
  }
}
