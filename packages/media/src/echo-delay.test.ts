import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BulkDelayTracker, estimateBulkDelay, fft } from './echo-delay.ts';
import { MediaError } from './errors.ts';
import { Prng } from './impairment.ts';
import { Room } from './room-sim.ts';

/** Speech-like: seeded noise under a ~4 Hz syllable envelope with pauses, int16 scale. */
function speechLike(seconds: number, seed: number, rate = 48000): Float64Array {
  const p = new Prng(seed);
  const out = new Float64Array(Math.round(seconds * rate));
  let lp = 0;
  for (let i = 0; i < out.length; i++) {
    const t = i / rate;
    const env =
      Math.max(0, Math.sin(2 * Math.PI * 3.7 * t + seed)) *
      (Math.sin(2 * Math.PI * 0.4 * t) > -0.3 ? 1 : 0);
    lp += 0.2 * (p.next() * 2 - 1 - lp);
    out[i] = 20000 * env * lp;
  }
  return out;
}

test('fft then inverse fft gives the input back and matches a direct DFT', () => {
  const p = new Prng(1);
  const n = 64;
  const re = Float64Array.from({ length: n }, () => p.next() - 0.5);
  const im = new Float64Array(n);
  const x = re.slice();
  fft(re, im);
  for (const k of [0, 1, 7, 33]) {
    let dr = 0;
    let di = 0;
    for (let i = 0; i < n; i++) {
      dr += x[i]! * Math.cos((-2 * Math.PI * k * i) / n);
      di += x[i]! * Math.sin((-2 * Math.PI * k * i) / n);
    }
    assert.ok(Math.abs(dr - re[k]!) < 1e-9 && Math.abs(di - im[k]!) < 1e-9);
  }
  fft(re, im, true);
  for (let i = 0; i < n; i++)
    assert.ok(Math.abs(re[i]! - x[i]!) < 1e-12 && Math.abs(im[i]!) < 1e-12);
});

test('a delayed, scaled copy: the delay to within 0.5 ms from 0 to 250 ms', () => {
  const far = speechLike(4, 5);
  for (const ms of [0, 3, 20, 137.5, 249]) {
    const lag = Math.round((ms * 48000) / 1000);
    const cap = new Float64Array(far.length);
    for (let i = lag; i < far.length; i++) cap[i] = 0.3 * far[i - lag]!;
    const r = estimateBulkDelay(far, cap);
    assert.ok(r.delayMs !== null && Math.abs(r.delayMs - ms) <= 0.5, `${ms} ms: got ${r.delayMs}`);
    assert.ok(r.peakRatio > 5, `peak ratio ${r.peakRatio}`);
    assert.ok(r.segments > 10);
  }
});

test('12 seeded rooms (RIR, non-linearity, noise, near talker): the bulk delay to within 2 ms', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const room = new Room(seed, { noiseDbfs: -50 });
    const far = speechLike(6, seed);
    const near = speechLike(6, seed + 100).map((v) => 0.3 * v);
    const { capture } = room.capture(far, near);
    const r = estimateBulkDelay(far, capture);
    assert.ok(r.peakRatio > 20, `seed ${seed}: peak ratio ${r.peakRatio}`);
    assert.ok(
      r.delayMs !== null && Math.abs(r.delayMs - room.delayMs) <= 2,
      `seed ${seed}: room ${room.delayMs.toFixed(1)} ms, found ${r.delayMs}`,
    );
  }
});

test('no echo or silence: null delay or a low peak ratio', () => {
  const far = speechLike(3, 9);
  assert.deepEqual(estimateBulkDelay(far, new Float64Array(far.length)), {
    delayMs: null,
    peakRatio: 0,
    segments: 0,
  });
  const unrelated = speechLike(3, 77);
  const r = estimateBulkDelay(far, unrelated);
  assert.ok(r.peakRatio < 12, `unrelated signals give peak ratio ${r.peakRatio}`);
});

test('bad options are MEDIA_ERR_BAD_OPTION', () => {
  const isBad = (e: unknown): boolean =>
    e instanceof MediaError && e.code === 'MEDIA_ERR_BAD_OPTION';
  for (const sampleRate of [44100, 0, 4000, 1e6, Number.NaN]) {
    assert.throws(() => estimateBulkDelay([], [], { sampleRate }), isBad);
  }
  for (const maxDelayMs of [0, -5, 2000, Number.NaN]) {
    assert.throws(() => estimateBulkDelay([], [], { maxDelayMs }), isBad);
  }
});

test('BulkDelayTracker: settles on the room delay, follows a change, ignores an unrelated capture', () => {
  const a = new Room(2, { noiseDbfs: -60 });
  const b = new Room(9, { noiseDbfs: -60 });
  const far = speechLike(12, 4);
  const capA = a.capture(far.subarray(0, 6 * 48000)).capture;
  const capB = b.capture(far.subarray(6 * 48000)).capture;
  const t = new BulkDelayTracker();
  const changes: { atS: number; delayMs: number }[] = [];
  for (let f = 0; f + 480 <= far.length; f += 480) {
    const cap =
      f < 6 * 48000 ? capA.subarray(f, f + 480) : capB.subarray(f - 6 * 48000, f - 6 * 48000 + 480);
    if (t.push(far.subarray(f, f + 480), cap))
      changes.push({ atS: (f + 480) / 48000, delayMs: t.delayMs! });
  }
  assert.ok(changes.length >= 2, JSON.stringify(changes));
  const first = changes[0]!;
  assert.ok(first.atS <= 4.01 && Math.abs(first.delayMs - a.delayMs) <= 2, JSON.stringify(changes));
  const last = changes.at(-1)!;
  assert.ok(
    last.atS <= 6 + 5.01 && Math.abs(last.delayMs - b.delayMs) <= 2,
    `${JSON.stringify(changes)} want ${b.delayMs}`,
  );

  const u = new BulkDelayTracker();
  const other = speechLike(6, 31);
  for (let f = 0; f + 480 <= other.length; f += 480)
    u.push(far.subarray(f, f + 480), other.subarray(f, f + 480));
  assert.equal(u.delayMs, null);
  assert.ok(u.last !== null && u.last.peakRatio < 15);
  assert.throws(
    () => u.push([1, 2], [1]),
    (e: unknown) => e instanceof MediaError && e.code === 'MEDIA_ERR_BAD_OPTION',
  );
  assert.throws(
    () => new BulkDelayTracker({ windowSeconds: 0.5 }),
    (e: unknown) => e instanceof MediaError,
  );
  assert.throws(
    () => new BulkDelayTracker({ sampleRate: 44100 }),
    (e: unknown) => e instanceof MediaError,
  );
});
