/**
 * Browser ↔ browser in real Chromium against a real `parloir server` serving the built UI: two
 * browser instances, each with a fake microphone fed by its own espeak-ng WAV, connect, see each
 * other, call (refused, then accepted), talk for 5 s with audio verified flowing both ways from
 * getStats(), compare SAS, chat (Enter and [Send], unread badge), mute with M, hang up, block
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
  screenshot,
  speechWav,
  startServer,
  tempDir,
  waitForMedia,
  type ServerHandle,
} from './helpers.ts';

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
  const wavA = speechWav(dir, 'alice', 'Hello Bob, this is Alice calling from the first browser.');
  const wavB = speechWav(dir, 'bob', 'Hi Alice, Bob here, answering from the second browser.');
  server = await startServer(`${dir}/data`);
  [browserA, browserB] = await Promise.all([launchChromium(wavA), launchChromium(wavB)]);
  alice = await (await newContext(browserA)).newPage();
  bob = await (await newContext(browserB)).newPage();
});

after(async () => {
  await Promise.allSettled([browserA?.close(), browserB?.close()]);
  await server?.stop();
  cleanup(dir);
});

test('two browsers connect, see each other, refuse then accept, talk, chat, hang up, block', async () => {
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

  // Talk for 5 s: audio bytes must flow both ways, measured by getStats() in each page.
  await waitForMedia(alice);
  await waitForMedia(bob);
  const a0 = await mediaCounters(alice);
  const b0 = await mediaCounters(bob);
  await alice.waitForTimeout(5000);
  const a1 = await mediaCounters(alice);
  const b1 = await mediaCounters(bob);
  assert.ok(a0 && b0 && a1 && b1);
  // Opus at ~32 kbit/s for 5 s is ~20 KB; demand at least a third of that each way.
  assert.ok(
    a1.bytesReceived - a0.bytesReceived > 6000,
    `Alice received ${a1.bytesReceived - a0.bytesReceived} B`,
  );
  assert.ok(
    b1.bytesReceived - b0.bytesReceived > 6000,
    `Bob received ${b1.bytesReceived - b0.bytesReceived} B`,
  );
  assert.ok(a1.bytesSent - a0.bytesSent > 6000 && b1.bytesSent - b0.bytesSent > 6000);
  assert.ok(a1.packetsReceived - a0.packetsReceived > 100, 'about 50 packets/s at 20 ms frames');

  // Same SAS on both sides; direct path on loopback; quality badge shown.
  const sasA = await alice.getByTestId('sas').textContent();
  const sasB = await bob.getByTestId('sas').textContent();
  assert.match(sasA ?? '', /^\w+ \w+ \w+ \w+$/);
  assert.equal(sasA, sasB);
  assert.equal(await alice.getByTestId('path').textContent(), 'Direct');
  await alice.getByTestId('quality').waitFor();
  await screenshot(alice, 'in-call');

  // Settings mid-call: bitrate via setParameters, frame size and FEC via the Opus fmtp, applied
  // without renegotiating with the other side; the call stays up and audio keeps flowing.
  await alice.getByText('Call settings').click();
  await alice.getByLabel('Bitrate (kbit/s)', { exact: true }).fill('20');
  await alice.getByLabel('Frame size (ms)').selectOption('40');
  await alice.getByLabel('Forward error correction (FEC)').uncheck();
  await alice.getByRole('button', { name: 'Apply settings' }).click();
  await alice.waitForTimeout(1000);
  const s0 = await mediaCounters(alice);
  const r0 = await mediaCounters(bob);
  await alice.waitForTimeout(2500);
  const s1 = await mediaCounters(alice);
  const r1 = await mediaCounters(bob);
  assert.ok(s0 && s1 && r0 && r1);
  assert.ok(r1.bytesReceived - r0.bytesReceived > 2000, 'Bob still hears Alice after the change');
  assert.ok(s1.bytesReceived - s0.bytesReceived > 2000, 'Alice still hears Bob after the change');
  assert.equal(await alice.evaluate(() => window.parloirDebug?.peer()?.connection), 'connected');
  // Counters are polled once a second: rate per poll is packets per second, 25 at 40 ms frames.
  const pps = (r1.packetsReceived - r0.packetsReceived) / (r1.polls - r0.polls);
  assert.ok(pps > 15 && pps < 38, `Bob receives ${pps} packets/s after frame size 40 ms`);

  // M mutes, M unmutes.
  const mute = alice.getByRole('button', { name: 'Mute', exact: true });
  await alice.locator('body').press('m');
  assert.equal(await mute.getAttribute('aria-pressed'), 'true');
  await alice.locator('body').press('m');
  assert.equal(await mute.getAttribute('aria-pressed'), 'false');

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
  await chloe.waitForTimeout(1200);
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
