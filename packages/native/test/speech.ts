/**
 * Test speech made at run time: espeak-ng says a sentence, sox resamples it to 48 kHz mono S16.
 * Nothing is checked in; the tools come from `scripts/setup.sh --test`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Speaks `text` and returns 48 kHz mono samples. */
export function makeSpeech(text: string): Int16Array {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-speech-'));
  try {
    const wav = join(dir, 'speech.wav');
    const raw = join(dir, 'speech.raw');
    execFileSync('espeak-ng', ['-w', wav, '-s', '150', text]);
    execFileSync('sox', [
      wav,
      '-r',
      '48000',
      '-c',
      '1',
      '-b',
      '16',
      '-e',
      'signed-integer',
      '-t',
      'raw',
      raw,
    ]);
    const b = readFileSync(raw);
    const out = new Int16Array(b.length >> 1);
    new Uint8Array(out.buffer).set(b.subarray(0, out.length * 2));
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Signal-to-noise ratio of `decoded` against `ref`, dB, after shifting `decoded` by `lag`. */
export function snrDb(ref: Int16Array, decoded: Int16Array, lag: number): number {
  let sig = 0;
  let noise = 0;
  const n = Math.min(ref.length, decoded.length - lag);
  for (let i = 0; i < n; i++) {
    const x = ref[i] ?? 0;
    const e = x - (decoded[i + lag] ?? 0);
    sig += x * x;
    noise += e * e;
  }
  return 10 * Math.log10(sig / Math.max(noise, 1));
}

/** Lag (samples) in [0, maxLag] at which `decoded` best matches `ref`. */
export function bestLag(ref: Int16Array, decoded: Int16Array, maxLag: number): number {
  let best = 0;
  let bestCorr = -Infinity;
  const n = Math.min(ref.length, decoded.length - maxLag, 48000 * 2);
  for (let lag = 0; lag <= maxLag; lag++) {
    let c = 0;
    for (let i = 0; i < n; i++) c += (ref[i] ?? 0) * (decoded[i + lag] ?? 0);
    if (c > bestCorr) {
      bestCorr = c;
      best = lag;
    }
  }
  return best;
}
