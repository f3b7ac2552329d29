/**
 * A quiet tone mixed into a test input, to see an outage in the far end's recording frame by
 * frame: speech has pauses, a tone does not, so the time audio resumed after a path change is
 * the first run of frames with the tone back (ICE restart tests, issue 21).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readWav, writeWav } from '../../src/audio/index.ts';
import { RATE } from './heard.ts';

/** The tone's frequency, Hz (inside Opus's band at 32 kbit/s, above most speech energy). */
export const TONE_HZ = 4000;
/** Its amplitude, of 32 767. */
export const TONE_AMPLITUDE = 1500;
/** A 20 ms frame "has the tone" above this share of the tone's level before the change. */
const TONE_PRESENT = 0.5;
const FRAME_MS = 20;

/** `speech` (a WAV path) with the tone added all through, written as `<dir>/<name>-tone.wav`. */
export function withTone(speech: string, dir: string, name: string): string {
  const w = readWav(speech);
  const out = new Int16Array(w.samples.length);
  for (let i = 0; i < out.length; i++) {
    const tone = TONE_AMPLITUDE * Math.sin((2 * Math.PI * TONE_HZ * i) / RATE);
    const v = (w.samples[i] ?? 0) * 0.8 + tone;
    out[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  const path = join(dir, `${name}-tone.wav`);
  writeWav(path, { sampleRate: RATE, channels: 1, samples: out });
  return path;
}

/** The tone's amplitude in each 20 ms frame (Goertzel). */
function toneLevels(pcm: Int16Array): Float64Array {
  const n = (RATE * FRAME_MS) / 1000;
  const frames = Math.floor(pcm.length / n);
  const out = new Float64Array(frames);
  const c = 2 * Math.cos((2 * Math.PI * TONE_HZ) / RATE);
  for (let f = 0; f < frames; f++) {
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const s0 = (pcm[f * n + i] ?? 0) + c * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    out[f] = (2 * Math.sqrt(Math.max(0, s1 * s1 + s2 * s2 - c * s1 * s2))) / n;
  }
  return out;
}

/**
 * When the far end played new packets again (wall ms), after an outage that began after
 * `fromMs` (wall ms): the first of 5 frames in a row with the tone back, after the first frame
 * without it. `received` is the far end's recording, whose sample 0 played at `playbackMs`.
 * Fails if the tone was not there before, never went away, or never came back.
 */
export function resumedAtMs(received: Int16Array, playbackMs: number, fromMs: number): number {
  const levels = toneLevels(received);
  const first = Math.max(0, Math.floor((fromMs - playbackMs) / FRAME_MS));
  const before = [...levels.slice(Math.max(0, first - 100), first)].sort((a, b) => a - b);
  const ref = before[Math.floor(before.length / 2)] ?? 0;
  assert.ok(ref > TONE_AMPLITUDE * 0.3, `tone before the change: ${ref.toFixed(0)}`);
  const present = (f: number): boolean => (levels[f] ?? 0) >= TONE_PRESENT * ref;
  let f = first;
  while (f < levels.length && present(f)) f++;
  assert.ok(f < levels.length, 'no gap in the tone after the change');
  for (; f + 5 < levels.length; f++) {
    let run = true;
    for (let j = 0; j < 5; j++) if (!present(f + j)) run = false;
    if (run) return playbackMs + f * FRAME_MS;
  }
  assert.fail('the tone never came back');
}
