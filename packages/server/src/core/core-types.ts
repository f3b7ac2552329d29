/**
 * The public types of the signalling core: its inputs and outputs, its options and its counters.
 * The adapter (../server.ts) and the metrics know only these; the modules behind the dispatcher
 * (signaling-core.ts) share them.
 * @module
 */
import type { CallEndReason, SigErrorCode } from '@parloir/protocol';
import type { MediaRelay } from '../relay-types.ts';
import type { CoreLimitsConfig } from './limits.ts';
import type { StorePort } from './store-port.ts';
import type { BucketConfig } from './token-bucket.ts';

/** Inputs from the adapter. */
export type CoreInput =
  /**
   * A WebSocket connection opened from `address` (IP). `serverNames`: the names of this server a
   * login on this connection may sign (`origin:…` of the addresses and public origins it is
   * reached at, `tls:…` of its certificate; messages.ts). Without them the core accepts the
   * unbound v1 login text, which only unit tests of the core use.
   */
  | { type: 'open'; connId: number; address: string; serverNames?: readonly string[] }
  /** A text frame arrived. */
  | { type: 'text'; connId: number; text: string }
  /** A frame larger than the protocol maximum arrived (and was discarded by the adapter). */
  | { type: 'oversize'; connId: number; bytes: number }
  /** The peer showed it is alive (WebSocket pong). */
  | { type: 'alive'; connId: number }
  /**
   * The connection closed. `left`: the client closed it on purpose (WebSocket close code 1000,
   * "normal closure") — the person quit, so a call of theirs ends at once; any other close (a
   * dropped network, a killed process, the server's own close) gives an accepted call the grace
   * period.
   */
  | { type: 'closed'; connId: number; left?: boolean }
  /**
   * Periodic tick: timeouts and presence batches. `backlog`: the adapter is still writing the
   * previous presence fan-out, so the next batch waits (and coalesces more) until it is done.
   */
  | { type: 'tick'; backlog?: boolean }
  /** Graceful shutdown: tell everyone, end calls, close sockets. */
  | { type: 'shutdown'; reason: string };

/** Outputs for the adapter. */
export type CoreOutput =
  /**
   * A text frame for `connId`. `bulk` frames (presence fan-out) may be deferred behind other
   * traffic (request answers, call events) but stay in order with the connection's other frames.
   * `text` may come as its UTF-8 bytes (large presence snapshots). `durable` frames (the answer
   * to a `chat.send` and the message it delivers) may leave only once the store's chat writes
   * made so far are on disk (the SQLite store's `chatDurable`, group commit); the connection's later frames
   * wait behind them.
   */
  | { type: 'send'; connId: number; text: string | Uint8Array; bulk?: true; durable?: true }
  /**
   * One presence fan-out frame for many connections (`connIds`, in no particular order): bulk
   * like a `bulk` send, so each recipient's copy may be deferred but stays in order with that
   * connection's other frames. One output per diff instead of one per online user.
   */
  | { type: 'broadcast'; connIds: number[]; text: string }
  | { type: 'close'; connId: number; code: number; reason: string };

/** Minimal structured logger (pino-compatible). */
export interface CoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

/** Host-mode settings. */
export interface HostModeOptions {
  /** The host's display name. */
  name: string;
  /** The host's user id (key fingerprint); when set, only that key is the host. */
  userId?: string;
  /** Accept every connection without asking (scripts). */
  acceptAll?: boolean;
}

/** Options of {@link SignalingCore}. */
export interface SignalingCoreOptions {
  /** Persistence: the SQLite store (../store.ts) in the server, any {@link StorePort} in tests. */
  store: StorePort;
  /** Name shown in `hello`. */
  serverName?: string;
  /** Server password; absent = none. */
  password?: string;
  /** Maximum users online at once; absent = unlimited. */
  maxUsers?: number;
  /** Unanswered call timeout, ms. Default 30 000. */
  ringTimeoutMs?: number;
  /**
   * How long an accepted call is kept for a party whose signalling connection dropped, ms
   * (issue 21 §1): the peer is told `call.peerReconnecting`, the relay keeps the call's
   * allocations, and the party may `call.reattach` after logging in again. 0 ends the call at
   * once (`disconnected`). Default 30 000.
   */
  callGraceMs?: number;
  /** A connection silent (no frame, no pong) this long is dropped, ms. Default 30 000. */
  pingTimeoutMs?: number;
  /** Unauthenticated connections are closed after this long, ms. Default 10 000. */
  authTimeoutMs?: number;
  /**
   * Presence diffs are coalesced over at least this window, ms. Default 50. With many users
   * online the window grows (users / 5 ms, at most 1 s) to bound frames per second.
   */
  presenceBatchMs?: number;
  /** Protocol violations tolerated per connection before closing it. Default 10. */
  maxViolations?: number;
  /** Per-connection message bucket. Default 100 burst, 50/s. */
  messageBucket?: BucketConfig;
  /** Per-connection call-attempt bucket. Default 10 burst, 1/s. */
  callBucket?: BucketConfig;
  /**
   * Limits per identity and per IP that survive reconnects, password-guess throttling and the
   * chat quota (`limits.ts`). Identity buckets default to `messageBucket` and `callBucket`.
   */
  limits?: Partial<CoreLimitsConfig>;
  /** Host mode; absent = normal server. */
  host?: HostModeOptions;
  /** TURN relay issuing per-call credentials; absent = no TURN servers handed out. */
  relay?: MediaRelay;
  /** Ed25519 verification (sync; the adapter uses node:crypto). */
  verifySignature: (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array) => boolean;
  /** Returns `bytes` random bytes as base64url (challenges, call ids). */
  randomId: (bytes: number) => string;
  /** SHA-256 of the raw public key, first 16 bytes as hex (the user id). */
  userIdOf: (publicKey: Uint8Array) => string;
  /** Logger. */
  log?: CoreLogger;
}

/** Counters for /metrics. */
export interface CoreStats {
  /** Open connections (any state). */
  connections: number;
  /** Authenticated users online. */
  online: number;
  /** Connections waiting for host approval. */
  pending: number;
  /** Live calls by state. */
  calls: Record<'inviting' | 'ringing' | 'accepted', number>;
  /** Accepted calls waiting for a party whose signalling connection dropped (grace period). */
  callsReconnecting: number;
  /** Ended calls by reason, since start. */
  callsEnded: Partial<Record<CallEndReason, number>>;
  /** Frames received, since start. */
  framesIn: number;
  /** Frames sent, since start. */
  framesOut: number;
  /** Chat messages stored, since start. */
  chatMessages: number;
  /** Errors answered, by code, since start. */
  errors: Partial<Record<SigErrorCode, number>>;
}
