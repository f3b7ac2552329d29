import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Store } from './store.ts';
import { WalSync } from './wal-sync.ts';

test('WalSync: one fdatasync covers every write before it; waiters resolve in order; in-memory is immediate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-walsync-'));
  try {
    const db = new DatabaseSync(join(dir, 'x.db'));
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE TABLE t (v)');
    const errors: unknown[] = [];
    const w = new WalSync(join(dir, 'x.db-wal'), (e) => errors.push(e));
    await w.durable();
    assert.equal(w.syncs, 0, 'nothing written: durable at once, no fsync');
    const order: number[] = [];
    const waits: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      db.prepare('INSERT INTO t VALUES (?)').run(i);
      w.noteWrite();
      waits.push(w.durable().then(() => void order.push(i)));
    }
    await Promise.all(waits);
    assert.deepEqual(order, [...Array(200).keys()], 'acks in commit order');
    assert.ok(w.syncs >= 1 && w.syncs <= 3, `200 commits, ${w.syncs} fsyncs (group commit)`);
    assert.deepEqual(errors, []);
    w.close();
    db.close();
    const mem = new WalSync(undefined);
    mem.noteWrite();
    await mem.durable();
    assert.equal(mem.syncs, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Store: chat inserts are not fsynced on the caller; chatDurable resolves after they are, and close releases waiters', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-walsync-'));
  try {
    const store = new Store({ path: join(dir, 'parloir.db') });
    store.insertUser({ userId: 'a', name: 'a', publicKey: 'AA', createdAt: 1 });
    store.insertUser({ userId: 'b', name: 'b', publicKey: 'BB', createdAt: 1 });
    const acks: number[] = [];
    for (let i = 0; i < 50; i++) {
      const { message } = store.insertMessage(
        { from: 'a', to: 'b', clientMsgId: `m${i}`, text: `t${i}`, ts: i },
        false,
      );
      void store.chatDurable().then(() => acks.push(message.msgId));
    }
    const last = store.chatDurable();
    store.close();
    await last;
    assert.equal(acks.length, 50, 'every waiter released by close (after a final sync)');
    await store.whenClosed();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
