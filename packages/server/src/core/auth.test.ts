/**
 * The auth module on the in-memory store with a fake clock and real Ed25519: hello, a login that
 * enters, and each refusal with its code and close code (version, signature over another
 * challenge, password, guess throttling, login rate, name binding, look-alikes, server full);
 * a resumed session; a login parked for the host. No SQLite, no sockets, no sleeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CLOSE_CODES,
  authSigningText,
  generateIdentity,
  toBase64,
  type GeneratedIdentity,
} from '@parloir/protocol';
import { CORE_CRYPTO } from '../core-crypto.ts';
import { Auth, constantTimeEqual, type AuthOptions } from './auth.ts';
import type { Conn, Session } from './context.ts';
import type { HostModeOptions } from './core-types.ts';
import { HostApprovals } from './host-approvals.ts';
import { CoreLimits, type CoreLimitsConfig } from './limits.ts';
import { NameIndex } from './name-index.ts';
import { Harness } from './testing/harness.ts';

const T0 = 1_800_000_000_000;

function setup(
  opts: Partial<Pick<AuthOptions, 'password' | 'maxUsers'>> & {
    host?: HostModeOptions;
    limits?: Partial<CoreLimitsConfig>;
  } = {},
) {
  const h = new Harness();
  const entered: Session[] = [];
  const resumed: [string, boolean][] = [];
  const liveCalls = new Map<string, string>();
  const approvals = new HostApprovals(h.ctx, {
    host: opts.host,
    randomId: () => 'req1',
    enter: (s) => entered.push(s),
    sendSnapshot: () => undefined,
  });
  let conns = 0;
  const auth = new Auth(h.ctx, {
    serverName: 'test',
    password: opts.password,
    maxUsers: opts.maxUsers,
    host: opts.host,
    messageBucket: { burst: 100, perSec: 50 },
    callBucket: { burst: 10, perSec: 1 },
    ...CORE_CRYPTO,
    randomId: () => `challenge${++conns}`,
    limits: new CoreLimits(opts.limits ?? {}, (u, since) => h.store.chatUsageOf(u, since)),
    names: new NameIndex(),
    approvals,
    callOf: (userId) => {
      const callId = liveCalls.get(userId);
      return callId === undefined ? undefined : { callId };
    },
    enter: (s) => {
      s.conn.state = 'ready';
      h.ctx.sessions.set(s.userId, s);
      entered.push(s);
    },
    resumed: (s, renamed) => resumed.push([s.userId, renamed]),
  });
  /** Opens connection `connId` and logs in as `name` with `identity`; returns the answer. */
  const login = async (
    connId: number,
    name: string,
    identity: GeneratedIdentity,
    extra: { password?: string; protocolVersion?: number; challenge?: string } = {},
    nowMs = T0,
    address = '127.0.0.1',
  ) => {
    const conn: Conn = auth.open(connId, address, nowMs, undefined);
    auth.hello(conn);
    const sig = await identity.sign(
      new TextEncoder().encode(authSigningText(extra.challenge ?? conn.challenge, name)),
    );
    auth.login(
      conn,
      {
        type: 'auth',
        id: 1,
        protocolVersion: extra.protocolVersion ?? 1,
        name,
        publicKey: toBase64(identity.publicKey),
        signature: toBase64(sig),
        ...(extra.password === undefined ? {} : { password: extra.password }),
      },
      nowMs,
    );
    h.drain();
    const answer = (h.of(connId).find((f) => f.id === 1) ?? {}) as {
      code?: string;
      result?: Record<string, unknown>;
    };
    return { conn, answer };
  };
  const closeCodeOf = (connId: number) => h.closes.find((c) => c.connId === connId)?.code;
  return { h, auth, approvals, entered, resumed, liveCalls, login, closeCodeOf };
}

test('hello carries the challenge, whether a password is needed, and host mode', () => {
  const { h, auth } = setup({ password: 'pw' });
  const conn = auth.open(1, '127.0.0.1', T0, ['tls:abc', 'origin:https://x']);
  auth.hello(conn);
  h.drain();
  assert.deepEqual(h.of(1), [
    {
      type: 'hello',
      protocolVersion: 1,
      serverName: 'test',
      challenge: 'challenge1',
      passwordRequired: true,
      hostMode: false,
      loginName: 'tls',
    },
  ]);
  assert.equal(h.ctx.conns.get(1), conn);
});

test('a verified login registers the user and enters; the name is used in NFKC', async () => {
  const { h, login, entered } = setup();
  const id = await generateIdentity();
  const { answer, conn } = await login(1, 'Ａｌｉｃｅ', id);
  assert.equal(answer.result?.name, 'Alice');
  assert.equal(answer.result?.state, 'ready');
  assert.equal(answer.result?.resumed, false);
  const userId = String(answer.result?.userId);
  assert.equal(h.store.userById(userId)?.name, 'Alice');
  assert.deepEqual(
    entered.map((s) => s.userId),
    [userId],
  );
  assert.equal(conn.session?.userId, userId);
});

test('refusals close with AUTH_FAILED and store nothing: version, signature over another challenge', async () => {
  const { h, login, closeCodeOf } = setup();
  const id = await generateIdentity();
  assert.equal((await login(1, 'a', id, { protocolVersion: 99 })).answer.code, 'SIG_ERR_VERSION');
  // A signature of someone else's challenge (a replayed login) does not verify.
  const replay = await login(2, 'a', id, { challenge: 'challenge1' });
  assert.equal(replay.answer.code, 'SIG_ERR_BAD_SIGNATURE');
  assert.equal(closeCodeOf(1), CLOSE_CODES.AUTH_FAILED);
  assert.equal(closeCodeOf(2), CLOSE_CODES.AUTH_FAILED);
  assert.equal(h.store.allUserNames().length, 0);
  assert.equal(h.ctx.conns.size, 0, 'both connections dropped');
});

test('password: wrong or missing refused; guesses from one address throttled even when right', async () => {
  const { login } = setup({
    password: 'open sesame',
    limits: { passwordGuesses: { burst: 2, perSec: 0.1 } },
  });
  const id = await generateIdentity();
  assert.equal((await login(1, 'a', id)).answer.code, 'SIG_ERR_BAD_PASSWORD');
  assert.equal(
    (await login(2, 'a', id, { password: 'guess' })).answer.code,
    'SIG_ERR_BAD_PASSWORD',
  );
  const right = await login(3, 'a', id, { password: 'open sesame' });
  assert.equal(right.answer.code, 'SIG_ERR_RATE_LIMITED', 'two wrong guesses used the burst');
  const other = await login(
    4,
    'b',
    await generateIdentity(),
    { password: 'open sesame' },
    T0,
    '10.0.0.2',
  );
  assert.equal(other.answer.result?.state, 'ready', 'another address is not throttled');
  // 10 s later one more guess is allowed (0.1/s).
  const later = await login(5, 'a', id, { password: 'open sesame' }, T0 + 10_000);
  assert.equal(later.answer.result?.state, 'ready');
  assert.equal(constantTimeEqual('abc', 'abc'), true);
  assert.equal(constantTimeEqual('abc', 'abd'), false);
  assert.equal(constantTimeEqual('abc', 'abcd'), false);
});

test('logins per identity are limited; a forged login does not use the key’s tokens', async () => {
  const { login } = setup({ limits: { identityLogins: { burst: 2, perSec: 0.5 } } });
  const id = await generateIdentity();
  for (let i = 0; i < 3; i++) {
    const forged = await login(10 + i, 'a', id, { challenge: 'not-this-one' });
    assert.equal(forged.answer.code, 'SIG_ERR_BAD_SIGNATURE');
  }
  assert.equal((await login(1, 'a', id)).answer.result?.state, 'ready');
  assert.equal((await login(2, 'a', id)).answer.result?.state, 'ready');
  assert.equal((await login(3, 'a', id)).answer.code, 'SIG_ERR_RATE_LIMITED');
  assert.equal((await login(4, 'a', id, {}, T0 + 2_000)).answer.result?.state, 'ready');
});

test('names: bound to the first key, look-alikes refused, bad characters refused', async () => {
  const { login } = setup();
  const alice = await generateIdentity();
  const mallory = await generateIdentity();
  await login(1, 'alice', alice);
  assert.equal((await login(2, 'ALICE', mallory)).answer.code, 'SIG_ERR_NAME_TAKEN');
  assert.equal((await login(3, 'аlice', mallory)).answer.code, 'SIG_ERR_NAME_TAKEN', 'Cyrillic а');
  assert.equal((await login(4, 'al\u202eice', mallory)).answer.code, 'SIG_ERR_BAD_NAME');
  assert.equal((await login(5, 'mallory', mallory)).answer.result?.name, 'mallory');
});

test('server full: a new user is refused; a user already online may still log in again', async () => {
  const { login } = setup({ maxUsers: 1 });
  const a = await generateIdentity();
  await login(1, 'a', a);
  assert.equal((await login(2, 'b', await generateIdentity())).answer.code, 'SIG_ERR_SERVER_FULL');
  assert.equal((await login(3, 'a', a)).answer.result?.resumed, true);
});

test('resume: the same key on a new connection takes the session over, with its call id', async () => {
  const { h, login, resumed, liveCalls, entered, closeCodeOf } = setup();
  const id = await generateIdentity();
  const first = await login(1, 'a', id);
  const userId = String(first.answer.result?.userId);
  liveCalls.set(userId, 'call-xyz');
  const second = await login(2, 'A', id);
  assert.deepEqual(second.answer.result, {
    userId,
    name: 'A',
    state: 'ready',
    resumed: true,
    callId: 'call-xyz',
  });
  assert.equal(closeCodeOf(1), CLOSE_CODES.REPLACED);
  assert.deepEqual(resumed, [[userId, true]], 'renamed a → A');
  assert.equal(entered.length, 1, 'entered once');
  assert.equal(h.ctx.sessions.get(userId)?.conn, second.conn);
});

test('host mode: a guest is parked pending; the host (by name) and accept-all guests enter', async () => {
  const { login, approvals, entered } = setup({ host: { name: 'boss' } });
  const guest = await login(1, 'guest', await generateIdentity());
  assert.equal(guest.answer.result?.state, 'pending');
  assert.equal(guest.conn.state, 'pending');
  assert.equal(approvals.pendingCount, 1);
  const boss = await login(2, 'boss', await generateIdentity());
  assert.equal(boss.answer.result?.state, 'ready');
  assert.equal(entered.at(-1)?.isHost, true);
  assert.equal(
    (await login(3, 'b0ss', await generateIdentity())).answer.code,
    'SIG_ERR_NAME_TAKEN',
  );
  const open = setup({ host: { name: 'boss', acceptAll: true } });
  const g2 = await open.login(1, 'guest', await generateIdentity());
  assert.equal(g2.answer.result?.state, 'ready');
});
