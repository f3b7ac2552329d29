import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '@parloir/media';
import {
  JitterError,
  NativeError,
  NativeJitterBuffer,
  OpusEncoder,
  type NativeJitterBufferOptions,
} from '../index.ts';

function isJitterError(code: string): (e: unknown) => boolean {
  return (e: unknown) =>
    e instanceof JitterError && e instanceof NativeError && e.code === code && e.message !== '';
}

/** A seeded PRNG, uniform in [0, 1): the media core's mulberry32. */
function prng(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.next();
}

/** 20 ms Opus packets of a 440 Hz tone. */
function tonePackets(count: number): Uint8Array[] {
  const enc = new OpusEncoder({ sampleRate: 48000, channels: 1, application: 'voip', fec: true });
  const out: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    const pcm = new Int16Array(960);
    for (let i = 0; i < pcm.length; i++) {
      pcm[i] = 8000 * Math.sin((2 * Math.PI * 440 * (k * 960 + i)) / 48000);
    }
    out.push(enc.encode(pcm));
  }
  enc.close();
  return out;
}

test('bad options throw JITTER_ERR_BAD_OPTION', () => {
  const bad: NativeJitterBufferOptions[] = [
    { tickMs: 0 },
    { tickMs: 61 },
    { tickMs: 7.5 },
    { minDelayMs: -1 },
    { minDelayMs: 100, maxDelayMs: 50 },
    { maxDelayMs: Infinity },
    { quantile: NaN },
    { capacity: 1e6 },
    { fec: 1 as unknown as boolean },
    { marginMs: '2' as unknown as number },
  ];
  for (const options of bad) {
    assert.throws(
      () => new NativeJitterBuffer(options),
      isJitterError('JITTER_ERR_BAD_OPTION'),
      JSON.stringify(options),
    );
  }
  assert.throws(
    () => new NativeJitterBuffer(null as unknown as NativeJitterBufferOptions),
    isJitterError('JITTER_ERR_BAD_OPTION'),
  );
});

test('defaults and tick sizes', () => {
  const jb = new NativeJitterBuffer();
  assert.equal(jb.tickMs, 20);
  assert.equal(jb.tickSamples, 960);
  const s = jb.stats();
  assert.equal(s.minDelayMs, 0);
  assert.equal(s.maxDelayMs, 2000);
  assert.equal(s.targetDelayMs, 40); // initialDelayMs until 50 packets
  jb.close();
  for (const tickMs of [5, 10, 20]) {
    const j = new NativeJitterBuffer({ tickMs, capacity: 3 });
    assert.equal(j.tickSamples, tickMs * 48);
    assert.equal(j.pull(0).pcm.length, tickMs * 48);
    j.close();
  }
});

test('bad arguments throw JITTER_ERR_BAD_ARG; bad bounds JITTER_ERR_BAD_OPTION', () => {
  const jb = new NativeJitterBuffer();
  const payload = tonePackets(1)[0] ?? new Uint8Array(1);
  const packet = { sequenceNumber: 1, timestamp: 0, ssrc: 1, marker: false, payload };
  const bad = [
    { ...packet, sequenceNumber: 65536 },
    { ...packet, sequenceNumber: -1 },
    { ...packet, timestamp: 2 ** 32 },
    { ...packet, ssrc: 1.5 },
    { ...packet, marker: 0 as unknown as boolean },
    { ...packet, payload: [1, 2] as unknown as Uint8Array },
  ];
  for (const p of bad) {
    assert.throws(() => jb.insert(p, 0), isJitterError('JITTER_ERR_BAD_ARG'));
  }
  assert.throws(() => jb.insert(packet, NaN), isJitterError('JITTER_ERR_BAD_ARG'));
  assert.throws(() => jb.pull(Infinity), isJitterError('JITTER_ERR_BAD_ARG'));
  assert.throws(() => jb.pull(0, new Int16Array(10)), isJitterError('JITTER_ERR_BAD_ARG'));
  assert.throws(
    () => jb.pull(0, new Uint8Array(960) as unknown as Int16Array),
    isJitterError('JITTER_ERR_BAD_ARG'),
  );
  assert.throws(() => jb.setDelayBounds({ minMs: -5 }), isJitterError('JITTER_ERR_BAD_OPTION'));
  assert.throws(() => jb.setDelayBounds({ minMs: 3000 }), isJitterError('JITTER_ERR_BAD_OPTION'));
  jb.setDelayBounds({ minMs: 60 });
  assert.equal(jb.stats().minDelayMs, 60);
  assert.equal(jb.stats().targetDelayMs, 60);
  jb.setDelayBounds({ maxMs: 80 });
  assert.deepEqual([jb.stats().minDelayMs, jb.stats().maxDelayMs], [60, 80]);
  // Nothing was counted by the rejected calls.
  assert.equal(jb.stats().packetsReceived, 0);
  jb.close();
});

test('use after close throws JITTER_ERR_CLOSED; close is idempotent', () => {
  const jb = new NativeJitterBuffer();
  jb.close();
  jb.close();
  const packet = {
    sequenceNumber: 1,
    timestamp: 0,
    ssrc: 1,
    marker: false,
    payload: new Uint8Array([8]),
  };
  assert.throws(() => jb.insert(packet, 0), isJitterError('JITTER_ERR_CLOSED'));
  assert.throws(() => jb.pull(0), isJitterError('JITTER_ERR_CLOSED'));
  assert.throws(() => jb.stats(), isJitterError('JITTER_ERR_CLOSED'));
  assert.throws(() => jb.setDelayBounds({ minMs: 1 }), isJitterError('JITTER_ERR_CLOSED'));
});

test('plays a clean stream: buffers to the target, then plays every packet', () => {
  const packets = tonePackets(100);
  const jb = new NativeJitterBuffer({ initialDelayMs: 40 });
  const decisions: string[] = [];
  let next = 0;
  let energy = 0;
  for (let k = 0; k < 110; k++) {
    const now = k * 20;
    // Packet i is sent at 20·i ms and takes 10 ms.
    while (next < packets.length && next * 20 + 10 <= now) {
      const payload = packets[next] ?? new Uint8Array(0);
      const r = jb.insert(
        { sequenceNumber: next, timestamp: next * 960, ssrc: 7, marker: next === 0, payload },
        next * 20 + 10,
      );
      assert.equal(r, 'inserted');
      next++;
    }
    const { decision, pcm } = jb.pull(now);
    decisions.push(decision);
    if (decision === 'normal') for (const v of pcm) energy += v * v;
  }
  const s = jb.stats();
  assert.equal(decisions[0], 'buffering');
  // Once 50 packets are in, the target falls from initialDelayMs to the measured delay: the
  // buffer accelerates down to it, and never conceals on this clean stream.
  const playing = decisions.slice(5, 100);
  assert.ok(
    playing.every((d) => d === 'normal' || d === 'accelerate'),
    decisions.join(' '),
  );
  assert.ok(playing.includes('accelerate'), decisions.join(' '));
  assert.ok(s.targetDelayMs < 40, `target ${s.targetDelayMs} ms`);
  assert.equal(s.packetsReceived, 100);
  assert.equal(s.packetsPlayed, 100);
  assert.equal(s.lostPackets, 0);
  assert.equal(s.duplicates, 0);
  assert.ok(energy > 0, 'the tone was decoded');
  // Copies of packets already played are duplicates.
  const payload = packets[0] ?? new Uint8Array(0);
  assert.equal(
    jb.insert({ sequenceNumber: 99, timestamp: 99 * 960, ssrc: 7, marker: false, payload }, 3000),
    'duplicate',
  );
  assert.equal(
    jb.insert({ sequenceNumber: 7, timestamp: 7 * 960, ssrc: 7, marker: false, payload }, 3000),
    'duplicate',
  );
  // A new SSRC resets the buffer; the next tick says so.
  assert.equal(
    jb.insert({ sequenceNumber: 5, timestamp: 0, ssrc: 8, marker: true, payload }, 3000),
    'reset',
  );
  assert.equal(jb.pull(3000).decision, 'reset');
  assert.equal(jb.stats().resets, 1);
  jb.close();
});

test('malformed payloads are counted, not stored', () => {
  const jb = new NativeJitterBuffer();
  const p = (payload: Uint8Array, seq: number) =>
    jb.insert({ sequenceNumber: seq, timestamp: seq * 960, ssrc: 1, marker: false, payload }, seq);
  assert.equal(p(new Uint8Array(0), 1), 'malformed');
  assert.equal(p(new Uint8Array([0x03]), 2), 'malformed'); // code 3 without a count byte
  assert.equal(p(new Uint8Array([0x03, 0x00]), 3), 'malformed'); // code 3, zero frames
  assert.equal(p(new Uint8Array([0x01, 0]), 4), 'malformed'); // code 1, odd length
  assert.equal(p(new Uint8Array(1501).fill(0xf8), 5), 'malformed'); // over 1500 bytes
  const s = jb.stats();
  assert.equal(s.malformedPackets, 5);
  assert.equal(s.packetsReceived, 5);
  assert.equal(s.bufferedPackets, 0);
  jb.close();
});

test('fuzz: random and mutated payloads, sequence numbers and times never crash', () => {
  const rnd = prng(42);
  const good = tonePackets(50);
  const started = Date.now();
  for (let round = 0; round < 150 && Date.now() - started < 10_000; round++) {
    const jb = new NativeJitterBuffer({
      tickMs: [5, 10, 20][round % 3] ?? 20,
      capacity: 16 + Math.floor(rnd() * 100),
      maxDelayMs: 50 + rnd() * 500,
      accelerateAtTicks: rnd() * 2,
      fec: rnd() < 0.5,
    });
    let now = rnd() * 1e6;
    let seq = Math.floor(rnd() * 65536);
    let ts = Math.floor(rnd() * 2 ** 32);
    const out = new Int16Array(jb.tickSamples);
    for (let i = 0; i < 400; i++) {
      const x = rnd();
      let payload: Uint8Array;
      if (x < 0.3)
        payload = Uint8Array.from({ length: Math.floor(rnd() * 200) }, () => rnd() * 256);
      else {
        payload = (good[Math.floor(rnd() * good.length)] ?? new Uint8Array(1)).slice();
        if (x < 0.6 && payload.length > 0)
          payload[Math.floor(rnd() * payload.length)] = rnd() * 256;
      }
      const jump = rnd();
      seq = (seq + (jump < 0.05 ? Math.floor(rnd() * 65536) : jump < 0.2 ? -3 : 1) + 65536) % 65536;
      ts = (ts + (jump < 0.05 ? Math.floor(rnd() * 2 ** 32) : 960) + 2 ** 32) % 2 ** 32;
      const ssrc = rnd() < 0.01 ? Math.floor(rnd() * 2 ** 32) : 99;
      const r = jb.insert(
        { sequenceNumber: seq, timestamp: ts, ssrc, marker: false, payload },
        now + rnd() * 300,
      );
      assert.ok(['inserted', 'duplicate', 'late', 'reset', 'malformed'].includes(r));
      if (rnd() < 0.7) {
        now += rnd() < 0.02 ? rnd() * 5000 : jb.tickMs;
        const { decision, pcm } = jb.pull(now, out);
        assert.equal(pcm.length, jb.tickSamples);
        assert.ok(
          ['normal', 'fec', 'plc', 'accelerate', 'expand', 'reset', 'buffering'].includes(decision),
        );
      }
    }
    const s = jb.stats();
    assert.equal(s.packetsReceived, 400);
    assert.ok(s.bufferedPackets >= 0 && s.bufferedPackets <= 116);
    for (const v of Object.values(s)) assert.ok(Number.isFinite(v), JSON.stringify(s));
    jb.close();
  }
});
