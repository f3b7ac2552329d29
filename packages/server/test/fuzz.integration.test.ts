/**
 * Property test: random and mutated frames from unauthenticated and authenticated fuzzers,
 * while two well-behaved clients keep calling each other. The callers see no failure, the
 * server stays up and answers every frame with a result or a typed error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  authSigningText,
  generateIdentity,
  isSigErrorCode,
  serverOriginName,
  toBase64,
} from '@parloir/protocol';
import { connectUser, next, rawClient, startTestServer, until, type RawClient } from './helpers.ts';

/** Deterministic PRNG (mulberry32) so a failure can be replayed. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function authedRaw(url: string, name: string): Promise<RawClient> {
  const id = await generateIdentity();
  const raw = await rawClient(url);
  const hello = await raw.frame((f) => f.type === 'hello');
  const server = serverOriginName(url);
  const sig = await id.sign(
    new TextEncoder().encode(authSigningText(String(hello.challenge), name, server)),
  );
  raw.ws.send(
    JSON.stringify({
      type: 'auth',
      id: 1,
      protocolVersion: 1,
      name,
      publicKey: toBase64(id.publicKey),
      signature: toBase64(sig),
      server,
    }),
  );
  await raw.frame((f) => f.id === 1 && f.type === 'result');
  return raw;
}

test('fuzz: random and mutated frames never disturb a client that keeps calling', async () => {
  const SEED = 20261124;
  const rnd = prng(SEED);
  const server = await startTestServer({
    maxViolations: 40,
    messageBucket: { burst: 400, perSec: 400 },
    callBucket: { burst: 100, perSec: 100 },
  });
  try {
    const a = await connectUser(server, 'caller');
    const b = await connectUser(server, 'callee');
    const failures: string[] = [];
    for (const c of [a, b])
      c.session.on('error', (e) => failures.push(`${c.name}: ${e.code} ${e.message}`));
    b.session.on('incomingCall', () => {
      b.session.accept().catch((e: unknown) => failures.push(`accept: ${String(e)}`));
    });
    let lastCallId = 'none';

    const CALLS = 25;
    const callLoop = (async () => {
      for (let i = 0; i < CALLS; i++) {
        const accepted = next(a.session, 'callAccepted', () => true, 5000);
        lastCallId = await a.session.invite(b.userId);
        await accepted;
        const sig = next(b.session, 'signal', () => true, 5000);
        await a.session.sendSignal({ kind: 'offer', sdp: `v=0 call ${i}` });
        await sig;
        const ended = next(b.session, 'callEnded', () => true, 5000);
        await a.session.hangup();
        assert.equal((await ended).reason, 'hangup');
      }
    })();

    const templates = (): object[] => [
      { type: 'auth', id: 1, protocolVersion: 1, name: 'x', publicKey: 'AAAA', signature: 'AAAA' },
      { type: 'call.invite', id: 2, to: 'f'.repeat(32) },
      { type: 'call.accept', id: 3, callId: lastCallId },
      { type: 'call.hangup', id: 4, callId: lastCallId },
      { type: 'call.signal', id: 5, callId: lastCallId, signal: { kind: 'offer', sdp: 'v=0' } },
      { type: 'chat.send', id: 6, to: b.userId, clientMsgId: 'm', text: 'hi' },
      { type: 'chat.history', id: 7, with: a.userId, limit: 5 },
      { type: 'presence.set', id: 8, status: 'away' },
      { type: 'block.add', id: 9, userId: a.userId },
      { type: 'block.remove', id: 10, userId: a.userId },
      { type: 'host.decide', id: 11, requestId: 'r', accept: true },
      { type: 'chat.received', id: 12, msgIds: [1, 2, 3] },
    ];
    const weird = [
      null,
      true,
      -1,
      1e308,
      '',
      'x'.repeat(300),
      [],
      {},
      { type: 'ping' },
      '\u0000',
      '\ud800',
    ];
    const mutate = (v: unknown, depth = 0): unknown => {
      if (depth > 3 || rnd() < 0.3) return weird[Math.floor(rnd() * weird.length)];
      if (v && typeof v === 'object' && !Array.isArray(v)) {
        const o = { ...(v as Record<string, unknown>) };
        const keys = Object.keys(o);
        const k = keys[Math.floor(rnd() * keys.length)] ?? 'x';
        if (rnd() < 0.2) delete o[k];
        else o[k] = mutate(o[k], depth + 1);
        return o;
      }
      return v;
    };
    const frame = (): string => {
      const r = rnd();
      if (r < 0.15)
        return Array.from({ length: Math.floor(rnd() * 200) }, () =>
          String.fromCharCode(Math.floor(rnd() * 128)),
        ).join('');
      const t = templates()[Math.floor(rnd() * 12)] as object;
      if (r < 0.25) return JSON.stringify(t); // valid, possibly out of place
      const text = JSON.stringify(mutate(t));
      if (r < 0.35) {
        const pos = Math.floor(rnd() * text.length);
        return (
          text.slice(0, pos) + String.fromCharCode(Math.floor(rnd() * 128)) + text.slice(pos + 1)
        );
      }
      return text;
    };

    let sent = 0;
    let answered = 0;
    let closedByServer = 0;
    const tally = (raw: RawClient) => {
      for (const f of raw.frames) {
        if (f.type === 'result' || f.type === 'error') answered++;
        if (f.type === 'error')
          assert.ok(isSigErrorCode(f.code), `typed error code ${String(f.code)}`);
      }
    };
    const open = (authed: boolean) =>
      authed ? authedRaw(server.url, `fz${Math.floor(rnd() * 1e9)}`) : rawClient(server.url);
    const fuzzer = async (authed: boolean, n: number) => {
      let raw = await open(authed);
      let sentHere = 0;
      for (let i = 0; i < n; i++) {
        if (raw.ws.readyState !== raw.ws.OPEN) {
          closedByServer++;
          tally(raw);
          raw = await open(authed);
          sentHere = 0;
        }
        raw.ws.send(frame());
        sent++;
        sentHere++;
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 2));
      }
      // Until the last connection's frames are all answered or it is closed (was a 100 ms
      // sleep); bounded, and what is still unanswered then counts against the ratio below.
      const last = raw;
      const answeredHere = (): number =>
        last.frames.filter((f) => f.type === 'result' || f.type === 'error').length;
      await until(
        () => last.ws.readyState !== last.ws.OPEN || answeredHere() >= sentHere,
        10_000,
        'the last frames answered',
      ).catch(() => undefined);
      tally(raw);
      raw.ws.close();
    };
    const started = Date.now();
    await Promise.all([fuzzer(false, 600), fuzzer(true, 900), fuzzer(true, 900), callLoop]);
    const elapsed = Date.now() - started;

    assert.deepEqual(failures, [], 'the well-behaved clients saw no failure');
    assert.ok(answered > sent * 0.3, `frames answered (${answered}/${sent})`);
    const h = (await (await fetch(`${server.httpUrl}/healthz`)).json()) as { status: string };
    assert.equal(h.status, 'ok', 'server up');
    await until(() => a.session.call.phase === 'idle', 2000, 'idle');
    console.log(
      `fuzz seed ${SEED}: ${sent} frames, ${answered} answers, ${closedByServer} reconnects, ${CALLS} calls, ${elapsed} ms`,
    );
    a.client.close();
    b.client.close();
  } finally {
    await server.cleanup();
  }
});
