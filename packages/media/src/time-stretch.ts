/**
 * Time-scale modification on decoded PCM for the jitter buffer's `accelerate` decision: remove a
 * stretch of audio with a WSOLA-style search (Verhelst & Roelands 1993, "An overlap-add technique
 * based on waveform similarity (WSOLA)…") for the splice point whose waveform best matches, then
 * an overlap-add cross-fade, so the cut falls on a pitch-period boundary instead of clicking.
 */

/**
 * Removes about `removeSamples` samples from the start region of `pcm` (after `keep` samples),
 * cross-fading over `overlap` samples. The splice length is searched in
 * [removeSamples, removeSamples + searchSamples] for the best normalised correlation.
 * @returns the shortened PCM and how many samples were removed.
 */
export function shortenPcm(
  pcm: Int16Array,
  removeSamples: number,
  overlap: number,
  searchSamples = 0,
): { pcm: Int16Array; removed: number } {
  const ov = Math.max(1, Math.min(overlap, pcm.length));
  let best = removeSamples;
  if (searchSamples > 0) {
    let bestScore = -Infinity;
    for (let lag = removeSamples; lag <= removeSamples + searchSamples; lag++) {
      if (lag + ov > pcm.length) break;
      let xy = 0;
      let yy = 1;
      for (let i = 0; i < ov; i++) {
        const x = pcm[i] ?? 0;
        const y = pcm[lag + i] ?? 0;
        xy += x * y;
        yy += y * y;
      }
      const score = xy / Math.sqrt(yy);
      if (score > bestScore) {
        bestScore = score;
        best = lag;
      }
    }
  }
  if (best <= 0 || best + ov > pcm.length) return { pcm, removed: 0 };
  const out = new Int16Array(pcm.length - best);
  for (let i = 0; i < ov; i++) {
    const w = (i + 0.5) / ov;
    out[i] = Math.round((pcm[i] ?? 0) * (1 - w) + (pcm[best + i] ?? 0) * w);
  }
  out.set(pcm.subarray(best + ov), ov);
  return { pcm: out, removed: best };
}
