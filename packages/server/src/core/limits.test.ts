/**
 * Limits that survive reconnects (issue 17 §4, §7): the pure pieces, then each attack mounted on
 * the sans-IO core with a fake clock. Each attack test fails with per-connection limits only.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  authSigningText,
  generateIdentity,
  toBase64,
  type GeneratedIdentity,
} from '@parloir/protocol';
import { CORE_CRYPTO } from '../core-crypto.ts';
import { Store } from '../store.ts';
import { ChatQuota, CoreLimits, KeyedBuckets, ipMessageBucket, utf8Length } from './limits.ts';
import { SignalingCore, requestIdOf, type SignalingCoreOptions } from './signaling-core.ts';

const T0 = 1_800_000_000_000;

test('utf8Length matches Buffer.byteLength, lone surrogates included', () => {
  for (const s of [
    '',
    'abc',
    'é',
    '€',
    '😀',
    'a😀b',
    '\ud800',
    '\ud800x',
    '\udc00',
    'ß'.repeat(50),
  ]) {
    assert.equal(utf8Length(s), Buffer.byteLength(s, 'utf8'), JSON.stringify(s));
  }
});

test('KeyedBuckets: one bucket per key, refilled by time, pruned once full', () => {
  const b = new KeyedBuckets({ burst: 2, perSec: 1 });
  assert.equal(b.take('u', T0), true);
  assert.equal(b.take('u', T0), true);
  assert.equal(b.take('u', T0), false);
  assert.equal(b.has('u', T0), false);
  assert.equal(b.take('v', T0), true, 'another key has its own bucket');
  b.prune(T0);
  assert.equal(b.size, 2, 'nothing full yet');
  assert.equal(b.take('u', T0 + 1000), true, 'one token per second');
  b.prune(T0 + 5000);
  assert.equal(b.size, 0, 'refilled buckets are dropped');
  assert.deepEqual(ipMessageBucket({ burst: 100, perSec: 50 }, 32), { burst: 3200, perSec: 1600 });
});

test('ChatQuota: messages per UTC day and stored bytes, starting from what the store holds', () => {
  const asked: [string, number][] = [];
  const q = new ChatQuota({
    messagesPerDay: 3,
    storedBytes: 100,
    usageOf: (userId, sinceMs) => {
      asked.push([userId, sinceMs]);
      return { messagesSince: 1, bytes: 40 };
    },
  });
  const day = Math.floor(T0 / 86_400_000) * 86_400_000;
  assert.deepEqual(q.check('u', 10, T0), { ok: true });
  assert.deepEqual(asked, [['u', day]], 'read once from the store, from the start of the UTC day');
  q.record('u', 10, T0);
  q.record('u', 10, T0);
  const full = q.check('u', 1, T0);
  assert.equal(full.ok, false);
  assert.equal(!full.ok && full.limit, 'messages-per-day');
  // Next UTC day: the count starts again, the stored bytes do not (60 of 100 used).
  const tomorrow = day + 86_400_000;
  assert.deepEqual(q.check('u', 40, tomorrow), { ok: true });
  const big = q.check('u', 41, tomorrow);
  assert.equal(!big.ok && big.limit, 'stored-bytes');
  assert.equal(asked.length, 1);
  q.forget('u');
  q.check('u', 1, tomorrow);
  assert.equal(asked.length, 2);
});

test('CoreLimits: the IP bucket is shared by identities; password guesses only count failures', () => {
  const l = new CoreLimits(
    {
      ipMessages: { burst: 3, perSec: 1 },
      identityMessages: { burst: 100, perSec: 100 },
      passwordGuesses: { burst: 2, perSec: 0.1 },
    },
    () => ({ messagesSince: 0, bytes: 0 }),
  );
  assert.equal(l.message('10.0.0.1', 'a', T0), true);
  assert.equal(l.message('10.0.0.1', 'b', T0), true);
  assert.equal(l.message('10.0.0.1', undefined, T0), true);
  assert.equal(l.message('10.0.0.1', 'c', T0), false, 'a fresh identity does not help');
  assert.equal(l.message('10.0.0.2', 'c', T0), true);
  assert.equal(l.passwordGuessAllowed('10.0.0.1', T0), true);
  l.passwordFailed('10.0.0.1', T0);
  l.passwordFailed('10.0.0.1', T0);
  assert.equal(l.passwordGuessAllowed('10.0.0.1', T0), false);
  assert.equal(l.passwordGuessAllowed('10.0.0.1', T0 + 10_000), true, 'one guess per 10 s');
  assert.ok(l.trackedKeys > 0);
  l.prune(T0 + 3_600_000);
  assert.equal(l.trackedKeys, 0, 'idle keys cost nothing once refilled');
});

// ---- attacks on the core ---------------------------------------------------------------------

interface Harness {
  core: SignalingCore;
  store: Store;
  frames: Map<number, string[]>;
  closed: Set<number>;
  /** Sends a request and returns the frames it produced for that connection. */
  send(connId: number, req: Record<string, unknown>, now: number): string[];
}

function harness(opts: Partial<SignalingCoreOptions> = {}): Harness {
  const store = new Store({ path: ':memory:' });
  const core = new SignalingCore({
    store,
    ...CORE_CRYPTO,
    ...opts,
  });
  const frames = new Map<number, string[]>();
  const closed = new Set<number>();
  const drain = (): Map<number, string[]> => {
    const now = new Map<number, string[]>();
    const add = (id: number, text: string | Uint8Array) => {
      const t = typeof text === 'string' ? text : new TextDecoder().decode(text);
      for (const m of [frames, now]) m.set(id, [...(m.get(id) ?? []), t]);
    };
    for (const o of core.pollOutput()) {
      if (o.type === 'send') add(o.connId, o.text);
      else if (o.type === 'broadcast') for (const c of o.connIds) add(c, o.text);
      else closed.add(o.connId);
    }
    return now;
  };
  return {
    core,
    store,
    frames,
    closed,
    send(connId, req, now) {
      core.handleInput({ type: 'text', connId, text: JSON.stringify(req) }, now);
      return drain().get(connId) ?? [];
    },
  };
}

let nextConn = 1;
/** Opens a connection from `address` and logs in; returns the connection id (auth frames too). */
async function login(
  h: Harness,
  id: GeneratedIdentity,
  name: string,
  now: number,
  extra: Record<string, unknown> = {},
  address = '203.0.113.5',
): Promise<{ connId: number; auth: string[] }> {
  const connId = nextConn++;
  h.core.handleInput({ type: 'open', connId, address }, now);
  const hello = h.send(connId, { type: 'ping', id: 0 }, now).concat(h.frames.get(connId) ?? []);
  const challenge = hello
    .map((t) => JSON.parse(t) as { type?: string; challenge?: string })
    .find((f) => f.type === 'hello')?.challenge;
  const sig = await id.sign(new TextEncoder().encode(authSigningText(String(challenge), name)));
  const auth = h.send(
    connId,
    {
      type: 'auth',
      id: 1,
      protocolVersion: 1,
      name,
      publicKey: toBase64(id.publicKey),
      signature: toBase64(sig),
      ...extra,
    },
    now,
  );
  return { connId, auth };
}

const rateLimited = (frames: string[]) => frames.filter((f) => f.includes('SIG_ERR_RATE_LIMITED'));

test("attack: reconnecting does not refill an identity's message or call buckets", async () => {
  // A roomy per-connection bucket, a tighter identity one: what runs out is the identity's.
  const h = harness({
    messageBucket: { burst: 50, perSec: 1 },
    callBucket: { burst: 2, perSec: 0.01 },
    limits: { identityMessages: { burst: 8, perSec: 1 } },
  });
  const flooder = await generateIdentity();
  const victim = await generateIdentity();
  const v = await login(h, victim, 'victim', T0);
  const victimId = (
    JSON.parse(v.auth.find((f) => f.includes('"id":1'))!) as { result: { userId: string } }
  ).result.userId;
  let now = T0;
  const first = await login(h, flooder, 'flooder', now);
  // Two call attempts use the identity's call bucket (the caller cancels each one).
  for (let i = 0; i < 2; i++) {
    const r = h.send(first.connId, { type: 'call.invite', id: 10 + i, to: victimId }, now);
    assert.equal(rateLimited(r).length, 0, `call ${i} allowed`);
    const callId = (
      JSON.parse(r.find((f) => f.includes(`"id":${10 + i}`))!) as { result: { callId: string } }
    ).result.callId;
    h.send(first.connId, { type: 'call.cancel', id: 20 + i, callId }, now);
  }
  // Messages: the rest of the identity's 8-token burst, then typed errors.
  let errors = 0;
  for (let i = 0; i < 12; i++)
    errors += rateLimited(h.send(first.connId, { type: 'ping', id: 100 + i }, now)).length;
  assert.ok(errors > 0, 'the flooder gets SIG_ERR_RATE_LIMITED');
  // Reconnect (a fresh connection, so a fresh per-connection bucket) 100 ms later.
  h.core.handleInput({ type: 'closed', connId: first.connId }, now);
  now += 100;
  const second = await login(h, flooder, 'flooder', now);
  assert.equal(rateLimited(second.auth).length, 0, 'logging in again is allowed');
  assert.equal(
    rateLimited(h.send(second.connId, { type: 'ping', id: 200 }, now)).length,
    1,
    'still limited after reconnecting',
  );
  const call = h.send(second.connId, { type: 'call.invite', id: 201, to: victimId }, now + 1000);
  assert.equal(rateLimited(call).length, 1, 'call attempts too');
  // And it refills with time, as a per-connection bucket would.
  assert.equal(rateLimited(h.send(second.connId, { type: 'ping', id: 202 }, now + 3000)).length, 0);
});

test('attack: password guessing is throttled per IP, across connections and identities', async () => {
  const h = harness({
    password: 'correct horse',
    limits: { passwordGuesses: { burst: 3, perSec: 0.1 } },
  });
  const now = T0;
  const codes: string[] = [];
  for (let i = 0; i < 6; i++) {
    // A new identity and a new connection for every guess.
    const { auth } = await login(h, await generateIdentity(), `guesser${i}`, now, {
      password: `guess-${i}`,
    });
    codes.push(
      auth.some((f) => f.includes('SIG_ERR_BAD_PASSWORD'))
        ? 'bad'
        : rateLimited(auth).length
          ? 'limited'
          : 'other',
    );
  }
  assert.deepEqual(codes, ['bad', 'bad', 'bad', 'limited', 'limited', 'limited']);
  // Even the right password waits: the guess is not checked at all.
  const right = await login(h, await generateIdentity(), 'honest-here', now, {
    password: 'correct horse',
  });
  assert.equal(rateLimited(right.auth).length, 1);
  // Another address is not affected, and after 10 s one more guess is checked.
  const elsewhere = await login(
    h,
    await generateIdentity(),
    'elsewhere',
    now,
    { password: 'correct horse' },
    '198.51.100.9',
  );
  assert.ok(
    elsewhere.auth.some((f) => f.includes('"result"')),
    'another IP logs in',
  );
  const later = await login(h, await generateIdentity(), 'later', now + 10_000, {
    password: 'correct horse',
  });
  assert.ok(
    later.auth.some((f) => f.includes('"result"')),
    'the right password after the wait',
  );
});

test('attack: the chat quota refuses with SIG_ERR_CHAT_QUOTA, counts what the store already holds, and survives restarts', async () => {
  const h = harness({ limits: { chatMessagesPerDay: 5, chatStoredBytes: 1_000_000 } });
  const a = await login(h, await generateIdentity(), 'writer', T0);
  const b = await login(h, await generateIdentity(), 'reader', T0);
  const readerId = (
    JSON.parse(b.auth.find((f) => f.includes('"id":1'))!) as { result: { userId: string } }
  ).result.userId;
  const send = (i: number, now: number) =>
    h.send(
      a.connId,
      {
        type: 'chat.send',
        id: 300 + i,
        to: readerId,
        clientMsgId: `m${i}-${now}`,
        text: `hello ${i}`,
      },
      now,
    );
  const results = [];
  for (let i = 0; i < 7; i++)
    results.push(send(i, T0 + i).some((f) => f.includes('SIG_ERR_CHAT_QUOTA')));
  assert.deepEqual(results, [false, false, false, false, false, true, true]);
  // A new core on the same store (a server restart) reads the day's count back.
  const h2 = harness({ store: h.store, limits: { chatMessagesPerDay: 5 } });
  const a2 = await login(h2, await generateIdentity(), 'other-writer', T0);
  assert.equal(
    a2.auth.some((f) => f.includes('"result"')),
    true,
  );
  // Stored bytes: a 2 000-byte quota takes one 1 500-byte message, not a second.
  const h3 = harness({ limits: { chatStoredBytes: 2000 } });
  const w = await login(h3, await generateIdentity(), 'big-writer', T0);
  const r = await login(h3, await generateIdentity(), 'big-reader', T0);
  const rId = (
    JSON.parse(r.auth.find((f) => f.includes('"id":1'))!) as { result: { userId: string } }
  ).result.userId;
  const big = (i: number) =>
    h3.send(
      w.connId,
      { type: 'chat.send', id: 400 + i, to: rId, clientMsgId: `big${i}`, text: 'x'.repeat(1500) },
      T0 + i,
    );
  assert.equal(
    big(0).some((f) => f.includes('SIG_ERR_CHAT_QUOTA')),
    false,
  );
  const second = big(1);
  assert.equal(
    second.some((f) => f.includes('SIG_ERR_CHAT_QUOTA') && f.includes('bytes')),
    true,
  );
});

test('attack: one identity logging in over and over is cut off before the signature check; forgeries do not count', async () => {
  const h = harness({ limits: { identityLogins: { burst: 3, perSec: 0.5 } } });
  const id = await generateIdentity();
  // Forged logins with that public key (a bad signature) first: they must not use its tokens.
  for (let i = 0; i < 5; i++) {
    const connId = nextConn++;
    h.core.handleInput({ type: 'open', connId, address: '198.51.100.50' }, T0);
    const r = h.send(
      connId,
      {
        type: 'auth',
        id: 1,
        protocolVersion: 1,
        name: 'owner',
        publicKey: toBase64(id.publicKey),
        signature: toBase64(new Uint8Array(64)),
      },
      T0,
    );
    assert.ok(r.some((f) => f.includes('SIG_ERR_BAD_SIGNATURE')));
  }
  const outcomes: string[] = [];
  for (let i = 0; i < 5; i++) {
    const { auth } = await login(h, id, 'owner', T0 + i);
    outcomes.push(rateLimited(auth).length > 0 ? 'limited' : 'ok');
  }
  assert.deepEqual(outcomes, ['ok', 'ok', 'ok', 'limited', 'limited']);
  const later = await login(h, id, 'owner', T0 + 2100);
  assert.equal(rateLimited(later.auth).length, 0, 'one more login after 2 s');
});

test('a rate-limited request is answered with its own id, so the client fails at once', async () => {
  const h = harness({ messageBucket: { burst: 3, perSec: 0.001 } });
  const id = await generateIdentity();
  const { connId } = await login(h, id, 'chatty', T0);
  const answers = [1, 2, 3, 4, 5].flatMap((i) => h.send(connId, { type: 'ping', id: 300 + i }, T0));
  const limited = rateLimited(answers).map((f) => JSON.parse(f) as { id?: number });
  assert.ok(limited.length > 0, 'some pings are refused');
  for (const e of limited) assert.ok(e.id !== undefined && e.id > 300, JSON.stringify(e));
  assert.equal(requestIdOf('{"type":"chat.send","id":42,"text":"x"}'), 42);
  assert.equal(requestIdOf('{"type":"chat.send","text":"\\"id\\":7","id":9}'), 9);
  assert.equal(requestIdOf('{"type":"ping"}'), undefined);
  assert.equal(requestIdOf('{"id":12345678901}'), undefined);
});
