/**
 * Test speech made at test time: espeak-ng speaks a sentence, sox converts it to 48 kHz mono
 * S16_LE WAV (the format of the wav: devices).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { readWav } from '../../src/audio/index.ts';

/** Writes `<dir>/<name>.wav` with `sentence` spoken, optionally repeated to fill `seconds`. */
export function makeSpeech(dir: string, name: string, sentence: string, seconds?: number): string {
  const raw = join(dir, `${name}-raw.wav`);
  const out = join(dir, `${name}.wav`);
  execFileSync('espeak-ng', ['-w', raw, '-s', '150', sentence]);
  // Repeat the sentence (with 0.3 s gaps) to fill exactly `seconds`.
  const pad =
    seconds === undefined ? [] : ['pad', '0', '0.3', 'repeat', '9', 'trim', '0', String(seconds)];
  execFileSync('sox', [
    '-V1',
    raw,
    '-r',
    '48000',
    '-c',
    '1',
    '-b',
    '16',
    '-e',
    'signed-integer',
    out,
    ...pad,
  ]);
  return out;
}

/** Reads a WAV written by a wav: device or {@link makeSpeech}. */
export function loadWav(path: string): Int16Array {
  return readWav(path).samples;
}
