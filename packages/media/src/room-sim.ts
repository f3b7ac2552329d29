/**
 * A seeded room for echo-cancellation tests: the capture a laptop's microphone would record is
 * near-end speech + the far end's echo + noise. The echo is the far signal through a mild
 * loudspeaker non-linearity (tanh soft clip), a synthetic room impulse response (direct path,
 * sparse early reflections, an exponentially decaying diffuse tail with the chosen RT60), a bulk
 * delay and a gain. Sans-IO and deterministic: the same seed gives the same room and samples.
 * @module
 */
import { MediaError } from './errors.ts';
import { fft } from './echo-delay.ts';
import { Prng } from './impairment.ts';

/** Options of {@link Room}; anything left out is drawn from the seed in the stated range. */
export interface RoomOptions {
  /** Sample rate, Hz, 8000..96000. Default 48000. */
  sampleRate?: number;
  /** Reverberation time (60 dB decay), s, 0.2..0.8. */
  rt60?: number;
  /** Bulk delay of the echo (device buffers + flight), ms, 20..250. */
  delayMs?: number;
  /** Echo gain after the RIR (whose energy is normalised to 1), 0.25..0.7. */
  echoGain?: number;
  /** Loudspeaker drive of the tanh non-linearity (1 = none), 1.2..2.5. */
  drive?: number;
  /** Direct path over diffuse tail energy, dB, -10..20. Drawn in 0..8. */
  drrDb?: number;
  /** Level of the microphone's white noise, dBFS (RMS), -90..-20. Default -70. */
  noiseDbfs?: number;
}

/** What {@link Room.capture} returns; float arrays are in int16 units. */
export interface RoomCapture {
  /** The microphone signal, saturated to int16. */
  capture: Int16Array;
  /** The echo part alone (far through the room). */
  echo: Float64Array;
  /** The noise part alone. */
  noise: Float64Array;
}

function check(v: number, lo: number, hi: number, what: string): number {
  if (!Number.isFinite(v) || v < lo || v > hi) {
    throw new MediaError('MEDIA_ERR_BAD_OPTION', `${what} must be in [${lo}, ${hi}], got ${v}`);
  }
  return v;
}

/** Gaussian by Box-Muller from the room's PRNG. */
function gauss(p: Prng): number {
  const u = Math.max(p.next(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * p.next());
}

/** Linear convolution of x with h by FFT overlap-add. */
export function convolve(x: ArrayLike<number>, h: ArrayLike<number>): Float64Array {
  const out = new Float64Array(x.length + h.length - 1);
  let n = 1;
  while (n < 2 * h.length) n <<= 1;
  const block = n - h.length + 1;
  const hr = new Float64Array(n);
  const hi = new Float64Array(n);
  for (let i = 0; i < h.length; i++) hr[i] = h[i]!;
  fft(hr, hi);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let start = 0; start < x.length; start += block) {
    re.fill(0);
    im.fill(0);
    const len = Math.min(block, x.length - start);
    for (let i = 0; i < len; i++) re[i] = x[start + i]!;
    fft(re, im);
    for (let k = 0; k < n; k++) {
      const r = re[k]! * hr[k]! - im[k]! * hi[k]!;
      im[k] = re[k]! * hi[k]! + im[k]! * hr[k]!;
      re[k] = r;
    }
    fft(re, im, true);
    const end = Math.min(n, out.length - start);
    for (let i = 0; i < end; i++) out[start + i] = out[start + i]! + re[i]!;
  }
  return out;
}

/** One seeded room: its parameters, its impulse response and how it turns far + near into capture. */
export class Room {
  readonly sampleRate: number;
  readonly rt60: number;
  readonly delayMs: number;
  readonly echoGain: number;
  readonly drive: number;
  readonly noiseDbfs: number;
  /** Direct-to-reverberant energy ratio, dB (direct path over the diffuse tail). */
  readonly drrDb: number;
  /** The impulse response without the bulk delay, energy 1 (the direct path at index 0). */
  readonly rir: Float64Array;
  #seed: number;

  constructor(seed: number, options: RoomOptions = {}) {
    const p = new Prng(seed);
    const pick = (lo: number, hi: number): number => lo + (hi - lo) * p.next();
    this.#seed = seed;
    this.sampleRate = check(options.sampleRate ?? 48000, 8000, 96000, 'sampleRate');
    // Draw every parameter even when given, so a given one does not shift the others.
    const r = [pick(0.2, 0.8), pick(20, 250), pick(0.25, 0.7), pick(1.2, 2.5), pick(0, 8)] as const;
    this.rt60 = check(options.rt60 ?? r[0], 0.2, 0.8, 'rt60');
    this.delayMs = check(options.delayMs ?? r[1], 20, 250, 'delayMs');
    this.echoGain = check(options.echoGain ?? r[2], 0.25, 0.7, 'echoGain');
    this.drive = check(options.drive ?? r[3], 1, 2.5, 'drive');
    this.noiseDbfs = check(options.noiseDbfs ?? -70, -90, -20, 'noiseDbfs');
    this.drrDb = check(options.drrDb ?? r[4], -10, 20, 'drrDb');
    const fs = this.sampleRate;
    const len = Math.round(this.rt60 * fs);
    const h = new Float64Array(len);
    h[0] = 1;
    // Early reflections: 6 taps within 2..20 ms, alternating sign, 0.1..0.4.
    for (let k = 0; k < 6; k++) {
      const at = Math.round(pick(0.002, 0.02) * fs);
      h[at] = h[at]! + (k % 2 ? -1 : 1) * pick(0.1, 0.4);
    }
    // Diffuse tail from 5 ms: Gaussian noise decaying 60 dB over rt60, its energy set by the
    // direct-to-reverberant ratio (a laptop's microphone sits near its speakers).
    const decay = Math.log(1000) / (this.rt60 * fs);
    const tail = new Float64Array(len);
    let et = 0;
    for (let i = Math.round(0.005 * fs); i < len; i++) {
      tail[i] = gauss(p) * Math.exp(-decay * i);
      et += tail[i]! * tail[i]!;
    }
    const scale = Math.sqrt(10 ** (-this.drrDb / 10) / et);
    for (let i = 0; i < len; i++) h[i] = h[i]! + scale * tail[i]!;
    let e = 0;
    for (const v of h) e += v * v;
    const norm = 1 / Math.sqrt(e);
    for (let i = 0; i < len; i++) h[i] = h[i]! * norm;
    this.rir = h;
  }

  /**
   * The microphone signal for `far` (played) and `near` (talker; may be shorter or empty), both
   * int16-scaled and starting at the same instant. Its length is far's.
   */
  capture(far: ArrayLike<number>, near: ArrayLike<number> = []): RoomCapture {
    const n = far.length;
    const d = this.drive;
    const driven = new Float64Array(n);
    // Soft clip in full-scale units: tanh(d·x)/d bends the peaks a little, like a small speaker.
    for (let i = 0; i < n; i++) driven[i] = (32768 * Math.tanh((d * far[i]!) / 32768)) / d;
    const wet = convolve(driven, this.rir);
    const lag = Math.round((this.delayMs * this.sampleRate) / 1000);
    const echo = new Float64Array(n);
    for (let i = lag; i < n; i++) echo[i] = this.echoGain * wet[i - lag]!;
    const p = new Prng(this.#seed ^ 0x5eed);
    const sigma = 32768 * 10 ** (this.noiseDbfs / 20);
    const noise = new Float64Array(n);
    for (let i = 0; i < n; i++) noise[i] = sigma * gauss(p);
    const capture = new Int16Array(n);
    for (let i = 0; i < n; i++) {
      const v = echo[i]! + noise[i]! + (i < near.length ? near[i]! : 0);
      capture[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
    }
    return { capture, echo, noise };
  }
}
