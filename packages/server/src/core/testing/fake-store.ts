/**
 * An in-memory {@link StorePort} for the core's unit tests: no SQLite, no thread, no disk. It
 * keeps the SQLite store's observable rules (case-insensitive unique names and keys, one copy
 * per (sender, clientMsgId), dropped messages shown to their sender only, idempotent call-record
 * writes applied at `flushCalls`) so a core test passes on either. Test support only: the server
 * runs ../../store.ts.
 * @module
 */
import type { CallEndReason, ChatMessage } from '@parloir/protocol';
import type { StorePort, UserRow } from '../store-port.ts';

/** A call record as the fake keeps it (the SQLite store's `calls` row). */
export interface FakeCallRecord {
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

type CallOp =
  | { op: 'insert'; callId: string; caller: string; callee: string; createdAt: number }
  | { op: 'answer'; callId: string; atMs: number }
  | { op: 'end'; callId: string; atMs: number; reason: CallEndReason };

interface StoredMessage {
  message: ChatMessage;
  dropped: boolean;
  deliveredAt: number | null;
}

/** The in-memory store. Fields are public read-only views for assertions. */
export class FakeStore implements StorePort {
  #users = new Map<string, UserRow>();
  #blocks = new Map<string, number>();
  #messages: StoredMessage[] = [];
  #calls = new Map<string, FakeCallRecord>();
  #pendingCalls: CallOp[] = [];
  #nextMsgId = 1;
  /** How many times {@link flushCalls} committed something (tests of batching). */
  flushes = 0;

  /** Committed call records, by id. */
  get calls(): ReadonlyMap<string, FakeCallRecord> {
    return this.#calls;
  }

  /** Call-record writes queued and not yet flushed. */
  get pendingCallWrites(): number {
    return this.#pendingCalls.length;
  }

  /** Every stored message with its flags, in id order. */
  get messages(): readonly Readonly<StoredMessage>[] {
    return this.#messages;
  }

  userById(userId: string): UserRow | undefined {
    const u = this.#users.get(userId);
    return u ? { ...u } : undefined;
  }

  userByName(name: string): UserRow | undefined {
    const key = name.toLowerCase();
    for (const u of this.#users.values()) if (u.name.toLowerCase() === key) return { ...u };
    return undefined;
  }

  allUserNames(): { userId: string; name: string }[] {
    return [...this.#users.values()].map((u) => ({ userId: u.userId, name: u.name }));
  }

  insertUser(u: UserRow): void {
    if (this.#users.has(u.userId)) throw new Error(`UNIQUE constraint failed: users.user_id`);
    for (const o of this.#users.values()) {
      if (o.name.toLowerCase() === u.name.toLowerCase())
        throw new Error('UNIQUE constraint failed: users.name');
      if (o.publicKey === u.publicKey)
        throw new Error('UNIQUE constraint failed: users.public_key');
    }
    this.#users.set(u.userId, { ...u });
  }

  renameUser(userId: string, name: string): void {
    const u = this.#users.get(userId);
    if (!u) return;
    for (const o of this.#users.values()) {
      if (o !== u && o.name.toLowerCase() === name.toLowerCase())
        throw new Error('UNIQUE constraint failed: users.name');
    }
    u.name = name;
  }

  addBlock(blocker: string, blocked: string, nowMs: number): void {
    const key = `${blocker}\n${blocked}`;
    if (!this.#blocks.has(key)) this.#blocks.set(key, nowMs);
  }

  removeBlock(blocker: string, blocked: string): void {
    this.#blocks.delete(`${blocker}\n${blocked}`);
  }

  allBlocks(): { blocker: string; blocked: string }[] {
    return [...this.#blocks.keys()].map((k) => {
      const [blocker = '', blocked = ''] = k.split('\n');
      return { blocker, blocked };
    });
  }

  insertMessage(
    m: Omit<ChatMessage, 'msgId'>,
    dropped: boolean,
  ): { message: ChatMessage; duplicate: boolean } {
    const first = this.#messages.find(
      (x) => x.message.from === m.from && x.message.clientMsgId === m.clientMsgId,
    );
    if (first) return { message: { ...first.message }, duplicate: true };
    const message: ChatMessage = { ...m, msgId: this.#nextMsgId++ };
    this.#messages.push({ message, dropped, deliveredAt: null });
    return { message: { ...message }, duplicate: false };
  }

  chatUsageOf(sender: string, sinceMs: number): { messagesSince: number; bytes: number } {
    let messagesSince = 0;
    let bytes = 0;
    for (const { message } of this.#messages) {
      if (message.from !== sender) continue;
      if (message.ts >= sinceMs) messagesSince++;
      bytes += new TextEncoder().encode(message.text).length;
    }
    return { messagesSince, bytes };
  }

  undelivered(recipient: string, limit = 1000): ChatMessage[] {
    return this.#messages
      .filter((x) => x.message.to === recipient && x.deliveredAt === null && !x.dropped)
      .slice(0, limit)
      .map((x) => ({ ...x.message }));
  }

  markDelivered(recipient: string, msgIds: readonly number[], nowMs: number): void {
    for (const x of this.#messages) {
      if (x.message.to === recipient && x.deliveredAt === null && msgIds.includes(x.message.msgId))
        x.deliveredAt = nowMs;
    }
  }

  history(
    viewer: string,
    peer: string,
    before: number | undefined,
    limit: number,
  ): { messages: ChatMessage[]; hasMore: boolean } {
    const below = before ?? Number.MAX_SAFE_INTEGER;
    const page = this.#messages
      .filter(
        (x) =>
          x.message.msgId < below &&
          ((x.message.from === viewer && x.message.to === peer) ||
            (x.message.from === peer && x.message.to === viewer && !x.dropped)),
      )
      .reverse()
      .slice(0, limit + 1)
      .map((x) => ({ ...x.message }));
    return { messages: page.slice(0, limit), hasMore: page.length > limit };
  }

  insertCall(c: { callId: string; caller: string; callee: string; createdAt: number }): void {
    this.#pendingCalls.push({ op: 'insert', ...c });
  }

  answerCall(callId: string, nowMs: number): void {
    this.#pendingCalls.push({ op: 'answer', callId, atMs: nowMs });
  }

  endCall(callId: string, nowMs: number, reason: CallEndReason): void {
    this.#pendingCalls.push({ op: 'end', callId, atMs: nowMs, reason });
  }

  callsOf(userId: string, limit = 50): FakeCallRecord[] {
    return [...this.#calls.values()]
      .filter((c) => c.caller === userId || c.callee === userId)
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, limit)
      .map((c) => ({ ...c }));
  }

  liveCalls(): FakeCallRecord[] {
    this.flushCalls();
    return [...this.#calls.values()]
      .filter((c) => c.answeredAt !== null && c.endedAt === null)
      .sort((a, b) => (a.answeredAt ?? 0) - (b.answeredAt ?? 0))
      .map((c) => ({ ...c }));
  }

  #stoppedAt: number | undefined;

  recordStop(nowMs: number): void {
    this.#stoppedAt = nowMs;
  }

  takeLastStop(): number | undefined {
    const at = this.#stoppedAt;
    this.#stoppedAt = undefined;
    return at;
  }

  flushCalls(): void {
    if (this.#pendingCalls.length === 0) return;
    this.flushes++;
    for (const w of this.#pendingCalls.splice(0)) {
      const rec = this.#calls.get(w.callId);
      if (w.op === 'insert') {
        if (!rec)
          this.#calls.set(w.callId, {
            callId: w.callId,
            caller: w.caller,
            callee: w.callee,
            createdAt: w.createdAt,
            answeredAt: null,
            endedAt: null,
            endReason: null,
          });
      } else if (w.op === 'answer') {
        if (rec && rec.answeredAt === null) rec.answeredAt = w.atMs;
      } else if (rec && rec.endedAt === null) {
        rec.endedAt = w.atMs;
        rec.endReason = w.reason;
      }
    }
  }
}
