/**
 * Test support for the core's module tests: a {@link CoreContext} over the in-memory store,
 * users put online without the login path, and the frames each connection received. Time is
 * whatever the test passes (a fake clock); nothing here sleeps. Not used by the server.
 * @module
 */
import { CoreContext, type Conn, type Session } from '../context.ts';
import type { CoreOutput } from '../core-types.ts';
import { TokenBucket } from '../token-bucket.ts';
import { FakeStore } from './fake-store.ts';

/** A parsed frame. */
export type Frame = Record<string, unknown> & { type?: string; id?: number };

/** A context over a fake store, and what it sent. */
export class Harness {
  /** The in-memory store. */
  readonly store: FakeStore;
  /** The shared context the modules under test hold. */
  readonly ctx: CoreContext;
  /** Frames received, by connection id, parsed, in order. */
  readonly frames = new Map<number, Frame[]>();
  /** Raw outputs drained so far, in order. */
  readonly outputs: CoreOutput[] = [];
  /** Close outputs, in order. */
  readonly closes: Extract<CoreOutput, { type: 'close' }>[] = [];
  /** Connections dropped (closed by either side), with the state they were in. */
  readonly dropped: { connId: number; was: Conn['state'] }[] = [];

  constructor(options: { store?: FakeStore; maxViolations?: number } = {}) {
    this.store = options.store ?? new FakeStore();
    this.ctx = new CoreContext({ store: this.store, maxViolations: options.maxViolations ?? 10 });
    this.ctx.onDrop((conn, was) => this.dropped.push({ connId: conn.id, was }));
  }

  /** A registered connection in state `unauth`, opened at `nowMs`. */
  conn(id: number, nowMs = 0, address = '127.0.0.1'): Conn {
    const conn: Conn = {
      id,
      address,
      state: 'unauth',
      challenge: `challenge-${id}`,
      serverNames: undefined,
      openedAt: nowMs,
      lastSeen: nowMs,
      violations: 0,
      messages: new TokenBucket({ burst: 100, perSec: 50 }, nowMs),
      callAttempts: new TokenBucket({ burst: 10, perSec: 1 }, nowMs),
    };
    this.ctx.conns.set(id, conn);
    return conn;
  }

  /**
   * A registered user online on connection `connId` (ready, in ctx.sessions), without the login
   * path or presence: for modules that only need sessions to exist.
   */
  online(connId: number, userId: string, name = userId, nowMs = 0): Session {
    if (!this.store.userById(userId))
      this.store.insertUser({ userId, name, publicKey: `key-${userId}`, createdAt: nowMs });
    const conn = this.conn(connId, nowMs);
    const session: Session = {
      userId,
      name,
      conn,
      chosen: 'available',
      isHost: false,
      announced: 'available',
    };
    conn.session = session;
    conn.state = 'ready';
    this.ctx.sessions.set(userId, session);
    return session;
  }

  /** Drains the context's outputs into {@link frames} and {@link closes}; returns them. */
  drain(): CoreOutput[] {
    const out = this.ctx.pollOutput();
    for (const o of out) {
      this.outputs.push(o);
      if (o.type === 'send') this.#deliver(o.connId, o.text);
      else if (o.type === 'broadcast') for (const c of o.connIds) this.#deliver(c, o.text);
      else this.closes.push(o);
    }
    return out;
  }

  /** Frames `connId` received so far (after a {@link drain}). */
  of(connId: number): Frame[] {
    return this.frames.get(connId) ?? [];
  }

  /** Events of type `type` that `connId` received. */
  events(connId: number, type: string): Frame[] {
    return this.of(connId).filter((f) => f.type === type);
  }

  /** Forgets the frames received so far. */
  clear(): void {
    this.frames.clear();
    this.outputs.length = 0;
    this.closes.length = 0;
  }

  #deliver(connId: number, text: string | Uint8Array): void {
    const list = this.frames.get(connId) ?? [];
    const t = typeof text === 'string' ? text : new TextDecoder().decode(text);
    list.push(JSON.parse(t) as Frame);
    this.frames.set(connId, list);
  }
}
