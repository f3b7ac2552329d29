/**
 * The signalling grace period (issue 21 §1) on the in-memory store with a fake clock: a party of
 * an accepted call whose connection drops is detached, not hung up — the peer is told it is
 * reconnecting, the relay keeps the call — and it may re-attach after logging in again; at the
 * end of the grace the call ends as a drop did before. Then the same through the whole core: a
 * closed WebSocket, a new login that names the call, `call.reattach`. No SQLite, no sleeps.
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
import { SignalingError } from '@parloir/protocol';
import { SignalingCore } from './signaling-core.ts';
import { FakeRelay, setup, T0 } from './testing/calls-fixture.ts';
import { FakeStore } from './testing/fake-store.ts';

const codeOf = (r: object) => (r instanceof SignalingError ? r.code : 'ok');

/** An accepted call between alice (conn 1) and bob (conn 2), id `call1`. */
function inCall(callGraceMs = 30_000) {
  const f = setup({ callGraceMs });
  f.req(f.a, { type: 'call.invite', id: 1, to: 'ub' });
  f.req(f.b, { type: 'call.accept', id: 2, callId: 'call1' });
  f.h.clear();
  /** Bob's last connection closes at `nowMs`. */
  const bobDrops = (nowMs: number) => {
    f.h.ctx.sessions.delete('ub');
    f.calls.userLeft('ub', nowMs);
    f.h.drain();
  };
  return { ...f, bobDrops };
}

test('a drop during an accepted call: the peer hears "reconnecting", the call and the relay stay', () => {
  const { h, relay, table, bobDrops } = inCall();
  bobDrops(T0 + 1_000);
  assert.deepEqual(h.events(1, 'call.peerReconnecting'), [
    { type: 'call.peerReconnecting', callId: 'call1', userId: 'ub', graceMs: 30_000 },
  ]);
  assert.deepEqual(h.events(1, 'call.ended'), []);
  assert.equal(table.get('call1')?.state, 'accepted');
  assert.deepEqual(relay.ended, [], 'allocations kept');
  h.store.flushCalls();
  assert.equal(h.store.calls.get('call1')?.endedAt, null);
});

test('re-attach within the grace: the peer hears it is back, and the grace no longer ends the call', () => {
  const { h, calls, table, req, bobDrops } = inCall();
  bobDrops(T0 + 1_000);
  const b2 = h.online(3, 'ub', 'bob', T0 + 4_000);
  assert.deepEqual(req(b2, { type: 'call.reattach', id: 7, callId: 'call1' }, T0 + 4_000), {});
  assert.deepEqual(h.events(1, 'call.peerReconnected'), [
    { type: 'call.peerReconnected', callId: 'call1', userId: 'ub' },
  ]);
  calls.expire(T0 + 60_000);
  h.drain();
  assert.equal(table.get('call1')?.state, 'accepted');
  assert.deepEqual(h.events(1, 'call.ended'), []);
  // Signals flow to the new connection.
  const signal = { kind: 'end-of-candidates' as const };
  req(h.ctx.sessions.get('ua') ?? b2, { type: 'call.signal', id: 8, callId: 'call1', signal });
  assert.equal(h.events(3, 'call.signal').length, 1);
});

test('the grace ends: not a millisecond early, then the call ends as a drop did (disconnected)', () => {
  const { h, calls, relay, table, bobDrops } = inCall(30_000);
  bobDrops(T0 + 1_000);
  calls.expire(T0 + 30_999);
  h.drain();
  assert.equal(table.get('call1')?.state, 'accepted');
  calls.expire(T0 + 31_000);
  h.drain();
  assert.deepEqual(h.events(1, 'call.ended'), [
    { type: 'call.ended', callId: 'call1', reason: 'disconnected', by: 'ub' },
  ]);
  assert.equal(table.get('call1'), undefined);
  assert.deepEqual(relay.ended, ['call1']);
  h.store.flushCalls();
  assert.equal(h.store.calls.get('call1')?.endReason, 'disconnected');
  assert.equal(h.store.calls.get('call1')?.endedAt, T0 + 31_000);
});

test('a flapping party keeps its first deadline; the peer may hang up meanwhile', () => {
  const { h, calls, a, req, table, relay, bobDrops } = inCall(30_000);
  bobDrops(T0);
  h.online(3, 'ub', 'bob', T0 + 10_000); // back, but does not re-attach
  bobDrops(T0 + 20_000);
  assert.deepEqual(
    h.events(1, 'call.peerReconnecting').map((e) => e.graceMs),
    [30_000, 10_000],
  );
  calls.expire(T0 + 30_000);
  h.drain();
  assert.equal(table.get('call1'), undefined, 'ended at the first deadline');
  // Another call: the peer hangs up during the grace.
  const b = h.online(4, 'ub', 'bob', T0 + 40_000);
  req(a, { type: 'call.invite', id: 3, to: 'ub' }, T0 + 40_000);
  req(b, { type: 'call.accept', id: 4, callId: 'call2' }, T0 + 40_000);
  bobDrops(T0 + 41_000);
  assert.deepEqual(req(a, { type: 'call.hangup', id: 5, callId: 'call2' }, T0 + 42_000), {});
  assert.deepEqual(relay.ended, ['call1', 'call2']);
  const b3 = h.online(5, 'ub', 'bob', T0 + 43_000);
  const late = req(b3, { type: 'call.reattach', id: 6, callId: 'call2' }, T0 + 43_000);
  assert.equal(codeOf(late), 'SIG_ERR_NOT_IN_CALL');
});

test('no grace for an unanswered call, nor with callGraceMs 0; re-attach only to your own accepted call', () => {
  const f = setup();
  f.req(f.a, { type: 'call.invite', id: 1, to: 'ub' });
  f.h.ctx.sessions.delete('ub');
  f.calls.userLeft('ub', T0);
  f.h.drain();
  assert.equal(f.h.events(1, 'call.ended')[0]?.reason, 'disconnected', 'ringing: ends at once');
  const c = f.h.online(3, 'uc', 'carol');
  f.h.online(4, 'ub', 'bob');
  const b = f.h.ctx.sessions.get('ub');
  assert.ok(b);
  f.req(f.a, { type: 'call.invite', id: 2, to: 'ub' });
  f.req(b, { type: 'call.accept', id: 3, callId: 'call2' });
  const other = f.req(c, { type: 'call.reattach', id: 4, callId: 'call2' });
  assert.equal(codeOf(other), 'SIG_ERR_NOT_IN_CALL', 'not a party');
  f.h.clear();
  assert.deepEqual(f.req(b, { type: 'call.reattach', id: 5, callId: 'call2' }), {});
  assert.deepEqual(f.h.events(1, 'call.peerReconnected'), [], 'attached already: no event');
  const none = inCall(0);
  none.bobDrops(T0);
  assert.equal(none.h.events(1, 'call.ended')[0]?.reason, 'disconnected');
});

test('a party that quits on purpose (close code 1000, `left`) ends the call at once, no grace', () => {
  const { h, calls, relay, table } = inCall(30_000);
  h.ctx.sessions.delete('ub');
  calls.userLeft('ub', T0 + 1_000, true);
  h.drain();
  assert.deepEqual(h.events(1, 'call.peerReconnecting'), []);
  assert.deepEqual(h.events(1, 'call.ended'), [
    { type: 'call.ended', callId: 'call1', reason: 'disconnected', by: 'ub' },
  ]);
  assert.equal(table.get('call1'), undefined);
  assert.deepEqual(relay.ended, ['call1']);
});

test('through the core: a closed WebSocket, a new login naming the call, call.reattach', async () => {
  const relay = new FakeRelay();
  const core = new SignalingCore({ store: new FakeStore(), ...CORE_CRYPTO, relay });
  const frames = new Map<number, Record<string, unknown>[]>();
  const drain = () => {
    for (const o of core.pollOutput()) {
      if (o.type !== 'send') continue;
      const t = typeof o.text === 'string' ? o.text : new TextDecoder().decode(o.text);
      frames.set(o.connId, [
        ...(frames.get(o.connId) ?? []),
        JSON.parse(t) as Record<string, unknown>,
      ]);
    }
  };
  const send = (connId: number, msg: object, now: number) => {
    core.handleInput({ type: 'text', connId, text: JSON.stringify(msg) }, now);
    drain();
    return (frames.get(connId) ?? []).find((f) => f.id === (msg as { id: number }).id);
  };
  const login = async (connId: number, name: string, id: GeneratedIdentity, now: number) => {
    core.handleInput({ type: 'open', connId, address: '127.0.0.1' }, now);
    drain();
    const hello = frames.get(connId)?.find((f) => f.type === 'hello');
    const sig = await id.sign(
      new TextEncoder().encode(authSigningText(String(hello?.challenge), name)),
    );
    const auth = {
      type: 'auth',
      id: 1,
      protocolVersion: 1,
      name,
      publicKey: toBase64(id.publicKey),
      signature: toBase64(sig),
    };
    return (send(connId, auth, now) as { result: { userId: string; callId?: string } }).result;
  };
  const alice = await login(1, 'alice', await generateIdentity(), T0);
  const bobId = await generateIdentity();
  const bob = await login(2, 'bob', bobId, T0);
  const inv = send(1, { type: 'call.invite', id: 2, to: bob.userId }, T0) as {
    result: { callId: string };
  };
  const callId = inv.result.callId;
  send(2, { type: 'call.accept', id: 2, callId }, T0 + 500);
  core.handleInput({ type: 'closed', connId: 2 }, T0 + 1_000);
  drain();
  const ev = (type: string) => (frames.get(1) ?? []).filter((f) => f.type === type);
  assert.deepEqual(ev('call.peerReconnecting'), [
    { type: 'call.peerReconnecting', callId, userId: bob.userId, graceMs: 30_000 },
  ]);
  assert.deepEqual(core.partiesOf(callId), [alice.userId, bob.userId], 'the relay still sees it');
  assert.equal(core.stats().callsReconnecting, 1);
  assert.deepEqual(relay.ended, []);
  const back = await login(3, 'bob', bobId, T0 + 6_000);
  assert.equal(back.callId, callId, 'the login names the kept call');
  assert.deepEqual(send(3, { type: 'call.reattach', id: 2, callId }, T0 + 6_000), {
    type: 'result',
    id: 2,
    result: {},
  });
  assert.deepEqual(ev('call.peerReconnected'), [
    { type: 'call.peerReconnected', callId, userId: bob.userId },
  ]);
  // Alice and the new connection stay alive (pongs); a silent one would time out at 30 s.
  for (const t of [T0 + 30_000, T0 + 60_000]) {
    core.handleInput({ type: 'alive', connId: 1 }, t);
    core.handleInput({ type: 'alive', connId: 3 }, t);
    core.handleInput({ type: 'tick' }, t);
  }
  drain();
  assert.deepEqual(ev('call.ended'), []);
  assert.equal(core.stats().calls.accepted, 1);
  assert.equal(core.stats().callsReconnecting, 0);
  // Dropped again and never back: the call ends 30 s later.
  core.handleInput({ type: 'closed', connId: 3 }, T0 + 61_000);
  for (const t of [T0 + 90_000, T0 + 91_250]) {
    core.handleInput({ type: 'alive', connId: 1 }, t);
    core.handleInput({ type: 'tick' }, t);
  }
  drain();
  assert.deepEqual(ev('call.ended'), [
    { type: 'call.ended', callId, reason: 'disconnected', by: bob.userId },
  ]);
  assert.deepEqual(relay.ended, [callId]);
});
