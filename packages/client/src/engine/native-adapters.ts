/**
 * Adapters from `@parloir/native`'s libopus to the engine's ports. (Devices, ALSA included, go
 * through `src/audio`: see `audio-devices.ts`.)
 */
import { OpusDecoder, OpusEncoder, type OpusFrameMs } from '@parloir/native';
import type { DecoderPort, EncoderPort } from './ports.ts';

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

/**
 * libopus decoder, 48 kHz mono, with FEC and exact-length PLC. Also `@parloir/media`'s
 * `AudioDecoder` (the jitter buffer drives it).
 */
export class NativeOpusDecoder implements DecoderPort {
  #dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  decode(packet: Uint8Array): Int16Array {
    return this.#dec.decode(packet);
  }
  decodeFec(nextPacket: Uint8Array, samples: number): Int16Array {
    return this.#dec.decodeFec(nextPacket, samples);
  }
  conceal(samples: number): Int16Array {
    return this.#dec.conceal(samples);
  }
  reset(): void {
    this.#dec.reset();
  }
}
