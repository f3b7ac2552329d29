/**
 * The engine's receive clocking, on a manual clock: packets arrive every 20 ms exactly, but the
 * playback device's pulls come bunched (three 10 ms ticks every 30 ms, then a 60 ms stall
 * followed by six at once), as a busy event loop delivers timers. The buffer must pull on the
 * device's clock, so it never expands nor conceals, and accelerates only at start-up. Real libopus and
 * the real `@parloir/media` buffer; only the clock, transport and devices are in-memory, because
 * the point is exact control of when things happen.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallEngine } from './engine.ts';
import { MediaJitterBuffer } from './media-jitter-buffer.ts';
import { MediaQualityModel } from './media-quality.ts';
import { NativeOpusEncoder } from './native-adapters.ts';
import type { PullDecision } from './ports.ts';
import { fakeTransport, silentCapture } from './test-ports.ts';

test('bunched device pulls do not make the buffer time-stretch', async () => {
  let now = 1000;
  let pull: ((out: Int16Array, clock: number, playAtMs: number) => void) | undefined;
  const transport = fakeTransport();
  const decisions: PullDecision[] = [];
  const engine = new CallEngine({
    transport: transport.port,
    capture: silentCapture(),
    playback: {
      start: (p) => (pull = p),
      setPeriodMs: () => {},
      close: () => Promise.resolve(),
    },
    encoder: new NativeOpusEncoder(),
    jitterBuffer: new MediaJitterBuffer({ minMs: 20, maxMs: 400 }),
    quality: new MediaQualityModel(),
    now: () => now,
    snapshotMs: 60_000,
    settings: { adapt: false },
    probes: { played: (_o, _c, _n, d) => decisions.push(d) },
  });
  engine.start();
  assert.ok(transport.listening && pull !== undefined);
  const enc = new NativeOpusEncoder();
  const tone = new Int16Array(960);
  const out = new Int16Array(480);
  let sent = 0;
  let played = 0;
  const deviceStart = 1000 + 25; // the device plays each sample ~25 ms after the first pull
  const arriveUntil = (t: number): void => {
    while (1000 + sent * 20 <= t) {
      for (let i = 0; i < 960; i++) {
        tone[i] = Math.round(6000 * Math.sin((2 * Math.PI * 300 * (sent * 960 + i)) / 48000));
      }
      now = 1000 + sent * 20;
      transport.deliver({
        sequenceNumber: sent & 0xffff,
        timestamp: sent * 960,
        ssrc: 7,
        marker: sent === 0,
        payloadType: 111,
        payload: enc.encode(tone),
        sizeBytes: 100,
      });
      sent++;
    }
  };
  // 8 s: a timer every 30 ms pulls the three ticks due; every second, a 60 ms stall.
  for (let t = 1000; t < 9000; t += 30) {
    const stalled = t % 1000 < 60 && t > 2000;
    if (stalled) continue;
    arriveUntil(t);
    now = t;
    while (deviceStart + played * 10 < t + 30) {
      pull?.(out, played * 480, deviceStart + played * 10);
      played++;
    }
  }
  await engine.stop();
  const snap = await engine.snapshotNow();
  const count = (d: PullDecision) => decisions.filter((x) => x === d).length;
  // After the start-up buffering, everything is played as decoded.
  assert.equal(count('expand'), 0, `expands ${count('expand')}`);
  // The buffer starts at its 20 ms floor: at most a few 5 ms cuts (the buffer's tick) while the
  // delay history fills, then none. (Pulling on the event loop's
  // clock instead, this run expands ~150 times.)
  assert.ok(count('accelerate') <= 6, `accelerates ${count('accelerate')}`);
  assert.equal(count('plc') + count('fec'), 0);
  assert.equal(snap.jitterBuffer.concealedMs, 0);
  assert.ok(count('normal') > 700, `normal ${count('normal')}`);
});
