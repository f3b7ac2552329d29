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
import { createEngine } from '../src/engine/create.ts';
import type { QosSnapshot } from '../src/qos-log/qos-log.ts';
import { describe, echo, ECHO, HEARS, heard, MAX_M2E_MS, readReceived } from './helpers/heard.ts';
import { loadWav, makeSpeech } from './helpers/speech.ts';
import { connectedPair } from './helpers/pair.ts';
import { packetRate } from './helpers/qos.ts';
import { waitFor } from './helpers/wait.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-engine-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

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
  // 4.8 s of capture on both sides (the speech is 4 s), counted on the devices' own clocks.
  await waitFor(() => ea.captureClockMs >= 4800 && eb.captureClockMs >= 4800, '4.8 s of capture');
  const ca = ea.deviceClocks;
  const cb = eb.deviceClocks;
  await Promise.all([ea.stop(), eb.stop()]);
  await Promise.all([ta.close(), tb.close()]);
  assert.ok(ca.captureMs !== undefined && ca.playbackMs !== undefined, 'A device clocks');
  assert.ok(cb.captureMs !== undefined && cb.playbackMs !== undefined, 'B device clocks');
  const a = loadWav(inA);
  const b = loadWav(inB);
  const outA = readReceived(join(dir, 'outA.wav'));
  const outB = readReceived(join(dir, 'outB.wav'));
  const bHearsA = heard(a, outB, ca.captureMs, cb.playbackMs);
  const aHearsB = heard(b, outA, cb.captureMs, ca.playbackMs);
  // An echo of our own voice would come back within a round trip: look within ±1 s.
  const aHearsA = echo(a, outA);
  const msg = `${describe('B hears A', bHearsA)}; ${describe('A hears B', aHearsB)}; A hears A ${aHearsA.score.toFixed(3)}`;
  t.diagnostic(msg);
  assert.ok(bHearsA.score >= HEARS, msg);
  assert.ok(aHearsB.score >= HEARS, msg);
  assert.ok(aHearsA.score < ECHO, msg);
  assert.ok(bHearsA.mouthToEarMs <= MAX_M2E_MS, msg);
  assert.ok(aHearsB.mouthToEarMs <= MAX_M2E_MS, msg);
  assert.ok(snaps.length >= 3);
  const last = snaps.at(-1);
  assert.ok(last !== undefined);
  assert.equal(last.path, 'direct');
  assert.ok(last.mos > 4, `MOS ${last.mos}`);
  const rate = packetRate(snaps, snaps.length - 1);
  assert.ok(rate >= 45 && rate <= 55, `packets/s ${rate.toFixed(1)}`);
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
  // Each setting holds until two more snapshots: the second lies wholly after the change.
  const settle = async (what: string): Promise<number> => {
    const n = snapsB.length;
    await waitFor(() => snapsB.length >= n + 2, `two snapshots after ${what}`);
    return snapsB.length - 1;
  };
  const hi = await settle('the start');
  ea.set('bitrate', '12k');
  const lo = await settle('12k');
  ea.set('frame', '10');
  const tenMs = await settle('10 ms frames');
  const muteAt = performance.now();
  ea.set('mute', 'on');
  await waitFor(() => (played.at(-1)?.t ?? 0) > muteAt + 600, '600 ms of playout after mute');
  await Promise.all([ea.stop(), eb.stop()]);
  await Promise.all([ta.close(), tb.close()]);
  const kbps = (i: number): number => snapsB[i]?.recvKbps ?? Number.NaN;
  // Opus payload bytes track the target; RTP+header bytes at 50 pkt/s add ~5 kbit/s.
  assert.ok(kbps(hi) > 28, `32k: ${kbps(hi)} kbit/s`);
  assert.ok(kbps(lo) < 20, `12k: ${kbps(lo)} kbit/s`);
  const hiRate = packetRate(snapsB, hi);
  const tenRate = packetRate(snapsB, tenMs);
  // One snapshot's rate: 50 and 100 nominal. A snapshot timer that fires late on a loaded
  // machine moves a few packets between neighbouring seconds (113 once in CI), so ±20 %; the
  // two frame sizes stay far apart.
  assert.ok(hiRate >= 40 && hiRate <= 60, `20 ms: ${hiRate.toFixed(1)} pkt/s`);
  assert.ok(tenRate >= 80 && tenRate <= 120, `10 ms: ${tenRate.toFixed(1)} pkt/s`);
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
