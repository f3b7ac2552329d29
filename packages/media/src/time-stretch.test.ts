import { test } from 'node:test';
import assert from 'node:assert/strict';
import { shortenPcm } from './time-stretch.ts';

/** Largest sample-to-sample step. */
const maxJump = (x: Int16Array) => {
  let m = 0;
  for (let i = 1; i < x.length; i++) m = Math.max(m, Math.abs((x[i] ?? 0) - (x[i - 1] ?? 0)));
  return m;
};

test('shortenPcm removes exactly the requested samples and splices where the waveform matches', () => {
  // A 7 ms pitch period at 48 kHz (336 samples) with a 14 ms pause (at zero crossings) between
  // two syllables; a blind 10 ms cut at the start joins two out-of-phase waves, the search cuts
  // in the pause. The sine itself moves at most 8000·2π/336 ≈ 150 per sample.
  const period = 336;
  const pcm = Int16Array.from({ length: 1920 }, (_, i) =>
    i >= 672 && i < 1344 ? 0 : Math.round(8000 * Math.sin((2 * Math.PI * i) / period)),
  );
  const searched = shortenPcm(pcm, 480, 120, 1920 - 480 - 120);
  const blind = shortenPcm(pcm, 480, 120, 0);
  assert.equal(searched.removed, 480);
  assert.equal(searched.pcm.length, 1440);
  assert.equal(blind.pcm.length, 1440);
  assert.ok(maxJump(searched.pcm) <= 151, `searched splice jump ${maxJump(searched.pcm)}`);
  assert.ok(searched.at >= 672 && searched.at + 480 + 120 <= 1344, `cut at ${searched.at}`);
  // The blind cut cross-fades two waves 154° apart: they nearly cancel (an audible dip).
  const rms = (x: Int16Array, from: number, to: number) =>
    Math.sqrt(x.subarray(from, to).reduce((a, v) => a + v * v, 0) / (to - from));
  assert.ok(rms(blind.pcm, 40, 80) < 0.5 * rms(pcm, 40, 80), 'blind cut dips');
  // Too short to cut: unchanged.
  assert.equal(shortenPcm(new Int16Array(100), 480, 120).removed, 0);
});
