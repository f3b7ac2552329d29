/**
 * Calls as the parties see them: `call.invite`, `call.ring|accept|reject|cancel|hangup` and
 * `call.signal`, routed through the authoritative state machine of calls.ts. Busy and
 * do-not-disturb end an invite at once; glare (both invite each other) merges into one accepted
 * call; an accepted call hands each party ICE servers from the relay; every end frees the relay
 * and records the end through the storage port. A party whose signalling connection drops
 * during an accepted call is detached, not hung up (issue 21 §1): the call and its relay
 * allocations stay for `callGraceMs`, the peer is told `call.peerReconnecting`, and the party may
 * come back with `call.reattach`; at the end of the grace the call ends (`disconnected`) as a
 * drop did before. The calls live when the server last stopped (a kill -9, a crash) are restored
 * at start with both parties detached ({@link CallRouting.restore}, issue 21 §3): the relay
 * accepts their credentials again and each party may re-attach within the grace. Sans-IO: ring
 * and grace timeouts run at {@link CallRouting.expire}.
 * @module
 */
import {
  SignalingError,
  type CallEndReason,
  type ClientRequest,
  type IceServer,
  type RequestResult,
} from '@parloir/protocol';
import type { MediaRelay } from '../relay-types.ts';
import type { BlockIndex } from './blocks.ts';
import type { CallTable, LiveCall } from './calls.ts';
import type { CoreContext, Session } from './context.ts';

/** The call requests a session may make. */
export type CallRequest = Extract<
  ClientRequest,
  {
    type:
      | 'call.invite'
      | 'call.ring'
      | 'call.accept'
      | 'call.reject'
      | 'call.cancel'
      | 'call.hangup'
      | 'call.signal'
      | 'call.reattach'
      | 'call.history';
  }
>;

/** Options of {@link CallRouting}. */
export interface CallRoutingOptions {
  /** Live calls (calls.ts). */
  table: CallTable;
  /** Who blocks whom. */
  blocks: BlockIndex;
  /** Per-identity call-attempt limit (limits.ts's CoreLimits): false when over it. */
  callAttempt: (userId: string, nowMs: number) => boolean;
  /** A party's status may have changed (presence.ts). */
  statusMaybeChanged: (userId: string) => void;
  /** TURN relay issuing per-call credentials; absent = none handed out. */
  relay?: MediaRelay | undefined;
  /** Returns `bytes` random bytes as base64url (call ids). */
  randomId: (bytes: number) => string;
  /**
   * How long an accepted call waits for a party whose signalling connection dropped, ms; 0 ends
   * it at once (`disconnected`).
   */
  callGraceMs: number;
}

/** Handles the call requests and the ends of calls. */
export class CallRouting {
  #ctx: CoreContext;
  #o: CallRoutingOptions;
  /** Accepted calls waiting for detached parties: call id → user id → end of grace, Unix ms. */
  #detached = new Map<string, Map<string, number>>();

  constructor(ctx: CoreContext, options: CallRoutingOptions) {
    this.#ctx = ctx;
    this.#o = options;
  }

  /** Handles one request of `s`; events to the parties follow the result. */
  handleRequest(s: Session, req: CallRequest, nowMs: number): object | SignalingError {
    switch (req.type) {
      case 'call.invite':
        return this.#invite(s, req.to, nowMs);
      case 'call.ring':
      case 'call.accept':
      case 'call.reject':
      case 'call.cancel':
      case 'call.hangup':
        return this.#action(s, req.type, req.callId, nowMs);
      case 'call.signal': {
        const call = this.#o.table.get(req.callId);
        if (
          !call ||
          call.state !== 'accepted' ||
          (call.caller !== s.userId && call.callee !== s.userId)
        ) {
          return new SignalingError(
            'SIG_ERR_NOT_IN_CALL',
            'signals are forwarded only within an accepted call of yours',
          );
        }
        const other = this.#ctx.sessions.get(call.caller === s.userId ? call.callee : call.caller);
        if (other)
          this.#ctx.event(other.conn, 'call.signal', { callId: call.callId, signal: req.signal });
        return {};
      }
      case 'call.reattach':
        return this.#reattach(s, req.callId, nowMs);
      case 'call.history':
        return this.#history(s, req.limit ?? 50);
    }
  }

  /**
   * `call.history`: the caller's recorded calls, newest first, each with the other party's
   * bound name and whether it was a missed call (incoming, never answered, not refused).
   */
  #history(s: Session, limit: number): RequestResult<'call.history'> {
    const store = this.#ctx.store;
    // Records queued this tick (a call that just ended) are committed before they are read.
    store.flushCalls();
    const calls = store.callsOf(s.userId, limit).map((r) => {
      const outgoing = r.caller === s.userId;
      const peerId = outgoing ? r.callee : r.caller;
      return {
        callId: r.callId,
        peer: { userId: peerId, name: store.userById(peerId)?.name ?? peerId.slice(0, 8) },
        direction: outgoing ? ('outgoing' as const) : ('incoming' as const),
        startedAt: r.createdAt,
        answeredAt: r.answeredAt,
        endedAt: r.endedAt,
        reason: r.endReason,
        missed:
          !outgoing && r.answeredAt === null && r.endReason !== null && r.endReason !== 'rejected',
      };
    });
    return { calls };
  }

  /** Live calls waiting for at least one detached party (metrics). */
  get detachedCount(): number {
    return this.#detached.size;
  }

  /** The parties of a live call (the relay's CallDirectory). */
  partiesOf(callId: string): readonly [string, string] | undefined {
    const c = this.#o.table.get(callId);
    return c ? [c.caller, c.callee] : undefined;
  }

  /**
   * `userId`'s last connection closed. An accepted call is kept for the grace period and the
   * peer is told; any other call of theirs ends (`disconnected`), as does every call when the
   * client closed its connection on purpose (`left`).
   */
  userLeft(userId: string, nowMs: number, left = false): void {
    const call = this.#o.table.ofUser(userId);
    if (!call) return;
    const graceMs = this.#o.callGraceMs;
    if (left || call.state !== 'accepted' || graceMs <= 0) {
      this.#end(call, 'disconnected', nowMs, userId);
      return;
    }
    let parties = this.#detached.get(call.callId);
    if (!parties) this.#detached.set(call.callId, (parties = new Map<string, number>()));
    // A party that came back without re-attaching and dropped again keeps its first deadline:
    // a flapping connection cannot stretch the grace.
    const until = parties.get(userId) ?? nowMs + graceMs;
    parties.set(userId, until);
    const peer = this.#ctx.sessions.get(call.caller === userId ? call.callee : call.caller);
    if (peer) {
      this.#ctx.event(peer.conn, 'call.peerReconnecting', {
        callId: call.callId,
        userId,
        graceMs: Math.max(0, until - nowMs),
      });
    }
    this.#ctx.log?.info({ callId: call.callId, userId, graceMs }, 'call party reconnecting');
  }

  /** Ends unanswered calls past their ring deadline (`timeout`) and calls past a party's grace. */
  expire(nowMs: number): void {
    for (const call of this.#o.table.expire(nowMs)) this.#finishEnded(call, 'timeout', nowMs);
    for (const [callId, parties] of this.#detached) {
      for (const [userId, until] of parties) {
        if (until > nowMs) continue;
        const call = this.#o.table.get(callId);
        if (call) this.#end(call, 'disconnected', nowMs, userId);
        else this.#detached.delete(callId);
        break;
      }
    }
  }

  /**
   * Restores the calls that were live when the server last stopped (the store's `liveCalls`),
   * as if both parties' connections had just dropped: each call is back in the table (so the
   * relay's directory lists it and a login names it), both parties have the grace period to
   * re-attach, and a call nobody comes back to ends at its end (`disconnected`). A call one of
   * whose parties is already in another restored call (damaged data) ends at once (`shutdown`),
   * as do all of them with no grace (`callGraceMs` 0). Returns the number restored.
   */
  restore(
    rows: readonly {
      callId: string;
      caller: string;
      callee: string;
      createdAt: number;
      answeredAt: number | null;
    }[],
    nowMs: number,
  ): number {
    const table = this.#o.table;
    const graceMs = this.#o.callGraceMs;
    let restored = 0;
    for (const r of rows) {
      if (
        graceMs <= 0 ||
        r.answeredAt === null ||
        r.caller === r.callee ||
        table.get(r.callId) ||
        table.ofUser(r.caller) ||
        table.ofUser(r.callee)
      ) {
        this.#ctx.countEnded('shutdown');
        this.#ctx.store.endCall(r.callId, nowMs, 'shutdown');
        continue;
      }
      table.restore({ ...r, answeredAt: r.answeredAt }, nowMs);
      this.#detached.set(
        r.callId,
        new Map([
          [r.caller, nowMs + graceMs],
          [r.callee, nowMs + graceMs],
        ]),
      );
      restored++;
      this.#ctx.log?.info({ callId: r.callId, graceMs }, 'live call restored after a restart');
    }
    return restored;
  }

  /**
   * Ends every live call with `reason` (shutdown); with `keepAccepted`, the accepted ones stay
   * (no event, no record: the next start restores them, {@link restore}).
   */
  endAll(reason: CallEndReason, nowMs: number, keepAccepted = false): void {
    for (const call of [...this.#o.table.values()]) {
      if (!keepAccepted || call.state !== 'accepted') this.#end(call, reason, nowMs);
    }
  }

  /** A detached party is back on a new connection and takes its call up again. */
  #reattach(s: Session, callId: string, nowMs: number): object | SignalingError {
    const call = this.#o.table.get(callId);
    if (
      !call ||
      call.state !== 'accepted' ||
      (call.caller !== s.userId && call.callee !== s.userId)
    )
      return new SignalingError('SIG_ERR_NOT_IN_CALL', `no accepted call ${callId} of yours`);
    const parties = this.#detached.get(callId);
    // Attached already (the old connection was taken over before it was noticed gone): nothing to do.
    if (!parties?.delete(s.userId)) return {};
    if (parties.size === 0) this.#detached.delete(callId);
    const ctx = this.#ctx;
    const peer = ctx.sessions.get(call.caller === s.userId ? call.callee : call.caller);
    if (peer)
      ctx.afterResult(() =>
        ctx.event(peer.conn, 'call.peerReconnected', { callId, userId: s.userId }),
      );
    // The peer is still away (both dropped, or the call was restored after a server restart):
    // the party that is back hears it, as it would have had it stayed connected.
    for (const [userId, until] of parties) {
      ctx.afterResult(() =>
        ctx.event(s.conn, 'call.peerReconnecting', {
          callId,
          userId,
          graceMs: Math.max(0, until - nowMs),
        }),
      );
    }
    this.#o.statusMaybeChanged(s.userId);
    ctx.log?.info({ callId, userId: s.userId }, 'call party re-attached');
    return {};
  }

  #peerInfo(userId: string): { userId: string; name: string } {
    const s = this.#ctx.sessions.get(userId);
    return { userId, name: s?.name ?? this.#ctx.store.userById(userId)?.name ?? 'unknown' };
  }

  #invite(s: Session, to: string, nowMs: number): RequestResult<'call.invite'> | SignalingError {
    const ctx = this.#ctx;
    const { table, blocks } = this.#o;
    if (!s.conn.callAttempts.take(nowMs) || !this.#o.callAttempt(s.userId, nowMs)) {
      return new SignalingError('SIG_ERR_RATE_LIMITED', 'too many call attempts: slow down');
    }
    if (to === s.userId) return new SignalingError('SIG_ERR_SELF', 'you cannot call yourself');
    const callee = ctx.sessions.get(to);
    if (!callee || blocks.blocks(to, s.userId)) {
      return new SignalingError('SIG_ERR_UNAVAILABLE', 'this user is unavailable');
    }
    if (blocks.blocks(s.userId, to)) {
      return new SignalingError('SIG_ERR_BLOCKED', 'you block this user; unblock them to call');
    }
    const mine = table.ofUser(s.userId);
    if (mine) {
      // Glare (RFC 3261 §14.1 has the same race): the target is inviting us right now.
      if (mine.caller === to && mine.callee === s.userId && mine.state !== 'accepted') {
        table.forceAccept(mine, nowMs);
        ctx.store.answerCall(mine.callId, nowMs);
        // Deterministic whichever invite the server saw first: the lower user id offers.
        const offerer = s.userId < to ? s.userId : to;
        ctx.afterResult(() => this.#announceAccepted(mine, nowMs, [s.userId, to], offerer));
        return { callId: mine.callId, glare: true };
      }
      return new SignalingError('SIG_ERR_ALREADY_IN_CALL', 'you are already in a call');
    }
    const callId = this.#o.randomId(12);
    const busy = table.ofUser(to) !== undefined;
    if (busy || callee.chosen === 'dnd') {
      // Busy or do-not-disturb: the call ends at once; the caller learns why, the callee gets a
      // missed call. It never enters the live table, but it is recorded.
      const reason: CallEndReason = busy ? 'busy' : 'dnd';
      ctx.store.insertCall({ callId, caller: s.userId, callee: to, createdAt: nowMs });
      ctx.afterResult(() => {
        ctx.event(s.conn, 'call.ended', { callId, reason });
        ctx.event(callee.conn, 'call.missed', { callId, from: this.#peerInfo(s.userId), reason });
      });
      ctx.countEnded(reason);
      ctx.store.endCall(callId, nowMs, reason);
      return { callId };
    }
    table.create(callId, s.userId, to, nowMs);
    ctx.store.insertCall({ callId, caller: s.userId, callee: to, createdAt: nowMs });
    ctx.afterResult(() => {
      ctx.event(callee.conn, 'call.incoming', { callId, from: this.#peerInfo(s.userId) });
    });
    return { callId };
  }

  #action(
    s: Session,
    type: 'call.ring' | 'call.accept' | 'call.reject' | 'call.cancel' | 'call.hangup',
    callId: string,
    nowMs: number,
  ): object | SignalingError {
    const ctx = this.#ctx;
    const kind = type.slice(5) as 'ring' | 'accept' | 'reject' | 'cancel' | 'hangup';
    const r = this.#o.table.apply(callId, { kind, by: s.userId }, nowMs);
    if (!r.ok) return r.error;
    const call = r.call;
    if (r.effect === 'rang') {
      const caller = ctx.sessions.get(call.caller);
      if (caller) ctx.afterResult(() => ctx.event(caller.conn, 'call.ringing', { callId }));
    } else if (r.effect === 'accepted') {
      ctx.store.answerCall(callId, nowMs);
      ctx.afterResult(() => this.#announceAccepted(call, nowMs, [call.caller, call.callee]));
    } else {
      const reason = r.reason ?? 'hangup';
      ctx.afterResult(() => this.#finishEnded(call, reason, nowMs, s.userId));
    }
    return {};
  }

  #announceAccepted(
    call: LiveCall,
    nowMs: number,
    changedUsers: string[],
    offerer: string = call.caller,
  ): void {
    const ctx = this.#ctx;
    const relay = this.#o.relay;
    for (const userId of [call.caller, call.callee]) {
      const sess = ctx.sessions.get(userId);
      if (!sess) continue;
      const peerId = userId === call.caller ? call.callee : call.caller;
      let iceServers: IceServer[] = [];
      try {
        iceServers = relay?.iceServersFor(call.callId, userId, nowMs) ?? [];
      } catch (err) {
        ctx.log?.warn({ err, callId: call.callId }, 'relay could not issue credentials');
      }
      ctx.event(sess.conn, 'call.accepted', {
        callId: call.callId,
        role: userId === offerer ? 'offerer' : 'answerer',
        peer: this.#peerInfo(peerId),
        iceServers,
        relayOnly: relay?.relayOnly ?? false,
      });
    }
    for (const userId of changedUsers) this.#o.statusMaybeChanged(userId);
  }

  /** Ends a live call: tells both parties, frees the relay, records the end. */
  #end(call: LiveCall, reason: CallEndReason, nowMs: number, by?: string): void {
    this.#o.table.remove(call);
    this.#finishEnded(call, reason, nowMs, by);
  }

  /** After the call left the table: notifications, relay, record, presence. */
  #finishEnded(call: LiveCall, reason: CallEndReason, nowMs: number, by?: string): void {
    const ctx = this.#ctx;
    this.#detached.delete(call.callId);
    for (const userId of [call.caller, call.callee]) {
      const sess = ctx.sessions.get(userId);
      if (sess)
        ctx.event(sess.conn, 'call.ended', { callId: call.callId, reason, ...(by ? { by } : {}) });
    }
    try {
      this.#o.relay?.callEnded(call.callId);
    } catch (err) {
      ctx.log?.warn({ err, callId: call.callId }, 'relay callEnded failed');
    }
    ctx.countEnded(reason);
    ctx.store.endCall(call.callId, nowMs, reason);
    if (call.state === 'accepted') {
      for (const userId of [call.caller, call.callee]) this.#o.statusMaybeChanged(userId);
    }
  }
}
