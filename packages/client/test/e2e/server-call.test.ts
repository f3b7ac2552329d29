/**
 * E2E 1: server mode, direct and with --relay. `parloir answer` and `parloir call` run as child
 * processes against a real server (in this process) with real werift, wav devices paced in real
 * time and speech made by espeak-ng, a different sentence each way.
 *
 * What each side heard: the speech check (test/helpers/speech-check.ts, spectral shape per 10 ms
 * frame) of the other side's capture file in its playback recording, with the mouth-to-ear delay
 * from the two processes' device clocks (test/helpers/heard.ts). Thresholds:
 * - "hears the other side": score ≥ {@link HEARS};
 * - "does not hear itself": own speech in own playback within ±1 s (where an echo would be)
 *   scores < {@link ECHO};
 * - mouth-to-ear ≤ {@link MAX_M2E_MS}.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseQosLog } from '../../src/qos-log/qos-log.ts';
import { runCli, waitForStderr } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import {
  clocksFromLog,
  describe,
  echo,
  ECHO,
  HEARS,
  heard,
  MAX_M2E_MS,
  readReceived,
} from '../helpers/heard.ts';
import { assertRelayedCall } from '../helpers/relay-use.ts';
import { loadWav, makeSpeech } from '../helpers/speech.ts';

const CALL_S = 10;

let dir = '';
let srv: TestServer;
let speechA = '';
let speechB = '';
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-e2e1-'));
  srv = await startTestServer({ turn: true });
  speechA = makeSpeech(
    dir,
    'alice',
    'Alice speaks first: the quick brown fox jumps over the lazy dog.',
    CALL_S + 2,
  );
  speechB = makeSpeech(
    dir,
    'bob',
    'Bob replies: seven silver swans swim slowly south at sunset.',
    CALL_S + 2,
  );
});
after(async () => {
  await srv.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Summary {
  reason: string;
  paths: string[];
  sas: string;
  mosMean: number;
  log: string;
}

async function callOnce(tag: string, relay: boolean, diag: (m: string) => void): Promise<void> {
  const common = ['--server', srv.serverArg, '--json', '--host-address', '127.0.0.1'];
  const relayedBefore = srv.relay?.stats().bytesRelayed ?? 0;
  const outA = join(dir, `${tag}-alice-out.wav`);
  const outB = join(dir, `${tag}-bob-out.wav`);
  const bob = runCli([
    'answer',
    ...common,
    '--user',
    `bob${tag}`,
    '--accept-from',
    `alice${tag}`,
    '--profile',
    join(dir, `${tag}-bob`),
    '--in',
    `wav:${speechB}`,
    '--out',
    `wav:${outB}`,
    ...(relay ? ['--relay'] : []),
  ]);
  await waitForStderr(bob, /waiting for a call/);
  const alice = runCli([
    'call',
    ...common,
    '--user',
    `alice${tag}`,
    '--to',
    `bob${tag}`,
    '--duration',
    String(CALL_S),
    '--profile',
    join(dir, `${tag}-alice`),
    '--in',
    `wav:${speechA}`,
    '--out',
    `wav:${outA}`,
    ...(relay ? ['--relay'] : []),
  ]);
  const [ra, rb] = await Promise.all([alice.done, bob.done]);
  assert.equal(ra.code, 0, `alice: ${ra.stderr}`);
  assert.equal(rb.code, 0, `bob: ${rb.stderr}`);
  const sa = JSON.parse(ra.stdout) as Summary;
  const sb = JSON.parse(rb.stdout) as Summary;
  assert.equal(sa.sas, sb.sas, 'both sides show the same verification code');
  assert.deepEqual(sa.paths, [relay ? 'relayed' : 'direct']);
  assert.deepEqual(sb.paths, [relay ? 'relayed' : 'direct']);
  assert.match(sb.reason, /^hangup/);
  const a = loadWav(speechA);
  const b = loadWav(speechB);
  const ca = clocksFromLog(sa.log);
  const cb = clocksFromLog(sb.log);
  const recvA = readReceived(outA);
  const recvB = readReceived(outB);
  const bHearsA = heard(a, recvB, ca.captureMs, cb.playbackMs);
  const aHearsB = heard(b, recvA, cb.captureMs, ca.playbackMs);
  const aHearsA = echo(a, recvA);
  const bHearsB = echo(b, recvB);
  const msg = `${tag}: ${describe('B hears A', bHearsA)}; ${describe('A hears B', aHearsB)}; A hears A ${aHearsA.score.toFixed(3)}, B hears B ${bHearsB.score.toFixed(3)}`;
  diag(msg);
  assert.ok(bHearsA.score >= HEARS, `${msg}\n${ra.stdout}\n${rb.stdout}`);
  assert.ok(aHearsB.score >= HEARS, msg);
  assert.ok(aHearsA.score < ECHO, msg);
  assert.ok(bHearsB.score < ECHO, msg);
  assert.ok(bHearsA.mouthToEarMs <= MAX_M2E_MS, msg);
  assert.ok(aHearsB.mouthToEarMs <= MAX_M2E_MS, msg);
  // The relay, from the server's counter: a relayed call moves both directions through it, a
  // direct one (next to it in time, same server) next to nothing.
  const relayed = (srv.relay?.stats().bytesRelayed ?? 0) - relayedBefore;
  const durationMs = parseQosLog(readFileSync(sa.log, 'utf8')).end?.durationMs ?? 0;
  if (relay) diag(assertRelayedCall(relayed, durationMs, 32_000));
  else assert.ok(relayed < 2000, `direct call, yet ${relayed} bytes relayed`);
  assert.ok(sa.mosMean > 4, `MOS ${sa.mosMean}`);
}

test('server mode, direct: 10 s call, each side hears the other and not itself', async (t) => {
  await callOnce('d', false, (m) => t.diagnostic(m));
});

test('server mode, --relay: 10 s call through the TURN relay', async (t) => {
  await callOnce('r', true, (m) => t.diagnostic(m));
});
