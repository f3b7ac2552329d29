/**
 * A speech check that can fail: does `received` carry the speech of `reference`, and how late?
 *
 * Compares spectral shape, not loudness (issue 25: a loudness envelope scores speech-shaped
 * noise and late speech as perfect):
 * - log energies in {@link BANDS} bands, log-spaced from 150 Hz to 7 kHz, over 20 ms Hann
 *   windows every 10 ms (one "frame" = one 10 ms hop);
 * - each frame's overall level is removed (mean of its log band energies), and then each
 *   signal's long-term average shape, so two unrelated speakers (or speech-shaped noise) no
 *   longer agree on the speech tilt every voice shares; what is left is how the shape of each
 *   frame moves, which only the same words reproduce;
 * - a frame's similarity is the cosine of the two shape vectors; a received frame with no
 *   energy (silence, a zeroed frame) counts 0;
 * - only frames where the reference has speech count: total energy within
 *   {@link SpeechCheckOptions.speechThresholdDb} of the reference's loudest frame;
 * - alignment: the received recording (its leading and trailing silence trimmed: a call that
 *   came up late did not hear the start) is cut into 4 s windows; each window takes the lag
 *   that scores best within the search range (time-stretch between windows is allowed, as a
 *   jitter buffer does), then each 0.5 s block of it is refined to the exact frame, within ±3
 *   frames (±30 ms) of its neighbour's lag, so the alignment follows a jitter buffer that
 *   accelerates or expands playout (up to 60 ms/s, 300 ms from the window's lag).
 *
 * The score is the mean frame similarity over all counted frames, clamped to 0..1. Calibrated
 * in speech-check.test.ts: speech-shaped noise and a different sentence < 0.2, an Opus round
 * trip at 32 kbit/s ≥ 0.9, half the frames zeroed < 0.7.
 */
import { fft, hann, nextPow2 } from './fft.ts';

/** Number of log-spaced bands between {@link LOW_HZ} and {@link HIGH_HZ}. */
export const BANDS = 16;
/** Lowest band edge, Hz. */
export const LOW_HZ = 150;
/** Highest band edge, Hz. */
export const HIGH_HZ = 7000;
/** Analysis window, ms. */
const WINDOW_MS = 20;
/** Hop between frames, ms: the resolution of alignment and of `delayMs`. */
export const HOP_MS = 10;
/**
 * Refinement of each block around its neighbour's lag, frames: ±30 ms per 0.5 s block follows a
 * drift of 60 ms/s. More freedom lets unrelated speech find more chance alignments (±40 ms
 * took a different sentence from 0.19 to 0.20).
 */
const REFINE_FRAMES = 3;
/** Refinement block, ms. */
const BLOCK_MS = 500;
/** Farthest a block's lag may drift from its window's, frames. */
const MAX_DRIFT_FRAMES = 30;

interface BlockFit {
  lag: number;
  sum: number;
  count: number;
  sound: number;
  mean: number;
}

/** Thrown for arguments the check cannot work with (a typed error, not a crash). */
export class SpeechCheckError extends Error {
  readonly code = 'SPEECH_CHECK_ERR_BAD_ARG';
}

/** Options of {@link speechCheck}. */
export interface SpeechCheckOptions {
  /** Smallest lag searched, ms (received relative to reference; negative = received earlier). Default −3000. */
  minLagMs?: number;
  /** Largest lag searched, ms. Default 3000. */
  maxLagMs?: number;
  /** Alignment window over the received recording, ms. Default 4000. */
  windowMs?: number;
  /** Reference frames within this many dB of its loudest frame are speech, dB. Default 30. */
  speechThresholdDb?: number;
  /** Received frames within this many dB of its loudest frame have sound, dB. Default 45. */
  receivedThresholdDb?: number;
  /**
   * Share of a window's frames that must be reference speech for the window to be aligned,
   * 0..1. Default 0.5; lower for speech that pauses by design (talkers taking turns).
   */
  minSpeechFraction?: number;
}

/** One alignment window's outcome. */
export interface SpeechCheckWindow {
  /** Start of the window in the received recording, ms. */
  startMs: number;
  /** The window's lag (received − reference), ms. */
  lagMs: number;
  /** Mean frame similarity in the window, −1..1. */
  score: number;
  /** Reference speech frames counted in the window. */
  frames: number;
}

/** Result of {@link speechCheck}. */
export interface SpeechCheckResult {
  /** Spectral-shape similarity over the reference's speech frames, 0..1. */
  score: number;
  /** Median lag of the received speech relative to the reference, ms; positive = received later. NaN if nothing aligned. */
  delayMs: number;
  /** Reference speech frames (10 ms hops) that were compared. */
  speechFrames: number;
  /** Fraction of the compared frames in which the received recording had sound, 0..1. */
  soundFraction: number;
  /** Per-window detail, for diagnostics. */
  windows: SpeechCheckWindow[];
}

interface Analysis {
  /** Unit-length shape vectors, BANDS per frame (zeros for silent frames). */
  shapes: Float64Array;
  /** Whether each frame passes the activity threshold. */
  active: Uint8Array;
  frames: number;
}

function toFloat(x: Int16Array | Float32Array): Float64Array {
  const out = new Float64Array(x.length);
  if (x instanceof Int16Array) for (let i = 0; i < x.length; i++) out[i] = (x[i] ?? 0) / 32768;
  else for (let i = 0; i < x.length; i++) out[i] = x[i] ?? 0;
  return out;
}

/** FFT bin ranges [lo, hi) of each band at this rate and FFT size; every band gets ≥ 1 bin. */
function bandBins(sampleRate: number, nfft: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  const ratio = HIGH_HZ / LOW_HZ;
  for (let b = 0; b < BANDS; b++) {
    const f0 = LOW_HZ * ratio ** (b / BANDS);
    const f1 = LOW_HZ * ratio ** ((b + 1) / BANDS);
    const lo = Math.round((f0 * nfft) / sampleRate);
    const hi = Math.max(lo + 1, Math.round((f1 * nfft) / sampleRate));
    out.push([lo, Math.min(hi, nfft / 2)]);
  }
  return out;
}

/** Band energies per frame, then level- and long-term-shape-removed unit vectors. */
function analyse(x: Float64Array, sampleRate: number, thresholdDb: number): Analysis {
  const win = Math.round((WINDOW_MS * sampleRate) / 1000);
  const hop = Math.round((HOP_MS * sampleRate) / 1000);
  const nfft = nextPow2(win);
  const w = hann(win);
  const bins = bandBins(sampleRate, nfft);
  const frames = x.length >= win ? Math.floor((x.length - win) / hop) + 1 : 0;
  const energy = new Float64Array(frames * BANDS);
  const total = new Float64Array(frames);
  const re = new Float64Array(nfft);
  const im = new Float64Array(nfft);
  for (let f = 0; f < frames; f++) {
    re.fill(0);
    im.fill(0);
    for (let i = 0; i < win; i++) re[i] = (x[f * hop + i] ?? 0) * (w[i] ?? 0);
    fft(re, im);
    let sum = 0;
    for (let b = 0; b < BANDS; b++) {
      const [lo, hi] = bins[b] ?? [0, 0];
      let e = 0;
      for (let k = lo; k < hi; k++) e += (re[k] ?? 0) ** 2 + (im[k] ?? 0) ** 2;
      energy[f * BANDS + b] = e;
      sum += e;
    }
    total[f] = sum;
  }
  let peak = 0;
  for (let f = 0; f < frames; f++) peak = Math.max(peak, total[f] ?? 0);
  const gate = peak * 10 ** (-thresholdDb / 10);
  // Band floor 70 dB under the loudest frame (per band share): keeps empty bands finite
  // without letting the floor depend on the absolute level.
  const floor = (peak * 1e-7) / BANDS + Number.MIN_VALUE;
  const active = new Uint8Array(frames);
  const shapes = new Float64Array(frames * BANDS);
  const mean = new Float64Array(BANDS);
  let activeCount = 0;
  for (let f = 0; f < frames; f++) {
    if (peak === 0 || (total[f] ?? 0) < gate) continue;
    active[f] = 1;
    activeCount++;
    let m = 0;
    for (let b = 0; b < BANDS; b++) {
      const l = 10 * Math.log10((energy[f * BANDS + b] ?? 0) + floor);
      shapes[f * BANDS + b] = l;
      m += l;
    }
    m /= BANDS;
    for (let b = 0; b < BANDS; b++) {
      const v = (shapes[f * BANDS + b] ?? 0) - m;
      shapes[f * BANDS + b] = v;
      mean[b] = (mean[b] ?? 0) + v;
    }
  }
  if (activeCount > 0) for (let b = 0; b < BANDS; b++) mean[b] = (mean[b] ?? 0) / activeCount;
  for (let f = 0; f < frames; f++) {
    if (active[f] !== 1) continue;
    let norm = 0;
    for (let b = 0; b < BANDS; b++) {
      const v = (shapes[f * BANDS + b] ?? 0) - (mean[b] ?? 0);
      shapes[f * BANDS + b] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let b = 0; b < BANDS; b++) {
      shapes[f * BANDS + b] = norm > 0 ? (shapes[f * BANDS + b] ?? 0) / norm : 0;
    }
  }
  return { shapes, active, frames };
}

/** Sum of frame similarities and count of counted frames over received frames [from, to) at `lag`. */
function scoreRange(
  ref: Analysis,
  rec: Analysis,
  from: number,
  to: number,
  lag: number,
): { sum: number; count: number; sound: number } {
  let sum = 0;
  let count = 0;
  let sound = 0;
  const lo = Math.max(from, lag);
  const hi = Math.min(to, ref.frames + lag);
  for (let j = lo; j < hi; j++) {
    const i = j - lag;
    if (ref.active[i] !== 1) continue;
    count++;
    if (rec.active[j] !== 1) continue;
    sound++;
    let dot = 0;
    for (let b = 0; b < BANDS; b++) {
      dot += (ref.shapes[i * BANDS + b] ?? 0) * (rec.shapes[j * BANDS + b] ?? 0);
    }
    sum += dot;
  }
  return { sum, count, sound };
}

function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/**
 * Checks that `received` carries the speech of `reference` (both mono at `sampleRate` Hz) and
 * measures the lag. See the module comment for the method.
 */
export function speechCheck(
  reference: Int16Array | Float32Array,
  received: Int16Array | Float32Array,
  sampleRate: number,
  options: SpeechCheckOptions = {},
): SpeechCheckResult {
  if (!Number.isFinite(sampleRate) || sampleRate < 16000 || sampleRate > 384000) {
    throw new SpeechCheckError(`sample rate must be 16000..384000 Hz (got ${sampleRate})`);
  }
  const minLagMs = options.minLagMs ?? -3000;
  const maxLagMs = options.maxLagMs ?? 3000;
  const windowMs = options.windowMs ?? 4000;
  if (!(minLagMs <= maxLagMs) || !Number.isFinite(minLagMs) || !Number.isFinite(maxLagMs)) {
    throw new SpeechCheckError(`bad lag range ${minLagMs}..${maxLagMs} ms`);
  }
  if (!Number.isFinite(windowMs) || windowMs < BLOCK_MS) {
    throw new SpeechCheckError(`window must be at least ${BLOCK_MS} ms (got ${windowMs})`);
  }
  const ref = analyse(toFloat(reference), sampleRate, options.speechThresholdDb ?? 30);
  const rec = analyse(toFloat(received), sampleRate, options.receivedThresholdDb ?? 45);
  const minLag = Math.ceil(minLagMs / HOP_MS);
  const maxLag = Math.floor(maxLagMs / HOP_MS);
  let first = 0;
  while (first < rec.frames && rec.active[first] !== 1) first++;
  let last = rec.frames - 1;
  while (last >= first && rec.active[last] !== 1) last--;
  const windowFrames = Math.round(windowMs / HOP_MS);
  const blockFrames = BLOCK_MS / HOP_MS;
  const windows: SpeechCheckWindow[] = [];
  const lags: number[] = [];
  let sum = 0;
  let count = 0;
  let sound = 0;
  for (let w0 = first; w0 <= last; w0 += windowFrames) {
    // A short tail (< half a window) joins the previous window's lag search as its own window
    // would align on too few frames.
    let w1 = Math.min(last + 1, w0 + windowFrames);
    if (last + 1 - w1 < windowFrames / 2) w1 = last + 1;
    // Enough reference speech in the window that a lag is not chosen on a handful of frames.
    const minCount = Math.max(10, Math.round((w1 - w0) * (options.minSpeechFraction ?? 0.5)));
    let best = { lag: 0, score: -2, count: 0 };
    for (let lag = minLag; lag <= maxLag; lag++) {
      const r = scoreRange(ref, rec, w0, w1, lag);
      if (r.count < minCount) continue;
      const s = r.sum / r.count;
      if (s > best.score) best = { lag, score: s, count: r.count };
    }
    if (best.score > -2) {
      // Blocks follow the lag as it drifts (a jitter buffer accelerating or expanding moves it
      // by up to ~80 ms/s): from the block that fits the window's lag best, outwards, each block
      // searched around its neighbour's lag, within MAX_DRIFT_FRAMES of the window's.
      const blocks: Array<[number, number]> = [];
      for (let b0 = w0; b0 < w1; b0 += blockFrames)
        blocks.push([b0, Math.min(w1, b0 + blockFrames)]);
      const refine = (k: number, center: number): BlockFit => {
        const [b0, b1] = blocks[k] ?? [0, 0];
        let bb: BlockFit = { lag: center, sum: 0, count: 0, sound: 0, mean: -2 };
        for (let d = -REFINE_FRAMES; d <= REFINE_FRAMES; d++) {
          const lag = center + d;
          if (lag < minLag || lag > maxLag || Math.abs(lag - best.lag) > MAX_DRIFT_FRAMES) continue;
          const r = scoreRange(ref, rec, b0, b1, lag);
          if (r.count === 0) continue;
          const m = r.sum / r.count;
          if (m > bb.mean) bb = { lag, ...r, mean: m };
        }
        return bb;
      };
      const fits: BlockFit[] = blocks.map((_, k) => refine(k, best.lag));
      let anchor = 0;
      for (let k = 1; k < fits.length; k++) {
        if ((fits[k]?.mean ?? -2) > (fits[anchor]?.mean ?? -2)) anchor = k;
      }
      for (let k = anchor + 1; k < fits.length; k++)
        fits[k] = refine(k, fits[k - 1]?.lag ?? best.lag);
      for (let k = anchor - 1; k >= 0; k--) fits[k] = refine(k, fits[k + 1]?.lag ?? best.lag);
      let wSum = 0;
      let wCount = 0;
      for (const bb of fits) {
        if (bb.count === 0) continue;
        wSum += bb.sum;
        wCount += bb.count;
        sound += bb.sound;
        lags.push(bb.lag * HOP_MS);
      }
      if (wCount > 0) {
        windows.push({
          startMs: w0 * HOP_MS,
          lagMs: best.lag * HOP_MS,
          score: wSum / wCount,
          frames: wCount,
        });
        sum += wSum;
        count += wCount;
      }
    }
    if (w1 === last + 1) break;
  }
  return {
    score: count === 0 ? 0 : Math.min(1, Math.max(0, sum / count)),
    delayMs: median(lags),
    speechFrames: count,
    soundFraction: count === 0 ? 0 : sound / count,
    windows,
  };
}
