/**
 * Speech-quality part of `npm run bench:jitter` (issue 24):
 *
 *   npm run bench:jitter -- --quality [--json] [--trace FILE.csv …]
 *   npm run bench:jitter -- --loss-protection [--json]
 *
 * `--quality`: about 60 s of varied speech is made at run time with espeak-ng (French and English
 * voices, pauses between sentences), resampled to 48 kHz with sox, and encoded once with the
 * call's encoder settings (libopus voip, voice, complexity 5, 32 kbit/s, 20 ms, in-band FEC on,
 * expected loss as the call starts). Each trace's packets then go through Parloir's
 * {@link JitterBuffer} with the real Opus decoder, in simulated time (10 ms tick, as the call),
 * and the played audio is scored with wideband PESQ (ITU-T P.862.2) by the measurement tool
 * `../shared/tools/pesq/pesq-wb` (not part of the project: without it, PESQ is skipped with a
 * message and only delay and concealment are reported). The codec-only ceiling is the same
 * packets decoded in order with no network. On traces with loss, `pesqParloirProtected` is the
 * same run with the encoder as the adaptation policy sets it once loss is seen (FEC, 6 % expected
 * loss, 40 kbit/s). Chromium's NetEQ is not measured by this bench: its fields are null with the
 * reason.
 *
 * `--loss-protection`: the same speech over a constant-delay path with random (Bernoulli) and
 * bursty (Gilbert, mean burst 2.5 packets) loss at 1, 3, 5 and 10 %, for no FEC, LBRR at the
 * expected loss equal to the loss, LBRR at the policy's floor (6 %) at 32 kbit/s, and the same at
 * 40 kbit/s (what the policy does); PESQ-WB and the coded bitrate of each. It first probes where libopus really codes LBRR: for each expected loss, the
 * share of active frames whose `decodeFec` differs from PLC's output from the same state.
 *
 * Delay is defined as in {@link simulateTrace}: mean over played packets of
 * (playout − send − minimum transit). Concealment: audio made by PLC, FEC and expansion, % of
 * the audio played.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { basename, join, resolve } from 'node:path';
import { OpusDecoder, OpusEncoder } from '@parloir/native';
import { JitterBuffer } from '../../media/src/jitter-buffer.ts';
import { LBRR_BITRATE_BPS, LBRR_MIN_EXPECTED_LOSS_PCT } from '../../media/src/adaptation.ts';
import { Unwrapper } from '../../media/src/rtp.ts';
import { parseTrace, type TraceRow } from '../../media/src/trace.ts';
import {
  CHROMIUM,
  netEqAvailable,
  runNetEq,
  type NetEqResult,
  type SendLateness,
} from './jitter-neteq.ts';

const RATE = 48_000;
const FRAME = 960; // 20 ms
const TICK_MS = 10;
const PESQ = resolve(import.meta.dirname, '../../../../shared/tools/pesq/pesq-wb');

/** Sentences and voices: French and English, two voices each, varied speed and pitch. */
const SCRIPT: { voice: string; speed: number; pitch: number; text: string }[] = [
  { voice: 'en-us', speed: 160, pitch: 50, text: 'The quick brown fox jumps over the lazy dog.' },
  {
    voice: 'fr-fr',
    speed: 150,
    pitch: 45,
    text: 'Bonjour, je vous appelle pour la réunion de demain matin.',
  },
  {
    voice: 'en-gb+f3',
    speed: 170,
    pitch: 60,
    text: 'Could you please send me the report before Friday afternoon?',
  },
  {
    voice: 'fr-fr+f2',
    speed: 165,
    pitch: 65,
    text: 'Il fait beau aujourd’hui, nous irons nous promener au bord de la rivière.',
  },
  {
    voice: 'en-us+m3',
    speed: 140,
    pitch: 35,
    text: 'Seven hundred and forty two people attended the concert last night.',
  },
  {
    voice: 'fr-fr',
    speed: 175,
    pitch: 55,
    text: 'Le train de dix-sept heures quarante part du quai numéro trois.',
  },
  {
    voice: 'en-gb',
    speed: 150,
    pitch: 45,
    text: 'She sells sea shells by the sea shore, and the shells she sells are surely seashells.',
  },
  {
    voice: 'fr-fr+f4',
    speed: 145,
    pitch: 70,
    text: 'Pourriez-vous répéter la dernière phrase, la connexion était mauvaise ?',
  },
  {
    voice: 'en-us+f2',
    speed: 180,
    pitch: 55,
    text: 'Network jitter makes packets arrive late, so the receiver keeps a small buffer.',
  },
  {
    voice: 'fr-fr+m2',
    speed: 155,
    pitch: 40,
    text: 'Chaque paquet porte vingt millisecondes de parole, codées avec Opus.',
  },
];

/** Mono 16-bit PCM WAV. */
function wav(pcm: Int16Array, rate = RATE): Buffer {
  const b = Buffer.alloc(44 + pcm.length * 2);
  b.write('RIFF', 0);
  b.writeUInt32LE(36 + pcm.length * 2, 4);
  b.write('WAVEfmt ', 8);
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36);
  b.writeUInt32LE(pcm.length * 2, 40);
  Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength).copy(b, 44);
  return b;
}

/** Reads the data chunk of a mono 16-bit WAV (as sox writes it). */
function readPcm(path: string): Int16Array {
  const b = readFileSync(path);
  let o = 12;
  while (o + 8 <= b.length) {
    const id = b.toString('ascii', o, o + 4);
    const size = b.readUInt32LE(o + 4);
    if (id === 'data') {
      const n = Math.floor(Math.min(size, b.length - o - 8) / 2);
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) out[i] = b.readInt16LE(o + 8 + 2 * i);
      return out;
    }
    o += 8 + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Makes ~`seconds` of speech at 48 kHz with espeak-ng and sox, pauses of 300–900 ms between. */
export function makeSpeech(dir: string, seconds = 60): Int16Array {
  const parts: Int16Array[] = [];
  let total = 0;
  for (let i = 0; total < seconds * RATE; i++) {
    const s = SCRIPT[i % SCRIPT.length];
    if (!s) break;
    const raw = join(dir, `s${i}.wav`);
    const r48 = join(dir, `s${i}-48.wav`);
    execFileSync('espeak-ng', [
      '-v',
      s.voice,
      '-s',
      String(s.speed),
      '-p',
      String(s.pitch),
      '-w',
      raw,
      s.text,
    ]);
    execFileSync('sox', [raw, '-r', String(RATE), '-c', '1', '-b', '16', r48]);
    const pcm = readPcm(r48);
    const gap = new Int16Array(Math.round(RATE * (0.3 + 0.15 * (i % 5))));
    parts.push(pcm, gap);
    total += pcm.length + gap.length;
  }
  const n = Math.floor(Math.min(total, seconds * RATE) / FRAME) * FRAME;
  const out = new Int16Array(n);
  let at = 0;
  for (const p of parts) {
    if (at >= n) break;
    out.set(p.subarray(0, n - at), at);
    at += p.length;
  }
  return out;
}

/** Encoder settings of a run. */
export interface EncodeSettings {
  /** bit/s. */
  bitrateBps: number;
  /** In-band FEC (LBRR) allowed. */
  fec: boolean;
  /** OPUS_SET_PACKET_LOSS_PERC, %. */
  expectedLossPct: number;
}

/** Encodes 20 ms frames as the call's NativeOpusEncoder does (voip, voice, complexity 5). */
export function encode(pcm: Int16Array, s: EncodeSettings): Uint8Array[] {
  const enc = new OpusEncoder({
    sampleRate: RATE,
    channels: 1,
    application: 'voip',
    signal: 'voice',
    complexity: 5,
  });
  enc.bitrate = s.bitrateBps;
  enc.fec = s.fec;
  enc.packetLossPerc = s.expectedLossPct;
  const out: Uint8Array[] = [];
  for (let i = 0; i + FRAME <= pcm.length; i += FRAME) {
    out.push(Uint8Array.from(enc.encode(pcm.subarray(i, i + FRAME))));
  }
  enc.close();
  return out;
}

/** Decodes every packet in order: the codec-only output. */
function decodeAll(packets: readonly Uint8Array[]): Int16Array {
  const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  const out = new Int16Array(packets.length * FRAME);
  packets.forEach((p, i) => out.set(dec.decode(p).subarray(0, FRAME), i * FRAME));
  dec.close();
  return out;
}

/** Result of one pass through the buffer. */
export interface PlayoutResult {
  /** Played PCM from the first played tick. */
  pcm: Int16Array;
  /** Mean (playout − send − min transit), ms. */
  delayMs: number;
  /** PLC + FEC + expansion, % of played audio. */
  concealPct: number;
  /** Lost packets rebuilt from FEC. */
  fecRecovered: number;
  /** Lost packets concealed. */
  plcPackets: number;
  /** Ticks that expanded. */
  expandCount: number;
  /** Ticks that accelerated. */
  accelerateCount: number;
  /** Arrived packets not played (late), %. */
  lateLossPct: number;
}

/** Runs `packets` (index = sequence number) through the buffer on the trace rows' timing. */
export function playThrough(
  packets: readonly Uint8Array[],
  rows: readonly TraceRow[],
): PlayoutResult {
  const dec = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  const jb = new JitterBuffer({
    decoder: dec,
    codec: 'opus',
    tickMs: TICK_MS,
    minDelayMs: 20,
    maxDelayMs: 400,
  });
  const use = rows.filter((r) => r.seq < packets.length);
  const send = new Map<number, number>();
  for (const r of use) if (!send.has(r.seq)) send.set(r.seq, r.sendMs);
  const arrivals = use
    .filter((r): r is TraceRow & { arrivalMs: number } => r.arrivalMs !== undefined)
    .sort((a, b) => a.arrivalMs - b.arrivalMs);
  let minTransit = Infinity;
  for (const r of arrivals) minTransit = Math.min(minTransit, r.arrivalMs - r.sendMs);
  const arrived = new Set(arrivals.map((r) => r.seq));
  const playout = new Map<number, number>();
  const chunks: Int16Array[] = [];
  const unwrap = new Unwrapper(16);
  const seqByExt = new Map<number, number>();
  let next = 0;
  let started = false;
  let lastPlayed = -Infinity;
  const start = arrivals[0]?.arrivalMs ?? 0;
  const end = (arrivals.at(-1)?.arrivalMs ?? 0) + 2000;
  for (let t = start; t <= end; t += TICK_MS) {
    while (next < arrivals.length && (arrivals[next]?.arrivalMs ?? Infinity) <= t) {
      const r = arrivals[next++];
      if (!r) break;
      const payload = packets[r.seq];
      if (!payload) continue;
      seqByExt.set(unwrap.unwrap(r.seq & 0xffff), r.seq);
      jb.insert(
        {
          sequenceNumber: r.seq & 0xffff,
          timestamp: (r.seq * FRAME) >>> 0,
          ssrc: 0x5eed,
          marker: r.seq === 0,
          payload,
        },
        r.arrivalMs,
      );
    }
    const res = jb.pull(t);
    if (res.decision !== 'buffering') started = true;
    if (started) chunks.push(res.pcm);
    for (const p of res.played) {
      const seq = seqByExt.get(p.sequenceNumber);
      if (seq !== undefined && !playout.has(seq)) playout.set(seq, p.playoutMs);
      lastPlayed = t;
    }
    if (next >= arrivals.length && jb.stats().bufferedPackets === 0 && t > lastPlayed + 200) break;
  }
  const st = jb.stats();
  dec.close();
  let sum = 0;
  let n = 0;
  for (const seq of arrived) {
    const p = playout.get(seq);
    if (p === undefined) continue;
    sum += p - (send.get(seq) ?? 0) - minTransit;
    n++;
  }
  const pcm = new Int16Array(chunks.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    pcm.set(c, at);
    at += c.length;
  }
  return {
    pcm,
    delayMs: n > 0 ? sum / n : 0,
    concealPct: st.playedMs > 0 ? (100 * st.concealedMs) / st.playedMs : 0,
    fecRecovered: st.fecRecovered,
    plcPackets: st.plcPackets,
    expandCount: st.expandCount,
    accelerateCount: st.accelerateCount,
    lateLossPct: arrived.size > 0 ? (100 * (arrived.size - n)) / arrived.size : 0,
  };
}

/** PESQ-WB of `deg` against `ref` with the measurement tool, or null when it is absent/fails. */
function pesq(dir: string, ref: Int16Array, deg: Int16Array, tag: string): number | null {
  if (!existsSync(PESQ)) return null;
  const rp = join(dir, `ref-${tag}.wav`);
  const dp = join(dir, `deg-${tag}.wav`);
  writeFileSync(rp, wav(ref));
  writeFileSync(dp, wav(deg));
  const r = spawnSync('python3', [PESQ, rp, dp, '--json'], { encoding: 'utf8' });
  rmSync(rp, { force: true });
  rmSync(dp, { force: true });
  if (r.status !== 0) {
    console.error(`bench:jitter: pesq-wb failed on ${tag}: ${r.stderr.trim()}`);
    return null;
  }
  return (JSON.parse(r.stdout) as { pesqWb: number }).pesqWb;
}

const r2 = (v: number) => Math.round(v * 100) / 100;
/** The call's encoder as it starts (engine DEFAULT_SETTINGS). */
const CALL: EncodeSettings = { bitrateBps: 32_000, fec: true, expectedLossPct: 0 };
/** The call's encoder once the adaptation policy has seen loss. */
const PROTECTED: EncodeSettings = {
  bitrateBps: LBRR_BITRATE_BPS,
  fec: true,
  expectedLossPct: LBRR_MIN_EXPECTED_LOSS_PCT,
};

/** Options of {@link runQuality}. */
export interface QualityOptions {
  /** One JSON object per line instead of the table. */
  json: boolean;
  /** Measure Chromium's NetEQ in the same run (jitter-neteq.ts). */
  neteq: boolean;
  /** Traces played at once through NetEQ. */
  neteqParallel: number;
  /** Seconds of speech per trace, both sides (the same packets). */
  seconds: number;
}

const mean = (xs: readonly number[]) =>
  xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN;

/** `--quality`: one result per trace file. Returns false when a trace could not be read. */
export async function runQuality(
  files: readonly string[],
  options: QualityOptions,
): Promise<boolean> {
  const { json } = options;
  const dir = mkdtempSync(join(tmpdir(), 'parloir-quality-'));
  let ok = true;
  try {
    if (!existsSync(PESQ)) {
      console.error(
        `bench:jitter: ${PESQ} (a measurement tool, not part of Parloir) is absent: PESQ-WB skipped, delay and concealment only`,
      );
    }
    const speech = makeSpeech(dir, options.seconds);
    const packets = encode(speech, CALL);
    // What the call sends once the policy has seen loss (adaptation.ts): FEC, 6 %, 40 kbit/s.
    const protectedPackets = encode(speech, PROTECTED);
    const codecOnly = pesq(dir, speech, decodeAll(packets), 'codec');
    const traces: { name: string; rows: TraceRow[]; n: number }[] = [];
    for (const file of files) {
      const parsed = parseTrace(readFileSync(file, 'utf8'));
      if (!parsed.ok) {
        console.error(`bench:jitter: ${file}: ${parsed.error.code}: ${parsed.error.message}`);
        ok = false;
        continue;
      }
      const n = Math.min(packets.length, 1 + Math.max(...parsed.value.map((r) => r.seq)));
      traces.push({ name: basename(file, '.csv'), rows: parsed.value, n });
    }
    let neteqReason: string | null = null;
    let neteq: Map<string, NetEqResult> | undefined;
    let lateness: SendLateness | undefined;
    if (!options.neteq) neteqReason = 'skipped (--no-neteq)';
    else if (!netEqAvailable()) neteqReason = `${CHROMIUM} is absent`;
    else {
      const run = await runNetEq(
        traces.map((t) => ({
          name: t.name,
          packets: packets.slice(0, t.n),
          rows: t.rows,
          reference: speech.subarray(0, t.n * FRAME),
        })),
        { parallel: options.neteqParallel },
      );
      neteq = new Map(traces.map((t, i) => [t.name, run.results[i] as NetEqResult]));
      lateness = run.lateness;
    }
    if (!json) {
      console.log(
        `speech ${(speech.length / RATE).toFixed(1)} s, ${packets.length} packets, Opus 32 kbit/s 20 ms FEC on, codec-only PESQ-WB ${codecOnly ?? 'n/a'}` +
          `; the same packets through Parloir (simulated time) and Chromium's NetEQ (real time, ${neteq ? `${options.neteqParallel} traces at once` : neteqReason})`,
      );
    }
    const sum = {
      parloir: [] as number[],
      neteq: [] as number[],
      dP: [] as number[],
      dN: [] as number[],
    };
    let atLeastNeteq = 0;
    for (const t of traces) {
      const { name, rows, n } = t;
      const ref = speech.subarray(0, n * FRAME);
      const res = playThrough(packets.slice(0, n), rows);
      const score = pesq(dir, ref, res.pcm, name);
      const lossy = rows.some((r) => r.seq < n && r.arrivalMs === undefined);
      const prot = lossy ? playThrough(protectedPackets.slice(0, n), rows) : undefined;
      const protScore = prot ? pesq(dir, ref, prot.pcm, `${name}-p`) : null;
      const ne = neteq?.get(name);
      const neScore = ne && ne.alignAt >= 0 ? pesq(dir, ref, ne.pcm, `${name}-neteq`) : null;
      if (score !== null) sum.parloir.push(score);
      if (neScore !== null) sum.neteq.push(neScore);
      sum.dP.push(res.delayMs);
      if (ne && Number.isFinite(ne.delayMs)) sum.dN.push(ne.delayMs);
      if (score !== null && neScore !== null && score >= neScore - 0.05) atLeastNeteq++;
      const row = {
        trace: name,
        pesqParloir: score,
        pesqNeteq: neScore,
        pesqCodecOnly: codecOnly,
        delayParloirMs: r2(res.delayMs),
        delayNeteqMs: ne ? r2(ne.delayMs) : null,
        delayNeteqRawMs: ne ? r2(ne.delayRawMs) : null,
        concealParloirPct: r2(res.concealPct),
        concealNeteqPct: ne ? r2(ne.concealPct) : null,
        lateLossPct: r2(res.lateLossPct),
        fecRecovered: res.fecRecovered,
        plcPackets: res.plcPackets,
        expandTicks: res.expandCount,
        accelerateTicks: res.accelerateCount,
        pesqParloirProtected: protScore,
        neteqAlignScore: ne ? r2(ne.alignScore) : null,
        neteqAudioClockRatio: ne ? Math.round(ne.audioClockRatio * 1000) / 1000 : null,
        neteqSendLateP99Ms: ne ? r2(ne.sendLate.p99Ms) : null,
        neteqReason,
      };
      if (json) console.log(JSON.stringify(row));
      else {
        console.log(
          `${name.padEnd(22)} PESQ ${String(score ?? 'n/a').padStart(5)} NetEQ ${String(neScore ?? 'n/a').padStart(5)} (ceiling ${codecOnly ?? 'n/a'}` +
            `${lossy ? `, protected ${protScore ?? 'n/a'}` : ''})` +
            `  delay ${row.delayParloirMs.toFixed(1).padStart(6)} / ${(row.delayNeteqMs ?? NaN).toFixed(1).padStart(6)} ms` +
            `  conceal ${row.concealParloirPct.toFixed(1).padStart(5)}% / ${(row.concealNeteqPct ?? NaN).toFixed(1).padStart(5)}%` +
            `  late ${row.lateLossPct.toFixed(2)}%  fec ${res.fecRecovered} plc ${res.plcPackets} expand ${res.expandCount} accel ${res.accelerateCount}`,
        );
      }
    }
    const summary = {
      summary: true,
      traces: traces.length,
      speechSeconds: r2(speech.length / RATE),
      meanPesqParloir: sum.parloir.length > 0 ? Math.round(mean(sum.parloir) * 1000) / 1000 : null,
      meanPesqNeteq: sum.neteq.length > 0 ? Math.round(mean(sum.neteq) * 1000) / 1000 : null,
      pesqCodecOnly: codecOnly,
      meanDelayParloirMs: r2(mean(sum.dP)),
      meanDelayNeteqMs: sum.dN.length > 0 ? r2(mean(sum.dN)) : null,
      delayRatio: sum.dN.length > 0 ? r2(mean(sum.dP) / mean(sum.dN)) : null,
      tracesParloirAtLeastNeteq: neteq ? atLeastNeteq : null,
      neteqSendLateMeanMs: lateness ? r2(lateness.meanMs) : null,
      neteqSendLateP99Ms: lateness ? r2(lateness.p99Ms) : null,
      neteqReason,
    };
    if (json) console.log(JSON.stringify(summary));
    else {
      console.log(
        `\nmean PESQ-WB Parloir ${summary.meanPesqParloir ?? 'n/a'}, NetEQ ${summary.meanPesqNeteq ?? 'n/a'} (ceiling ${codecOnly ?? 'n/a'}) over ${traces.length} traces;` +
          ` mean delay Parloir ${summary.meanDelayParloirMs} ms, NetEQ ${summary.meanDelayNeteqMs ?? 'n/a'} ms (ratio ${summary.delayRatio ?? 'n/a'});` +
          ` Parloir ≥ NetEQ − 0.05 on ${summary.tracesParloirAtLeastNeteq ?? 'n/a'}/${traces.length}` +
          (lateness
            ? `; NetEQ sender late by ${summary.neteqSendLateMeanMs} ms mean, ${summary.neteqSendLateP99Ms} ms p99`
            : `; NetEQ: ${neteqReason}`),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return ok;
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Trace rows for `n` packets over a constant 20 ms path with loss: Bernoulli, or Gilbert (bad
 * state always loses, mean burst 2.5 packets) with the same mean loss.
 */
export function lossRows(n: number, lossPct: number, bursty: boolean, seed: number): TraceRow[] {
  const rand = rng(seed);
  const p = lossPct / 100;
  const pBg = 0.4;
  const pGb = (p * pBg) / (1 - p);
  let bad = false;
  const rows: TraceRow[] = [];
  for (let seq = 0; seq < n; seq++) {
    let lost: boolean;
    if (bursty) {
      bad = bad ? rand() >= pBg : rand() < pGb;
      lost = bad;
    } else lost = rand() < p;
    const sendMs = seq * 20;
    // The first packet always arrives (it starts the stream).
    rows.push(
      lost && seq > 0
        ? { seq, sendMs, arrivalMs: undefined }
        : { seq, sendMs, arrivalMs: sendMs + 20 },
    );
  }
  return rows;
}

/**
 * Share (%) of active frames whose LBRR really differs from PLC: from identical decoder states,
 * `decodeFec(packet k+1)` vs `conceal(960)`.
 */
export function lbrrCodedPct(speech: Int16Array, packets: readonly Uint8Array[]): number {
  const a = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  const b = new OpusDecoder({ sampleRate: RATE, channels: 1 });
  let probes = 0;
  let differ = 0;
  for (let k = 1; k + 1 < packets.length && probes < 400; k += 4) {
    let e = 0;
    for (let i = k * FRAME; i < (k + 1) * FRAME; i++) e += (speech[i] ?? 0) ** 2;
    if (Math.sqrt(e / FRAME) < 300) continue; // pauses code no LBRR: probe speech only
    a.reset();
    b.reset();
    const prev = packets[k - 1];
    const nextP = packets[k + 1];
    if (!prev || !nextP) continue;
    a.decode(prev);
    b.decode(prev);
    const fec = a.decodeFec(nextP, FRAME);
    const plc = b.conceal(FRAME);
    probes++;
    if (fec.length !== plc.length || fec.some((v, i) => v !== plc[i])) differ++;
  }
  a.close();
  b.close();
  return probes > 0 ? (100 * differ) / probes : 0;
}

/** `--loss-protection`: the LBRR probe, then the table. */
export function runLossProtection(json: boolean): void {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-lossprot-'));
  try {
    if (!existsSync(PESQ)) {
      console.error(
        `bench:jitter: ${PESQ} is absent: PESQ-WB skipped, bitrate and FEC counts only`,
      );
    }
    const speech = makeSpeech(dir);
    const secs = speech.length / RATE;
    for (const plp of [0, 1, 2, 3, 4, 5, 6, 8, 10]) {
      const pk = encode(speech, { bitrateBps: 32_000, fec: true, expectedLossPct: plp });
      const coded = lbrrCodedPct(speech, pk);
      const kbps = (pk.reduce((s, p) => s + p.length, 0) * 8) / secs / 1000;
      const row = { probe: 'lbrr', expectedLossPct: plp, lbrrCodedPct: r2(coded), kbps: r2(kbps) };
      if (json) console.log(JSON.stringify(row));
      else
        console.log(
          `expected loss ${String(plp).padStart(2)} %: LBRR differs from PLC on ${coded.toFixed(0).padStart(3)} % of active frames, ${kbps.toFixed(1)} kbit/s`,
        );
    }
    const variants: { name: string; settings: (loss: number) => EncodeSettings }[] = [
      { name: 'none', settings: () => ({ bitrateBps: 32_000, fec: false, expectedLossPct: 0 }) },
      {
        name: 'lbrr@loss',
        settings: (l) => ({ bitrateBps: 32_000, fec: true, expectedLossPct: l }),
      },
      {
        name: `lbrr@policy`,
        settings: (l) => ({
          bitrateBps: 32_000,
          fec: true,
          expectedLossPct: Math.max(LBRR_MIN_EXPECTED_LOSS_PCT, l),
        }),
      },
      {
        name: `lbrr@policy+br`,
        settings: (l) => ({
          bitrateBps: LBRR_BITRATE_BPS,
          fec: true,
          expectedLossPct: Math.max(LBRR_MIN_EXPECTED_LOSS_PCT, l),
        }),
      },
    ];
    const encoded = new Map<string, Uint8Array[]>();
    for (const bursty of [false, true]) {
      for (const loss of [1, 3, 5, 10]) {
        for (const v of variants) {
          const s = v.settings(loss);
          const key = `${s.bitrateBps}/${s.fec}/${s.expectedLossPct}`;
          let pk = encoded.get(key);
          if (!pk) {
            pk = encode(speech, s);
            encoded.set(key, pk);
          }
          const rows = lossRows(pk.length, loss, bursty, 1000 + loss);
          const res = playThrough(pk, rows);
          const score = pesq(dir, speech, res.pcm, `${v.name}-${loss}-${bursty}`);
          const row = {
            pattern: bursty ? 'bursty' : 'random',
            lossPct: loss,
            measuredLossPct: r2(
              (100 * rows.filter((r) => r.arrivalMs === undefined).length) / rows.length,
            ),
            protection: v.name,
            expectedLossPct: s.expectedLossPct,
            pesq: score,
            kbps: r2((pk.reduce((a, p) => a + p.length, 0) * 8) / secs / 1000),
            fecRecovered: res.fecRecovered,
            plcPackets: res.plcPackets,
          };
          if (json) console.log(JSON.stringify(row));
          else {
            console.log(
              `${row.pattern.padEnd(7)} ${String(loss).padStart(2)} % (${row.measuredLossPct.toFixed(1)})  ${v.name.padEnd(12)} plp ${String(s.expectedLossPct).padStart(2)}` +
                `  PESQ ${String(score ?? 'n/a').padStart(5)}  ${row.kbps.toFixed(1)} kbit/s  fec ${res.fecRecovered} plc ${res.plcPackets}`,
            );
          }
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Command line: `--quality [--json] [--no-neteq] [--neteq-parallel N] [--seconds S]
 * [--trace FILE.csv …]` or `--loss-protection [--json]`.
 */
export async function main(): Promise<void> {
  let args;
  try {
    args = parseArgs({
      options: {
        trace: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        quality: { type: 'boolean', default: false },
        'loss-protection': { type: 'boolean', default: false },
        'no-neteq': { type: 'boolean', default: false },
        'neteq-parallel': { type: 'string', default: '8' },
        seconds: { type: 'string', default: '60' },
      },
      allowPositionals: true,
    });
  } catch (err) {
    console.error(`bench:jitter: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(2);
  }
  const { values, positionals } = args;
  if (values['loss-protection']) {
    runLossProtection(values.json);
    process.exit(0);
  }
  const shipped = resolve(import.meta.dirname, '../../media/traces');
  const files = [...(values.trace ?? []), ...positionals];
  if (files.length === 0)
    for (const name of readdirSync(shipped).sort())
      if (name.endsWith('.csv')) files.push(join(shipped, name));
  const neteqParallel = Number(values['neteq-parallel']);
  const seconds = Number(values.seconds);
  if (!(Number.isInteger(neteqParallel) && neteqParallel >= 1 && seconds >= 5 && seconds <= 60)) {
    console.error('bench:jitter: --neteq-parallel must be an integer ≥ 1, --seconds in [5, 60]');
    process.exit(2);
  }
  const ok = await runQuality(files, {
    json: values.json,
    neteq: !values['no-neteq'],
    neteqParallel,
    seconds,
  });
  process.exit(ok ? 0 : 2);
}

if (import.meta.main) await main();
