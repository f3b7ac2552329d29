/**
 * Issue 17, "must show" 1, in Chromium: two browser pages call each other through a hostile
 * signalling proxy in front of a real server (packages/client/test/security/evil-proxy.ts; the
 * server lists the proxy's origin as its own, as behind a reverse proxy).
 *
 * - Honest: the call connects, audio flows both ways, and the page checked the certificate
 *   Chromium's DTLS stack negotiated (RTCDtlsTransport.getRemoteCertificates()) against the
 *   peer's signed binding.
 * - The proxy adds a second fingerprint line to the offer: Bob's page refuses it and says why
 *   (MEDIA_AUTH_ERR_FINGERPRINT_COUNT); no media on either page.
 * - The proxy swaps Alice's identity key for its own in the offer: refused
 *   (MEDIA_AUTH_ERR_WRONG_IDENTITY); no media.
 *
 * The pages talk to the proxy, not to the origin that served them, so the contexts bypass the
 * page CSP (its connect-src is the server's own origin; the CSP is tested in the server).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { generateIdentity, signMediaBinding, userIdOf } from '@parloir/protocol';
import { startServer, type RunningServer } from '@parloir/server';
import { EvilProxy, type Frame, type Rewrite } from '../../client/test/security/evil-proxy.ts';
import { cleanup, connectAs, launchChromium, mediaCounters, tempDir } from './helpers.ts';

let dir = '';
let server: RunningServer;
const proxy = new EvilProxy();
let proxyHostPort = '';
let browser: Browser;

before(async () => {
  dir = tempDir('evil');
  const port = await proxy.listening();
  proxyHostPort = `127.0.0.1:${port}`;
  server = await startServer({
    bind: '127.0.0.1',
    port: 0,
    dataDir: join(dir, 'data'),
    insecureHttp: true,
    logLevel: 'silent',
    publicOrigins: [`http://${proxyHostPort}`],
  });
  proxy.upstream = server.url;
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await proxy.close();
  await server?.close(500);
  cleanup(dir);
});

async function page(): Promise<Page> {
  const ctx = await browser.newContext({
    bypassCSP: true,
    locale: 'en-US',
    permissions: ['microphone'],
  });
  ctx.setDefaultTimeout(20_000);
  return ctx.newPage();
}

/** Alice calls Bob through the proxy with `rewrite`; returns both pages, call accepted. */
let round = 0;
async function call(rewrite: Rewrite): Promise<[Page, Page]> {
  proxy.rewrite = rewrite;
  const alice = await page();
  const bob = await page();
  const at = { url: server.httpUrl, hostPort: proxyHostPort };
  // New names each round: a fresh browser context has a fresh key, and a name keeps its first.
  round++;
  await connectAs(alice, at, `Alice${round}`);
  await connectAs(bob, at, `Bob${round}`);
  await alice.getByRole('button', { name: `Call Bob${round}`, exact: true }).click();
  await bob.getByRole('dialog').getByRole('button', { name: 'Accept', exact: true }).click();
  return [alice, bob];
}

async function closePages(...pages: Page[]): Promise<void> {
  for (const p of pages) await p.context().close();
}

/** Applies `edit` to the SDP offer the proxy passes to Bob. */
function onOffer(edit: (signal: Frame, callId: string) => Promise<Frame> | Frame): Rewrite {
  return async (f, to) => {
    const signal = f.signal as Frame | undefined;
    if (f.type !== 'call.signal' || !to.startsWith('Bob') || signal?.kind !== 'offer') return f;
    return { ...f, signal: await edit(signal, String(f.callId)) };
  };
}

/** Checks that Bob was told `code` and that neither page received or sent audio. */
async function refused(alice: Page, bob: Page, code: string): Promise<void> {
  const toast = bob.locator('[data-outcome="failed"]');
  await toast.waitFor();
  assert.match((await toast.textContent()) ?? '', new RegExp(`${code}: .{20,}`));
  await alice.locator('[data-outcome]').waitFor();
  for (const p of [alice, bob]) {
    const peer = await p.evaluate(() => window.parloirDebug?.peer() ?? null);
    assert.ok(peer === null || peer.authenticated === 0, JSON.stringify(peer));
    const c = await mediaCounters(p);
    assert.ok(c === null || (c.bytesReceived === 0 && c.bytesSent === 0), JSON.stringify(c));
  }
}

test('honest browser↔browser call through the proxy: audio both ways, DTLS certificate checked', async () => {
  const [alice, bob] = await call((f) => f);
  try {
    for (const p of [alice, bob]) {
      await p.getByTestId('timer').waitFor();
      await p.waitForFunction(
        () => (window.parloirDebug?.lastStats?.bytesReceived ?? 0) > 4000,
        undefined,
        { timeout: 20_000 },
      );
      const peer = await p.evaluate(() => window.parloirDebug?.peer() ?? null);
      assert.equal(peer?.authenticated, 1);
      assert.equal(peer?.certificate, 'dtls', 'checked the certificate DTLS negotiated');
    }
    const sasA = await alice.getByTestId('sas').textContent();
    const sasB = await bob.getByTestId('sas').textContent();
    assert.ok(sasA !== null && sasA.length > 0);
    assert.equal(sasA, sasB);
  } finally {
    await closePages(alice, bob);
  }
});

test('the proxy adds a second fingerprint line: refused in the browser, no audio', async () => {
  const other = `sha-256 ${Array.from({ length: 32 }, () => 'AB').join(':')}`;
  const [alice, bob] = await call(
    onOffer((s) => ({
      ...s,
      sdp: String(s.sdp).replace(/^(a=fingerprint:.*)$/m, `$1\r\na=fingerprint:${other}`),
    })),
  );
  try {
    await refused(alice, bob, 'MEDIA_AUTH_ERR_FINGERPRINT_COUNT');
  } finally {
    await closePages(alice, bob);
  }
});

test("the proxy swaps Alice's identity key for its own: refused in the browser, no audio", async () => {
  const mallory = await generateIdentity();
  // Bob's user id, from the call.accepted the proxy passes to Alice (before Alice's offer).
  let bobId = '';
  const swap = onOffer(async (s, callId) => {
    const binding = s.binding as { fingerprint: string };
    return { ...s, binding: await signMediaBinding(mallory, callId, bobId, binding.fingerprint) };
  });
  const [alice, bob] = await call(async (f, to) => {
    const peer = f.peer as { userId?: string } | undefined;
    if (f.type === 'call.accepted' && to.startsWith('Alice')) bobId = peer?.userId ?? '';
    return swap(f, to);
  });
  try {
    await refused(alice, bob, 'MEDIA_AUTH_ERR_WRONG_IDENTITY');
  } finally {
    await closePages(alice, bob);
  }
  assert.notEqual(await userIdOf(mallory.publicKey), bobId);
});
