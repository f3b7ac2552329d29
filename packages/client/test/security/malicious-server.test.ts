/**
 * Issue 17, "must show" 1: a malicious server. A WebSocket proxy sits in front of a real server
 * (the server lists the proxy's origin as its own, as behind a reverse proxy) and rewrites the
 * signalling as a hostile server would:
 * - replaces the fingerprint of an offer;
 * - adds a second fingerprint line to an offer;
 * - swaps the identity key (the offer's binding re-signed with the server's own key);
 * - impersonates a pinned contact (announced user id and binding both the server's);
 * - strips the binding;
 * and a rogue server relays a real server's login challenge to its own user.
 *
 * In every case no audio flows (neither side's media comes up, so no engine ever sends or
 * plays) and the person is told why with a typed code. The honest case, through the same
 * proxy, connects with the tone of each side heard by the other, direct and relayed.
 *
 * Two in-process native clients (SignalingClient + CallMedia, wav devices), a real server and
 * its TURN relay, all on 127.0.0.1. Without its defence each attack either lets media come up
 * (a second fingerprint line: werift accepts a certificate matching any line; a swapped or
 * impersonated key: nothing checks it) or fails later with no reason given (a replaced
 * fingerprint: werift's DTLS fingerprint check, after the ICE and DTLS work).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  generateIdentity,
  signMediaBinding,
  userIdOf,
  type GeneratedIdentity,
  type SignalingError,
} from '@parloir/protocol';
import { startServer, type RunningServer } from '@parloir/server';
import { createTurnRelay } from '../../../server/src/turn/index.ts';
import { readWav, writeWav } from '../../src/audio/index.ts';
import { CallMedia, type MediaState } from '../../src/engine/call-media.ts';
import { loadOrCreateProfile } from '../../src/signaling/profile.ts';
import { SignalingClient } from '../../src/signaling/signaling-client.ts';
import { EvilProxy, type Frame, type Rewrite } from './evil-proxy.ts';

const TONE_HZ = { alice: 440, bob: 660 } as const;
const CONNECT_MS = 25_000;

let dir = '';
let server: RunningServer;
let relay: Awaited<ReturnType<typeof createTurnRelay>>;
const proxy = new EvilProxy();
let proxyUrl = '';
/** The server's own identity, for re-signing (a server may well have users of its own). */
let mallory: GeneratedIdentity;
let malloryId = '';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-evil-'));
  const port = await proxy.listening();
  proxyUrl = `ws://127.0.0.1:${port}/ws`;
  const ref: { core?: RunningServer['core'] } = {};
  relay = await createTurnRelay({
    listenHost: '127.0.0.1',
    port: 0,
    tcp: false,
    secret: 'evil-test-secret',
    relayOnly: false,
    calls: { partiesOf: (callId) => ref.core?.partiesOf(callId) },
  });
  server = await startServer({
    bind: '127.0.0.1',
    port: 0,
    dataDir: join(dir, 'server'),
    insecureHttp: true,
    logLevel: 'silent',
    webRoot: null,
    relay,
    // The proxy is the server as its users see it (TLS or not, it is where they connect).
    publicOrigins: [`http://127.0.0.1:${port}`],
  });
  ref.core = server.core;
  proxy.upstream = server.url;
  for (const name of ['alice', 'bob'] as const) {
    const samples = new Int16Array(48_000 * 30);
    for (let i = 0; i < samples.length; i++) {
      samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * TONE_HZ[name] * i) / 48_000));
    }
    writeWav(join(dir, `${name}-in.wav`), { sampleRate: 48_000, channels: 1, samples });
  }
  mallory = await generateIdentity();
  malloryId = await userIdOf(mallory.publicKey);
});

after(async () => {
  await proxy.close();
  await server.close(500);
  await relay.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Side {
  name: 'alice' | 'bob';
  client: SignalingClient;
  media: CallMedia;
  states: MediaState[];
  /** Packets received, summed over the QoS snapshots. */
  received: { packets: number };
  out: string;
}

let round = 0;
async function side(name: 'alice' | 'bob', relayOnly = false): Promise<Side> {
  // Profiles persist across rounds: the pins of the first call stay for the later ones.
  const profile = await loadOrCreateProfile(join(dir, `${name}-profile`));
  const client = new SignalingClient({
    url: proxyUrl,
    identity: profile.signer,
    name,
    profileDir: profile.dir,
    reconnect: false,
  });
  const out = join(dir, `${name}-out-${++round}.wav`);
  const media = new CallMedia({
    session: client.session,
    input: `wav:${join(dir, `${name}-in.wav`)}`,
    output: `wav:${out}`,
    relayOnly,
    profileDir: profile.dir,
    hostAddresses: ['127.0.0.1'],
    connectTimeoutMs: CONNECT_MS,
  });
  const states: MediaState[] = [];
  media.on('state', (s) => states.push(s));
  const received = { packets: 0 };
  media.on('qos', (q) => (received.packets += q.recvPackets));
  await client.connect();
  return { name, client, media, states, received, out };
}

function waitFor<T>(what: string, timeoutMs: number, poll: () => T | undefined): Promise<T> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const tick = () => {
      const v = poll();
      if (v !== undefined) resolve(v);
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 25);
    };
    tick();
  });
}

/** Alice calls Bob; resolves once both sides' media is up or one has failed. */
async function call(a: Side, b: Side): Promise<void> {
  const bobId = b.client.session.userId ?? '';
  b.client.session.on('incomingCall', () => void b.client.session.accept());
  await waitFor('bob online for alice', 5000, () =>
    a.client.session.online.has(bobId) ? true : undefined,
  );
  await a.client.session.invite(bobId);
  await waitFor('media up or failed', CONNECT_MS + 5000, () => {
    const done = (s: Side) => s.states.some((x) => x.phase === 'failed');
    const up = (s: Side) => s.states.some((x) => x.phase === 'up');
    return done(a) || done(b) || (up(a) && up(b)) ? true : undefined;
  });
}

async function closeAll(...sides: Side[]): Promise<void> {
  for (const s of sides) await s.media.close();
  for (const s of sides) s.client.close();
}

/**
 * Share of `pcm`'s power at `hz` (Goertzel per 100 ms block, where 440 and 660 Hz fall on a bin:
 * a pure tone gives 1, jitter-buffer time-stretching of it slightly less).
 */
function toneShare(pcm: Int16Array, hz: number): number {
  const n = 4800;
  const k = 2 * Math.cos((2 * Math.PI * hz) / 48_000);
  let tone = 0;
  let total = 0;
  for (let at = 0; at + n <= pcm.length; at += n) {
    let s1 = 0;
    let s2 = 0;
    for (let i = at; i < at + n; i++) {
      const x = pcm[i] ?? 0;
      const s0 = x + k * s1 - s2;
      s2 = s1;
      s1 = s0;
      total += x * x;
    }
    tone += (2 * (s1 * s1 + s2 * s2 - k * s1 * s2)) / n;
  }
  return total === 0 ? 0 : tone / total;
}

/** Runs an honest call through the proxy and checks each side heard the other's tone. */
async function honestCall(relayOnly: boolean, note: (s: string) => void): Promise<void> {
  proxy.rewrite = (f) => f;
  const a = await side('alice', relayOnly);
  const b = await side('bob', relayOnly);
  try {
    await call(a, b);
    for (const s of [a, b]) {
      const failed = s.states.find((x) => x.phase === 'failed');
      assert.equal(failed, undefined, `${s.name}: ${failed?.error ?? ''}`);
    }
    const upA = a.media.state;
    const upB = b.media.state;
    assert.equal(upA.path, relayOnly ? 'relayed' : 'direct');
    assert.equal(upB.path, relayOnly ? 'relayed' : 'direct');
    assert.ok(upA.sas !== undefined && upB.sas !== undefined);
    assert.deepEqual(upA.sas, upB.sas, 'both sides read the same SAS');
    // Two seconds of audio each way, measured by what arrived, then hang up.
    await waitFor('audio both ways', 15_000, () =>
      a.received.packets > 100 && b.received.packets > 100 ? true : undefined,
    );
  } finally {
    await closeAll(a, b);
  }
  // Each side's playback has the other side's tone, and far more of it than of its own.
  for (const [s, other] of [
    [a, b],
    [b, a],
  ] as const) {
    // From the first audible sample: the playback device ran before media was up.
    const all = readWav(s.out).samples;
    const start = all.findIndex((x) => Math.abs(x) > 1000);
    assert.ok(start >= 0, `${s.name} played nothing audible`);
    const pcm = all.subarray(start);
    const heard = toneShare(pcm, TONE_HZ[other.name]);
    const own = toneShare(pcm, TONE_HZ[s.name]);
    assert.ok(heard > 0.3 && heard > 100 * own, `${s.name} heard ${heard}, own ${own}`);
    note(
      `${s.name} hears ${other.name}'s tone: share ${heard.toFixed(3)}, own tone ${own.toExponential(1)}`,
    );
  }
}

/** Runs an attacked call and checks that media never came up and `victim` was told `code`. */
async function attackedCall(rewrite: Rewrite, victim: 'alice' | 'bob', code: string) {
  proxy.rewrite = rewrite;
  const a = await side('alice');
  const b = await side('bob');
  try {
    await call(a, b);
    const v = victim === 'alice' ? a : b;
    await waitFor(`${victim} told why`, 10_000, () => v.states.find((x) => x.phase === 'failed'));
    const failed = v.states.find((x) => x.phase === 'failed');
    assert.equal(failed?.errorCode, code, failed?.error);
    assert.match(failed?.error ?? '', new RegExp(`^${code}: .{20,}`));
    // No audio between the wrong ends: neither side's media came up, so no engine ran.
    for (const s of [a, b]) {
      assert.equal(
        s.states.some((x) => x.phase === 'up'),
        false,
        `${s.name}'s media came up`,
      );
      assert.equal(s.media.engine, undefined);
    }
    // The call is hung up for both.
    await waitFor('call over', 10_000, () =>
      a.client.session.call.phase === 'idle' && b.client.session.call.phase === 'idle'
        ? true
        : undefined,
    );
  } finally {
    await closeAll(a, b);
    proxy.rewrite = (f) => f;
  }
}

/** Applies `edit` to the SDP offer the server passes to Bob. */
function onOffer(edit: (signal: Frame, callId: string) => Promise<Frame> | Frame): Rewrite {
  return async (f, to) => {
    const signal = f.signal as Frame | undefined;
    if (f.type !== 'call.signal' || to !== 'bob' || signal?.kind !== 'offer') return f;
    return { ...f, signal: await edit(signal, String(f.callId)) };
  };
}

const OTHER_FP = `sha-256 ${Array.from({ length: 32 }, (_, i) => (i * 7).toString(16).padStart(2, '0').toUpperCase()).join(':')}`;

test('honest call through the proxy: direct, audio both ways, same SAS (pins both keys)', async (t) => {
  await honestCall(false, (s) => t.diagnostic(s));
});

test('honest call through the proxy: relayed (TURN), audio both ways', async (t) => {
  await honestCall(true, (s) => t.diagnostic(s));
});

test('attack: the server replaces the offer fingerprint', async () => {
  await attackedCall(
    onOffer((s) => ({
      ...s,
      sdp: String(s.sdp).replace(/^a=fingerprint:sha-256 \S+/m, `a=fingerprint:${OTHER_FP}`),
    })),
    'bob',
    'MEDIA_AUTH_ERR_FINGERPRINT_MISMATCH',
  );
});

test('attack: the server adds a second fingerprint line to the offer', async () => {
  await attackedCall(
    onOffer((s) => ({
      ...s,
      sdp: String(s.sdp).replace(/^(a=fingerprint:.*)$/m, `$1\r\na=fingerprint:${OTHER_FP}`),
    })),
    'bob',
    'MEDIA_AUTH_ERR_FINGERPRINT_COUNT',
  );
});

test("attack: the server swaps Alice's identity key for its own in the offer", async () => {
  await attackedCall(
    onOffer(async (s, callId) => {
      const binding = s.binding as { fingerprint: string };
      const bobProfile = await loadOrCreateProfile(join(dir, 'bob-profile'));
      return {
        ...s,
        binding: await signMediaBinding(mallory, callId, bobProfile.userId, binding.fingerprint),
      };
    }),
    'bob',
    'MEDIA_AUTH_ERR_WRONG_IDENTITY',
  );
});

test('attack: the server impersonates a pinned contact (its own key under her name)', async () => {
  await attackedCall(
    async (f, to) => {
      if (to !== 'bob') return f;
      const peer = f.peer as Frame | undefined;
      if (f.type === 'call.accepted' && peer !== undefined) {
        return { ...f, peer: { ...peer, userId: malloryId } };
      }
      if (f.type === 'call.incoming') return f;
      const signal = f.signal as Frame | undefined;
      if (f.type === 'call.signal' && signal?.kind === 'offer') {
        const binding = signal.binding as { fingerprint: string };
        const bobProfile = await loadOrCreateProfile(join(dir, 'bob-profile'));
        const forged = await signMediaBinding(
          mallory,
          String(f.callId),
          bobProfile.userId,
          binding.fingerprint,
        );
        return { ...f, signal: { ...signal, binding: forged } };
      }
      return f;
    },
    'bob',
    'MEDIA_AUTH_ERR_KEY_CHANGED',
  );
});

test('attack: the server strips the signed binding from the answer', async () => {
  await attackedCall(
    (f, to) => {
      const signal = f.signal as Frame | undefined;
      if (f.type !== 'call.signal' || to !== 'alice' || signal?.kind !== 'answer') return f;
      const { binding: _dropped, ...rest } = signal;
      return { ...f, signal: rest };
    },
    'alice',
    'MEDIA_AUTH_ERR_NO_BINDING',
  );
});

test("attack: a rogue server relays the real server's login challenge to its user", async () => {
  // A second proxy on its own origin, which the real server does not list: a server of its
  // own, passing the real server's challenge to Bob and Bob's answer back.
  const rogue = new EvilProxy();
  rogue.upstream = server.url;
  const port = await rogue.listening();
  try {
    const profile = await loadOrCreateProfile(join(dir, 'bob-profile'));
    const client = new SignalingClient({
      url: `ws://127.0.0.1:${port}/ws`,
      identity: profile.signer,
      name: 'bob',
      profileDir: profile.dir,
      reconnect: false,
    });
    try {
      await assert.rejects(client.connect(), (err: SignalingError) => {
        assert.equal(err.code, 'SIG_ERR_BAD_SIGNATURE');
        assert.match(
          err.message,
          /signed for origin:http:\/\/127\.0\.0\.1:\d+, not for this server/,
        );
        return true;
      });
    } finally {
      client.close();
    }
  } finally {
    await rogue.close();
  }
});
