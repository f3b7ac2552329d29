/**
 * Worker thread of {@link Store}: WAL checkpoints off the server's event loop. The store's own
 * connection runs with `wal_autocheckpoint = 0`, so no commit on the request path pays a
 * checkpoint (an fsync of the WAL and of the database file, ~10 ms on the bench VM, which
 * SQLite's automatic checkpoint would run inside every ~1,000th page's commit). This thread
 * opens its own connection to the same file and every {@link CHECKPOINT_EVERY_MS} runs a
 * PASSIVE checkpoint (never waits for the writer). A PASSIVE checkpoint only lets the WAL
 * restart from its beginning once it has caught up with every commit, so under a continuous
 * stream of commits the WAL would keep growing: past {@link RESTART_ABOVE_FRAMES} frames this
 * thread runs a RESTART checkpoint (waits for the writer, briefly holding the next commit).
 *
 * workerData: `{ path: string }`. Posts `{ error: string }` if a checkpoint fails.
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

/** Interval between PASSIVE checkpoints, ms. */
const CHECKPOINT_EVERY_MS = 500;
/** WAL frames (pages, 4 KiB) left after a PASSIVE checkpoint above which a RESTART one runs. */
const RESTART_ABOVE_FRAMES = 16_384;

const { path } = workerData as { path: string };
const db = new DatabaseSync(path);
db.exec('PRAGMA busy_timeout = 5000');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const restart = db.prepare('PRAGMA wal_checkpoint(RESTART)');

const timer = setInterval(() => {
  try {
    const r = passive.get() as { busy: number; log: number; checkpointed: number };
    if (r.log > RESTART_ABOVE_FRAMES) restart.get();
  } catch (err) {
    parentPort?.postMessage({ error: String(err) });
  }
}, CHECKPOINT_EVERY_MS);

parentPort?.on('message', (m: unknown) => {
  if (m === 'close') {
    clearInterval(timer);
    db.close();
    parentPort?.close();
  }
});
