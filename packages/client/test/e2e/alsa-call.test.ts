/**
 * E2E 7: one call on real libasound at both ends. `parloir answer` and `parloir call` open
 * `alsa:` devices defined in a private asoundrc (ALSA_CONFIG_PATH) with the `file` plugin over
 * `null`:
 * - capture reads a named pipe (`infile`) that this test writes in real time, 20 ms at a time
 *   on the wall clock: `null` keeps no time of its own, so the pipe is what paces the capture
 *   (a plain file would be read at once, as fast as the capture thread can go);
 * - playback writes a raw file; the addon's playback thread paces a device that keeps no time
 *   on an absolute schedule (pcm.c `pace_playback`), so the file's sample index is device time.
 *
 * Each side must hear the other (speech check ≥ {@link HEARS}) and mouth-to-ear, from the
 * moment a sample was due in the pipe to the moment the far end's playback clock played it,
 * must stay ≤ {@link MAX_M2E_MS} (test/helpers/heard.ts). The received audio is read through
 * the `PARLOIR_TEST_MUTATE` hook like every call test's. Each pipe carries silence from the
 * start, as a microphone in a quiet room would (a capture that found its pipe empty would wait
 * in its read), and speech from the moment its side reports media up.
 */
import assert from 'node:assert/strict';
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { answerThenCall, waitForStderr } from '../helpers/cli.ts';
import { clocksFromLog, describe, HEARS, heard, MAX_M2E_MS, RATE } from '../helpers/heard.ts';
import { applyTestMutation } from '../helpers/mutate.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { loadWav, makeSpeech } from '../helpers/speech.ts';

const CALL_S = 8;
/** Chunk written into a capture pipe, samples (20 ms). */
const CHUNK = RATE / 50;

let dir = '';
let srv: TestServer;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-e2e7-'));
  srv = await startTestServer();
});
after(async () => {
  await srv.close();
  if (process.env.KEEP === undefined) rmSync(dir, { recursive: true, force: true });
  else console.log('KEPT', dir);
});

/**
 * A microphone on a named pipe at `path` that a capture PCM reads: from creation it writes one
 * 20 ms chunk every 20 ms on the wall clock, once the chunk's last sample is due — silence, then
 * `pcm` (then silence) from {@link PipeWriter.speak} on, which first empties the pipe of queued
 * silence. A silent chunk the pipe cannot take (no reader yet, or a reader behind) is dropped,
 * as a microphone nobody reads loses its samples; a speech chunk waits for room (a lost one
 * would shift all later speech by 20 ms).
 */
interface PipeWriter {
  /** Starts `pcm` with the next chunk. */
  speak(): void;
  /** When `pcm`'s sample 0 was spoken, Unix ms: the capture clock's origin (NaN before speak). */
  readonly startMs: number;
  /** Stops and closes; returns how many times a due speech chunk waited for room in the pipe. */
  stop(): number;
}

function pipeWriter(path: string, pcm: Int16Array): PipeWriter {
  execFileSync('mkfifo', [path]);
  // Read-write, so opening never waits for a reader and a reader closing never breaks writes.
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  const t0 = performance.now();
  const chunkMs = (1000 * CHUNK) / RATE;
  /** Next chunk to write (chunk k falls due at t0 + (k + 1) · 20 ms). */
  let next = 0;
  /** Chunk that carries pcm's first sample (Infinity before speak). */
  let speechFrom = Infinity;
  let waits = 0;
  const tick = (): void => {
    const due = Math.floor((performance.now() - t0) / chunkMs) - 1;
    for (; next <= due; next++) {
      const chunk = new Int16Array(CHUNK);
      const from = (next - speechFrom) * CHUNK;
      if (from >= 0 && from < pcm.length) chunk.set(pcm.subarray(from, from + CHUNK));
      try {
        writeSync(fd, new Uint8Array(chunk.buffer));
      } catch {
        if (next < speechFrom) continue;
        waits++;
        return;
      }
    }
  };
  const timer = setInterval(tick, 10);
  return {
    speak() {
      if (speechFrom !== Infinity) return;
      tick();
      // Silence written before the capture opened is still queued in the pipe (up to its 64 KiB,
      // 0.68 s), and would delay every later sample by as much: read it out through our own
      // read-write descriptor, so speech goes into an empty pipe.
      const sink = new Uint8Array(CHUNK * 2);
      for (let i = 0; i < 1000; i++) {
        try {
          if (readSync(fd, sink) === 0) break;
        } catch {
          break; // EAGAIN: empty
        }
      }
      speechFrom = next;
    },
    get startMs() {
      // Chunk k holds the 20 ms that ended when it fell due, at t0 + (k + 1) · 20 ms.
      return performance.timeOrigin + t0 + speechFrom * chunkMs;
    },
    stop() {
      clearInterval(timer);
      closeSync(fd);
      return waits;
    },
  };
}

/** A raw S16_LE recording written by the file plugin, through the PARLOIR_TEST_MUTATE hook. */
function readReceivedRaw(path: string): Int16Array {
  const b = readFileSync(path);
  const pcm = new Int16Array(b.length >> 1);
  new Uint8Array(pcm.buffer).set(b.subarray(0, pcm.length * 2));
  return applyTestMutation(pcm, RATE);
}

test('a call on real libasound at both ends (ALSA file plugin): each side hears the other', async (t) => {
  const speechA = makeSpeech(
    dir,
    'alice',
    'Alice talks through a real sound library: the birch canoe slid on the smooth planks.',
    CALL_S + 4,
  );
  const speechB = makeSpeech(
    dir,
    'bob',
    'Bob answers through his own device: glue the sheet to the dark blue background.',
    CALL_S + 4,
  );
  const a = loadWav(speechA);
  const b = loadWav(speechB);
  const conf = join(dir, 'asound.conf');
  const pcm = (name: string, spec: string): string =>
    `pcm.${name} { type file slave.pcm "null" ${spec} format "raw" }`;
  writeFileSync(
    conf,
    [
      '</usr/share/alsa/alsa.conf>',
      pcm('acap', `file "/dev/null" infile ${JSON.stringify(join(dir, 'a-cap.fifo'))}`),
      pcm('bcap', `file "/dev/null" infile ${JSON.stringify(join(dir, 'b-cap.fifo'))}`),
      pcm('aplay', `file ${JSON.stringify(join(dir, 'a-play.raw'))}`),
      pcm('bplay', `file ${JSON.stringify(join(dir, 'b-play.raw'))}`),
      '',
    ].join('\n'),
  );
  // Children inherit it; this process opens no PCM.
  process.env.ALSA_CONFIG_PATH = conf;
  const wa = pipeWriter(join(dir, 'a-cap.fifo'), a);
  const wb = pipeWriter(join(dir, 'b-cap.fifo'), b);
  let waitsA = 0;
  let waitsB = 0;
  try {
    // This test checks the libasound path. Audio processing is on by default for alsa: devices;
    // its effect on speech is judged by acoustic-echo.test.ts and bench:aec. Here it is off:
    // with it on, AGC compresses the loudness envelope this check compares (0.80-0.88 against
    // 0.95-0.97 off, in loaded runs), too close to the floor to tell a broken ALSA path.
    const processing = ['--aec', 'off', '--ns', 'off', '--agc', 'off'];
    const common = [
      ...['--server', srv.serverArg, '--host-address', '127.0.0.1', '--json'],
      ...processing,
    ];
    const { alice, bob } = await answerThenCall({
      common: [...common, '--duration', String(CALL_S)],
      dir,
      bobIn: 'alsa:bcap',
      bobOut: 'alsa:bplay',
      aliceIn: 'alsa:acap',
      aliceOut: 'alsa:aplay',
    });
    // Speak once media is up, so the whole sentence can reach the far end.
    await Promise.all([
      waitForStderr(alice, /connected to bob/).then(() => wa.speak()),
      waitForStderr(bob, /connected to alice/).then(() => wb.speak()),
    ]);
    const [ra, rb] = await Promise.all([alice.done, bob.done]);
    assert.equal(ra.code, 0, `alice: ${ra.stderr}`);
    assert.equal(rb.code, 0, `bob: ${rb.stderr}`);
    const la = (JSON.parse(ra.stdout) as { log: string }).log;
    const lb = (JSON.parse(rb.stdout) as { log: string }).log;
    const ca = clocksFromLog(la);
    const cb = clocksFromLog(lb);
    const bHearsA = heard(a, readReceivedRaw(join(dir, 'b-play.raw')), wa.startMs, cb.playbackMs);
    const aHearsB = heard(b, readReceivedRaw(join(dir, 'a-play.raw')), wb.startMs, ca.playbackMs);
    const msg = `${describe('B hears A', bHearsA)}; ${describe('A hears B', aHearsB)}`;
    t.diagnostic(msg);
    const paths = readFileSync(la, 'utf8').split('\n')[0] ?? '';
    t.diagnostic(`alice's start record: ${paths}`);
    assert.ok(bHearsA.score >= HEARS, msg);
    assert.ok(aHearsB.score >= HEARS, msg);
    assert.ok(bHearsA.mouthToEarMs <= MAX_M2E_MS, msg);
    assert.ok(aHearsB.mouthToEarMs <= MAX_M2E_MS, msg);
  } finally {
    waitsA = wa.stop();
    waitsB = wb.stop();
    t.diagnostic(
      `times a due speech chunk waited for room in the pipe: alice ${waitsA}, bob ${waitsB}`,
    );
    delete process.env.ALSA_CONFIG_PATH;
  }
});
