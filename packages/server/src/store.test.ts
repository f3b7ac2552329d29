/**
 * Store on a real file: WAL checkpoints happen in the checkpointer thread (the database file
 * receives the committed pages with no further commit on the store's connection), and call
 * records committed in a batch survive a clean close.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Store } from './store.ts';

const CALLER = 'a'.repeat(32);

function writeCalls(store: Store, n: number): void {
  store.batch(() => {
    for (let i = 0; i < n; i++)
      store.insertCall({
        callId: `call-${i}`,
        caller: CALLER,
        callee: 'b'.repeat(32),
        createdAt: i,
      });
  });
}

test('WAL pages reach the database file without a checkpoint on the store connection', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-store-'));
  const path = join(dir, 'p.db');
  const store = new Store({ path });
  try {
    const before = statSync(path).size;
    writeCalls(store, 2000);
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

test('call records committed in a batch are there after close and reopen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'parloir-store-'));
  const path = join(dir, 'p.db');
  try {
    const store = new Store({ path });
    writeCalls(store, 300);
    store.close();
    const again = new Store({ path });
    assert.equal(again.callsOf(CALLER, 1000).length, 300);
    again.close();
  } finally {
    await new Promise((r) => setTimeout(r, 100));
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
