/**
 * Time-scale modification on decoded PCM for the jitter buffer's `accelerate` decision: remove
 * exactly `removeSamples` samples, choosing *where* to cut by a WSOLA-style similarity search
 * (Verhelst & Roelands 1993, "An overlap-add technique based on waveform similarity (WSOLA) for
 * high quality time-scale modification of speech"): the splice falls where the waveform before
 * the cut best matches the waveform after it, and an overlap-add cross-fade joins the two. The
 * amount removed stays exact so packet starts stay on tick boundaries.
 */

/** Result of {@link shortenPcm}. */
export interface ShortenResult {
  /** The shortened PCM. */
  pcm: Int16Array;
  /** Samples removed (0 if the input was too short, else `removeSamples`). */
  removed: number;
  /** Where the cut starts, samples from the beginning of the input. */
  at: number;
}

/**
 * Removes `removeSamples` samples from `pcm`, cross-fading over `overlap` samples, at the best
 * position in [0, `searchSamples`].
 */
export function shortenPcm(
  pcm: Int16Array,
  removeSamples: number,
  overlap: number,
  searchSamples = 0,
): ShortenResult {
  const n = removeSamples;
  const ov = Math.max(1, Math.min(overlap, pcm.length));
  if (n <= 0 || n + ov > pcm.length) return { pcm, removed: 0, at: 0 };
  const maxPos = Math.max(0, Math.min(searchSamples, pcm.length - n - ov));
  // Similarity as the squared distance between the waveform where the cut starts and where it
  // ends: the cross-fade of two near-identical stretches (same pitch phase, or both quiet) is
  // seamless.
  let best = 0;
  let bestDistance = Infinity;
  for (let p = 0; p <= maxPos; p++) {
    let distance = 0;
    for (let i = 0; i < ov && distance < bestDistance; i++) {
      const d = (pcm[p + i] ?? 0) - (pcm[p + n + i] ?? 0);
      distance += d * d;
    }
    if (distance < bestDistance) {
      bestDistance = distance;
      best = p;
    }
  }
  const out = new Int16Array(pcm.length - n);
  out.set(pcm.subarray(0, best), 0);
  for (let i = 0; i < ov; i++) {
    const w = (i + 0.5) / ov;
    out[best + i] = Math.round((pcm[best + i] ?? 0) * (1 - w) + (pcm[best + n + i] ?? 0) * w);
  }
  out.set(pcm.subarray(best + n + ov), best + ov);
  return { pcm: out, removed: n, at: best };
}
