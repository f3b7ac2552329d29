/**
 * Relay only: the browser-to-browser call still works when the server hands out only our built-in
 * TURN relay and `relayOnly` (ICE transport policy "relay"). The UI must show the relayed path,
 * audio must flow both ways, and the relay's own counters must show the packets went through it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { startServer, type RunningServer } from '@parloir/server';
import { createTurnRelay, type TurnRelay } from '../../server/src/turn/index.ts';
import type { Browser } from 'playwright-core';
import {
  ROOT,
  cleanup,
  connectAs,
  launchChromium,
  mediaCounters,
  newContext,
  screenshot,
  speechWav,
  tempDir,
} from './helpers.ts';

let dir = '';
let server: RunningServer | undefined;
let relay: TurnRelay;
let browser: Browser;

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.ts'], { cwd: ROOT, stdio: 'pipe' });
  assert.equal(build.status, 0, build.stderr.toString());
  dir = tempDir('relay');
  relay = await createTurnRelay({
    listenHost: '127.0.0.1',
    port: 0,
    secret: 'relay-only-test-secret',
    // The server is created after the relay; the directory asks it once it exists.
    calls: { partiesOf: (callId) => server?.core.partiesOf(callId) },
    allowLoopbackPeers: true,
    relayOnly: true,
  });
  server = await startServer({
    bind: '127.0.0.1',
    port: 0,
    insecureHttp: true,
    dataDir: `${dir}/data`,
    logLevel: 'warn',
    relay,
  });
  // One fake-microphone WAV, so one browser instance; this test counts bytes, not words.
  browser = await launchChromium(speechWav(dir, 'a', 'Relay test: one two three four.'));
});

after(async () => {
  await browser?.close();
  await server?.close(500);
  await relay?.close();
  cleanup(dir);
});

test('a browser-to-browser call goes through the TURN relay with --relay-only', async () => {
  assert.ok(server);
  const target = { url: server.httpUrl, hostPort: `127.0.0.1:${server.port}` };
  const a = await (await newContext(browser)).newPage();
  const b = await (await newContext(browser)).newPage();
  await connectAs(a, target, 'Ana');
  await connectAs(b, target, 'Ben');
  await a.getByRole('button', { name: 'Call Ben', exact: true }).click();
  await b.getByRole('dialog').getByRole('button', { name: 'Accept', exact: true }).click();
  for (const p of [a, b]) {
    await p.getByTestId('timer').waitFor({ timeout: 20_000 });
    await p.getByTestId('path').getByText('Relayed').waitFor();
  }
  const before = relay.stats().packetsRelayed;
  const a0 = await mediaCounters(a);
  const b0 = await mediaCounters(b);
  await a.waitForTimeout(2000);
  const a1 = await mediaCounters(a);
  const b1 = await mediaCounters(b);
  assert.ok(a0 && a1 && b0 && b1);
  assert.equal(a1.path, 'relay');
  assert.ok(a1.bytesReceived - a0.bytesReceived > 3000, 'Ana hears Ben through the relay');
  assert.ok(b1.bytesReceived - b0.bytesReceived > 3000, 'Ben hears Ana through the relay');
  // ~50 packets/s each way at 20 ms frames.
  assert.ok(relay.stats().packetsRelayed - before > 100, 'the relay forwarded the audio');
  await screenshot(a, 'relay-in-call');
  await a.getByRole('button', { name: 'Hang up', exact: true }).click();
  await b.locator('[data-outcome="hangup"]').waitFor();
});
