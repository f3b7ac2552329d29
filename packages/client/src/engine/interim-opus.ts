/**
 * Interim Opus encoder/decoder over `@discordjs/opus` (already installed for the codec bench),
 * used until the native addon's OpusEncoder/OpusDecoder land. Its binding has no FEC decode and
 * no PLC entry point, so `decodeFec` falls back to concealment and `conceal` repeats the last
 * decoded frame with a fade: audibly worse than libopus PLC, but exact in length.
 */
import discordOpus from '@discordjs/opus';
import type { DecoderPort, EncoderPort } from './ports.ts';

// CommonJS module: the class is a property of the default export.
const DiscordOpus = discordOpus.OpusEncoder;

/** libopus CTL request numbers (opus_defines.h). */
const OPUS_SET_INBAND_FEC = 4012;
const OPUS_SET_PACKET_LOSS_PERC = 4014;
const OPUS_SET_DTX = 4016;
const OPUS_SET_SIGNAL = 4024;
const OPUS_SIGNAL_VOICE = 3001;

/** Opus encoder at 48 kHz mono. */
export class InterimOpusEncoder implements EncoderPort {
  #enc = new DiscordOpus(48_000, 1);
  constructor() {
    this.#enc.applyEncoderCTL(OPUS_SET_SIGNAL, OPUS_SIGNAL_VOICE);
  }
  encode(pcm: Int16Array): Buffer {
    return this.#enc.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
  }
  setBitrate(bps: number): void {
    this.#enc.setBitrate(bps);
  }
  setFec(on: boolean): void {
    this.#enc.applyEncoderCTL(OPUS_SET_INBAND_FEC, on ? 1 : 0);
  }
  setExpectedLoss(pct: number): void {
    this.#enc.applyEncoderCTL(OPUS_SET_PACKET_LOSS_PERC, Math.round(pct));
  }
  setDtx(on: boolean): void {
    this.#enc.applyEncoderCTL(OPUS_SET_DTX, on ? 1 : 0);
  }
}

/** Opus decoder at 48 kHz mono. */
export class InterimOpusDecoder implements DecoderPort {
  #dec = new DiscordOpus(48_000, 1);
  #last: Int16Array = new Int16Array(960);
  decode(packet: Buffer): Int16Array {
    const b = this.#dec.decode(packet);
    const pcm = new Int16Array(b.buffer, b.byteOffset, b.byteLength >> 1);
    this.#last = pcm;
    return pcm;
  }
  decodeFec(_nextPacket: Buffer, samples: number): Int16Array {
    return this.conceal(samples);
  }
  conceal(samples: number): Int16Array {
    const out = new Int16Array(samples);
    const src = this.#last;
    for (let i = 0; i < samples; i++) {
      out[i] = ((src[i % src.length] ?? 0) * (1 - i / samples) * 0.5) | 0;
    }
    this.#last = out;
    return out;
  }
}
