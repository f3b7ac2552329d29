import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MediaError } from './errors.ts';
import { Prng } from './impairment.ts';
import { Room, convolve } from './room-sim.ts';

function noise(n: number, seed: number, amp: number): Float64Array {
  const p = new Prng(seed);
  return Float64Array.from({ length: n }, () => amp * (p.next() * 2 - 1));
}

test('same seed, same room and capture; another seed, another room', () => {
  const far = noise(48000, 1, 8000);
  const a = new Room(42).capture(far);
  const b = new Room(42).capture(far);
  assert.deepEqual(a.capture, b.capture);
  const c = new Room(43);
  assert.notEqual(c.delayMs, new Room(42).delayMs);
  assert.notDeepEqual(c.capture(far).capture, a.capture);
});

test('parameters drawn in their ranges over 200 seeds; given ones are kept', () => {
  for (let seed = 0; seed < 200; seed++) {
    const r = new Room(seed);
    assert.ok(r.rt60 >= 0.2 && r.rt60 <= 0.8);
    assert.ok(r.delayMs >= 20 && r.delayMs <= 250);
    assert.ok(r.echoGain >= 0.25 && r.echoGain <= 0.7);
    assert.ok(r.drive >= 1.2 && r.drive <= 2.5);
    assert.ok(r.drrDb >= 0 && r.drrDb <= 8);
    assert.equal(r.rir.length, Math.round(r.rt60 * 48000));
  }
  const r = new Room(1, { rt60: 0.5, delayMs: 100, echoGain: 0.5, drive: 1, noiseDbfs: -60 });
  assert.deepEqual([r.rt60, r.delayMs, r.echoGain, r.drive, r.noiseDbfs], [0.5, 100, 0.5, 1, -60]);
  assert.equal(
    new Room(1, { rt60: 0.5 }).delayMs,
    new Room(1).delayMs,
    'a given option does not shift the others',
  );
});

test('the impulse response decays with its RT60 (Schroeder integration, -5..-25 dB fit)', () => {
  for (const rt60 of [0.2, 0.4, 0.8]) {
    const h = new Room(7, { rt60 }).rir;
    const edc = new Float64Array(h.length);
    let acc = 0;
    for (let i = h.length - 1; i >= 0; i--) edc[i] = acc += h[i]! * h[i]!;
    const db = (i: number): number => 10 * Math.log10(edc[i]! / edc[0]!);
    const at = (level: number): number => edc.findIndex((_, i) => db(i) <= level);
    const t5 = at(-5);
    const t25 = at(-25);
    const measured = ((t25 - t5) / 48000) * 3; // T20 extrapolated to 60 dB
    assert.ok(
      Math.abs(measured - rt60) / rt60 < 0.25,
      `rt60 ${rt60}: measured ${measured.toFixed(3)}`,
    );
    let e = 0;
    for (const v of h) e += v * v;
    assert.ok(Math.abs(e - 1) < 1e-9, 'RIR energy is 1');
  }
});

test('capture = echo + noise + near; the echo starts after the bulk delay at about the gain', () => {
  const room = new Room(3, { drive: 1.2, noiseDbfs: -60 });
  const far = noise(48000 * 2, 2, 6000);
  const near = noise(48000, 9, 3000);
  const { capture, echo, noise: n } = room.capture(far, near);
  assert.equal(capture.length, far.length);
  const lag = Math.round((room.delayMs * 48000) / 1000);
  for (let i = 0; i < lag; i++) assert.equal(echo[i], 0);
  for (let i = 0; i < far.length; i += 997) {
    const want = echo[i]! + n[i]! + (i < near.length ? near[i]! : 0);
    assert.ok(Math.abs(capture[i]! - want) <= 0.5 + 1e-9);
  }
  let pe = 0;
  let pf = 0;
  for (let i = lag + 48000 * 0.8; i < far.length; i++) {
    pe += echo[i]! ** 2;
    pf += far[i - lag]! ** 2;
  }
  const ratio = Math.sqrt(pe / pf);
  assert.ok(
    Math.abs(ratio - room.echoGain) / room.echoGain < 0.2,
    `echo/far ${ratio} vs gain ${room.echoGain}`,
  );
  let pn = 0;
  for (const v of n) pn += v * v;
  const dbfs = 10 * Math.log10(pn / n.length / 32768 ** 2);
  assert.ok(Math.abs(dbfs + 60) < 0.5, `noise ${dbfs} dBFS`);
});

test('convolve matches direct convolution', () => {
  const x = noise(3000, 4, 1);
  const h = noise(700, 5, 1);
  const y = convolve(x, h);
  for (const i of [0, 1, 699, 1500, 2999, 3698]) {
    let s = 0;
    for (let k = 0; k < h.length; k++) if (i - k >= 0 && i - k < x.length) s += x[i - k]! * h[k]!;
    assert.ok(Math.abs(s - y[i]!) < 1e-9, `index ${i}`);
  }
});

test('bad options are MEDIA_ERR_BAD_OPTION', () => {
  const isBad = (e: unknown): boolean =>
    e instanceof MediaError && e.code === 'MEDIA_ERR_BAD_OPTION';
  for (const o of [
    { rt60: 0.1 },
    { rt60: 0.9 },
    { delayMs: 10 },
    { delayMs: 300 },
    { echoGain: 2 },
    { drive: 0.5 },
    { noiseDbfs: 0 },
    { drrDb: 30 },
    { sampleRate: Number.NaN },
  ]) {
    assert.throws(() => new Room(1, o), isBad, JSON.stringify(o));
  }
});
