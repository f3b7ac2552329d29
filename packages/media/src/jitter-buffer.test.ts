import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from './impairment.ts';
import { JitterBuffer, type AudioDecoder, type PlayoutDecision } from './jitter-buffer.ts';
import { opusTocFor, parseOpusToc } from './opus-toc.ts';

/**
 * Fake Opus decoder for the buffer logic: a packet is [TOC, tag lo, tag hi]; decode() returns
 * its duration (from the real TOC parser) filled with the tag, FEC returns −(next tag), PLC zeros.
 */
class TagDecoder implements AudioDecoder {
  resets = 0;
  decode(packet: Uint8Array): Int16Array {
    const toc = parseOpusToc(packet);
    if (!toc.ok) throw toc.error;
    return new Int16Array(toc.value.durationMs * 48).fill(tagOf(packet));
  }
  decodeFec(next: Uint8Array, samples: number): Int16Array {
    return new Int16Array(samples).fill(-tagOf(next));
  }
  conceal(samples: number): Int16Array {
    return new Int16Array(samples);
  }
  reset(): void {
    this.resets++;
  }
}
const tagOf = (p: Uint8Array) => (p[1] ?? 0) | ((p[2] ?? 0) << 8);
const packetFor = (tag: number, frameMs = 20) =>
  new Uint8Array([opusTocFor(frameMs), tag & 0xff, (tag >> 8) & 0x7f]);

interface Arrival {
  seq: number;
  ts: number;
  at: number;
  tag: number;
  frameMs?: number;
  ssrc?: number;
}

/** A 20 ms stream: packet k sent at 20k ms, arriving after `delay(k)` ms. */
function stream(count: number, delay: (k: number) => number, first = 0, firstTs = 0): Arrival[] {
  return Array.from({ length: count }, (_, k) => ({
    seq: (first + k) & 0xffff,
    ts: (firstTs + k * 960) >>> 0,
    at: 20 * k + delay(k),
    tag: k + 1,
  }));
}

interface Run {
  decisions: PlayoutDecision[];
  played: number[];
  tags: number[];
  jb: JitterBuffer;
}

/** Drives the buffer on a simulated clock. */
function run(jb: JitterBuffer, arrivals: Arrival[], untilMs: number, start = 0): Run {
  const sorted = [...arrivals].sort((a, b) => a.at - b.at);
  const decisions: PlayoutDecision[] = [];
  const played: number[] = [];
  const tags: number[] = [];
  let i = 0;
  for (let t = start; t <= untilMs; t += jb.tickMs) {
    while (i < sorted.length && (sorted[i]?.at ?? Infinity) <= t) {
      const a = sorted[i++];
      if (!a) break;
      jb.insert(
        {
          sequenceNumber: a.seq,
          timestamp: a.ts,
          ssrc: a.ssrc ?? 1,
          marker: false,
          payload: packetFor(a.tag, a.frameMs),
        },
        a.at,
      );
    }
    const r = jb.pull(t);
    assert.equal(r.pcm.length, jb.tickSamples, 'every tick is exactly one tick of PCM');
    decisions.push(r.decision);
    for (const p of r.played) played.push(p.sequenceNumber);
    for (let s = 0; s < r.pcm.length; s += 48 * 5) {
      const v = r.pcm[s] ?? 0;
      if (v > 0 && tags.at(-1) !== v) tags.push(v);
    }
  }
  return { decisions, played, tags, jb };
}

const increasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > (xs[i - 1] ?? -Infinity));

test('in order with small jitter: everything plays, in order, mostly normal', () => {
  const rng = new Prng(1);
  const r = run(
    new JitterBuffer({ decoder: new TagDecoder(), tickMs: 10 }),
    stream(200, () => 20 + 5 * rng.next()),
    4500,
  );
  const s = r.jb.stats();
  assert.equal(s.packetsPlayed, 200);
  assert.equal(s.lostPackets, 0);
  assert.equal(s.latePackets, 0);
  assert.deepEqual(
    r.tags,
    Array.from({ length: 200 }, (_, k) => k + 1),
  );
  assert.ok(r.decisions.filter((d) => d === 'normal').length > 350);
});

test('reordered packets are put back in order; nothing is lost', () => {
  // Every pair (2k, 2k+1) arrives swapped.
  const arr = stream(200, (k) => 30 + (k % 2 === 0 ? 25 : 0));
  const r = run(new JitterBuffer({ decoder: new TagDecoder() }), arr, 4600);
  const s = r.jb.stats();
  assert.equal(s.packetsPlayed, 200);
  assert.equal(s.lostPackets, 0);
  assert.equal(s.latePackets, 0);
  assert.ok(increasing(r.played));
  assert.deepEqual(
    r.tags,
    Array.from({ length: 200 }, (_, k) => k + 1),
  );
});

test('duplicates are counted and dropped, never played twice', () => {
  const base = stream(100, () => 20);
  const dups = base.filter((_, k) => k % 5 === 0).map((a) => ({ ...a, at: a.at + 3 }));
  const late = base.filter((_, k) => k % 7 === 0).map((a) => ({ ...a, at: a.at + 400 }));
  const r = run(new JitterBuffer({ decoder: new TagDecoder() }), [...base, ...dups, ...late], 2600);
  const s = r.jb.stats();
  assert.equal(s.packetsPlayed, 100);
  assert.equal(s.duplicates, dups.length + late.length);
  assert.equal(s.latePackets, 0);
  assert.deepEqual(
    r.tags,
    Array.from({ length: 100 }, (_, k) => k + 1),
  );
});

test('sequence number and timestamp wrap-around: no reset, no loss', () => {
  const arr = stream(300, () => 20, 65400, 2 ** 32 - 960 * 150);
  const r = run(new JitterBuffer({ decoder: new TagDecoder() }), arr, 6500);
  const s = r.jb.stats();
  assert.equal(s.resets, 0);
  assert.equal(s.packetsPlayed, 300);
  assert.equal(s.lostPackets, 0);
  assert.ok(increasing(r.played));
  assert.deepEqual(
    r.tags,
    Array.from({ length: 300 }, (_, k) => k + 1),
  );
});

test('DTX gap: the timestamp jumps with no missing sequence number — silence, not loss', () => {
  const talk1 = stream(50, () => 20);
  // 2 s of DTX: seq continues at 50, timestamp and send time jump by 2 s.
  const talk2 = stream(50, () => 20, 50, 50 * 960 + 96000).map((a, k) => ({
    ...a,
    at: 1000 + 2000 + 20 * k + 20,
    tag: 51 + k,
  }));
  const r = run(new JitterBuffer({ decoder: new TagDecoder() }), [...talk1, ...talk2], 4500);
  const s = r.jb.stats();
  assert.equal(s.lostPackets, 0, 'a DTX gap is not loss');
  assert.equal(s.plcPackets, 0);
  assert.equal(s.latePackets, 0);
  assert.equal(s.resets, 0);
  assert.equal(s.packetsPlayed, 100);
  assert.deepEqual(
    r.tags,
    Array.from({ length: 100 }, (_, k) => k + 1),
  );
});

test('burst loss: PLC for the first lost packets, FEC from the next packet for the last', () => {
  const lost = new Set([40, 41, 42]);
  const arr = stream(100, () => 20).filter((_, k) => !lost.has(k));
  // A 100 ms floor so that the packets after the burst are already there when it is due.
  const withFec = run(new JitterBuffer({ decoder: new TagDecoder(), minDelayMs: 100 }), arr, 2400);
  const handled = withFec.decisions.filter((d) => d === 'plc' || d === 'fec');
  assert.deepEqual(handled, ['plc', 'plc', 'fec']);
  const s = withFec.jb.stats();
  assert.equal(s.lostPackets, 3);
  assert.equal(s.plcPackets, 2);
  assert.equal(s.fecRecovered, 1);
  assert.equal(s.packetsPlayed, 97);
  const noFec = run(
    new JitterBuffer({ decoder: new TagDecoder(), fec: false, minDelayMs: 100 }),
    arr,
    2400,
  );
  assert.deepEqual(
    noFec.decisions.filter((d) => d === 'plc' || d === 'fec'),
    ['plc', 'plc', 'plc'],
  );
});

test('a packet arriving after its playout time is counted late and not played', () => {
  const arr = stream(100, (k) => (k === 50 ? 400 : 20));
  const r = run(new JitterBuffer({ decoder: new TagDecoder(), maxDelayMs: 100 }), arr, 2600);
  const s = r.jb.stats();
  assert.equal(s.latePackets, 1);
  assert.equal(s.lostPackets, 1);
  assert.equal(s.packetsPlayed, 99);
  assert.ok(!r.tags.includes(51));
});

for (const driftPpm of [3000, -3000]) {
  test(`sender clock drift ${driftPpm / 10000}% over 10 simulated minutes keeps the buffer bounded`, () => {
    const rng = new Prng(5);
    const count = 30000; // 10 min of 20 ms packets
    const arr = stream(count, (k) => 20 * k * (driftPpm * 1e-6) + 30 + 8 * rng.next());
    const jb = new JitterBuffer({ decoder: new TagDecoder(), tickMs: 20 });
    const sorted = arr;
    let i = 0;
    let maxLevel = 0;
    let maxBuffered = 0;
    for (let t = 0; t <= 20 * count * 1.004 + 500; t += 20) {
      while (i < sorted.length && (sorted[i]?.at ?? Infinity) <= t) {
        const a = sorted[i++];
        if (!a) break;
        jb.insert(
          {
            sequenceNumber: a.seq,
            timestamp: a.ts,
            ssrc: 1,
            marker: false,
            payload: packetFor(a.tag),
          },
          a.at,
        );
      }
      jb.pull(t);
      const s = jb.stats();
      if (t > 10000 && i < count) {
        maxLevel = Math.max(maxLevel, s.currentDelayMs);
        maxBuffered = Math.max(maxBuffered, s.bufferedPackets);
      }
    }
    const s = jb.stats();
    assert.ok(maxLevel < 80, `delay stayed bounded (max ${maxLevel.toFixed(1)} ms)`);
    assert.ok(maxBuffered <= 5, `buffer stayed small (max ${maxBuffered} packets)`);
    assert.equal(s.latePackets, 0);
    assert.ok(s.packetsPlayed >= count - 5);
    if (driftPpm < 0)
      assert.ok(s.accelerateCount > 50, 'a fast sender is absorbed by accelerating');
    else assert.ok(s.expandCount > 50, 'a slow sender is absorbed by expanding');
  });
}

test('min and max delay can change on the fly', () => {
  const rng = new Prng(3);
  const jb = new JitterBuffer({ decoder: new TagDecoder(), tickMs: 10 });
  const arr = stream(1000, () => 20 + 4 * rng.next());
  const sorted = [...arr].sort((a, b) => a.at - b.at);
  let i = 0;
  const levelAt: Record<number, number> = {};
  for (let t = 0; t <= 19000; t += 10) {
    if (t === 5000) jb.setDelayBounds({ minMs: 150 });
    if (t === 10000) jb.setDelayBounds({ minMs: 0, maxMs: 40 });
    while (i < sorted.length && (sorted[i]?.at ?? Infinity) <= t) {
      const a = sorted[i++];
      if (!a) break;
      jb.insert(
        {
          sequenceNumber: a.seq,
          timestamp: a.ts,
          ssrc: 1,
          marker: false,
          payload: packetFor(a.tag),
        },
        a.at,
      );
    }
    jb.pull(t);
    levelAt[t] = jb.stats().currentDelayMs;
  }
  assert.ok((levelAt[4990] ?? 999) < 40, `before: ${levelAt[4990]}`);
  assert.ok((levelAt[6000] ?? 0) >= 145, `after min = 150: ${levelAt[6000]}`);
  assert.ok((levelAt[9990] ?? 0) >= 145 && (levelAt[9990] ?? 999) <= 175);
  assert.ok((levelAt[12000] ?? 999) <= 50, `after max = 40: ${levelAt[12000]}`);
  assert.equal(jb.stats().maxDelayMs, 40);
  assert.equal(jb.stats().latePackets, 0);
  assert.throws(() => jb.setDelayBounds({ minMs: 50, maxMs: 10 }), {
    code: 'MEDIA_ERR_BAD_OPTION',
  });
});

test('the sender may change frame size mid-call (20 → 60 → 10 ms); the tick stays 20 ms', () => {
  const arr: Arrival[] = [];
  let ts = 0;
  let sendMs = 0;
  let seq = 0;
  for (const [frameMs, n] of [
    [20, 50],
    [60, 20],
    [10, 60],
    [40, 10],
  ] as const) {
    for (let k = 0; k < n; k++) {
      arr.push({ seq: seq, ts, at: sendMs + frameMs + 20, tag: seq + 1, frameMs });
      seq++;
      ts += frameMs * 48;
      sendMs += frameMs;
    }
  }
  const r = run(new JitterBuffer({ decoder: new TagDecoder(), tickMs: 20 }), arr, sendMs + 500);
  const s = r.jb.stats();
  assert.equal(s.packetsPlayed, seq);
  assert.equal(s.lostPackets, 0);
  assert.equal(s.latePackets, 0);
  assert.deepEqual(
    r.tags,
    Array.from({ length: seq }, (_, k) => k + 1),
  );
});

test('an SSRC change resets the buffer and the new stream plays', () => {
  const a = stream(50, () => 20);
  const b = stream(50, () => 20, 30000, 123456).map((x, k) => ({
    ...x,
    at: 1000 + 20 * k + 20,
    tag: 1000 + k,
    ssrc: 2,
  }));
  const dec = new TagDecoder();
  const r = run(new JitterBuffer({ decoder: dec }), [...a, ...b], 2600);
  assert.equal(r.decisions.filter((d) => d === 'reset').length, 1);
  assert.equal(r.jb.stats().resets, 1);
  assert.ok(dec.resets >= 1);
  assert.ok(r.tags.includes(1049), 'the new stream played to its end');
});

test('property: no input sequence crashes the buffer or makes it grow without bound', () => {
  const rng = new Prng(2024);
  const capacity = 64;
  for (let scenario = 0; scenario < 60; scenario++) {
    const jb = new JitterBuffer({
      decoder: new TagDecoder(),
      capacity,
      maxDelayMs: 300,
      tickMs: rng.next() < 0.5 ? 10 : 20,
    });
    let t = 0;
    let seq = Math.floor(rng.next() * 65536);
    let ts = Math.floor(rng.next() * 2 ** 32);
    for (let step = 0; step < 400; step++) {
      const inserts = Math.floor(rng.next() * 4);
      for (let k = 0; k < inserts; k++) {
        const r = rng.next();
        let payload: Uint8Array;
        if (r < 0.05) {
          payload = new Uint8Array(Math.floor(rng.next() * 4));
          for (let j = 0; j < payload.length; j++) payload[j] = Math.floor(rng.next() * 256);
        } else {
          payload = packetFor(
            Math.floor(rng.next() * 1000),
            [10, 20, 40, 60][Math.floor(rng.next() * 4)],
          );
        }
        // A plausible stream, with random reorder, duplicates, jumps, SSRC flips and garbage.
        const jitter = Math.floor((rng.next() - 0.5) * 20);
        const s = r < 0.02 ? Math.floor(rng.next() * 65536) : (seq + jitter) & 0xffff;
        const stamp = r < 0.04 ? Math.floor(rng.next() * 2 ** 32) : (ts + jitter * 960) >>> 0;
        const ssrc = r > 0.995 ? 2 : 1;
        jb.insert(
          { sequenceNumber: s, timestamp: stamp, ssrc, marker: rng.next() < 0.1, payload },
          t + rng.next() * 50,
        );
        seq = (seq + 1) & 0xffff;
        ts = (ts + 960) >>> 0;
      }
      const res = jb.pull(t);
      assert.equal(res.pcm.length, jb.tickSamples);
      const st = jb.stats();
      assert.ok(st.bufferedPackets <= capacity, `buffered ${st.bufferedPackets}`);
      assert.ok(Number.isFinite(st.currentDelayMs) && Number.isFinite(st.targetDelayMs));
      assert.ok(st.targetDelayMs <= 300);
      t += jb.tickMs;
    }
    // Then a clean stream: the buffer must come back within its bounds.
    for (let k = 0; k < 300; k++) {
      jb.insert(
        { sequenceNumber: seq, timestamp: ts, ssrc: 1, marker: false, payload: packetFor(k) },
        t,
      );
      seq = (seq + 1) & 0xffff;
      ts = (ts + 960) >>> 0;
      for (let p = 0; p < 20 / jb.tickMs; p++) {
        jb.pull(t);
        t += jb.tickMs;
      }
    }
    const st = jb.stats();
    assert.ok(st.currentDelayMs <= 300 + 2 * jb.tickMs, `settled at ${st.currentDelayMs} ms`);
    assert.ok(st.bufferedPackets <= 20);
  }
});

test('a long silence (DTX or a stalled sender) stays bounded and the next talkspurt plays promptly', () => {
  const talk1 = stream(50, () => 20);
  // 5 s later the talkspurt resumes with the next sequence number (RFC 3551 §4.1 marker case).
  const talk2 = stream(50, () => 20, 50, 50 * 960 + 5000 * 48).map((a, k) => ({
    ...a,
    at: 1000 + 5000 + 20 * k + 20,
    tag: 51 + k,
  }));
  const r = run(
    new JitterBuffer({ decoder: new TagDecoder(), maxDelayMs: 500 }),
    [...talk1, ...talk2],
    7040,
  );
  const s = r.jb.stats();
  assert.ok(s.accelerateCount <= 3, `idling is not accelerating (${s.accelerateCount})`);
  assert.equal(s.lostPackets, 0);
  assert.equal(s.packetsPlayed, 100);
  assert.ok(s.currentDelayMs < 80, `delay back near target after the silence: ${s.currentDelayMs}`);
  assert.deepEqual(
    r.tags,
    Array.from({ length: 100 }, (_, k) => k + 1),
  );
});

test('targetDecayMsPerS holds the target after a spike, and it falls at that rate (peak hold)', () => {
  // 6 s of a 20 ms stream: a 200 ms spike at 2 s (packets 100–104), calm 20 ms delay otherwise,
  // and a short history so the quantile itself forgets the spike 1 s later.
  const arrivals = stream(300, (k) => (k >= 100 && k < 105 ? 200 - (k - 100) * 20 : 20));
  const targets = (decay: number) => {
    const jb = new JitterBuffer({
      decoder: new TagDecoder(),
      tickMs: 10,
      historyMs: 1000,
      targetDecayMsPerS: decay,
    });
    const at: number[] = [];
    const sorted = [...arrivals].sort((a, b) => a.at - b.at);
    let i = 0;
    for (let t = 0; t <= 6000; t += 10) {
      while (i < sorted.length && (sorted[i]?.at ?? Infinity) <= t) {
        const a = sorted[i++];
        if (a) {
          const packet = { sequenceNumber: a.seq, timestamp: a.ts, ssrc: 1, marker: false };
          jb.insert({ ...packet, payload: packetFor(a.tag) }, a.at);
        }
      }
      jb.pull(t);
      if (t % 500 === 0) at.push(jb.stats().targetDelayMs);
    }
    return at;
  };
  const follow = targets(0);
  const held = targets(50);
  // Both rise at once with the spike; 1.5 s later the plain quantile has forgotten it.
  const peak = Math.max(...follow);
  assert.ok(peak > 150, `spike seen: ${follow.join(' ')}`);
  assert.equal(Math.max(...held), peak);
  const after = 9; // t = 4.5 s, 2.3 s after the spike's last packet
  assert.ok((follow[after] ?? 0) < 30, `quantile forgot the spike: ${follow.join(' ')}`);
  // The held target has fallen at 50 ms/s since the quantile dropped, not at once.
  const h = held[after] ?? 0;
  assert.ok(h > 60 && h < peak - 50, `held target ${h}: ${held.join(' ')}`);
  assert.ok(
    held.every((v, k) => k === 0 || v >= (held[k - 1] ?? 0) - 25 - 1e-9),
    `falls at most 25 ms per 0.5 s: ${held.join(' ')}`,
  );
  assert.throws(
    () => new JitterBuffer({ decoder: new TagDecoder(), targetDecayMsPerS: -1 }),
    /targetDecayMsPerS/,
  );
});
