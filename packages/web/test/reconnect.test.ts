/**
 * Reconnection: the server is killed (SIGKILL) in the middle of a browser-to-browser call. Both
 * pages show the reconnect banner, the direct media path keeps carrying speech while signalling
 * is down, the pages reconnect on their own once the server is back on the same port (banner
 * gone, the other person listed again), and the call is still up, each side hearing the other,
 * until hung up. Speech is recorded in the pages and checked against the sender's file with the
 * speech check and the mouth-to-ear bound (heard.ts), not counted in bytes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { loadWav } from '../../client/test/helpers/speech.ts';
import { startRecording, stopRecording, waitForRecorded } from './audio-recorder.ts';
import { checkBrowserSpeech } from './heard.ts';
import {
  ROOT,
  cleanup,
  connectAs,
  freePort,
  launchChromium,
  newContext,
  screenshot,
  speechWav,
  startServer,
  tempDir,
  waitForMedia,
  type ServerHandle,
} from './helpers.ts';

let dir = '';
let server: ServerHandle | undefined;
let browserA: Browser;
let browserB: Browser;
let wavA = '';
let wavB = '';

/** Length of each recorded stretch, ms (more than one loop of each sentence). */
const TALK_MS = 6000;

/** Records `listener` hearing `speaker` for {@link TALK_MS} and checks it. */
async function hears(
  t: TestContext,
  label: string,
  speaker: Page,
  speakerWav: string,
  listener: Page,
): Promise<void> {
  const said = await startRecording(speaker, 'mic');
  const heard = await startRecording(listener, 'remote');
  await waitForRecorded(heard, TALK_MS);
  const received = await stopRecording(heard);
  const r = checkBrowserSpeech(label, loadWav(speakerWav), await stopRecording(said), received);
  t.diagnostic(r.summary);
  assert.ok(r.ok, r.summary);
}

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.ts'], { cwd: ROOT, stdio: 'pipe' });
  assert.equal(build.status, 0, build.stderr.toString());
  dir = tempDir('reconnect');
  wavA = speechWav(dir, 'amelie', 'Amelie keeps talking while the server restarts.');
  wavB = speechWav(dir, 'basile', 'Basile answers, the call goes on without it.');
  [browserA, browserB] = await Promise.all([launchChromium(wavA), launchChromium(wavB)]);
});

after(async () => {
  await Promise.allSettled([browserA?.close(), browserB?.close()]);
  await server?.stop();
  cleanup(dir);
});

test('a call survives a server restart; the pages reconnect with a banner', async (t) => {
  const port = await freePort();
  const data = join(dir, 'data');
  server = await startServer(data, ['--port', String(port)]);
  const a = await (await newContext(browserA, { recorder: true })).newPage();
  const b = await (await newContext(browserB, { recorder: true })).newPage();
  await connectAs(a, server, 'Amélie');
  await connectAs(b, server, 'Basile');
  await a.getByRole('button', { name: 'Call Basile', exact: true }).click();
  await b.getByRole('dialog').getByRole('button', { name: 'Accept', exact: true }).click();
  await waitForMedia(a);
  await waitForMedia(b);

  server.child.kill('SIGKILL');
  await server.stop();
  server = undefined;
  for (const p of [a, b])
    await p.getByRole('alert').getByText('Connection lost. Reconnecting…').waitFor();
  await screenshot(a, 'reconnecting');
  // Signalling is down; the direct media path still carries speech.
  await hears(t, 'server down: Basile hears Amélie', a, wavA, b);

  server = await startServer(data, ['--port', String(port)]);
  for (const p of [a, b]) {
    await p
      .getByText('Connection lost. Reconnecting…')
      .waitFor({ state: 'detached', timeout: 20_000 });
  }
  await a.locator('[data-person="Basile"]').waitFor();
  await b.locator('[data-person="Amélie"]').waitFor();
  // Still in the call after reconnecting: each side hears the other again.
  await hears(t, 'reconnected: Basile hears Amélie', a, wavA, b);
  await hears(t, 'reconnected: Amélie hears Basile', b, wavB, a);
  await b.getByTestId('timer').waitFor();
  await a.getByRole('button', { name: 'Hang up', exact: true }).click();
  await a.locator('[data-outcome="hangup"]').waitFor();
});
