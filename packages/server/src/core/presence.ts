/**
 * Presence: who is online and with which status. A user entering gets a snapshot of the others;
 * the others learn of joins, leaves and status changes through diffs coalesced over a batching
 * window and sent as one shared frame (copies filtered per viewer only where a block hides
 * someone). Handles `presence.set`. Sans-IO: diffs are flushed by {@link Presence.tick}.
 * @module
 */
import { encodeEvent, type ClientRequest, type Status, type UserInfo } from '@parloir/protocol';
import type { BlockIndex } from './blocks.ts';
import type { CoreContext, Session } from './context.ts';

const textEncoder = new TextEncoder();
const SNAPSHOT_PREFIX = '{"type":"presence.snapshot","users":[';
const SNAPSHOT_PREFIX_BYTES = textEncoder.encode(SNAPSHOT_PREFIX);
const SNAPSHOT_SUFFIX_BYTES = textEncoder.encode(']}');

/** Options of {@link Presence}. */
export interface PresenceOptions {
  /**
   * Presence diffs are coalesced over at least this window, ms. With many users online the
   * window grows (users / 5 ms, at most 1 s) to bound frames per second.
   */
  presenceBatchMs: number;
  /** Whether `userId` is in an accepted call (shown as `in-call`). */
  inCall: (userId: string) => boolean;
}

/** Presence state and fan-out. */
export class Presence {
  #ctx: CoreContext;
  #blocks: BlockIndex;
  #o: PresenceOptions;
  #diffJoined = new Map<string, UserInfo>();
  #diffLeft = new Set<string>();
  #diffChanged = new Map<string, Status>();
  #nextFlushMs = 0;
  /**
   * Comma-joined presence fragments (UTF-8, first #snapLen bytes) of every online user as the
   * others know them: the snapshot body for a newcomer nobody blocks. Bytes, not a string, so
   * the ~N×80-byte frame built at every connect lives outside the JS heap. Rebuilt when not
   * #snapValid.
   */
  #snapBytes = new Uint8Array(64 * 1024);
  #snapLen = 0;
  #snapValid = true;

  constructor(ctx: CoreContext, blocks: BlockIndex, options: PresenceOptions) {
    this.#ctx = ctx;
    this.#blocks = blocks;
    this.#o = options;
  }

  /** When presence next needs a tick (its next flush), Unix ms. */
  nextTimeoutMs(): number {
    return this.#nextFlushMs;
  }

  /** Handles `presence.set`. */
  handleRequest(s: Session, req: Extract<ClientRequest, { type: 'presence.set' }>): object {
    s.chosen = req.status;
    this.statusMaybeChanged(s.userId);
    return {};
  }

  /** A session becomes visible: `joined` to the others (next flush), a snapshot to it. */
  enter(session: Session): void {
    session.conn.state = 'ready';
    this.#ctx.sessions.set(session.userId, session);
    this.#diffLeft.delete(session.userId);
    const info = this.infoOf(session);
    session.announced = info.status;
    this.#diffJoined.set(session.userId, info);
    this.#sendFirstSnapshot(session);
  }

  /** A user's last connection closed: `left` to the others (next flush). */
  leave(session: Session): void {
    this.#ctx.sessions.delete(session.userId);
    this.#snapValid = false;
    this.#diffJoined.delete(session.userId);
    this.#diffChanged.delete(session.userId);
    this.#diffLeft.add(session.userId);
  }

  /** An online user logged in again under another name: the cached snapshot is stale. */
  renamed(): void {
    this.#snapValid = false;
  }

  /** `s` as the others see it. */
  infoOf(s: Session): UserInfo {
    return { userId: s.userId, name: s.name, status: this.#statusOf(s) };
  }

  /**
   * Queues `userId`'s status for the next diff if it differs from what the others know; a
   * change undone within the batching window (e.g. a very short call) costs no frame at all.
   */
  statusMaybeChanged(userId: string): void {
    const s = this.#ctx.sessions.get(userId);
    if (!s) return;
    const now = this.#statusOf(s);
    const pendingJoin = this.#diffJoined.get(userId);
    if (pendingJoin) {
      pendingJoin.status = now;
      if (s.announced !== now) this.#snapValid = false;
      s.announced = now;
    } else if (now === s.announced) this.#diffChanged.delete(userId);
    else this.#diffChanged.set(userId, now);
  }

  /**
   * Flushes the coalesced diff when due. `backlog`: the adapter is still writing the previous
   * fan-out, so the next one waits (and coalesces more).
   */
  tick(nowMs: number, backlog: boolean): void {
    if (nowMs < this.#nextFlushMs || backlog) return;
    this.#flush();
    // Every flush costs one frame per online user, so the window widens with the crowd:
    // 50 ms up to 250 users, then 1 ms per 5 users (1 s at 5,000), at most 1 s.
    const window = Math.max(this.#o.presenceBatchMs, Math.min(1000, this.#ctx.sessions.size / 5));
    this.#nextFlushMs = nowMs + window;
  }

  /** A full snapshot for `session`, without the users who block it. */
  sendSnapshot(session: Session): void {
    // Built from cached per-user JSON fragments: a snapshot of N users costs a string join,
    // not N object serializations (it is the O(N) part of every join).
    const parts: string[] = [];
    for (const s of this.#ctx.sessions.values()) {
      if (s !== session && !this.#blocks.blocks(s.userId, session.userId)) {
        parts.push(this.#fragmentOf(s));
      }
    }
    this.#ctx.sendText(session.conn, `${SNAPSHOT_PREFIX}${parts.join(',')}]}`);
  }

  /**
   * The snapshot of a user entering: the cached list of everyone else (kept as UTF-8 bytes,
   * appended to at each join and rebuilt only after a leave or a status change), then the
   * newcomer is appended. Costs a copy of the list, not N lookups and a join of N strings.
   * Someone blocking the newcomer needs a filtered list: {@link sendSnapshot}.
   */
  #sendFirstSnapshot(session: Session): void {
    if (this.#blocks.blockerCount(session.userId) > 0) {
      this.sendSnapshot(session);
      this.#snapValid = false;
      return;
    }
    if (!this.#snapValid) {
      this.#snapLen = 0;
      for (const s of this.#ctx.sessions.values()) if (s !== session) this.#snapAppend(s);
      this.#snapValid = true;
    }
    const frame = new Uint8Array(SNAPSHOT_PREFIX_BYTES.length + this.#snapLen + 2);
    frame.set(SNAPSHOT_PREFIX_BYTES);
    frame.set(this.#snapBytes.subarray(0, this.#snapLen), SNAPSHOT_PREFIX_BYTES.length);
    frame.set(SNAPSHOT_SUFFIX_BYTES, frame.length - 2);
    this.#ctx.sendText(session.conn, frame);
    this.#snapAppend(session);
  }

  /** Appends `s`'s fragment to the cached snapshot body. */
  #snapAppend(s: Session): void {
    const fragment = this.#fragmentOf(s);
    const need = this.#snapLen + 1 + fragment.length * 3;
    if (need > this.#snapBytes.length) {
      const grown = new Uint8Array(Math.max(need, this.#snapBytes.length * 2));
      grown.set(this.#snapBytes.subarray(0, this.#snapLen));
      this.#snapBytes = grown;
    }
    if (this.#snapLen > 0) this.#snapBytes[this.#snapLen++] = 0x2c; // ','
    this.#snapLen += textEncoder.encodeInto(
      fragment,
      this.#snapBytes.subarray(this.#snapLen),
    ).written;
  }

  /** `{"userId":…,"name":…,"status":…}` for `s`, cached until its name or status changes. */
  #fragmentOf(s: Session): string {
    const status = s.announced;
    if (s.fragment === undefined || s.fragmentStatus !== status || s.fragmentName !== s.name) {
      s.fragment = JSON.stringify({ userId: s.userId, name: s.name, status } satisfies UserInfo);
      s.fragmentStatus = status;
      s.fragmentName = s.name;
    }
    return s.fragment;
  }

  #statusOf(s: Session): Status {
    return this.#o.inCall(s.userId) ? 'in-call' : s.chosen;
  }

  /** Sends the coalesced presence diff: one shared frame, per-viewer copies only where blocks hide someone. */
  #flush(): void {
    if (this.#diffJoined.size === 0 && this.#diffLeft.size === 0 && this.#diffChanged.size === 0)
      return;
    const ctx = this.#ctx;
    const joined = [...this.#diffJoined.values()];
    const left = [...this.#diffLeft];
    const changed = [...this.#diffChanged].map(([userId, status]) => ({ userId, status }));
    for (const c of changed) {
      const s = ctx.sessions.get(c.userId);
      if (s) s.announced = c.status;
    }
    if (changed.length > 0) this.#snapValid = false;
    this.#diffJoined.clear();
    this.#diffLeft.clear();
    this.#diffChanged.clear();
    const body = {
      ...(joined.length ? { joined } : {}),
      ...(left.length ? { left } : {}),
      ...(changed.length ? { changed } : {}),
    };
    const shared = encodeEvent('presence.diff', body);
    // Viewers from whom some user in this diff is hidden get a filtered copy.
    const special = new Set<string>();
    for (const u of joined) for (const v of this.#blocks.blockedBy(u.userId)) special.add(v);
    for (const u of changed) for (const v of this.#blocks.blockedBy(u.userId)) special.add(v);
    const plain: number[] = [];
    for (const s of ctx.sessions.values()) {
      if (!special.has(s.userId)) {
        if (s.conn.state !== 'closed') plain.push(s.conn.id);
        continue;
      }
      const hidden = (id: string) => this.#blocks.blocks(id, s.userId);
      const j = joined.filter((u) => !hidden(u.userId));
      const c = changed.filter((u) => !hidden(u.userId));
      if (j.length + left.length + c.length === 0) continue;
      ctx.sendBulk(
        s.conn,
        encodeEvent('presence.diff', {
          ...(j.length ? { joined: j } : {}),
          ...(left.length ? { left } : {}),
          ...(c.length ? { changed: c } : {}),
        }),
      );
    }
    if (plain.length > 0) {
      ctx.counters.framesOut += plain.length;
      ctx.push({ type: 'broadcast', connIds: plain, text: shared });
    }
  }
}
