/**
 * Host approvals (host mode): a verified login of anyone but the host waits as a join request
 * until the host accepts or refuses it, by `host.decide` or through {@link HostApprovals.settle}
 * (a host UI in the server process). The host sees each request (`host.request`) and how it was
 * resolved (`host.resolved`: accepted, refused, or withdrawn when the asker left). An accepted
 * user is remembered until restart. Sans-IO.
 * @module
 */
import {
  CLOSE_CODES,
  SignalingError,
  type ClientRequest,
  type EventBody,
  type RequestResult,
} from '@parloir/protocol';
import type { CoreContext, Conn, Session } from './context.ts';
import type { HostModeOptions } from './core-types.ts';

/** What approvals need from the rest of the core. */
export interface HostApprovalsOptions {
  /** Host-mode settings; absent = normal server (every method is then inert). */
  host?: HostModeOptions | undefined;
  /** Returns `bytes` random bytes as base64url (request ids). */
  randomId: (bytes: number) => string;
  /** An accepted session becomes visible (presence, stored messages, requests for a host). */
  enter: (session: Session) => void;
  /** An accepted login took over an online session: it gets a fresh snapshot. */
  sendSnapshot: (session: Session) => void;
}

/** Join requests waiting for the host, and the users accepted so far. */
export class HostApprovals {
  #ctx: CoreContext;
  #o: HostApprovalsOptions;
  #requests = new Map<string, Conn>();
  #approved = new Set<string>();

  constructor(ctx: CoreContext, options: HostApprovalsOptions) {
    this.#ctx = ctx;
    this.#o = options;
  }

  /** Connections waiting for the host. */
  get pendingCount(): number {
    return this.#requests.size;
  }

  /** Whether a verified login of `userId` must wait for the host. */
  needsApproval(userId: string, isHost: boolean): boolean {
    const host = this.#o.host;
    return host !== undefined && !isHost && !host.acceptAll && !this.#approved.has(userId);
  }

  /**
   * Parks a verified login as a join request: answers auth request `authId` with `pending` and
   * tells the host(s) online.
   */
  park(conn: Conn, userId: string, name: string, authId: number): void {
    const ctx = this.#ctx;
    conn.state = 'pending';
    const requestId = this.#o.randomId(9);
    conn.requestId = requestId;
    conn.session = {
      userId,
      name,
      conn,
      chosen: 'available',
      isHost: false,
      announced: 'available',
    };
    this.#requests.set(requestId, conn);
    ctx.result(conn, authId, {
      userId,
      name,
      state: 'pending',
      resumed: false,
    } satisfies RequestResult<'auth'>);
    const body = { requestId, name, fingerprint: userId, address: conn.address };
    for (const s of ctx.sessions.values()) if (s.isHost) ctx.event(s.conn, 'host.request', body);
    ctx.log?.info({ requestId, name, address: conn.address }, 'host mode: join request');
  }

  /** Handles `host.decide` and `host.remove` from `s`: only the host decides. */
  handleRequest(
    s: Session,
    req: Extract<ClientRequest, { type: 'host.decide' | 'host.remove' }>,
  ): object | SignalingError {
    if (!s.isHost)
      return new SignalingError('SIG_ERR_FORBIDDEN', 'only the host decides who joins');
    if (req.type === 'host.remove') return this.remove(req.userId);
    return this.settle(req.requestId, req.accept);
  }

  /**
   * Removes guest `userId`: its approval is withdrawn, so its next login is a join request
   * again, and its connection (if online) is closed with the refused close code, which clients
   * do not retry. The caller checked that the host asks.
   */
  remove(userId: string): object | SignalingError {
    const ctx = this.#ctx;
    const session = ctx.sessions.get(userId);
    if (session?.isHost === true) return new SignalingError('SIG_ERR_SELF', 'the host stays');
    const wasApproved = this.#approved.delete(userId);
    if (!wasApproved && session === undefined)
      return new SignalingError('SIG_ERR_UNAVAILABLE', `no guest ${userId}`);
    if (session !== undefined) {
      const conn = session.conn;
      ctx.afterResult(() => {
        ctx.error(conn, undefined, 'SIG_ERR_REFUSED', 'the host removed you');
        ctx.close(conn, CLOSE_CODES.REFUSED, 'removed by the host');
      });
    }
    ctx.log?.info({ userId }, 'host removed a guest');
    return {};
  }

  /**
   * Accepts or refuses join request `requestId` (its effects follow the current result, through
   * ctx.afterResult). The caller checked that the host decides.
   */
  settle(requestId: string, accept: boolean): object | SignalingError {
    const ctx = this.#ctx;
    const conn = this.#requests.get(requestId);
    if (!conn?.session)
      return new SignalingError('SIG_ERR_UNKNOWN_REQUEST', `no pending request ${requestId}`);
    this.#requests.delete(requestId);
    conn.requestId = undefined;
    const session = conn.session;
    ctx.afterResult(() => {
      this.#resolve(requestId, accept ? 'accepted' : 'refused');
      if (!accept) {
        ctx.error(conn, undefined, 'SIG_ERR_REFUSED', 'the host refused your connection');
        ctx.close(conn, CLOSE_CODES.REFUSED, 'refused by the host');
        return;
      }
      this.#approved.add(session.userId);
      const existing = ctx.sessions.get(session.userId);
      if (existing) {
        const old = existing.conn;
        existing.conn = conn;
        conn.session = existing;
        conn.state = 'ready';
        old.session = undefined;
        ctx.close(old, CLOSE_CODES.REPLACED, 'session taken over by a new connection');
        ctx.event(conn, 'auth.approved', {});
        this.#o.sendSnapshot(existing);
        return;
      }
      ctx.event(conn, 'auth.approved', {});
      this.#o.enter(session);
    });
    ctx.log?.info({ requestId, accept }, 'host decided');
    return {};
  }

  /** The requests waiting, oldest first, as a host sees them in `host.request`. */
  pending(): EventBody<'host.request'>[] {
    const out: EventBody<'host.request'>[] = [];
    for (const [requestId, c] of this.#requests) {
      if (c.session)
        out.push({
          requestId,
          name: c.session.name,
          fingerprint: c.session.userId,
          address: c.address,
        });
    }
    return out;
  }

  /** A host entered: it sees every request still waiting. */
  replayTo(host: Session): void {
    for (const body of this.pending()) this.#ctx.event(host.conn, 'host.request', body);
  }

  /** A connection closed while its request waited: the request is withdrawn. */
  withdraw(conn: Conn): void {
    if (conn.requestId === undefined) return;
    this.#requests.delete(conn.requestId);
    this.#resolve(conn.requestId, 'withdrawn');
  }

  #resolve(requestId: string, outcome: 'accepted' | 'refused' | 'withdrawn'): void {
    for (const s of this.#ctx.sessions.values())
      if (s.isHost) this.#ctx.event(s.conn, 'host.resolved', { requestId, outcome });
  }
}
