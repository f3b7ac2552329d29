/**
 * Issue 17, "must show" 1, in Chromium: two browser pages call each other through a hostile
 * signalling proxy in front of a real server (packages/client/test/security/evil-proxy.ts; the
 * server lists the proxy's origin as its own, as behind a reverse proxy).
 *
 * - Honest: the call connects, audio flows both ways, and the page checked the certificate
 *   Chromium's DTLS stack negotiated (RTCDtlsTransport.getRemoteCertificates(), read once that
 *   transport is 'connected') against the peer's signed binding: source 'dtls', never 'sdp'.
 * - The proxy adds a second fingerprint line to the offer: Bob's page refuses it and says why
 *   (MEDIA_AUTH_ERR_FINGERPRINT_COUNT); no media on either page.
 * - The proxy swaps Alice's identity key for its own in the offer: refused
 *   (MEDIA_AUTH_ERR_WRONG_IDENTITY); no media.
 *
 * - Native↔Chromium: a native client (SignalingClient + CallMedia) calls a page through the same
 *   proxy: honest, both sides show the same SAS, audio flows both ways and the page checked
 *   werift's certificate from Chromium's DTLS transport ('dtls'); the proxy adds a
 *   second fingerprint line to the page's answer: the native client refuses it
 *   (MEDIA_AUTH_ERR_FINGERPRINT_COUNT), no media on either side; the proxy replaces the
 *   fingerprint of the native offer: the page refuses it and shows
 *   MEDIA_AUTH_ERR_FINGERPRINT_MISMATCH; the proxy re-signs the page's answer with its own
 *   identity key: the native client refuses it (MEDIA_AUTH_ERR_WRONG_IDENTITY). No audio
 *   between the wrong ends in any of them.
 * - A changed contact key (Bob pinned another key under Alice's name): Bob's page refuses the
 *   call (MEDIA_AUTH_ERR_KEY_CHANGED) and shows the key-changed warning; its action "I have
 *   checked the new key: trust it" replaces the pin, and Alice's next call connects.
 * - Login replay (issue 17 §2): a rogue server on its own origin serves the UI and relays the
 *   real server's login challenge; the page signs origin:<rogue> and the real server refuses
 *   it (SIG_ERR_BAD_SIGNATURE, shown on the connect screen); the user is not online there.
 *
 * The pages talk to the proxy, not to the origin that served them, so the contexts bypass the
 * page CSP (its connect-src is the server's own origin; the CSP is tested in the server).
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { generateIdentity, signMediaBinding, userIdOf } from '@parloir/protocol';
import { startServer, type RunningServer } from '@parloir/server';
import { EvilProxy, type Frame, type Rewrite } from '../../client/test/security/evil-proxy.ts';
import { writeWav } from '../../client/src/audio/index.ts';
import { CallMedia, type MediaState } from '../../client/src/engine/call-media.ts';
import { loadOrCreateProfile } from '../../client/src/signaling/profile.ts';
import { SignalingClient } from '../../client/src/signaling/signaling-client.ts';
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
      // 'dtls': the page hashed the certificate Chromium's DTLS negotiated, read once the
      // RTCDtlsTransport itself is 'connected' (it can lag the peer connection's state, when
      // getRemoteCertificates() is still empty).
      assert.equal(peer?.certificate, 'dtls');
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

/** A 440 Hz tone WAV (30 s) for the native client's microphone; written once. */
function tone(): string {
  const path = join(dir, 'tone.wav');
  const samples = new Int16Array(48_000 * 30);
  for (let i = 0; i < samples.length; i++) {
    samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 48_000));
  }
  writeWav(path, { sampleRate: 48_000, channels: 1, samples });
  return path;
}

/** A native client (in this process) logged in through the proxy as `name`. */
async function nativeClient(name: string) {
  const profile = await loadOrCreateProfile(join(dir, `${name}-profile`));
  const client = new SignalingClient({
    url: `ws://${proxyHostPort}/ws`,
    identity: profile.signer,
    name,
    profileDir: profile.dir,
    reconnect: false,
  });
  const media = new CallMedia({
    session: client.session,
    input: `wav:${tone()}`,
    output: 'null',
    profileDir: profile.dir,
    hostAddresses: ['127.0.0.1'],
  });
  const states: MediaState[] = [];
  media.on('state', (st) => states.push(st));
  const received = { packets: 0 };
  media.on('qos', (q) => (received.packets += q.recvPackets));
  await client.connect();
  return { client, media, states, received, userId: profile.userId };
}

/** The native client `n` calls the page `bob` (named `bobName`); resolves once Bob accepted. */
async function nativeCalls(
  n: Awaited<ReturnType<typeof nativeClient>>,
  bob: Page,
  bobName: string,
): Promise<void> {
  await bob.getByRole('button', { name: `Call ${n.client.session.name}`, exact: true }).waitFor();
  const bobId = [...n.client.session.online.values()].find((u) => u.name === bobName)?.userId;
  assert.ok(bobId !== undefined, `${bobName} not online for the native client`);
  await n.client.session.invite(bobId);
  await bob.getByRole('dialog').getByRole('button', { name: 'Accept', exact: true }).click();
}

test('native↔Chromium through the proxy: honest call, same SAS, audio both ways', async () => {
  proxy.rewrite = (f) => f;
  round++;
  const bob = await page();
  const n = await nativeClient(`Native${round}`);
  try {
    await connectAs(bob, { url: server.httpUrl, hostPort: proxyHostPort }, `Bob${round}`);
    await nativeCalls(n, bob, `Bob${round}`);
    await bob.getByTestId('timer').waitFor();
    await bob.waitForFunction(
      () => (window.parloirDebug?.lastStats?.bytesReceived ?? 0) > 4000,
      undefined,
      { timeout: 20_000 },
    );
    const deadline = Date.now() + 20_000;
    while (n.received.packets < 100 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(n.received.packets >= 100, `native received ${n.received.packets} packets`);
    const up = n.states.find((st) => st.phase === 'up');
    assert.ok(up?.sas !== undefined);
    assert.equal(await bob.getByTestId('sas').textContent(), up.sas.words);
    // 'dtls' with werift as the peer too: once the page waits for the RTCDtlsTransport to be
    // 'connected', getRemoteCertificates() holds werift's certificate.
    const peer = await bob.evaluate(() => window.parloirDebug?.peer() ?? null);
    assert.equal(peer?.authenticated, 1);
    assert.equal(peer.certificate, 'dtls');
  } finally {
    await n.media.close();
    n.client.close();
    await closePages(bob);
  }
});

test("native↔Chromium: a second fingerprint line in the page's answer is refused natively", async () => {
  round++;
  const nativeName = `Native${round}`;
  proxy.rewrite = (f, to) => {
    const signal = f.signal as Frame | undefined;
    if (f.type !== 'call.signal' || to !== nativeName || signal?.kind !== 'answer') return f;
    const other = `sha-256 ${Array.from({ length: 32 }, () => 'CD').join(':')}`;
    return {
      ...f,
      signal: {
        ...signal,
        sdp: String(signal.sdp).replace(/^(a=fingerprint:.*)$/m, `$1\r\na=fingerprint:${other}`),
      },
    };
  };
  const bob = await page();
  const n = await nativeClient(nativeName);
  try {
    await connectAs(bob, { url: server.httpUrl, hostPort: proxyHostPort }, `Bob${round}`);
    await nativeCalls(n, bob, `Bob${round}`);
    const deadline = Date.now() + 20_000;
    while (!n.states.some((st) => st.phase === 'failed') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const failed = n.states.find((st) => st.phase === 'failed');
    assert.equal(failed?.errorCode, 'MEDIA_AUTH_ERR_FINGERPRINT_COUNT', failed?.error);
    assert.equal(
      n.states.some((st) => st.phase === 'up'),
      false,
    );
    await bob.locator('[data-outcome]').waitFor();
    const c = await mediaCounters(bob);
    assert.ok(c === null || c.bytesReceived === 0, JSON.stringify(c));
  } finally {
    proxy.rewrite = (f) => f;
    await n.media.close();
    n.client.close();
    await closePages(bob);
  }
});

/** Polls `cond` every 50 ms until it holds, for at most `ms`; true if it held. */
async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

/**
 * A native client calls a page through the proxy with `rewrite` (made from the native client's
 * name); `check` looks at the refusal. Afterwards: the native media never came up (no engine, no
 * packet), the page neither sent nor received audio and its peer is unauthenticated, and the
 * call is hung up on the native side.
 */
async function nativeAttacked(
  rewrite: (nativeName: string) => Rewrite,
  check: (n: Awaited<ReturnType<typeof nativeClient>>, bob: Page) => Promise<void>,
): Promise<void> {
  round++;
  const nativeName = `Native${round}`;
  proxy.rewrite = rewrite(nativeName);
  const bob = await page();
  const n = await nativeClient(nativeName);
  try {
    await connectAs(bob, { url: server.httpUrl, hostPort: proxyHostPort }, `Bob${round}`);
    await nativeCalls(n, bob, `Bob${round}`);
    await check(n, bob);
    assert.equal(
      n.states.some((st) => st.phase === 'up'),
      false,
      'native media came up',
    );
    assert.equal(n.media.engine, undefined);
    assert.equal(n.received.packets, 0);
    const peer = await bob.evaluate(() => window.parloirDebug?.peer() ?? null);
    assert.ok(peer === null || peer.authenticated === 0, JSON.stringify(peer));
    const c = await mediaCounters(bob);
    assert.ok(c === null || (c.bytesReceived === 0 && c.bytesSent === 0), JSON.stringify(c));
    assert.ok(
      await until(() => n.client.session.call.phase === 'idle', 10_000),
      `native call ${n.client.session.call.phase}`,
    );
  } finally {
    proxy.rewrite = (f) => f;
    await n.media.close();
    n.client.close();
    await closePages(bob);
  }
}

test("native↔Chromium: the proxy replaces the native offer's fingerprint; the page refuses it and says why", async () => {
  const other = `sha-256 ${Array.from({ length: 32 }, () => 'EF').join(':')}`;
  await nativeAttacked(
    () =>
      onOffer((sig) => ({
        ...sig,
        sdp: String(sig.sdp).replace(/^a=fingerprint:sha-256 \S+/m, `a=fingerprint:${other}`),
      })),
    async (_n, bob) => {
      const toast = bob.locator('[data-outcome="failed"]');
      await toast.waitFor();
      assert.match(
        (await toast.textContent()) ?? '',
        /MEDIA_AUTH_ERR_FINGERPRINT_MISMATCH: .{20,}/,
      );
    },
  );
});

test("native↔Chromium: the proxy swaps the page's identity key for its own in the answer; the native client refuses it", async () => {
  const mallory = await generateIdentity();
  await nativeAttacked(
    (nativeName) => async (f, to) => {
      const signal = f.signal as Frame | undefined;
      if (f.type !== 'call.signal' || to !== nativeName || signal?.kind !== 'answer') return f;
      const binding = signal.binding as { fingerprint: string };
      const nativeId = (await loadOrCreateProfile(join(dir, `${nativeName}-profile`))).userId;
      const forged = await signMediaBinding(
        mallory,
        String(f.callId),
        nativeId,
        binding.fingerprint,
      );
      return { ...f, signal: { ...signal, binding: forged } };
    },
    async (n, bob) => {
      assert.ok(
        await until(() => n.states.some((st) => st.phase === 'failed'), 20_000),
        'native side told',
      );
      const failed = n.states.find((st) => st.phase === 'failed');
      assert.equal(failed?.errorCode, 'MEDIA_AUTH_ERR_WRONG_IDENTITY', failed?.error);
      assert.match(failed?.error ?? '', /^MEDIA_AUTH_ERR_WRONG_IDENTITY: .{20,}/);
      await bob.locator('[data-outcome]').waitFor();
    },
  );
});

/**
 * The rogue's front: an HTTP server that serves the real UI (fetched from the real server) and
 * hands WebSocket upgrades to `relayPort` (the relaying EvilProxy) byte for byte. A real server
 * on its own loopback origin, so Chromium treats the page as it would any local site.
 */
async function rogueFront(
  relayPort: number,
): Promise<{ host: string; close: () => Promise<void> }> {
  const front = createServer((req, res) => {
    fetch(new URL(req.url ?? '/', server.httpUrl)).then(
      async (r) => {
        const type = r.headers.get('content-type');
        res.writeHead(r.status, type === null ? {} : { 'content-type': type });
        res.end(Buffer.from(await r.arrayBuffer()));
      },
      () => res.writeHead(502).end(),
    );
  });
  front.on('upgrade', (req, socket, head) => {
    const relay = connect(relayPort, '127.0.0.1', () => {
      const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
      for (let k = 0; k < req.rawHeaders.length; k += 2) {
        lines.push(`${req.rawHeaders[k]}: ${req.rawHeaders[k + 1]}`);
      }
      relay.write(`${lines.join('\r\n')}\r\n\r\n`);
      relay.write(head);
      relay.pipe(socket).pipe(relay);
    });
    relay.on('error', () => socket.destroy());
    socket.on('error', () => relay.destroy());
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  return {
    host: `127.0.0.1:${(front.address() as AddressInfo).port}`,
    close: () =>
      new Promise((r) => {
        front.closeAllConnections();
        front.close(() => r());
      }),
  };
}

test("a rogue server relays the real server's login challenge to a browser user: the real server refuses the login", async () => {
  // The rogue has its own origin, which the real server does not list: it serves the real UI
  // and relays the WebSocket both ways, so the page's login signs origin:http://<rogue>, the
  // challenge being the real server's.
  const rogue = new EvilProxy();
  rogue.upstream = server.url;
  const front = await rogueFront(await rogue.listening());
  const victim = await page();
  try {
    round++;
    const name = `Victim${round}`;
    await victim.goto(`http://${front.host}/`);
    const serverField = victim.getByLabel('Server', { exact: true });
    assert.equal(await serverField.inputValue(), front.host, 'the page defaults to its own origin');
    await victim.getByLabel('Name', { exact: true }).fill(name);
    await victim.getByRole('button', { name: 'Connect', exact: true }).click();
    const alert = victim.locator('[role="alert"][data-code="SIG_ERR_BAD_SIGNATURE"]');
    await alert.waitFor();
    assert.match(
      (await alert.textContent()) ?? '',
      new RegExp(
        `signed for origin:http://${front.host.replaceAll('.', '\\.')}, not for this server`,
      ),
    );
    assert.equal(await victim.getByRole('region', { name: 'People' }).count(), 0);
    // The real server has no such user online: an honest client sees everyone but the victim.
    const honest = await nativeClient(`Witness${round}`);
    try {
      const online = [...honest.client.session.online.values()].map((u) => u.name);
      assert.ok(!online.includes(name), `online: ${online.join(', ')}`);
    } finally {
      await honest.media.close();
      honest.client.close();
    }
  } finally {
    await closePages(victim);
    await front.close();
    await rogue.close();
  }
});

test('a changed contact key in the browser: the warning says so, "I have checked the new key: trust it" replaces the pin, the next call connects', async () => {
  proxy.rewrite = (f) => f;
  round++;
  const at = { url: server.httpUrl, hostPort: proxyHostPort };
  const alice = await page();
  const bob = await page();
  try {
    await connectAs(alice, at, `Alice${round}`);
    await connectAs(bob, at, `Bob${round}`);
    // Bob pinned another key under Alice's name (as if she had reinstalled since their last call).
    const old = await generateIdentity();
    const oldKey = Buffer.from(old.publicKey).toString('base64');
    const pinsKey = `parloir.contacts.bob${round}`;
    await bob.evaluate(
      ([k, name, userId, publicKey]) =>
        localStorage.setItem(
          k,
          JSON.stringify({ [name]: { userId, publicKey, pinnedAt: '2026-01-01T00:00:00.000Z' } }),
        ),
      [pinsKey, `Alice${round}`, await userIdOf(old.publicKey), oldKey] as const,
    );
    const callAlice = async (): Promise<void> => {
      await alice.getByRole('button', { name: `Call Bob${round}`, exact: true }).click();
      await bob.getByRole('dialog').getByRole('button', { name: 'Accept', exact: true }).click();
    };
    await callAlice();
    await refused(alice, bob, 'MEDIA_AUTH_ERR_KEY_CHANGED');
    const warning = bob.getByTestId('key-changed');
    await warning.waitFor();
    assert.match(
      (await warning.textContent()) ?? '',
      new RegExp(`Alice${round}’s identity key has changed`),
    );
    await warning.getByRole('button', { name: 'I have checked the new key: trust it' }).click();
    await warning.waitFor({ state: 'detached' });
    const pins = JSON.parse(
      (await bob.evaluate((k) => localStorage.getItem(k), pinsKey)) ?? '{}',
    ) as Record<string, { publicKey: string; userId: string }>;
    const pin = pins[`Alice${round}`];
    assert.ok(pin !== undefined && pin.publicKey !== oldKey, JSON.stringify(pin));
    // Alice's real key now: her next call checks out and audio flows both ways.
    await alice.getByRole('button', { name: `Call Bob${round}`, exact: true }).waitFor();
    await callAlice();
    for (const p of [alice, bob]) {
      await p.getByTestId('timer').waitFor();
      await p.waitForFunction(
        () => (window.parloirDebug?.lastStats?.bytesReceived ?? 0) > 4000,
        undefined,
        { timeout: 20_000 },
      );
      const peer = await p.evaluate(() => window.parloirDebug?.peer() ?? null);
      assert.equal(peer?.authenticated, 1);
    }
    assert.equal(await bob.getByTestId('key-changed').count(), 0);
  } finally {
    await closePages(alice, bob);
  }
});
