/**
 * Stage two in the native app's window (issue 19 must-show 1, client mode and trust), driven as
 * a person would in Debian's Chromium: `parloir app` on wav: devices; the server's address is
 * typed into the window. The server speaks TLS with its own certificate: the first connection
 * shows the certificate's fingerprint (the server's own) and connects only once it is trusted.
 * The app calls a native peer (`parloir answer`), they talk (the speech check of the peer's
 * output file against the app's input ≥ 0.8), the app hangs up, and the call appears in the
 * call history from the server's records, with a call-back button. The app's capture is an ALSA
 * `file`-plugin PCM (micA) reading a pipe that speaks one sentence; half-way through the call
 * the in-call settings switch it to micB (another sentence) without dropping the call, and the
 * far end hears micA's sentence before and micB's after (speech check ≥ 0.8). Also half-way the
 * output volume slider goes to 50 %: the engine's played level (the app's output file, a steady
 * tone from the peer) drops by 6 dB ± 1. Then the server comes back
 * on the same address with another certificate: the app's connection is blocked with a warning
 * naming both fingerprints, and goes through only when the person says they know. Screenshots
 * of the connect screen and the history, in English and French at 360 px and desktop width, go
 * to docs/img/.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startServer, type RunningServer } from '@parloir/server';
import type { Browser, Page } from 'playwright-core';
import { runCli, type CliRun } from '../../client/test/helpers/cli.ts';
import {
  clocksFromLog,
  describe,
  HEARS,
  heard,
  readReceived,
} from '../../client/test/helpers/heard.ts';
import { loadWav, makeSpeech } from '../../client/test/helpers/speech.ts';
import { t as tr } from '../src/i18n.ts';
import {
  alsaMicConfig,
  callLog,
  docShots,
  pipeMicrophone,
  startApp,
  stopApp,
  type AppRun,
  type PipeMicrophone,
} from './app-helpers.ts';
import { cleanup, launchChromium, newContext, tempDir } from './helpers.ts';

let dir = '';
let browser: Browser;
let server: RunningServer | undefined;
let app: AppRun | undefined;
const children: CliRun[] = [];
const mics: PipeMicrophone[] = [];

before(async () => {
  dir = tempDir('app-client');
  browser = await launchChromium();
});

after(async () => {
  for (const c of children) c.child.kill('SIGKILL');
  for (const m of mics) m.stop();
  await stopApp(app);
  await server?.close(500);
  await browser?.close();
  cleanup(dir);
});

function tlsServer(dataDir: string, port = 0): Promise<RunningServer> {
  return startServer({ bind: '127.0.0.1', port, dataDir, logLevel: 'silent' });
}

/** Waits until the page's call timer shows at least `seconds`. */
async function timerAt(page: Page, seconds: number): Promise<void> {
  await page.waitForFunction(
    (s) => {
      const text = document.querySelector('[data-testid="timer"]')?.textContent ?? '';
      const m = /(\d+):(\d+)/.exec(text);
      return m !== null && Number(m[1]) * 60 + Number(m[2]) >= s;
    },
    seconds,
    { timeout: 60_000, polling: 200 },
  );
}

/** Level of each 100 ms block with sound (above −50 dBFS), dBFS. */
function blockLevels(samples: Int16Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4800 <= samples.length; i += 4800) {
    let sum = 0;
    for (let j = i; j < i + 4800; j++) sum += (samples[j] ?? 0) ** 2;
    const db = 10 * Math.log10(sum / 4800 / 32768 ** 2 + 1e-12);
    if (db > -50) out.push(db);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? Number.NaN;
}

/** Types the server and the name into the connect screen and clicks Connect. */
async function connect(page: Page, address: string, name: string): Promise<void> {
  await page.getByLabel('Server', { exact: true }).fill(address);
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
}

test('the app connects to a typed server after trusting its certificate, calls, finds the call in its history; a changed certificate blocks', async (t) => {
  server = await tlsServer(join(dir, 'data1'));
  const fingerprint = server.fingerprint ?? '';
  assert.match(fingerprint, /^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/);
  const address = `127.0.0.1:${server.port}`;
  // Two microphones on real libasound: ALSA file-plugin PCMs micA and micB reading named pipes
  // that speak two different sentences in real time (app-helpers.ts).
  const speechA = makeSpeech(
    dir,
    'mic-a',
    'The first microphone says the birch canoe slid on the planks.',
    40,
  );
  const speechB = makeSpeech(
    dir,
    'mic-b',
    'Now the second microphone: glue the sheet to the dark blue background.',
    40,
  );
  const micA = pipeMicrophone(join(dir, 'mic-a.fifo'), loadWav(speechA));
  const micB = pipeMicrophone(join(dir, 'mic-b.fifo'), loadWav(speechB));
  mics.push(micA, micB);
  const appProfile = join(dir, 'app');
  process.env.ALSA_CONFIG_PATH = alsaMicConfig(dir, { micA: micA.path, micB: micB.path });
  try {
    app = await startApp([
      'app',
      '--profile',
      appProfile,
      '--in',
      'alsa:micA',
      '--out',
      `wav:${join(dir, 'app-out.wav')}`,
      '--host-address',
      '127.0.0.1',
    ]);
  } finally {
    delete process.env.ALSA_CONFIG_PATH;
  }
  await docShots(browser, app.url, 'connect', (p, lang) =>
    p.getByRole('button', { name: tr(lang, 'hostCall') }).waitFor(),
  );

  // Bruno, a native peer on the same server, answers the first call; he sends a steady tone, so
  // the app's played level is the same before and after the volume change but for the volume.
  const tone = join(dir, 'tone.wav');
  execFileSync('sox', [
    '-V1',
    '-n',
    '-r',
    '48000',
    '-c',
    '1',
    '-b',
    '16',
    tone,
    'synth',
    '30',
    'sine',
    '440',
    'vol',
    '0.3',
  ]);
  const brunoProfile = join(dir, 'bruno');
  const bruno = runCli(
    [
      'answer',
      '--server',
      `https://${address}`,
      '--user',
      'Bruno',
      '--accept-all',
      '--profile',
      brunoProfile,
      '--host-address',
      '127.0.0.1',
      '--in',
      `wav:${tone}`,
      '--out',
      `wav:${join(dir, 'bruno-out.wav')}`,
    ],
    150_000,
  );
  children.push(bruno);

  // First connection: the fingerprint is shown; nothing connects until it is trusted.
  const page = await (await newContext(browser)).newPage();
  await page.goto(app.url);
  // "Test my microphone and speaker" before connecting: micA's speech recorded and played back.
  await page.getByRole('button', { name: 'Test my microphone and speaker' }).click();
  const tested = page.locator('[data-device-test]');
  await tested.getByText(/^Played back/).waitFor({ timeout: 20_000 });
  const peak = Number(/(-?\d+) dBFS/.exec((await tested.textContent()) ?? '')?.[1]);
  t.diagnostic(`microphone test: loudest moment ${peak} dBFS`);
  assert.ok(peak > -30, `microphone test peak ${peak} dBFS`);
  await connect(page, address, 'Alice');
  const firstUse = page.locator('[data-trust="new"]');
  assert.equal(await firstUse.locator('code').textContent(), fingerprint);
  assert.equal(await page.getByRole('region', { name: 'People' }).count(), 0);
  await firstUse.getByRole('button', { name: 'Trust this certificate and connect' }).click();
  await page.getByRole('region', { name: 'People' }).waitFor({ timeout: 20_000 });

  // Call Bruno, talk; half-way the capture switches to micB and the volume goes to 50 %.
  await page.getByRole('button', { name: 'Call Bruno', exact: true }).click();
  await page.getByTestId('sas').waitFor({ timeout: 30_000 });
  const upAtMs = Date.now();
  await timerAt(page, 5);
  // The microphone meter follows the engine's capture (speech at about −10 dBFS peaks).
  const meter = page.getByRole('meter', { name: 'Microphone level' });
  await page.waitForFunction(
    () =>
      Number(document.querySelector('[role="meter"]')?.getAttribute('aria-valuenow') ?? -99) > -40,
    undefined,
    { timeout: 10_000, polling: 200 },
  );
  t.diagnostic(`microphone meter: ${await meter.getAttribute('aria-valuenow')} dBFS`);
  await page.getByLabel('Output volume').fill('50');
  await page.getByText('Call settings').click();
  const switchAtMs = Date.now();
  await page.getByLabel('Microphone (ALSA)').selectOption('alsa:micB');
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll<HTMLSelectElement>('.settings select')].some(
        (el) => el.value === 'alsa:micB',
      ),
    undefined,
    { timeout: 10_000, polling: 100 },
  );
  await timerAt(page, 11);
  // The far end's speech is judged up to here; the screenshots' page loads come after.
  const hangUpAtMs = Date.now();
  await docShots(browser, app.url, 'in-call-devices', async (p, lang) => {
    await p.getByText(tr(lang, 'settings')).click();
    await p.getByRole('meter').waitFor();
    await p.getByLabel(tr(lang, 'alsaCapture')).scrollIntoViewIfNeeded();
  });
  await page.getByRole('button', { name: 'Hang up', exact: true }).click();
  // The call was never dropped: one call, one log, still up until the hang-up (the page shows
  // the outcome once the engine has stopped: wait for it, then count).
  await page.locator('[data-outcome="hangup"]').first().waitFor({ timeout: 15_000 });
  assert.equal(await page.locator('[data-outcome="hangup"]').count(), 1);
  const rb = await bruno.done;
  assert.equal(rb.code, 0, rb.stderr);

  // The call is in the history, from the server's records, with a call-back button.
  const history = page.getByRole('group', { name: 'Call history' });
  await history.locator('summary').click();
  const row = history.locator('[data-call="Bruno"]');
  await row.getByText(/Outgoing/).waitFor();
  assert.equal(await row.getAttribute('data-missed'), 'false');
  await row.getByRole('button', { name: 'Call Bruno back' }).waitFor();
  await docShots(browser, app.url, 'history', async (p, lang) => {
    await p.locator('details.history summary').click();
    await p.locator('[data-call="Bruno"]').waitFor();
    await p.getByText(tr(lang, 'outgoingCall'), { exact: false }).first().waitFor();
  });

  // Bruno heard micA's sentence before the switch and micB's after it (his output file against
  // each pipe's speech on its wall clock; 1.5 s after each change left out while the jitter
  // buffer absorbs the new pipe's backlog).
  const bc = clocksFromLog(await callLog(brunoProfile));
  const out = readReceived(join(dir, 'bruno-out.wav'));
  const at = (unixMs: number): number => Math.max(0, Math.round((unixMs - bc.playbackMs) * 48));
  const segment = (fromMs: number, toMs: number) => ({
    pcm: out.subarray(at(fromMs), at(toMs)),
    playbackMs: bc.playbackMs + at(fromMs) / 48,
  });
  const before = segment(upAtMs + 1500, switchAtMs - 300);
  const after = segment(switchAtMs + 1500, hangUpAtMs);
  const hearsA = heard(loadWav(speechA), before.pcm, micA.startMs, before.playbackMs);
  const hearsB = heard(loadWav(speechB), after.pcm, micB.startMs, after.playbackMs);
  const afterAsA = heard(loadWav(speechA), after.pcm, micA.startMs, after.playbackMs);
  t.diagnostic(describe('Bruno hears micA before the switch', hearsA));
  t.diagnostic(describe('Bruno hears micB after the switch', hearsB));
  t.diagnostic(`micA's sentence after the switch scores ${afterAsA.score.toFixed(3)}`);
  assert.ok(hearsA.score >= HEARS, describe('micA before', hearsA));
  assert.ok(hearsB.score >= HEARS, describe('micB after', hearsB));
  assert.ok(afterAsA.score < hearsB.score - 0.3, 'after the switch Bruno hears micB, not micA');

  // Volume 50 %: the tone the app played is 6 dB lower after the change (a stretch of the
  // blocks with sound before it against the last quarter; the change came near the middle).
  const levels = blockLevels(readReceived(join(dir, 'app-out.wav')));
  assert.ok(levels.length >= 50, `only ${levels.length} blocks with sound`);
  const beforeLevel = median(
    levels.slice(Math.round(levels.length * 0.1), Math.round(levels.length / 3)),
  );
  const afterLevel = median(levels.slice(Math.round(levels.length * 0.75)));
  const drop = beforeLevel - afterLevel;
  t.diagnostic(
    `volume 50 %: played ${beforeLevel.toFixed(2)} → ${afterLevel.toFixed(2)} dBFS (−${drop.toFixed(2)} dB)`,
  );
  assert.ok(
    Math.abs(drop - 6.02) <= 1,
    `volume 50 % lowered the played level by ${drop.toFixed(2)} dB`,
  );

  // The same address with another certificate: blocked, with a warning naming both.
  await page.getByRole('button', { name: 'Disconnect' }).click();
  await page.getByRole('button', { name: 'Connect', exact: true }).waitFor();
  const port = server.port;
  await server.close(500);
  server = await tlsServer(join(dir, 'data2'), port);
  assert.notEqual(server.fingerprint, fingerprint);
  await connect(page, address, 'Alice');
  const changed = page.locator('[data-trust="changed"]');
  await changed.getByText(`Warning: the certificate of ${address} has changed!`).waitFor();
  assert.deepEqual(await changed.locator('code').allTextContents(), [
    fingerprint,
    server.fingerprint,
  ]);
  assert.equal(await page.getByRole('region', { name: 'People' }).count(), 0);
  await changed.getByRole('button', { name: 'I know it changed: connect anyway' }).click();
  await page.getByRole('region', { name: 'People' }).waitFor({ timeout: 20_000 });

  assert.equal(await stopApp(app), 0);
  app = undefined;
});
