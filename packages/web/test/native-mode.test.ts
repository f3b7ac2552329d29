/**
 * Native mode: `parloir connect --ui` serves the built UI next to its control API; a page opened
 * with `#native=<token>` drives the native engine (wav devices here) through the same
 * SessionBinding as browser mode. A browser-mode page calls the native user; the native-mode page
 * shows the incoming call, accepts it, and shows the call with the engine's SAS, path and QoS
 * charts; each side hears the other (the native engine's output WAV read back and checked
 * against the page's sentence, the page's recording of the native side against the native input,
 * with the speech check and the mouth-to-ear bound of heard.ts); the browser side's signalling is
 * cut and the native-mode page shows him reconnecting, then back; chat goes both ways; the
 * browser side hangs up.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { runCli, type CliRun } from '../../client/test/helpers/cli.ts';
import { applyTestMutation } from '../../client/test/helpers/mutate.ts';
import { loadWav, makeSpeech } from '../../client/test/helpers/speech.ts';
import { startRecording, stopRecording, waitForRecorded } from './audio-recorder.ts';
import { checkBrowserSpeech, checkNativeSpeech, nativeClocks, type NativeClocks } from './heard.ts';
import { SignallingCut } from './signalling-cut.ts';
import {
  cleanup,
  connectAs,
  launchChromium,
  newContext,
  screenshot,
  startServer,
  tempDir,
  waitForMedia,
  type ServerHandle,
} from './helpers.ts';

let dir = '';
let server: ServerHandle;
let browser: Browser;
let native: CliRun | undefined;
let webSpeech = '';

/** Length of the browser page's recording of the native side, ms. */
const TALK_MS = 6000;

before(async () => {
  dir = tempDir('native-ui');
  server = await startServer(join(dir, 'data'));
  webSpeech = makeSpeech(dir, 'web', 'The web page is talking to the native client now.');
  browser = await launchChromium(webSpeech);
});

after(async () => {
  native?.child.kill('SIGTERM');
  await native?.done;
  await browser?.close();
  await server?.stop();
  cleanup(dir);
});

/** Resolves when the child prints a line matching `re` (rejects on exit or after `timeoutMs`). */
function waitForStdout(run: CliRun, re: RegExp, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      run.child.stdout?.off('data', onData);
      run.child.off('exit', onExit);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onData = (d: Buffer) => {
      out += d.toString('utf8');
      if (re.test(out)) done();
    };
    const onExit = () => done(new Error(`exited before ${re}: ${out}`));
    const timer = setTimeout(
      () => done(new Error(`no ${re} in ${timeoutMs} ms: ${out}`)),
      timeoutMs,
    );
    run.child.stdout?.on('data', onData);
    run.child.once('exit', onExit);
  });
}

/** Waits until the native side's call log has its end record (written at hang-up). */
async function waitForCallLog(profile: string, timeoutMs = 10_000): Promise<NativeClocks> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      return nativeClocks(profile);
    } catch (err) {
      if (Date.now() > end) throw err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('a native client driven from the UI (native mode) answers a browser call', async (t) => {
  const profile = join(dir, 'nora');
  const speech = makeSpeech(dir, 'nora', 'Native speaking through the jitter buffer.', 40);
  native = runCli(
    [
      'connect',
      '--ui',
      '--server',
      server.url,
      '--user',
      'Nora',
      '--profile',
      profile,
      '--host-address',
      '127.0.0.1',
      '--in',
      `wav:${speech}`,
      '--out',
      `wav:${join(dir, 'nora-out.wav')}`,
    ],
    90_000,
  );
  const run = native;
  await waitForStdout(run, /web UI: http:\/\/127\.0\.0\.1:\d+/).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${run.stderr()}`);
  });
  const control = JSON.parse(readFileSync(join(profile, 'control.json'), 'utf8')) as {
    url: string;
    token: string;
  };

  const nora = await (await newContext(browser)).newPage();
  await nora.goto(`${control.url}/#native=${control.token}`);
  await nora.getByRole('region', { name: 'People' }).waitFor();
  assert.equal(await nora.getByText('Native client').count(), 1);

  const bruno = await (await newContext(browser, { recorder: true })).newPage();
  const brunoWire = await SignallingCut.on(bruno);
  await connectAs(bruno, server, 'Bruno');
  await nora.getByRole('button', { name: 'Call Bruno', exact: true }).waitFor();
  await bruno.getByRole('button', { name: 'Call Nora', exact: true }).click();

  const dialog = nora.getByRole('dialog');
  await dialog.getByText('Bruno is calling you').waitFor();
  await dialog.getByRole('button', { name: 'Accept', exact: true }).click();
  for (const p of [nora, bruno]) await p.getByTestId('timer').waitFor({ timeout: 20_000 });
  await nora.getByTestId('sas').waitFor();
  await bruno.getByTestId('sas').waitFor();
  assert.equal(
    await nora.getByTestId('sas').textContent(),
    await bruno.getByTestId('sas').textContent(),
  );
  // The engine's once-a-second QoS feeds the charts (MOS value shown).
  await nora
    .locator('[data-series="mos"] strong')
    .filter({ hasText: /\d\.\d\d/ })
    .waitFor();
  await nora.getByText('Call settings').click();
  await screenshot(nora, 'native-in-call');

  // Talk: the page records its microphone (the clock of what the native side hears) and the
  // native side's audio.
  await waitForMedia(bruno);
  const said = await startRecording(bruno, 'mic');
  const hears = await startRecording(bruno, 'remote');
  await waitForRecorded(hears, TALK_MS);
  const heardByBruno = await stopRecording(hears);
  const brunoBufferMs = await bruno.evaluate(
    () => window.parloirDebug?.lastStats?.sample.bufferDelayMs ?? null,
  );
  const saidByBruno = await stopRecording(said);

  // Bruno's signalling drops mid-call (issue 21 §5): the native-mode page shows that he is
  // reconnecting (the control API relays the session's peerReconnecting), and clears it when he
  // re-attaches; the chat below needs his signalling back.
  await brunoWire.cut();
  const notice = nora.getByTestId('peer-reconnecting');
  await notice.getByText('Bruno is reconnecting… (the call is kept for 30 s)').waitFor();
  brunoWire.restore();
  await notice.waitFor({ state: 'detached', timeout: 30_000 });

  await bruno.getByRole('button', { name: 'Chat with Nora' }).click();
  await bruno.getByRole('textbox', { name: 'Message', exact: true }).fill('Hello native');
  await bruno.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
  await nora.getByLabel('1 unread').waitFor();
  await nora.getByRole('button', { name: 'Chat with Bruno' }).click();
  await nora.getByText('Hello native').waitFor();
  await nora.getByRole('textbox', { name: 'Message', exact: true }).fill('Hello browser');
  await nora.getByRole('button', { name: 'Send', exact: true }).click();
  await bruno.getByText('Hello browser').waitFor();

  await bruno.getByRole('button', { name: 'Hang up', exact: true }).click();
  await nora.getByRole('button', { name: 'Hang up', exact: true }).waitFor({ state: 'detached' });
  await nora.locator('[data-outcome="hangup"]').waitFor();

  // The engine's output WAV, read back: it carries the page's sentence (test mutation applied
  // here, where it is read).
  const clocks = await waitForCallLog(profile);
  const noraOut = {
    samples: applyTestMutation(loadWav(join(dir, 'nora-out.wav')), 48_000),
    startWallMs: clocks.playbackMs,
  };
  const noraHears = checkBrowserSpeech(
    'Nora hears Bruno',
    loadWav(webSpeech),
    saidByBruno,
    noraOut,
  );
  const brunoHears = checkNativeSpeech(
    'Bruno hears Nora',
    loadWav(speech),
    clocks.captureMs,
    heardByBruno,
  );
  t.diagnostic(noraHears.summary);
  t.diagnostic(brunoHears.summary);
  t.diagnostic(
    `Chromium's own jitter-buffer delay (mean since the call began): ${brunoBufferMs} ms`,
  );
  assert.ok(noraHears.ok, noraHears.summary);
  assert.ok(brunoHears.ok, brunoHears.summary);
});
