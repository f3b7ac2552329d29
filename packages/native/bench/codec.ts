/**
 * bench:codec: µs per 20 ms frame to encode and decode 48 kHz mono at 32 kbit/s with our binding,
 * against @discordjs/opus (its own libopus build) measured in the same run at equal settings
 * (application audio, same complexity, same bitrate). Rounds of ours and theirs are interleaved
 * (alternating which goes first) and the median round is kept, because the machine is shared.
 * Then 10^6 encode/decode calls (bounded in time) check that RSS does not grow.
 *
 *   node --expose-gc packages/native/bench/codec.ts [--json] [--rounds 21] [--complexity 9]
 *
 * --json prints exactly {encodeUs, decodeUs, baselineEncodeUs, baselineDecodeUs, ratio, rssGrowthMB}.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { OpusDecoder, OpusEncoder } from '../index.ts';

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '21' },
    complexity: { type: 'string', default: '9' },
    'leak-calls': { type: 'string', default: '1000000' },
    'leak-seconds': { type: 'string', default: '60' },
  },
});
const ROUNDS = Number(values.rounds);
const COMPLEXITY = Number(values.complexity);
const LEAK_CALLS = Number(values['leak-calls']);
const LEAK_SECONDS = Number(values['leak-seconds']);
const RATE = 48000;
const FRAME = 960; // 20 ms
const FRAMES_PER_ROUND = 100; // 2 s of audio
const BITRATE = 32000;

interface DiscordOpus {
  OpusEncoder: new (
    rate: number,
    channels: number,
  ) => {
    encode(pcm: Buffer): Buffer;
    decode(packet: Buffer): Buffer;
    setBitrate(bps: number): void;
    applyEncoderCTL(ctl: number, value: number): void;
  };
}
const require = createRequire(import.meta.url);
const discord = require('@discordjs/opus') as DiscordOpus;

/** A deterministic voice-like test signal: a gliding harmonic tone with noise and syllable envelope. */
function makeSignal(frames: number): Int16Array[] {
  const out: Int16Array[] = [];
  let seed = 12345;
  let phase = 0;
  for (let f = 0; f < frames; f++) {
    const pcm = new Int16Array(FRAME);
    for (let i = 0; i < FRAME; i++) {
      const t = (f * FRAME + i) / RATE;
      const pitch = 120 + 40 * Math.sin(2 * Math.PI * 0.7 * t);
      phase += (2 * Math.PI * pitch) / RATE;
      const env = 0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t);
      let v = 0;
      for (let h = 1; h <= 12; h++) v += Math.sin(h * phase) / h;
      seed = (seed * 1103515245 + 12345) >>> 0;
      const noise = (seed / 2 ** 32 - 0.5) * 0.2;
      pcm[i] = Math.round(6000 * env * (v + noise));
    }
    out.push(pcm);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const pcm = makeSignal(FRAMES_PER_ROUND);
const pcmBuffers = pcm.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));

const ours = new OpusEncoder({
  sampleRate: RATE,
  channels: 1,
  application: 'audio',
  bitrate: BITRATE,
  complexity: COMPLEXITY,
});
const ourDec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
const theirs = new discord.OpusEncoder(RATE, 1);
theirs.setBitrate(BITRATE);
theirs.applyEncoderCTL(4010, COMPLEXITY); // OPUS_SET_COMPLEXITY_REQUEST

const packets = pcm.map((p) => ours.encode(p));
const packetBuffers = packets.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength));

function timeUs(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return ((performance.now() - t0) * 1000) / FRAMES_PER_ROUND;
}
const runs = {
  oursEnc: () => {
    for (const p of pcm) ours.encode(p);
  },
  theirsEnc: () => {
    for (const b of pcmBuffers) theirs.encode(b);
  },
  oursDec: () => {
    for (const p of packets) ourDec.decode(p);
  },
  theirsDec: () => {
    for (const b of packetBuffers) theirs.decode(b);
  },
};

// Warm-up: JIT, caches, codec state.
for (const f of Object.values(runs)) f();

// Rounds alternate ABBA so that load drifting on a shared machine hits both sides alike; the
// ratio is the median of per-round ratios (each compares measurements taken moments apart).
const enc: number[] = [];
const dec: number[] = [];
const baseEnc: number[] = [];
const baseDec: number[] = [];
const ratios: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const e1 = timeUs(runs.oursEnc);
  const b1 = timeUs(runs.theirsEnc);
  const b2 = timeUs(runs.theirsEnc);
  const e2 = timeUs(runs.oursEnc);
  const d1 = timeUs(runs.oursDec);
  const c1 = timeUs(runs.theirsDec);
  const c2 = timeUs(runs.theirsDec);
  const d2 = timeUs(runs.oursDec);
  enc.push((e1 + e2) / 2);
  baseEnc.push((b1 + b2) / 2);
  dec.push((d1 + d2) / 2);
  baseDec.push((c1 + c2) / 2);
  ratios.push((e1 + e2 + d1 + d2) / (b1 + b2 + c1 + c2));
}
const encodeUs = median(enc);
const decodeUs = median(dec);
const baselineEncodeUs = median(baseEnc);
const baselineDecodeUs = median(baseDec);
const ratio = median(ratios);

// Binding overhead alone: 2.5 ms frames at complexity 0 and 6 kbit/s leave libopus
// almost nothing to do, so what remains is argument checks, the call and the result buffer.
function overheadUs(encodeOnce: () => void): number {
  const n = 20000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) encodeOnce();
  return ((performance.now() - t0) * 1000) / n;
}
const tinyPcm = new Int16Array(120);
const tinyBuf = Buffer.from(tinyPcm.buffer);
const tinyOurs = new OpusEncoder({
  sampleRate: RATE,
  channels: 1,
  application: 'audio',
  frameMs: 2.5,
  bitrate: 6000,
  complexity: 0,
});
const tinyTheirs = new discord.OpusEncoder(RATE, 1);
tinyTheirs.setBitrate(6000);
tinyTheirs.applyEncoderCTL(4010, 0);
const overheadOurs: number[] = [];
const overheadTheirs: number[] = [];
for (let r = 0; r < 5; r++) {
  overheadOurs.push(overheadUs(() => tinyOurs.encode(tinyPcm)));
  overheadTheirs.push(overheadUs(() => tinyTheirs.encode(tinyBuf)));
}
tinyOurs.close();

// Leak check: alternate encode/decode calls. Cheap 2.5 ms frames at complexity 0 keep 10^6
// calls within the time bound; the allocation pattern per call is the same as for 20 ms.
const gc = (globalThis as { gc?: () => void }).gc;
const leakEnc = new OpusEncoder({
  sampleRate: RATE,
  channels: 1,
  application: 'audio',
  frameMs: 2.5,
  bitrate: BITRATE,
  complexity: 0,
});
const leakDec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
const small = (pcm[0] ?? new Int16Array(FRAME)).subarray(0, 120);
for (let i = 0; i < 20000; i++) leakDec.decode(leakEnc.encode(small));
gc?.();
const rss0 = process.memoryUsage.rss();
const deadline = performance.now() + LEAK_SECONDS * 1000;
let calls = 0;
while (calls < LEAK_CALLS && (calls % 10000 !== 0 || performance.now() < deadline)) {
  leakDec.decode(leakEnc.encode(small));
  calls += 2;
}
gc?.();
const rssGrowthMB = (process.memoryUsage.rss() - rss0) / (1024 * 1024);

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
if (values.json) {
  console.log(
    JSON.stringify({
      encodeUs: round(encodeUs),
      decodeUs: round(decodeUs),
      baselineEncodeUs: round(baselineEncodeUs),
      baselineDecodeUs: round(baselineDecodeUs),
      ratio: round(ratio, 3),
      rssGrowthMB: round(rssGrowthMB),
    }),
  );
} else {
  console.log(
    `Opus 48 kHz mono, 20 ms frames, ${BITRATE / 1000} kbit/s, complexity ${COMPLEXITY}, ` +
      `${ROUNDS} ABBA rounds of ${FRAMES_PER_ROUND} frames (medians)`,
  );
  console.log(
    `  ours      encode ${encodeUs.toFixed(2)} µs/frame   decode ${decodeUs.toFixed(2)} µs/frame`,
  );
  console.log(
    `  baseline  encode ${baselineEncodeUs.toFixed(2)} µs/frame   decode ${baselineDecodeUs.toFixed(2)} µs/frame  (@discordjs/opus)`,
  );
  console.log(`  ratio (ours/baseline, encode+decode): ${ratio.toFixed(3)}  (target ≤ 1.05)`);
  console.log(
    `  2.5 ms frame at complexity 0 (≈ call overhead): ours ${median(overheadOurs).toFixed(2)} µs, baseline ${median(overheadTheirs).toFixed(2)} µs`,
  );
  console.log(
    `  RSS growth over ${calls} encode/decode calls: ${rssGrowthMB.toFixed(2)} MB  (target < 5)` +
      (gc ? '' : '  [run with --expose-gc for a steadier figure]'),
  );
}
ours.close();
ourDec.close();
leakEnc.close();
leakDec.close();
