/**
 * The storage port of the signalling core: exactly what the core reads and writes, and nothing
 * of how. The server's implementation is the SQLite {@link Store} (../store.ts); the core's unit
 * tests use an in-memory one (testing/fake-store.ts). A second database would implement this.
 *
 * Every method is synchronous: the core emits an answer only after the write it reports has
 * returned. Call records may be queued by the implementation and committed later (in a batch,
 * at {@link StorePort.flushCalls}); the core calls `flushCalls` every tick.
 * @module
 */
import type { CallEndReason, ChatMessage } from '@parloir/protocol';

/** One registered user. */
export interface UserRow {
  /** The user id: the first 16 bytes of SHA-256 of the public key, hex. */
  userId: string;
  /** The registered name (NFKC; unique, case-insensitive). */
  name: string;
  /** Raw Ed25519 public key, base64. */
  publicKey: string;
  /** Registration time, Unix ms. */
  createdAt: number;
}

/** What the signalling core needs from persistence. */
export interface StorePort {
  // ---- users ----

  /** The user with this id, if registered. */
  userById(userId: string): UserRow | undefined;
  /** The user owning this name (case-insensitive), if any. */
  userByName(name: string): UserRow | undefined;
  /** Every registered user's id and name (to index names by confusable skeleton at start). */
  allUserNames(): { userId: string; name: string }[];
  /** Registers a user. Throws when the name or key is already registered to another user. */
  insertUser(u: UserRow): void;
  /** Renames a user. */
  renameUser(userId: string, name: string): void;

  // ---- blocks ----

  /** Stores a block (idempotent). `nowMs`: Unix ms. */
  addBlock(blocker: string, blocked: string, nowMs: number): void;
  /** Removes a block (idempotent). */
  removeBlock(blocker: string, blocked: string): void;
  /** Every block, for the core's in-memory index (read once at start). */
  allBlocks(): { blocker: string; blocked: string }[];

  // ---- chat ----

  /**
   * Stores a message and returns it with its server id. A resend with the same
   * (sender, clientMsgId) returns the first copy (`duplicate`) instead of storing twice.
   * `dropped`: the recipient blocks the sender; stored for the sender's history only.
   */
  insertMessage(
    m: Omit<ChatMessage, 'msgId'>,
    dropped: boolean,
  ): { message: ChatMessage; duplicate: boolean };
  /**
   * What `sender` has stored, for the chat quota: messages sent since `sinceMs` (Unix ms), and
   * the UTF-8 bytes of all its stored messages (dropped ones included).
   */
  chatUsageOf(sender: string, sinceMs: number): { messagesSince: number; bytes: number };
  /** Messages for `recipient` not yet confirmed, oldest first (at most `limit`, default 1000). */
  undelivered(recipient: string, limit?: number): ChatMessage[];
  /** Marks messages delivered (only those addressed to `recipient`) at `nowMs` (Unix ms). */
  markDelivered(recipient: string, msgIds: readonly number[], nowMs: number): void;
  /**
   * A page of the conversation between `viewer` and `peer`, newest first, with ids below
   * `before`, at most `limit` messages. Messages dropped because of a block are shown to their
   * sender only.
   */
  history(
    viewer: string,
    peer: string,
    before: number | undefined,
    limit: number,
  ): { messages: ChatMessage[]; hasMore: boolean };

  // ---- call records ----

  /** Records (or queues) a new call; `createdAt` is the invite time, Unix ms. */
  insertCall(c: { callId: string; caller: string; callee: string; createdAt: number }): void;
  /** Records (or queues) the answer time of a call, Unix ms. */
  answerCall(callId: string, nowMs: number): void;
  /** Records (or queues) the end time (Unix ms) and reason of a call. */
  endCall(callId: string, nowMs: number, reason: CallEndReason): void;
  /** Commits (or hands to a writer) the call records queued so far. Called every tick. */
  flushCalls(): void;
  /** Committed call records involving `userId` (caller or callee), newest first. */
  callsOf(userId: string, limit?: number): CallRecordRow[];
  /**
   * The calls that were live when the server last stopped: answered and never ended, oldest
   * answer first. Read once at start (issue 21 §3), after every queued record is committed; the
   * core restores them into the grace period so their parties can re-attach.
   */
  liveCalls(): CallRecordRow[];
  /**
   * Records that the server stopped on purpose at `nowMs` (Unix ms) with its accepted calls
   * kept open for the next start (an upgrade's restart); written before the call returns.
   */
  recordStop(nowMs: number): void;
  /** The time {@link recordStop} recorded, Unix ms, forgotten as it is read (once, at start). */
  takeLastStop(): number | undefined;
}

/** One call record as the store keeps it. */
export interface CallRecordRow {
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
