/**
 * E2E 2: impaired network. Both clients use only relayed candidates, and the TURN URL the server
 * hands out points at `parloir netem`, which forwards to the real relay. Every media packet thus
 * crosses netem twice (caller → relay, relay → callee), so netem impairs each direction with
 * 2.5 % loss and 21 ms Gaussian jitter: the end-to-end path sees 1 − 0.975² ≈ 4.9 % loss and
 * √2 · 21 ≈ 30 ms jitter.
 *
 * Pass, on measurements only (the engine's own MOS is logged, not trusted: its E-model gives
 * 3.1 at 5 % loss even with 300 ms of one-way delay):
 * - the call completes, and the loss each side measures is within ±2 % of 5 %;
 * - concealment (PLC or FEC) shows in the stats, and covers at most {@link MAX_CONCEALED} of
 *   the call (see there);
 * - each side hears the other: speech check ≥ {@link HEARS_IMPAIRED} (see there);
 * - mouth-to-ear from the device clocks ≤ {@link MAX_M2E_IMPAIRED_MS} (see there).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startServer, type RunningServer } from '@parloir/server';
import { createTurnRelay } from '../../../server/src/turn/index.ts';
import { parseQosLog, type ParsedQosLog } from '../../src/qos-log/qos-log.ts';
import { answerThenCall, runCli, waitForOutput, type CliRun } from '../helpers/cli.ts';
import { clocksFromLog, describe, heard, readReceived } from '../helpers/heard.ts';
import { loadWav, makeSpeech } from '../helpers/speech.ts';

/**
 * Speech check floor through 5 % loss and 30 ms jitter. Lost packets are rebuilt by FEC or
 * concealed by PLC (which keeps the spectral shape for a frame or two), so ≈ 5 % of the frames
 * score lower than the clean path's ≈ 0.95 and the jitter buffer time-stretches more: ≈ 0.85
 * expected. 0.7 stays above every 3rd 20 ms frame missing (≈ 0.65 through a call) and far above
 * noise (0.05). Measured so far only at a load average of 25 on 2 cores, where the recordings had
 * 200 ms holes and scored 0.15-0.70 (the old envelope correlation gave the same run 0.44-0.53).
 */
const HEARS_IMPAIRED = 0.7;
/**
 * Ceiling on concealed audio, fraction of the media duration: 5 % of packets lost, of which FEC
 * rebuilds some, plus packets later than the jitter buffer's target under 30 ms jitter. A
 * quarter of the call concealed would be a buffer that does not adapt to the jitter.
 */
const MAX_CONCEALED = 0.15;
/**
 * Mouth-to-ear ceiling, ms: 30 ms jitter makes the jitter buffer hold ≈ 2-3 × the jitter
 * (60-120 ms) on top of the clean path's ≈ 90 ms, and the path crosses netem twice. Measured
 * 213-558 ms at a load average of 25 on 2 cores (buffers at their 400 ms ceiling). Audio 1 s
 * late breaks it.
 */
const MAX_M2E_IMPAIRED_MS = 600;

let dir = '';
let server: RunningServer | undefined;
let relay: Awaited<ReturnType<typeof createTurnRelay>> | undefined;
let netem: CliRun | undefined;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-e2e2-'));
});
after(async () => {
  netem?.child.kill('SIGTERM');
  await netem?.done;
  await server?.close(500);
  await relay?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('5 % loss and 30 ms jitter through parloir netem: the call completes with concealment', async (t) => {
  const ref: { core?: RunningServer['core'] } = {};
  relay = await createTurnRelay({
    listenHost: '127.0.0.1',
    port: 0,
    tcp: false,
    secret: 'e2e-netem-secret',
    calls: { partiesOf: (id) => ref.core?.partiesOf(id) },
  });
  const turnPort = relay.port;
  netem = runCli(
    [
      'netem',
      '--listen',
      '127.0.0.1:0',
      '--to',
      `127.0.0.1:${turnPort}`,
      '--loss',
      '2.5%',
      '--jitter',
      '21ms',
      '--seed',
      // Fixed for reproducible loss decisions; PARLOIR_E2E_NETEM_SEED lets a loop try others.
      process.env.PARLOIR_E2E_NETEM_SEED ?? '7',
      // DTLS handshake records are impaired like everything else: transport/werift-dtls-fix.ts
      // makes werift's handshake survive their loss (docs/engine.md, "Known limitations").
    ],
    150_000,
  );
  const netemPort = (await waitForOutput(netem, /parloir netem: 127\.0\.0\.1:(\d+)/))[1] ?? '';
  const r = relay;
  server = await startServer({
    bind: '127.0.0.1',
    port: 0,
    dataDir: join(dir, 'data'),
    insecureHttp: true,
    logLevel: 'silent',
    webRoot: null,
    relay: {
      relayOnly: false,
      callEnded: (id) => r.callEnded(id),
      iceServersFor: (callId, userId, now) =>
        r.iceServersFor(callId, userId, now).map((s) => ({
          ...s,
          urls: s.urls.map((u) => u.replace(`:${turnPort}`, `:${netemPort}`)),
        })),
    },
  });
  ref.core = server.core;
  const srvArg = `http://127.0.0.1:${server.port}`;
  const speechA = makeSpeech(
    dir,
    'a',
    'Even on a bad network, Alice keeps talking about her garden.',
    12,
  );
  const speechB = makeSpeech(
    dir,
    'b',
    'Bob answers that tomatoes need a lot of sun and water.',
    12,
  );
  const outA = join(dir, 'a-out.wav');
  const outB = join(dir, 'b-out.wav');
  // 10 ms frames: ~1000 packets each way, so the measured loss is within ±0.7 % (1σ) of the truth.
  const common = ['--server', srvArg, '--relay', '--json', '--duration', '10', '--frame-ms', '10'];
  const { alice, bob } = await answerThenCall({
    common,
    dir,
    bobIn: `wav:${speechB}`,
    bobOut: `wav:${outB}`,
    aliceIn: `wav:${speechA}`,
    aliceOut: `wav:${outA}`,
  });
  const [ra, rb] = await Promise.all([alice.done, bob.done]);
  const both = `alice:\n${ra.stderr}\n--- bob:\n${rb.stderr}`;
  assert.equal(ra.code, 0, both);
  assert.equal(rb.code, 0, both);
  const logPaths = [ra, rb].map((x) => (JSON.parse(x.stdout) as { log: string }).log);
  const logs: [string, ParsedQosLog][] = logPaths.map((path, i) => [
    i === 0 ? 'alice' : 'bob',
    parseQosLog(readFileSync(path, 'utf8')),
  ]);
  for (const [who, log] of logs) {
    const last = log.snapshots.at(-1);
    assert.ok(last !== undefined && log.snapshots.length >= 8, `${who}: snapshots`);
    assert.deepEqual([...new Set(log.snapshots.map((s) => s.path))], ['relayed']);
    const loss = last.cumulativeLossPct;
    assert.ok(loss >= 3 && loss <= 7, `${who}: measured loss ${loss} %`);
    const jb = last.jitterBuffer;
    assert.ok(jb.concealedMs > 0 || jb.fecRecovered > 0, `${who}: no concealment in stats`);
    const durationMs = log.end?.durationMs ?? 0;
    const concealed = jb.concealedMs / durationMs;
    // Reported, not asserted: the engine's own E-model (see the header).
    const mos = log.snapshots.slice(2).map((s) => s.mos);
    const mean = mos.reduce((a, b) => a + b, 0) / mos.length;
    t.diagnostic(
      `${who}: loss ${loss} %, jitter ${last.jitterMs} ms, concealed ${jb.concealedMs} ms (${(100 * concealed).toFixed(1)} %), FEC ${jb.fecRecovered}, late ${jb.latePackets}, buffer ${jb.delayMs} ms, engine MOS ${mean.toFixed(2)}`,
    );
    assert.ok(
      concealed <= MAX_CONCEALED,
      `${who}: concealed ${jb.concealedMs} of ${durationMs} ms`,
    );
  }
  const [ca, cb] = logPaths.map((p) => clocksFromLog(p));
  assert.ok(ca !== undefined && cb !== undefined);
  const bHearsA = heard(loadWav(speechA), readReceived(outB), ca.captureMs, cb.playbackMs);
  const aHearsB = heard(loadWav(speechB), readReceived(outA), cb.captureMs, ca.playbackMs);
  const msg = `${describe('B hears A', bHearsA)}; ${describe('A hears B', aHearsB)}`;
  t.diagnostic(msg);
  assert.ok(bHearsA.score >= HEARS_IMPAIRED, msg);
  assert.ok(aHearsB.score >= HEARS_IMPAIRED, msg);
  assert.ok(bHearsA.mouthToEarMs <= MAX_M2E_IMPAIRED_MS, msg);
  assert.ok(aHearsB.mouthToEarMs <= MAX_M2E_IMPAIRED_MS, msg);
});
