/**
 * bench:aec — the native audio processing (webrtc and speexdsp, same run) over 12 seeded rooms
 * of `@parloir/media`'s Room, with speech spoken by espeak-ng at run time:
 * - ERLE during far-end-only speech after the first second, and the time the 0.5 s windowed
 *   ERLE first reaches 20 dB (convergence), AEC alone;
 * - double talk: envelope correlation (10 ms RMS, Pearson) of the output with the clean near
 *   speech after the first second; near-end only: the same with a silent far end;
 * - noise suppression (NS alone) at 0 and 10 dB input SNR with white, pink and babble noise:
 *   SNR = (active power − noise power) / noise power, noise power from the frames where the
 *   clean speech is silent, in and out; the improvement is out − in;
 * - CPU: process CPU time (user + system) per 10 ms frame with AEC + NS + AGC on, the least of
 *   3 runs (wall time is also reported: it counts waiting for a core on a shared machine), and
 *   of each webrtc component alone.
 * webrtc runs at the calls' default level ('low'), at 'high', without its extended filter
 * ('webrtc-noext': ~12 % less CPU, but it cancels almost no echo in these rooms), and as a live call runs it
 * ('webrtc-live': no delay hint); the targets are judged at the default.
 * `--json` prints one JSON object; otherwise a table. Run under flock /tmp/parloir-bench.lock.
 * @module
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Prng, Room } from '@parloir/media';
import { DEFAULT_EXTENDED_FILTER, type ApmEngine } from '@parloir/native';
import { readWav } from '../src/audio/index.ts';
import { processSignals } from '../src/commands/audio-process.ts';

const RATE = 48000;
const FRAME = 480;
const ROOMS = 12;
const json = process.argv.includes('--json');
const dir = mkdtempSync(join(tmpdir(), 'parloir-bench-aec-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** espeak-ng speaks `text` with `voice`, repeated with 0.3 s gaps to fill `seconds`, 48 kHz. */
function speech(
  name: string,
  voice: string,
  text: string,
  seconds: number,
  rms: number,
): Float64Array {
  const raw = join(dir, `${name}-raw.wav`);
  const out = join(dir, `${name}.wav`);
  execFileSync('espeak-ng', ['-v', voice, '-s', '160', '-w', raw, text]);
  execFileSync('sox', [
    '-V1',
    raw,
    '-r',
    String(RATE),
    '-c',
    '1',
    '-b',
    '16',
    '-e',
    'signed-integer',
    out,
    'pad',
    '0',
    '0.3',
    'repeat',
    '30',
    'trim',
    '0',
    String(seconds),
  ]);
  const s = readWav(out).samples;
  const x = Float64Array.from(s);
  const r = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
  return x.map((v) => (v * rms) / r);
}

function toInt16(x: ArrayLike<number>): Int16Array {
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(x[i]!)));
  return out;
}

function framePowers(x: ArrayLike<number>): Float64Array {
  const n = Math.floor(x.length / FRAME);
  const p = new Float64Array(n);
  for (let f = 0; f < n; f++) {
    let s = 0;
    for (let i = f * FRAME; i < (f + 1) * FRAME; i++) s += x[i]! * x[i]!;
    p[f] = s / FRAME;
  }
  return p;
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

/**
 * Envelope correlation of `out` with `clean` from frame `from` on (10 ms RMS), at the best
 * output lag of 0..3 frames: both engines add about one frame of latency (webrtc's band
 * splitting, speex's frame), which is not a change of the speech.
 */
function envCorr(clean: ArrayLike<number>, out: ArrayLike<number>, from = 100): number {
  const a = Array.from(framePowers(clean).subarray(from), Math.sqrt);
  const b = Array.from(framePowers(out).subarray(from), Math.sqrt);
  let best = -1;
  for (let lag = 0; lag <= 3; lag++)
    best = Math.max(best, pearson(a.slice(0, a.length - lag), b.slice(lag)));
  return best;
}

const median = (v: number[]): number => {
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const FAR_TEXT =
  'Please send the quarterly report before Friday, and remember that the meeting moved to the small room upstairs.';
const NEAR_TEXT =
  'I think we should wait for the numbers from the second team before we decide anything.';
const SECONDS = 8;
const farBase = speech('far', 'en-us', FAR_TEXT, SECONDS, 5000);
const nearBase = speech('near', 'en+f3', NEAR_TEXT, SECONDS, 2500);
const babbleParts = [
  speech(
    'b1',
    'en+m2',
    'The weather was fine all week but nobody went outside to enjoy it.',
    SECONDS,
    1,
  ),
  speech(
    'b2',
    'en+f2',
    'Seven trains left the station early this morning without any passengers.',
    SECONDS,
    1,
  ),
  speech(
    'b3',
    'en+m4',
    'She painted the fence green and then changed her mind about the colour.',
    SECONDS,
    1,
  ),
  speech(
    'b4',
    'en+f4',
    'Our neighbours keep bees and sell the honey at the market on Sundays.',
    SECONDS,
    1,
  ),
];

/** The calls' default for webrtc's extended filter ('webrtc-noext' runs without it). */
const EXTENDED = DEFAULT_EXTENDED_FILTER;
/**
 * AEC configurations: webrtc at the calls' default level ('low' residual echo suppression, the
 * one that meets every target), at 'high', and as a live call runs it ('live': no delay hint,
 * the room's delay left to webrtc's delay-agnostic mode, since the call's reference is placed by
 * device time and only the room is unknown); speexdsp with the delay found (GCC-PHAT).
 */
type AecConfig = 'webrtc' | 'webrtc-noext' | 'webrtc-high' | 'webrtc-live' | 'speex';
const CONFIGS: {
  name: AecConfig;
  engine: ApmEngine;
  aecLevel: 'low' | 'high';
  live?: boolean;
  extendedFilter?: boolean;
}[] = [
  { name: 'webrtc', engine: 'webrtc', aecLevel: 'low', extendedFilter: EXTENDED },
  { name: 'webrtc-noext', engine: 'webrtc', aecLevel: 'low', extendedFilter: false },
  { name: 'webrtc-high', engine: 'webrtc', aecLevel: 'high' },
  { name: 'webrtc-live', engine: 'webrtc', aecLevel: 'low', live: true, extendedFilter: EXTENDED },
  { name: 'speex', engine: 'speex', aecLevel: 'low' },
];

interface AecRow {
  seed: number;
  rt60: number;
  delayMs: number;
  engine: AecConfig;
  foundDelayMs: number;
  erleDb: number;
  convergenceS: number | null;
  doubleTalkCorr: number;
  nearOnlyCorr: number;
}

function erleAfter(
  echo: ArrayLike<number>,
  out: ArrayLike<number>,
  fromFrame: number,
  toFrame?: number,
): number {
  const pe = framePowers(echo);
  const po = framePowers(out);
  let se = 0;
  let so = 0;
  for (let f = fromFrame; f < (toFrame ?? pe.length); f++) {
    if (pe[f]! < 32768 ** 2 * 1e-6) continue; // echo below -60 dBFS: a pause
    se += pe[f]!;
    so += po[f]!;
  }
  return 10 * Math.log10(se / Math.max(so, 1e-3));
}

const rows: AecRow[] = [];
for (let seed = 1; seed <= ROOMS; seed++) {
  const room = new Room(seed, { noiseDbfs: -70 });
  const farOnly = room.capture(farBase);
  const dt = room.capture(farBase, nearBase);
  const nearOnly = room.capture(new Float64Array(farBase.length), nearBase);
  const far16 = toInt16(farBase);
  for (const { name, engine, aecLevel, live, extendedFilter } of CONFIGS) {
    const opts = { engine, aec: true, ns: false, agc: false, aecLevel, extendedFilter };
    const a = processSignals(far16, farOnly.capture, RATE, live ? { ...opts, delayMs: 0 } : opts);
    const erle = erleAfter(farOnly.echo, a.out, 100);
    let conv: number | null = null;
    for (let f = 0; f + 50 <= a.frames; f += 10) {
      if (erleAfter(farOnly.echo, a.out, f, f + 50) >= 20) {
        conv = (f + 50) / 100;
        break;
      }
    }
    const d = processSignals(far16, dt.capture, RATE, { ...opts, delayMs: a.delayMs });
    const n = processSignals(new Int16Array(far16.length), nearOnly.capture, RATE, {
      ...opts,
      delayMs: a.delayMs,
    });
    rows.push({
      seed,
      rt60: room.rt60,
      delayMs: room.delayMs,
      engine: name,
      foundDelayMs: a.delayMs,
      erleDb: erle,
      convergenceS: conv,
      doubleTalkCorr: envCorr(nearBase, d.out),
      nearOnlyCorr: envCorr(nearBase, n.out),
    });
  }
}

/** White, pink (Voss-McCartney, 16 rows) or babble noise of `n` samples, unit RMS. */
function noise(kind: 'white' | 'pink' | 'babble', n: number, seed: number): Float64Array {
  const p = new Prng(seed);
  const x = new Float64Array(n);
  if (kind === 'white') for (let i = 0; i < n; i++) x[i] = p.next() * 2 - 1;
  else if (kind === 'pink') {
    const rowsV = new Float64Array(16);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const k = Math.min(15, Math.clz32(0) - 1 - Math.clz32(((i + 1) & -(i + 1)) >>> 0));
      sum -= rowsV[k]!;
      const v = p.next() * 2 - 1;
      rowsV[k] = v;
      sum += v;
      x[i] = sum + (p.next() * 2 - 1);
    }
  } else {
    for (const [j, b] of babbleParts.entries()) {
      const shift = Math.floor(((j + 1) * b.length) / 5);
      for (let i = 0; i < n; i++) x[i] = x[i]! + b[(i + shift) % b.length]!;
    }
  }
  const r = Math.sqrt(x.reduce((a, v) => a + v * v, 0) / n);
  return x.map((v) => v / r);
}

/** SNR from frames: speech-absent frames (clean below -50 dBFS) give the noise power. */
function snrDb(clean: Float64Array, x: ArrayLike<number>): number {
  const pc = framePowers(clean);
  const px = framePowers(x);
  let noiseSum = 0;
  let noiseN = 0;
  let actSum = 0;
  let actN = 0;
  for (let f = 100; f < pc.length; f++) {
    if (pc[f]! < 32768 ** 2 * 1e-5) {
      noiseSum += px[f]!;
      noiseN++;
    } else if (pc[f]! > 32768 ** 2 * 1e-4) {
      actSum += px[f]!;
      actN++;
    }
  }
  const pn = noiseSum / noiseN;
  const pa = actSum / actN;
  return 10 * Math.log10(Math.max(pa - pn, 1e-9) / pn);
}

interface NsRow {
  engine: ApmEngine;
  noise: string;
  inputSnrDb: number;
  measuredInDb: number;
  improvementDb: number;
}
const nsRows: NsRow[] = [];
const nearRms = Math.sqrt(nearBase.reduce((a, v) => a + v * v, 0) / nearBase.length);
for (const kind of ['white', 'pink', 'babble'] as const) {
  for (const snr of [0, 10]) {
    const nz = noise(kind, nearBase.length, 99);
    const g = nearRms / 10 ** (snr / 20);
    const noisy = toInt16(nearBase.map((v, i) => v + g * nz[i]!));
    const silent = new Int16Array(noisy.length);
    for (const engine of ['webrtc', 'speex'] as ApmEngine[]) {
      const r = processSignals(silent, noisy, RATE, { engine, aec: false, ns: true, agc: false });
      const sin = snrDb(nearBase, noisy);
      nsRows.push({
        engine,
        noise: kind,
        inputSnrDb: snr,
        measuredInDb: sin,
        improvementDb: snrDb(nearBase, r.out) - sin,
      });
    }
  }
}

const cpu: Record<string, number> = {};
const wall: Record<string, number> = {};
/** CPU per frame of each webrtc component alone (what each costs), least of 3 runs, ms. */
const cpuParts: Record<string, number> = {};
{
  const room = new Room(1);
  const { capture } = room.capture(farBase, nearBase);
  const least = (o: {
    engine: ApmEngine;
    aec: boolean;
    ns: boolean;
    agc: boolean;
    extendedFilter?: boolean;
  }) => {
    const runs = [0, 1, 2].map(() =>
      processSignals(toInt16(farBase), capture, RATE, {
        extendedFilter: EXTENDED,
        ...o,
        aecLevel: 'low',
      }),
    );
    return {
      cpu: Math.min(...runs.map((r) => r.cpuMsPerFrame)),
      wall: Math.min(...runs.map((r) => r.msPerFrame)),
    };
  };
  for (const engine of ['webrtc', 'speex'] as ApmEngine[]) {
    const r = least({ engine, aec: true, ns: true, agc: true });
    cpu[engine] = r.cpu;
    wall[engine] = r.wall;
  }
  cpuParts.allNoExtendedFilter = least({
    engine: 'webrtc',
    aec: true,
    ns: true,
    agc: true,
    extendedFilter: false,
  }).cpu;
  for (const part of ['aec', 'ns', 'agc'] as const) {
    cpuParts[part] = least({
      engine: 'webrtc',
      aec: part === 'aec',
      ns: part === 'ns',
      agc: part === 'agc',
    }).cpu;
  }
}

function summary(config: AecConfig) {
  const engine: ApmEngine = config === 'speex' ? 'speex' : 'webrtc';
  const live = rows.filter((x) => x.engine === 'webrtc-live');
  const noext = rows.filter((x) => x.engine === 'webrtc-noext');
  const r = rows.filter((x) => x.engine === config);
  const ns = nsRows.filter((x) => x.engine === engine);
  const conv = r.map((x) => x.convergenceS ?? Infinity);
  return {
    medianErleDb: median(r.map((x) => x.erleDb)),
    medianErleLiveDb: config === 'speex' ? NaN : median(live.map((x) => x.erleDb)),
    worstErleLiveDb: config === 'speex' ? NaN : Math.min(...live.map((x) => x.erleDb)),
    medianErleNoExtendedFilterDb: config === 'speex' ? NaN : median(noext.map((x) => x.erleDb)),
    worstErleDb: Math.min(...r.map((x) => x.erleDb)),
    medianConvergenceS: median(conv),
    worstConvergenceS: Math.max(...conv),
    medianDoubleTalkCorr: median(r.map((x) => x.doubleTalkCorr)),
    worstDoubleTalkCorr: Math.min(...r.map((x) => x.doubleTalkCorr)),
    medianNearOnlyCorr: median(r.map((x) => x.nearOnlyCorr)),
    worstNearOnlyCorr: Math.min(...r.map((x) => x.nearOnlyCorr)),
    nsImprovementAt10DbMin: Math.min(
      ...ns.filter((x) => x.inputSnrDb === 10).map((x) => x.improvementDb),
    ),
    nsImprovementAt0DbMin: Math.min(
      ...ns.filter((x) => x.inputSnrDb === 0).map((x) => x.improvementDb),
    ),
    wallMsPerFrameAecNsAgc: wall[engine]!,
    msPerFrameAecNsAgc: cpu[engine]!,
    corePercentAecNsAgc: (cpu[engine]! / 10) * 100,
  };
}
const w = summary('webrtc');
const wh = summary('webrtc-high');
const s = summary('speex');
const ratio = Object.fromEntries(
  Object.keys(w).map((k) => [
    k,
    (w as Record<string, number>)[k]! / (s as Record<string, number>)[k]!,
  ]),
);
const targets = {
  medianErleAtLeast25: w.medianErleDb >= 25,
  worstErleAtLeast15: w.worstErleDb >= 15,
  convergenceAtMost1s: w.worstConvergenceS <= 1,
  doubleTalkCorrAtLeast08: w.medianDoubleTalkCorr >= 0.8,
  nearOnlyCorrAtLeast095: w.worstNearOnlyCorr >= 0.95,
  nsAtLeast10DbAt10DbSnr: w.nsImprovementAt10DbMin >= 10,
  cpuAtMost1PercentCore: w.corePercentAecNsAgc <= 1,
};
const result = {
  rooms: rows,
  ns: nsRows,
  webrtc: w,
  webrtcHigh: wh,
  speex: s,
  cpuMsPerFrameWebrtcParts: cpuParts,
  ratioWebrtcOverSpeex: ratio,
  targets,
};
if (json) {
  console.log(JSON.stringify(result, (_k, v: unknown) => (v === Infinity ? null : v)));
} else {
  console.log('seed rt60  delay found engine      ERLE  conv  DTcorr nearCorr');
  for (const r of rows) {
    console.log(
      `${String(r.seed).padStart(4)} ${r.rt60.toFixed(2)} ${r.delayMs.toFixed(0).padStart(5)} ${String(r.foundDelayMs).padStart(5)} ${r.engine.padEnd(10)} ${r.erleDb.toFixed(1).padStart(5)} ${r.convergenceS === null ? '  -  ' : r.convergenceS.toFixed(2).padStart(5)} ${r.doubleTalkCorr.toFixed(3)} ${r.nearOnlyCorr.toFixed(3)}`,
    );
  }
  for (const r of nsRows)
    console.log(`NS ${r.engine} ${r.noise} ${r.inputSnrDb} dB: +${r.improvementDb.toFixed(1)} dB`);
  console.log('metric                     webrtc webrtc-high   speex    ratio');
  for (const k of Object.keys(w)) {
    const a = (w as Record<string, number>)[k]!;
    const b = (s as Record<string, number>)[k]!;
    const c = (wh as Record<string, number>)[k]!;
    console.log(
      `${k.padEnd(26)} ${a.toFixed(3).padStart(8)} ${c.toFixed(3).padStart(10)} ${b.toFixed(3).padStart(8)} ${(a / b).toFixed(2).padStart(8)}`,
    );
  }
  console.log('webrtc CPU per component, ms/frame:', JSON.stringify(cpuParts));
  console.log(JSON.stringify(targets));
}
