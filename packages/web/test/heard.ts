/**
 * What a page (or a native client) heard, checked against what the other side said, with the
 * spectral speech check of packages/client/test/helpers/speech-check.ts:
 * - the score compares the received recording with the sender's speech file (for a browser
 *   sender, the file looped, as Chromium's fake microphone loops it);
 * - the mouth-to-ear delay comes from capture clocks: the wall-clock start of the sender's
 *   capture (a recording of the sender page's microphone track, or the native engine's start)
 *   against the wall-clock start of the received recording, plus the lag the speech check finds
 *   between them. The lag is searched only within one period of the sender's speech, so the
 *   looped file cannot alias a late signal onto an early one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { speechCheck, type SpeechCheckResult } from '../../client/test/helpers/speech-check.ts';
import { parseQosLog } from '../../client/src/qos-log/qos-log.ts';

/** Sample rate of every signal compared here, in Hz. */
const RATE = 48_000;

/** Audio with the wall-clock time (ms since the epoch) of its first sample. */
export interface ClockedAudio {
  /** Mono 16-bit PCM at 48 kHz. */
  samples: Int16Array;
  /** Wall-clock time of `samples[0]`, ms since the epoch. */
  startWallMs: number;
  /** Samples per clock stamp in {@link chunkWallMs}. */
  chunkSamples?: number;
  /**
   * Wall-clock time each chunk of `chunkSamples` was seen, ms since the epoch: under CPU load an
   * audio thread may render late or skip, and the stamps keep what the start time cannot.
   */
  chunkWallMs?: number[];
}

/** Wall-clock time of sample `i` of `a`, ms since the epoch. */
export function wallAt(a: ClockedAudio, i: number): number {
  const n = a.chunkSamples;
  const stamps = a.chunkWallMs;
  if (n === undefined || stamps === undefined || stamps.length === 0)
    return a.startWallMs + (i * 1000) / RATE;
  const k = Math.max(0, Math.min(stamps.length - 1, Math.floor(i / n)));
  return (stamps[k] ?? a.startWallMs) + ((i - k * n) * 1000) / RATE;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return s.length === 0
    ? NaN
    : s.length % 2 === 1
      ? (s[mid] ?? NaN)
      : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** `file` repeated to at least `ms` plus two of its own lengths (the fake microphone loops it). */
export function looped(file: Int16Array, ms: number): Int16Array {
  const times = Math.ceil((ms * RATE) / 1000 / Math.max(1, file.length)) + 2;
  const out = new Int16Array(file.length * times);
  for (let i = 0; i < times; i++) out.set(file, i * file.length);
  return out;
}

/** Result of {@link mouthToEar}. */
export interface MouthToEar {
  /** Mouth-to-ear delay, ms: received wall time minus captured wall time of the same speech. */
  delayMs: number;
  /** The speech check between the two recordings. */
  check: SpeechCheckResult;
}

/**
 * The mouth-to-ear delay of `received` against the sender's clocked capture `sent`, searched in
 * `[lowMs, highMs]`; keep that range shorter than the period of the sender's speech.
 */
export function mouthToEar(
  sent: ClockedAudio,
  received: ClockedAudio,
  lowMs: number,
  highMs: number,
): MouthToEar {
  // received[t] ≈ sent[t − lag]  ⇒  delay = (received start − sent start) + lag.
  const offset = received.startWallMs - sent.startWallMs;
  const check = speechCheck(sent.samples, received.samples, RATE, {
    minLagMs: lowMs - offset,
    maxLagMs: highMs - offset,
  });
  // Then, per 10 ms step of the received recording in each aligned window: the wall time it was
  // heard minus the wall time its lagged sender sample was captured, from both sides' stamps.
  const step = RATE / 100;
  const delays: number[] = [];
  const windowMs =
    check.windows.length > 1
      ? (check.windows[1]?.startMs ?? 0) - (check.windows[0]?.startMs ?? 0)
      : Infinity;
  for (const w of check.windows) {
    const from = Math.round((w.startMs * RATE) / 1000);
    const to = Math.min(received.samples.length, from + Math.round((windowMs * RATE) / 1000));
    for (let i = from; i < to; i += step) {
      const j = i - Math.round((w.lagMs * RATE) / 1000);
      if (j < 0 || j >= sent.samples.length) continue;
      delays.push(wallAt(received, i) - wallAt(sent, j));
    }
  }
  return { delayMs: delays.length > 0 ? median(delays) : offset + check.delayMs, check };
}

/** One line for diagnostics and assertion messages. */
export function describe(label: string, c: SpeechCheckResult, delayMs?: number): string {
  return (
    `${label}: score ${c.score.toFixed(3)}, sound ${c.soundFraction.toFixed(2)}, ` +
    `${c.speechFrames} speech frames (per 4 s window lag ms:score ` +
    c.windows.map((w) => `${w.lagMs}:${w.score.toFixed(2)}`).join(' ') +
    ')' +
    (delayMs === undefined ? '' : `, mouth-to-ear ${delayMs.toFixed(0)} ms`)
  );
}

/**
 * Speech-check floor for a browser sender. Measured here between two Chromium pages on loopback:
 * 0.95; the same recording with every 3rd 20 ms frame zeroed 0.71, speech-shaped noise 0.04
 * (PARLOIR_TEST_MUTATE); the helper's calibration puts a different sentence below 0.2 and half the
 * frames zeroed below 0.7.
 */
export const BROWSER_SPEECH_MIN = 0.8;
/**
 * Fraction of the sender's speech frames in which the receiver had sound: 1.00 between two
 * pages, 0.91-1.00 where a native client receives or sends under a load average of 20-25 on 2
 * cores (its jitter buffer plays silence when starved); zeroing every 3rd frame leaves 0.83.
 */
export const SOUND_MIN = 0.9;
/**
 * Mouth-to-ear bound between two Chromium pages on loopback, ms. Measured 100-150 ms (capture
 * buffer, one 20 ms frame, WebRTC's jitter buffer at its floor on a lossless path, playout); a
 * jitter buffer holding 250 ms more than it needs, or audio arriving 1 s late, breaks it.
 */
export const BROWSER_MOUTH_TO_EAR_MAX_MS = 400;
/**
 * Lower bound of a measured mouth-to-ear delay, ms. Below zero: a page's microphone recording is
 * stamped when its audio reaches WebAudio, after Chromium's capture buffering, so against a
 * native playback clock (which has no such lag) the measure reads low (29 ms seen for a
 * browser→native call); a clock error larger than this is a broken measurement.
 */
export const MOUTH_TO_EAR_MIN_MS = -150;
/**
 * Mouth-to-ear bound from a native sender to a page, ms. Chromium's jitter buffer (NetEq) grows
 * when the native sender's packets arrive in bursts, as they do under load: 171-577 ms measured at
 * a load average of 20-25 on 2 cores. A second more (the delay mutation: 1.3-1.6 s) breaks it.
 */
export const NATIVE_TO_BROWSER_MOUTH_TO_EAR_MAX_MS = 700;

/**
 * The part of `received` that can carry what `sent` recorded: from `sent`'s start to its end plus
 * 1 s. A native client's output file spans its whole call; outside the sender page's microphone
 * recording its windows would align on nothing and pick a lag at random. Recordings with chunk
 * stamps (a page's) are bracketed by the sender's recording already and are returned as they are.
 */
function overlapping(received: ClockedAudio, sent: ClockedAudio): ClockedAudio {
  if (received.chunkWallMs !== undefined) return received;
  const sentEndMs = wallAt(sent, sent.samples.length);
  const from = Math.max(0, Math.round(((sent.startWallMs - received.startWallMs) * RATE) / 1000));
  const to = Math.min(
    received.samples.length,
    Math.round(((sentEndMs + 1000 - received.startWallMs) * RATE) / 1000),
  );
  if (to - from < RATE) return received;
  return {
    samples: received.samples.subarray(from, to),
    startWallMs: received.startWallMs + (from * 1000) / RATE,
  };
}

/** Outcome of {@link checkBrowserSpeech}. */
export interface BrowserSpeech {
  /** The received recording against the sender's (looped) speech file. */
  check: SpeechCheckResult;
  /** Mouth-to-ear delay from the two pages' capture clocks, ms. */
  delayMs: number;
  /** One line for diagnostics. */
  summary: string;
  /** Whether score, sound and delay are all within bounds. */
  ok: boolean;
}

/**
 * Checks one direction of a call between two pages: `received` (the receiver's remote-track
 * recording) against `senderFile` (the sender's fake-microphone WAV) for the score, and against
 * `senderMic` (the sender page's microphone recording, started before and stopped after
 * `received`) for the delay, searched from −300 ms to one period of the sender's speech later.
 */
export function checkBrowserSpeech(
  label: string,
  senderFile: Int16Array,
  senderMic: ClockedAudio,
  received: ClockedAudio,
  maxDelayMs = BROWSER_MOUTH_TO_EAR_MAX_MS,
): BrowserSpeech {
  const receivedMs = (received.samples.length * 1000) / RATE;
  // A native output file spans the whole call, its first second included while the jitter buffer
  // settles; score the span the sender page recorded, as between two pages.
  const heard = overlapping(received, senderMic);
  const check = speechCheck(looped(senderFile, receivedMs), heard.samples, RATE);
  const periodMs = (senderFile.length * 1000) / RATE;
  const m2e = mouthToEar(senderMic, heard, -300, Math.min(3000, periodMs - 400));
  const ok =
    check.score >= BROWSER_SPEECH_MIN &&
    check.soundFraction >= SOUND_MIN &&
    m2e.delayMs >= MOUTH_TO_EAR_MIN_MS &&
    m2e.delayMs <= maxDelayMs;
  const lags = m2e.check.windows.map((w) => w.lagMs).join('/');
  const summary = `${describe(label, check, m2e.delayMs)} (lags ${lags} ms, start offset ${(received.startWallMs - senderMic.startWallMs).toFixed(0)} ms)`;
  return { check, delayMs: m2e.delayMs, summary, ok };
}

/** Device clock origins of a native client's call, from its QoS log's end record, Unix ms. */
export interface NativeClocks {
  /** When its capture sample 0 was taken (sample 0 of its `--in` file). */
  captureMs: number;
  /** When its playback sample 0 played (sample 0 of its `--out` file). */
  playbackMs: number;
}

/** The device clocks of the one call logged under `profileDir/calls`. */
export function nativeClocks(profileDir: string): NativeClocks {
  const dir = join(profileDir, 'calls');
  const logs = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
  if (logs.length !== 1) throw new Error(`expected one call log in ${dir}, found ${logs.length}`);
  const end = parseQosLog(readFileSync(join(dir, logs[0] ?? ''), 'utf8')).end;
  const c = end?.captureStartedAtMs;
  const p = end?.playbackStartedAtMs;
  if (c === undefined || p === undefined) throw new Error(`${dir}: no device clocks in the log`);
  return { captureMs: c, playbackMs: p };
}

/**
 * Checks a page's recording of a native sender: `received` against the native client's `--in`
 * file, clocked from its capture start; the lag is searched for a mouth-to-ear delay of −300 to
 * 2,000 ms (the test speech repeats its sentence every ≥ 3 s, which this window cannot reach).
 */
export function checkNativeSpeech(
  label: string,
  nativeIn: Int16Array,
  captureMs: number,
  received: ClockedAudio,
  maxDelayMs = NATIVE_TO_BROWSER_MOUTH_TO_EAR_MAX_MS,
): BrowserSpeech {
  const m2e = mouthToEar({ samples: nativeIn, startWallMs: captureMs }, received, -300, 2000);
  const c = m2e.check;
  const ok =
    c.score >= BROWSER_SPEECH_MIN &&
    c.soundFraction >= SOUND_MIN &&
    m2e.delayMs >= MOUTH_TO_EAR_MIN_MS &&
    m2e.delayMs <= maxDelayMs;
  return { check: c, delayMs: m2e.delayMs, summary: describe(label, c, m2e.delayMs), ok };
}
