/**
 * Similarity measure for end-to-end audio checks: the Pearson correlation of the two signals'
 * amplitude envelopes (RMS over 10 ms windows, i.e. 100 Hz), taken at the lag that maximises it
 * within ±`maxLagMs` (cross-correlation alignment). Codec, jitter buffer and
 * level changes barely move the envelope, while a different sentence gives a low value.
 */

/** RMS envelope over 10 ms windows at 48 kHz. */
export function envelope(pcm: Int16Array): Float64Array {
  const win = 480;
  const n = Math.floor(pcm.length / win);
  const env = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let j = 0; j < win; j++) {
      const v = pcm[i * win + j] ?? 0;
      acc += v * v;
    }
    env[i] = Math.sqrt(acc / win);
  }
  return env;
}

/** Correlation of a[i] with b[i + lag] over the overlap (lag may be negative). */
function pearson(a: Float64Array, b: Float64Array, lag: number): number {
  const start = Math.max(0, -lag);
  const len = Math.min(a.length, b.length - lag) - start;
  if (len < 100) return -1;
  let sa = 0;
  let sb = 0;
  for (let i = start; i < start + len; i++) {
    sa += a[i] ?? 0;
    sb += b[i + lag] ?? 0;
  }
  const ma = sa / len;
  const mb = sb / len;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = start; i < start + len; i++) {
    const x = (a[i] ?? 0) - ma;
    const y = (b[i + lag] ?? 0) - mb;
    num += x * y;
    da += x * x;
    db += y * y;
  }
  return da === 0 || db === 0 ? 0 : num / Math.sqrt(da * db);
}

/**
 * Best envelope correlation of `output` against `input` and the lag found, ms. The lag may be
 * negative: the two devices of a call start at different times (whoever's media comes up
 * later misses the start of the other's capture). At least 1 s of overlap is required.
 */
export function envelopeSimilarity(
  input: Int16Array,
  output: Int16Array,
  maxLagMs = 3000,
): { correlation: number; lagMs: number } {
  const a = envelope(input);
  const b = envelope(output);
  const maxLag = Math.floor(maxLagMs / 10);
  let best = { correlation: -1, lagMs: 0 };
  for (let lag = -maxLag; lag <= maxLag; lag++) {
    const c = pearson(a, b, lag);
    if (c > best.correlation) best = { correlation: c, lagMs: lag * 10 };
  }
  return best;
}
