/**
 * Test-only mutations of received audio, to prove the audio checks can fail (issue 25). Read by
 * test fixtures only, at the place where the received recording is read, from
 * `PARLOIR_TEST_MUTATE`:
 * - `noise`: speech-shaped noise — the same loudness envelope and long-term spectrum, no words;
 * - `delay`: the same audio 1 s later (the first second silent, the last second cut);
 * - `drop3`: every 3rd 20 ms frame zeroed;
 * - unset or empty: the input, unchanged.
 */
import { Prng } from '@parloir/media';
import { fft, hann, nextPow2 } from './fft.ts';

/** Mutations {@link applyTestMutation} knows. */
export type TestMutation = 'noise' | 'delay' | 'drop3';

const MUTATIONS: readonly string[] = ['noise', 'delay', 'drop3'];

/** Thrown when `PARLOIR_TEST_MUTATE` names no known mutation. */
export class TestMutationError extends Error {
  readonly code = 'TEST_MUTATE_ERR_UNKNOWN';
}

/** The mutation asked for by `PARLOIR_TEST_MUTATE`, or undefined. */
export function testMutation(): TestMutation | undefined {
  const v = process.env.PARLOIR_TEST_MUTATE;
  if (v === undefined || v === '') return undefined;
  if (!MUTATIONS.includes(v)) {
    throw new TestMutationError(`PARLOIR_TEST_MUTATE=${v}: expected noise, delay or drop3`);
  }
  return v as TestMutation;
}

/** Applies the mutation named by `PARLOIR_TEST_MUTATE` to mono `samples` at `sampleRate` Hz. */
export function applyTestMutation(samples: Int16Array, sampleRate: number): Int16Array {
  const m = testMutation();
  if (m === undefined) return samples;
  return mutate(samples, sampleRate, m);
}

/** Applies `mutation` to mono `samples` at `sampleRate` Hz (a new array). */
export function mutate(
  samples: Int16Array,
  sampleRate: number,
  mutation: TestMutation,
): Int16Array {
  switch (mutation) {
    case 'noise':
      return speechShapedNoise(samples, sampleRate, 25);
    case 'delay': {
      const shift = sampleRate;
      const out = new Int16Array(samples.length);
      out.set(samples.subarray(0, Math.max(0, samples.length - shift)), shift);
      return out;
    }
    case 'drop3': {
      const frame = Math.round(sampleRate * 0.02);
      const out = Int16Array.from(samples);
      for (let f = 2; f * frame < out.length; f += 3) out.fill(0, f * frame, (f + 1) * frame);
      return out;
    }
  }
}

/**
 * Noise with the long-term spectrum of `samples` and its loudness envelope (RMS over 20 ms
 * windows every 10 ms), but no words: each 20 ms frame is random-phase noise coloured by the
 * long-term average spectrum, scaled to that frame's RMS, overlap-added with a Hann window.
 */
export function speechShapedNoise(
  samples: Int16Array,
  sampleRate: number,
  seed: number,
): Int16Array {
  const win = Math.round(sampleRate * 0.02);
  const hop = win / 2;
  const nfft = nextPow2(win);
  const w = hann(win);
  const rng = new Prng(seed);
  const frames = Math.floor(samples.length / hop);
  // Long-term average power spectrum.
  const ltas = new Float64Array(nfft / 2 + 1);
  const re = new Float64Array(nfft);
  const im = new Float64Array(nfft);
  for (let f = 0; f + 1 < frames; f++) {
    re.fill(0);
    im.fill(0);
    for (let i = 0; i < win; i++) re[i] = (samples[f * hop + i] ?? 0) * (w[i] ?? 0);
    fft(re, im);
    for (let k = 0; k <= nfft / 2; k++)
      ltas[k] = (ltas[k] ?? 0) + (re[k] ?? 0) ** 2 + (im[k] ?? 0) ** 2;
  }
  const out = new Float64Array(samples.length + win);
  for (let f = 0; f < frames; f++) {
    let e = 0;
    for (let i = 0; i < win; i++) e += (samples[f * hop + i] ?? 0) ** 2;
    const rms = Math.sqrt(e / win);
    if (rms === 0) continue;
    re.fill(0);
    im.fill(0);
    for (let k = 1; k < nfft / 2; k++) {
      const mag = Math.sqrt(ltas[k] ?? 0);
      const ph = 2 * Math.PI * rng.next();
      re[k] = mag * Math.cos(ph);
      im[k] = mag * Math.sin(ph);
      re[nfft - k] = re[k] ?? 0;
      im[nfft - k] = -(im[k] ?? 0);
    }
    fft(re, im, true);
    let ne = 0;
    for (let i = 0; i < win; i++) ne += (re[i] ?? 0) ** 2;
    const gain = ne > 0 ? rms / Math.sqrt(ne / win) : 0;
    for (let i = 0; i < win; i++)
      out[f * hop + i] = (out[f * hop + i] ?? 0) + (re[i] ?? 0) * gain * (w[i] ?? 0);
  }
  const res = new Int16Array(samples.length);
  for (let i = 0; i < res.length; i++) {
    res[i] = Math.max(-32768, Math.min(32767, Math.round(out[i] ?? 0)));
  }
  return res;
}
