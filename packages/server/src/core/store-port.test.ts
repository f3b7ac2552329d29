/**
 * The storage port's contract, run on both implementations: the SQLite store the server uses and
 * the in-memory fake the core's unit tests use. A rule the core relies on (unique names, one copy
 * per client message id, dropped messages hidden from the recipient, idempotent call records)
 * holds on both, so a core test on the fake says something about the server.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Store } from '../store.ts';
import type { StorePort } from './store-port.ts';
import { FakeStore } from './testing/fake-store.ts';

const T0 = 1_800_000_000_000;

const impls: [
  string,
  () => { store: StorePort; calls: (u: string) => unknown[]; close: () => void },
][] = [
  [
    'sqlite',
    () => {
      const s = new Store({ path: ':memory:' });
      return { store: s, calls: (u) => s.callsOf(u), close: () => s.close() };
    },
  ],
  [
    'fake',
    () => {
      const s = new FakeStore();
      return {
        store: s,
        calls: (u) =>
          [...s.calls.values()]
            .filter((c) => c.caller === u || c.callee === u)
            .sort((a, b) => b.createdAt - a.createdAt),
        close: () => undefined,
      };
    },
  ],
];

for (const [name, make] of impls) {
  test(`store port (${name}): users, names case-insensitive, renames`, () => {
    const { store, close } = make();
    store.insertUser({ userId: 'u1', name: 'Alice', publicKey: 'k1', createdAt: T0 });
    assert.equal(store.userByName('alice')?.userId, 'u1');
    assert.equal(store.userById('u1')?.name, 'Alice');
    assert.throws(() =>
      store.insertUser({ userId: 'u2', name: 'ALICE', publicKey: 'k2', createdAt: T0 }),
    );
    store.insertUser({ userId: 'u2', name: 'bob', publicKey: 'k2', createdAt: T0 });
    store.renameUser('u2', 'robert');
    assert.equal(store.userByName('bob'), undefined);
    assert.deepEqual(
      store.allUserNames().sort((a, b) => a.userId.localeCompare(b.userId)),
      [
        { userId: 'u1', name: 'Alice' },
        { userId: 'u2', name: 'robert' },
      ],
    );
    close();
  });

  test(`store port (${name}): blocks are idempotent`, () => {
    const { store, close } = make();
    store.addBlock('a', 'b', T0);
    store.addBlock('a', 'b', T0 + 1);
    store.addBlock('b', 'a', T0);
    store.removeBlock('b', 'a');
    store.removeBlock('b', 'a');
    assert.deepEqual(store.allBlocks(), [{ blocker: 'a', blocked: 'b' }]);
    close();
  });

  test(`store port (${name}): messages — duplicates, dropped, delivery, history pages, usage`, () => {
    const { store, close } = make();
    const m = (from: string, to: string, id: string, text: string, ts: number) => ({
      from,
      to,
      clientMsgId: id,
      text,
      ts,
    });
    const first = store.insertMessage(m('a', 'b', 'c1', 'hé', T0), false);
    assert.equal(first.duplicate, false);
    const again = store.insertMessage(m('a', 'b', 'c1', 'other', T0 + 5), false);
    assert.deepEqual(again, { message: first.message, duplicate: true });
    store.insertMessage(m('a', 'b', 'c2', 'second', T0 + 1), false);
    store.insertMessage(m('a', 'b', 'c3', 'hidden', T0 + 2), true);
    store.insertMessage(m('b', 'a', 'c1', 'reply', T0 + 3), false);
    assert.deepEqual(
      store.undelivered('b').map((x) => x.text),
      ['hé', 'second'],
    );
    store.markDelivered('b', [first.message.msgId], T0 + 10);
    store.markDelivered('a', [first.message.msgId + 1], T0 + 10); // not a's message: no effect
    assert.deepEqual(
      store.undelivered('b').map((x) => x.text),
      ['second'],
    );
    const bView = store.history('b', 'a', undefined, 10);
    assert.deepEqual(
      bView.messages.map((x) => x.text),
      ['reply', 'second', 'hé'],
    );
    const aView = store.history('a', 'b', undefined, 2);
    assert.deepEqual(
      aView.messages.map((x) => x.text),
      ['reply', 'hidden'],
    );
    assert.equal(aView.hasMore, true);
    const older = store.history('a', 'b', aView.messages.at(-1)?.msgId, 10);
    assert.deepEqual(
      older.messages.map((x) => x.text),
      ['second', 'hé'],
    );
    assert.equal(older.hasMore, false);
    // 'hé' is 3 bytes; dropped messages count for their sender's stored bytes.
    assert.deepEqual(store.chatUsageOf('a', T0 + 1), { messagesSince: 2, bytes: 3 + 6 + 6 });
    close();
  });

  test(`store port (${name}): call records are applied in order, idempotently, at flush`, () => {
    const { store, calls, close } = make();
    store.insertCall({ callId: 'c1', caller: 'a', callee: 'b', createdAt: T0 });
    store.answerCall('c1', T0 + 100);
    store.answerCall('c1', T0 + 200);
    store.endCall('c1', T0 + 300, 'hangup');
    store.endCall('c1', T0 + 400, 'disconnected');
    store.insertCall({ callId: 'c1', caller: 'x', callee: 'y', createdAt: T0 + 500 });
    store.flushCalls();
    assert.deepEqual(calls('b'), [
      {
        callId: 'c1',
        caller: 'a',
        callee: 'b',
        createdAt: T0,
        answeredAt: T0 + 100,
        endedAt: T0 + 300,
        endReason: 'hangup',
      },
    ]);
    close();
  });

  test(`store port (${name}): liveCalls lists the answered calls never ended, queued ones too`, () => {
    const { store, close } = make();
    store.insertCall({ callId: 'ringing', caller: 'a', callee: 'b', createdAt: T0 });
    store.insertCall({ callId: 'ended', caller: 'a', callee: 'b', createdAt: T0 + 1 });
    store.answerCall('ended', T0 + 2);
    store.endCall('ended', T0 + 3, 'hangup');
    store.insertCall({ callId: 'live2', caller: 'e', callee: 'f', createdAt: T0 + 4 });
    store.answerCall('live2', T0 + 9);
    store.insertCall({ callId: 'live1', caller: 'c', callee: 'd', createdAt: T0 + 5 });
    store.answerCall('live1', T0 + 6);
    // Not flushed: liveCalls commits what is queued before it reads.
    assert.deepEqual(
      store.liveCalls().map((c) => [c.callId, c.caller, c.callee, c.answeredAt, c.endedAt]),
      [
        ['live1', 'c', 'd', T0 + 6, null],
        ['live2', 'e', 'f', T0 + 9, null],
      ],
    );
    store.endCall('live1', T0 + 10, 'disconnected');
    assert.deepEqual(
      store.liveCalls().map((c) => c.callId),
      ['live2'],
    );
    close();
  });

  test(`store port (${name}): a recorded stop is read once`, () => {
    const { store, close } = make();
    assert.equal(store.takeLastStop(), undefined);
    store.recordStop(T0);
    store.recordStop(T0 + 5);
    assert.equal(store.takeLastStop(), T0 + 5);
    assert.equal(store.takeLastStop(), undefined);
    close();
  });
}
