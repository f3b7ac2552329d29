/**
 * Calibration of the speech check (issue 25): what it must reject and what it must accept, on
 * speech made by espeak-ng at test time, with the default ±3 s lag search.
 * - speech-shaped noise (same loudness envelope and long-term spectrum) and a different
 *   sentence: < 0.2;
 * - an Opus round trip at 32 kbit/s (the native addon's libopus, 20 ms frames): ≥ 0.9;
 * - half the 20 ms frames zeroed: < 0.7;
 * and that the mutations of mutate.ts do what they say.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { OpusDecoder, OpusEncoder } from '@parloir/native';
import { mutate, speechShapedNoise, TestMutationError, applyTestMutation } from './mutate.ts';
import { speechCheck, SpeechCheckError } from './speech-check.ts';
import { loadWav, makeSpeech } from './speech.ts';

const RATE = 48000;
let dir = '';
let ref: Int16Array = new Int16Array(0);
let other: Int16Array = new Int16Array(0);
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-speech-check-'));
  ref = loadWav(
    makeSpeech(
      dir,
      'ref',
      'The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. It is easy to tell the depth of a well.',
    ),
  );
  other = loadWav(
    makeSpeech(
      dir,
      'other',
      'Rice is often served in round bowls. The juice of lemons makes fine punch. The box was thrown beside the parked truck.',
    ),
  );
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

function opusRoundTrip(pcm: Int16Array, bitrate: number): Int16Array {
  const enc = new OpusEncoder({ sampleRate: RATE, channels: 1, application: 'voip', bitrate });
  const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  const frame = RATE / 50;
  const out = new Int16Array(pcm.length);
  for (let i = 0; i + frame <= pcm.length; i += frame) {
    out.set(dec.decode(enc.encode(pcm.subarray(i, i + frame))), i);
  }
  enc.close();
  dec.close();
  return out;
}

test('the reference against itself scores ~1 at lag 0; a shifted copy gives the shift', () => {
  const self = speechCheck(ref, ref, RATE);
  assert.ok(self.score > 0.99, `self ${self.score}`);
  assert.equal(self.delayMs, 0);
  assert.ok(self.speechFrames > 300, `speech frames ${self.speechFrames}`);
  const shifted = new Int16Array(ref.length + RATE / 4);
  shifted.set(ref, RATE / 4);
  const r = speechCheck(ref, shifted, RATE);
  assert.equal(r.delayMs, 250);
  assert.ok(r.score > 0.99);
  const early = speechCheck(shifted, ref, RATE);
  assert.equal(early.delayMs, -250);
});

test('speech-shaped noise scores < 0.2 (its loudness envelope is the speech’s)', (t) => {
  for (const seed of [1, 2, 3]) {
    const r = speechCheck(ref, speechShapedNoise(ref, RATE, seed), RATE);
    t.diagnostic(`seed ${seed}: ${r.score.toFixed(3)} over ${r.speechFrames} frames`);
    assert.ok(r.score < 0.2, `noise scored ${r.score}`);
  }
});

test('a different sentence scores < 0.2, both ways', (t) => {
  const ab = speechCheck(ref, other, RATE);
  const ba = speechCheck(other, ref, RATE);
  t.diagnostic(`ref vs other ${ab.score.toFixed(3)}, other vs ref ${ba.score.toFixed(3)}`);
  assert.ok(ab.score < 0.2, `other sentence scored ${ab.score}`);
  assert.ok(ba.score < 0.2, `other sentence scored ${ba.score}`);
});

test('an Opus round trip at 32 kbit/s scores ≥ 0.9, delay within one frame', (t) => {
  const r = speechCheck(ref, opusRoundTrip(ref, 32000), RATE);
  t.diagnostic(`opus 32k: ${r.score.toFixed(3)} at ${r.delayMs} ms`);
  assert.ok(r.score >= 0.9, `opus scored ${r.score}`);
  assert.ok(Math.abs(r.delayMs) <= 20, `opus delay ${r.delayMs} ms`);
});

test('half the 20 ms frames zeroed scores < 0.7', (t) => {
  const half = Int16Array.from(ref);
  const frame = RATE / 50;
  for (let f = 1; f * frame < half.length; f += 2) half.fill(0, f * frame, (f + 1) * frame);
  const r = speechCheck(ref, half, RATE);
  t.diagnostic(`half zeroed: ${r.score.toFixed(3)}, sound in ${r.soundFraction.toFixed(2)}`);
  assert.ok(r.score < 0.7, `half zeroed scored ${r.score}`);
});

test('mutations: drop3 lowers the score below an Opus round trip, delay moves the lag by 1 s', (t) => {
  const opus = speechCheck(ref, opusRoundTrip(ref, 32000), RATE).score;
  const drop3 = speechCheck(ref, mutate(ref, RATE, 'drop3'), RATE);
  const delay = speechCheck(ref, mutate(ref, RATE, 'delay'), RATE);
  t.diagnostic(`drop3 ${drop3.score.toFixed(3)}, delay ${delay.delayMs} ms`);
  assert.ok(drop3.score < 0.8 && drop3.score < opus - 0.1, `drop3 scored ${drop3.score}`);
  assert.equal(delay.delayMs, 1000);
  const noise = mutate(ref, RATE, 'noise');
  assert.equal(noise.length, ref.length);
});

test('applyTestMutation reads PARLOIR_TEST_MUTATE; unset returns the input', () => {
  const saved = process.env.PARLOIR_TEST_MUTATE;
  try {
    delete process.env.PARLOIR_TEST_MUTATE;
    assert.equal(applyTestMutation(ref, RATE), ref);
    process.env.PARLOIR_TEST_MUTATE = 'drop3';
    const d = applyTestMutation(ref, RATE);
    assert.notEqual(d, ref);
    assert.deepEqual(d, mutate(ref, RATE, 'drop3'));
    process.env.PARLOIR_TEST_MUTATE = 'louder';
    assert.throws(() => applyTestMutation(ref, RATE), TestMutationError);
  } finally {
    if (saved === undefined) delete process.env.PARLOIR_TEST_MUTATE;
    else process.env.PARLOIR_TEST_MUTATE = saved;
  }
});

test('Float32 input gives the Int16 result; silence scores 0; bad arguments are typed errors', () => {
  const f = Float32Array.from(ref, (v) => v / 32768);
  const a = speechCheck(ref, ref, RATE);
  const b = speechCheck(f, f, RATE);
  assert.equal(a.score.toFixed(6), b.score.toFixed(6));
  const silent = speechCheck(ref, new Int16Array(ref.length), RATE);
  assert.equal(silent.score, 0);
  assert.equal(silent.speechFrames, 0);
  assert.throws(() => speechCheck(ref, ref, 0), { code: 'SPEECH_CHECK_ERR_BAD_ARG' });
  assert.throws(
    () => speechCheck(ref, ref, RATE, { minLagMs: 10, maxLagMs: -10 }),
    SpeechCheckError,
  );
  assert.throws(() => speechCheck(ref, ref, RATE, { windowMs: 10 }), SpeechCheckError);
});
