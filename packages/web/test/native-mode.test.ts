/**
 * Native mode: `parloir connect --ui` serves the built UI next to its control API; a page opened
 * with `#native=<token>` drives the native engine (wav devices here) through the same
 * SessionBinding as browser mode. A browser-mode page calls the native user; the native-mode page
 * shows the incoming call, accepts it, and shows the call with the engine's SAS, path and QoS
 * charts; chat goes both ways; the browser side hangs up.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { runCli, type CliRun } from '../../client/test/helpers/cli.ts';
import { makeSpeech } from '../../client/test/helpers/speech.ts';
import {
  cleanup,
  connectAs,
  launchChromium,
  newContext,
  screenshot,
  startServer,
  tempDir,
  type ServerHandle,
} from './helpers.ts';

let dir = '';
let server: ServerHandle;
let browser: Browser;
let native: CliRun | undefined;

before(async () => {
  dir = tempDir('native-ui');
  server = await startServer(join(dir, 'data'));
  const speech = makeSpeech(dir, 'web', 'The web page is talking to the native client now.');
  browser = await launchChromium(speech);
});

after(async () => {
  native?.child.kill('SIGTERM');
  await native?.done;
  await browser?.close();
  await server?.stop();
  cleanup(dir);
});

async function waitForStdout(run: CliRun, re: RegExp, timeoutMs = 20_000): Promise<void> {
  let out = '';
  run.child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const end = Date.now() + timeoutMs;
  while (!re.test(out)) {
    if (Date.now() > end || run.child.exitCode !== null) throw new Error(`no ${re}: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a native client driven from the UI (native mode) answers a browser call', async () => {
  const profile = join(dir, 'nora');
  const speech = makeSpeech(dir, 'nora', 'Native speaking through the jitter buffer.', 20);
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

  const bruno = await (await newContext(browser)).newPage();
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
});
