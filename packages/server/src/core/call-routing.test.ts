/**
 * The call module on the in-memory store with a fake clock and a fake relay: invite → ring →
 * accept → hangup with the frames each party gets and the records the store gets, busy and
 * do-not-disturb, glare, signals only within an accepted call, ring timeouts, a party leaving,
 * shutdown, the call-attempt limit, and a relay that fails. No SQLite, no sockets, no sleeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignalingError } from '@parloir/protocol';
import type { IceServerInfo } from '../relay-types.ts';
import { setup, T0 } from './testing/calls-fixture.ts';

const codeOf = (r: object) => (r instanceof SignalingError ? r.code : 'ok');

test('invite → ring → accept → hangup: each party told, credentials from the relay, records stored', () => {
  const { h, relay, statusChanges, a, b, req, table } = setup();
  assert.deepEqual(req(a, { type: 'call.invite', id: 1, to: 'ub' }), { callId: 'call1' });
  assert.deepEqual(h.events(2, 'call.incoming'), [
    { type: 'call.incoming', callId: 'call1', from: { userId: 'ua', name: 'alice' } },
  ]);
  req(b, { type: 'call.ring', id: 2, callId: 'call1' }, T0 + 100);
  assert.deepEqual(h.events(1, 'call.ringing'), [{ type: 'call.ringing', callId: 'call1' }]);
  req(b, { type: 'call.accept', id: 3, callId: 'call1' }, T0 + 2_000);
  for (const [conn, role, peer] of [
    [1, 'offerer', 'ub'],
    [2, 'answerer', 'ua'],
  ] as const) {
    const acc = h.events(conn, 'call.accepted')[0] as {
      role: string;
      peer: { userId: string };
      iceServers: IceServerInfo[];
      relayOnly: boolean;
    };
    assert.equal(acc.role, role);
    assert.equal(acc.peer.userId, peer);
    assert.equal(acc.iceServers[0]?.username, `call1:${conn === 1 ? 'ua' : 'ub'}`);
    assert.equal(acc.relayOnly, false);
  }
  assert.deepEqual(statusChanges, ['ua', 'ub']);
  assert.equal(table.get('call1')?.state, 'accepted');
  req(a, { type: 'call.hangup', id: 4, callId: 'call1' }, T0 + 60_000);
  for (const conn of [1, 2]) {
    assert.deepEqual(h.events(conn, 'call.ended'), [
      { type: 'call.ended', callId: 'call1', reason: 'hangup', by: 'ua' },
    ]);
  }
  assert.deepEqual(relay.ended, ['call1']);
  assert.equal(table.get('call1'), undefined);
  assert.equal(h.store.calls.size, 0, 'records wait for the tick');
  h.store.flushCalls();
  assert.deepEqual(h.store.calls.get('call1'), {
    callId: 'call1',
    caller: 'ua',
    callee: 'ub',
    createdAt: T0,
    answeredAt: T0 + 2_000,
    endedAt: T0 + 60_000,
    endReason: 'hangup',
  });
  assert.equal(h.ctx.counters.callsEnded.hangup, 1);
});

test('busy and do-not-disturb: the invite ends at once, the callee gets a missed call, it is recorded', () => {
  const { h, a, b, req, table } = setup();
  const c = h.online(3, 'uc', 'carol');
  b.chosen = 'dnd';
  req(a, { type: 'call.invite', id: 1, to: 'ub' });
  assert.deepEqual(h.events(1, 'call.ended'), [
    { type: 'call.ended', callId: 'call1', reason: 'dnd' },
  ]);
  assert.deepEqual(h.events(2, 'call.missed'), [
    { type: 'call.missed', callId: 'call1', from: { userId: 'ua', name: 'alice' }, reason: 'dnd' },
  ]);
  assert.equal(table.get('call1'), undefined);
  b.chosen = 'available';
  req(a, { type: 'call.invite', id: 2, to: 'ub' });
  req(c, { type: 'call.invite', id: 3, to: 'ub' });
  assert.deepEqual(h.events(3, 'call.ended'), [
    { type: 'call.ended', callId: 'call3', reason: 'busy' },
  ]);
  h.store.flushCalls();
  assert.equal(h.store.calls.get('call1')?.endReason, 'dnd');
  assert.equal(h.store.calls.get('call3')?.endReason, 'busy');
  assert.equal(h.store.calls.get('call2')?.endedAt, null, 'the live call is open');
});

test('glare: two invites cross; they merge into one accepted call and the lower user id offers', () => {
  const { h, a, b, req } = setup();
  req(b, { type: 'call.invite', id: 1, to: 'ua' });
  const r = req(a, { type: 'call.invite', id: 2, to: 'ub' }, T0 + 5);
  assert.deepEqual(r, { callId: 'call1', glare: true });
  const roleOf = (conn: number) => (h.events(conn, 'call.accepted')[0] as { role: string }).role;
  assert.equal(roleOf(1), 'offerer', "'ua' < 'ub'");
  assert.equal(roleOf(2), 'answerer');
  h.store.flushCalls();
  assert.equal(h.store.calls.get('call1')?.answeredAt, T0 + 5);
});

test('refusals are typed: yourself, offline, blocked either way, already in a call, illegal transitions', () => {
  const { blocks, a, b, req } = setup();
  assert.equal(codeOf(req(a, { type: 'call.invite', id: 1, to: 'ua' })), 'SIG_ERR_SELF');
  assert.equal(codeOf(req(a, { type: 'call.invite', id: 2, to: 'nobody' })), 'SIG_ERR_UNAVAILABLE');
  blocks.add('ub', 'ua');
  assert.equal(codeOf(req(a, { type: 'call.invite', id: 3, to: 'ub' })), 'SIG_ERR_UNAVAILABLE');
  blocks.remove('ub', 'ua');
  blocks.add('ua', 'ub');
  assert.equal(codeOf(req(a, { type: 'call.invite', id: 4, to: 'ub' })), 'SIG_ERR_BLOCKED');
  blocks.remove('ua', 'ub');
  req(a, { type: 'call.invite', id: 5, to: 'ub' });
  assert.equal(codeOf(req(a, { type: 'call.invite', id: 6, to: 'ub' })), 'SIG_ERR_ALREADY_IN_CALL');
  assert.equal(
    codeOf(req(a, { type: 'call.accept', id: 7, callId: 'call1' })),
    'SIG_ERR_ILLEGAL_TRANSITION',
  );
  assert.equal(
    codeOf(req(b, { type: 'call.hangup', id: 8, callId: 'call1' })),
    'SIG_ERR_ILLEGAL_TRANSITION',
  );
  assert.equal(
    codeOf(req(b, { type: 'call.reject', id: 9, callId: 'nope' })),
    'SIG_ERR_NOT_IN_CALL',
  );
});

test('call.signal is forwarded only within an accepted call of yours', () => {
  const { h, a, b, req } = setup();
  const c = h.online(3, 'uc', 'carol');
  const signal = {
    kind: 'candidate' as const,
    candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host',
  };
  req(a, { type: 'call.invite', id: 1, to: 'ub' });
  const early = req(a, { type: 'call.signal', id: 2, callId: 'call1', signal });
  assert.equal(codeOf(early), 'SIG_ERR_NOT_IN_CALL', 'not before accept');
  req(b, { type: 'call.accept', id: 3, callId: 'call1' });
  const outsider = req(c, { type: 'call.signal', id: 4, callId: 'call1', signal });
  assert.equal(codeOf(outsider), 'SIG_ERR_NOT_IN_CALL', 'not by a third party');
  assert.deepEqual(h.events(1, 'call.signal'), []);
  assert.deepEqual(req(b, { type: 'call.signal', id: 5, callId: 'call1', signal }), {});
  assert.deepEqual(h.events(1, 'call.signal'), [{ type: 'call.signal', callId: 'call1', signal }]);
});

test('ring timeout on the fake clock: not before the deadline, then both told and recorded', () => {
  const { h, calls, a, req } = setup({ ringTimeoutMs: 30_000 });
  req(a, { type: 'call.invite', id: 1, to: 'ub' });
  calls.expire(T0 + 29_999);
  h.drain();
  assert.deepEqual(h.events(1, 'call.ended'), []);
  calls.expire(T0 + 30_000);
  h.drain();
  for (const conn of [1, 2])
    assert.deepEqual(h.events(conn, 'call.ended'), [
      { type: 'call.ended', callId: 'call1', reason: 'timeout' },
    ]);
  h.store.flushCalls();
  assert.equal(h.store.calls.get('call1')?.endReason, 'timeout');
});

test('without a grace period a party leaving ends its call (disconnected) and frees the relay; shutdown ends every call', () => {
  const { h, relay, calls, a, b, req, table } = setup({ callGraceMs: 0 });
  const c = h.online(3, 'uc', 'carol');
  const d = h.online(4, 'ud', 'dave');
  req(a, { type: 'call.invite', id: 1, to: 'ub' });
  req(b, { type: 'call.accept', id: 2, callId: 'call1' });
  req(c, { type: 'call.invite', id: 3, to: 'ud' });
  h.ctx.sessions.delete('ub'); // b's last connection closed
  calls.userLeft('ub', T0 + 1_000);
  h.drain();
  assert.deepEqual(h.events(1, 'call.ended'), [
    { type: 'call.ended', callId: 'call1', reason: 'disconnected', by: 'ub' },
  ]);
  assert.deepEqual(relay.ended, ['call1']);
  calls.endAll('shutdown', T0 + 2_000);
  h.drain();
  assert.equal(h.events(4, 'call.ended')[0]?.reason, 'shutdown');
  assert.equal(table.countByState().inviting + table.countByState().accepted, 0);
  assert.ok(d);
});

test('the per-identity call-attempt limit refuses with SIG_ERR_RATE_LIMITED before anything is stored', () => {
  let allowed = 1;
  const { h, a, req } = setup({ callAttempt: () => allowed-- > 0 });
  req(a, { type: 'call.invite', id: 1, to: 'ub' });
  req(a, { type: 'call.cancel', id: 2, callId: 'call1' });
  assert.equal(codeOf(req(a, { type: 'call.invite', id: 3, to: 'ub' })), 'SIG_ERR_RATE_LIMITED');
  h.store.flushCalls();
  assert.equal(h.store.calls.size, 1);
  assert.equal(h.store.calls.get('call1')?.endReason, 'cancelled');
});

test('a relay that cannot issue credentials: the call is still accepted, with no ICE servers', () => {
  const { h, relay, a, b, req } = setup();
  relay.failIssue = true;
  req(a, { type: 'call.invite', id: 1, to: 'ub' });
  req(b, { type: 'call.accept', id: 2, callId: 'call1' });
  const acc = h.events(1, 'call.accepted')[0] as { iceServers: unknown[] } | undefined;
  assert.deepEqual(acc?.iceServers, []);
});
