/**
 * `call.history` (issue 19 §5): a user's recorded calls from the store, newest first, with the
 * other party's bound name and direction, answered calls with their times, calls refused by the
 * callee not counted as missed, and calls the user never saw (do-not-disturb, ring timeout,
 * cancelled by the caller) counted as missed — including one that ended this tick, before the
 * store's per-tick flush. On the in-memory store with a fake clock.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setup, T0 } from './testing/calls-fixture.ts';

test('call.history: newest first, directions, names, answered and missed calls', () => {
  const { h, a, b, req } = setup();
  // 1: alice calls bob, bob answers, alice hangs up.
  req(a, { type: 'call.invite', id: 1, to: 'ub' }, T0);
  req(b, { type: 'call.accept', id: 2, callId: 'call1' }, T0 + 1_000);
  req(a, { type: 'call.hangup', id: 3, callId: 'call1' }, T0 + 9_000);
  // 2: bob calls alice, alice refuses: not missed.
  req(b, { type: 'call.invite', id: 4, to: 'ua' }, T0 + 20_000);
  req(a, { type: 'call.reject', id: 5, callId: 'call2' }, T0 + 21_000);
  // 3: alice in do-not-disturb: bob's call is missed.
  a.chosen = 'dnd';
  req(b, { type: 'call.invite', id: 6, to: 'ua' }, T0 + 30_000);
  a.chosen = 'available';
  // 4: bob calls, then cancels before alice answers: missed too (not flushed yet).
  req(b, { type: 'call.invite', id: 7, to: 'ua' }, T0 + 40_000);
  req(b, { type: 'call.cancel', id: 8, callId: 'call4' }, T0 + 41_000);

  const r = req(a, { type: 'call.history', id: 9 }, T0 + 50_000) as {
    calls: { callId: string; direction: string; missed: boolean; peer: { name: string } }[];
  };
  assert.deepEqual(
    r.calls.map((c) => [c.callId, c.direction, c.peer.name, c.missed]),
    [
      ['call4', 'incoming', 'bob', true],
      ['call3', 'incoming', 'bob', true],
      ['call2', 'incoming', 'bob', false],
      ['call1', 'outgoing', 'bob', false],
    ],
  );
  assert.deepEqual(r.calls[3], {
    callId: 'call1',
    peer: { userId: 'ub', name: 'bob' },
    direction: 'outgoing',
    startedAt: T0,
    answeredAt: T0 + 1_000,
    endedAt: T0 + 9_000,
    reason: 'hangup',
    missed: false,
  });
  // Bob sees the same calls from his side: none of them missed by him.
  const rb = req(b, { type: 'call.history', id: 10, limit: 2 }, T0 + 50_000) as {
    calls: { callId: string; direction: string; missed: boolean }[];
  };
  assert.deepEqual(
    rb.calls.map((c) => [c.callId, c.direction, c.missed]),
    [
      ['call4', 'outgoing', false],
      ['call3', 'outgoing', false],
    ],
  );
  // A user with no calls gets an empty list.
  const c = h.online(3, 'uc', 'carol');
  assert.deepEqual(req(c, { type: 'call.history', id: 11 }, T0 + 50_000), { calls: [] });
});
