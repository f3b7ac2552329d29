/**
 * Host mode in the UI, real Chromium against a real server in host mode (in-process startServer
 * with `host` and a server password): the host, whose Ed25519 identity is seeded into its page's
 * storage, sees each join request with [Accept] / [Refuse]; the accepted person gets in, the
 * refused one sees why. Also the connect screen's clear errors: wrong password, name taken. The
 * host uses the dark theme (screenshot).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { generateIdentity, toBase64, userIdOf } from '@parloir/protocol';
import { startServer, type RunningServer } from '@parloir/server';
import type { Browser } from 'playwright-core';
import {
  ROOT,
  cleanup,
  connectAs,
  launchChromium,
  newContext,
  screenshot,
  tempDir,
} from './helpers.ts';

let dir = '';
let server: RunningServer;
let browser: Browser;
let hostIdentity: { pkcs8: string; publicKey: string };
const PASSWORD = 'sesame';

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.ts'], { cwd: ROOT, stdio: 'pipe' });
  assert.equal(build.status, 0, build.stderr.toString());
  dir = tempDir('host');
  const id = await generateIdentity();
  hostIdentity = { pkcs8: toBase64(id.pkcs8), publicKey: toBase64(id.publicKey) };
  server = await startServer({
    bind: '127.0.0.1',
    port: 0,
    insecureHttp: true,
    dataDir: `${dir}/data`,
    logLevel: 'warn',
    host: { name: 'Host', userId: await userIdOf(id.publicKey), acceptAll: false },
    password: PASSWORD,
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close(500);
  cleanup(dir);
});

test('the host accepts one request and refuses another, in the UI', async () => {
  const target = { url: server.httpUrl, hostPort: `127.0.0.1:${server.port}` };
  const hostCtx = await newContext(browser, { colorScheme: 'dark' });
  await hostCtx.addInitScript((identity) => {
    localStorage.setItem('parloir.identity.host', identity);
  }, JSON.stringify(hostIdentity));
  const host = await hostCtx.newPage();
  await connectAs(host, target, 'Host', { password: PASSWORD });

  // Jules asks to join: waits, the host accepts, Jules is in and sees the host.
  const jules = await (await newContext(browser)).newPage();
  await connectAs(jules, target, 'Jules', { waitForPeople: false, password: 'wrong' });
  await jules.getByRole('alert').getByText('Wrong server password.').waitFor();
  await jules.getByLabel('Server password (if any)').fill(PASSWORD);
  await jules.getByRole('button', { name: 'Connect', exact: true }).click();
  await jules.getByText('Waiting for the host to let you in…').waitFor();
  const requests = host.getByRole('region', { name: 'Connection requests' });
  const julesRequest = requests.locator('[data-request="Jules"]');
  await julesRequest.getByText('Jules wants to join').waitFor();
  await screenshot(host, 'host-request');
  await julesRequest.getByRole('button', { name: 'Accept', exact: true }).click();
  await jules.getByRole('button', { name: 'Call Host', exact: true }).waitFor();
  await host.getByRole('button', { name: 'Call Jules', exact: true }).waitFor();
  await julesRequest.waitFor({ state: 'detached' });

  // Mallory asks: the host refuses; Mallory is told and never sees anyone.
  const mallory = await (await newContext(browser)).newPage();
  await connectAs(mallory, target, 'Mallory', { waitForPeople: false, password: PASSWORD });
  const malloryRequest = requests.locator('[data-request="Mallory"]');
  await malloryRequest.getByRole('button', { name: 'Refuse', exact: true }).click();
  await mallory.getByRole('alert').getByText('The host refused your connection.').waitFor();
  assert.equal(await mallory.getByRole('region', { name: 'People' }).count(), 0);
  assert.equal(await host.getByRole('button', { name: 'Call Mallory' }).count(), 0);
  await requests.waitFor({ state: 'detached' });

  // Someone else (another key) cannot take the name Jules.
  const impostor = await (await newContext(browser)).newPage();
  await connectAs(impostor, target, 'Jules', { waitForPeople: false, password: PASSWORD });
  await impostor
    .getByRole('alert')
    .getByText('This name is already taken by someone else. Pick another one.')
    .waitFor();
});
