/**
 * Cross-implementation test (the mediasoup `test-werift-sctp.ts` idea): the C jitter buffer
 * (src/jitter.c, through NativeJitterBuffer) against the reference, `@parloir/media`'s
 * JitterBuffer driving the addon's OpusDecoder. Both get the same real Opus packets with the same
 * arrival and pull times; every insert outcome, every tick's decision, every tick's PCM and the
 * stats after every call must be identical. Traces are seeded, so a failure replays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitterBuffer, Prng, type JitterBufferPacket } from '@parloir/media';
import {
  NativeJitterBuffer,
  OpusDecoder,
  OpusEncoder,
  type NativeJitterBufferOptions,
  type NativeJitterBufferStats,
  type OpusFrameMs,
} from '../index.ts';
import { makeSpeech } from './speech.ts';

const RATE = 48000;

/** A seeded PRNG, uniform in [0, 1): the media core's mulberry32. */
function prng(seed: number): () => number {
  const p = new Prng(seed);
  return () => p.next();
}

/** 30 s of test signal: speech, true silence (for DTX), a gliding harmonic tone, noise. */
function makeSignal(): Int16Array {
  const speech = makeSpeech(
    'Bonjour, ceci est un essai de Parloir. The quick brown fox jumps over the lazy dog.',
  );
  const out = new Int16Array(30 * RATE);
  const rnd = prng(7);
  let pos = 0;
  let part = 0;
  while (pos < out.length) {
    const kind = part++ % 4;
    const len = Math.min(out.length - pos, kind === 0 ? speech.length : RATE * (1 + (part % 2)));
    for (let i = 0; i < len; i++) {
      let v = 0;
      if (kind === 0) v = speech[i] ?? 0;
      else if (kind === 2) {
        const f = 120 + (80 * i) / len;
        const ph = (2 * Math.PI * f * i) / RATE;
        v = 4000 * (Math.sin(ph) + 0.5 * Math.sin(2 * ph) + 0.25 * Math.sin(3 * ph));
      } else if (kind === 3) v = (rnd() - 0.5) * 3000;
      out[pos + i] = v;
    }
    pos += len;
  }
  return out;
}

const signal = makeSignal();

interface SentPacket extends JitterBufferPacket {
  sendMs: number;
}

interface StreamOptions {
  seconds: number;
  frameMsAt?: (ms: number) => OpusFrameMs;
  fec?: boolean;
  dtx?: boolean;
  seqStart?: number;
  tsStart?: number;
  /** Sender time at which the stream switches to a new SSRC, sequence and timestamp base. */
  ssrcChangeAtMs?: number;
  /** Sender time at which the sequence number jumps forward by 5000. */
  seqJumpAtMs?: number;
}

/** Encodes the signal like a sender would: DTX packets of ≤ 2 bytes are not sent. */
function makeStream(o: StreamOptions): SentPacket[] {
  const make = () =>
    new OpusEncoder({
      sampleRate: RATE,
      channels: 1,
      application: 'voip',
      bitrate: 24000,
      fec: o.fec ?? false,
      packetLossPerc: o.fec ? 10 : 0,
      dtx: o.dtx ?? false,
    });
  let enc = make();
  const out: SentPacket[] = [];
  let ssrc = 0x1234abcd;
  let seq = o.seqStart ?? 1000;
  let ts = o.tsStart ?? 123456;
  let changed = false;
  let jumped = false;
  let pos = 0;
  while (pos < o.seconds * RATE) {
    const ms = (pos * 1000) / RATE;
    if (o.ssrcChangeAtMs !== undefined && !changed && ms >= o.ssrcChangeAtMs) {
      changed = true;
      enc.close();
      enc = make();
      ssrc = 0x55aa0001;
      seq = 40000;
      ts = 3_000_000_000;
    }
    if (o.seqJumpAtMs !== undefined && !jumped && ms >= o.seqJumpAtMs) {
      jumped = true;
      seq = (seq + 5000) & 0xffff;
    }
    enc.frameMs = o.frameMsAt?.(ms) ?? 20;
    const n = enc.frameSamples;
    const frame = signal.subarray(pos % (signal.length - n), (pos % (signal.length - n)) + n);
    const payload = enc.encode(frame);
    if (!(o.dtx && payload.length <= 2)) {
      out.push({ sequenceNumber: seq, timestamp: ts, ssrc, marker: false, payload, sendMs: ms });
      seq = (seq + 1) & 0xffff;
    }
    ts = (ts + n) % 2 ** 32;
    pos += n;
  }
  enc.close();
  return out;
}

type Op =
  | { kind: 'insert'; packet: JitterBufferPacket; at: number }
  | { kind: 'pull'; at: number }
  | { kind: 'bounds'; minMs?: number; maxMs?: number };

interface NetworkOptions {
  seed: number;
  /** One-way delay of a packet, ms. */
  delay: (rnd: () => number, sendMs: number) => number;
  /** Whether the packet is lost. */
  lost?: (rnd: () => number) => boolean;
  /** Probability of a duplicate, delivered 1–20 ms after the first copy. */
  duplicate?: number;
  /** Rewrites a payload (corruption). */
  corrupt?: (rnd: () => number, payload: Uint8Array) => Uint8Array;
}

/** Receiver clock offset, ms: arrival and pull times are not aligned with the sender's. */
const CLOCK_OFFSET = 12345.678;

function makeOps(
  packets: SentPacket[],
  net: NetworkOptions,
  tickMs: number,
  bounds: { atMs: number; minMs?: number; maxMs?: number }[] = [],
): Op[] {
  const rnd = prng(net.seed);
  const arrivals: { packet: JitterBufferPacket; at: number }[] = [];
  for (const p of packets) {
    if (net.lost?.(rnd)) continue;
    const payload = net.corrupt ? net.corrupt(rnd, p.payload) : p.payload;
    const packet = { ...p, payload };
    const at = CLOCK_OFFSET + p.sendMs + net.delay(rnd, p.sendMs);
    arrivals.push({ packet, at });
    if (net.duplicate !== undefined && rnd() < net.duplicate) {
      arrivals.push({ packet, at: at + 1 + rnd() * 19 });
    }
  }
  arrivals.sort((a, b) => a.at - b.at);
  const last = packets.at(-1)?.sendMs ?? 0;
  const ticks = Math.ceil((last + 1000) / tickMs);
  const ops: Op[] = [];
  const pending = [...bounds].sort((a, b) => a.atMs - b.atMs);
  let i = 0;
  for (let k = 0; k < ticks; k++) {
    const now = CLOCK_OFFSET + k * tickMs;
    while (i < arrivals.length && (arrivals[i]?.at ?? Infinity) <= now) {
      const a = arrivals[i++];
      if (a) ops.push({ kind: 'insert', packet: a.packet, at: a.at });
    }
    while (pending.length > 0 && (pending[0]?.atMs ?? Infinity) <= k * tickMs) {
      const b = pending.shift();
      if (b) ops.push({ kind: 'bounds', minMs: b.minMs, maxMs: b.maxMs });
    }
    ops.push({ kind: 'pull', at: now });
  }
  return ops;
}

interface Counts {
  inserts: number;
  ticks: number;
  decisions: Record<string, number>;
  stats?: NativeJitterBufferStats;
}

/** Runs the same operations on both buffers; throws at the first difference. */
function compare(name: string, options: NativeJitterBufferOptions, ops: Op[]): Counts {
  const decoder = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  const ts = new JitterBuffer({ ...options, decoder });
  const c = new NativeJitterBuffer(options);
  const counts: Counts = { inserts: 0, ticks: 0, decisions: {} };
  const out = new Int16Array(c.tickSamples);
  try {
    assert.equal(c.tickSamples, ts.tickSamples);
    for (const [index, op] of ops.entries()) {
      const where = `${name}: op ${index} (tick ${counts.ticks}, ${op.kind})`;
      if (op.kind === 'insert') {
        const a = ts.insert(op.packet, op.at);
        const b = c.insert(op.packet, op.at);
        counts.inserts++;
        assert.equal(b, a, `${where}: insert outcome`);
      } else if (op.kind === 'bounds') {
        const a = attempt(() => ts.setDelayBounds(op));
        const b = attempt(() => c.setDelayBounds(op));
        assert.equal(b, a, `${where}: setDelayBounds accepted`);
      } else {
        const a = ts.pull(op.at);
        const b = c.pull(op.at, out);
        counts.ticks++;
        counts.decisions[a.decision] = (counts.decisions[a.decision] ?? 0) + 1;
        if (b.decision !== a.decision || Buffer.compare(pcmBytes(a.pcm), pcmBytes(b.pcm)) !== 0) {
          const first = a.pcm.findIndex((v, j) => v !== b.pcm[j]);
          assert.fail(
            `${where}: TS ${a.decision} vs C ${b.decision}, first PCM difference at sample ${first}` +
              ` (${a.pcm[first]} vs ${b.pcm[first]})\nTS stats ${JSON.stringify(ts.stats())}` +
              `\nC  stats ${JSON.stringify(c.stats())}`,
          );
        }
      }
      assert.deepEqual(c.stats(), ts.stats(), `${where}: stats`);
    }
    counts.stats = c.stats();
  } finally {
    c.close();
    decoder.close();
  }
  return counts;
}

/** Whether `f` ran without throwing. */
function attempt(f: () => void): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

function pcmBytes(pcm: Int16Array): Buffer {
  return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/** Gilbert–Elliott loss: bursts of ~3 packets, ~6 % overall. */
function bursty(): (rnd: () => number) => boolean {
  let bad = false;
  return (rnd) => {
    bad = bad ? rnd() > 0.3 : rnd() < 0.02;
    return bad && rnd() < 0.9;
  };
}

interface Trace {
  name: string;
  options?: NativeJitterBufferOptions;
  stream: StreamOptions;
  net: NetworkOptions;
  bounds?: { atMs: number; minMs?: number; maxMs?: number }[];
  /** Counters that must end above zero: the trace exercises what it is named for. */
  exercises: (keyof NativeJitterBufferStats)[];
}

const ENGINE: NativeJitterBufferOptions = {
  tickMs: 5,
  inOrderQuantile: 0.9,
  accelerateAtTicks: 2,
  initialDelayMs: 20,
  minDelayMs: 20,
  maxDelayMs: 500,
};

const TRACES: Trace[] = [
  {
    name: 'clean',
    exercises: ['packetsPlayed'],
    stream: { seconds: 12 },
    net: { seed: 1, delay: (r) => 30 + r() * 2 },
  },
  {
    name: '5 % random loss, FEC',
    exercises: ['fecRecovered', 'plcPackets'],
    stream: { seconds: 15, fec: true },
    net: { seed: 2, delay: (r) => 25 + r() * 4, lost: (r) => r() < 0.05 },
  },
  {
    name: 'bursty loss, FEC',
    exercises: ['fecRecovered', 'lostPackets'],
    stream: { seconds: 15, fec: true },
    net: { seed: 3, delay: (r) => 25 + r() * 4, lost: bursty() },
  },
  {
    name: 'bursty loss, FEC off in the buffer',
    exercises: ['plcPackets'],
    options: { fec: false },
    stream: { seconds: 10, fec: true },
    net: { seed: 33, delay: (r) => 25 + r() * 4, lost: bursty() },
  },
  {
    name: '30 ms jitter with reordering',
    exercises: ['expandCount'],
    stream: { seconds: 15 },
    net: { seed: 4, delay: (r) => 20 + r() * 30 },
  },
  {
    name: 'duplicates',
    exercises: ['duplicates'],
    stream: { seconds: 10 },
    net: { seed: 5, delay: (r) => 25 + r() * 10, duplicate: 0.08 },
  },
  {
    name: 'late packets',
    exercises: ['latePackets', 'fecRecovered'],
    stream: { seconds: 12 },
    net: { seed: 6, delay: (r) => (r() < 0.04 ? 150 + r() * 250 : 20 + r() * 5) },
  },
  {
    name: 'DTX gaps',
    exercises: ['accelerateCount'],
    stream: { seconds: 20, dtx: true },
    net: { seed: 7, delay: (r) => 20 + r() * 8 },
  },
  {
    name: 'frame size 20 → 10 → 60 → 20 ms',
    exercises: ['lostPackets', 'fecRecovered'],
    stream: {
      seconds: 16,
      frameMsAt: (ms) => (ms < 4000 ? 20 : ms < 8000 ? 10 : ms < 12000 ? 60 : 20),
    },
    net: { seed: 8, delay: (r) => 20 + r() * 15, lost: (r) => r() < 0.02 },
  },
  {
    name: 'SSRC change',
    exercises: ['resets'],
    stream: { seconds: 12, ssrcChangeAtMs: 6000 },
    net: { seed: 9, delay: (r) => 20 + r() * 6 },
  },
  {
    name: 'sequence and timestamp wrap',
    exercises: ['duplicates', 'fecRecovered'],
    stream: { seconds: 10, seqStart: 65300, tsStart: 2 ** 32 - 5 * RATE },
    net: { seed: 10, delay: (r) => 20 + r() * 20, lost: (r) => r() < 0.03, duplicate: 0.02 },
  },
  {
    name: 'sequence jump (reset) and corrupt payloads',
    exercises: ['resets', 'malformedPackets'],
    stream: { seconds: 12, seqJumpAtMs: 6000, fec: true },
    net: {
      seed: 11,
      delay: (r) => 20 + r() * 10,
      lost: (r) => r() < 0.03,
      corrupt: (r, p) => {
        const x = r();
        if (x < 0.03) {
          const q = p.slice();
          for (let k = 0; k < 3; k++) q[Math.floor(r() * q.length)] = Math.floor(r() * 256);
          return q;
        }
        if (x < 0.04) return Uint8Array.from({ length: Math.floor(r() * 80) }, () => r() * 256);
        return p;
      },
    },
  },
  {
    name: 'bound changes mid-stream',
    exercises: ['lostPackets'],
    stream: { seconds: 16 },
    net: { seed: 12, delay: (r) => 20 + r() * 25 },
    bounds: [
      { atMs: 4000, minMs: 150 },
      { atMs: 8000, minMs: 0, maxMs: 40 },
      { atMs: 12000, maxMs: 2000 },
    ],
  },
  {
    name: 'stalls then bursts over maxDelayMs (hard cap)',
    exercises: ['lostPackets', 'accelerateCount'],
    options: { maxDelayMs: 200 },
    stream: { seconds: 14, dtx: true },
    net: {
      seed: 13,
      delay: (r, ms) => {
        // Packets sent during a stall all arrive when it ends (Wi-Fi handover).
        for (const [from, to] of [
          [3000, 3600],
          [7000, 8000],
          [10000, 10400],
        ] as const) {
          if (ms >= from && ms < to) return to - ms + 20 + r();
        }
        return 20 + r() * 3;
      },
    },
  },
  {
    name: "the engine's options, jitter and loss",
    exercises: ['fecRecovered'],
    options: ENGINE,
    stream: { seconds: 12, fec: true },
    net: { seed: 14, delay: (r) => 15 + r() * 20, lost: (r) => r() < 0.03 },
  },
  {
    name: "the engine's options, 60 ms frames, DTX, bursty loss",
    exercises: ['fecRecovered', 'plcPackets', 'duplicates'],
    options: ENGINE,
    stream: { seconds: 12, fec: true, dtx: true, frameMsAt: (ms) => (ms < 6000 ? 60 : 20) },
    net: { seed: 15, delay: (r) => 10 + r() * 40, lost: bursty(), duplicate: 0.02 },
  },
  {
    name: 'heavy-tailed delay (Pareto) with a held target',
    exercises: ['expandCount', 'accelerateCount', 'latePackets'],
    options: { tickMs: 10, targetDecayMsPerS: 30, historyMs: 3000, maxDelayMs: 400 },
    stream: { seconds: 15 },
    // Pareto(α = 1.5, 5 ms scale) on a 20 ms base: mostly small, now and then hundreds of ms.
    net: { seed: 17, delay: (r) => 20 + 5 / Math.pow(1 - r() * 0.9999, 1 / 1.5) },
  },
  {
    name: "periodic spikes, the engine's options and a held target",
    exercises: ['expandCount'],
    options: { ...ENGINE, targetDecayMsPerS: 15 },
    stream: { seconds: 15, dtx: true },
    net: { seed: 18, delay: (r, ms) => 20 + r() * 5 + (ms % 2000 < 100 ? 120 - (ms % 2000) : 0) },
  },
  {
    name: 'small ring, 10 ms tick, low accelerate threshold',
    exercises: ['resets', 'latePackets', 'accelerateCount'],
    options: { capacity: 16, tickMs: 10, accelerateAtTicks: 0.5, historyMs: 2000, marginMs: 0 },
    stream: { seconds: 10, frameMsAt: (ms) => (ms < 5000 ? 10 : 40) },
    net: { seed: 16, delay: (r) => (r() < 0.02 ? 300 : 20 + r() * 30), lost: (r) => r() < 0.02 },
  },
];

let totalTicks = 0;
let totalInserts = 0;

for (const trace of TRACES) {
  test(`C and TS jitter buffers agree: ${trace.name}`, () => {
    const options = trace.options ?? {};
    const ops = makeOps(makeStream(trace.stream), trace.net, options.tickMs ?? 20, trace.bounds);
    const counts = compare(trace.name, options, ops);
    totalTicks += counts.ticks;
    totalInserts += counts.inserts;
    // The trace exercises what it is named for: playout happened, and not only one decision.
    assert.ok((counts.decisions.normal ?? 0) > counts.ticks / 4, JSON.stringify(counts));
    assert.ok(Object.keys(counts.decisions).length >= 2, JSON.stringify(counts));
    for (const key of trace.exercises) {
      assert.ok(Number(counts.stats?.[key]) > 0, `${key} stayed 0: ${JSON.stringify(counts)}`);
    }
    if (trace.stream.dtx) {
      // DTX really left timestamp gaps with no missing sequence number.
      const s = makeStream(trace.stream);
      const gaps = s.filter((p, i) => {
        const step = (p.timestamp - (s[i - 1]?.timestamp ?? p.timestamp) + 2 ** 32) % 2 ** 32;
        return step > 6000; // more than 120 ms: longer than any packet
      });
      assert.ok(gaps.length >= 2, `${gaps.length} DTX gaps`);
    }
  });
}

/** Random options, packets, payloads, times and bound changes: the two must still agree. */
function fuzzCase(
  seed: number,
  pool: Uint8Array[],
): { options: NativeJitterBufferOptions; ops: Op[] } {
  const r = prng(seed);
  const pickOf = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const minDelayMs = r() < 0.5 ? 0 : r() * 60;
  const options: NativeJitterBufferOptions = {
    tickMs: pickOf([5, 10, 20]),
    capacity: 16 + Math.floor(r() * 200),
    minDelayMs,
    maxDelayMs: minDelayMs + 30 + r() * 1000,
    quantile: 0.5 + r() * 0.5,
    inOrderQuantile: 0.5 + r() * 0.5,
    marginMs: r() * 10,
    historyMs: 300 + r() * 10000,
    fec: r() < 0.7,
    initialDelayMs: r() * 100,
    accelerateAtTicks: r() * 2.5,
    targetDecayMsPerS: r() < 0.5 ? 0 : r() * 100,
  };
  const tick = options.tickMs ?? 20;
  const ops: Op[] = [];
  let now = 1000 + r() * 1e6;
  let seq = Math.floor(r() * 65536);
  let ts = Math.floor(r() * 2 ** 32);
  let ssrc = 1 + Math.floor(r() * 1000);
  for (let i = 0; i < 1500; i++) {
    const x = r();
    if (x < 0.45) {
      let payload = pickOf(pool);
      const y = r();
      if (y < 0.05) payload = Uint8Array.from({ length: Math.floor(r() * 60) }, () => r() * 256);
      else if (y < 0.1) {
        payload = payload.slice();
        payload[Math.floor(r() * payload.length)] = r() * 256;
      }
      const z = r();
      const dSeq =
        z < 0.01
          ? Math.floor(r() * 65536)
          : z < 0.1
            ? -Math.floor(r() * 5)
            : z < 0.15
              ? 2 + Math.floor(r() * 3)
              : 1;
      seq = (seq + dSeq + 65536) % 65536;
      ts =
        (ts +
          (z < 0.01 ? Math.floor(r() * 2 ** 32) : dSeq * 960 + (r() < 0.05 ? 19200 : 0)) +
          2 ** 32) %
        2 ** 32;
      if (r() < 0.005) ssrc++;
      const packet = { sequenceNumber: seq, timestamp: ts, ssrc, marker: r() < 0.05, payload };
      ops.push({ kind: 'insert', packet, at: now + r() * 200 - 20 });
    } else if (x < 0.97) {
      now += r() < 0.02 ? r() * 3000 : tick;
      ops.push({ kind: 'pull', at: now });
    } else {
      const lo = r() * 100;
      ops.push(
        r() < 0.5
          ? { kind: 'bounds', minMs: lo }
          : { kind: 'bounds', minMs: lo, maxMs: lo + r() * 500 },
      );
    }
  }
  return { options, ops };
}

test('C and TS jitter buffers agree on random (fuzzed) input', () => {
  const pool: Uint8Array[] = [];
  for (const frameMs of [10, 20, 60] as const) {
    pool.push(
      ...makeStream({ seconds: 1, fec: true, frameMsAt: () => frameMs }).map((p) => p.payload),
    );
  }
  // A fixed number of seeds, not a time budget: under a sanitizer build or a loaded machine a
  // budget compared fewer cases and failed the count below.
  let cases = 0;
  for (let seed = 100; seed < 130; seed++) {
    const { options, ops } = fuzzCase(seed, pool);
    const counts = compare(`fuzz seed ${seed}`, options, ops);
    totalTicks += counts.ticks;
    totalInserts += counts.inserts;
    cases++;
  }
  assert.equal(cases, 30);
  console.log(`fuzz: ${cases} random cases compared`);
});

test('the traces compared a meaningful amount of playout', () => {
  assert.ok(totalTicks > 10000, `${totalTicks} ticks`);
  assert.ok(totalInserts > 5000, `${totalInserts} inserts`);
  console.log(
    `compared ${TRACES.length} traces and the fuzz cases: ${totalTicks} ticks, ${totalInserts} inserts`,
  );
});
