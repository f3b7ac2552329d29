/**
 * Stage one in the native app's window (issue 19 must-show 1, host mode), driven as a person
 * would in Debian's Chromium: `parloir app` on wav: devices; in its window the host types a name
 * and clicks "Host a call on this machine". Two native guests ask to join (`parloir call`, which
 * waits for the decision, and `parloir connect`); the host refuses the first and accepts the
 * second with "Remember for this key", calls the accepted guest, who accepts; they talk; the
 * speech check of each side's output file against the other's input scores ≥ 0.8 both ways
 * (test/helpers/heard.ts). The host hangs up, then removes the guest, whose connection is closed
 * as refused. The remembered decision is listed and forgotten. Screenshots of the requests and
 * of the call, in English and French at 360 px and desktop width, go to docs/img/.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { runCli, waitForOutput, type CliRun } from '../../client/test/helpers/cli.ts';
import {
  clocksFromLog,
  describe,
  HEARS,
  heard,
  readReceived,
} from '../../client/test/helpers/heard.ts';
import { loadWav, makeSpeech } from '../../client/test/helpers/speech.ts';
import { t as tr } from '../src/i18n.ts';
import { callLog, docShots, startApp, stopApp, type AppRun } from './app-helpers.ts';
import { cleanup, launchChromium, newContext, tempDir } from './helpers.ts';

let dir = '';
let browser: Browser;
let app: AppRun | undefined;
const children: CliRun[] = [];

before(async () => {
  dir = tempDir('app-host');
  browser = await launchChromium();
});

after(async () => {
  for (const c of children) c.child.kill('SIGKILL');
  await stopApp(app);
  await browser?.close();
  cleanup(dir);
});

/** Waits until the page's call timer shows at least `seconds`. */
async function talkFor(page: Page, seconds: number): Promise<void> {
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

test('the host, in the app window: refuses one guest, accepts and calls the other, hangs up, removes it', async (t) => {
  const hostIn = makeSpeech(dir, 'host', 'This is the host talking about the weather in Lyon.', 10);
  const guestIn = makeSpeech(
    dir,
    'guest',
    'Hello host, the guest here, calling from next door.',
    10,
  );
  const hostProfile = join(dir, 'host');
  const guestProfile = join(dir, 'guest');
  app = await startApp([
    'app',
    '--profile',
    hostProfile,
    '--in',
    `wav:${hostIn}`,
    '--out',
    `wav:${join(dir, 'host-out.wav')}`,
    '--host-address',
    '127.0.0.1',
    // The hosted server: loopback, any port, plain HTTP (no certificate to pin in this test).
    '--insecure-http',
    '--bind',
    '127.0.0.1',
    '--port',
    '0',
    '--data-dir',
    join(dir, 'data'),
    '--log-level',
    'silent',
  ]);
  const page = await (await newContext(browser)).newPage();
  await page.goto(app.url);
  await page.getByLabel('Name', { exact: true }).fill('Hostess');
  await page.getByRole('button', { name: 'Host a call on this machine' }).click();
  const panel = page.getByRole('region', { name: 'Hosting' });
  const address = (await panel.locator('code').first().textContent()) ?? '';
  assert.match(address, /^http:\/\/127\.0\.0\.1:\d+$/);

  // Two guests type the host's address: one that will be refused, one that will be accepted.
  const intruder = runCli([
    'call',
    '--server',
    address,
    '--user',
    'Intruder',
    '--to',
    'Hostess',
    '--profile',
    join(dir, 'intruder'),
    '--in',
    'null',
    '--out',
    'null',
  ]);
  const guest = runCli(
    [
      'connect',
      '--server',
      address,
      '--user',
      'Guest',
      '--profile',
      guestProfile,
      '--host-address',
      '127.0.0.1',
      '--in',
      `wav:${guestIn}`,
      '--out',
      `wav:${join(dir, 'guest-out.wav')}`,
    ],
    180_000,
  );
  children.push(intruder, guest);
  const requests = page.getByRole('region', { name: 'Connection requests' });
  const intruderRequest = requests.locator('[data-request="Intruder"]');
  const guestRequest = requests.locator('[data-request="Guest"]');
  await intruderRequest.getByText('Intruder wants to join').waitFor();
  await guestRequest.getByText('Guest wants to join').waitFor();
  // Each request shows the key fingerprint and the address it came from.
  assert.match((await guestRequest.locator('code').textContent()) ?? '', /^[0-9a-f]{32}$/);
  await guestRequest.getByText('127.0.0.1').waitFor();
  await docShots(browser, app.url, 'host-requests', (p, lang) =>
    p
      .locator('[data-request="Guest"]')
      .getByText(tr(lang, 'hostRequestFrom', { name: 'Guest' }))
      .waitFor(),
  );

  await intruderRequest.getByRole('button', { name: 'Refuse', exact: true }).click();
  const refused = await intruder.done;
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(refused.stderr, /refused/i);

  await guestRequest.getByLabel('Remember for this key').check();
  await guestRequest.getByRole('button', { name: 'Accept', exact: true }).click();
  await waitForOutput(guest, /connected as Guest/);
  await panel.locator('[data-decision="Guest"]').getByText('always accepted').waitFor();

  // The host calls the accepted guest; the guest accepts on its command line.
  await page.getByRole('button', { name: 'Call Guest', exact: true }).click();
  await waitForOutput(guest, /incoming call from Hostess/);
  guest.send('accept');
  await page.getByTestId('sas').waitFor({ timeout: 30_000 });
  await waitForOutput(guest, /media up/);
  await talkFor(page, 7);
  await docShots(browser, app.url, 'host-in-call', (p) => p.getByTestId('sas').waitFor());
  await page.getByRole('button', { name: 'Hang up', exact: true }).click();
  await waitForOutput(guest, /media ended/);
  await page.locator('[data-outcome="hangup"]').waitFor();

  // Remove the guest: its connection closes as refused and it leaves the list.
  await page.getByRole('button', { name: 'Remove Guest', exact: true }).click();
  await waitForOutput(guest, /signalling disconnected \(4003\)/);
  await page
    .getByRole('button', { name: 'Call Guest', exact: true })
    .waitFor({ state: 'detached' });
  // Removing also forgot "always accept" for that key.
  await panel.locator('[data-decision="Guest"]').waitFor({ state: 'detached' });

  const hc = clocksFromLog(await callLog(hostProfile));
  const gc = clocksFromLog(await callLog(guestProfile));
  const guestHearsHost = heard(
    loadWav(hostIn),
    readReceived(join(dir, 'guest-out.wav')),
    hc.captureMs,
    gc.playbackMs,
  );
  const hostHearsGuest = heard(
    loadWav(guestIn),
    readReceived(join(dir, 'host-out.wav')),
    gc.captureMs,
    hc.playbackMs,
  );
  const msg = `${describe('guest hears host', guestHearsHost)}; ${describe('host hears guest', hostHearsGuest)}`;
  t.diagnostic(msg);
  assert.ok(guestHearsHost.score >= HEARS, msg);
  assert.ok(hostHearsGuest.score >= HEARS, msg);

  guest.child.kill('SIGTERM');
  assert.equal(await stopApp(app), 0);
  app = undefined;
});
