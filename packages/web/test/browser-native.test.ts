/**
 * Browser ↔ native: a Chromium page (fake microphone fed by an espeak-ng WAV) calls a native
 * `parloir answer` client (werift transport, libopus, our jitter buffer, wav devices paced in
 * real time) through a real server. The native side's output WAV must contain the browser's
 * speech, the browser must receive the native side's audio, and both must show the same SAS.
 *
 * Similarity measure (shared with the native e2e tests, packages/client/test/helpers): Pearson
 * correlation of 10 ms RMS envelopes at the best lag within ±3 s. Threshold ≥ 0.6: the browser's
 * capture path applies echo cancellation, noise suppression and AGC, which reshape the envelope
 * more than the native path does; a different sentence scores far lower (checked below).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { runCli, waitForStderr } from '../../client/test/helpers/cli.ts';
import { envelope, envelopeSimilarity } from '../../client/test/helpers/similarity.ts';
import { loadWav, makeSpeech } from '../../client/test/helpers/speech.ts';
import {
  cleanup,
  connectAs,
  launchChromium,
  mediaCounters,
  newContext,
  startServer,
  tempDir,
  waitForMedia,
  type ServerHandle,
} from './helpers.ts';

const HEARS = 0.6;
const TALK_MS = 5000;

let dir = '';
let server: ServerHandle;
let browser: Browser;
let browserSpeech = '';
let nativeSpeech = '';

before(async () => {
  dir = tempDir('native');
  server = await startServer(join(dir, 'data'));
  browserSpeech = makeSpeech(dir, 'browser', 'The browser says: a bright yellow kite flies high.');
  nativeSpeech = makeSpeech(dir, 'native', 'The native client answers: seven silver swans.', 12);
  browser = await launchChromium(browserSpeech);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  cleanup(dir);
});

/** Drops the silence before the first audible 10 ms window (before media came up). */
function trimLeadingSilence(pcm: Int16Array): Int16Array {
  const env = envelope(pcm);
  const first = env.findIndex((v) => v > 200);
  return first < 0 ? pcm : pcm.subarray(first * 480);
}

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

  const page = await (await newContext(browser)).newPage();
  await connectAs(page, server, 'Bruno');
  await page.getByRole('button', { name: 'Call Nadia', exact: true }).click();
  await page.getByTestId('timer').waitFor({ timeout: 20_000 });
  await page.getByTestId('sas').waitFor();
  const c0 = await waitForMedia(page);
  await page.waitForTimeout(TALK_MS);
  const c1 = await mediaCounters(page);
  const sas = await page.getByTestId('sas').textContent();
  await page.getByRole('button', { name: 'Hang up', exact: true }).click();

  const r = await native.done;
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { sas: string; paths: string[]; reason: string };
  assert.equal(summary.sas, sas, 'browser and native show the same verification code');
  assert.deepEqual(summary.paths, ['direct']);

  assert.ok(c1);
  assert.ok(c1.bytesReceived - c0.bytesReceived > 8000, 'the browser receives the native audio');

  const heard = trimLeadingSilence(loadWav(out));
  const fromBrowser = envelopeSimilarity(loadWav(browserSpeech), heard);
  const notNative = envelopeSimilarity(loadWav(nativeSpeech), heard);
  const msg = `native hears browser ${fromBrowser.correlation.toFixed(3)}, native hears itself ${notNative.correlation.toFixed(3)}`;
  t.diagnostic(msg);
  assert.ok(fromBrowser.correlation >= HEARS, msg);
  assert.ok(notNative.correlation < fromBrowser.correlation - 0.2, msg);
});
