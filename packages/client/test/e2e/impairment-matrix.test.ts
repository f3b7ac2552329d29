/**
 * E2E 8: the impairment matrix (issue 21 item 4). One native↔native call, relayed through
 * `parloir netem --control --direction up` in front of the TURN relay, walks through twelve
 * network conditions: the test switches netem's impairment every few seconds with a control
 * line, and each condition is judged on its own window of the call. `--direction up` impairs
 * each peer's media once, on its way into the relay (each client has its own generator: its own
 * access link), so a window's condition is what each direction of the call went through.
 *
 * The twelve: clean (0 % loss, 0 ms jitter); random loss 2 % (with 30 ms jitter), 10 %, 30 %;
 * bursty loss (Gilbert–Elliott, mean burst 3 packets = 60 ms) 5 % and 20 %; jitter 100 ms and
 * 200 ms (Gaussian σ, FIFO link); reordering; duplicates; ±0.3 % clock drift; a 2 s outage.
 *
 * Clock drift is netem's `--drift`: arrivals are stretched (+0.3 %) then compressed (−0.3 %)
 * against send times, which is what a receiver sees of a sender whose clock runs 0.3 % slow, then
 * fast (the wav: devices have no rate option, and device clocks belong to the engine). Over the
 * window's 2 × 4 s the path delay rises by 12 ms and comes back: enough to see the buffer follow
 * without growing, not a long call's worth of drift.
 *
 * For each condition and each direction:
 * - the call stays up: both ends run the full duration, exit 0, and keep the relayed path;
 * - the jitter buffer stays within its bounds: every QoS snapshot's buffer delay and target are
 *   ≤ the settings' `jbMaxMs` plus one frame ({@link BOUND_SLACK_MS}), target ≥ `jbMinMs`;
 * - the far end's speech is recognisable where the condition allows: the speech check over the
 *   window (after {@link SETTLE_MS}, while the buffer adapts to the change) ≥ the condition's
 *   floor, each floor written beside the condition with its reason. The speech check's
 *   calibration (test/helpers/speech-check.test.ts): Opus at 32 kbit/s ≥ 0.9, every 3rd 20 ms
 *   frame zeroed ≈ 0.7, half the frames zeroed < 0.7, a different sentence or speech-shaped
 *   noise < 0.2;
 * - mouth-to-ear from the device clocks ≤ {@link MAX_M2E_MS} in every window;
 * - loss conditions were really applied: netem's own counters over the window are within 3σ of
 *   the configured rate (the receivers' measured loss is reported beside them).
 *
 * A table (condition, speech score each way, mouth-to-ear, buffer delay, loss measured, audio
 * concealed) is printed as test diagnostics before any assertion.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseQosLog, type ParsedQosLog, type QosSnapshot } from '../../src/qos-log/qos-log.ts';
import {
  answerThenCall,
  runCli,
  waitForOutput,
  waitForStderr,
  type CliRun,
} from '../helpers/cli.ts';
import { clocksFromLog, RATE, readReceived, type DeviceClocks } from '../helpers/heard.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { speechCheck } from '../helpers/speech-check.ts';
import { loadWav, makeSpeech } from '../helpers/speech.ts';
import { waitFor } from '../helpers/wait.ts';

/** Length of most conditions' windows, ms. */
const WINDOW_MS = 4500;
/**
 * Start of each window left out of the speech check and the snapshots, ms: the buffer adapts to
 * the change (grows for jitter, shrinks after it), and what plays then was sent under the
 * previous condition (mouth-to-ear ≈ 0.1-0.5 s).
 */
const SETTLE_MS = 1000;
/** Largest mouth-to-ear searched in a window, ms: the 200 ms jitter window's buffer stays ≤ 400. */
const MAX_M2E_SEARCH_MS = 1500;
/** What the buffer may hold beyond `jbMaxMs` at a snapshot, ms: one 20 ms packet being added. */
const BOUND_SLACK_MS = 20;
/**
 * Mouth-to-ear ceiling in every window, ms: the buffer's 400 ms ceiling, a 20 ms frame, device
 * periods and the two relay hops (≈ 80 ms on a clean path here). A buffer that kept an outage's
 * 2 s backlog, or grew past its ceiling, breaks it.
 */
const MAX_M2E_MS = 600;
/**
 * What the jitter windows should score with a buffer whose target covers the arrivals' 95th
 * percentile (≈ 5 % concealed, like the 5 % loss window): checked as a todo, reported, not
 * failing, until the jitter buffer's target estimate gets there.
 */
const TARGET_JITTER_SPEECH = 0.75;

/** One network condition: netem control lines and what must hold through it. */
interface Condition {
  /** Row label. */
  name: string;
  /** Control lines for `parloir netem --control`, each held for `ms` (ms). */
  steps: { line: string; ms: number }[];
  /** Start of the scored span, ms from the window's start. Default {@link SETTLE_MS}. */
  scoreFromMs?: number;
  /** Speech check floor, each direction, 0..1. */
  minSpeech: number;
  /** Configured loss, percent: netem's own counters over the window must show it applied. */
  lossPct?: number;
  /** The loss comes in bursts (Gilbert–Elliott, mean 3 packets): a wider spread per window. */
  bursty?: boolean;
  /** A jitter condition, also held to {@link TARGET_JITTER_SPEECH} (a todo). */
  jitter?: boolean;
  /**
   * Index of a step with no path at all (the outage): snapshots of its seconds are left out of
   * the bounds check, since a buffer that receives nothing holds no audio to bound — the level
   * it reports (jitter.c `level()`: the age of its playout point) grows with the outage. The
   * first snapshot after it must be back within bounds like any other.
   */
  outageStep?: number;
}

const CONDITIONS: Condition[] = [
  {
    name: 'clean: 0 % loss, 0 ms jitter',
    steps: [{ line: '', ms: WINDOW_MS }],
    // Nothing impaired: the floor of every clean call test (heard.ts HEARS); measured 0.92-0.98.
    minSpeech: 0.8,
  },
  {
    name: '2 % random loss, 30 ms jitter',
    steps: [{ line: '--loss 2% --jitter 30ms', ms: WINDOW_MS }],
    // One frame in 50 lost, and 30 ms jitter: the buffer conceals 12-22 % in all (its target,
    // ≈ 46 ms, sits under the arrivals' 95th percentile, ≈ 61 ms on this FIFO link); measured
    // 0.76-0.85. Floor: a third of the frames missing (≈ 0.7), less a margin for load.
    minSpeech: 0.65,
    lossPct: 2,
  },
  {
    name: '5 % bursty loss (mean burst 60 ms)',
    steps: [{ line: '--loss 5% --loss-burst 3', ms: WINDOW_MS }],
    // Bursts of ~3 frames defeat FEC (it carries one frame back): 5 % of frames concealed by
    // PLC, which holds the spectral shape for a frame or two; measured 0.87-0.96. Floor: a
    // third of the frames missing (≈ 0.7).
    minSpeech: 0.7,
    lossPct: 5,
    bursty: true,
  },
  {
    name: '10 % random loss',
    steps: [{ line: '--loss 10%', ms: WINDOW_MS }],
    // Mostly single losses, which FEC (on from the first lossy window) rebuilds; measured
    // 0.78-0.95 (lowest under load). Floor: a third of the frames missing (≈ 0.7).
    minSpeech: 0.7,
    lossPct: 10,
  },
  {
    name: '20 % bursty loss (mean burst 60 ms)',
    steps: [{ line: '--loss 20% --loss-burst 3', ms: WINDOW_MS }],
    // A fifth of the packets gone in 60 ms holes, FEC rebuilding the first of each: words
    // come through, not all of them; measured 0.70-0.83. Floor: between half the frames
    // zeroed (< 0.7) and a different sentence (< 0.2).
    minSpeech: 0.6,
    lossPct: 20,
    bursty: true,
  },
  {
    name: '30 % random loss',
    steps: [{ line: '--loss 30%', ms: WINDOW_MS }],
    // Nearly a third lost, but 70 % of losses follow a received packet, whose FEC rebuilds
    // them: ≈ 9 % left to PLC; measured 0.85-0.90. Floor: without FEC, 30 % concealed scores
    // ≈ 0.5-0.6 (see the jitter windows), so 0.7 fails a call whose FEC stopped working.
    minSpeech: 0.7,
    lossPct: 30,
  },
  {
    name: '100 ms jitter',
    steps: [{ line: '--jitter 100ms', ms: WINDOW_MS }],
    // No loss, but on this FIFO link the delay runs as spikes (median 123 ms, 95th percentile
    // 228 ms, 99th 282 ms over the fastest packet): a buffer holding the 95th percentile, within
    // its 400 ms ceiling, would conceal ≈ 5 %. This one's target stays at 120-215 ms, so it
    // conceals 26-40 % and scores 0.45-0.68 (TARGET_JITTER_SPEECH, a todo, tracks the gap).
    // Floor: recognisable, well above a different sentence (< 0.2).
    minSpeech: 0.35,
    jitter: true,
  },
  {
    name: '200 ms jitter',
    steps: [{ line: '--jitter 200ms', ms: WINDOW_MS }],
    // Delay spikes reach the 400 ms cap (median 280 ms, 95th percentile 392 ms): even a buffer
    // at its 400 ms ceiling conceals some. This one conceals 33-40 % (target ≈ 260 ms) and
    // scores 0.40-0.61. Floor: recognisable, above a different sentence (< 0.2).
    minSpeech: 0.3,
    jitter: true,
  },
  {
    name: 'reordering 10 % (held 40 ms)',
    steps: [{ line: '--reorder 10%', ms: WINDOW_MS }],
    // A reordered packet arrives 2 frames late: within a buffer of ≥ 40 ms it is played in
    // order, otherwise concealed; measured 0.83-0.96. Floor: a third missing (≈ 0.7).
    minSpeech: 0.7,
  },
  {
    name: 'duplicates 10 %',
    steps: [{ line: '--duplicate 10%', ms: WINDOW_MS }],
    // Nothing lost: a duplicate must be dropped by the buffer, so the audio is as clean
    // (measured 0.77-0.93, the buffer still shrinking from the jitter windows). Floor: a
    // third of the frames missing (≈ 0.7), which dropping the original for its copy would cost.
    minSpeech: 0.7,
  },
  {
    name: '±0.3 % clock drift',
    steps: [
      { line: '--drift 0.3%', ms: 4000 },
      { line: '--drift=-0.3% --delay 12ms', ms: 4000 },
    ],
    // No loss, a 12 ms rise and fall of the delay: as clean (measured 0.88-0.96); floor just
    // under the clean calls' 0.8, for load.
    minSpeech: 0.75,
  },
  {
    name: '2 s outage, scored from 0.5 s after it',
    steps: [
      { line: '', ms: 1500 },
      { line: '--loss 100%', ms: 2000 },
      { line: '', ms: 3000 },
    ],
    // Audio must be back within 0.5 s of the path's return (mouth-to-ear included) and clean
    // from there: the buffer restarts instead of holding 2 s of backlog or staying silent
    // (measured 0.85-0.97, mouth-to-ear 60-70 ms).
    scoreFromMs: 1500 + 2000 + 500,
    minSpeech: 0.7,
    outageStep: 1,
  },
];

const SCHEDULE_MS = CONDITIONS.flatMap((c) => c.steps).reduce((s, x) => s + x.ms, 0);

let dir = '';
let srv: TestServer;
let netem: CliRun | undefined;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-e2e8-'));
  srv = await startTestServer({
    turn: true,
    async relayVia(relayPort) {
      netem = runCli(
        [
          ...['netem', '--listen', '127.0.0.1:0', '--to', `127.0.0.1:${relayPort}`],
          ...['--control', '--direction', 'up', '--seed', '21'],
        ],
        SCHEDULE_MS + 120_000,
      );
      const m = await waitForOutput(netem, /parloir netem: 127\.0\.0\.1:(\d+)/);
      return Number(m[1]);
    },
  });
});
after(async () => {
  netem?.child.kill('SIGTERM');
  await netem?.done;
  await srv.close();
  if (process.env.KEEP === undefined) rmSync(dir, { recursive: true, force: true });
  else console.log('KEPT', dir);
});

/** Sends a line to `parloir netem --control`; resolves with its JSON answer. */
async function ask(run: CliRun, line: string): Promise<Record<string, unknown>> {
  const before = run.stdout().split('\n').length;
  run.send(line);
  await waitFor(() => run.stdout().split('\n').length > before, `netem's answer to '${line}'`);
  return JSON.parse(run.stdout().split('\n')[before - 1] ?? '') as Record<string, unknown>;
}

/** netem's counters of the impaired (up) direction. */
async function upCounters(run: CliRun): Promise<{ received: number; dropped: number }> {
  return (await ask(run, 'stats')).up as { received: number; dropped: number };
}

/** Sends a control line to netem; resolves with when it applied it, Unix ms. */
async function control(run: CliRun, line: string): Promise<number> {
  const reply = (await ask(run, line)) as { atMs?: number; error?: string; message?: string };
  if (reply.atMs === undefined) {
    throw new Error(`netem refused '${line}': ${reply.error}: ${reply.message}`);
  }
  return reply.atMs;
}

/** A condition's window on the wall clock, Unix ms. */
interface Window {
  condition: Condition;
  startMs: number;
  endMs: number;
  /** When each step started, Unix ms. */
  stepStartsMs: number[];
  /** Datagrams netem dropped / received on the way up during the window (both peers). */
  dropped: number;
  received: number;
}

/** One direction of one window, measured. */
interface Measured {
  speech: number;
  mouthToEarMs: number;
  bufferMeanMs: number;
  bufferMaxMs: number;
  lossPct: number;
  concealedPct: number;
}

/** Snapshots of `log` with their Unix time (the start record's wall clock plus `tMs`). */
function timedSnapshots(log: ParsedQosLog): { atMs: number; s: QosSnapshot }[] {
  const t0 = Date.parse(log.start?.startedAt ?? '');
  return log.snapshots.map((s) => ({ atMs: t0 + s.tMs, s }));
}

/** Measures what the receiver (`recv*`) got of the sender's speech `reference` in window `w`. */
function measure(
  w: Window,
  reference: Int16Array,
  sender: DeviceClocks,
  received: Int16Array,
  receiver: DeviceClocks,
  recvLog: ParsedQosLog,
): Measured {
  const a = w.startMs + (w.condition.scoreFromMs ?? SETTLE_MS);
  const b = w.endMs;
  // Received audio played in [a, b] against speech captured from up to MAX_M2E_SEARCH_MS
  // before it: every received frame has its counterpart in the reference at any lag searched.
  const refStart = Math.max(sender.captureMs, a - MAX_M2E_SEARCH_MS);
  const at = (t: number, origin: number) => Math.max(0, Math.round(((t - origin) * RATE) / 1000));
  const ref = reference.subarray(at(refStart, sender.captureMs), at(b, sender.captureMs));
  const rec = received.subarray(at(a, receiver.playbackMs), at(b, receiver.playbackMs));
  const shift = a - refStart;
  const r = speechCheck(ref, rec, RATE, {
    minLagMs: -shift,
    maxLagMs: MAX_M2E_SEARCH_MS - shift,
  });
  // Snapshots covering the window's second after the settling, up to half a second after it
  // (the receiver plays what was sent at the window's end a little later).
  const timed = timedSnapshots(recvLog);
  const inWindow = timed.filter((x) => x.atMs >= a && x.atMs <= b + 500).map((x) => x.s);
  const before = timed.filter((x) => x.atMs < a).at(-1)?.s;
  const last = inWindow.at(-1);
  const delays = inWindow.map((s) => s.jitterBuffer.delayMs);
  const concealed = (last?.jitterBuffer.concealedMs ?? 0) - (before?.jitterBuffer.concealedMs ?? 0);
  const spanMs = (last === undefined ? 0 : last.tMs) - (before?.tMs ?? 0);
  return {
    speech: r.score,
    mouthToEarMs: r.delayMs + shift,
    bufferMeanMs: delays.reduce((x, y) => x + y, 0) / Math.max(1, delays.length),
    bufferMaxMs: Math.max(0, ...delays),
    lossPct: inWindow.reduce((x, s) => x + s.lossPct, 0) / Math.max(1, inWindow.length),
    concealedPct: spanMs > 0 ? (100 * concealed) / spanMs : 0,
  };
}

test('impairment matrix: 12 network conditions in one relayed call through parloir netem', async (t) => {
  const n = netem;
  assert.ok(n !== undefined);
  const callS = Math.ceil((SCHEDULE_MS + 3000) / 1000);
  const speechA = makeSpeech(
    dir,
    'alice',
    'Alice reads the shipping forecast. Rain later, good, occasionally poor. ' +
      'The birch canoe slid on the smooth planks, and the boat was tied to the old dock. ' +
      'Four hours of steady work faced us, then a long walk home across the fields.',
    callS + 5,
  );
  const speechB = makeSpeech(
    dir,
    'bob',
    'Bob answers from the other end of a bad line. Glue the sheet to the dark blue ' +
      'background. The juice of lemons makes fine punch, and a pot of tea helps to pass ' +
      'the evening. Two blue fish swam in the tank near the window.',
    callS + 5,
  );
  const outA = join(dir, 'a-out.wav');
  const outB = join(dir, 'b-out.wav');
  const { alice, bob } = await answerThenCall({
    common: ['--server', srv.serverArg, '--relay', '--json', '--duration', String(callS)],
    dir,
    bobIn: `wav:${speechB}`,
    bobOut: `wav:${outB}`,
    aliceIn: `wav:${speechA}`,
    aliceOut: `wav:${outA}`,
    timeoutMs: SCHEDULE_MS + 90_000,
  });
  await Promise.all([
    waitForStderr(alice, /connected to bob/),
    waitForStderr(bob, /connected to alice/),
  ]);
  // The schedule is the stimulus, not a wait for something: each step holds its condition for
  // its length on the wall clock, measured from netem's own report of when it applied it.
  const windows: Window[] = [];
  for (const condition of CONDITIONS) {
    const stepStartsMs: number[] = [];
    const c0 = await upCounters(n);
    for (const step of condition.steps) {
      const atMs = await control(n, step.line);
      stepStartsMs.push(atMs);
      await sleep(Math.max(0, atMs + step.ms - Date.now()));
    }
    const c1 = await upCounters(n);
    windows.push({
      condition,
      startMs: stepStartsMs[0] ?? Number.NaN,
      endMs: Date.now(),
      stepStartsMs,
      dropped: c1.dropped - c0.dropped,
      received: c1.received - c0.received,
    });
  }
  await control(n, '');
  const [ra, rb] = await Promise.all([alice.done, bob.done]);
  const both = `alice:\n${ra.stderr}\n--- bob:\n${rb.stderr}`;
  assert.equal(ra.code, 0, both);
  assert.equal(rb.code, 0, both);
  const logPaths = [ra, rb].map((x) => (JSON.parse(x.stdout) as { log: string }).log);
  const [logA, logB] = logPaths.map((p) => parseQosLog(readFileSync(p, 'utf8')));
  const [ca, cb] = logPaths.map((p) => clocksFromLog(p));
  assert.ok(logA !== undefined && logB !== undefined && ca !== undefined && cb !== undefined);
  const refA = loadWav(speechA);
  const refB = loadWav(speechB);
  const recA = readReceived(outA);
  const recB = readReceived(outB);
  const rows = windows.map((w) => ({
    w,
    aToB: measure(w, refA, ca, recB, cb, logB),
    bToA: measure(w, refB, cb, recA, ca, logA),
  }));
  const f = (x: number, d = 0) => x.toFixed(d);
  t.diagnostic(
    '| condition | speech A→B / B→A (floor) | mouth-to-ear ms | buffer mean/max ms A→B · B→A | loss netem / measured A→B / B→A % | concealed % |',
  );
  t.diagnostic('|---|---|---|---|---|---|');
  for (const { w, aToB, bToA } of rows) {
    const applied = (100 * w.dropped) / Math.max(1, w.received);
    t.diagnostic(
      `| ${w.condition.name} | ${f(aToB.speech, 2)} / ${f(bToA.speech, 2)} (≥ ${w.condition.minSpeech}) | ${f(aToB.mouthToEarMs)} / ${f(bToA.mouthToEarMs)} | ${f(aToB.bufferMeanMs)}/${f(aToB.bufferMaxMs)} · ${f(bToA.bufferMeanMs)}/${f(bToA.bufferMaxMs)} | ${f(applied, 1)} / ${f(aToB.lossPct, 1)} / ${f(bToA.lossPct, 1)} | ${f(aToB.concealedPct, 1)} / ${f(bToA.concealedPct, 1)} |`,
    );
  }
  const failures: string[] = [];
  // The call stayed up through all of it: both ends ran to the end of the schedule on the
  // relayed path, and every snapshot's buffer stayed within its bounds (outages aside, see
  // Condition.outageStep).
  const scheduleEnd = windows.at(-1)?.endMs ?? 0;
  const exempt = windows.flatMap((w) => {
    const k = w.condition.outageStep;
    if (k === undefined) return [];
    const from = w.stepStartsMs[k] ?? w.startMs;
    return [{ from, to: (w.stepStartsMs[k + 1] ?? w.endMs) + 1000 }];
  });
  for (const [who, log] of [
    ['alice', logA],
    ['bob', logB],
  ] as const) {
    const timed = timedSnapshots(log);
    const lastAt = timed.at(-1)?.atMs ?? 0;
    if (lastAt < scheduleEnd - 1000) {
      failures.push(`${who}: the last snapshot came before the schedule's end`);
    }
    const paths = [...new Set(log.snapshots.map((s) => s.path))];
    if (paths.join() !== 'relayed') failures.push(`${who}: paths ${paths.join()}`);
    for (const { atMs, s } of timed) {
      if (exempt.some((e) => atMs > e.from && atMs <= e.to)) continue;
      const jb = s.jitterBuffer;
      const { jbMinMs, jbMaxMs } = s.settings;
      if (
        jb.delayMs < 0 ||
        jb.delayMs > jbMaxMs + BOUND_SLACK_MS ||
        jb.targetMs > jbMaxMs + BOUND_SLACK_MS ||
        jb.targetMs < jbMinMs
      ) {
        const w = windows.find((x) => atMs >= x.startMs && atMs < x.endMs + 1000);
        failures.push(
          `${who} at ${s.tMs} ms (${w?.condition.name ?? 'outside the schedule'}): buffer ${jb.delayMs} ms, target ${jb.targetMs} ms, bounds ${jbMinMs}-${jbMaxMs} ms`,
        );
      }
    }
  }
  for (const { w, aToB, bToA } of rows) {
    const c = w.condition;
    for (const [dirName, m] of [
      ['A→B', aToB],
      ['B→A', bToA],
    ] as const) {
      if (!(m.speech >= c.minSpeech)) {
        failures.push(`${c.name} ${dirName}: speech ${f(m.speech, 3)} < ${c.minSpeech}`);
      }
      if (!(m.mouthToEarMs <= MAX_M2E_MS)) {
        failures.push(`${c.name} ${dirName}: mouth-to-ear ${f(m.mouthToEarMs)} ms`);
      }
    }
    // netem applied the loss: within 3σ of the configured rate over the window's datagrams
    // (both peers' media, RTCP and TURN refreshes), σ widened 2.5× for bursts of 3.
    if (c.lossPct !== undefined) {
      const p = c.lossPct / 100;
      const applied = w.dropped / Math.max(1, w.received);
      const sigma = Math.sqrt((p * (1 - p)) / Math.max(1, w.received)) * (c.bursty ? 2.5 : 1);
      if (!(Math.abs(applied - p) <= 3 * sigma)) {
        failures.push(
          `${c.name}: netem dropped ${w.dropped} of ${w.received} (${f(100 * applied, 1)} %)`,
        );
      }
    }
  }
  await t.test(
    `jitter windows reach ${TARGET_JITTER_SPEECH} once the buffer covers the arrivals' 95th percentile`,
    { todo: 'the buffer target stays under the delay spikes of netem jitter (see CONDITIONS)' },
    () => {
      const low = rows
        .filter((r) => r.w.condition.jitter === true)
        .map((r) => `${r.w.condition.name}: ${f(r.aToB.speech, 2)} / ${f(r.bToA.speech, 2)}`);
      assert.ok(
        rows.every(
          (r) =>
            r.w.condition.jitter !== true ||
            Math.min(r.aToB.speech, r.bToA.speech) >= TARGET_JITTER_SPEECH,
        ),
        low.join('; '),
      );
    },
  );
  assert.deepEqual(failures, [], failures.join('\n'));
});
