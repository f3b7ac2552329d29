import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LossBurstTracker,
  QosMonitor,
  RtpReceiveStats,
  msToNtpShort,
  rttFromReport,
} from './qos.ts';
import { g711Impairment } from './emodel.ts';
import type { JitterBufferStats } from './jitter-buffer.ts';

test('RFC 3550 §A.8 jitter: 0 for constant transit, follows the J += (|D| − J)/16 recursion', () => {
  const s = new RtpReceiveStats(8000);
  for (let k = 0; k < 100; k++) s.onPacket({ sequenceNumber: k, timestamp: k * 160 }, 20 * k + 50);
  assert.equal(s.snapshot().jitterTs, 0);
  const t = new RtpReceiveStats(8000);
  let expected = 0;
  for (let k = 0; k < 200; k++) {
    // Transit alternates 50 / 60 ms: |D| = 10 ms = 80 timestamp units every packet.
    t.onPacket({ sequenceNumber: k, timestamp: k * 160 }, 20 * k + (k % 2 === 0 ? 50 : 60));
    if (k > 0) expected += (80 - expected) / 16;
  }
  assert.ok(Math.abs(t.snapshot().jitterTs - expected) < 1e-6);
  assert.ok(Math.abs(t.snapshot().jitterMs - 10) < 0.01, 'converges to |D| = 10 ms');
});

test('jitter is right across the 32-bit timestamp wrap', () => {
  const s = new RtpReceiveStats(48000);
  const ts0 = 2 ** 32 - 960 * 10;
  for (let k = 0; k < 40; k++) {
    s.onPacket({ sequenceNumber: k, timestamp: (ts0 + k * 960) >>> 0 }, 20 * k + 30);
  }
  assert.ok(s.snapshot().jitterTs < 1e-6);
});

test('RFC 3550 §A.3: cumulative loss, fraction lost per interval, sequence wrap', () => {
  const s = new RtpReceiveStats(8000);
  let seq = 65500;
  for (let k = 0; k < 100; k++) {
    if (k % 10 !== 3) s.onPacket({ sequenceNumber: seq & 0xffff, timestamp: k * 160 }, 20 * k);
    seq++;
  }
  assert.equal(s.snapshot().cumulativeLost, 10);
  const first = s.reportInterval();
  assert.equal(first.expected, 100);
  assert.equal(first.fractionLost, Math.floor((10 * 256) / 100));
  // Next interval: 50 packets, none lost, plus 5 duplicates (received > expected → 0).
  for (let k = 100; k < 150; k++)
    s.onPacket({ sequenceNumber: seq++ & 0xffff, timestamp: k * 160 }, 20 * k);
  for (let k = 0; k < 5; k++)
    s.onPacket({ sequenceNumber: (seq - 1) & 0xffff, timestamp: 0 }, 3000);
  const second = s.reportInterval();
  assert.equal(second.fractionLost, 0);
  assert.equal(s.snapshot().cumulativeLost, 5, '§A.3: duplicates offset losses');
});

test('packets expected: highest − lowest + 1, across the wrap, with an early packet arriving late', () => {
  const s = new RtpReceiveStats(48000);
  assert.equal(s.snapshot().packetsExpected, 0, 'nothing received yet');
  // 65534 .. 65535, 0 .. 7 (10 slots), 2 lost; then 65533 arrives last (reordered).
  for (let k = 0; k < 10; k++) {
    if (k !== 4 && k !== 6) s.onPacket({ sequenceNumber: (65534 + k) & 0xffff, timestamp: 0 }, 0);
  }
  let snap = s.snapshot();
  assert.equal(snap.packetsExpected, 10);
  assert.equal(snap.packetsExpected - snap.packetsReceived, snap.cumulativeLost);
  s.onPacket({ sequenceNumber: 65533, timestamp: 0 }, 0);
  snap = s.snapshot();
  assert.equal(snap.packetsExpected, 11, 'the base moves down to the earliest packet');
  assert.equal(snap.cumulativeLost, 2);
  // Duplicates: received exceeds expected, cumulativeLost clamps at 0, expected does not move.
  for (let k = 0; k < 4; k++) s.onPacket({ sequenceNumber: 7, timestamp: 0 }, 0);
  snap = s.snapshot();
  assert.equal(snap.packetsExpected, 11);
  assert.equal(snap.packetsReceived, 13);
  assert.equal(snap.cumulativeLost, 0);
});

test('RTT from LSR/DLSR: the RFC 3550 §6.4.1 worked example gives 6.125 s', () => {
  // A = 0xb710:8000 (46864.500 s), LSR = 0xb705:2000 (46853.125 s), DLSR = 0x0005:4000 (5.250 s).
  const rtt = rttFromReport(0xb7108000, 0xb7052000, 0x00054000);
  assert.equal(rtt, 6125);
  assert.equal(rttFromReport(0xb7108000, 0, 0), undefined, 'no SR yet');
  assert.equal(msToNtpShort(1000), 65536);
  // Across the 32-bit wrap of the NTP short format.
  const wrapped = rttFromReport(msToNtpShort(100), 2 ** 32 - msToNtpShort(50), msToNtpShort(20));
  assert.ok(wrapped !== undefined && Math.abs(wrapped - 130) < 0.05, `wrapped ${wrapped}`);
});

test('burst ratio: 1 for random loss, > 1 for bursty loss', () => {
  const random = new LossBurstTracker();
  for (let k = 0; k < 1000; k++) random.record(k % 10 === 0);
  assert.ok(Math.abs(random.burstR - 1) < 0.15, `random ${random.burstR}`);
  const bursty = new LossBurstTracker();
  for (let k = 0; k < 1000; k++) bursty.record(k % 50 < 5);
  assert.ok(bursty.burstR > 3, `bursty ${bursty.burstR}`);
  assert.ok(Math.abs(bursty.lossPct - 10) < 1e-9);
});

const jbStats = (over: Partial<JitterBufferStats> = {}): JitterBufferStats => ({
  packetsReceived: 0,
  packetsPlayed: 0,
  duplicates: 0,
  latePackets: 0,
  lostPackets: 0,
  fecRecovered: 0,
  plcPackets: 0,
  concealedMs: 0,
  playedMs: 0,
  accelerateCount: 0,
  expandCount: 0,
  resets: 0,
  malformedPackets: 0,
  currentDelayMs: 40,
  targetDelayMs: 40,
  bufferedPackets: 2,
  minDelayMs: 0,
  maxDelayMs: 2000,
  ...over,
});

test('QosMonitor: one snapshot per second with loss, MOS, grade and en/fr suggestions', () => {
  const m = new QosMonitor({
    clockRate: 8000,
    codec: g711Impairment(true),
    params: { bitrateKbps: 64, fec: false, expectedLossPct: 0, frameMs: 20, jitterMinDelayMs: 0 },
  });
  m.onRtt(100);
  let seq = 0;
  const snaps = [];
  let played = 0;
  let lost = 0;
  for (let t = 0; t <= 5000; t += 20) {
    const isLost = seq % 12 === 5; // ≈ 8 % loss
    if (!isLost) m.onPacket({ sequenceNumber: seq, timestamp: seq * 160 }, t + 30);
    if (isLost) lost++;
    else played++;
    seq++;
    const snap = m.poll(
      t + 30,
      jbStats({ packetsPlayed: played, lostPackets: lost, plcPackets: lost }),
    );
    if (snap) snaps.push(snap);
  }
  assert.ok(snaps.length >= 4 && snaps.length <= 6, `${snaps.length} snapshots`);
  const last = snaps.at(-1);
  assert.ok(last);
  assert.ok(Math.abs(last.lossPct - 100 / 12) < 1.5, `loss ${last.lossPct}`);
  assert.equal(last.rttMs, 100);
  assert.ok(last.mos < 4.0 && last.mos > 2.5, `MOS ${last.mos}`);
  assert.equal(last.oneWayDelayMs, 50 + 40 + 30);
  const fec = snaps.flatMap((s) => s.suggestions).find((s) => s.id === 'fec-on');
  assert.ok(fec, 'suggests FEC at 8 % loss');
  assert.match(fec.en, /^Loss \d+%: turn on FEC$/);
  assert.match(fec.fr, /^Perte \d+\u00a0% : activer la FEC$/);
  assert.equal(fec.change?.fec, true);
});
