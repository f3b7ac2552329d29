/**
 * The call engine between two real werift transports on 127.0.0.1 with wav devices paced in real
 * time and speech made by espeak-ng: audio both ways, then mid-call changes. No signalling here
 * (that is the e2e tests' job); this checks the media path itself.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createEngine } from '../src/engine/create.ts';
import type { QosSnapshot } from '../src/qos-log/qos-log.ts';
import { loadWav, makeSpeech } from './helpers/speech.ts';
import { envelopeSimilarity } from './helpers/similarity.ts';
import { connectedPair } from './helpers/pair.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-engine-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Threshold for "contains the other side's speech": envelope correlation (see similarity.ts). */
const HEARS = 0.8;
/** Ceiling for "does not hear itself". */
const ECHO = 0.5;

test('speech flows both ways; neither side hears itself', async (t) => {
  const inA = makeSpeech(
    dir,
    'a',
    'The quick brown fox jumps over the lazy dog near the river bank.',
    4,
  );
  const inB = makeSpeech(
    dir,
    'b',
    'Seven silver swans swim slowly south, singing softly at sunset.',
    4,
  );
  const [ta, tb] = await connectedPair();
  const snaps: QosSnapshot[] = [];
  const ea = createEngine({
    transport: ta,
    input: `wav:${inA}`,
    output: `wav:${join(dir, 'outA.wav')}`,
    onSnapshot: (s) => snaps.push(s),
  });
  const eb = createEngine({
    transport: tb,
    input: `wav:${inB}`,
    output: `wav:${join(dir, 'outB.wav')}`,
  });
  ea.start();
  eb.start();
  // Socket to speaker and microphone to socket in C on both sides (docs/engine.md).
  for (const e of [ea, eb]) {
    assert.equal(e.sendPath, 'native');
    assert.equal(e.receivePath, 'native');
  }
  await sleep(4800);
  await Promise.all([ea.stop(), eb.stop()]);
  await Promise.all([ta.close(), tb.close()]);
  const a = loadWav(inA);
  const b = loadWav(inB);
  const outA = loadWav(join(dir, 'outA.wav'));
  const outB = loadWav(join(dir, 'outB.wav'));
  const bHearsA = envelopeSimilarity(a, outB);
  const aHearsB = envelopeSimilarity(b, outA);
  // An echo of our own voice would come back within a round trip: look within ±1 s.
  const aHearsA = envelopeSimilarity(a, outA, 1000);
  t.diagnostic(
    `B hears A ${bHearsA.correlation.toFixed(3)} at ${bHearsA.lagMs} ms; A hears B ${aHearsB.correlation.toFixed(3)}; A hears A ${aHearsA.correlation.toFixed(3)}`,
  );
  assert.ok(bHearsA.correlation >= HEARS, `B hears A: ${bHearsA.correlation.toFixed(3)}`);
  assert.ok(aHearsB.correlation >= HEARS, `A hears B: ${aHearsB.correlation.toFixed(3)}`);
  assert.ok(aHearsA.correlation < ECHO, `A hears itself: ${aHearsA.correlation.toFixed(3)}`);
  assert.ok(Math.abs(bHearsA.lagMs) < 300, `lag ${bHearsA.lagMs} ms`);
  assert.ok(snaps.length >= 3);
  const last = snaps.at(-1);
  assert.ok(last !== undefined);
  assert.equal(last.path, 'direct');
  assert.ok(last.mos > 4, `MOS ${last.mos}`);
  assert.ok(last.recvPackets >= 40 && last.recvPackets <= 60, `packets/s ${last.recvPackets}`);
});

test('mid-call: bitrate 32k→12k in byte rate, frame 20→10 ms in packet rate, mute → silence', async () => {
  const inA = makeSpeech(
    dir,
    'c',
    'Mid call changes keep the call up without any renegotiation at all, really.',
    8,
  );
  const [ta, tb] = await connectedPair();
  const snapsB: QosSnapshot[] = [];
  const played: { t: number; rms: number }[] = [];
  const ea = createEngine({
    transport: ta,
    input: `wav:${inA}`,
    output: 'null',
    settings: { adapt: false },
  });
  const eb = createEngine({
    transport: tb,
    input: 'null',
    output: 'null',
    settings: { adapt: false },
    onSnapshot: (s) => snapsB.push(s),
    probes: {
      played(out, _c, now) {
        let acc = 0;
        for (const v of out) acc += v * v;
        played.push({ t: now, rms: Math.sqrt(acc / out.length) });
      },
    },
  });
  ea.start();
  eb.start();
  await sleep(2100);
  const hi = snapsB.at(-1);
  ea.set('bitrate', '12k');
  await sleep(2100);
  const lo = snapsB.at(-1);
  ea.set('frame', '10');
  await sleep(2100);
  const tenMs = snapsB.at(-1);
  const muteAt = performance.now();
  ea.set('mute', 'on');
  await sleep(600);
  await Promise.all([ea.stop(), eb.stop()]);
  await Promise.all([ta.close(), tb.close()]);
  assert.ok(hi && lo && tenMs);
  // Opus payload bytes track the target; RTP+header bytes at 50 pkt/s add ~5 kbit/s.
  assert.ok(hi.recvKbps > 28, `32k: ${hi.recvKbps} kbit/s`);
  assert.ok(lo.recvKbps < 20, `12k: ${lo.recvKbps} kbit/s`);
  assert.ok(hi.recvPackets >= 45 && hi.recvPackets <= 55, `20 ms: ${hi.recvPackets} pkt/s`);
  assert.ok(
    tenMs.recvPackets >= 90 && tenMs.recvPackets <= 110,
    `10 ms: ${tenMs.recvPackets} pkt/s`,
  );
  // Mute: the far side's playout is silent, RMS below -50 dBFS (104 of 32767), from 100 ms after
  // the command on (this includes the network and the jitter buffer).
  const loudBefore = played
    .filter((p) => p.t < muteAt && p.t > muteAt - 1000)
    .some((p) => p.rms > 300);
  assert.ok(loudBefore, 'speech was playing before mute');
  const afterMute = played.filter((p) => p.t > muteAt + 100);
  assert.ok(afterMute.length > 10);
  const loud = afterMute.filter((p) => p.rms >= 104);
  assert.equal(
    loud.length,
    0,
    `loud ticks after mute: ${loud.map((p) => `${(p.t - muteAt).toFixed(0)}ms:${p.rms.toFixed(0)}`).join(' ')}`,
  );
});
