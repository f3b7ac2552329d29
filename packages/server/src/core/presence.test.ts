/**
 * The presence module on the in-memory store with a fake clock: snapshots on entering, diffs
 * coalesced over the batching window and flushed by ticks, one shared frame with filtered copies
 * only where a block hides someone, `in-call` from the call state, and a backlog that holds the
 * next flush back. No SQLite, no sockets, no sleeps.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockIndex } from './blocks.ts';
import type { Session } from './context.ts';
import { Presence } from './presence.ts';
import { Harness } from './testing/harness.ts';

function setup(batchMs = 50) {
  const h = new Harness();
  const blocks = new BlockIndex();
  const inCall = new Set<string>();
  const presence = new Presence(h.ctx, blocks, {
    presenceBatchMs: batchMs,
    inCall: (u) => inCall.has(u),
  });
  /** A user comes online through presence (not yet in ctx.sessions). */
  const enter = (connId: number, userId: string, nowMs = 0): Session => {
    const s = h.online(connId, userId, userId, nowMs);
    h.ctx.sessions.delete(userId);
    presence.enter(s);
    return s;
  };
  const snapshot = (connId: number) => {
    const snaps = h.events(connId, 'presence.snapshot');
    const last = snaps.at(-1) as { users: { userId: string; status: string }[] } | undefined;
    return last?.users.map((u) => `${u.userId}:${u.status}`).sort();
  };
  return { h, blocks, inCall, presence, enter, snapshot };
}

test('entering: a snapshot of the others at once; the others hear of it at the next flush', () => {
  const { h, presence, enter, snapshot } = setup();
  enter(1, 'a');
  enter(2, 'b');
  h.drain();
  assert.deepEqual(snapshot(1), []);
  assert.deepEqual(snapshot(2), ['a:available']);
  assert.deepEqual(h.events(1, 'presence.diff'), [], 'nothing before the tick');
  presence.tick(0, false);
  const out = h.drain();
  // One broadcast for both viewers, not one frame each.
  assert.equal(out.length, 1);
  assert.equal(out[0]?.type, 'broadcast');
  assert.deepEqual(h.events(1, 'presence.diff'), [
    {
      type: 'presence.diff',
      joined: [
        { userId: 'a', name: 'a', status: 'available' },
        { userId: 'b', name: 'b', status: 'available' },
      ],
    },
  ]);
  assert.equal(presence.nextTimeoutMs(), 50);
});

test('the batching window: changes within it coalesce; a change undone within it costs nothing', () => {
  const { h, presence, enter } = setup(50);
  const a = enter(1, 'a');
  enter(2, 'b');
  presence.tick(0, false);
  h.drain();
  h.clear();
  presence.handleRequest(a, { type: 'presence.set', id: 1, status: 'away' });
  presence.tick(10, false); // before the window ends: nothing
  h.drain();
  assert.deepEqual(h.events(2, 'presence.diff'), []);
  presence.handleRequest(a, { type: 'presence.set', id: 2, status: 'available' });
  presence.tick(60, false);
  h.drain();
  assert.deepEqual(h.events(2, 'presence.diff'), [], 'away and back: no frame');
  presence.handleRequest(a, { type: 'presence.set', id: 3, status: 'dnd' });
  presence.tick(120, false);
  h.drain();
  assert.deepEqual(h.events(2, 'presence.diff'), [
    { type: 'presence.diff', changed: [{ userId: 'a', status: 'dnd' }] },
  ]);
});

test('a backlog at the adapter holds the flush back; the window widens with the crowd', () => {
  const { h, presence, enter } = setup(50);
  for (let i = 0; i < 400; i++) enter(i + 1, `u${i}`);
  h.drain();
  presence.tick(0, true);
  assert.equal(h.drain().length, 0, 'backlog: no fan-out');
  presence.tick(1, false);
  assert.equal(h.drain().length, 1);
  // 400 users online: the window is 400 / 5 = 80 ms, not 50.
  assert.equal(presence.nextTimeoutMs(), 81);
});

test('leaving: left at the next flush; a snapshot taken after it no longer shows the leaver', () => {
  const { h, presence, enter, snapshot } = setup();
  enter(1, 'a');
  const b = enter(2, 'b');
  presence.tick(0, false);
  presence.leave(b);
  presence.tick(100, false);
  h.drain();
  assert.deepEqual(h.events(1, 'presence.diff').at(-1), { type: 'presence.diff', left: ['b'] });
  enter(3, 'c', 100);
  h.drain();
  assert.deepEqual(snapshot(3), ['a:available']);
});

test('join and leave within one window: the others hear only the leave, never the join', () => {
  const { h, presence, enter } = setup();
  enter(1, 'a');
  presence.tick(0, false);
  h.drain();
  h.clear();
  const b = enter(2, 'b', 10);
  presence.leave(b);
  presence.tick(100, false);
  h.drain();
  assert.deepEqual(h.events(1, 'presence.diff'), [{ type: 'presence.diff', left: ['b'] }]);
});

test('blocks: a blocker is hidden from the blocked in snapshots and diffs; others get the shared frame', () => {
  const { h, blocks, presence, enter, snapshot } = setup();
  blocks.add('a', 'c'); // a blocks c: c must not see a
  enter(1, 'a');
  enter(2, 'b');
  const c = enter(3, 'c');
  h.drain();
  assert.deepEqual(snapshot(3), ['b:available'], 'the filtered snapshot');
  presence.tick(0, false);
  h.drain();
  const cJoined = h.events(3, 'presence.diff').flatMap((f) => f.joined as { userId: string }[]);
  assert.deepEqual(
    cJoined.map((u) => u.userId),
    ['b', 'c'],
  );
  const bJoined = h.events(2, 'presence.diff').flatMap((f) => f.joined as { userId: string }[]);
  assert.deepEqual(
    bJoined.map((u) => u.userId),
    ['a', 'b', 'c'],
  );
  // A status change of a is not shown to c either.
  const a = h.ctx.sessions.get('a');
  assert.ok(a);
  h.clear();
  presence.handleRequest(a, { type: 'presence.set', id: 1, status: 'away' });
  presence.tick(100, false);
  h.drain();
  assert.deepEqual(h.events(3, 'presence.diff'), []);
  assert.equal(h.events(2, 'presence.diff').length, 1);
  assert.ok(c);
});

test('in-call comes from the call state, and a status still pending reaches a newcomer by the diff', () => {
  const { h, inCall, presence, enter, snapshot } = setup();
  enter(1, 'a');
  enter(2, 'b');
  presence.tick(0, false);
  inCall.add('a');
  presence.statusMaybeChanged('a');
  enter(3, 'c', 10);
  h.drain();
  assert.deepEqual(snapshot(3), ['a:available', 'b:available'], 'as the others know it');
  presence.tick(100, false);
  h.drain();
  for (const viewer of [2, 3]) {
    assert.deepEqual(
      h.events(viewer, 'presence.diff').at(-1)?.changed,
      [{ userId: 'a', status: 'in-call' }],
      `viewer ${viewer}`,
    );
  }
  const a = h.ctx.sessions.get('a');
  assert.ok(a);
  assert.deepEqual(presence.infoOf(a), { userId: 'a', name: 'a', status: 'in-call' });
});

test('a renamed user: the cached snapshot is rebuilt with the new name', () => {
  const { h, presence, enter, snapshot } = setup();
  const a = enter(1, 'a');
  enter(2, 'b');
  a.name = 'alice';
  presence.renamed();
  enter(3, 'c');
  h.drain();
  const users = (h.events(3, 'presence.snapshot')[0] as { users: { name: string }[] }).users;
  assert.deepEqual(users.map((u) => u.name).sort(), ['alice', 'b']);
  assert.deepEqual(snapshot(3), ['a:available', 'b:available']);
});
