import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeAlsaConfig } from './alsa-config.ts';
import { waitFor } from './wait.ts';

// Real libasound through the file plugin: the configuration must be in place before the addon
// first opens a PCM (it is read once per process), hence before the dynamic import below.
const dir = mkdtempSync(join(tmpdir(), 'parloir-alsa-'));
const RATE = 48000;
const input = new Int16Array(RATE); // 1 s of deterministic noise
let seed = 7;
for (let i = 0; i < input.length; i++) {
  seed = (seed * 1103515245 + 12345) >>> 0;
  input[i] = (seed >>> 16) - 32768;
}
const inRaw = join(dir, 'in.raw');
writeFileSync(inRaw, input);
process.env.ALSA_CONFIG_PATH = writeAlsaConfig(dir, {
  capture: { tcap: inRaw },
  playback: {
    tplay: join(dir, 'out.raw'),
    tplay2: join(dir, 'out2.raw'),
    texit: join(dir, 'exit.raw'),
  },
  // vdownmix only takes 4..6 channels: a real "unsupported parameter" from libasound.
  extra: 'pcm.tdownmix { type vdownmix slave.pcm "null" }',
});
const { AlsaError, PcmCapture, PcmPlayback, listPcmDevices } = await import('../index.ts');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function readRaw(path: string): Int16Array {
  const b = readFileSync(path);
  const out = new Int16Array(b.length >> 1);
  new Uint8Array(out.buffer).set(b.subarray(0, out.length * 2));
  return out;
}

function assertAlsaError(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AlsaError, `expected AlsaError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

test('device list comes from snd_device_name_hint and includes the asoundrc PCMs', () => {
  const names = listPcmDevices().map((d) => d.name);
  assert.ok(names.includes('null'), names.join(' '));
  assert.ok(names.includes('tcap') && names.includes('tplay'), names.join(' '));
});

test('capture through the file plugin is bit-exact, with the frame size changed on the fly', async () => {
  const got: Int16Array[] = [];
  const sizes: number[] = [];
  let expectIndex = 0;
  let total = 0;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => (resolveDone = r));
  const cap = new PcmCapture({
    device: 'tcap',
    sampleRate: RATE,
    channels: 1,
    periodFrames: 480,
    frameSamples: 480,
    onFrame: (frame, index) => {
      assert.equal(index, expectIndex, 'device frame index is contiguous');
      expectIndex += frame.length;
      got.push(frame);
      sizes.push(frame.length);
      total += frame.length;
      if (got.length === 5) cap.frameSamples = 960;
      if (got.length === 15) cap.frameSamples = 240;
      if (total >= input.length) resolveDone();
    },
  });
  await done;
  const st = cap.stats();
  cap.close();
  cap.close();
  const all = new Int16Array(total);
  let off = 0;
  for (const f of got) {
    all.set(f, off);
    off += f.length;
  }
  assert.deepEqual(all.subarray(0, input.length), input);
  assert.ok(sizes.slice(0, 5).every((n) => n === 480));
  assert.ok(sizes.slice(5, 15).every((n) => n === 960));
  assert.ok(sizes.slice(15).every((n) => n === 240));
  assert.equal(st.periodFrames, 480);
  assert.equal(st.xruns, 0);
  assert.ok(st.startedAtMs !== undefined && st.startedAtMs <= performance.now());
  assert.ok(st.deviceFrames >= input.length);
});

test('capture period and buffer change while the stream runs; the stream stays valid', async () => {
  let frames = 0;
  const cap = new PcmCapture({
    device: 'tcap',
    sampleRate: RATE,
    channels: 1,
    periodFrames: 480,
    frameSamples: 480,
    onFrame: () => frames++,
  });
  while (frames < 5) await sleep(5);
  const granted = cap.reconfigure({ periodFrames: 240, bufferFrames: 960 });
  assert.deepEqual(granted, { periodFrames: 240, bufferFrames: 960 });
  const before = frames;
  while (frames < before + 5) await sleep(5);
  assert.equal(cap.stats().periodFrames, 240);
  assertAlsaError(
    () => cap.reconfigure({ periodFrames: 240, bufferFrames: 1e6 }),
    'ALSA_ERR_BAD_ARG',
  );
  cap.close();
  assertAlsaError(() => cap.reconfigure({ periodFrames: 480 }), 'ALSA_ERR_CLOSED');
  assertAlsaError(() => (cap.frameSamples = 480), 'ALSA_ERR_CLOSED');
  assert.equal(cap.stats().closed, true);
});

test('playback through the file plugin is bit-exact (no silence fill), then drains', async () => {
  const play = new PcmPlayback({
    device: 'tplay',
    sampleRate: RATE,
    channels: 1,
    periodFrames: 480,
    fillSilence: false,
  });
  for (let off = 0; off < input.length;) {
    const frame = input.subarray(off, off + 960);
    if (play.write(frame)) off += frame.length;
    else await sleep(2);
  }
  while (play.stats().ringFrames > 0) await sleep(2);
  const st = play.stats();
  play.close({ drain: true });
  play.close();
  assert.deepEqual(readRaw(join(dir, 'out.raw')), input);
  assert.equal(st.silenceFrames, 0);
  assert.ok(st.startedAtMs !== undefined);
  assertAlsaError(() => play.write(new Int16Array(2)), 'ALSA_ERR_CLOSED');
});

test('playback plays silence when starved and can be reconfigured on the fly', async () => {
  const play = new PcmPlayback({
    device: 'tplay2',
    sampleRate: RATE,
    channels: 2,
    periodFrames: 480,
  });
  const t0 = performance.now();
  assert.equal(play.write(new Int16Array(960 * 2).fill(1000)), true);
  await waitFor(() => play.stats().silenceFrames > 0, 'silence when starved');
  const granted = play.reconfigure({ periodFrames: 960, bufferFrames: 3840 });
  assert.deepEqual(granted, { periodFrames: 960, bufferFrames: 3840 });
  const after = play.stats().deviceFrames;
  await waitFor(() => play.stats().deviceFrames >= after + 960, 'a period after the change');
  const st = play.stats();
  play.close();
  const ranS = (performance.now() - t0) / 1000;
  assert.ok(st.silenceFrames > 0, `silence ${st.silenceFrames}`);
  assert.ok(st.deviceFrames >= 960 + st.silenceFrames);
  // The thread may play silence before the first write lands: the frame shows up whole, once,
  // somewhere in the output, and everything else is silence.
  const out = readRaw(join(dir, 'out2.raw'));
  const first = out.indexOf(1000);
  assert.ok(first >= 0 && first % 2 === 0, 'written audio reached the device');
  assert.ok(
    out.subarray(first, first + 1920).every((x) => x === 1000),
    'in one piece',
  );
  assert.equal(out.filter((x) => x !== 0).length, 1920, 'the rest is silence');
  // Silence on a device with no clock of its own is paced, not spun: about the time it ran (plus
  // the 3840-frame buffer), not megabytes.
  assert.ok(
    out.length / 2 < ranS * RATE + 3840 + 960,
    `${out.length / 2} frames written in ${(ranS * 1000).toFixed(0)} ms`,
  );
});

test('a capture device faster than real time cannot starve the event loop', async () => {
  // The file plugin over `null` has no clock: past the end of its infile it returns silence as
  // fast as it is read. Frames must still come in bounded batches with timers running between.
  let frames = 0;
  const cap = new PcmCapture({
    device: 'tcap',
    sampleRate: RATE,
    channels: 1,
    frameSamples: 480,
    onFrame: () => {
      frames++;
      const until = performance.now() + 0.05; // a little work per frame
      while (performance.now() < until);
    },
  });
  // Once the flood has started (the capture thread's start-up is not timed), a 20 ms timer must
  // fire about on time and the frames go on after it.
  await waitFor(() => frames > 100, 'the flood of frames');
  const t0 = performance.now();
  await sleep(20);
  const late = performance.now() - t0 - 20;
  const seen = frames;
  await waitFor(() => frames > seen, 'frames after the timer');
  cap.close();
  assert.ok(seen > 100, `${seen} frames before the timer fired`);
  assert.ok(late < 250, `a 20 ms timer fired ${late.toFixed(0)} ms late`);
  assert.ok(frames > seen, 'delivery went on after the timer');
});

test('bad input and device errors are typed AlsaErrors with the ALSA message', () => {
  const bad = (x: unknown) => x as never;
  const base = { sampleRate: RATE, channels: 1, frameSamples: 480, onFrame: () => {} };
  assertAlsaError(() => new PcmCapture({ ...base, device: 'nosuch' }), 'ALSA_ERR_NO_DEVICE');
  assertAlsaError(() => new PcmPlayback({ ...base, device: 'hw:7,0' }), 'ALSA_ERR_NO_DEVICE');
  assertAlsaError(() => new PcmPlayback({ ...base, device: 'tdownmix' }), 'ALSA_ERR_UNSUPPORTED');
  try {
    new PcmPlayback({ ...base, device: 'tdownmix' });
  } catch (err) {
    assert.match((err as Error).message, /channel count not supported: Invalid argument/);
  }
  assertAlsaError(() => new PcmCapture({ ...base, device: '' }), 'ALSA_ERR_BAD_ARG');
  assertAlsaError(() => new PcmCapture({ ...base, device: bad(42) }), 'ALSA_ERR_BAD_ARG');
  assertAlsaError(
    () => new PcmCapture({ ...base, device: 'tcap', sampleRate: 7000 }),
    'ALSA_ERR_BAD_ARG',
  );
  assertAlsaError(
    () => new PcmCapture({ ...base, device: 'tcap', sampleRate: 96000 }),
    'ALSA_ERR_BAD_ARG',
  );
  assertAlsaError(
    () => new PcmCapture({ ...base, device: 'tcap', channels: 3 }),
    'ALSA_ERR_BAD_ARG',
  );
  assertAlsaError(
    () => new PcmCapture({ ...base, device: 'tcap', frameSamples: 0 }),
    'ALSA_ERR_BAD_ARG',
  );
  assertAlsaError(
    () => new PcmCapture({ ...base, device: 'tcap', periodFrames: 1.5 }),
    'ALSA_ERR_BAD_ARG',
  );
  assertAlsaError(
    () => new PcmCapture({ ...base, device: 'tcap', onFrame: bad(null) }),
    'ALSA_ERR_BAD_ARG',
  );
  assertAlsaError(() => new PcmCapture(bad(null)), 'ALSA_ERR_BAD_ARG');
  const play = new PcmPlayback({ device: 'null', sampleRate: RATE, channels: 2 });
  assertAlsaError(() => play.write(bad(new Float32Array(4))), 'ALSA_ERR_BAD_ARG');
  assertAlsaError(() => play.write(bad([1, 2])), 'ALSA_ERR_BAD_ARG');
  assertAlsaError(() => play.write(new Int16Array(3)), 'ALSA_ERR_BAD_ARG');
  assertAlsaError(() => play.reconfigure({ periodFrames: 4 }), 'ALSA_ERR_BAD_ARG');
  assert.equal(play.write(new Int16Array(RATE * 2 * 4)), false, 'more than the ring holds');
  assert.equal(play.stats().droppedFrames, RATE * 4);
  play.close();
  play.close();
  assertAlsaError(() => play.write(new Int16Array(2)), 'ALSA_ERR_CLOSED');
  assertAlsaError(() => play.reconfigure({ periodFrames: 480 }), 'ALSA_ERR_CLOSED');
});

test('streams still open at process exit are closed (the file plugin flushes its data)', () => {
  const script = `
    const { PcmPlayback } = await import(${JSON.stringify(resolve(import.meta.dirname, '../index.ts'))});
    const p = new PcmPlayback({ device: 'texit', sampleRate: 48000, channels: 1, fillSilence: false });
    p.write(new Int16Array(4800).fill(7));
    await new Promise((r) => setTimeout(r, 100));
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env },
    encoding: 'utf8',
    timeout: 20000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = readRaw(join(dir, 'exit.raw'));
  assert.equal(out.length, 4800);
  assert.ok(out.every((x) => x === 7));
});
