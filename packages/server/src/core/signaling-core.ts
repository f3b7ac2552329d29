/**
 * The sans-IO signalling core: a thin dispatcher over one module per concept, sharing one
 * {@link CoreContext} (connection registry, sessions, storage port, output queue, counters):
 *
 * - auth.ts — challenge, login, password, name binding;
 * - presence.ts — snapshots, coalesced diffs, `presence.set`;
 * - call-routing.ts (over calls.ts's state machine) — invites, answers, ends, signals, relay;
 * - chat.ts — messages, delivery, history;
 * - blocks.ts — `block.*` and the index the others read;
 * - host-approvals.ts — join requests in host mode.
 *
 * It owns no socket and no timer. The adapter (../server.ts) feeds it inputs with the current
 * time and drains its outputs:
 *
 *   core.handleInput({ type: 'text', connId, text }, nowMs);
 *   for (const out of core.pollOutput()) …send, broadcast or close…
 *   core.handleInput({ type: 'tick' }, nowMs)   // every ~100 ms: timeouts, presence batches
 *
 * Persistence goes through the synchronous storage port (store-port.ts; node:sqlite in the server), so an
 * answer is only emitted after its row is committed — except call records, queued by the store
 * and committed by its writer thread in a batch per tick.
 */
import {
  CLOSE_CODES,
  SignalingError,
  parseClientMessage,
  type ClientRequest,
  type EventBody,
} from '@parloir/protocol';
import type { CallDirectory } from '../relay-types.ts';
import { Auth } from './auth.ts';
import { BlockIndex, Blocks } from './blocks.ts';
import { CallRouting } from './call-routing.ts';
import { CallTable } from './calls.ts';
import { Chat } from './chat.ts';
import { CoreContext, type Conn, type Session } from './context.ts';
import type { CoreInput, CoreOutput, CoreStats, SignalingCoreOptions } from './core-types.ts';
import { HostApprovals } from './host-approvals.ts';
import { CoreLimits } from './limits.ts';
import { NameIndex } from './name-index.ts';
import { Presence } from './presence.ts';

export type {
  CoreInput,
  CoreLogger,
  CoreOutput,
  CoreStats,
  HostModeOptions,
  SignalingCoreOptions,
} from './core-types.ts';

/** How often connections are checked for auth and ping timeouts, and calls for ring timeouts, ms. */
const SCAN_EVERY_MS = 250;

/** The signalling core. Also the relay's {@link CallDirectory}. */
export class SignalingCore implements CallDirectory {
  #ctx: CoreContext;
  #authTimeoutMs: number;
  #pingTimeoutMs: number;
  #limits: CoreLimits;
  #table: CallTable;
  #presence: Presence;
  #blocks: Blocks;
  #chat: Chat;
  #calls: CallRouting;
  #approvals: HostApprovals;
  #auth: Auth;
  #shuttingDown = false;
  #nextScanMs = 0;
  #hostMode: boolean;
  #callGraceMs: number;

  constructor(options: SignalingCoreOptions) {
    const o = {
      serverName: 'parloir',
      ringTimeoutMs: 30_000,
      callGraceMs: 30_000,
      pingTimeoutMs: 30_000,
      authTimeoutMs: 10_000,
      presenceBatchMs: 50,
      maxViolations: 10,
      messageBucket: { burst: 100, perSec: 50 },
      callBucket: { burst: 10, perSec: 1 },
      limits: {},
      ...options,
    };
    const store = o.store;
    const ctx = (this.#ctx = new CoreContext({
      store,
      maxViolations: o.maxViolations,
      log: o.log,
    }));
    this.#authTimeoutMs = o.authTimeoutMs;
    this.#hostMode = o.host !== undefined;
    this.#callGraceMs = o.callGraceMs;
    this.#pingTimeoutMs = o.pingTimeoutMs;
    const limits = (this.#limits = new CoreLimits(
      { identityMessages: o.messageBucket, identityCalls: o.callBucket, ...o.limits },
      (userId, sinceMs) => store.chatUsageOf(userId, sinceMs),
    ));
    const table = (this.#table = new CallTable({ ringTimeoutMs: o.ringTimeoutMs }));
    const blockIndex = new BlockIndex();
    blockIndex.load(store);
    const names = new NameIndex();
    for (const u of store.allUserNames()) names.set(u.userId, u.name);
    const presence = (this.#presence = new Presence(ctx, blockIndex, {
      presenceBatchMs: o.presenceBatchMs,
      inCall: (userId) => table.ofUser(userId)?.state === 'accepted',
    }));
    this.#blocks = new Blocks(ctx, blockIndex, presence);
    const chat = (this.#chat = new Chat(ctx, blockIndex, limits));
    this.#calls = new CallRouting(ctx, {
      table,
      blocks: blockIndex,
      callAttempt: (userId, nowMs) => limits.callAttempt(userId, nowMs),
      statusMaybeChanged: (userId) => presence.statusMaybeChanged(userId),
      relay: o.relay,
      randomId: o.randomId,
      callGraceMs: o.callGraceMs,
    });
    const approvals = (this.#approvals = new HostApprovals(ctx, {
      host: o.host,
      randomId: o.randomId,
      enter: (s) => this.#enter(s),
      sendSnapshot: (s) => presence.sendSnapshot(s),
    }));
    this.#auth = new Auth(ctx, {
      serverName: o.serverName,
      password: o.password,
      maxUsers: o.maxUsers,
      host: o.host,
      messageBucket: o.messageBucket,
      callBucket: o.callBucket,
      verifySignature: o.verifySignature,
      randomId: o.randomId,
      userIdOf: o.userIdOf,
      limits,
      names,
      approvals,
      callOf: (userId) => table.ofUser(userId),
      enter: (s) => this.#enter(s),
      resumed: (s, renamed) => {
        if (renamed) presence.renamed();
        presence.sendSnapshot(s);
        chat.deliverStored(s);
      },
    });
    ctx.onDrop((conn, was, left) => this.#dropped(conn, was, left));
  }

  /** Current counters. */
  stats(): CoreStats {
    const c = this.#ctx.counters;
    return {
      ...c,
      connections: this.#ctx.conns.size,
      online: this.#ctx.sessions.size,
      pending: this.#approvals.pendingCount,
      calls: this.#table.countByState(),
      callsReconnecting: this.#calls.detachedCount,
    };
  }

  /**
   * Restores the calls that were live when the server last stopped (the store's `liveCalls`:
   * answered, never ended) into the grace period, as if both parties had just dropped (issue 21
   * §3): the relay lists them again, a party's login names its call and `call.reattach` takes
   * it up; calls nobody re-attaches to end when the grace does. After a deliberate stop
   * (`shutdown`, which keeps accepted calls open) longer ago than the grace, they end instead,
   * at the stop time (`shutdown`). Call once at start, before any connection. Returns the
   * number of calls restored.
   */
  restoreLiveCalls(nowMs: number): number {
    const ctx = this.#ctx;
    ctx.nowMs = nowMs;
    const stoppedAt = ctx.store.takeLastStop();
    const live = ctx.store.liveCalls();
    let n = 0;
    if (stoppedAt !== undefined && nowMs - stoppedAt > this.#callGraceMs) {
      for (const r of live) {
        ctx.countEnded('shutdown');
        ctx.store.endCall(r.callId, Math.max(stoppedAt, r.answeredAt ?? stoppedAt), 'shutdown');
      }
    } else n = this.#calls.restore(live, nowMs);
    this.#flushRecords();
    return n;
  }

  /** CallDirectory: the parties of a live (ringing or accepted) call. */
  partiesOf(callId: string): readonly [string, string] | undefined {
    return this.#calls.partiesOf(callId);
  }

  /** Drains the outputs produced so far. */
  pollOutput(): CoreOutput[] {
    return this.#ctx.pollOutput();
  }

  /** When the core next needs a tick, Unix ms (the adapter may tick more often). */
  nextTimeoutMs(): number {
    return this.#presence.nextTimeoutMs();
  }

  /** Feeds one input. Never throws on client input. */
  handleInput(input: CoreInput, nowMs: number): void {
    const ctx = this.#ctx;
    ctx.nowMs = nowMs;
    switch (input.type) {
      case 'open': {
        const conn = this.#auth.open(input.connId, input.address, nowMs, input.serverNames);
        if (this.#shuttingDown) ctx.close(conn, CLOSE_CODES.GOING_AWAY, 'server shutting down');
        else this.#auth.hello(conn);
        return;
      }
      case 'text': {
        const conn = ctx.conns.get(input.connId);
        if (!conn || conn.state === 'closed') return;
        ctx.counters.framesIn++;
        conn.lastSeen = nowMs;
        try {
          this.#text(conn, input.text, nowMs);
        } catch (err) {
          ctx.discardAfterResult();
          ctx.chatWritten = false;
          // A bug here must cost one error frame, not the process.
          ctx.log?.warn({ err, connId: conn.id }, 'internal error handling a frame');
          ctx.error(conn, undefined, 'SIG_ERR_INTERNAL', 'internal server error');
        }
        return;
      }
      case 'oversize': {
        const conn = ctx.conns.get(input.connId);
        if (conn) {
          const msg = `frame of ${input.bytes} bytes exceeds 65536`;
          ctx.violation(conn, undefined, 'SIG_ERR_MESSAGE_TOO_LARGE', msg);
        }
        return;
      }
      case 'alive': {
        const conn = ctx.conns.get(input.connId);
        if (conn) conn.lastSeen = nowMs;
        return;
      }
      case 'closed': {
        const conn = ctx.conns.get(input.connId);
        if (conn) ctx.drop(conn, input.left === true);
        return;
      }
      case 'tick':
        this.#tick(nowMs, input.backlog === true);
        return;
      case 'shutdown':
        this.#shutdown(input.reason, nowMs);
        return;
    }
  }

  /**
   * Programmatic approval (for a host UI living in the server process). Same effect as the
   * host sending `host.decide`.
   */
  decide(requestId: string, accept: boolean, nowMs: number): SignalingError | undefined {
    this.#ctx.nowMs = nowMs;
    const r = this.#approvals.settle(requestId, accept);
    this.#ctx.runAfterResult();
    return r instanceof SignalingError ? r : undefined;
  }

  /** The join requests waiting for the host (host mode), for a host UI in the server process. */
  pendingRequests(): EventBody<'host.request'>[] {
    return this.#approvals.pending();
  }

  #text(conn: Conn, text: string, nowMs: number): void {
    const ctx = this.#ctx;
    // Per connection, then per IP and per identity: a reconnect resets only the first.
    if (
      !conn.messages.take(nowMs) ||
      !this.#limits.message(conn.address, conn.session?.userId, nowMs)
    ) {
      const id = requestIdOf(text);
      ctx.violation(conn, id, 'SIG_ERR_RATE_LIMITED', 'too many messages: slow down');
      return;
    }
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      ctx.violation(conn, parsed.id, parsed.error.code, parsed.error.message);
      return;
    }
    const req = parsed.value;
    if (req.type === 'ping') {
      ctx.result(conn, req.id, {});
      return;
    }
    if (conn.state === 'unauth') {
      if (req.type !== 'auth') {
        ctx.violation(conn, req.id, 'SIG_ERR_NOT_AUTHENTICATED', 'authenticate first');
        return;
      }
      this.#auth.login(conn, req, nowMs);
      return;
    }
    if (req.type === 'auth') {
      const msg = 'this connection is already authenticated';
      ctx.error(conn, req.id, 'SIG_ERR_ALREADY_AUTHENTICATED', msg);
      return;
    }
    if (conn.state === 'pending') {
      ctx.error(conn, req.id, 'SIG_ERR_PENDING_APPROVAL', 'waiting for the host to accept you');
      return;
    }
    const session = conn.session;
    if (!session) return;
    const r = this.#route(session, req, nowMs);
    if (r instanceof SignalingError) ctx.error(conn, req.id, r.code, r.message);
    else ctx.result(conn, req.id, r);
    ctx.runAfterResult();
    ctx.chatWritten = false;
  }

  /** Hands a request of a ready session to the module of its concept. */
  #route(s: Session, req: ClientRequest, nowMs: number): object | SignalingError {
    switch (req.type) {
      case 'presence.set':
        return this.#presence.handleRequest(s, req);
      case 'call.invite':
      case 'call.ring':
      case 'call.accept':
      case 'call.reject':
      case 'call.cancel':
      case 'call.hangup':
      case 'call.signal':
      case 'call.reattach':
      case 'call.history':
        return this.#calls.handleRequest(s, req, nowMs);
      case 'chat.send':
      case 'chat.received':
      case 'chat.history':
        return this.#chat.handleRequest(s, req, nowMs);
      case 'block.add':
      case 'block.remove':
      case 'block.list':
        return this.#blocks.handleRequest(s, req, nowMs);
      case 'host.decide':
      case 'host.remove':
        return this.#approvals.handleRequest(s, req);
      case 'auth':
      case 'ping':
        return {};
    }
  }

  /** A session becomes visible: presence, stored messages, waiting requests for a host. */
  #enter(session: Session): void {
    this.#presence.enter(session);
    this.#chat.deliverStored(session);
    if (session.isHost) this.#approvals.replayTo(session);
    this.#ctx.log?.debug({ userId: session.userId, name: session.name }, 'online');
  }

  /** A connection left the registry: its request is withdrawn, or its user leaves. */
  #dropped(conn: Conn, was: Conn['state'], left: boolean): void {
    if (was === 'pending') this.#approvals.withdraw(conn);
    const session = conn.session;
    if (!session || session.conn !== conn || was !== 'ready') return;
    // Last connection of this user: end its call, tell everyone.
    this.#presence.leave(session);
    this.#calls.userLeft(session.userId, this.#ctx.nowMs, left);
    this.#ctx.log?.debug({ userId: session.userId }, 'offline');
  }

  #tick(nowMs: number, backlog: boolean): void {
    this.#limits.prune(nowMs);
    if (nowMs >= this.#nextScanMs) {
      this.#nextScanMs = nowMs + SCAN_EVERY_MS;
      this.#scanTimeouts(nowMs);
    }
    this.#presence.tick(nowMs, backlog);
    this.#flushRecords();
  }

  #scanTimeouts(nowMs: number): void {
    const ctx = this.#ctx;
    // No copy of the map every 250 ms: a Map iterator tolerates the deletions close() makes.
    for (const conn of ctx.conns.values()) {
      if (conn.state === 'unauth' && nowMs - conn.openedAt >= this.#authTimeoutMs) {
        ctx.close(conn, CLOSE_CODES.AUTH_TIMEOUT, 'authentication timeout');
      } else if (conn.state !== 'unauth' && nowMs - conn.lastSeen >= this.#pingTimeoutMs) {
        ctx.close(conn, CLOSE_CODES.PING_TIMEOUT, 'ping timeout');
      }
    }
    this.#calls.expire(nowMs);
  }

  /**
   * Hands the call records of the last tick to the store (the port's `flushCalls`):
   * the request path (invite → ringing) and the tick pay no SQLite commit; a crash loses at
   * most the records not yet committed by the store's writer thread (tens of ms). Chat messages
   * are not deferred (acked only once committed).
   */
  #flushRecords(): void {
    try {
      this.#ctx.store.flushCalls();
    } catch (err) {
      this.#ctx.log?.warn({ err }, 'could not record calls');
    }
  }

  #shutdown(reason: string, nowMs: number): void {
    const ctx = this.#ctx;
    this.#shuttingDown = true;
    if (this.#hostMode || this.#callGraceMs <= 0) this.#calls.endAll('shutdown', nowMs);
    else {
      // A stop is most often an upgrade's restart: accepted calls stay open for the next start
      // to restore within the grace (issue 21 §3); their parties reconnect on the close (1001).
      // In host mode the server is the host's app, whose quitting ends its calls.
      this.#calls.endAll('shutdown', nowMs, true);
      try {
        ctx.store.recordStop(nowMs);
      } catch (err) {
        ctx.log?.warn({ err }, 'could not record the stop time');
      }
    }
    for (const conn of [...ctx.conns.values()]) {
      ctx.event(conn, 'server.shutdown', { reason });
      ctx.close(conn, CLOSE_CODES.GOING_AWAY, reason);
    }
    this.#flushRecords();
  }
}

/**
 * The `id` of a request, read from its text without parsing it: a rate-limited frame is refused
 * before JSON.parse (that is the point of the limit), but its request still gets its typed
 * error, so the client's call fails at once instead of waiting for its timeout. The first
 * `"id":N` in the first 256 characters; inside a JSON string a quote is escaped, so chat text
 * cannot fake it. Undefined when there is none (the error then goes out without an id).
 */
export function requestIdOf(text: string): number | undefined {
  const m = /"id"\s*:\s*(\d{1,9})(?!\d)/.exec(text.slice(0, 256));
  return m === null ? undefined : Number(m[1]);
}
