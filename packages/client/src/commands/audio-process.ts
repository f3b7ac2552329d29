/**
 * `parloir audio process`: runs a far-end WAV and a capture WAV through the native audio
 * processing (echo cancellation, noise suppression, AGC; webrtc or speexdsp) frame by frame, as
 * fast as it can, after finding the bulk delay between them by GCC-PHAT. The same
 * {@link processSignals} serves bench:aec.
 * @module
 */
import { performance } from 'node:perf_hooks';
import { estimateBulkDelay, type BulkDelayEstimate } from '@parloir/media';
import { AudioProcessor, type ApmEngine, type AudioProcessorStats } from '@parloir/native';
import type { ParsedArgs } from '../command.ts';
import { stringOpt } from '../command.ts';
import { AudioError } from '../audio/errors.ts';
import { readWav, writeWav } from '../audio/index.ts';
import { UsageError } from '../errors.ts';

/** What to run. */
export interface ProcessSignalsOptions {
  engine: ApmEngine;
  aec: boolean;
  ns: boolean;
  agc: boolean;
  /** webrtc's residual echo suppression; default 'high'. */
  aecLevel?: 'low' | 'moderate' | 'high';
  /** Bulk delay far → capture, ms; estimated from the signals when left out. */
  delayMs?: number;
  /** webrtc's AEC extended filter; default true. */
  extendedFilter?: boolean;
}

/** What {@link processSignals} returns. */
export interface ProcessSignalsResult {
  /** The processed capture, as long as the capture (a trailing partial frame passes as is). */
  out: Int16Array;
  /** The GCC-PHAT estimate (null delay when it was given or nothing was found). */
  delay: BulkDelayEstimate | null;
  /** Delay used, ms. */
  delayMs: number;
  /** The processor's stats after the last frame. */
  stats: AudioProcessorStats;
  /** 10 ms frames processed. */
  frames: number;
  /** Processing time per frame (wall clock of the synchronous loop), ms. */
  msPerFrame: number;
  /** CPU time (user + system of this process) per frame over the loop, ms. */
  cpuMsPerFrame: number;
}

/** Runs `capture` (with `far` as the echo reference) through an {@link AudioProcessor}. */
export function processSignals(
  far: Int16Array,
  capture: Int16Array,
  sampleRate: number,
  options: ProcessSignalsOptions,
): ProcessSignalsResult {
  const apm = new AudioProcessor({
    engine: options.engine,
    sampleRate,
    aec: options.aec,
    ns: options.ns,
    agc: options.agc,
    ...(options.aecLevel ? { aecLevel: options.aecLevel } : {}),
    ...(options.extendedFilter === undefined ? {} : { extendedFilter: options.extendedFilter }),
  });
  try {
    let delay: BulkDelayEstimate | null = null;
    let delayMs = options.delayMs ?? 0;
    if (options.delayMs === undefined && options.aec) {
      delay = estimateBulkDelay(far, capture, { sampleRate, maxDelayMs: 250 });
      delayMs = Math.round(delay.delayMs ?? 0);
    }
    apm.setStreamDelayMs(delayMs);
    const n = apm.frameSamples;
    const out = capture.slice();
    const farFrame = new Int16Array(n);
    let frames = 0;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (let f = 0; f + n <= capture.length; f += n) {
      farFrame.fill(0);
      if (f < far.length) farFrame.set(far.subarray(f, Math.min(f + n, far.length)));
      apm.processReverse(farFrame);
      apm.process(out.subarray(f, f + n));
      frames++;
    }
    const elapsed = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    return {
      out,
      delay,
      delayMs,
      stats: apm.stats(),
      frames,
      msPerFrame: frames ? elapsed / frames : 0,
      cpuMsPerFrame: frames ? (cpu.user + cpu.system) / 1000 / frames : 0,
    };
  } finally {
    apm.close();
  }
}

function mono(path: string, what: string): { sampleRate: number; samples: Int16Array } {
  const wav = readWav(path);
  if (wav.channels !== 1) {
    throw new AudioError(
      'AUDIO_ERR_FORMAT',
      `${what} ${path} must be mono, it has ${wav.channels} channels`,
    );
  }
  return wav;
}

/** The `process` subcommand. */
export function processCommand(args: ParsedArgs): number {
  const farPath = stringOpt(args, 'far');
  const inPath = stringOpt(args, 'in');
  const outPath = stringOpt(args, 'out');
  for (const [k, v] of [
    ['far', farPath],
    ['in', inPath],
    ['out', outPath],
  ] as const) {
    if (v === undefined || v === '') {
      throw new UsageError(
        'CLI_ERR_MISSING_ARG',
        `parloir audio process: missing required option --${k}`,
      );
    }
  }
  if (args.positionals.length > 1) {
    throw new UsageError(
      'CLI_ERR_BAD_ARGS',
      `parloir audio process: unexpected argument '${args.positionals[1]}'`,
    );
  }
  const engine = stringOpt(args, 'engine') ?? 'webrtc';
  if (engine !== 'webrtc' && engine !== 'speex') {
    throw new UsageError(
      'CLI_ERR_BAD_ARGS',
      `parloir audio process: --engine must be webrtc or speex, got '${engine}'`,
    );
  }
  let aec = args.values.aec === true;
  let ns = args.values.ns === true;
  const agc = args.values.agc === true;
  if (!aec && !ns && !agc) {
    aec = true;
    ns = true;
  }
  const far = mono(farPath!, '--far');
  const cap = mono(inPath!, '--in');
  if (far.sampleRate !== cap.sampleRate) {
    throw new AudioError(
      'AUDIO_ERR_FORMAT',
      `--far is ${far.sampleRate} Hz but --in is ${cap.sampleRate} Hz; both must have the same rate`,
    );
  }
  if (![8000, 16000, 32000, 48000].includes(cap.sampleRate)) {
    throw new AudioError(
      'AUDIO_ERR_FORMAT',
      `sample rate ${cap.sampleRate} Hz: the processing takes 8, 16, 32 or 48 kHz`,
    );
  }
  const r = processSignals(far.samples, cap.samples, cap.sampleRate, { engine, aec, ns, agc });
  writeWav(outPath!, { sampleRate: cap.sampleRate, channels: 1, samples: r.out });
  const report = {
    engine,
    aec,
    ns,
    agc,
    sampleRate: cap.sampleRate,
    seconds: cap.samples.length / cap.sampleRate,
    frames: r.frames,
    delayMs: r.delayMs,
    delayPeakRatio: r.delay ? r.delay.peakRatio : null,
    msPerFrame: r.msPerFrame,
    cpuMsPerFrame: r.cpuMsPerFrame,
    measuredErleDb: finite(r.stats.measuredErleDb),
    libraryErleDb: finite(r.stats.libraryErleDb),
    libraryDelayMs: finite(r.stats.libraryDelayMs),
    streamHasEcho: r.stats.streamHasEcho,
    errors: r.stats.errors,
    out: outPath,
  };
  if (args.values.json === true) {
    console.log(JSON.stringify(report));
  } else {
    const f = (v: number | null, d = 1): string => (v === null ? '-' : v.toFixed(d));
    console.log(
      `${engine} aec=${aec ? 'on' : 'off'} ns=${ns ? 'on' : 'off'} agc=${agc ? 'on' : 'off'}: ` +
        `${r.frames} frames (${report.seconds.toFixed(2)} s) in ${(r.msPerFrame * r.frames).toFixed(0)} ms ` +
        `(${r.msPerFrame.toFixed(3)} ms/frame); delay ${r.delayMs} ms (peak ratio ${f(report.delayPeakRatio)}); ` +
        `ERLE measured ${f(report.measuredErleDb)} dB, library ${f(report.libraryErleDb)} dB; wrote ${outPath}`,
    );
  }
  return 0;
}

function finite(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}
