/**
 * "Does one hear oneself come back?" for the acoustic-echo test: the envelope correlation of
 * one's own speech with what one hears back. 20 ms frames in dB above a −60 dBFS floor (below
 * it nothing is audible, so a residue the canceller left there does not count however well it
 * follows the speech), Pearson over the frames where the far talker is silent (their speech
 * would mask an echo and dominate the envelope), at the best lag of the round trip (0..1 s).
 */
import { RATE } from './heard.ts';

const FRAME = 960; // 20 ms

/** 20 ms frame levels, dB relative to full scale, floored at −60 dBFS. */
export function envelope(x: Int16Array): Float64Array {
  const n = Math.floor(x.length / FRAME);
  const out = new Float64Array(n);
  for (let f = 0; f < n; f++) {
    let s = 0;
    for (let i = f * FRAME; i < (f + 1) * FRAME; i++) s += (x[i] ?? 0) ** 2;
    out[f] = Math.max(-60, 10 * Math.log10(s / FRAME / 32768 ** 2 + 1e-12));
  }
  return out;
}

/**
 * Envelope correlation of `own` (captured from `ownCaptureMs`, Unix ms) with `received` (played
 * from `playbackMs`), over received frames [fromMs, toMs) of device time where `other` (the far
 * talker's capture from `otherCaptureMs`, heard `otherM2eMs` later) is silent; best lag 0..1 s.
 */
export function ownEcho(
  own: Int16Array,
  ownCaptureMs: number,
  received: Int16Array,
  playbackMs: number,
  other: Int16Array,
  otherCaptureMs: number,
  otherM2eMs: number,
  fromMs: number,
  toMs: number,
): { corr: number; lagMs: number; frames: number } {
  const eo = envelope(own);
  const er = envelope(received);
  const ex = envelope(other);
  const frameMs = (FRAME * 1000) / RATE;
  let best = { corr: -1, lagMs: 0, frames: 0 };
  for (let lag = 0; lag <= 1000; lag += frameMs) {
    const xs: number[] = [];
    const ys: number[] = [];
    for (let j = Math.ceil(fromMs / frameMs); j < Math.min(er.length, toMs / frameMs); j++) {
      const at = playbackMs + j * frameMs;
      const q = Math.round((at - lag - ownCaptureMs) / frameMs);
      const k = Math.round((at - otherM2eMs - otherCaptureMs) / frameMs);
      // The far talker silent around then (±60 ms).
      let quiet = true;
      for (let d = -3; d <= 3; d++) if ((ex[k + d] ?? -60) > -50) quiet = false;
      if (q < 0 || q >= eo.length || !quiet) continue;
      xs.push(eo[q]!);
      ys.push(er[j]!);
    }
    const c = pearson(xs, ys);
    if (c > best.corr) best = { corr: c, lagMs: lag, frames: xs.length };
  }
  return best;
}

export function pearson(x: number[], y: number[]): number {
  const n = x.length;
  if (n < 10) return 0;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxx === 0 || syy === 0 ? 0 : sxy / Math.sqrt(sxx * syy);
}
