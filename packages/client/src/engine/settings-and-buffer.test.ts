/**
 * Unit tests: setting parsing, `--server` URL forms, and the call's receive buffer — the C
 * jitter buffer (`@parloir/native` `NativeJitterBuffer`, jitter.c, with its own libopus decoder)
 * with the call's options (jitter-options.ts) — driven with real Opus packets and a simulated
 * arrival clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NativeJitterBuffer, OpusEncoder } from '@parloir/native';
import { applySetting, DEFAULT_SETTINGS, parseBitrate } from './engine.ts';
import { engineJitterOptions, jitterSnapshot, pullDecision } from './jitter-options.ts';
import { serverToWsUrl } from './native-client.ts';

/** The call's C buffer, pulled 10 ms (two 5 ms ticks) at a time as a device would. */
function callBuffer(minMs: number, maxMs: number, inOrderQuantile?: number) {
  const jb = new NativeJitterBuffer({
    ...engineJitterOptions(minMs, maxMs),
    ...(inOrderQuantile === undefined ? {} : { inOrderQuantile }),
  });
  return {
    push(
      p: { sequenceNumber: number; timestamp: number; marker: boolean; payload: Buffer },
      at: number,
    ) {
      jb.insert({ ...p, ssrc: 0 }, at);
    },
    pull(out: Int16Array, nowMs: number): string {
      let decision = 'normal';
      for (let off = 0; off < out.length; off += jb.tickSamples) {
        const r = jb.pull(nowMs);
        out.set(r.pcm.subarray(0, Math.min(r.pcm.length, out.length - off)), off);
        if (r.decision !== 'normal') decision = pullDecision(r.decision);
      }
      return decision;
    },
    snapshot: () => jitterSnapshot(jb.stats()),
  };
}

test('set values parse, and bad ones are ENGINE_ERR_BAD_SETTING', () => {
  assert.equal(parseBitrate('24k'), 24_000);
  assert.equal(parseBitrate('32000'), 32_000);
  assert.equal(parseBitrate('12kbps'), 12_000);
  let s = applySetting(DEFAULT_SETTINGS, 'frame', '10ms');
  assert.equal(s.frameMs, 10);
  s = applySetting(s, 'mute', 'on');
  assert.equal(s.muted, true);
  s = applySetting(s, 'jb-max', '30');
  assert.equal(s.jbMaxMs, 30);
  assert.equal(s.jbMinMs, 20);
  s = applySetting(s, 'jb-min', '50');
  assert.deepEqual([s.jbMinMs, s.jbMaxMs], [50, 50]);
  s = applySetting(s, 'gain', '-6dB');
  assert.equal(s.gainDb, -6);
  s = applySetting(s, 'volume', '50%');
  assert.equal(s.volumePct, 50);
  for (const [name, value] of [
    ['frame', '15'],
    ['bitrate', '1k'],
    ['bitrate', 'lots'],
    ['fec', 'maybe'],
    ['loss', '101'],
    ['gain', ''],
    ['volume', '500'],
    ['loudness', '3'],
  ] as const) {
    assert.throws(() => applySetting(DEFAULT_SETTINGS, name, value), {
      code: 'ENGINE_ERR_BAD_SETTING',
    });
  }
});

test('--server forms map to WebSocket URLs', () => {
  assert.equal(serverToWsUrl('example.org'), 'wss://example.org:8443/ws');
  assert.equal(serverToWsUrl('example.org:9000'), 'wss://example.org:9000/ws');
  assert.equal(serverToWsUrl('https://example.org:9000'), 'wss://example.org:9000/ws');
  assert.equal(serverToWsUrl('http://127.0.0.1:8080'), 'ws://127.0.0.1:8080/ws');
  assert.throws(() => serverToWsUrl('ftp://x'), { code: 'CALL_ERR_SIGNALING' });
  assert.throws(() => serverToWsUrl('http://'), { code: 'CALL_ERR_SIGNALING' });
});

/** 100 packets of a 440 Hz tone, 20 ms each, FEC on with 10 % expected loss. */
function packets(): Buffer[] {
  const enc = new OpusEncoder({
    sampleRate: 48_000,
    channels: 1,
    application: 'voip',
    signal: 'voice',
    complexity: 5,
  });
  enc.bitrate = 32_000;
  enc.fec = true;
  enc.packetLossPerc = 10;
  const out: Buffer[] = [];
  for (let k = 0; k < 100; k++) {
    const pcm = new Int16Array(960);
    for (let i = 0; i < 960; i++)
      pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (k * 960 + i)) / 48000));
    const buf = new Uint8Array(1500);
    out.push(Buffer.from(buf.subarray(0, enc.encodeInto(pcm, buf))));
  }
  return out;
}

test('jitter buffer: reorder, duplicate, loss (FEC then PLC), late, sequence wrap', () => {
  const payloads = packets();
  const jb = callBuffer(40, 200);
  const base = 65_500; // wraps past 65535
  const lost = new Set([30, 50, 51]);
  const out = new Int16Array(480);
  let now = 0;
  const decisions: string[] = [];
  for (let k = 0; k < 100; k++) {
    // Packet k is sent at 20k ms; 35 and 36 swap places; 60 arrives 200 ms late.
    const order = k === 35 ? 36 : k === 36 ? 35 : k;
    const send = (i: number, at: number): void => {
      const payload = payloads[i];
      if (payload === undefined || lost.has(i)) return;
      jb.push(
        { sequenceNumber: (base + i) & 0xffff, timestamp: i * 960, marker: i === 0, payload },
        at,
      );
    };
    if (order !== 60) send(order, k * 20);
    if (k === 70) send(60, k * 20);
    if (k === 40) send(40, k * 20); // duplicate of 40
    while (now <= k * 20 + 20) {
      decisions.push(jb.pull(out, now));
      now += 10;
    }
  }
  const s = jb.snapshot();
  assert.ok(decisions.includes('fec'), 'packet 30 rebuilt from 31');
  assert.ok(decisions.includes('plc'), 'packet 50 concealed (51 lost too)');
  assert.equal(s.fecRecovered >= 2, true, `fec ${s.fecRecovered}`);
  assert.ok(s.latePackets >= 1, 'packet 60 counted late');
  assert.ok(s.delayMs <= 200, `delay ${s.delayMs} within max`);
  assert.ok(
    out.some((v) => Math.abs(v) > 1000),
    'audio still plays after the wrap',
  );
});

test('jitter buffer: stall bursts of in-order packets do not inflate the target', () => {
  const payloads = packets();
  /** 12 s of 20 ms packets; every 3 s a 300 ms stall delivers the stalled ones at once. */
  const run = (inOrderQuantile?: number): number => {
    const jb = callBuffer(20, 400, inOrderQuantile);
    const out = new Int16Array(480);
    let maxTarget = 0;
    let k = 0;
    for (let now = 0; now < 12_000; now += 10) {
      const stalled = now % 3000 >= 2700;
      while (!stalled && k * 20 <= now) {
        const payload = payloads[k % payloads.length] ?? Buffer.alloc(0);
        jb.push({ sequenceNumber: k & 0xffff, timestamp: k * 960, marker: k === 0, payload }, now);
        k++;
      }
      jb.pull(out, now);
      if (now > 3000) maxTarget = Math.max(maxTarget, jb.snapshot().targetMs);
    }
    return maxTarget;
  };
  const engineTarget = run();
  const netEqTarget = run(0.95);
  assert.ok(engineTarget <= 40, `engine's buffer target ${engineTarget} ms`);
  assert.ok(netEqTarget >= 100, `with the 0.95 quantile: ${netEqTarget} ms`);
});
