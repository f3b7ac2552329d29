/**
 * Bulk delay between a far-end (played) signal and a capture that holds its echo, by GCC-PHAT
 * (generalised cross-correlation with phase transform, Knapp & Carter 1976): the cross-spectrum
 * of each segment is whitened to unit magnitude, averaged over segments, and the peak of its
 * inverse transform over lags 0..maxDelayMs is the delay. Phase-only weighting makes the peak
 * sharp in reverberant rooms and indifferent to the echo's level and colouration.
 *
 * Both signals are decimated to 8 kHz (block average) first; the result has 0.125 ms steps
 * refined by a parabola through the peak. Sans-IO: arrays in, numbers out.
 * @module
 */
import { MediaError } from './errors.ts';

/** Options of {@link estimateBulkDelay}. */
export interface BulkDelayOptions {
  /** Sample rate of both signals, Hz: a multiple of 8000 up to 96000. Default 48000. */
  sampleRate?: number;
  /** Largest delay searched, ms, 1..1000. Default 250. */
  maxDelayMs?: number;
}

/** What {@link estimateBulkDelay} found. */
export interface BulkDelayEstimate {
  /** Capture lags the far signal by this much, ms; null when no segment had both signals. */
  delayMs: number | null;
  /**
   * Peak of the averaged GCC-PHAT over the mean magnitude of the other lags: 50..110 for the
   * echo of a simulated room, 5..8 for two unrelated speech-like signals; below ~15 treat the
   * delay as a guess (no echo, or no far speech).
   */
  peakRatio: number;
  /** Segments (256 ms of capture each, hop 128 ms) that had energy in both signals. */
  segments: number;
}

/** In-place iterative radix-2 complex FFT; `re.length` must be a power of two. */
export function fft(re: Float64Array, im: Float64Array, inverse = false): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const xr = re[b]! * cr - im[b]! * ci;
        const xi = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - xr;
        im[b] = im[a]! - xi;
        re[a] = re[a]! + xr;
        im[a] = im[a]! + xi;
        const t = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = t;
      }
    }
  }
  if (inverse) {
    for (let i = 0; i < n; i++) {
      re[i] = re[i]! / n;
      im[i] = im[i]! / n;
    }
  }
}

function decimate(x: ArrayLike<number>, factor: number): Float64Array {
  const out = new Float64Array(Math.floor(x.length / factor));
  for (let i = 0; i < out.length; i++) {
    let s = 0;
    for (let k = 0; k < factor; k++) s += x[i * factor + k]!;
    out[i] = s / factor;
  }
  return out;
}

const RATE = 8000;
const SEG = 2048; // 256 ms of capture at 8 kHz
const HOP = 1024;

/**
 * Finds the bulk delay of `capture` behind `far` (same rate, same start time), 0..maxDelayMs.
 * Throws MediaError MEDIA_ERR_BAD_OPTION for a bad rate or range.
 */
export function estimateBulkDelay(
  far: ArrayLike<number>,
  capture: ArrayLike<number>,
  options: BulkDelayOptions = {},
): BulkDelayEstimate {
  const rate = options.sampleRate ?? 48000;
  const maxMs = options.maxDelayMs ?? 250;
  if (!Number.isInteger(rate) || rate < RATE || rate > 96000 || rate % RATE !== 0) {
    throw new MediaError(
      'MEDIA_ERR_BAD_OPTION',
      `sampleRate must be a multiple of 8000 up to 96000, got ${rate}`,
    );
  }
  if (!Number.isFinite(maxMs) || maxMs < 1 || maxMs > 1000) {
    throw new MediaError('MEDIA_ERR_BAD_OPTION', `maxDelayMs must be in [1, 1000], got ${maxMs}`);
  }
  const x = decimate(far, rate / RATE);
  const y = decimate(capture, rate / RATE);
  const maxLag = Math.ceil((maxMs * RATE) / 1000);
  let n = 1;
  while (n < SEG + maxLag + SEG) n <<= 1;
  const accRe = new Float64Array(n);
  const accIm = new Float64Array(n);
  const xr = new Float64Array(n);
  const xi = new Float64Array(n);
  const yr = new Float64Array(n);
  const yi = new Float64Array(n);
  let segments = 0;
  const energy = (v: Float64Array, from: number, to: number): number => {
    let s = 0;
    for (let i = Math.max(0, from); i < to; i++) s += v[i]! * v[i]!;
    return s / (to - from);
  };
  for (let t = 0; t + SEG <= y.length; t += HOP) {
    // The far window starts maxLag earlier, so an echo delayed d lines up at lag maxLag - d.
    const f0 = t - maxLag;
    const fe = energy(x, f0, t + SEG);
    const ce = energy(y, t, t + SEG);
    if (fe < 1 || ce < 1) continue; // digital silence in either signal (int16 scale)
    xr.fill(0);
    xi.fill(0);
    yr.fill(0);
    yi.fill(0);
    for (let i = 0; i < SEG + maxLag; i++) {
      const k = f0 + i;
      const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (SEG + maxLag - 1));
      xr[i] = k >= 0 && k < x.length ? x[k]! * w : 0;
    }
    for (let i = 0; i < SEG; i++) yr[i] = y[t + i]!;
    fft(xr, xi);
    fft(yr, yi);
    for (let k = 0; k < n; k++) {
      // X · conj(Y), whitened.
      const re = xr[k]! * yr[k]! + xi[k]! * yi[k]!;
      const im = xi[k]! * yr[k]! - xr[k]! * yi[k]!;
      const mag = Math.hypot(re, im);
      if (mag > 1e-12) {
        accRe[k] = accRe[k]! + re / mag;
        accIm[k] = accIm[k]! + im / mag;
      }
    }
    segments++;
  }
  if (segments === 0) return { delayMs: null, peakRatio: 0, segments: 0 };
  fft(accRe, accIm, true);
  let best = 0;
  let bestV = -Infinity;
  let sum = 0;
  for (let m = 0; m <= maxLag; m++) {
    const v = accRe[m]!;
    sum += Math.abs(v);
    if (v > bestV) {
      bestV = v;
      best = m;
    }
  }
  const rest = (sum - Math.abs(bestV)) / Math.max(1, maxLag);
  let frac = 0;
  if (best > 0 && best < maxLag) {
    const a = accRe[best - 1]!;
    const c = accRe[best + 1]!;
    const den = a - 2 * bestV + c;
    if (den < 0) frac = (0.5 * (a - c)) / den;
  }
  const lag = maxLag - (best + frac);
  return {
    delayMs: Math.max(0, (lag * 1000) / RATE),
    peakRatio: rest > 0 ? bestV / rest : 0,
    segments,
  };
}

/** Options of {@link BulkDelayTracker}. */
export interface BulkDelayTrackerOptions extends BulkDelayOptions {
  /** Signal kept and searched each time, s, 1..10. Default 3. */
  windowSeconds?: number;
  /** Run the estimate after this much new audio, s, 0.1..10. Default 1. */
  intervalSeconds?: number;
  /** Lowest peak ratio an estimate needs to count. Default 15. */
  minPeakRatio?: number;
  /** Two estimates in a row within this many ms make the delay (re)settle. Default 2. */
  agreeMs?: number;
}

/**
 * The bulk delay of a live call: far and capture frames are pushed as they are played and
 * recorded; every `intervalSeconds` of audio the last `windowSeconds` are searched, and the
 * delay moves to a new value once two estimates in a row with a clear peak agree. Sans-IO: time
 * is the count of pushed samples.
 */
export class BulkDelayTracker {
  #rate: number;
  #maxMs: number;
  #far: Float64Array;
  #cap: Float64Array;
  #filled = 0;
  #sinceRun = 0;
  #interval: number;
  #minRatio: number;
  #agreeMs: number;
  #candidate: number | null = null;
  #delayMs: number | null = null;
  /** The last raw estimate (null before the first run). */
  last: BulkDelayEstimate | null = null;

  constructor(options: BulkDelayTrackerOptions = {}) {
    this.#rate = options.sampleRate ?? 48000;
    this.#maxMs = options.maxDelayMs ?? 250;
    estimateBulkDelay([], [], { sampleRate: this.#rate, maxDelayMs: this.#maxMs }); // checks both
    const win = options.windowSeconds ?? 3;
    const every = options.intervalSeconds ?? 1;
    if (!Number.isFinite(win) || win < 1 || win > 10) {
      throw new MediaError('MEDIA_ERR_BAD_OPTION', `windowSeconds must be in [1, 10], got ${win}`);
    }
    if (!Number.isFinite(every) || every < 0.1 || every > 10) {
      throw new MediaError(
        'MEDIA_ERR_BAD_OPTION',
        `intervalSeconds must be in [0.1, 10], got ${every}`,
      );
    }
    this.#far = new Float64Array(Math.round(win * this.#rate));
    this.#cap = new Float64Array(this.#far.length);
    this.#interval = Math.round(every * this.#rate);
    this.#minRatio = options.minPeakRatio ?? 15;
    this.#agreeMs = options.agreeMs ?? 2;
  }

  /** The settled delay, ms (null until two clear estimates agree). */
  get delayMs(): number | null {
    return this.#delayMs;
  }

  /**
   * Pushes one far frame and the capture frame recorded meanwhile (same length). Returns true
   * when this push changed {@link delayMs}.
   */
  push(far: ArrayLike<number>, capture: ArrayLike<number>): boolean {
    if (far.length !== capture.length) {
      throw new MediaError(
        'MEDIA_ERR_BAD_OPTION',
        `far has ${far.length} samples, capture ${capture.length}`,
      );
    }
    const n = Math.min(far.length, this.#far.length);
    const keep = this.#far.length - n;
    this.#far.copyWithin(0, n);
    this.#cap.copyWithin(0, n);
    for (let i = 0; i < n; i++) {
      this.#far[keep + i] = far[far.length - n + i]!;
      this.#cap[keep + i] = capture[capture.length - n + i]!;
    }
    this.#filled = Math.min(this.#far.length, this.#filled + n);
    this.#sinceRun += n;
    if (this.#sinceRun < this.#interval || this.#filled < this.#far.length) return false;
    this.#sinceRun = 0;
    const r = estimateBulkDelay(this.#far, this.#cap, {
      sampleRate: this.#rate,
      maxDelayMs: this.#maxMs,
    });
    this.last = r;
    if (r.delayMs === null || r.peakRatio < this.#minRatio) {
      this.#candidate = null;
      return false;
    }
    const agrees =
      this.#candidate !== null && Math.abs(r.delayMs - this.#candidate) <= this.#agreeMs;
    this.#candidate = r.delayMs;
    if (!agrees) return false;
    if (this.#delayMs !== null && Math.abs(this.#delayMs - r.delayMs) <= this.#agreeMs)
      return false;
    this.#delayMs = r.delayMs;
    return true;
  }
}
