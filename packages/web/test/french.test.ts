/**
 * French: with a French browser, every visible string on the main screens (connect, people,
 * incoming call, in call with charts, chat) and every accessible name, placeholder and title is
 * French. The check looks for each English UI string (those whose French differs) as whole words
 * in the page; none may appear. Also switches language live with the [Langue] selector.
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
  newContext,
  screenshot,
  speechWav,
  startServer,
  tempDir,
  type ServerHandle,
} from './helpers.ts';

let dir = '';
let server: ServerHandle;
let browser: Browser;

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.ts'], { cwd: ROOT, stdio: 'pipe' });
  assert.equal(build.status, 0, build.stderr.toString());
  dir = tempDir('fr');
  const wav = speechWav(dir, 'voix', 'Bonjour, ceci est un essai en français.', 'fr');
  server = await startServer(`${dir}/data`);
  browser = await launchChromium(wav);
});

after(async () => {
  await browser?.close();
  await server?.stop();
  cleanup(dir);
});

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
  const chloe = await (await newContext(browser, { locale: 'fr-FR' })).newPage();
  const denis = await (await newContext(browser, { locale: 'fr-FR' })).newPage();
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
  await chloe.waitForTimeout(2500);
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
