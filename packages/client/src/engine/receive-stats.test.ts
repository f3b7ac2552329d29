/**
 * The engine's receive statistics in its QoS snapshot, on a manual clock with a fake pipeline:
 * loss in the last interval and since the start (RFC 3550 §A.3, exact percentages), interarrival
 * jitter (§A.8) in ms, packets received per interval, and the loss handed to the E-model, which
 * leaves out frames rebuilt from FEC (G.107 Ppl is what the decoder has to conceal), and the
 * replayed SRTP packets the transport dropped (issue 17 must-show 4).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CallEngine } from './engine.ts';
import { fakePipeline } from './test-ports.ts';

/** An engine on a fake pipeline; `arrive` delivers one packet's record at a given time. */
function harness() {
  let now = 1000;
  const assessedLossPct: number[] = [];
  const pipeline = fakePipeline({ rttMs: 10 });
  const engine = new CallEngine({
    pipeline: pipeline.port,
    quality: {
      assess: (input) => {
        assessedLossPct.push(input.lossPct);
        return { rFactor: 90, mos: 4.3, grade: 'good' };
      },
      adapt: () => ({ changes: {}, suggestions: [] }),
    },
    now: () => now,
    snapshotMs: 3_600_000,
    settings: { adapt: false },
  });
  engine.start();
  const arrive = (seq: number, timestamp: number, atMs: number): void => {
    now = atMs;
    const listening = pipeline.deliver([
      {
        sequenceNumber: seq & 0xffff,
        timestamp: timestamp >>> 0,
        ssrc: 7,
        marker: false,
        payloadType: 111,
        payloadBytes: 3,
        headerBytes: 12,
        arrivalMs: atMs,
      },
    ]);
    assert.ok(listening, 'engine listens for packet records');
  };
  return { engine, jb: pipeline.jb, pipeline, assessedLossPct, arrive };
}

test('snapshot loss: exact % per interval and cumulative, across the sequence wrap', async () => {
  const h = harness();
  // Interval 1: 20 packets from 65530 (wrapping at 65536), one lost → 5 % (not the 8-bit
  // RTCP fraction, which would read 12/256 = 4.7 %).
  const seq0 = 65530;
  for (let k = 0; k < 20; k++) if (k !== 9) h.arrive(seq0 + k, k * 960, 1000 + 20 * k);
  const s1 = await h.engine.snapshotNow();
  assert.equal(s1.lossPct, 5);
  assert.equal(s1.cumulativeLossPct, 5);
  assert.equal(s1.recvPackets, 19);
  // Interval 2: 20 more, four lost → 20 % in the interval, 5 of 40 = 12.5 % overall.
  for (let k = 20; k < 40; k++) if (k % 5 !== 0) h.arrive(seq0 + k, k * 960, 1000 + 20 * k);
  const s2 = await h.engine.snapshotNow();
  assert.equal(s2.lossPct, 20);
  assert.equal(s2.cumulativeLossPct, 12.5);
  assert.equal(s2.recvPackets, 16);
  // Interval 3: nothing arrives → no loss claimed for the interval, the total stays.
  const s3 = await h.engine.snapshotNow();
  assert.equal(s3.lossPct, 0);
  assert.equal(s3.cumulativeLossPct, 12.5);
  assert.equal(s3.recvPackets, 0);
  await h.engine.stop();
});

test('snapshot loss: duplicates never give negative loss', async () => {
  const h = harness();
  for (let k = 0; k < 10; k++) h.arrive(100 + k, k * 960, 1000 + 20 * k);
  for (let k = 0; k < 3; k++) h.arrive(109, 9 * 960, 1200 + k);
  const s = await h.engine.snapshotNow();
  assert.equal(s.lossPct, 0);
  assert.equal(s.cumulativeLossPct, 0);
  assert.equal(s.recvPackets, 13, 'duplicates are counted as received (RFC 3550 §A.3)');
  await h.engine.stop();
});

test('snapshot jitter: RFC 3550 §A.8 recursion in ms, 0 for constant transit, across the timestamp wrap', async () => {
  const steady = harness();
  const ts0 = 2 ** 32 - 960 * 5;
  for (let k = 0; k < 50; k++) steady.arrive(k, ts0 + k * 960, 1000 + 20 * k);
  assert.equal((await steady.engine.snapshotNow()).jitterMs, 0);
  await steady.engine.stop();
  // Transit alternating +0 / +6 ms: |D| = 6 ms every packet after the first.
  const h = harness();
  let expected = 0;
  for (let k = 0; k < 30; k++) {
    h.arrive(k, k * 960, 1000 + 20 * k + (k % 2 === 0 ? 0 : 6));
    if (k > 0) expected += (6 - expected) / 16;
  }
  assert.equal((await h.engine.snapshotNow()).jitterMs, Math.round(expected * 10) / 10);
  await h.engine.stop();
});

test('E-model loss: cumulative network loss less the share rebuilt from FEC', async () => {
  const h = harness();
  // 50 expected, 10 lost (20 %), of which FEC rebuilt 4 → 6 left → 12 % to the E-model.
  for (let k = 0; k < 50; k++) if (k % 5 !== 2) h.arrive(k, k * 960, 1000 + 20 * k);
  h.jb.fecRecovered = 4;
  const s = await h.engine.snapshotNow();
  assert.equal(s.cumulativeLossPct, 20);
  const assessed = h.assessedLossPct.at(-1);
  assert.ok(assessed !== undefined && Math.abs(assessed - 12) < 1e-9, `assessed ${assessed}`);
  // More FEC recoveries than losses (a rebuilt frame's packet may still arrive, late) → 0.
  h.jb.fecRecovered = 15;
  await h.engine.snapshotNow();
  assert.equal(h.assessedLossPct.at(-1), 0);
  await h.engine.stop();
});

test("snapshot packetsReplayed: the transport's cumulative count, kept while its stats are unreadable", async () => {
  const h = harness();
  assert.equal((await h.engine.snapshotNow()).packetsReplayed, 0);
  // The C receiver dropped 750 recent replays and 250 too old (PeerTransport sums both).
  h.pipeline.stats.packetsReplayed = 1000;
  assert.equal((await h.engine.snapshotNow()).packetsReplayed, 1000);
  // A closing transport's stats reject: the snapshot keeps the last count rather than 0.
  h.pipeline.port.stats = () => Promise.reject(new Error('closed'));
  assert.equal((await h.engine.snapshotNow()).packetsReplayed, 1000);
  await h.engine.stop();
});
