/**
 * Reconnection: the server is killed (SIGKILL) in the middle of a browser-to-browser call. Both
 * pages show the reconnect banner, the direct media path keeps carrying audio while signalling is
 * down, the pages reconnect on their own once the server is back on the same port (banner gone,
 * the other person listed again), and the call is still up until hung up.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  ROOT,
  cleanup,
  connectAs,
  freePort,
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
let server: ServerHandle | undefined;
let browser: Browser;

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.ts'], { cwd: ROOT, stdio: 'pipe' });
  assert.equal(build.status, 0, build.stderr.toString());
  dir = tempDir('reconnect');
  browser = await launchChromium(
    speechWav(dir, 'voice', 'Keep talking while the server restarts.'),
  );
});

after(async () => {
  await browser?.close();
  await server?.stop();
  cleanup(dir);
});

test('a call survives a server restart; the pages reconnect with a banner', async () => {
  const port = await freePort();
  const data = join(dir, 'data');
  server = await startServer(data, ['--port', String(port)]);
  const a = await (await newContext(browser)).newPage();
  const b = await (await newContext(browser)).newPage();
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
  const before = await mediaCounters(b);
  await b.waitForTimeout(2000);
  const during = await mediaCounters(b);
  assert.ok(before && during);
  assert.ok(
    during.bytesReceived - before.bytesReceived > 3000,
    'audio flows while the server is down',
  );

  server = await startServer(data, ['--port', String(port)]);
  for (const p of [a, b]) {
    await p
      .getByText('Connection lost. Reconnecting…')
      .waitFor({ state: 'detached', timeout: 20_000 });
  }
  await a.locator('[data-person="Basile"]').waitFor();
  await b.locator('[data-person="Amélie"]').waitFor();
  // Still in the call, audio still flowing.
  const after1 = await mediaCounters(b);
  await b.waitForTimeout(1000);
  const after2 = await mediaCounters(b);
  assert.ok(after1 && after2);
  assert.ok(after2.bytesReceived > after1.bytesReceived, 'audio still flows after reconnecting');
  await b.getByTestId('timer').waitFor();
  await a.getByRole('button', { name: 'Hang up', exact: true }).click();
  await a.locator('[data-outcome="hangup"]').waitFor();
});
