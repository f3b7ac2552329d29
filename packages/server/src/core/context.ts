/**
 * What the signalling core's modules share: the connection registry, the sessions of the users
 * online, the storage port, the output queue and the counters. Each module (auth, presence,
 * calls, chat, blocks, host approvals) holds one {@link CoreContext} and writes its frames
 * through it; the dispatcher (signaling-core.ts) drains them with `pollOutput`. Sans-IO: the
 * time of the input being handled comes in as {@link CoreContext.nowMs}.
 * @module
 */
import {
  CLOSE_CODES,
  encodeError,
  encodeEvent,
  encodeResult,
  type CallEndReason,
  type EventBody,
  type EventType,
  type SigErrorCode,
  type Status,
} from '@parloir/protocol';
import type { CoreLogger, CoreOutput } from './core-types.ts';
import type { StorePort } from './store-port.ts';
import type { TokenBucket } from './token-bucket.ts';

/** One WebSocket connection, from `open` to `closed`. */
export interface Conn {
  /** The adapter's id of the connection. */
  readonly id: number;
  /** The peer's IP address. */
  readonly address: string;
  /** unauth → (pending →) ready → closed. */
  state: 'unauth' | 'pending' | 'ready' | 'closed';
  /** The login challenge sent in `hello` (base64url). */
  readonly challenge: string;
  /** The server names a login may sign (issue 17 §2); undefined: v1 login (core tests only). */
  readonly serverNames: readonly string[] | undefined;
  /** When the connection opened, Unix ms. */
  readonly openedAt: number;
  /** When the connection last showed it is alive (frame or pong), Unix ms. */
  lastSeen: number;
  /** Protocol violations so far. */
  violations: number;
  /** Per-connection message bucket. */
  readonly messages: TokenBucket;
  /** Per-connection call-attempt bucket. */
  readonly callAttempts: TokenBucket;
  /** The user logged in on this connection (pending or ready). */
  session?: Session;
  /** The host-approval request of a pending connection. */
  requestId?: string;
}

/** A user online (or waiting for the host's approval). */
export interface Session {
  /** The user id (key fingerprint). */
  readonly userId: string;
  /** The display name (NFKC). */
  name: string;
  /** The connection the user is on; a new login takes the session over. */
  conn: Conn;
  /** The status the user chose. */
  chosen: 'available' | 'dnd' | 'away';
  /** Whether the user is the host (host mode). */
  isHost: boolean;
  /**
   * The status the others know: from the last flushed diff, or carried by the pending `joined`
   * entry. Snapshots show it, so a change still pending reaches a new viewer by the diff.
   */
  announced: Status;
  /** Cached JSON of this user's presence entry, and what it was built from. */
  fragment?: string;
  fragmentStatus?: Status;
  fragmentName?: string;
}

/** Counters kept since start (the dispatcher adds the live counts for `stats()`). */
export interface CoreCounters {
  /** Ended calls by reason. */
  callsEnded: Partial<Record<CallEndReason, number>>;
  /** Frames received. */
  framesIn: number;
  /** Frames sent (a broadcast counts once per recipient). */
  framesOut: number;
  /** Chat messages stored. */
  chatMessages: number;
  /** Errors answered, by code. */
  errors: Partial<Record<SigErrorCode, number>>;
}

/** Options of {@link CoreContext}. */
export interface CoreContextOptions {
  /** Persistence. */
  store: StorePort;
  /** Protocol violations tolerated per connection before closing it. */
  maxViolations: number;
  /** Logger. */
  log?: CoreLogger | undefined;
}

/** The state and output queue the core's modules share. */
export class CoreContext {
  /** Persistence. */
  readonly store: StorePort;
  /** Logger, if any. */
  readonly log: CoreLogger | undefined;
  /** Open connections by id (any state). */
  readonly conns = new Map<number, Conn>();
  /** Users online (ready), by user id. */
  readonly sessions = new Map<string, Session>();
  /** Counters since start. */
  readonly counters: CoreCounters = {
    callsEnded: {},
    framesIn: 0,
    framesOut: 0,
    chatMessages: 0,
    errors: {},
  };
  /** Time of the input being handled, Unix ms (effects of `closed`, which carries none). */
  nowMs = 0;
  /** A chat message was stored by the request being handled: its frames wait for durability. */
  chatWritten = false;
  #out: CoreOutput[] = [];
  #afterResult: (() => void)[] = [];
  #maxViolations: number;
  #onDrop: (conn: Conn, was: Conn['state'], left: boolean) => void = () => undefined;

  constructor(options: CoreContextOptions) {
    this.store = options.store;
    this.log = options.log;
    this.#maxViolations = options.maxViolations;
  }

  /**
   * Sets what happens when a connection leaves the registry (closed by the core or by the
   * peer): the dispatcher withdraws its host request, ends its user's presence and call.
   */
  onDrop(fn: (conn: Conn, was: Conn['state'], left: boolean) => void): void {
    this.#onDrop = fn;
  }

  /** Drains the outputs produced so far. */
  pollOutput(): CoreOutput[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  /** Queues an output as is (presence broadcasts). */
  push(output: CoreOutput): void {
    this.#out.push(output);
  }

  /** A text frame for `conn`; durable while a chat write of this request is pending. */
  sendText(conn: Conn, text: string | Uint8Array): void {
    if (conn.state === 'closed') return;
    this.counters.framesOut++;
    if (this.chatWritten) this.#out.push({ type: 'send', connId: conn.id, text, durable: true });
    else this.#out.push({ type: 'send', connId: conn.id, text });
  }

  /** A presence fan-out frame: may wait behind request/response traffic (see CoreOutput). */
  sendBulk(conn: Conn, text: string): void {
    if (conn.state === 'closed') return;
    this.counters.framesOut++;
    this.#out.push({ type: 'send', connId: conn.id, text, bulk: true });
  }

  /** An event frame for `conn`. */
  event<K extends EventType>(conn: Conn, type: K, body: EventBody<K>): void {
    this.sendText(conn, encodeEvent(type, body));
  }

  /** The result of request `id`. */
  result(conn: Conn, id: number, result: object): void {
    this.sendText(conn, encodeResult(id, result));
  }

  /** A typed error (for request `id`, if known). */
  error(conn: Conn, id: number | undefined, code: SigErrorCode, message: string): void {
    this.counters.errors[code] = (this.counters.errors[code] ?? 0) + 1;
    this.sendText(conn, encodeError(id, code, message));
  }

  /** Closes `conn` with a WebSocket close code and drops it from the registry. */
  close(conn: Conn, code: number, reason: string): void {
    if (conn.state === 'closed') return;
    this.#out.push({ type: 'close', connId: conn.id, code, reason });
    this.drop(conn);
  }

  /** Removes `conn` from the registry (it closed), then runs the drop handler. */
  drop(conn: Conn, left = false): void {
    const was = conn.state;
    conn.state = 'closed';
    this.conns.delete(conn.id);
    this.#onDrop(conn, was, left);
  }

  /** A typed error that counts as a violation; too many close the connection. */
  violation(conn: Conn, id: number | undefined, code: SigErrorCode, message: string): void {
    this.error(conn, id, code, message);
    conn.violations++;
    if (conn.violations >= this.#maxViolations) {
      this.log?.warn(
        { connId: conn.id, address: conn.address },
        'closing connection after repeated protocol violations',
      );
      this.close(conn, CLOSE_CODES.POLICY, 'too many protocol violations');
    }
  }

  /** Runs `fn` right after the current request's result is emitted (results precede events). */
  afterResult(fn: () => void): void {
    this.#afterResult.push(fn);
  }

  /** Runs what {@link afterResult} queued, including what those queue in turn. */
  runAfterResult(): void {
    while (this.#afterResult.length > 0) {
      const fns = this.#afterResult.splice(0);
      for (const fn of fns) fn();
    }
  }

  /** Forgets what {@link afterResult} queued (the request failed with an internal error). */
  discardAfterResult(): void {
    this.#afterResult = [];
  }

  /** Counts an ended call. */
  countEnded(reason: CallEndReason): void {
    this.counters.callsEnded[reason] = (this.counters.callsEnded[reason] ?? 0) + 1;
  }
}
