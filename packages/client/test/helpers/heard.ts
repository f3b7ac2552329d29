/**
 * What the far end heard, for the call tests: the received recording (through the test
 * mutation hook), the speech check against what was said, and the mouth-to-ear delay from the
 * device clocks of the two ends.
 *
 * Mouth-to-ear: sample q of the sender's capture was taken at `captureMs + q / 48`; the speech
 * check finds it at sample q + lag of the receiver's recording, played at
 * `playbackMs + (q + lag) / 48`. So mouth-to-ear = playbackMs − captureMs + lagMs. Both origins
 * are Unix ms on the same machine (the QoS log's end record, or the engine's deviceClocks).
 * The lag search is limited to mouth-to-ear 0..{@link MAX_SEARCH_M2E_MS}: the test speech
 * repeats a sentence every ≥ 3 s, and a window this wide cannot reach the next repetition.
 */
import { readFileSync } from 'node:fs';
import { parseQosLog } from '../../src/qos-log/qos-log.ts';
import { applyTestMutation } from './mutate.ts';
import { speechCheck, type SpeechCheckOptions, type SpeechCheckResult } from './speech-check.ts';
import { loadWav } from './speech.ts';

/** Sample rate of the wav: devices and the test speech, Hz. */
export const RATE = 48_000;
/** Largest mouth-to-ear delay searched, ms. */
export const MAX_SEARCH_M2E_MS = 2000;

/**
 * Speech check floor for "hears the other side". Calibration (speech-check.test.ts): an Opus
 * round trip at 32 kbit/s scores 0.95, every 3rd 20 ms frame zeroed 0.73, speech-shaped noise
 * 0.05; loopback calls measured 0.80-0.94 here (lowest under a load average of 17 on 2 cores;
 * the first second, while the jitter buffer settles, scores lowest). 0.8 sits between a call on
 * a loaded machine and a third of the audio missing (≈ 0.70 through a call).
 */
export const HEARS = 0.8;
/**
 * Ceiling for "does not hear itself": a different sentence scores ≤ 0.2 in calibration, so an
 * echo of one's own voice (≥ 0.85 like any heard speech) stands well clear of 0.3.
 */
export const ECHO = 0.3;
/**
 * Mouth-to-ear ceiling on loopback, ms: one 20 ms frame, the jitter buffer (20-60 ms when
 * packets arrive on time), two device periods each side (10 ms) and scheduling; measured
 * 78-131 ms on a quiet machine, up to 336 ms under a load average of 17 on 2 cores. Audio 1 s
 * late, or a jitter buffer that holds several hundred ms more than it needs, breaks it.
 */
export const MAX_M2E_MS = 400;

/** Device clock origins of one end of a call, Unix ms. */
export interface DeviceClocks {
  /** When its capture sample 0 was taken. */
  captureMs: number;
  /** When its playback sample 0 played. */
  playbackMs: number;
}

/**
 * The received recording at `path`, as the test sees it: `PARLOIR_TEST_MUTATE` (mutate.ts) is
 * applied here and nowhere else.
 */
export function readReceived(path: string): Int16Array {
  return applyTestMutation(loadWav(path), RATE);
}

/** Device clocks from a call's QoS log (its end record). */
export function clocksFromLog(logPath: string): DeviceClocks {
  const log = parseQosLog(readFileSync(logPath, 'utf8'));
  const c = log.end?.captureStartedAtMs;
  const p = log.end?.playbackStartedAtMs;
  if (c === undefined || p === undefined) {
    throw new Error(`${logPath}: no device clocks in the end record`);
  }
  return { captureMs: c, playbackMs: p };
}

/** The speech check of one direction plus its mouth-to-ear delay. */
export interface Heard extends SpeechCheckResult {
  /** Mouth-to-ear delay, ms (median over the aligned blocks). */
  mouthToEarMs: number;
}

/**
 * Checks that the recording `received` carries `reference` (the sender's capture file), with
 * the sender's capture clock and the receiver's playback clock.
 */
export function heard(
  reference: Int16Array,
  received: Int16Array,
  senderCaptureMs: number,
  receiverPlaybackMs: number,
  options: Pick<SpeechCheckOptions, 'minSpeechFraction' | 'windowMs'> = {},
): Heard {
  const offset = receiverPlaybackMs - senderCaptureMs;
  const r = speechCheck(reference, received, RATE, {
    ...options,
    minLagMs: -offset,
    maxLagMs: MAX_SEARCH_M2E_MS - offset,
  });
  return { ...r, mouthToEarMs: offset + r.delayMs };
}

/** The speech check for "does not hear itself": own speech in own playback, within ±1 s. */
export function echo(own: Int16Array, received: Int16Array): SpeechCheckResult {
  return speechCheck(own, received, RATE, { minLagMs: -1000, maxLagMs: 1000 });
}

/** One line for diagnostics and assertion messages. */
export function describe(name: string, h: Heard): string {
  const w = h.windows.map((x) => `${x.lagMs}:${x.score.toFixed(2)}`).join(' ');
  return `${name}: speech ${h.score.toFixed(3)} over ${h.speechFrames} frames (sound in ${(100 * h.soundFraction).toFixed(0)} %; per 4 s window lag ms:score ${w}), mouth-to-ear ${h.mouthToEarMs.toFixed(0)} ms`;
}
