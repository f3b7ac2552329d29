import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '@parloir/media';
import { ApmError, AudioProcessor, NativeError, type ApmEngine } from '../index.ts';

function isApmError(code: string): (e: unknown) => boolean {
  return (e: unknown) =>
    e instanceof ApmError && e instanceof NativeError && e.code === code && e.message !== '';
}

/** Seeded far signal: noise bursts with a slow envelope, like speech levels. */
function farSignal(seconds: number, seed: number): Int16Array {
  const p = new Prng(seed);
  const out = new Int16Array(48000 * seconds);
  for (let i = 0; i < out.length; i++) {
    const env = 0.4 + 0.6 * Math.abs(Math.sin(i / 7000));
    out[i] = Math.round((p.next() * 2 - 1) * 7000 * env);
  }
  return out;
}

/** Echo: far delayed by `delay` samples through a short decaying 3-tap path. */
function echoOf(far: Int16Array, delay: number): Int16Array {
  const out = new Int16Array(far.length);
  for (let i = 0; i < far.length; i++) {
    const k = i - delay;
    const v =
      (k >= 0 ? 0.5 * far[k]! : 0) +
      (k >= 40 ? 0.25 * far[k - 40]! : 0) +
      (k >= 300 ? 0.1 * far[k - 300]! : 0);
    out[i] = Math.round(v);
  }
  return out;
}

function power(x: Int16Array, from: number, to: number): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return s / (to - from);
}

/** Runs far and capture through `apm` frame by frame; returns the processed capture. */
function run(apm: AudioProcessor, far: Int16Array, capture: Int16Array): Int16Array {
  const out = new Int16Array(capture.length);
  const n = apm.frameSamples;
  for (let f = 0; f + n <= capture.length; f += n) {
    apm.processReverse(far.slice(f, f + n));
    const frame = capture.slice(f, f + n);
    apm.process(frame);
    out.set(frame, f);
  }
  return out;
}

for (const engine of ['webrtc', 'speex'] as ApmEngine[]) {
  test(`${engine}: cancels a delayed echo (far-end only) by at least 20 dB after 2 s`, () => {
    const far = farSignal(5, 7);
    const capture = echoOf(far, 48 * 80);
    const apm = new AudioProcessor({ engine, ns: false, delayMs: 80 });
    const out = run(apm, far, capture);
    const erle = 10 * Math.log10(power(capture, 96000, 240000) / power(out, 96000, 240000));
    const s = apm.stats();
    apm.close();
    assert.ok(erle >= 20, `${engine} ERLE ${erle.toFixed(1)} dB`);
    assert.equal(s.engine, engine);
    assert.equal(s.frames, 500);
    assert.equal(s.reverseFrames, 500);
    assert.equal(s.delayMs, 80);
    assert.equal(s.errors, 0);
    assert.ok(s.measuredErleDb >= 15, `measured ERLE ${s.measuredErleDb}`);
    if (engine === 'webrtc') {
      assert.ok(Number.isFinite(s.libraryDelayMs), 'webrtc reports its delay estimate');
      assert.equal(s.streamHasEcho, true);
    } else {
      assert.ok(Number.isNaN(s.libraryErleDb));
    }
  });

  test(`${engine}: near-end speech with a silent far end passes unharmed`, () => {
    const near = new Int16Array(48000 * 2);
    for (let i = 0; i < near.length; i++) {
      const env = Math.abs(Math.sin(i / 4000));
      near[i] = Math.round(env * 6000 * (Math.sin(i * 0.03) + 0.5 * Math.sin(i * 0.071)));
    }
    const apm = new AudioProcessor({ engine, ns: false, highPass: false });
    const out = run(apm, new Int16Array(near.length), near);
    apm.close();
    // Envelope correlation over 10 ms blocks, after the first 200 ms.
    const e = (x: Int16Array): number[] => {
      const r: number[] = [];
      for (let f = 9600; f + 480 <= x.length; f += 480) r.push(Math.sqrt(power(x, f, f + 480)));
      return r;
    };
    const a = e(near);
    const b = e(out);
    const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
    const ma = mean(a);
    const mb = mean(b);
    let sab = 0;
    let saa = 0;
    let sbb = 0;
    for (let i = 0; i < a.length; i++) {
      sab += (a[i]! - ma) * (b[i]! - mb);
      saa += (a[i]! - ma) ** 2;
      sbb += (b[i]! - mb) ** 2;
    }
    const corr = sab / Math.sqrt(saa * sbb);
    assert.ok(corr >= 0.95, `${engine} near-end correlation ${corr}`);
  });

  test(`${engine}: noise suppression lowers stationary white noise`, () => {
    const p = new Prng(3);
    const noise = new Int16Array(48000 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = Math.round((p.next() * 2 - 1) * 1500);
    const apm = new AudioProcessor({ engine, aec: false, ns: true, nsLevel: 3 });
    const out = run(apm, new Int16Array(noise.length), noise);
    apm.close();
    const db = 10 * Math.log10(power(noise, 48000, 144000) / power(out, 48000, 144000));
    assert.ok(db >= 6, `${engine} noise reduced by ${db.toFixed(1)} dB`);
  });
}

test('bad options, unsupported rates, bad frames and use after close are typed errors', () => {
  assert.throws(
    () => new AudioProcessor({ engine: 'aec3' as ApmEngine }),
    isApmError('APM_ERR_BAD_OPTION'),
  );
  assert.throws(
    () => new AudioProcessor({ bogus: 1 } as unknown as Record<string, never>),
    isApmError('APM_ERR_BAD_OPTION'),
  );
  assert.throws(
    () => new AudioProcessor({ aec: 1 as unknown as boolean }),
    isApmError('APM_ERR_BAD_OPTION'),
  );
  assert.throws(() => new AudioProcessor({ nsLevel: 4 }), isApmError('APM_ERR_BAD_OPTION'));
  assert.throws(
    () => new AudioProcessor({ extendedFilter: 'yes' as never }),
    isApmError('APM_ERR_BAD_OPTION'),
  );
  assert.throws(
    () => new AudioProcessor({ aecLevel: 'max' as 'high' }),
    isApmError('APM_ERR_BAD_OPTION'),
  );
  new AudioProcessor({ aecLevel: 'low' }).close();
  assert.throws(
    () => new AudioProcessor({ engine: 'speex', tailMs: 5 }),
    isApmError('APM_ERR_BAD_OPTION'),
  );
  for (const sampleRate of [44100, 22050, 0, -1, 1.5, Number.NaN]) {
    for (const engine of ['webrtc', 'speex'] as ApmEngine[]) {
      assert.throws(
        () => new AudioProcessor({ engine, sampleRate }),
        isApmError('APM_ERR_UNSUPPORTED_RATE'),
      );
    }
  }
  const apm = new AudioProcessor({ sampleRate: 16000 });
  assert.equal(apm.frameSamples, 160);
  apm.process(new Int16Array(160));
  assert.throws(() => apm.process(new Int16Array(480)), isApmError('APM_ERR_BAD_ARG'));
  assert.throws(
    () => apm.processReverse(new Float32Array(160) as unknown as Int16Array),
    isApmError('APM_ERR_BAD_ARG'),
  );
  assert.throws(() => apm.setStreamDelayMs(501), isApmError('APM_ERR_BAD_ARG'));
  assert.throws(() => apm.setStreamDelayMs(-1), isApmError('APM_ERR_BAD_ARG'));
  assert.throws(() => new AudioProcessor({ delayMs: 1e9 }), isApmError('APM_ERR_BAD_ARG'));
  apm.close();
  apm.close();
  assert.throws(() => apm.process(new Int16Array(160)), isApmError('APM_ERR_CLOSED'));
  assert.throws(() => apm.processReverse(new Int16Array(160)), isApmError('APM_ERR_CLOSED'));
  assert.throws(() => apm.stats(), isApmError('APM_ERR_CLOSED'));
  assert.throws(() => apm.setStreamDelayMs(10), isApmError('APM_ERR_CLOSED'));
});
