/**
 * Adapters from `@parloir/native` (libopus and ALSA) to the engine's ports.
 */
import {
  OpusDecoder,
  OpusEncoder,
  PcmCapture,
  PcmPlayback,
  type OpusFrameMs,
} from '@parloir/native';
import { EngineError } from './errors.ts';
import type { CapturePort, DecoderPort, EncoderPort, PlaybackPort } from './ports.ts';

const RATE = 48_000;
const SAMPLES_PER_MS = RATE / 1000;

/** libopus encoder, 48 kHz mono, voip mode. The frame size follows the PCM handed in. */
export class NativeOpusEncoder implements EncoderPort {
  // Complexity 5: about half the CPU of libopus's default 10, for a small loss in quality on
  // speech at call bitrates (the bench's CPU target is 3 % of a core per client).
  #enc = new OpusEncoder({
    sampleRate: RATE,
    channels: 1,
    application: 'voip',
    signal: 'voice',
    complexity: 5,
  });
  #out = new Uint8Array(1500);

  encode(pcm: Int16Array): Buffer {
    if (pcm.length !== this.#enc.frameSamples) {
      this.#enc.frameMs = (pcm.length / SAMPLES_PER_MS) as OpusFrameMs;
    }
    const n = this.#enc.encodeInto(pcm, this.#out);
    // A copy: werift keeps the payload (RTP history for NACK) after sendRtp returns.
    return Buffer.from(this.#out.subarray(0, n));
  }
  setBitrate(bps: number): void {
    this.#enc.bitrate = bps;
  }
  setFec(on: boolean): void {
    this.#enc.fec = on;
  }
  setExpectedLoss(pct: number): void {
    this.#enc.packetLossPerc = Math.round(pct);
  }
  setDtx(on: boolean): void {
    this.#enc.dtx = on;
  }
  /** Frees the encoder. */
  close(): void {
    this.#enc.close();
  }
}

/** libopus decoder, 48 kHz mono, with FEC and exact-length PLC. */
export class NativeOpusDecoder implements DecoderPort {
  #dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  decode(packet: Buffer): Int16Array {
    return this.#dec.decode(packet);
  }
  decodeFec(nextPacket: Buffer, samples: number): Int16Array {
    return this.#dec.decodeFec(nextPacket, samples);
  }
  conceal(samples: number): Int16Array {
    return this.#dec.conceal(samples);
  }
}

/** ALSA capture (`alsa:NAME`). */
export class AlsaCapture implements CapturePort {
  #device: string;
  #frameSamples: number;
  #periodMs = 10;
  #pcm: PcmCapture | undefined;

  constructor(options: { device: string; frameSamples: number }) {
    this.#device = options.device;
    this.#frameSamples = options.frameSamples;
  }

  start(onFrame: (pcm: Int16Array, clockSamples: number) => void): void {
    try {
      this.#pcm = new PcmCapture({
        device: this.#device,
        sampleRate: RATE,
        channels: 1,
        periodFrames: this.#periodMs * SAMPLES_PER_MS,
        frameSamples: this.#frameSamples,
        onFrame,
      });
    } catch (err) {
      throw new EngineError('ENGINE_ERR_DEVICE', `capture alsa:${this.#device}: ${String(err)}`, {
        cause: err,
      });
    }
  }
  setFrameSamples(samples: number): void {
    this.#frameSamples = samples;
    if (this.#pcm !== undefined) this.#pcm.frameSamples = samples;
  }
  setPeriodMs(ms: number): void {
    this.#periodMs = ms;
    this.#pcm?.reconfigure({ periodFrames: ms * SAMPLES_PER_MS });
  }
  close(): Promise<void> {
    this.#pcm?.close();
    return Promise.resolve();
  }
}

/**
 * ALSA playback (`alsa:NAME`). The native stream is push-based; a timer keeps its ring at about
 * two periods, pulling 10 ms ticks from the jitter buffer, so the device clock sets the pace:
 * a tick is pulled only when the device has consumed one.
 */
export class AlsaPlayback implements PlaybackPort {
  #device: string;
  #periodMs = 10;
  #pcm: PcmPlayback | undefined;
  #timer: NodeJS.Timeout | undefined;
  #written = 0;

  constructor(options: { device: string }) {
    this.#device = options.device;
  }

  start(pull: (out: Int16Array, clockSamples: number) => void): void {
    try {
      this.#pcm = new PcmPlayback({
        device: this.#device,
        sampleRate: RATE,
        channels: 1,
        periodFrames: this.#periodMs * SAMPLES_PER_MS,
      });
    } catch (err) {
      throw new EngineError('ENGINE_ERR_DEVICE', `playback alsa:${this.#device}: ${String(err)}`, {
        cause: err,
      });
    }
    const tick = 10 * SAMPLES_PER_MS;
    const pump = (): void => {
      const pcm = this.#pcm;
      if (pcm === undefined) return;
      const st = pcm.stats();
      const target = Math.max(2 * st.periodFrames, 2 * tick);
      let queued = st.ringFrames;
      while (queued + tick <= target) {
        const out = new Int16Array(tick);
        pull(out, this.#written);
        pcm.write(out);
        this.#written += tick;
        queued += tick;
      }
    };
    // Half a period: the ring never drains below one period between two pumps.
    this.#timer = setInterval(pump, Math.max(2, this.#periodMs / 2));
  }
  setPeriodMs(ms: number): void {
    this.#periodMs = ms;
    this.#pcm?.reconfigure({ periodFrames: ms * SAMPLES_PER_MS });
  }
  close(): Promise<void> {
    clearInterval(this.#timer);
    this.#pcm?.close();
    this.#pcm = undefined;
    return Promise.resolve();
  }
}
