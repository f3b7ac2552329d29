import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnTestClient } from './client.ts';
import { issueTurnCredential, turnPassword } from './credentials.ts';
import { SECRET, T0, makeCore, client, reply, creds, allocate, errorOf } from './core-test-kit.ts';
import { Attr, getAttribute } from './stun.ts';

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
