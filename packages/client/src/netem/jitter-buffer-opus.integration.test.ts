/**
 * The media jitter buffer with the real libopus decoder of the native addon: bit-exact playout
 * before any loss, FEC rebuilding a lost packet better than PLC, every tick exactly 20 ms.
 * It lives in the client package because the boundary check keeps the addon out of every file
 * of packages/media, tests included; the client is where media and native meet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OpusDecoder, OpusEncoder } from '@parloir/native';
import { JitterBuffer, RtpPacketizer, type PlayoutDecision } from '@parloir/media';

const RATE = 48000;
const FRAME = 960;

/** 3 s of a voiced, syllable-like signal: a 140 Hz harmonic series under a 4 Hz envelope. */
function voice(frames: number): Int16Array[] {
  const out: Int16Array[] = [];
  for (let f = 0; f < frames; f++) {
    const pcm = new Int16Array(FRAME);
    for (let i = 0; i < FRAME; i++) {
      const t = (f * FRAME + i) / RATE;
      const env = 0.55 + 0.45 * Math.sin(2 * Math.PI * 4 * t);
      let v = 0;
      for (let h = 1; h <= 8; h++) v += Math.sin(2 * Math.PI * 140 * h * t + h) / h;
      pcm[i] = Math.round(6000 * env * v);
    }
    out.push(pcm);
  }
  return out;
}

function encodeAll(frames: Int16Array[]) {
  const enc = new OpusEncoder({
    sampleRate: RATE,
    channels: 1,
    application: 'voip',
    bitrate: 32000,
    fec: true,
    packetLossPerc: 20,
  });
  const rtp = new RtpPacketizer({
    payloadType: 111,
    ssrc: 7,
    clockRate: RATE,
    initialSequenceNumber: 65500,
  });
  const packets = frames.map((pcm) => rtp.packetize(enc.encode(pcm), 20));
  enc.close();
  return packets;
}

function play(packets: ReturnType<typeof encodeAll>, lost: Set<number>, fec: boolean) {
  const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  const jb = new JitterBuffer({ decoder: dec, tickMs: 20, minDelayMs: 100, fec });
  const chunks: Int16Array[] = [];
  const decisions: PlayoutDecision[] = [];
  const firstPlayMs: number[] = [];
  for (let t = 0; t < 20 * packets.length + 400; t += 20) {
    const k = t / 20 - 1; // packet k arrives 20 ms after it is sent
    const p = packets[k];
    if (p && !lost.has(k)) jb.insert(p, t);
    const r = jb.pull(t);
    assert.equal(r.pcm.length, FRAME);
    if (r.decision !== 'buffering') chunks.push(r.pcm);
    decisions.push(r.decision);
    if (r.played.length > 0 && firstPlayMs.length === 0) firstPlayMs.push(t);
  }
  dec.close();
  const out = new Int16Array(chunks.length * FRAME);
  chunks.forEach((c, i) => out.set(c, i * FRAME));
  return { out, decisions, stats: jb.stats() };
}

function snrDb(ref: Int16Array, got: Int16Array, from: number, to: number): number {
  let s = 0;
  let n = 0;
  for (let i = from; i < to; i++) {
    const r = ref[i] ?? 0;
    s += r * r;
    n += (r - (got[i] ?? 0)) ** 2;
  }
  return 10 * Math.log10(s / Math.max(1, n));
}

test('real Opus: bit-exact before loss, FEC beats PLC on a lost packet, bursts end with FEC', () => {
  const frames = voice(150);
  const packets = encodeAll(frames);
  const refDec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  const ref = new Int16Array(150 * FRAME);
  packets.forEach((p, k) => ref.set(refDec.decode(p.payload), k * FRAME));
  refDec.close();

  const lost = new Set([50, 100, 101, 102]);
  const withFec = play(packets, lost, true);
  const noFec = play(packets, lost, false);
  // Playout starts on a packet boundary and a steady network needs no time-stretching, so the
  // output lines up with the reference (the only expansions are after the stream ends).
  assert.equal(withFec.stats.accelerateCount, 0);
  assert.ok(withFec.decisions.slice(0, 150).every((d) => d !== 'expand' && d !== 'accelerate'));
  assert.deepEqual(
    withFec.out.subarray(0, 50 * FRAME),
    ref.subarray(0, 50 * FRAME),
    'bit-exact before the first loss',
  );
  assert.equal(withFec.stats.fecRecovered, 2, 'packet 50 and the last of the 100–102 burst');
  assert.equal(withFec.stats.plcPackets, 2);
  assert.deepEqual(
    withFec.decisions.filter((d) => d === 'fec' || d === 'plc'),
    ['fec', 'plc', 'plc', 'fec'],
  );
  assert.equal(noFec.stats.plcPackets, 4);
  const fecSnr = snrDb(ref, withFec.out, 50 * FRAME, 51 * FRAME);
  const plcSnr = snrDb(ref, noFec.out, 50 * FRAME, 51 * FRAME);
  assert.ok(fecSnr > plcSnr + 3, `FEC ${fecSnr.toFixed(1)} dB vs PLC ${plcSnr.toFixed(1)} dB`);
  // Far from any loss the decoders reconverge.
  assert.ok(snrDb(ref, withFec.out, 70 * FRAME, 95 * FRAME) > 20);
});
