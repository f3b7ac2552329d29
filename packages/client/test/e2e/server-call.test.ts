/**
 * E2E 1: server mode, direct and with --relay. `parloir answer` and `parloir call` run as child
 * processes against a real server (in this process) with real werift, wav devices paced in real
 * time and speech made by espeak-ng, a different sentence each way.
 *
 * Similarity measure: Pearson correlation of the 10 ms RMS envelopes after cross-correlation
 * alignment (test/helpers/similarity.ts). Threshold: ≥ 0.8 for "hears the other side";
 * < 0.5 within ±1 s (where an echo would be) for "does not hear itself".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli, waitForStderr } from '../helpers/cli.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { envelopeSimilarity } from '../helpers/similarity.ts';
import { loadWav, makeSpeech } from '../helpers/speech.ts';

const HEARS = 0.8;
const ECHO = 0.5;
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
  const bHearsA = envelopeSimilarity(a, loadWav(outB));
  const aHearsB = envelopeSimilarity(b, loadWav(outA));
  // An echo of our own voice would come back within a round trip: look within ±1 s.
  const aHearsA = envelopeSimilarity(a, loadWav(outA), 1000);
  const bHearsB = envelopeSimilarity(b, loadWav(outB), 1000);
  const msg = `${tag}: B hears A ${bHearsA.correlation.toFixed(3)}, A hears B ${aHearsB.correlation.toFixed(3)}, A hears A ${aHearsA.correlation.toFixed(3)}, B hears B ${bHearsB.correlation.toFixed(3)}`;
  diag(msg);
  assert.ok(bHearsA.correlation >= HEARS, `${msg}\n${ra.stdout}\n${rb.stdout}`);
  assert.ok(aHearsB.correlation >= HEARS, msg);
  assert.ok(aHearsA.correlation < ECHO, msg);
  assert.ok(bHearsB.correlation < ECHO, msg);
  assert.ok(sa.mosMean > 4, `MOS ${sa.mosMean}`);
}

test('server mode, direct: 10 s call, each side hears the other and not itself', async (t) => {
  await callOnce('d', false, (m) => t.diagnostic(m));
});

test('server mode, --relay: 10 s call through the TURN relay', async (t) => {
  await callOnce('r', true, (m) => t.diagnostic(m));
});
