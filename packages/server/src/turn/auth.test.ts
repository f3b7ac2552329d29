import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnAuthenticator, type TurnAuthOptions } from './auth.ts';
import { TurnTestClient } from './client.ts';
import {
  SECRET,
  T0,
  makeCore,
  client,
  reply,
  creds,
  allocate,
  errorOf,
  directory,
  request,
} from './core-test-kit.ts';
import { issueTurnCredential, turnPassword } from './credentials.ts';
import { RequestLimiter } from './request-limiter.ts';
import {
  Attr,
  MessageClass,
  Method,
  StunBuilder,
  getAttribute,
  longTermKey,
  parseStunMessage,
} from './stun.ts';

test('long-term auth: 401 challenge, wrong password, expired credential, stale and replayed nonces', () => {
  const { core } = makeCore({ nonceLifetimeMs: 60_000 });
  const c = client();
  const tc = creds('c1', 'alice');
  const first = tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
  assert.equal(first?.errorCode, 401);
  assert.equal(getAttribute(first.msg, Attr.REALM)?.toString(), 'parloir');
  assert.ok(tc.ready);

  const wrong = new TurnTestClient({
    username: issueTurnCredential(SECRET, 'c1', 'alice', T0, 60).username,
    password: 'nope',
  });
  wrong.nonce = tc.nonce;
  wrong.read(reply(core.handleClientPacket(c, wrong.allocate(), T0)));
  assert.equal(errorOf(wrong, core.handleClientPacket(c, wrong.allocate(), T0)), 401);

  const expired = creds('c1', 'alice', T0 - 7200_000, 60);
  expired.read(reply(core.handleClientPacket(c, expired.allocate(), T0)));
  assert.equal(errorOf(expired, core.handleClientPacket(c, expired.allocate(), T0)), 401);

  // The nonce is bound to the client's address: replaying it from elsewhere is a stale nonce.
  const other = client();
  assert.equal(errorOf(tc, core.handleClientPacket(other, tc.allocate(), T0)), 438);
  // And it expires.
  const stale = creds('c1', 'alice');
  stale.read(reply(core.handleClientPacket(c, stale.allocate(), T0)));
  assert.equal(errorOf(stale, core.handleClientPacket(c, stale.allocate(), T0 + 61_000)), 438);
  // After a 438 the client retries with the fresh nonce and succeeds.
  const act = core.handleClientPacket(c, stale.allocate(), T0 + 61_000);
  assert.equal(act?.kind, 'allocate');
});

test('credentials of a call that is not live, or of a user outside it, are refused', () => {
  const { core, logs } = makeCore();
  for (const [callId, userId] of [
    ['c2', 'alice'],
    ['c1', 'mallory'],
    ['c1', ''],
  ] as const) {
    const c = client();
    const tc = creds(callId, userId);
    tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
    assert.equal(errorOf(tc, core.handleClientPacket(c, tc.allocate(), T0)), 401);
  }
  assert.ok(logs.some((l) => l === 'turn auth refused'));
});

test('bench mode accepts `expiry` and `expiry:anything` usernames with no call behind them', () => {
  const { core } = makeCore({ bench: true, calls: undefined });
  for (const username of [String(T0 / 1000 + 60), `${T0 / 1000 + 60}:whatever`]) {
    const tc = new TurnTestClient({ username, password: turnPassword(SECRET, username) });
    allocate(core, client('127.0.0.1'), tc);
  }
  // Still expiring, still keyed by the secret.
  const old = String(T0 / 1000 - 1);
  const tc = new TurnTestClient({ username: old, password: turnPassword(SECRET, old) });
  const c = client('127.0.0.1');
  tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
  assert.equal(errorOf(tc, core.handleClientPacket(c, tc.allocate(), T0)), 401);
});

function authenticator(o: Partial<TurnAuthOptions> = {}) {
  const calls = new Map<string, readonly [string, string]>([['c1', ['alice', 'bob']]]);
  return new TurnAuthenticator({
    secret: SECRET,
    realm: 'parloir',
    calls: directory(calls),
    bench: false,
    nonceLifetimeMs: 600_000,
    ...o,
  });
}

const udpClient = { transport: 'udp' as const, ip: '198.51.100.7', port: 4000, key: 'udp:a' };

test('nonces on the fake clock: valid for their lifetime, bound to the UDP 5-tuple or the TCP IP, unforgeable', () => {
  const auth = authenticator();
  const n = auth.nonce(udpClient, T0);
  assert.ok(auth.nonceValid(n, udpClient, T0 + 599_999));
  assert.ok(!auth.nonceValid(n, udpClient, T0 + 600_000), 'expired');
  assert.ok(!auth.nonceValid(n, { ...udpClient, port: 4001, key: 'udp:b' }, T0), 'another port');
  const tcp = { transport: 'tcp' as const, ip: '198.51.100.7', port: 5000, key: 'tcp:1' };
  const tn = auth.nonce(tcp, T0);
  assert.ok(auth.nonceValid(tn, { ...tcp, port: 5001, key: 'tcp:2' }, T0), 'RFC 6062: same IP');
  assert.ok(!auth.nonceValid(tn, { ...tcp, ip: '198.51.100.8' }, T0));
  // A later expiry written into the nonce breaks its MAC.
  const [expiry, mac] = n.split('-');
  const later = `${(parseInt(expiry ?? '0', 16) + 3_600_000).toString(16)}-${mac}`;
  assert.ok(!auth.nonceValid(later, udpClient, T0));
  for (const junk of ['', '-', 'zz-00', `${expiry}-`, 'ffffffffffffffffff-00']) {
    assert.ok(!auth.nonceValid(junk, udpClient, T0), junk);
  }
  assert.ok(!authenticator().nonceValid(n, udpClient, T0), "another process's key");
});

test('authenticate: each failed check gets its code, then the identity of a good credential', () => {
  const auth = authenticator();
  const nonce = auth.nonce(udpClient, T0);
  const c = issueTurnCredential(SECRET, 'c1', 'alice', T0, 600);
  const signed = (o: { user?: string; realm?: string; nonce?: string; password?: string }) => {
    const user = o.user ?? c.username;
    const realm = o.realm ?? 'parloir';
    const key = longTermKey(user, realm, o.password ?? turnPassword(SECRET, user));
    const b = new StunBuilder(Method.ALLOCATE, MessageClass.REQUEST, Buffer.alloc(12, 7))
      .addString(Attr.USERNAME, user)
      .addString(Attr.REALM, realm)
      .addString(Attr.NONCE, o.nonce ?? nonce);
    const parsed = parseStunMessage(b.build({ integrityKey: key }));
    assert.ok(parsed.ok);
    return auth.authenticate(parsed.value, udpClient, T0);
  };
  const code = (r: ReturnType<typeof signed>) => (r.ok ? 0 : r.code);
  assert.equal(code(auth.authenticate(request(Method.ALLOCATE), udpClient, T0)), 401);
  assert.equal(code(signed({ nonce: 'stale-00' })), 438);
  assert.equal(code(signed({ realm: 'other' })), 401);
  assert.equal(code(signed({ user: 'nonsense' })), 401);
  const expired = issueTurnCredential(SECRET, 'c1', 'alice', T0 - 700_000, 600);
  assert.equal(code(signed({ user: expired.username })), 401);
  assert.equal(code(signed({ password: 'wrong' })), 401);
  const outsider = issueTurnCredential(SECRET, 'c1', 'mallory', T0, 600);
  assert.deepEqual(signed({ user: outsider.username }), {
    ok: false,
    code: 401,
    why: 'call is not live or user not in it',
  });
  const good = signed({});
  assert.ok(good.ok);
  assert.deepEqual(
    { ...good.identity, key: good.identity.key.length },
    { username: c.username, callId: 'c1', userId: 'alice', key: 16 },
  );
});

test('RequestLimiter: bursts of 4 × the rate, refilled by time, one warning per flood, idle buckets pruned', () => {
  const warnings: string[] = [];
  const limiter = new RequestLimiter(10, { info() {}, warn: (_o, m) => warnings.push(m) });
  let taken = 0;
  while (limiter.take('198.51.100.7', T0) && taken < 1000) taken++;
  assert.equal(taken, 40);
  assert.ok(!limiter.take('198.51.100.7', T0));
  assert.equal(warnings.length, 1, 'warned once');
  assert.ok(limiter.take('198.51.100.8', T0), 'another address is served');
  assert.ok(limiter.take('198.51.100.7', T0 + 100), '100 ms refill one request');
  assert.ok(!limiter.take('198.51.100.7', T0 + 100));
  assert.equal(limiter.size, 2);
  limiter.prune(T0 + 10_100);
  assert.equal(limiter.size, 1, 'the second address was idle for more than 10 s');
  limiter.prune(T0 + 10_101);
  assert.equal(limiter.size, 0);
});
