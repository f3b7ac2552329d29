/**
 * Reconnection, two cases of issue 21 (must-show 4, Chromium).
 *
 * Signalling drop: one page's WebSocket is cut for 5 s mid-call (Playwright routes the page's
 * WebSockets through the test, which closes both ends and refuses new ones while cut; media goes
 * direct on loopback and is not touched). The server keeps the call through its grace period:
 * the other page shows "Amélie is reconnecting…", the cut page its own reconnect banner; once the
 * path is back the cut page re-attaches, the peer's notice clears, and each side hears the other.
 *
 * Server restart: the server is killed (SIGKILL) in the middle of a browser-to-browser call. Both
 * pages show the reconnect banner, the direct media path keeps carrying speech while signalling
 * is down, the pages reconnect on their own once the server is back on the same port (banner
 * gone, the other person listed again), and the call is still up, each side hearing the other,
 * until hung up. Relayed (issue 21 §3), the relay dies with the server: the restarted server
 * restores the live call, the pages re-attach and restart ICE ("Restarting the path…"), and audio
 * resumes through the new relay; the time to resume is printed. Speech is recorded in the pages
 * and checked against the sender's file with the speech check and the mouth-to-ear bound
 * (heard.ts), not counted in bytes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test, type TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { loadWav } from '../../client/test/helpers/speech.ts';
import { startRecording, stopRecording, waitForRecorded } from './audio-recorder.ts';
import { checkBrowserSpeech } from './heard.ts';
import { SignallingCut } from './signalling-cut.ts';
import {
  ROOT,
  cleanup,
  connectAs,
  freeFixedPort,
  launchChromium,
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
let browserA: Browser;
let browserB: Browser;
let wavA = '';
let wavB = '';

/** Length of each recorded stretch, ms (more than one loop of each sentence). */
const TALK_MS = 6000;

/** Records `listener` hearing `speaker` for {@link TALK_MS} and checks it. */
async function hears(
  t: TestContext,
  label: string,
  speaker: Page,
  speakerWav: string,
  listener: Page,
): Promise<void> {
  const said = await startRecording(speaker, 'mic');
  const heard = await startRecording(listener, 'remote');
  await waitForRecorded(heard, TALK_MS);
  const received = await stopRecording(heard);
  const r = checkBrowserSpeech(label, loadWav(speakerWav), await stopRecording(said), received);
  t.diagnostic(r.summary);
  assert.ok(r.ok, r.summary);
}

before(async () => {
  const build = spawnSync(process.execPath, ['scripts/build-web.ts'], { cwd: ROOT, stdio: 'pipe' });
  assert.equal(build.status, 0, build.stderr.toString());
  dir = tempDir('reconnect');
  wavA = speechWav(dir, 'amelie', 'Amelie keeps talking while the server restarts.');
  wavB = speechWav(dir, 'basile', 'Basile answers, the call goes on without it.');
  [browserA, browserB] = await Promise.all([launchChromium(wavA), launchChromium(wavB)]);
});

after(async () => {
  await Promise.allSettled([browserA?.close(), browserB?.close()]);
  await server?.stop();
  cleanup(dir);
});

/**
 * The signalling-drop case: Amélie's WebSocket is cut for at least 5 s mid-call, on a direct call
 * or (`relayOnly`) one the server's --relay-only policy puts through its TURN relay.
 */
async function signallingCut(t: TestContext, relayOnly: boolean): Promise<void> {
  const kind = relayOnly ? 'relayed' : 'direct';
  const started = performance.now();
  server = await startServer(join(dir, `data-cut-${kind}`), relayOnly ? ['--relay-only'] : []);
  const a = await (await newContext(browserA, { recorder: true })).newPage();
  const b = await (await newContext(browserB, { recorder: true })).newPage();
  const wire = await SignallingCut.on(a);
  await connectAs(a, server, 'Amélie');
  await connectAs(b, server, 'Basile');
  await a.getByRole('button', { name: 'Call Basile', exact: true }).click();
  await b.getByRole('dialog').getByRole('button', { name: 'Accept', exact: true }).click();
  await waitForMedia(a);
  await waitForMedia(b);
  await b
    .getByTestId('path')
    .getByText(relayOnly ? 'Relayed' : 'Direct')
    .waitFor();

  await wire.cut();
  const cutAt = performance.now();
  const notice = b.getByTestId('peer-reconnecting');
  await a.getByRole('alert').getByText('Connection lost. Reconnecting…').waitFor();
  await notice.getByText('Amélie is reconnecting… (the call is kept for 30 s)').waitFor();
  t.diagnostic(
    `Basile saw "reconnecting" ${((performance.now() - cutAt) / 1000).toFixed(1)} s after the cut`,
  );
  await screenshot(b, `peer-reconnecting-${kind}`);
  // Signalling is down for Amélie; the direct media path still carries her speech.
  await hears(t, `${kind}, signalling cut: Basile hears Amélie`, a, wavA, b);
  const cutMs = performance.now() - cutAt;
  assert.ok(cutMs >= 5000, `cut lasted ${cutMs.toFixed(0)} ms`);

  wire.restore();
  const restoredAt = performance.now();
  await notice.waitFor({ state: 'detached', timeout: 30_000 });
  t.diagnostic(
    `${kind}: re-attached ${((performance.now() - restoredAt) / 1000).toFixed(1)} s after the path came back (cut ${(cutMs / 1000).toFixed(1)} s, ${wire.refused} connections refused meanwhile)`,
  );
  await a
    .getByText('Connection lost. Reconnecting…')
    .waitFor({ state: 'detached', timeout: 15_000 });
  await hears(t, `${kind}, after the cut: Basile hears Amélie`, a, wavA, b);
  await hears(t, `${kind}, after the cut: Amélie hears Basile`, b, wavB, a);
  await b.getByTestId('timer').waitFor();
  await a.getByRole('button', { name: 'Hang up', exact: true }).click();
  await b.locator('[data-outcome="hangup"]').waitFor();
  await a.context().close();
  await b.context().close();
  await server.stop();
  server = undefined;
  t.diagnostic(`${kind} case took ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

test('a direct call survives a 5 s signalling cut; the peer sees "reconnecting", then hears her', (t) =>
  signallingCut(t, false));

test('a relayed call survives a 5 s signalling cut; the peer sees "reconnecting", then hears her', (t) =>
  signallingCut(t, true));

/**
 * The newest call record of the server's database once it has an end time (read-only beside the
 * running server: WAL allows it; the store's writer thread commits records within a tick).
 */
async function lastCallRecord(dbPath: string): Promise<{
  answered_at: number | null;
  ended_at: number | null;
  end_reason: string | null;
}> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const db = new DatabaseSync(dbPath, { readOnly: true });
    const row = db.prepare('SELECT * FROM calls ORDER BY created_at DESC LIMIT 1').get() as
      | { answered_at: number | null; ended_at: number | null; end_reason: string | null }
      | undefined;
    db.close();
    if (row?.ended_at != null) return row;
    if (Date.now() > deadline) throw new Error(`no end time recorded: ${JSON.stringify(row)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Packets each page has received so far (its last once-a-second stats poll). */
async function packetsReceived(p: Page): Promise<number> {
  return p.evaluate(() => window.parloirDebug?.lastStats?.packetsReceived ?? 0);
}

/**
 * How long after `sinceMs` (performance.now()) both pages receive audio again: each page's
 * packet count must grow past what it was at `sinceMs`. Stats are polled once a second, so this
 * is up to a second late.
 */
async function resumed(pages: Page[], sinceMs: number, timeoutMs: number): Promise<number> {
  const base = await Promise.all(pages.map(packetsReceived));
  const deadline = performance.now() + timeoutMs;
  const done = pages.map(() => false);
  for (;;) {
    const now = await Promise.all(pages.map(packetsReceived));
    for (let i = 0; i < pages.length; i++) {
      // `base` is read long after the kill: any growth is the new path's.
      if ((now[i] ?? 0) > (base[i] ?? 0)) done[i] = true;
    }
    if (done.every(Boolean)) return performance.now() - sinceMs;
    if (performance.now() > deadline) throw new Error(`audio did not resume (${now.join('/')})`);
    await pages[0]?.waitForTimeout(100);
  }
}

/**
 * The server-restart case: the server is killed (SIGKILL) mid-call and started again on the same
 * ports and data directory. Direct: the media path never needed the server. Relayed
 * (`--relay-only`, issue 21 §3): the relay's allocations die with it; the server restores the
 * live call, the pages re-attach and restart ICE (the path pill shows "Restarting the path…"),
 * allocate again on the new relay with the credentials they hold, and audio resumes.
 */
async function serverRestart(t: TestContext, relayOnly: boolean): Promise<void> {
  const kind = relayOnly ? 'relayed' : 'direct';
  const started = performance.now();
  const port = await freeFixedPort();
  const turnPort = await freeFixedPort();
  const data = join(dir, `data-restart-${kind}`);
  const args = ['--port', String(port)];
  if (relayOnly) args.push('--turn-port', String(turnPort), '--relay-only');
  server = await startServer(data, args);
  const a = await (await newContext(browserA, { recorder: true })).newPage();
  const b = await (await newContext(browserB, { recorder: true })).newPage();
  await connectAs(a, server, 'Amélie');
  await connectAs(b, server, 'Basile');
  await a.getByRole('button', { name: 'Call Basile', exact: true }).click();
  await b.getByRole('dialog').getByRole('button', { name: 'Accept', exact: true }).click();
  await waitForMedia(a);
  await waitForMedia(b);
  await b
    .getByTestId('path')
    .getByText(relayOnly ? 'Relayed' : 'Direct')
    .waitFor();

  const killedWall = Date.now();
  server.child.kill('SIGKILL');
  await server.stop();
  server = undefined;
  const killedAt = performance.now();
  for (const p of [a, b])
    await p.getByRole('alert').getByText('Connection lost. Reconnecting…').waitFor();
  if (!relayOnly) {
    await screenshot(a, 'reconnecting');
    // Signalling is down; the direct media path still carries speech.
    await hears(t, 'server down: Basile hears Amélie', a, wavA, b);
  } else {
    // The relay died with the server: the pages see the path go and restart ICE.
    await a.getByTestId('path').getByText('Restarting the path…').waitFor({ timeout: 20_000 });
    t.diagnostic(
      `relayed: "Restarting the path…" ${((performance.now() - killedAt) / 1000).toFixed(1)} s after the kill`,
    );
    await screenshot(a, 'restarting-path');
  }

  server = await startServer(data, args);
  const restartedAt = performance.now();
  const restartedWall = Date.now();
  for (const p of [a, b]) {
    await p
      .getByText('Connection lost. Reconnecting…')
      .waitFor({ state: 'detached', timeout: 20_000 });
  }
  t.diagnostic(
    `${kind}: both pages reconnected ${((performance.now() - restartedAt) / 1000).toFixed(1)} s after the server was back`,
  );
  if (relayOnly) {
    const resumeMs = await resumed([a, b], restartedAt, 30_000);
    t.diagnostic(
      `relayed: audio resumed both ways ${(resumeMs / 1000).toFixed(1)} s after the server was back (down ${((restartedAt - killedAt) / 1000).toFixed(1)} s)`,
    );
    for (const p of [a, b]) await p.getByTestId('path').getByText('Relayed').waitFor();
    const signals = await Promise.all(
      [a, b].map((p) => p.evaluate(() => JSON.stringify(window.parloirDebug?.signals ?? {}))),
    );
    t.diagnostic(`relayed: signals Amélie ${signals[0]}, Basile ${signals[1]}`);
  }
  await a.locator('[data-person="Basile"]').waitFor();
  await b.locator('[data-person="Amélie"]').waitFor();
  // Still in the call after reconnecting: each side hears the other again.
  await hears(t, `${kind}, reconnected: Basile hears Amélie`, a, wavA, b);
  await hears(t, `${kind}, reconnected: Amélie hears Basile`, b, wavB, a);
  await b.getByTestId('timer').waitFor();
  await a.getByRole('button', { name: 'Hang up', exact: true }).click();
  await a.locator('[data-outcome="hangup"]').waitFor();
  // The call record spans the restart and has its end time (issue 21 must-show 3).
  const rec = await lastCallRecord(join(data, 'parloir.db'));
  assert.equal(rec.end_reason, 'hangup');
  assert.ok(rec.answered_at !== null && rec.answered_at < killedWall, 'answered before the kill');
  assert.ok(rec.ended_at !== null && rec.ended_at > restartedWall, 'ended after the restart');
  await a.context().close();
  await b.context().close();
  await server.stop();
  server = undefined;
  t.diagnostic(`${kind} restart case took ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

test('a call survives a server restart; the pages reconnect with a banner', (t) =>
  serverRestart(t, false));

test('a relayed call survives kill -9 of the server: restored, ICE restarted, audio resumes', (t) =>
  serverRestart(t, true));
