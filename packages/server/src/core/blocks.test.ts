/**
 * The blocks module on the in-memory store: the index other modules read, `block.*` requests,
 * what the blocked user sees (the blocker leaves, then comes back on unblock), and the store
 * writes. No SQLite, no sockets.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignalingError, type UserInfo } from '@parloir/protocol';
import { BlockIndex, Blocks } from './blocks.ts';
import type { Session } from './context.ts';
import { Harness } from './testing/harness.ts';

const T0 = 1_800_000_000_000;

function setup() {
  const h = new Harness();
  const index = new BlockIndex();
  const infoOf = (s: Session): UserInfo => ({ userId: s.userId, name: s.name, status: 'away' });
  const blocks = new Blocks(h.ctx, index, { infoOf });
  const a = h.online(1, 'ua', 'alice');
  const b = h.online(2, 'ub', 'bob');
  return { h, index, blocks, a, b };
}

test('BlockIndex: counts blockers per user, add and remove are idempotent, loads from the store', () => {
  const index = new BlockIndex();
  assert.equal(index.add('a', 'x'), true);
  assert.equal(index.add('a', 'x'), false);
  assert.equal(index.add('b', 'x'), true);
  assert.equal(index.blockerCount('x'), 2);
  assert.equal(index.blocks('a', 'x'), true);
  assert.equal(index.blocks('x', 'a'), false);
  assert.deepEqual([...index.blockedBy('a')], ['x']);
  assert.equal(index.remove('a', 'x'), true);
  assert.equal(index.remove('a', 'x'), false);
  assert.equal(index.blockerCount('x'), 1);
  assert.equal(index.remove('b', 'x'), true);
  assert.equal(index.blockerCount('x'), 0);
  assert.deepEqual([...index.blockedBy('nobody')], []);
  const loaded = new BlockIndex();
  loaded.load({
    allBlocks: () => [
      { blocker: 'p', blocked: 'q' },
      { blocker: 'r', blocked: 'q' },
    ],
  });
  assert.equal(loaded.blockerCount('q'), 2);
});

test('block.add: stored, indexed, and the blocked user sees the blocker leave after the result', () => {
  const { h, index, blocks, a, b } = setup();
  const r = blocks.handleRequest(a, { type: 'block.add', id: 1, userId: b.userId }, T0);
  assert.deepEqual(r, {});
  h.drain();
  assert.deepEqual(h.of(2), [], 'nothing before the result is sent');
  h.ctx.runAfterResult();
  h.drain();
  assert.deepEqual(h.events(2, 'presence.diff'), [{ type: 'presence.diff', left: ['ua'] }]);
  assert.equal(index.blocks('ua', 'ub'), true);
  assert.deepEqual(h.store.allBlocks(), [{ blocker: 'ua', blocked: 'ub' }]);
  // Again: idempotent, no second diff.
  blocks.handleRequest(a, { type: 'block.add', id: 2, userId: b.userId }, T0 + 1);
  h.ctx.runAfterResult();
  h.drain();
  assert.equal(h.events(2, 'presence.diff').length, 1);
  assert.equal(index.blockerCount('ub'), 1);
});

test('block.list names the blocked; block.remove shows the blocker again with its presence', () => {
  const { h, index, blocks, a, b } = setup();
  h.store.insertUser({ userId: 'uc', name: 'carol', publicKey: 'kc', createdAt: T0 });
  blocks.handleRequest(a, { type: 'block.add', id: 1, userId: b.userId }, T0);
  blocks.handleRequest(a, { type: 'block.add', id: 2, userId: 'uc' }, T0);
  h.ctx.runAfterResult();
  const list = blocks.handleRequest(a, { type: 'block.list', id: 3 }, T0);
  assert.deepEqual(list, {
    users: [
      { userId: 'ub', name: 'bob' },
      { userId: 'uc', name: 'carol' },
    ],
  });
  h.drain();
  h.clear();
  assert.deepEqual(blocks.handleRequest(a, { type: 'block.remove', id: 4, userId: 'ub' }, T0), {});
  h.ctx.runAfterResult();
  h.drain();
  assert.deepEqual(h.events(2, 'presence.diff'), [
    { type: 'presence.diff', joined: [{ userId: 'ua', name: 'alice', status: 'away' }] },
  ]);
  assert.equal(index.blocks('ua', 'ub'), false);
  assert.deepEqual(h.store.allBlocks(), [{ blocker: 'ua', blocked: 'uc' }]);
  // Removing a block that is not there: no frame.
  blocks.handleRequest(a, { type: 'block.remove', id: 5, userId: 'ub' }, T0);
  h.ctx.runAfterResult();
  h.drain();
  assert.equal(h.events(2, 'presence.diff').length, 1);
});

test('block.add refuses yourself and unknown users with typed errors, storing nothing', () => {
  const { h, blocks, a } = setup();
  const self = blocks.handleRequest(a, { type: 'block.add', id: 1, userId: 'ua' }, T0);
  assert.ok(self instanceof SignalingError);
  assert.equal(self.code, 'SIG_ERR_SELF');
  const unknown = blocks.handleRequest(a, { type: 'block.add', id: 2, userId: 'nobody' }, T0);
  assert.ok(unknown instanceof SignalingError);
  assert.equal(unknown.code, 'SIG_ERR_UNAVAILABLE');
  assert.deepEqual(h.store.allBlocks(), []);
});
