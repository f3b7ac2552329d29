/**
 * Persistence over node:sqlite: users, blocks, messages, calls. WAL journal, versioned
 * migrations (PRAGMA user_version). In WAL mode every commit reaches the OS before the call
 * returns, so any committed row survives kill -9 of the server. Chat messages are also fsynced
 * (group commit: one fdatasync of the WAL off the event loop covers every message committed
 * before it, wal-sync.ts; acks wait for {@link Store.chatDurable}) so an acked message survives
 * power loss; the rest
 * uses synchronous=NORMAL (fsync at checkpoints only): an fsync per call event would put disk
 * latency on the invite→ringing path. Users, blocks and messages are written synchronously on
 * the caller's thread, as node:sqlite is. Call records are queued and committed in a batch by a
 * worker thread (store-checkpointer.ts, which also runs the WAL checkpoints), so no commit of
 * theirs runs on the event loop; {@link Store.callsOf} and {@link Store.close} wait for them.
 * It implements the core's storage port (core/store-port.ts); the core knows only the port.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import type { CallEndReason, ChatMessage } from '@parloir/protocol';
import type { StorePort, UserRow } from './core/store-port.ts';
import { ServerError } from './errors.ts';
import { WalSync } from './wal-sync.ts';

export type { UserRow } from './core/store-port.ts';

/** One stored call record. */
export interface CallRow {
  callId: string;
  caller: string;
  callee: string;
  /** Invite time, Unix ms. */
  createdAt: number;
  /** Accept time, Unix ms, or null if never answered. */
  answeredAt: number | null;
  /** End time, Unix ms, or null while live. */
  endedAt: number | null;
  endReason: CallEndReason | null;
}

/**
 * One queued call-record write: `['i', callId, caller, callee, createdAt]` (insert),
 * `['a', callId, atMs]` (answered), `['e', callId, atMs, reason]` (ended). Every one is
 * idempotent, so a batch may be applied twice (by the writer thread, then again on the store's
 * connection if the thread failed) without changing the result.
 */
export type CallOp =
  | readonly ['i', string, string, string, number]
  | readonly ['a', string, number]
  | readonly ['e', string, number, CallEndReason];

/** Applies call-record writes to `db` in one transaction (BEGIN IMMEDIATE: takes the write lock first). */
export function applyCallOps(db: DatabaseSync, ops: readonly CallOp[]): void {
  const insert = db.prepare(
    'INSERT OR IGNORE INTO calls (call_id, caller, callee, created_at) VALUES (?, ?, ?, ?)',
  );
  const answer = db.prepare(
    'UPDATE calls SET answered_at = ? WHERE call_id = ? AND answered_at IS NULL',
  );
  const end = db.prepare(
    'UPDATE calls SET ended_at = ?, end_reason = ? WHERE call_id = ? AND ended_at IS NULL',
  );
  db.exec('BEGIN IMMEDIATE');
  try {
    for (const op of ops) {
      if (op[0] === 'i') insert.run(op[1], op[2], op[3], op[4]);
      else if (op[0] === 'a') answer.run(op[2], op[1]);
      else end.run(op[2], op[3], op[1]);
    }
    db.exec('COMMIT');
  } catch (err) {
    db.exec('ROLLBACK');
    throw err;
  }
}

/** Longest {@link Store.callsOf} / {@link Store.close} wait for the writer thread, ms. */
const WRITER_WAIT_MS = 5000;

/**
 * Versioned schema migrations; index + 1 is the version each one brings the database to. Each
 * runs with its version bump in one transaction, at start ({@link Store}): a newer binary
 * migrates an older data directory; an older binary refuses a newer one (SRV_ERR_SCHEMA_NEWER).
 * Never edit a shipped migration: add one. test/fixtures/schema-v1 is a data directory made by
 * version 1; the upgrade test migrates it.
 */
const MIGRATIONS: string[] = [
  `CREATE TABLE users (
     user_id TEXT PRIMARY KEY,
     name TEXT NOT NULL UNIQUE COLLATE NOCASE,
     public_key TEXT NOT NULL UNIQUE,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE blocks (
     blocker TEXT NOT NULL,
     blocked TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (blocker, blocked)
   );
   CREATE TABLE messages (
     msg_id INTEGER PRIMARY KEY AUTOINCREMENT,
     sender TEXT NOT NULL,
     recipient TEXT NOT NULL,
     client_msg_id TEXT NOT NULL,
     body TEXT NOT NULL,
     ts INTEGER NOT NULL,
     delivered_at INTEGER,
     dropped INTEGER NOT NULL DEFAULT 0,
     UNIQUE (sender, client_msg_id)
   );
   CREATE INDEX messages_undelivered ON messages (recipient) WHERE delivered_at IS NULL AND dropped = 0;
   CREATE INDEX messages_pair ON messages (sender, recipient, msg_id);
   CREATE TABLE calls (
     call_id TEXT PRIMARY KEY,
     caller TEXT NOT NULL,
     callee TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     answered_at INTEGER,
     ended_at INTEGER,
     end_reason TEXT
   );
   CREATE INDEX calls_by_user ON calls (caller, created_at);`,
  // 2: callsOf() matches the callee too, which scanned the whole table; `meta` records when the
  // database was made and migrated (shown by parloir backup and the data check).
  `CREATE INDEX calls_by_callee ON calls (callee, created_at);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   INSERT INTO meta (key, value) VALUES ('migrated_to_2_at', CAST(unixepoch('subsec') * 1000 AS INTEGER));`,
];

/** The schema version this build writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** What the start-up data check found ({@link Store.checkData}); shown in /healthz. */
export interface DataCheckResult {
  /** True when the integrity check passed. */
  ok: boolean;
  /** `PRAGMA integrity_check` problems, empty when ok (at most 20 are kept). */
  problems: string[];
  /** Unanswered call records left open by a crash, closed by the sweep (reason `shutdown`). */
  sweptCalls: number;
  /**
   * Answered calls left open by a crash: live when the server stopped, left open for the core
   * to restore into the grace period ({@link Store.liveCalls}).
   */
  liveCalls: number;
  /** Schema version after migrations. */
  schemaVersion: number;
  /** Migrations run at this start (from → to), if any. */
  migratedFrom?: number;
  /** How long the check took, ms. */
  durationMs: number;
}

/** Options of {@link Store}. */
export interface StoreOptions {
  /** Database file path, or ':memory:'. */
  path: string;
  /**
   * Told when call records could not be committed by the writer thread or on the store's own
   * connection (they are then lost), or when the thread failed (writes come back on this thread).
   */
  onError?: (err: unknown, what: string) => void;
}

function toMessage(r: Record<string, unknown>): ChatMessage {
  return {
    msgId: Number(r.msg_id),
    from: String(r.sender),
    to: String(r.recipient),
    clientMsgId: String(r.client_msg_id),
    text: String(r.body),
    ts: Number(r.ts),
  };
}

function toCallRow(r: Record<string, SQLOutputValue>): CallRow {
  return {
    callId: String(r.call_id),
    caller: String(r.caller),
    callee: String(r.callee),
    createdAt: Number(r.created_at),
    answeredAt: r.answered_at === null ? null : Number(r.answered_at),
    endedAt: r.ended_at === null ? null : Number(r.ended_at),
    endReason: r.end_reason === null ? null : (String(r.end_reason) as CallEndReason),
  };
}

/** The server's database: the signalling core's {@link StorePort} on SQLite. */
export class Store implements StorePort {
  #db: DatabaseSync;
  #stmts = new Map<string, StatementSync>();
  #onError: StoreOptions['onError'];
  /** The checkpointer/writer thread while it works; undefined for ':memory:' or once it failed. */
  #writer: Worker | undefined;
  #writerExited: Promise<void> = Promise.resolve();
  #closing = false;
  /** Shared with the thread: [0] last committed batch number, [1] 1 once a batch failed there. */
  #shared = new Int32Array(new SharedArrayBuffer(8));
  /** Call-record writes not yet handed to the thread. */
  #pending: CallOp[] = [];
  /** Number of the last batch handed to the thread. */
  #seq = 0;
  /** Batches handed to the thread and maybe not committed yet, oldest first. */
  #inFlight: { seq: number; ops: CallOp[] }[] = [];

  /** Group commit of chat messages (wal-sync.ts). */
  #walSync: WalSync;

  /** Schema version found at open, before migrations. */
  #openedAtVersion = 0;

  /**
   * Opens (or creates) the database, refuses one written by a newer schema
   * (SRV_ERR_SCHEMA_NEWER), checks its integrity (SRV_ERR_DATA_CORRUPT, before any write), and
   * migrates it. On any of these errors nothing has been written and the database is closed.
   */
  constructor(options: StoreOptions) {
    this.#onError = options.onError;
    this.#walSync = new WalSync(
      options.path === ':memory:' ? undefined : `${options.path}-wal`,
      (err) => this.#onError?.(err, 'chat group commit: fdatasync of the WAL failed'),
    );
    let db: DatabaseSync | undefined;
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      db = new DatabaseSync(options.path);
      // The busy timeout first: switching to WAL takes a lock, which the connection of a store
      // being closed (its writer thread checkpointing) may still hold for a moment.
      db.exec(
        'PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;',
      );
    } catch (err) {
      if (db?.isOpen) db.close();
      // SQLITE_NOTADB / SQLITE_CORRUPT: the file is there but is not a sound database.
      const corrupt = /not a database|malformed|corrupt/i.test(String(err));
      throw new ServerError(
        corrupt ? 'SRV_ERR_DATA_CORRUPT' : 'SRV_ERR_STORE',
        `cannot open database ${options.path}: ${String(err)}` +
          (corrupt ? ' (nothing was changed; restore a backup with parloir restore)' : ''),
        { cause: err },
      );
    }
    this.#db = db;
    try {
      this.#openedAtVersion = this.schemaVersion;
      if (this.#openedAtVersion > MIGRATIONS.length) {
        throw new ServerError(
          'SRV_ERR_SCHEMA_NEWER',
          `${options.path} has schema version ${this.#openedAtVersion}, newer than this server's ` +
            `${MIGRATIONS.length}: it was written by a newer Parloir; run that version, or restore ` +
            `a backup made by this one (nothing was changed)`,
        );
      }
      const problems = this.integrityProblems();
      if (problems.length > 0) {
        throw new ServerError(
          'SRV_ERR_DATA_CORRUPT',
          `${options.path} failed the SQLite integrity check (nothing was changed; restore a ` +
            `backup with parloir restore): ${problems.slice(0, 3).join('; ')}`,
        );
      }
      this.#migrate();
    } catch (err) {
      this.#db.close();
      if (err instanceof ServerError) throw err;
      throw new ServerError('SRV_ERR_DATA_CORRUPT', `cannot read ${options.path}: ${String(err)}`, {
        cause: err,
      });
    }
    if (options.path !== ':memory:') this.#startWriter(options.path);
  }

  /** `PRAGMA integrity_check` problems (at most 20), empty if the database is sound. */
  integrityProblems(): string[] {
    const rows = this.#db.prepare('PRAGMA integrity_check(20)').all();
    const lines = rows.map((r) => String(Object.values(r)[0]));
    return lines.length === 1 && lines[0] === 'ok' ? [] : lines;
  }

  /**
   * The start-up data check: integrity (already checked at open; run again here so the result
   * is current) and a sweep of the unanswered call records a crash left open: a ringing call
   * does not survive a restart, so each is closed with reason `shutdown` at its invite time.
   * Answered calls left open were live at the crash: they stay open, and the signalling core
   * restores them into its grace period (issue 21 §3), so their parties can re-attach; the core
   * ends those nobody comes back to. Call before the server takes any call.
   */
  checkData(): DataCheckResult {
    const t0 = performance.now();
    const problems = this.integrityProblems();
    let swept = 0;
    let live = 0;
    if (problems.length === 0) {
      const r = this.#db
        .prepare(
          `UPDATE calls SET ended_at = created_at, end_reason = 'shutdown'
            WHERE ended_at IS NULL AND answered_at IS NULL`,
        )
        .run();
      swept = Number(r.changes);
      const n = this.#db
        .prepare('SELECT COUNT(*) AS n FROM calls WHERE ended_at IS NULL')
        .get() as { n: number };
      live = Number(n.n);
    }
    const version = this.schemaVersion;
    return {
      ok: problems.length === 0,
      problems,
      sweptCalls: swept,
      liveCalls: live,
      schemaVersion: version,
      ...(this.#openedAtVersion !== version ? { migratedFrom: this.#openedAtVersion } : {}),
      durationMs: Math.round((performance.now() - t0) * 10) / 10,
    };
  }

  /**
   * Moves WAL checkpoints and call-record commits to a worker thread. SQLite's automatic
   * checkpoint runs inside the commit that crosses 1,000 WAL pages and fsyncs twice (~10 ms stall
   * of the event loop on the bench VM); a commit of a tick's call records took 1–3 ms of the
   * loop at 5,000 clients. Durability is unchanged for checkpoints (a commit is in the WAL
   * either way); call records are committed tens of ms later than before (a crash loses at most
   * those not yet committed; close() waits for all). If the thread fails, automatic checkpoints
   * and call-record commits come back to this connection.
   */
  #startWriter(path: string): void {
    this.#db.exec('PRAGMA wal_autocheckpoint = 0');
    const worker = new Worker(new URL('./store-checkpointer.ts', import.meta.url), {
      workerData: { path, shared: this.#shared },
    });
    worker.on('error', (err) => this.#stopWriter(err));
    worker.on('message', (m: { checkpointError?: string; writeError?: string }) => {
      if (m.writeError !== undefined) this.#stopWriter(new Error(m.writeError));
      else if (m.checkpointError !== undefined && this.#db.isOpen)
        this.#db.exec('PRAGMA wal_autocheckpoint = 1000');
    });
    worker.once('exit', () => {
      if (!this.#closing) this.#stopWriter(new Error('store writer thread exited'));
    });
    worker.unref();
    this.#writerExited = new Promise((resolve) => worker.once('exit', () => resolve()));
    this.#writer = worker;
  }

  /**
   * The thread failed (or did not commit in time): checkpoints and call records come back to
   * this connection, and every batch it may not have committed is written here (the writes are
   * idempotent).
   */
  #stopWriter(err: unknown): void {
    const worker = this.#writer;
    if (!worker) return;
    this.#writer = undefined;
    this.#onError?.(err, 'store writer thread failed; writing on the main thread');
    void worker.terminate();
    if (!this.#db.isOpen) return;
    this.#db.exec('PRAGMA wal_autocheckpoint = 1000');
    this.#prune();
    const ops = this.#inFlight.flatMap((b) => b.ops);
    this.#inFlight = [];
    if (ops.length > 0) this.#writeHere(ops);
  }

  /** Forgets the batches the thread has committed. */
  #prune(): void {
    const done = Atomics.load(this.#shared, 0);
    while (this.#inFlight.length > 0 && (this.#inFlight[0] as { seq: number }).seq <= done)
      this.#inFlight.shift();
  }

  #writeHere(ops: CallOp[]): void {
    try {
      applyCallOps(this.#db, ops);
    } catch (err) {
      if (!this.#onError) throw err;
      this.#onError(err, `${ops.length} call-record writes lost`);
    }
  }

  /**
   * Blocks until the thread has committed every call record queued so far (at most
   * {@link WRITER_WAIT_MS}; past that, or if a batch failed there, they are written here).
   */
  #drain(): void {
    this.flushCalls();
    if (!this.#writer) return;
    const deadline = Date.now() + WRITER_WAIT_MS;
    for (;;) {
      if (Atomics.load(this.#shared, 1) !== 0) break;
      const done = Atomics.load(this.#shared, 0);
      if (done >= this.#seq) break;
      const left = deadline - Date.now();
      if (left <= 0) break;
      Atomics.wait(this.#shared, 0, done, Math.min(left, 50));
    }
    this.#prune();
    if (this.#inFlight.length > 0)
      this.#stopWriter(new Error('store writer thread did not commit call records'));
  }

  /** The schema version after migrations. */
  get schemaVersion(): number {
    const row = this.#db.prepare('PRAGMA user_version').get() as { user_version: number };
    return row.user_version;
  }

  #migrate(): void {
    const current = this.schemaVersion;
    for (let v = current; v < MIGRATIONS.length; v++) {
      try {
        this.#db.exec('BEGIN');
        this.#db.exec(MIGRATIONS[v] as string);
        this.#db.exec(`PRAGMA user_version = ${v + 1}`);
        this.#db.exec('COMMIT');
      } catch (err) {
        this.#db.exec('ROLLBACK');
        throw new ServerError('SRV_ERR_MIGRATION', `migration to version ${v + 1} failed`, {
          cause: err,
        });
      }
    }
  }

  #stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) this.#stmts.set(sql, (s = this.#db.prepare(sql)));
    return s;
  }

  // ---- users ----

  /** The user with this id, if registered. */
  userById(userId: string): UserRow | undefined {
    const r = this.#stmt('SELECT * FROM users WHERE user_id = ?').get(userId);
    return r
      ? {
          userId: String(r.user_id),
          name: String(r.name),
          publicKey: String(r.public_key),
          createdAt: Number(r.created_at),
        }
      : undefined;
  }

  /** The user owning this name (case-insensitive), if any. */
  userByName(name: string): UserRow | undefined {
    const r = this.#stmt('SELECT * FROM users WHERE name = ?').get(name);
    return r
      ? {
          userId: String(r.user_id),
          name: String(r.name),
          publicKey: String(r.public_key),
          createdAt: Number(r.created_at),
        }
      : undefined;
  }

  /** Every registered user's id and name (to index names by confusable skeleton at start). */
  allUserNames(): { userId: string; name: string }[] {
    return this.#stmt('SELECT user_id, name FROM users')
      .all()
      .map((r) => ({ userId: String(r.user_id), name: String(r.name) }));
  }

  /** Registers a user (name binding). */
  insertUser(u: UserRow): void {
    this.#stmt('INSERT INTO users (user_id, name, public_key, created_at) VALUES (?, ?, ?, ?)').run(
      u.userId,
      u.name,
      u.publicKey,
      u.createdAt,
    );
  }

  /** Renames a user. */
  renameUser(userId: string, name: string): void {
    this.#stmt('UPDATE users SET name = ? WHERE user_id = ?').run(name, userId);
  }

  /** Number of registered users. */
  userCount(): number {
    return Number((this.#stmt('SELECT COUNT(*) AS n FROM users').get() as { n: number }).n);
  }

  // ---- blocks ----

  /** Stores a block (idempotent). */
  addBlock(blocker: string, blocked: string, nowMs: number): void {
    this.#stmt('INSERT OR IGNORE INTO blocks (blocker, blocked, created_at) VALUES (?, ?, ?)').run(
      blocker,
      blocked,
      nowMs,
    );
  }

  /** Removes a block (idempotent). */
  removeBlock(blocker: string, blocked: string): void {
    this.#stmt('DELETE FROM blocks WHERE blocker = ? AND blocked = ?').run(blocker, blocked);
  }

  /** Every block, for the in-memory index. */
  allBlocks(): { blocker: string; blocked: string }[] {
    return this.#stmt('SELECT blocker, blocked FROM blocks')
      .all()
      .map((r) => ({
        blocker: String(r.blocker),
        blocked: String(r.blocked),
      }));
  }

  // ---- messages ----

  /**
   * Stores a message and returns it with its server id. A resend with the same
   * (sender, clientMsgId) returns the first copy instead of storing twice.
   */
  insertMessage(
    m: Omit<ChatMessage, 'msgId'>,
    dropped: boolean,
  ): { message: ChatMessage; duplicate: boolean } {
    const existing = this.#stmt(
      'SELECT * FROM messages WHERE sender = ? AND client_msg_id = ?',
    ).get(m.from, m.clientMsgId);
    if (existing) return { message: toMessage(existing), duplicate: true };
    // No fsync here: chatDurable() group-commits it off the event loop (wal-sync.ts).
    const r = this.#stmt(
      'INSERT INTO messages (sender, recipient, client_msg_id, body, ts, dropped) VALUES (?, ?, ?, ?, ?, ?)',
    ).run(m.from, m.to, m.clientMsgId, m.text, m.ts, dropped ? 1 : 0);
    this.#walSync.noteWrite();
    return { message: { ...m, msgId: Number(r.lastInsertRowid) }, duplicate: false };
  }

  /**
   * Resolves once every message inserted before the call is on disk (fsynced; one fdatasync of
   * the WAL, off the event loop, covers all of them). Acknowledge a message only after this.
   */
  chatDurable(): Promise<void> {
    return this.#walSync.durable();
  }

  /**
   * What `sender` has stored, for the chat quota: messages sent since `sinceMs`, and the UTF-8
   * bytes of all its stored messages (dropped ones included: the sender is not told of a block).
   * Uses the (sender, …) index; read once per user, then counted in memory.
   */
  chatUsageOf(sender: string, sinceMs: number): { messagesSince: number; bytes: number } {
    const row = this.#stmt(
      'SELECT COALESCE(SUM(ts >= ?), 0) AS n, COALESCE(SUM(LENGTH(CAST(body AS BLOB))), 0) AS b FROM messages WHERE sender = ?',
    ).get(sinceMs, sender) as { n: number; b: number } | undefined;
    return { messagesSince: Number(row?.n ?? 0), bytes: Number(row?.b ?? 0) };
  }

  /** Messages for `recipient` not yet confirmed, oldest first (at most `limit`). */
  undelivered(recipient: string, limit = 1000): ChatMessage[] {
    return this.#stmt(
      'SELECT * FROM messages WHERE recipient = ? AND delivered_at IS NULL AND dropped = 0 ORDER BY msg_id LIMIT ?',
    )
      .all(recipient, limit)
      .map(toMessage);
  }

  /** Marks messages delivered (only those addressed to `recipient`). */
  markDelivered(recipient: string, msgIds: readonly number[], nowMs: number): void {
    const s = this.#stmt(
      'UPDATE messages SET delivered_at = ? WHERE msg_id = ? AND recipient = ? AND delivered_at IS NULL',
    );
    this.#db.exec('BEGIN');
    try {
      for (const id of msgIds) s.run(nowMs, id, recipient);
      this.#db.exec('COMMIT');
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  /**
   * A page of the conversation between `viewer` and `peer`, newest first, older than `before`.
   * Messages dropped because of a block are shown to their sender only.
   */
  history(
    viewer: string,
    peer: string,
    before: number | undefined,
    limit: number,
  ): { messages: ChatMessage[]; hasMore: boolean } {
    const rows = this.#stmt(
      `SELECT * FROM messages
        WHERE msg_id < ? AND (
          (sender = ? AND recipient = ?) OR (sender = ? AND recipient = ? AND dropped = 0))
        ORDER BY msg_id DESC LIMIT ?`,
    ).all(before ?? Number.MAX_SAFE_INTEGER, viewer, peer, peer, viewer, limit + 1);
    return { messages: rows.slice(0, limit).map(toMessage), hasMore: rows.length > limit };
  }

  // ---- calls ----

  /**
   * Queues a new call record. Call records are not written at once: {@link flushCalls} hands the
   * queued ones to the writer thread, which commits them in one transaction.
   */
  insertCall(c: { callId: string; caller: string; callee: string; createdAt: number }): void {
    this.#pending.push(['i', c.callId, c.caller, c.callee, c.createdAt]);
  }

  /** Queues the answer time (Unix ms) of a call (see {@link insertCall}). */
  answerCall(callId: string, nowMs: number): void {
    this.#pending.push(['a', callId, nowMs]);
  }

  /** Queues the end time (Unix ms) and reason of a call (see {@link insertCall}). */
  endCall(callId: string, nowMs: number, reason: CallEndReason): void {
    this.#pending.push(['e', callId, nowMs, reason]);
  }

  /**
   * Hands the queued call records to the writer thread (one message; it commits them in one
   * transaction, off this thread). Without the thread (':memory:', or it failed) they are
   * committed here, in one transaction. The signalling core calls this every tick.
   */
  flushCalls(): void {
    if (this.#pending.length === 0) return;
    const ops = this.#pending;
    this.#pending = [];
    if (!this.#writer) {
      this.#writeHere(ops);
      return;
    }
    this.#prune();
    const seq = ++this.#seq;
    this.#inFlight.push({ seq, ops });
    this.#writer.postMessage({ seq, ops });
  }

  /** Call records involving `userId`, newest first. */
  callsOf(userId: string, limit = 50): CallRow[] {
    // Sees every record queued so far: waits (blocking, bounded) for the thread to commit them.
    this.#drain();
    return this.#stmt(
      'SELECT * FROM calls WHERE caller = ? OR callee = ? ORDER BY created_at DESC LIMIT ?',
    )
      .all(userId, userId, limit)
      .map(toCallRow);
  }

  /**
   * The calls live when the server last stopped: answered, never ended (a kill -9 or a crash
   * left them open), oldest answer first. The core restores them into the grace period.
   */
  liveCalls(): CallRow[] {
    this.#drain();
    return this.#stmt(
      'SELECT * FROM calls WHERE answered_at IS NOT NULL AND ended_at IS NULL ORDER BY answered_at',
    )
      .all()
      .map(toCallRow);
  }

  /** Records a deliberate stop at `nowMs` (meta `stopped_at`), committed at once. */
  recordStop(nowMs: number): void {
    this.#stmt("INSERT OR REPLACE INTO meta (key, value) VALUES ('stopped_at', ?)").run(
      String(nowMs),
    );
  }

  /** The recorded stop time, Unix ms, deleted as it is read. */
  takeLastStop(): number | undefined {
    const r = this.#stmt("SELECT value FROM meta WHERE key = 'stopped_at'").get();
    if (r === undefined) return undefined;
    this.#stmt("DELETE FROM meta WHERE key = 'stopped_at'").run();
    const at = Number(r.value);
    return Number.isSafeInteger(at) ? at : undefined;
  }

  /**
   * Closes the database. Every queued call record is committed first (this waits for the writer
   * thread, blocking, at most {@link WRITER_WAIT_MS}, then writes what it has not committed
   * here). The thread closes its connection after this one; the last connection to close
   * checkpoints the WAL (committed rows are in the WAL in any case).
   */
  close(): void {
    this.#walSync.close();
    if (this.#db.isOpen) this.#drain();
    this.#closing = true;
    this.#writer?.postMessage('close');
    this.#writer = undefined;
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * Resolves once the writer thread has closed its connection and exited, so nothing touches
   * the database files any more (its close checkpoints the WAL and removes the -wal and -shm
   * files). Immediately for an in-memory store. Call after {@link close}.
   */
  whenClosed(): Promise<void> {
    return this.#writerExited;
  }
}
