/**
 * Store on a real file: WAL checkpoints happen in the checkpointer thread (the database file
 * receives the committed pages with no further commit on the store's connection); call records
 * are committed by that thread, seen by callsOf as soon as queued, and all written by close.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from './store.ts';

const CALLER = 'a'.repeat(32);

function writeCalls(store: Store, n: number): void {
  for (let i = 0; i < n; i++)
    store.insertCall({
      callId: `call-${i}`,
      caller: CALLER,
      callee: 'b'.repeat(32),
      createdAt: i,
    });
  store.flushCalls();
}

test('WAL pages reach the database file without a checkpoint on the store connection', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-store-'));
  const path = join(dir, 'p.db');
  const store = new Store({ path });
  try {
    const before = statSync(path).size;
    writeCalls(store, 2000);
    // callsOf waits for the thread's commit of the batch.
    assert.equal(store.callsOf(CALLER, 5000).length, 2000);
    // Well under SQLite's automatic checkpoint (1,000 pages): only the thread checkpoints.
    assert.ok(statSync(`${path}-wal`).size > 100_000, 'the batch is in the WAL');
    let after = statSync(path).size;
    for (let i = 0; i < 60 && after <= before; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = statSync(path).size;
    }
    assert.ok(after > before, `database file grew from ${before} to ${after} bytes`);
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('call records handed to the thread in a batch are there after close and reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-store-'));
  const path = join(dir, 'p.db');
  try {
    const store = new Store({ path });
    writeCalls(store, 300);
    store.close();
    const again = new Store({ path });
    assert.equal(again.callsOf(CALLER, 1000).length, 300);
    again.close();
    // Both checkpointer threads let go of the files before the directory goes.
    await Promise.all([store.whenClosed(), again.whenClosed()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('whenClosed: after it resolves the checkpointer has let go of the files (the directory can be removed)', async () => {
  // Closed at once (the thread may not have opened the database yet) or once it is running.
  for (const delayMs of [0, 0, 300, 300]) {
    const dir = mkdtempSync(join(tmpdir(), 'parloir-store-close-'));
    const store = new Store({ path: join(dir, 'p.db') });
    await new Promise((r) => setTimeout(r, delayMs));
    store.close();
    await store.whenClosed();
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('-wal') || f.endsWith('-shm')),
      [],
      'the last connection checkpointed and removed the WAL files',
    );
    rmSync(dir, { recursive: true });
  }
});

test('close writes every queued call record, flushed or not; callsOf sees them before', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-store-'));
  const path = join(dir, 'p.db');
  try {
    const store = new Store({ path });
    const callee = 'c'.repeat(32);
    for (let i = 0; i < 50; i++) {
      store.insertCall({ callId: `x-${i}`, caller: CALLER, callee, createdAt: 1000 + i });
      if (i % 2 === 0) store.answerCall(`x-${i}`, 2000 + i);
      store.endCall(`x-${i}`, 3000 + i, i % 2 === 0 ? 'hangup' : 'rejected');
      if (i === 24) store.flushCalls(); // half handed to the thread, half still queued
    }
    const seen = store.callsOf(callee, 100);
    assert.equal(seen.length, 50, 'callsOf sees queued records');
    // More queued after that read, never flushed: close must write them.
    store.insertCall({ callId: 'last', caller: CALLER, callee, createdAt: 5000 });
    store.endCall('last', 5001, 'cancelled');
    store.close();
    await store.whenClosed();
    const again = new Store({ path });
    const rows = again.callsOf(callee, 100);
    again.close();
    await again.whenClosed();
    assert.equal(rows.length, 51);
    const byId = new Map(rows.map((r) => [r.callId, r]));
    assert.deepEqual(byId.get('last'), {
      callId: 'last',
      caller: CALLER,
      callee,
      createdAt: 5000,
      answeredAt: null,
      endedAt: 5001,
      endReason: 'cancelled',
    });
    for (let i = 0; i < 50; i++) {
      const r = byId.get(`x-${i}`);
      assert.equal(r?.answeredAt, i % 2 === 0 ? 2000 + i : null, `x-${i} answered`);
      assert.equal(r?.endedAt, 3000 + i, `x-${i} ended`);
      assert.equal(r?.endReason, i % 2 === 0 ? 'hangup' : 'rejected');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('in memory (no thread): flushCalls commits on the store connection', () => {
  const store = new Store({ path: ':memory:' });
  store.insertCall({ callId: 'm', caller: CALLER, callee: 'd'.repeat(32), createdAt: 1 });
  store.endCall('m', 2, 'busy');
  store.flushCalls();
  assert.equal(store.callsOf(CALLER)[0]?.endReason, 'busy');
  store.close();
});
