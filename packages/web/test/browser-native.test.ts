/**
 * Browser ↔ native: a Chromium page (fake microphone fed by an espeak-ng WAV) calls a native
 * `parloir answer` client (werift transport, libopus, our jitter buffer, wav devices paced in
 * real time) through a real server. Both directions are heard, not counted: the native side's
 * output WAV must carry the browser's sentence, and the page's recording of its remote track
 * (audio-recorder.ts) the native side's, each checked with the spectral speech check (heard.ts)
 * and a mouth-to-ear bound from the capture clocks (the page's microphone recording; the native
 * QoS log's device clocks). Both sides must show the same SAS.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { runCli, waitForStderr } from '../../client/test/helpers/cli.ts';
import { applyTestMutation } from '../../client/test/helpers/mutate.ts';
import { speechCheck } from '../../client/test/helpers/speech-check.ts';
import { loadWav, makeSpeech } from '../../client/test/helpers/speech.ts';
import { startRecording, stopRecording, waitForRecorded } from './audio-recorder.ts';
import { checkBrowserSpeech, checkNativeSpeech, describe, nativeClocks } from './heard.ts';
import {
  cleanup,
  connectAs,
  launchChromium,
  newContext,
  startServer,
  tempDir,
  waitForMedia,
  type ServerHandle,
} from './helpers.ts';

/** Length of the page's recording of the native side, ms. */
const TALK_MS = 8000;

let dir = '';
let server: ServerHandle;
let browser: Browser;
let browserSpeech = '';
let nativeSpeech = '';

before(async () => {
  dir = tempDir('native');
  server = await startServer(join(dir, 'data'));
  browserSpeech = makeSpeech(dir, 'browser', 'The browser says: a bright yellow kite flies high.');
  // Long enough to outlast the call: the wav: device plays it once.
  nativeSpeech = makeSpeech(dir, 'native', 'The native client answers: seven silver swans.', 30);
  browser = await launchChromium(browserSpeech);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  cleanup(dir);
});

test('a browser calls a native client: the native output contains the browser speech', async (t) => {
  const out = join(dir, 'native-out.wav');
  const native = runCli(
    [
      'answer',
      '--server',
      server.url,
      '--user',
      'Nadia',
      '--accept-from',
      'Bruno',
      '--json',
      '--host-address',
      '127.0.0.1',
      '--profile',
      join(dir, 'nadia'),
      '--in',
      `wav:${nativeSpeech}`,
      '--out',
      `wav:${out}`,
    ],
    60_000,
  );
  await waitForStderr(native, /waiting for a call/);

  const page = await (await newContext(browser, { recorder: true })).newPage();
  await connectAs(page, server, 'Bruno');
  await page.getByRole('button', { name: 'Call Nadia', exact: true }).click();
  await page.getByTestId('timer').waitFor({ timeout: 20_000 });
  await page.getByTestId('sas').waitFor();
  await waitForMedia(page);
  // The page's microphone is recorded for the whole talk (the clock of what the native side
  // hears), the remote track for TALK_MS (what the page hears).
  const said = await startRecording(page, 'mic');
  const hears = await startRecording(page, 'remote');
  await waitForRecorded(hears, TALK_MS);
  const heardByPage = await stopRecording(hears);
  const sas = await page.getByTestId('sas').textContent();
  // Signals and ICE restarts of the call: a restart here would be a path that failed.
  const debug = await page.evaluate(() =>
    JSON.stringify({ signals: window.parloirDebug?.signals, peer: window.parloirDebug?.peer() }),
  );
  t.diagnostic(`page: ${debug}`);
  await page.getByRole('button', { name: 'Hang up', exact: true }).click();
  const saidByPage = await stopRecording(said);

  const r = await native.done;
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { sas: string; paths: string[]; reason: string };
  assert.equal(summary.sas, sas, 'browser and native show the same verification code');
  assert.deepEqual(summary.paths, ['direct']);

  const clocks = nativeClocks(join(dir, 'nadia'));
  const nativeIn = loadWav(nativeSpeech);
  const pageHears = checkNativeSpeech('page hears native', nativeIn, clocks.captureMs, heardByPage);
  // The native output WAV is what it heard: the test mutation applies here too.
  const nativeOut = {
    samples: applyTestMutation(loadWav(out), 48_000),
    startWallMs: clocks.playbackMs,
  };
  const nativeHears = checkBrowserSpeech(
    'native hears page',
    loadWav(browserSpeech),
    saidByPage,
    nativeOut,
  );
  t.diagnostic(pageHears.summary);
  t.diagnostic(nativeHears.summary);
  assert.ok(pageHears.ok, pageHears.summary);
  assert.ok(nativeHears.ok, nativeHears.summary);
  // The native side hears the page, not its own voice.
  const own = speechCheck(nativeIn, nativeOut.samples, 48_000, { minLagMs: -1000, maxLagMs: 3000 });
  assert.ok(own.score < 0.4, describe('native hears itself', own));
});
