import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AudioError,
  formatDeviceSpec,
  openAudioDevice,
  parseDeviceSpec,
  parseWav,
  readWav,
  writeWav,
  type CaptureStream,
} from './index.ts';
import { engineJitterOptions } from '../engine/jitter-options.ts';
import { startPlayout } from './playout.ts';
import { waitFor } from '../../test/helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'parloir-audio-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function ramp(n: number, channels = 1): Int16Array {
  return new Int16Array(n * channels).map((_, i) => ((i * 37) % 65536) - 32768);
}

function assertAudioError(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof AudioError && err.code === code);
}

test('device specs: alsa:NAME, wav:PATH, null; anything else is AUDIO_ERR_BAD_SPEC', () => {
  assert.deepEqual(parseDeviceSpec('alsa:default'), { kind: 'alsa', name: 'default' });
  assert.deepEqual(parseDeviceSpec('alsa:hw:0,0'), { kind: 'alsa', name: 'hw:0,0' });
  assert.deepEqual(parseDeviceSpec('alsa:plughw:CARD=PCH,DEV=0'), {
    kind: 'alsa',
    name: 'plughw:CARD=PCH,DEV=0',
  });
  assert.deepEqual(parseDeviceSpec('wav:/tmp/a b.wav'), { kind: 'wav', path: '/tmp/a b.wav' });
  assert.deepEqual(parseDeviceSpec('null'), { kind: 'null' });
  for (const s of ['alsa:default', 'wav:x.wav', 'null']) {
    assert.equal(formatDeviceSpec(parseDeviceSpec(s)), s);
  }
  for (const bad of [
    '',
    'alsa:',
    'wav:',
    'default',
    'pulse',
    'NULL',
    'oss:/dev/dsp',
    'alsa:a\nb',
  ]) {
    assertAudioError(() => parseDeviceSpec(bad), 'AUDIO_ERR_BAD_SPEC');
  }
  assertAudioError(() => parseDeviceSpec(42 as never), 'AUDIO_ERR_BAD_SPEC');
  assertAudioError(() => openAudioDevice('wav:x', { pace: 'slow' as never }), 'AUDIO_ERR_BAD_ARG');
});

test('WAV files round-trip, and malformed ones give AUDIO_ERR_FORMAT', () => {
  const path = join(dir, 'rt.wav');
  const samples = ramp(1000, 2);
  writeWav(path, { sampleRate: 16000, channels: 2, samples });
  const back = readWav(path);
  assert.equal(back.sampleRate, 16000);
  assert.equal(back.channels, 2);
  assert.deepEqual(back.samples, samples);
  assert.equal(statSync(path).size, 44 + samples.byteLength);
  assertAudioError(() => readWav(join(dir, 'missing.wav')), 'AUDIO_ERR_FILE');
  const good = readFileSync(path);
  assertAudioError(() => parseWav(good.subarray(0, 10)), 'AUDIO_ERR_FORMAT');
  const eightBit = Buffer.from(good);
  eightBit.writeUInt16LE(8, 34);
  assertAudioError(() => parseWav(eightBit), 'AUDIO_ERR_FORMAT');
  // Random and truncated bytes never throw anything but AudioError.
  let seed = 3;
  for (let i = 0; i < 500; i++) {
    const b = Buffer.from(good.subarray(0, 10 + (i % 80)));
    seed = (seed * 1103515245 + 12345) >>> 0;
    b[seed % b.length] = seed >>> 24;
    try {
      parseWav(b);
    } catch (err) {
      assert.ok(err instanceof AudioError, String(err));
    }
  }
});

test('wav capture, fast: exact samples in fixed frames with a contiguous device index', async () => {
  const path = join(dir, 'in.wav');
  const samples = ramp(48000);
  writeWav(path, { sampleRate: 48000, channels: 1, samples });
  const got: Int16Array[] = [];
  let next = 0;
  let stream: CaptureStream | undefined;
  await new Promise<void>((resolve) => {
    stream = openAudioDevice(`wav:${path}`, { pace: 'fast' }).openCapture({
      sampleRate: 48000,
      channels: 1,
      frameSamples: 960,
      onFrame: (frame, { sampleIndex }) => {
        assert.equal(sampleIndex, next);
        next += frame.length;
        got.push(frame);
        if (got.length === 10 && stream) stream.frameSamples = 480;
      },
      onEnd: resolve,
    });
  });
  assert.ok(got.slice(0, 10).every((f) => f.length === 960));
  assert.ok(got.slice(10).every((f) => f.length === 480));
  const all = new Int16Array(next);
  let off = 0;
  for (const f of got) {
    all.set(f, off);
    off += f.length;
  }
  assert.deepEqual(all.subarray(0, samples.length), samples);
  assert.ok(
    all.subarray(samples.length).every((x) => x === 0),
    'last frame padded with silence',
  );
  assertAudioError(
    () =>
      openAudioDevice(`wav:${path}`).openCapture({
        sampleRate: 16000,
        channels: 1,
        frameSamples: 160,
        onFrame: () => {},
      }),
    'AUDIO_ERR_FORMAT',
  );
});

test('wav capture in real time delivers at wall-clock rate', async () => {
  const path = join(dir, 'rt-in.wav');
  writeWav(path, { sampleRate: 48000, channels: 1, samples: ramp(48000) });
  let frames = 0;
  const s = openAudioDevice(`wav:${path}`).openCapture({
    sampleRate: 48000,
    channels: 1,
    frameSamples: 480,
    onFrame: () => frames++,
  });
  await waitFor(() => frames >= 30, '30 frames', 10_000, 5);
  const elapsed = performance.now() - (s.startedAtMs ?? 0);
  s.close();
  s.close();
  const expected = Math.floor(elapsed / 10);
  assert.ok(Math.abs(frames - expected) <= 3, `${frames} frames in ${elapsed.toFixed(0)} ms`);
});

test('wav playback in real time writes silence when starved, so file position is device time', async () => {
  const path = join(dir, 'out.wav');
  const p = openAudioDevice(`wav:${path}`).openPlayback({ sampleRate: 48000, channels: 1 });
  await waitFor(() => p.stats().silenceSamples >= 48 * 100, '100 ms of starved silence', 10_000, 5);
  const writeAt = performance.now();
  assert.equal(p.write(new Int16Array(4800).fill(1234)), true);
  const expectedPos = ((writeAt - (p.startedAtMs ?? 0)) * 48000) / 1000;
  await waitFor(() => p.queuedSamples === 0, 'the written audio played', 10_000, 5);
  const drainAt = performance.now();
  await p.drain();
  const { samples } = readWav(path);
  const first = samples.indexOf(1234);
  // The device commits one 10 ms period ahead: the audio lands within a period after the
  // moment it was written (a late timer may pull it a few ms earlier).
  assert.ok(
    first >= expectedPos - 48 * 5 && first <= expectedPos + 48 * 25,
    `${first} vs ${expectedPos}`,
  );
  assert.equal(samples.filter((x) => x === 1234).length, 4800);
  // The file is as long as the device ran, silence included (one period of slack).
  const ranMs = drainAt - (p.startedAtMs ?? 0);
  assert.ok(samples.length >= 48 * (ranMs - 10), `${samples.length} samples for ${ranMs} ms`);
  assert.ok(p.stats().silenceSamples > 0);
  assertAudioError(() => p.write(new Int16Array(2)), 'AUDIO_ERR_CLOSED');
});

test('wav playback, fast: the file is exactly what was written', async () => {
  const path = join(dir, 'fast.wav');
  const p = openAudioDevice(`wav:${path}`, { pace: 'fast' }).openPlayback({
    sampleRate: 24000,
    channels: 2,
  });
  const data = ramp(2400, 2);
  for (let i = 0; i < data.length; i += 480) p.write(data.subarray(i, i + 480));
  assert.equal(p.consumedSamples, 2400);
  assertAudioError(() => p.write(new Int16Array(3)), 'AUDIO_ERR_BAD_ARG');
  await p.drain();
  assert.deepEqual(readWav(path).samples, data);
});

test('null: silence captured and playback consumed at real-time pace', async () => {
  const dev = openAudioDevice('null');
  let frames = 0;
  let nonSilent = 0;
  const c = dev.openCapture({
    sampleRate: 16000,
    channels: 1,
    frameSamples: 320,
    onFrame: (f) => {
      frames++;
      if (f.some((x) => x !== 0)) nonSilent++;
    },
  });
  const p = dev.openPlayback({ sampleRate: 16000, channels: 1 });
  const t0 = performance.now();
  p.write(new Int16Array(16000));
  await waitFor(() => frames >= 12, '12 frames', 10_000, 5);
  c.close();
  const consumed = p.consumedSamples;
  const ms = performance.now() - t0;
  p.close();
  // Rates over the measured interval: 50 frames/s and 16 samples/ms (the 1 s written is enough
  // unless this took over a second, which the bound allows for).
  assert.ok(Math.abs(frames - ms / 20) <= 2, `${frames} frames of 20 ms in ${ms.toFixed(0)} ms`);
  assert.equal(nonSilent, 0);
  const due = Math.min(16000, 16 * ms);
  assert.ok(Math.abs(consumed - due) <= 16 * 30, `${consumed} samples in ${ms.toFixed(0)} ms`);
  assertAudioError(
    () => dev.openCapture({ sampleRate: 44, channels: 1, frameSamples: 1, onFrame: () => {} }),
    'AUDIO_ERR_BAD_ARG',
  );
  assertAudioError(
    () => dev.openCapture({ sampleRate: 16000, channels: 3, frameSamples: 1, onFrame: () => {} }),
    'AUDIO_ERR_BAD_ARG',
  );
  assertAudioError(
    () => dev.openCapture({ sampleRate: 16000, channels: 1, frameSamples: 0, onFrame: () => {} }),
    'AUDIO_ERR_BAD_ARG',
  );
});

test('startPlayout pulls frames on the device clock and keeps the queue near its target', async () => {
  const path = join(dir, 'playout.wav');
  const p = openAudioDevice(`wav:${path}`).openPlayback({ sampleRate: 48000, channels: 1 });
  const stamps: number[] = [];
  let n = 0;
  const loop = startPlayout(p, {
    frameSamples: 480,
    targetQueuedSamples: 960,
    pull: (out, deviceSample) => {
      stamps.push(deviceSample);
      out.fill(++n);
    },
  });
  await waitFor(() => stamps.length >= 15, '15 frames pulled', 10_000, 5);
  loop.stop();
  loop.stop();
  assert.ok(p.queuedSamples <= 960 + 480);
  await p.drain();
  const { samples } = readWav(path);
  // Each pulled frame plays exactly where its stamp said it would.
  for (let k = 0; k < stamps.length; k++) {
    const at = stamps[k] as number;
    assert.equal(samples[at], k + 1, `frame ${k + 1} at ${at}`);
    assert.equal(samples[at + 479], k + 1);
  }
  assert.throws(() => startPlayout(p, { frameSamples: 0, pull: () => {} }), AudioError);
});

test('startPlayout.service pulls ahead while the caller is awake, so the timer does not fire', async () => {
  const path = join(dir, 'service.wav');
  const p = openAudioDevice(`wav:${path}`).openPlayback({ sampleRate: 48000, channels: 1 });
  let inService = false;
  let timerPulls = 0;
  let servicePulls = 0;
  const loop = startPlayout(p, {
    frameSamples: 240,
    targetQueuedSamples: 240,
    pull: () => (inService ? servicePulls++ : timerPulls++),
  });
  const startupPulls = timerPulls;
  // A caller awake every 10 ms tops up 30 ms beyond the target: the queue never drains to the
  // target between two calls, unless this event loop stalls for 20 ms or more.
  const iv = setInterval(() => {
    inService = true;
    loop.service(1440);
    inService = false;
    assert.ok(p.queuedSamples >= 240 + 1440, `queued ${p.queuedSamples}`);
  }, 10);
  const t0 = performance.now();
  await waitFor(() => servicePulls >= 60, '60 service pulls', 10_000, 5);
  clearInterval(iv);
  loop.stop();
  const ms = performance.now() - t0;
  p.close();
  // At start the timer fills to the target (within its 1 ms early-firing slack).
  assert.ok(startupPulls >= 1 && startupPulls <= 2, `${startupPulls} start-up pulls`);
  assert.ok(timerPulls - startupPulls <= 2, `${timerPulls - startupPulls} timer pulls`);
  // One 5 ms frame per 5 ms of the measured interval, all pulled by service (plus the 35 ms
  // queued at the end).
  const due = ms / 5 + 7;
  assert.ok(Math.abs(servicePulls - due) <= 8, `${servicePulls} service pulls in ${ms} ms`);
});

test('wav playback driven by a native receiver: the file gets what the receiver played and nothing of its own', async () => {
  const { NativeRtpReceiver, setUdpReading, udpSocketFd } = await import('@parloir/native');
  const { createSocket } = await import('node:dgram');
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  setUdpReading(sock, false);
  const receiver = new NativeRtpReceiver({
    fd: udpSocketFd(sock)!,
    address: '127.0.0.1',
    port: 9,
    payloadTypes: [111],
    key: new Uint8Array(16),
    salt: new Uint8Array(12),
    jitter: engineJitterOptions(20, 400),
    onDatagram: () => undefined,
  });
  const path = join(dir, 'native-rx.wav');
  const stream = openAudioDevice(`wav:${path}`).openPlayback({
    sampleRate: 48_000,
    channels: 1,
    periodMs: 10,
  });
  assert.ok(stream.attachReceiver !== undefined);
  stream.attachReceiver(receiver);
  assertAudioError(() => stream.attachReceiver?.(receiver), 'AUDIO_ERR_BAD_ARG');
  const t0 = performance.now();
  await waitFor(() => receiver.stats().playedSamples >= 0.4 * 48_000, '0.4 s played', 10_000, 5);
  const played = receiver.stats().playedSamples;
  const ranS = (performance.now() - t0) / 1000;
  stream.close();
  receiver.close();
  sock.close();
  const wav = readWav(path);
  // The receiver's device clock (the time it ran plus its queue), not that plus the stream's own
  // silence for the same time (which doubled the file before).
  assert.ok(played < (ranS + 0.1) * 48_000, `played ${played} in ${ranS.toFixed(3)} s`);
  assert.ok(
    Math.abs(wav.samples.length - played) <= 960,
    `file ${wav.samples.length} samples, receiver played ${played}`,
  );
});
