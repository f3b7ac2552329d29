/**
 * Worker thread of {@link Store}: WAL checkpoints and call-record commits off the server's event
 * loop.
 *
 * Checkpoints: the store's own connection runs with `wal_autocheckpoint = 0`, so no commit on
 * the request path pays a checkpoint (an fsync of the WAL and of the database file, ~10 ms on
 * the bench VM, which SQLite's automatic checkpoint would run inside every ~1,000th page's
 * commit). This thread opens its own connection to the same file and every
 * {@link CHECKPOINT_EVERY_MS} runs a PASSIVE checkpoint (never waits for the writer). A PASSIVE
 * checkpoint only lets the WAL restart from its beginning once it has caught up with every
 * commit, so under a continuous stream of commits the WAL would keep growing: past
 * {@link RESTART_ABOVE_FRAMES} frames this thread runs a RESTART checkpoint (waits for the
 * writer, briefly holding the next commit).
 *
 * Call records: the store posts `{ seq, ops }` batches (see `CallOp`); each is committed in one
 * transaction, then `shared[0] = seq` (with a notify, for a blocked `Store.callsOf`/`close`). If
 * one fails, `shared[1] = 1`, `{ writeError }` is posted and no further batch is written here
 * (the store writes them, and the failed one again, on its own connection).
 *
 * workerData: `{ path: string, shared: Int32Array }` (over a SharedArrayBuffer). Posts
 * `{ checkpointError: string }` if a checkpoint fails. Closes on the message `'close'`.
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';
import { applyCallOps, type CallOp } from './store.ts';

/** Interval between PASSIVE checkpoints, ms. */
const CHECKPOINT_EVERY_MS = 500;
/** WAL frames (pages, 4 KiB) left after a PASSIVE checkpoint above which a RESTART one runs. */
const RESTART_ABOVE_FRAMES = 16_384;

const { path, shared } = workerData as { path: string; shared: Int32Array };
const db = new DatabaseSync(path);
db.exec('PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');
let writeFailed = false;

const timer = setInterval(() => {
  try {
    const r = passive.get() as { busy: number; log: number; checkpointed: number };
    if (r.log > RESTART_ABOVE_FRAMES) restart.get();
  } catch (err) {
    parentPort?.postMessage({ checkpointError: String(err) });
  }
}, CHECKPOINT_EVERY_MS);

parentPort?.on('message', (m: 'close' | { seq: number; ops: CallOp[] }) => {
  if (m === 'close') {
    clearInterval(timer);
    db.close();
    parentPort?.close();
    return;
  }
  if (writeFailed) return;
  try {
    applyCallOps(db, m.ops);
    Atomics.store(shared, 0, m.seq);
  } catch (err) {
    writeFailed = true;
    Atomics.store(shared, 1, 1);
    parentPort?.postMessage({ writeError: String(err) });
  }
  Atomics.notify(shared, 0);
});
