/**
 * Group commit of chat messages (issue 17 §4). A message is committed on the store's connection
 * with `synchronous = NORMAL`: in WAL mode the commit is appended to the `-wal` file (it survives
 * a crash of the server, not yet a power cut) without an fsync on the event loop. Durability then
 * comes from one `fdatasync` of the `-wal` file on libuv's thread pool, shared by every commit
 * made before it started: under load, one fsync covers a batch of messages. The server sends a
 * chat acknowledgement only once {@link WalSync.durable} resolves, so an acked message survives
 * power loss as before, and the event loop never waits for the disk.
 *
 * Why the `-wal` file is enough: a checkpoint (the store's writer thread) syncs the WAL before it
 * copies frames into the database and syncs the database before it resets the WAL (SQLite,
 * synchronous=NORMAL), so frames our fdatasync did not reach are already durable there. SQLite
 * keeps the `-wal` file while a connection is open, so the descriptor stays valid.
 */
import { closeSync, fdatasync, fdatasyncSync, openSync } from 'node:fs';

/** One waiter: resolved once a sync that started after its write completes. */
interface Waiter {
  seq: number;
  resolve: () => void;
}

/** fsyncs a WAL file off the event loop, one sync for every write made before it starts. */
export class WalSync {
  #path: string | undefined;
  #fd: number | undefined;
  #written = 0;
  #synced = 0;
  #inFlight = false;
  #waiters: Waiter[] = [];
  #onError: (err: unknown) => void;
  /** Syncs done (tests, metrics): fewer than writes under load is the point. */
  syncs = 0;

  /** `walPath` undefined: an in-memory database, durable at once (nothing to sync). */
  constructor(walPath: string | undefined, onError: (err: unknown) => void = () => {}) {
    this.#path = walPath;
    this.#onError = onError;
  }

  /** Records one commit that must become durable. */
  noteWrite(): void {
    this.#written++;
  }

  /** Resolves once every commit noted before this call is on disk. */
  durable(): Promise<void> {
    const seq = this.#written;
    if (this.#path === undefined || seq <= this.#synced) return Promise.resolve();
    return new Promise((resolve) => {
      this.#waiters.push({ seq, resolve });
      this.#kick();
    });
  }

  #descriptor(): number {
    this.#fd ??= openSync(this.#path as string, 'r');
    return this.#fd;
  }

  #done(upTo: number): void {
    this.#synced = Math.max(this.#synced, upTo);
    const ready = this.#waiters.filter((w) => w.seq <= this.#synced);
    this.#waiters = this.#waiters.filter((w) => w.seq > this.#synced);
    for (const w of ready) w.resolve();
  }

  #kick(): void {
    if (this.#inFlight || this.#waiters.length === 0) return;
    const upTo = this.#written;
    let fd: number;
    try {
      fd = this.#descriptor();
    } catch (err) {
      // No WAL file to sync (cannot happen after a commit in WAL mode): say so, and do not hold
      // acknowledgements for ever.
      this.#onError(err);
      this.#done(upTo);
      return;
    }
    this.#inFlight = true;
    fdatasync(fd, (err) => {
      this.#inFlight = false;
      this.syncs++;
      if (err) this.#onError(err);
      this.#done(upTo);
      this.#kick();
    });
  }

  /** Syncs what is still pending (blocking, once, at close), releases every waiter, closes. */
  close(): void {
    if (this.#written > this.#synced && this.#path !== undefined) {
      try {
        fdatasyncSync(this.#descriptor());
      } catch (err) {
        this.#onError(err);
      }
    }
    this.#done(this.#written);
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
