/**
 * Relay only: the browser-to-browser call still works when the server hands out only our built-in
 * TURN relay and `relayOnly` (ICE transport policy "relay"). The UI must show the relayed path,
 * each page must hear the other's sentence through it (recorded sample by sample, checked with the
 * speech check and the mouth-to-ear bound, see heard.ts), and the relay's own counters must show
 * the packets went through it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { startServer, type RunningServer } from '@parloir/server';
import { createTurnRelay, type TurnRelay } from '../../server/src/turn/index.ts';
import type { Browser } from 'playwright-core';
import {
  ROOT,
  cleanup,
  connectAs,
  launchChromium,
  mediaCounters,
  newContext,
  rates,
  screenshot,
  speechWav,
  tempDir,
  waitForMedia,
} from './helpers.ts';
import { loadWav } from '../../client/test/helpers/speech.ts';
import { startRecording, stopRecording, waitForRecorded } from './audio-recorder.ts';
import { checkBrowserSpeech } from './heard.ts';

let dir = '';
let server: RunningServer | undefined;
let relay: TurnRelay;
let browserA: Browser;
let browserB: Browser;
let wavA = '';
let wavB = '';

/** Length of each recorded direction, ms (two loops of each sentence). */
const TALK_MS = 7000;

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.ts'], { cwd: ROOT, stdio: 'pipe' });
  assert.equal(build.status, 0, build.stderr.toString());
  dir = tempDir('relay');
  relay = await createTurnRelay({
    listenHost: '127.0.0.1',
    port: 0,
    secret: 'relay-only-test-secret',
    // The server is created after the relay; the directory asks it once it exists.
    calls: { partiesOf: (callId) => server?.core.partiesOf(callId) },
    allowLoopbackPeers: true,
    relayOnly: true,
  });
  server = await startServer({
    bind: '127.0.0.1',
    port: 0,
    insecureHttp: true,
    dataDir: `${dir}/data`,
    logLevel: 'warn',
    relay,
  });
  // One fake microphone per browser instance: each side says its own sentence.
  wavA = speechWav(dir, 'ana', 'Ana speaking through the relay: one two three four.');
  wavB = speechWav(dir, 'ben', 'Ben replies over the same relay, five six seven.');
  [browserA, browserB] = await Promise.all([launchChromium(wavA), launchChromium(wavB)]);
});

after(async () => {
  await Promise.allSettled([browserA?.close(), browserB?.close()]);
  await server?.close(500);
  await relay?.close();
  cleanup(dir);
});

test('a browser-to-browser call goes through the TURN relay with --relay-only', async (t) => {
  assert.ok(server);
  const target = { url: server.httpUrl, hostPort: `127.0.0.1:${server.port}` };
  const a = await (await newContext(browserA, { recorder: true })).newPage();
  const b = await (await newContext(browserB, { recorder: true })).newPage();
  await connectAs(a, target, 'Ana');
  await connectAs(b, target, 'Ben');
  await a.getByRole('button', { name: 'Call Ben', exact: true }).click();
  await b.getByRole('dialog').getByRole('button', { name: 'Accept', exact: true }).click();
  for (const p of [a, b]) {
    await p.getByTestId('timer').waitFor({ timeout: 20_000 });
    await p.getByTestId('path').getByText('Relayed').waitFor();
  }
  const a0 = await waitForMedia(a);
  const b0 = await waitForMedia(b);
  const before = relay.stats().packetsRelayed;
  const anaMic = await startRecording(a, 'mic');
  const benMic = await startRecording(b, 'mic');
  const anaHears = await startRecording(a, 'remote');
  const benHears = await startRecording(b, 'remote');
  await waitForRecorded(anaHears, TALK_MS);
  await waitForRecorded(benHears, TALK_MS);
  const heardByAna = await stopRecording(anaHears);
  const heardByBen = await stopRecording(benHears);
  const benToAna = checkBrowserSpeech(
    'Ana hears Ben',
    loadWav(wavB),
    await stopRecording(benMic),
    heardByAna,
  );
  const anaToBen = checkBrowserSpeech(
    'Ben hears Ana',
    loadWav(wavA),
    await stopRecording(anaMic),
    heardByBen,
  );
  t.diagnostic(benToAna.summary);
  t.diagnostic(anaToBen.summary);
  assert.ok(benToAna.ok, benToAna.summary);
  assert.ok(anaToBen.ok, anaToBen.summary);
  const a1 = await mediaCounters(a);
  const b1 = await mediaCounters(b);
  assert.ok(a1 && b1);
  assert.equal(a1.path, 'relay');
  // ~50 packets/s each way at 20 ms frames, over the interval the pages measured.
  const seconds = Math.min(rates(a0, a1).intervalMs, rates(b0, b1).intervalMs) / 1000;
  const relayed = relay.stats().packetsRelayed - before;
  assert.ok(relayed > 2 * 35 * seconds, `the relay forwarded ${relayed} packets in ${seconds} s`);
  await screenshot(a, 'relay-in-call');
  await a.getByRole('button', { name: 'Hang up', exact: true }).click();
  await b.locator('[data-outcome="hangup"]').waitFor();
});
