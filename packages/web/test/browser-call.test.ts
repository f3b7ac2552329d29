/**
 * Browser ↔ browser in real Chromium against a real `parloir server` serving the built UI: two
 * browser instances, each with a fake microphone fed by its own espeak-ng WAV, connect, see each
 * other, call (refused, then accepted), talk for 8 s recorded sample by sample in each page and
 * checked against the other side's speech file (audio-recorder.ts, heard.ts: spectral speech
 * check and mouth-to-ear delay from the pages' capture clocks), compare SAS, change bitrate,
 * frame size and FEC (the bitrate and packet rate measured at the far end), chat (Enter and
 * [Send], unread badge), mute with M (silence measured at the far end), hang up, block
 * (the blocked side can no longer call) and unblock. Screenshots of every main screen, including a
 * 360 px phone view, go to .artifacts/screenshots/.
 *
 * French (same server and browsers, fr-FR contexts): every visible string on the main screens
 * (connect, people, outgoing and incoming call, in call with charts and settings, chat, call
 * ended) and every accessible name, placeholder and title is French: each English UI string
 * whose French differs is searched as whole words in the page and none may appear. Also
 * switches language live with the [Langue] selector.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { MSG_KEYS, STRINGS, t } from '../src/i18n.ts';
import {
  ROOT,
  cleanup,
  connectAs,
  launchChromium,
  mediaCounters,
  newContext,
  rates,
  waitForPolls,
  screenshot,
  speechWav,
  startServer,
  tempDir,
  waitForMedia,
  type ServerHandle,
} from './helpers.ts';
import { loadWav } from '../../client/test/helpers/speech.ts';
import { speechCheck } from '../../client/test/helpers/speech-check.ts';
import { startRecording, stopRecording, waitForLevel, waitForRecorded } from './audio-recorder.ts';
import { checkBrowserSpeech, describe, looped } from './heard.ts';

/** Length of each recorded direction, ms (two loops of the longer sentence). */
const TALK_MS = 8000;
/** Level of a 1 s window with speech in it (the sentences peak near −10 dBFS), dBFS. */
const SPEAKING_DBFS = -40;
/** Level of a 1 s window of a muted microphone at the far end (digital silence), dBFS. */
const SILENT_DBFS = -70;

let wavA = '';
let wavB = '';
let dir = '';
let server: ServerHandle;
let browserA: Browser;
let browserB: Browser;
let alice: Page;
let bob: Page;

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.ts'], { cwd: ROOT, stdio: 'pipe' });
  assert.equal(build.status, 0, build.stderr.toString());
  dir = tempDir('call');
  wavA = speechWav(dir, 'alice', 'Hello Bob, this is Alice calling from the first browser.');
  wavB = speechWav(dir, 'bob', 'Hi Alice, Bob here, answering from the second browser.');
  server = await startServer(`${dir}/data`);
  [browserA, browserB] = await Promise.all([launchChromium(wavA), launchChromium(wavB)]);
  alice = await (await newContext(browserA, { recorder: true })).newPage();
  bob = await (await newContext(browserB, { recorder: true })).newPage();
});

after(async () => {
  await Promise.allSettled([browserA?.close(), browserB?.close()]);
  await server?.stop();
  cleanup(dir);
});

test('two browsers connect, see each other, refuse then accept, talk, chat, hang up, block', async (t) => {
  await screenshotConnect(alice);
  await connectAs(alice, server, 'Alice');
  await connectAs(bob, server, 'Bob');

  // Both see each other, live.
  const callBob = alice.getByRole('button', { name: 'Call Bob', exact: true });
  const callAlice = bob.getByRole('button', { name: 'Call Alice', exact: true });
  await callBob.waitFor();
  await callAlice.waitFor();
  await screenshot(alice, 'people');

  // Search filters the list.
  await alice.getByRole('searchbox', { name: 'Search people' }).fill('zz');
  await alice.getByText('Nobody matches.').waitFor();
  await alice.getByRole('searchbox', { name: 'Search people' }).fill('bo');
  await callBob.waitFor();

  // Do-not-disturb: Alice sees Bob's status change live; her call is refused automatically.
  await bob.getByRole('combobox', { name: 'My status' }).selectOption('dnd');
  await alice.locator('[data-person="Bob"]').getByText('Do not disturb').waitFor();
  await callBob.click();
  await alice.locator('[data-outcome="dnd"]').waitFor();
  await bob.getByRole('combobox', { name: 'My status' }).selectOption('available');
  await alice.locator('[data-person="Bob"]').getByText('Available').waitFor();

  // Alice calls and cancels: Bob's incoming dialog disappears.
  await callBob.click();
  await bob.getByRole('dialog').waitFor();
  await alice.getByRole('button', { name: 'Cancel', exact: true }).click();
  await bob.getByRole('dialog').waitFor({ state: 'detached' });
  await bob.locator('[data-outcome="cancelled"]').waitFor();

  // First call: Bob refuses. The incoming dialog is an overlay: nothing behind it moves.
  const before = await bob.getByRole('region', { name: 'People' }).boundingBox();
  await callBob.click();
  await alice.getByRole('button', { name: 'Cancel', exact: true }).waitFor();
  const dialog = bob.getByRole('dialog');
  await dialog.getByText('Alice is calling you').waitFor();
  assert.deepEqual(await bob.getByRole('region', { name: 'People' }).boundingBox(), before);
  await screenshot(bob, 'incoming-call');
  await dialog.getByRole('button', { name: 'Refuse', exact: true }).click();
  await alice.locator('[data-outcome="refused"]').waitFor();
  await dialog.waitFor({ state: 'detached' });

  // Second call: Bob accepts.
  await callBob.click();
  await dialog.getByRole('button', { name: 'Accept', exact: true }).click();
  for (const p of [alice, bob]) {
    await p.getByRole('button', { name: 'Hang up', exact: true }).waitFor();
    await p.getByTestId('timer').waitFor({ timeout: 15_000 });
  }

  // Talk for 8 s, recorded sample by sample: each page must hear the other's sentence (spectral
  // speech check against the sender's file) within the mouth-to-ear bound (capture clocks: each
  // page's microphone is recorded too, before and after the remote track).
  const a0 = await waitForMedia(alice);
  const b0 = await waitForMedia(bob);
  const aliceMic = await startRecording(alice, 'mic');
  const bobMic = await startRecording(bob, 'mic');
  const aliceHears = await startRecording(alice, 'remote');
  const bobHears = await startRecording(bob, 'remote');
  await waitForRecorded(aliceHears, TALK_MS);
  await waitForRecorded(bobHears, TALK_MS);
  const heardByAlice = await stopRecording(aliceHears);
  const heardByBob = await stopRecording(bobHears);
  const saidByAlice = await stopRecording(aliceMic);
  const saidByBob = await stopRecording(bobMic);
  const bobToAlice = checkBrowserSpeech('Alice hears Bob', loadWav(wavB), saidByBob, heardByAlice);
  const aliceToBob = checkBrowserSpeech('Bob hears Alice', loadWav(wavA), saidByAlice, heardByBob);
  t.diagnostic(bobToAlice.summary);
  t.diagnostic(aliceToBob.summary);
  assert.ok(bobToAlice.ok, bobToAlice.summary);
  assert.ok(aliceToBob.ok, aliceToBob.summary);
  // Each page heard the other, not its own voice.
  const own = speechCheck(looped(loadWav(wavA), TALK_MS), heardByAlice.samples, 48_000);
  assert.ok(own.score < 0.4, describe('Alice hears her own sentence', own));
  const a1 = await mediaCounters(alice);
  const b1 = await mediaCounters(bob);
  assert.ok(a1 && b1);
  // Opus at ~32 kbit/s; demand at least a third of it each way, over the measured interval.
  const ra = rates(a0, a1);
  const rb = rates(b0, b1);
  assert.ok(
    ra.receivedKbps > 10 && rb.receivedKbps > 10,
    `${ra.receivedKbps} / ${rb.receivedKbps}`,
  );
  assert.ok(ra.packetsPerS > 35, `about 50 packets/s at 20 ms frames, got ${ra.packetsPerS}`);

  // Same SAS on both sides; direct path on loopback; quality badge shown.
  const sasA = await alice.getByTestId('sas').textContent();
  const sasB = await bob.getByTestId('sas').textContent();
  assert.match(sasA ?? '', /^\w+ \w+ \w+ \w+$/);
  assert.equal(sasA, sasB);
  assert.equal(await alice.getByTestId('path').textContent(), 'Direct');
  await alice.getByTestId('quality').waitFor();
  await screenshot(alice, 'in-call');

  // Bitrate mid-call via setParameters, checked by its effect: the rate Bob receives from Alice,
  // bytes over the measured interval between two polls, drops from ~32 to ~12 kbit/s.
  const before0 = await waitForPolls(bob, b1, 1);
  const before1 = await waitForPolls(bob, before0, 3);
  const at32 = rates(before0, before1).receivedKbps;
  await alice.getByText('Call settings').click();
  await alice.getByLabel('Bitrate (kbit/s)', { exact: true }).fill('12');
  await alice.getByRole('button', { name: 'Apply settings' }).click();
  const at12 = await lowRate(bob, 16, 10_000);
  t.diagnostic(`Bob receives ${at32.toFixed(1)} kbit/s at 32, ${at12.toFixed(1)} kbit/s at 12`);
  assert.ok(at32 >= 20, `at 32 kbit/s Bob received ${at32.toFixed(1)} kbit/s`);

  // Frame size and FEC via the Opus fmtp, applied without renegotiating with the other side; the
  // call stays up and audio keeps flowing: 25 packets/s at 40 ms frames.
  await alice.getByLabel('Bitrate (kbit/s)', { exact: true }).fill('20');
  await alice.getByLabel('Frame size (ms)').selectOption('40');
  await alice.getByLabel('Forward error correction (FEC)').uncheck();
  await alice.getByRole('button', { name: 'Apply settings' }).click();
  const pps = await settledPacketRate(bob, (p) => p > 15 && p < 35, 10_000);
  assert.ok(
    pps > 15 && pps < 35,
    `Bob receives ${pps.toFixed(1)} packets/s after frame size 40 ms`,
  );
  assert.equal(await alice.evaluate(() => window.parloirDebug?.peer()?.connection), 'connected');

  // M mutes, M unmutes; checked by its effect: Bob's recording of Alice falls silent, then speech
  // comes back.
  const mute = alice.getByRole('button', { name: 'Mute', exact: true });
  const bobListens = await startRecording(bob, 'remote');
  await waitForLevel(bobListens, 'above', SPEAKING_DBFS, 1000, 8000);
  await alice.locator('body').press('m');
  assert.equal(await mute.getAttribute('aria-pressed'), 'true');
  const muted = await waitForLevel(bobListens, 'below', SILENT_DBFS, 1000, 8000);
  await alice.locator('body').press('m');
  assert.equal(await mute.getAttribute('aria-pressed'), 'false');
  const unmuted = await waitForLevel(bobListens, 'above', SPEAKING_DBFS, 1000, 8000);
  await stopRecording(bobListens);
  t.diagnostic(`Bob hears Alice muted at ${muted.toFixed(1)} dBFS, unmuted ${unmuted.toFixed(1)}`);

  // Chat during the call: Enter sends; the other side gets an unread badge, then the text.
  await alice.getByRole('button', { name: 'Chat with Bob' }).click();
  await alice.getByRole('textbox', { name: 'Message', exact: true }).fill('Can you hear me?');
  await alice.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
  await bob.getByLabel('1 unread').waitFor();
  await bob.getByRole('button', { name: 'Chat with Alice' }).click();
  await bob.getByText('Can you hear me?').waitFor();
  await bob.getByRole('textbox', { name: 'Message', exact: true }).fill('Loud and clear.');
  await bob.getByRole('button', { name: 'Send', exact: true }).click();
  await alice.getByText('Loud and clear.').waitFor();
  await screenshot(bob, 'chat');

  // Phone width: still usable (call card and chat stack).
  await alice.setViewportSize({ width: 360, height: 760 });
  await screenshot(alice, 'phone-in-call');

  // Bob hangs up: both leave the call.
  await bob.getByRole('button', { name: 'Hang up', exact: true }).click();
  for (const p of [alice, bob]) {
    await p.getByRole('button', { name: 'Hang up', exact: true }).waitFor({ state: 'detached' });
  }
  await alice.locator('[data-outcome="hangup"]').waitFor();
  await alice.getByRole('button', { name: 'Back', exact: true }).click();
  await screenshot(alice, 'phone-people');
  await alice.setViewportSize({ width: 1280, height: 860 });

  // Bob blocks Alice: she can no longer call him (he goes offline for her).
  await bob.getByRole('button', { name: 'Block Alice', exact: true }).click();
  await bob.getByRole('button', { name: 'Unblock Alice', exact: true }).waitFor();
  await callBob.waitFor({ state: 'detached' });
  assert.equal(
    await bob.getByRole('button', { name: 'Call Alice', exact: true }).isDisabled(),
    true,
  );
  // Unblock: Alice can call again.
  await bob.getByRole('button', { name: 'Unblock Alice', exact: true }).click();
  await callBob.waitFor();

  // Bob leaves; Alice writes to him from "Recent conversations"; when Bob comes back the message
  // arrives (unread badge) and opening the chat loads the history.
  await bob.getByRole('button', { name: 'Disconnect', exact: true }).click();
  await callBob.waitFor({ state: 'detached' });
  await alice.getByRole('region', { name: 'Recent conversations (offline)' }).waitFor();
  await alice.getByRole('button', { name: 'Chat with Bob' }).click();
  await alice
    .getByRole('textbox', { name: 'Message', exact: true })
    .fill('Call me when you are back');
  await alice.getByRole('textbox', { name: 'Message', exact: true }).press('Enter');
  await alice.locator('.msg.mine:not(.pending)').getByText('Call me when you are back').waitFor();
  await connectAs(bob, server, 'Bob');
  await bob.getByLabel('1 unread').waitFor();
  await bob.getByRole('button', { name: 'Chat with Alice' }).click();
  for (const text of ['Can you hear me?', 'Loud and clear.', 'Call me when you are back'])
    await bob.getByRole('region', { name: 'Chat with Alice' }).getByText(text).waitFor();
});

/**
 * Waits until `page` receives under `kbps` over the measured interval of one poll (bounded by
 * `timeoutMs`); returns that rate.
 */
async function lowRate(page: Page, kbps: number, timeoutMs: number): Promise<number> {
  const end = Date.now() + timeoutMs;
  let prev = await waitForMedia(page);
  let rate = Infinity;
  while (Date.now() < end) {
    const next = await waitForPolls(page, prev, 1);
    rate = rates(prev, next).receivedKbps;
    if (rate < kbps) return rate;
    prev = next;
  }
  throw new Error(`still receiving ${rate.toFixed(1)} kbit/s after ${timeoutMs} ms, not < ${kbps}`);
}

/** Waits until the packet rate over one poll satisfies `ok` (bounded); returns the last rate. */
async function settledPacketRate(
  page: Page,
  ok: (pps: number) => boolean,
  timeoutMs: number,
): Promise<number> {
  const end = Date.now() + timeoutMs;
  let prev = await waitForMedia(page);
  let pps = NaN;
  while (Date.now() < end) {
    const next = await waitForPolls(page, prev, 1);
    pps = rates(prev, next).packetsPerS;
    if (ok(pps)) return pps;
    prev = next;
  }
  return pps;
}

async function screenshotConnect(page: Page): Promise<void> {
  await page.goto(server.url);
  await page.getByRole('button', { name: 'Connect', exact: true }).waitFor();
  await screenshot(page, 'connect');
}

/** English fragments to look for: literal parts of each English string that French changes. */
const ENGLISH = MSG_KEYS.filter((k) => STRINGS.en[k] !== STRINGS.fr[k])
  .flatMap((k) => STRINGS.en[k].split(/\{\w+\}/))
  .map((s) => s.trim().replace(/[.…:]+$/, ''))
  .filter((s) => s.length >= 3);

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Visible text plus accessible names, placeholders and titles of the page. */
async function pageStrings(page: Page): Promise<string> {
  return page.evaluate(() => {
    const attrs = [...document.querySelectorAll('[aria-label],[placeholder],[title]')].flatMap(
      (el) =>
        ['aria-label', 'placeholder', 'title']
          .map((a) => el.getAttribute(a))
          .filter((v): v is string => v !== null),
    );
    return [document.body.innerText, ...attrs].join('\n');
  });
}

async function assertFrench(page: Page, screen: string, french: string): Promise<void> {
  const text = await pageStrings(page);
  assert.ok(text.includes(french), `the ${screen} screen shows '${french}'`);
  const found = ENGLISH.filter((en) =>
    new RegExp(`(^|[^\\p{L}])${escape(en)}($|[^\\p{L}])`, 'u').test(text),
  );
  assert.deepEqual(found, [], `English left on the ${screen} screen`);
}

test('every visible string of the main screens is French in a French browser', async () => {
  const chloe = await (await newContext(browserA, { locale: 'fr-FR' })).newPage();
  const denis = await (await newContext(browserB, { locale: 'fr-FR' })).newPage();
  await chloe.goto(server.url);
  await chloe.getByRole('button', { name: 'Se connecter', exact: true }).waitFor();
  await assertFrench(chloe, 'connect', 'Se connecter');

  await connectAs(chloe, server, 'Chloé', { lang: 'fr' });
  await connectAs(denis, server, 'Denis', { lang: 'fr' });
  await chloe.getByRole('button', { name: 'Appeler Denis', exact: true }).waitFor();
  await assertFrench(chloe, 'people', 'Personnes');

  await chloe.getByRole('button', { name: 'Appeler Denis', exact: true }).click();
  await chloe.getByRole('button', { name: 'Annuler', exact: true }).waitFor();
  await assertFrench(chloe, 'outgoing call', 'Appel de Denis en cours…');
  const dialog = denis.getByRole('dialog');
  await dialog.getByText('Chloé vous appelle').waitFor();
  await assertFrench(denis, 'incoming call', 'Appel entrant');
  await dialog.getByRole('button', { name: 'Accepter', exact: true }).click();

  await chloe.getByTestId('timer').waitFor();
  await chloe.getByText('Réglages de l’appel').click();
  // The charts' labels render with the first stats poll.
  await waitForPolls(chloe, await waitForMedia(chloe), 1);
  await assertFrench(chloe, 'in call', 'Qualité en direct (60 dernières s)');
  await screenshot(chloe, 'fr-in-call');

  await denis.getByRole('button', { name: 'Discussion avec Chloé' }).click();
  await denis.getByRole('textbox', { name: 'Message', exact: true }).fill('Salut !');
  await denis.getByRole('button', { name: 'Envoyer', exact: true }).click();
  await denis.getByText('Salut !').waitFor();
  await assertFrench(denis, 'chat', 'Écrire un message…');

  await denis.getByRole('button', { name: 'Raccrocher', exact: true }).click();
  await chloe.locator('[data-outcome="hangup"]').getByText('Appel terminé.').waitFor();
  await assertFrench(chloe, 'call ended', 'Appel terminé.');

  // Live switch to English and back.
  await chloe.getByRole('combobox', { name: 'Langue' }).selectOption('en');
  await chloe.getByRole('button', { name: 'Call Denis', exact: true }).waitFor();
  await chloe.getByRole('combobox', { name: 'Language' }).selectOption('fr');
  await chloe
    .getByRole('button', { name: t('fr', 'call', { name: 'Denis' }), exact: true })
    .waitFor();
});
