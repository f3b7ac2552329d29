/**
 * Interim adaptive jitter buffer, used until `packages/media`'s lands: packets are stored by
 * extended sequence number, decoded in order into a PCM FIFO, and the playout tick drains the
 * FIFO. Loss is rebuilt from FEC when the next packet is there, otherwise concealed. The target
 * delay follows 3× the RFC 3550 §A.8 jitter estimate plus one frame, plus 10 ms per recent
 * underrun (decaying by 2 ms/s, as NetEQ raises its target after underruns), within
 * [min, max]. When the buffered delay exceeds target + one frame, the next frame is dropped
 * (accelerate) if it is quiet, or whatever it is once the excess passes 80 ms.
 */
import type { JitterBufferSnapshot } from '../qos-log/qos-log.ts';
import type { DecoderPort, JitterBufferPort, JitterPacket, PullDecision } from './ports.ts';

const SAMPLES_PER_MS = 48;
const FIFO_SAMPLES = 48_000; // 1 s
/** RMS below which a frame counts as quiet enough to drop: -40 dBFS. */
const QUIET_RMS = 328;

function rms(pcm: Int16Array): number {
  let acc = 0;
  for (const v of pcm) acc += v * v;
  return pcm.length === 0 ? 0 : Math.sqrt(acc / pcm.length);
}

/** Options of {@link InterimJitterBuffer}. */
export interface InterimJitterBufferOptions {
  /** Decoder the buffer owns. */
  decoder: DecoderPort;
  /** Minimum delay, ms. */
  minMs: number;
  /** Maximum delay, ms. */
  maxMs: number;
}

/** A small adaptive jitter buffer. */
export class InterimJitterBuffer implements JitterBufferPort {
  #decoder: DecoderPort;
  #minMs: number;
  #maxMs: number;
  #packets = new Map<number, JitterPacket>();
  #highestExt = -1;
  #nextExt = -1;
  #fifo = new Int16Array(FIFO_SAMPLES);
  #fifoRead = 0;
  #fifoLen = 0;
  #started = false;
  #frameSamples = 960;
  #jitterTicks = 0;
  #lastTransit: number | undefined;
  /** Extra target after underruns, ms: +10 per expand, decaying by 2 ms per second. */
  #underrunFloorMs = 0;
  #stats: JitterBufferSnapshot = {
    delayMs: 0,
    targetMs: 0,
    latePackets: 0,
    concealedMs: 0,
    fecRecovered: 0,
    accelerate: 0,
    expand: 0,
  };

  constructor(options: InterimJitterBufferOptions) {
    this.#decoder = options.decoder;
    this.#minMs = options.minMs;
    this.#maxMs = options.maxMs;
  }

  push(packet: JitterPacket, arrivalMs: number): void {
    const ext = this.#extend(packet.sequenceNumber);
    // RFC 3550 §A.8 interarrival jitter, in 48 kHz ticks.
    const transit = arrivalMs * SAMPLES_PER_MS - packet.timestamp;
    if (this.#lastTransit !== undefined) {
      let d = Math.abs(transit - this.#lastTransit);
      if (d > 0x7fff_ffff) d = 0; // timestamp wrap: skip one sample
      this.#jitterTicks += (d - this.#jitterTicks) / 16;
    }
    this.#lastTransit = transit;
    if (this.#nextExt >= 0 && ext < this.#nextExt) {
      this.#stats.latePackets++;
      return;
    }
    if (this.#packets.size > 512) this.#reset();
    this.#packets.set(ext, packet);
    if (this.#nextExt < 0) this.#nextExt = ext;
  }

  pull(out: Int16Array, _nowMs: number): PullDecision {
    void _nowMs;
    let decision: PullDecision = 'normal';
    this.#underrunFloorMs = Math.max(0, this.#underrunFloorMs - (2 * out.length) / 48_000);
    const target = this.#targetMs();
    if (!this.#started) {
      if (this.#bufferedMs() < target || this.#nextExt < 0) {
        out.fill(0);
        this.#updateStats(target);
        return 'silence';
      }
      this.#started = true;
    }
    while (this.#fifoLen < out.length) {
      const d = this.#decodeNext();
      if (d !== 'normal') decision = d;
    }
    // Accelerate: too much buffered → drop the next frame, but only if it is quiet (below
    // -40 dBFS) unless the excess exceeds 80 ms: dropping speech is audible, silence is not.
    const excessMs = this.#bufferedMs() - target - this.#frameSamples / SAMPLES_PER_MS;
    if (excessMs > 10) {
      const pkt = this.#packets.get(this.#nextExt);
      if (pkt !== undefined) {
        this.#packets.delete(this.#nextExt);
        this.#nextExt++;
        const pcm = this.#decoder.decode(pkt.payload);
        if (excessMs > 80 || rms(pcm) < QUIET_RMS) {
          this.#stats.accelerate++;
          decision = 'accelerate';
        } else {
          this.#append(pcm);
        }
      }
    }
    for (let i = 0; i < out.length; i++) {
      out[i] = this.#fifo[this.#fifoRead] ?? 0;
      this.#fifoRead = (this.#fifoRead + 1) % FIFO_SAMPLES;
    }
    this.#fifoLen -= out.length;
    this.#updateStats(target);
    return decision;
  }

  setBounds(minMs: number, maxMs: number): void {
    this.#minMs = minMs;
    this.#maxMs = maxMs;
  }

  snapshot(): JitterBufferSnapshot {
    return { ...this.#stats };
  }

  #targetMs(): number {
    const jitterMs = this.#jitterTicks / SAMPLES_PER_MS;
    const want = 3 * jitterMs + this.#frameSamples / SAMPLES_PER_MS + this.#underrunFloorMs;
    return Math.min(this.#maxMs, Math.max(this.#minMs, want));
  }

  /** Buffered audio: PCM in the FIFO plus packets waiting, ms. */
  #bufferedMs(): number {
    const waiting = this.#highestExt >= this.#nextExt ? this.#highestExt - this.#nextExt + 1 : 0;
    return (this.#fifoLen + waiting * this.#frameSamples) / SAMPLES_PER_MS;
  }

  #decodeNext(): PullDecision {
    const pkt = this.#packets.get(this.#nextExt);
    let pcm: Int16Array;
    let decision: PullDecision = 'normal';
    if (pkt !== undefined) {
      this.#packets.delete(this.#nextExt);
      this.#nextExt++;
      pcm = this.#decoder.decode(pkt.payload);
      if (pcm.length > 0) this.#frameSamples = pcm.length;
    } else if (this.#highestExt > this.#nextExt) {
      const next = this.#packets.get(this.#nextExt + 1);
      this.#nextExt++;
      if (next !== undefined) {
        pcm = this.#decoder.decodeFec(next.payload, this.#frameSamples);
        this.#stats.fecRecovered++;
        decision = 'fec';
      } else {
        pcm = this.#decoder.conceal(this.#frameSamples);
        decision = 'plc';
      }
      this.#stats.concealedMs += pcm.length / SAMPLES_PER_MS;
    } else {
      // Underrun: nothing to play yet. Conceal without advancing (expand).
      pcm = this.#decoder.conceal(this.#frameSamples);
      this.#stats.concealedMs += pcm.length / SAMPLES_PER_MS;
      this.#stats.expand++;
      this.#underrunFloorMs = Math.min(this.#maxMs, this.#underrunFloorMs + 10);
      decision = 'expand';
    }
    this.#append(pcm);
    return decision;
  }

  #append(pcm: Int16Array): void {
    let w = (this.#fifoRead + this.#fifoLen) % FIFO_SAMPLES;
    const n = Math.min(pcm.length, FIFO_SAMPLES - this.#fifoLen);
    for (let i = 0; i < n; i++) {
      this.#fifo[w] = pcm[i] ?? 0;
      w = w + 1 === FIFO_SAMPLES ? 0 : w + 1;
    }
    this.#fifoLen += n;
  }

  #extend(seq: number): number {
    if (this.#highestExt < 0) {
      this.#highestExt = seq;
      return seq;
    }
    const cycle = this.#highestExt & ~0xffff;
    let ext = cycle | seq;
    if (ext < this.#highestExt - 0x8000) ext += 0x10000;
    else if (ext > this.#highestExt + 0x8000) ext -= 0x10000;
    if (ext > this.#highestExt) this.#highestExt = ext;
    return ext;
  }

  #reset(): void {
    this.#packets.clear();
    this.#nextExt = -1;
    this.#started = false;
  }

  #updateStats(target: number): void {
    this.#stats.delayMs = this.#bufferedMs();
    this.#stats.targetMs = target;
  }
}
