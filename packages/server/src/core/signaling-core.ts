/**
 * The sans-IO signalling core: authentication, presence, call routing, chat, blocks and host
 * approvals. It owns no socket and no timer. The adapter (../server.ts) feeds it inputs with the
 * current time and drains its outputs:
 *
 *   core.handleInput({ type: 'text', connId, text }, nowMs);
 *   for (const out of core.pollOutput()) …send, broadcast or close…
 *   core.handleInput({ type: 'tick' }, nowMs)   // every ~100 ms: timeouts, presence batches
 *
 * Persistence goes through the synchronous {@link StorePort} (node:sqlite in the server), so an answer is only
 * emitted after its row is committed — except call records, queued by the store and committed
 * by its writer thread in a batch per tick.
 */
import {
  CLOSE_CODES,
  MAX_CHAT_CHARS,
  MAX_HISTORY_PAGE,
  PROTOCOL_VERSION,
  SignalingError,
  authSigningText,
  encodeError,
  encodeEvent,
  encodeResult,
  fromBase64,
  namesLookAlike,
  normalizeName,
  parseClientMessage,
  type CallEndReason,
  type ClientRequest,
  type EventBody,
  type EventType,
  type IceServer,
  type RequestResult,
  type SigErrorCode,
  type Status,
  type UserInfo,
} from '@parloir/protocol';
import type { CallDirectory, MediaRelay } from '../relay-types.ts';
import { CallTable, type LiveCall } from './calls.ts';
import { CoreLimits, type CoreLimitsConfig } from './limits.ts';
import { NameIndex } from './name-index.ts';
import type { StorePort } from './store-port.ts';
import { TokenBucket, type BucketConfig } from './token-bucket.ts';

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
  /** The connection closed. */
  | { type: 'closed'; connId: number }
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

interface Conn {
  readonly id: number;
  readonly address: string;
  state: 'unauth' | 'pending' | 'ready' | 'closed';
  readonly challenge: string;
  /** The server names a login may sign (issue 17 §2); undefined: v1 login (core tests only). */
  readonly serverNames: readonly string[] | undefined;
  readonly openedAt: number;
  lastSeen: number;
  violations: number;
  readonly messages: TokenBucket;
  readonly callAttempts: TokenBucket;
  session?: Session;
  requestId?: string;
}

interface Session {
  readonly userId: string;
  name: string;
  conn: Conn;
  chosen: 'available' | 'dnd' | 'away';
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

const textEncoder = new TextEncoder();
const SNAPSHOT_PREFIX = '{"type":"presence.snapshot","users":[';
const SNAPSHOT_PREFIX_BYTES = textEncoder.encode(SNAPSHOT_PREFIX);
const SNAPSHOT_SUFFIX_BYTES = textEncoder.encode(']}');

/** The signalling core. Also the relay's {@link CallDirectory}. */
export class SignalingCore implements CallDirectory {
  #o: Required<Omit<SignalingCoreOptions, 'password' | 'maxUsers' | 'host' | 'relay' | 'log'>> &
    Pick<SignalingCoreOptions, 'password' | 'maxUsers' | 'host' | 'relay' | 'log'>;
  #out: CoreOutput[] = [];
  #conns = new Map<number, Conn>();
  #sessions = new Map<string, Session>();
  #calls: CallTable;
  #limits: CoreLimits;
  /** A chat message was stored by the request being handled: its frames wait for durability. */
  #chatWritten = false;
  /** blocker → users they block. */
  #blocks = new Map<string, Set<string>>();
  #approved = new Set<string>();
  /** Registered names by confusable skeleton (issue 17). */
  #names = new NameIndex();
  #requests = new Map<string, Conn>();
  #diffJoined = new Map<string, UserInfo>();
  /**
   * Comma-joined presence fragments (UTF-8, first #snapLen bytes) of every online user as the
   * others know them: the snapshot body for a newcomer nobody blocks. Bytes, not a string, so
   * the ~N×80-byte frame built at every connect lives outside the JS heap. Rebuilt when not
   * #snapValid.
   */
  #snapBytes = new Uint8Array(64 * 1024);
  #snapLen = 0;
  #snapValid = true;
  /** blocked user → how many users block them. */
  #blockedBy = new Map<string, number>();
  #diffLeft = new Set<string>();
  #diffChanged = new Map<string, Status>();
  #nextFlushMs = 0;
  #shuttingDown = false;
  #stats: CoreStats = {
    connections: 0,
    online: 0,
    pending: 0,
    calls: { inviting: 0, ringing: 0, accepted: 0 },
    callsEnded: {},
    framesIn: 0,
    framesOut: 0,
    chatMessages: 0,
    errors: {},
  };

  constructor(options: SignalingCoreOptions) {
    this.#o = {
      serverName: 'parloir',
      ringTimeoutMs: 30_000,
      pingTimeoutMs: 30_000,
      authTimeoutMs: 10_000,
      presenceBatchMs: 50,
      maxViolations: 10,
      messageBucket: { burst: 100, perSec: 50 },
      callBucket: { burst: 10, perSec: 1 },
      limits: {},
      ...options,
    };
    this.#calls = new CallTable({ ringTimeoutMs: this.#o.ringTimeoutMs });
    this.#limits = new CoreLimits(
      {
        identityMessages: this.#o.messageBucket,
        identityCalls: this.#o.callBucket,
        ...this.#o.limits,
      },
      (userId, sinceMs) => this.#o.store.chatUsageOf(userId, sinceMs),
    );
    for (const b of this.#o.store.allBlocks()) {
      const set = this.#blockSet(b.blocker);
      if (!set.has(b.blocked)) this.#countBlocker(b.blocked, 1);
      set.add(b.blocked);
    }
    for (const u of this.#o.store.allUserNames()) this.#names.set(u.userId, u.name);
  }

  /** Current counters. */
  stats(): CoreStats {
    return {
      ...this.#stats,
      connections: this.#conns.size,
      online: this.#sessions.size,
      pending: this.#requests.size,
      calls: this.#calls.countByState(),
    };
  }

  /** CallDirectory: the parties of a live (ringing or accepted) call. */
  partiesOf(callId: string): readonly [string, string] | undefined {
    const c = this.#calls.get(callId);
    return c ? [c.caller, c.callee] : undefined;
  }

  /** Drains the outputs produced so far. */
  pollOutput(): CoreOutput[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }

  /** When the core next needs a tick, Unix ms (the adapter may tick more often). */
  nextTimeoutMs(): number {
    return this.#nextFlushMs;
  }

  // ---- output helpers ----------------------------------------------------------------------

  #sendText(conn: Conn, text: string | Uint8Array): void {
    if (conn.state === 'closed') return;
    this.#stats.framesOut++;
    if (this.#chatWritten) this.#out.push({ type: 'send', connId: conn.id, text, durable: true });
    else this.#out.push({ type: 'send', connId: conn.id, text });
  }

  /** A presence fan-out frame: may wait behind request/response traffic (see CoreOutput). */
  #sendBulk(conn: Conn, text: string): void {
    if (conn.state === 'closed') return;
    this.#stats.framesOut++;
    this.#out.push({ type: 'send', connId: conn.id, text, bulk: true });
  }

  #event<K extends EventType>(conn: Conn, type: K, body: EventBody<K>): void {
    this.#sendText(conn, encodeEvent(type, body));
  }

  #result(conn: Conn, id: number, result: object): void {
    this.#sendText(conn, encodeResult(id, result));
  }

  #error(conn: Conn, id: number | undefined, code: SigErrorCode, message: string): void {
    this.#stats.errors[code] = (this.#stats.errors[code] ?? 0) + 1;
    this.#sendText(conn, encodeError(id, code, message));
  }

  #close(conn: Conn, code: number, reason: string): void {
    if (conn.state === 'closed') return;
    this.#out.push({ type: 'close', connId: conn.id, code, reason });
    this.#dropConn(conn);
  }

  #violation(conn: Conn, id: number | undefined, code: SigErrorCode, message: string): void {
    this.#error(conn, id, code, message);
    conn.violations++;
    if (conn.violations >= this.#o.maxViolations) {
      this.#o.log?.warn(
        { connId: conn.id, address: conn.address },
        'closing connection after repeated protocol violations',
      );
      this.#close(conn, CLOSE_CODES.POLICY, 'too many protocol violations');
    }
  }

  // ---- inputs ------------------------------------------------------------------------------

  /** Feeds one input. Never throws on client input. */
  handleInput(input: CoreInput, nowMs: number): void {
    this.#nowHint = nowMs;
    switch (input.type) {
      case 'open':
        this.#open(input.connId, input.address, nowMs, input.serverNames);
        return;
      case 'text': {
        const conn = this.#conns.get(input.connId);
        if (!conn || conn.state === 'closed') return;
        this.#stats.framesIn++;
        conn.lastSeen = nowMs;
        try {
          this.#text(conn, input.text, nowMs);
        } catch (err) {
          this.#afterResult = [];
          // A bug here must cost one error frame, not the process.
          this.#o.log?.warn({ err, connId: conn.id }, 'internal error handling a frame');
          this.#error(conn, undefined, 'SIG_ERR_INTERNAL', 'internal server error');
        }
        return;
      }
      case 'oversize': {
        const conn = this.#conns.get(input.connId);
        if (conn) {
          this.#violation(
            conn,
            undefined,
            'SIG_ERR_MESSAGE_TOO_LARGE',
            `frame of ${input.bytes} bytes exceeds 65536`,
          );
        }
        return;
      }
      case 'alive': {
        const conn = this.#conns.get(input.connId);
        if (conn) conn.lastSeen = nowMs;
        return;
      }
      case 'closed': {
        const conn = this.#conns.get(input.connId);
        if (conn) this.#dropConn(conn);
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

  #open(
    connId: number,
    address: string,
    nowMs: number,
    serverNames: readonly string[] | undefined,
  ): void {
    const conn: Conn = {
      id: connId,
      address,
      state: 'unauth',
      challenge: this.#o.randomId(32),
      serverNames,
      openedAt: nowMs,
      lastSeen: nowMs,
      violations: 0,
      messages: new TokenBucket(this.#o.messageBucket, nowMs),
      callAttempts: new TokenBucket(this.#o.callBucket, nowMs),
    };
    this.#conns.set(connId, conn);
    if (this.#shuttingDown) {
      this.#close(conn, CLOSE_CODES.GOING_AWAY, 'server shutting down');
      return;
    }
    this.#event(conn, 'hello', {
      protocolVersion: PROTOCOL_VERSION,
      serverName: this.#o.serverName,
      challenge: conn.challenge,
      passwordRequired: this.#o.password !== undefined,
      hostMode: this.#o.host !== undefined,
      // Which of its views of the server the client should sign (issue 17 §2): the adapter lists
      // the preferred name first. A hint only: the client signs what it sees itself.
      ...(serverNames?.[0] === undefined
        ? {}
        : {
            loginName: serverNames[0].startsWith('tls:') ? ('tls' as const) : ('origin' as const),
          }),
    });
  }

  #text(conn: Conn, text: string, nowMs: number): void {
    // Per connection, then per IP and per identity: a reconnect resets only the first.
    if (
      !conn.messages.take(nowMs) ||
      !this.#limits.message(conn.address, conn.session?.userId, nowMs)
    ) {
      this.#violation(
        conn,
        requestIdOf(text),
        'SIG_ERR_RATE_LIMITED',
        'too many messages: slow down',
      );
      return;
    }
    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      this.#violation(conn, parsed.id, parsed.error.code, parsed.error.message);
      return;
    }
    const req = parsed.value;
    if (req.type === 'ping') {
      this.#result(conn, req.id, {});
      return;
    }
    if (conn.state === 'unauth') {
      if (req.type !== 'auth') {
        this.#violation(conn, req.id, 'SIG_ERR_NOT_AUTHENTICATED', 'authenticate first');
        return;
      }
      this.#auth(conn, req, nowMs);
      return;
    }
    if (req.type === 'auth') {
      this.#error(
        conn,
        req.id,
        'SIG_ERR_ALREADY_AUTHENTICATED',
        'this connection is already authenticated',
      );
      return;
    }
    if (conn.state === 'pending') {
      this.#error(conn, req.id, 'SIG_ERR_PENDING_APPROVAL', 'waiting for the host to accept you');
      return;
    }
    const session = conn.session;
    if (!session) return;
    const r = this.#dispatch(session, req, nowMs);
    if (r instanceof SignalingError) this.#error(conn, req.id, r.code, r.message);
    else this.#result(conn, req.id, r);
    this.#runAfterResult();
    this.#chatWritten = false;
  }

  // ---- authentication ----------------------------------------------------------------------

  #authFail(conn: Conn, id: number, code: SigErrorCode, message: string): void {
    this.#error(conn, id, code, message);
    this.#close(conn, CLOSE_CODES.AUTH_FAILED, message.slice(0, 120));
  }

  #auth(conn: Conn, req: Extract<ClientRequest, { type: 'auth' }>, nowMs: number): void {
    if (req.protocolVersion !== PROTOCOL_VERSION) {
      this.#authFail(
        conn,
        req.id,
        'SIG_ERR_VERSION',
        `server speaks protocol ${PROTOCOL_VERSION}, not ${req.protocolVersion}`,
      );
      return;
    }
    const pub = fromBase64(req.publicKey);
    const sig = fromBase64(req.signature);
    // The signed text names this server (issue 17 §2): a challenge relayed by another server
    // comes back signed for that server's name and verifies with none of ours.
    const names = conn.serverNames;
    if (names !== undefined && (req.server === undefined || !names.includes(req.server))) {
      this.#authFail(
        conn,
        req.id,
        'SIG_ERR_BAD_SIGNATURE',
        `the login was signed for ${req.server ?? 'no server'}, not for this server: a challenge relayed from another server?`,
      );
      return;
    }
    const data = textEncoder.encode(
      authSigningText(conn.challenge, req.name, names === undefined ? undefined : req.server),
    );
    // Logins per identity (issue 17 §4): each one takes the session over and resends presence
    // and stored messages, so one identity reconnecting in a loop is cut off here, before the
    // signature check; only verified logins take a token, so a forger cannot lock a key out.
    const loginKey = pub && pub.length === 32 ? this.#o.userIdOf(pub) : undefined;
    if (loginKey !== undefined && !this.#limits.loginAllowed(loginKey, nowMs)) {
      this.#authFail(
        conn,
        req.id,
        'SIG_ERR_RATE_LIMITED',
        'too many logins for this identity: wait before reconnecting',
      );
      return;
    }
    if (!pub || !sig || pub.length !== 32 || !this.#o.verifySignature(pub, sig, data)) {
      this.#authFail(
        conn,
        req.id,
        'SIG_ERR_BAD_SIGNATURE',
        'the challenge signature does not verify',
      );
      return;
    }
    if (loginKey !== undefined) this.#limits.loginTaken(loginKey, nowMs);
    if (this.#o.password !== undefined) {
      // Guessing is throttled per IP (issue 17 §7): past the burst, one guess per 10 s.
      if (!this.#limits.passwordGuessAllowed(conn.address, nowMs)) {
        this.#authFail(
          conn,
          req.id,
          'SIG_ERR_RATE_LIMITED',
          'too many wrong passwords from your address: wait before trying again',
        );
        return;
      }
      if (!constantTimeEqual(req.password ?? '', this.#o.password)) {
        this.#limits.passwordFailed(conn.address, nowMs);
        this.#authFail(conn, req.id, 'SIG_ERR_BAD_PASSWORD', 'wrong or missing server password');
        return;
      }
    }
    const userId = this.#o.userIdOf(pub);
    const store = this.#o.store;
    // Issue 17: the name is used in NFKC from here on (the signature covered it as sent);
    // invisible, bidi and control characters are refused, and so is a look-alike of a name
    // another key registered (TS #39 skeletons).
    const normalized = normalizeName(req.name);
    if (!normalized.ok) {
      this.#authFail(conn, req.id, 'SIG_ERR_BAD_NAME', normalized.error.message);
      return;
    }
    req = { ...req, name: normalized.value.name };
    const lookAlike = this.#names.lookAlikeOf(req.name, userId, normalized.value.skeletons);
    if (lookAlike) {
      this.#authFail(
        conn,
        req.id,
        'SIG_ERR_NAME_TAKEN',
        `the name "${req.name}" looks like "${lookAlike.name}", which belongs to another key`,
      );
      return;
    }
    // Name binding (Mumble-style registration): first key to use a name owns it.
    const owner = store.userByName(req.name);
    if (owner && owner.userId !== userId) {
      this.#authFail(
        conn,
        req.id,
        'SIG_ERR_NAME_TAKEN',
        `the name "${req.name}" belongs to another key`,
      );
      return;
    }
    const known = store.userById(userId);
    const host = this.#o.host;
    const isHost =
      host !== undefined &&
      (host.userId !== undefined
        ? host.userId === userId
        : host.name.toLowerCase() === req.name.toLowerCase());
    if (
      host?.userId === undefined &&
      host !== undefined &&
      !isHost &&
      namesLookAlike(req.name, host.name)
    ) {
      this.#authFail(conn, req.id, 'SIG_ERR_NAME_TAKEN', `the name "${req.name}" is the host's`);
      return;
    }
    const existing = this.#sessions.get(userId);
    if (!existing && this.#o.maxUsers !== undefined && this.#sessions.size >= this.#o.maxUsers) {
      this.#authFail(
        conn,
        req.id,
        'SIG_ERR_SERVER_FULL',
        `the server is full (${this.#o.maxUsers} users)`,
      );
      return;
    }
    try {
      if (!known)
        store.insertUser({ userId, name: req.name, publicKey: req.publicKey, createdAt: nowMs });
      else if (known.name !== req.name) store.renameUser(userId, req.name);
      this.#names.set(userId, req.name, normalized.value.skeletons);
    } catch (err) {
      this.#o.log?.warn({ err }, 'user registration failed');
      this.#authFail(conn, req.id, 'SIG_ERR_NAME_TAKEN', `the name "${req.name}" is not available`);
      return;
    }

    if (host && !isHost && !host.acceptAll && !this.#approved.has(userId)) {
      conn.state = 'pending';
      const requestId = this.#o.randomId(9);
      conn.requestId = requestId;
      conn.session = {
        userId,
        name: req.name,
        conn,
        chosen: 'available',
        isHost: false,
        announced: 'available',
      };
      this.#requests.set(requestId, conn);
      this.#result(conn, req.id, {
        userId,
        name: req.name,
        state: 'pending',
        resumed: false,
      } satisfies RequestResult<'auth'>);
      const body = { requestId, name: req.name, fingerprint: userId, address: conn.address };
      for (const s of this.#sessions.values())
        if (s.isHost) this.#event(s.conn, 'host.request', body);
      this.#o.log?.info(
        { requestId, name: req.name, address: conn.address },
        'host mode: join request',
      );
      return;
    }

    if (existing) {
      // Resume: the same key reconnected while its old connection was still registered.
      const old = existing.conn;
      existing.conn = conn;
      if (existing.name !== req.name) this.#snapValid = false;
      existing.name = req.name;
      conn.session = existing;
      conn.state = 'ready';
      old.session = undefined;
      this.#close(old, CLOSE_CODES.REPLACED, 'session taken over by a new connection');
      const call = this.#calls.ofUser(userId);
      this.#result(conn, req.id, {
        userId,
        name: req.name,
        state: 'ready',
        resumed: true,
        ...(call ? { callId: call.callId } : {}),
      } satisfies RequestResult<'auth'>);
      this.#sendSnapshot(existing);
      this.#deliverStored(existing);
      this.#o.log?.info({ userId, name: req.name }, 'session resumed');
      return;
    }

    const session: Session = {
      userId,
      name: req.name,
      conn,
      chosen: 'available',
      isHost,
      announced: 'available',
    };
    conn.session = session;
    this.#result(conn, req.id, {
      userId,
      name: req.name,
      state: 'ready',
      resumed: false,
    } satisfies RequestResult<'auth'>);
    this.#enter(session);
  }

  /** A session becomes visible: snapshot to it, `joined` to the others, stored messages. */
  #enter(session: Session): void {
    session.conn.state = 'ready';
    this.#sessions.set(session.userId, session);
    this.#diffLeft.delete(session.userId);
    const info = this.#infoOf(session);
    session.announced = info.status;
    this.#diffJoined.set(session.userId, info);
    this.#sendFirstSnapshot(session);
    this.#deliverStored(session);
    if (session.isHost) {
      for (const [requestId, c] of this.#requests) {
        if (c.session) {
          this.#event(session.conn, 'host.request', {
            requestId,
            name: c.session.name,
            fingerprint: c.session.userId,
            address: c.address,
          });
        }
      }
    }
    this.#o.log?.debug({ userId: session.userId, name: session.name }, 'online');
  }

  /**
   * The snapshot of a user entering: the cached list of everyone else (kept as UTF-8 bytes,
   * appended to at each join and rebuilt only after a leave or a status change), then the
   * newcomer is appended. Costs a copy of the list, not N lookups and a join of N strings.
   * Someone blocking the newcomer needs a filtered list: {@link #sendSnapshot}.
   */
  #sendFirstSnapshot(session: Session): void {
    if ((this.#blockedBy.get(session.userId) ?? 0) > 0) {
      this.#sendSnapshot(session);
      this.#snapValid = false;
      return;
    }
    if (!this.#snapValid) {
      this.#snapLen = 0;
      for (const s of this.#sessions.values()) if (s !== session) this.#snapAppend(s);
      this.#snapValid = true;
    }
    const frame = new Uint8Array(SNAPSHOT_PREFIX_BYTES.length + this.#snapLen + 2);
    frame.set(SNAPSHOT_PREFIX_BYTES);
    frame.set(this.#snapBytes.subarray(0, this.#snapLen), SNAPSHOT_PREFIX_BYTES.length);
    frame.set(SNAPSHOT_SUFFIX_BYTES, frame.length - 2);
    this.#sendText(session.conn, frame);
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

  #sendSnapshot(session: Session): void {
    // Built from cached per-user JSON fragments: a snapshot of N users costs a string join,
    // not N object serializations (it is the O(N) part of every join).
    const parts: string[] = [];
    for (const s of this.#sessions.values()) {
      if (s !== session && !this.#blocks.get(s.userId)?.has(session.userId)) {
        parts.push(this.#fragmentOf(s));
      }
    }
    this.#sendText(session.conn, `${SNAPSHOT_PREFIX}${parts.join(',')}]}`);
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

  #deliverStored(session: Session): void {
    for (const m of this.#o.store.undelivered(session.userId))
      this.#event(session.conn, 'chat.message', m);
  }

  // ---- leaving -----------------------------------------------------------------------------

  #dropConn(conn: Conn): void {
    const wasState = conn.state;
    conn.state = 'closed';
    this.#conns.delete(conn.id);
    const session = conn.session;
    if (wasState === 'pending' && conn.requestId !== undefined) {
      this.#requests.delete(conn.requestId);
      this.#resolveRequest(conn.requestId, 'withdrawn');
    }
    if (!session || session.conn !== conn || wasState !== 'ready') return;
    // Last connection of this user: end its call, tell everyone.
    this.#sessions.delete(session.userId);
    this.#snapValid = false;
    const call = this.#calls.ofUser(session.userId);
    if (call) this.#endCall(call, 'disconnected', this.#nowHint, session.userId);
    this.#diffJoined.delete(session.userId);
    this.#diffChanged.delete(session.userId);
    this.#diffLeft.add(session.userId);
    this.#o.log?.debug({ userId: session.userId }, 'offline');
  }

  /** Time of the input being processed (for effects of `closed`, which carries none). */
  #nowHint = 0;

  #resolveRequest(requestId: string, outcome: 'accepted' | 'refused' | 'withdrawn'): void {
    for (const s of this.#sessions.values())
      if (s.isHost) this.#event(s.conn, 'host.resolved', { requestId, outcome });
  }

  // ---- ticks -------------------------------------------------------------------------------

  #tick(nowMs: number, backlog: boolean): void {
    this.#nowHint = nowMs;
    this.#limits.prune(nowMs);
    if (nowMs >= this.#nextScanMs) {
      this.#nextScanMs = nowMs + 250;
      this.#scanTimeouts(nowMs);
    }
    if (nowMs >= this.#nextFlushMs && !backlog) {
      this.#flushPresence();
      // Every flush costs one frame per online user, so the window widens with the crowd:
      // 50 ms up to 250 users, then 1 ms per 5 users (1 s at 5,000), at most 1 s.
      const window = Math.max(this.#o.presenceBatchMs, Math.min(1000, this.#sessions.size / 5));
      this.#nextFlushMs = nowMs + window;
    }
    this.#flushRecords();
  }

  #nextScanMs = 0;

  /**
   * Hands the call records of the last tick to the store's writer thread (see
   * {@link StorePort.flushCalls}): the request path (invite → ringing) and the tick pay no SQLite
   * commit; a crash loses at most the records not yet committed by that thread (tens of ms).
   * Chat messages are not deferred (acked only once committed).
   */
  #flushRecords(): void {
    try {
      this.#o.store.flushCalls();
    } catch (err) {
      this.#o.log?.warn({ err }, 'could not record calls');
    }
  }

  #scanTimeouts(nowMs: number): void {
    // No copy of the map every 250 ms: a Map iterator tolerates the deletions #close makes.
    for (const conn of this.#conns.values()) {
      if (conn.state === 'unauth' && nowMs - conn.openedAt >= this.#o.authTimeoutMs) {
        this.#close(conn, CLOSE_CODES.AUTH_TIMEOUT, 'authentication timeout');
      } else if (conn.state !== 'unauth' && nowMs - conn.lastSeen >= this.#o.pingTimeoutMs) {
        this.#close(conn, CLOSE_CODES.PING_TIMEOUT, 'ping timeout');
      }
    }
    for (const call of this.#calls.expire(nowMs)) this.#finishEnded(call, 'timeout', nowMs);
  }

  /** Sends the coalesced presence diff: one shared frame, per-viewer copies only where blocks hide someone. */
  #flushPresence(): void {
    if (this.#diffJoined.size === 0 && this.#diffLeft.size === 0 && this.#diffChanged.size === 0)
      return;
    const joined = [...this.#diffJoined.values()];
    const left = [...this.#diffLeft];
    const changed = [...this.#diffChanged].map(([userId, status]) => ({ userId, status }));
    for (const c of changed) {
      const s = this.#sessions.get(c.userId);
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
    for (const u of joined) for (const v of this.#blocks.get(u.userId) ?? []) special.add(v);
    for (const u of changed) for (const v of this.#blocks.get(u.userId) ?? []) special.add(v);
    const plain: number[] = [];
    for (const s of this.#sessions.values()) {
      if (!special.has(s.userId)) {
        if (s.conn.state !== 'closed') plain.push(s.conn.id);
        continue;
      }
      const hidden = (id: string) => this.#blocks.get(id)?.has(s.userId) === true;
      const j = joined.filter((u) => !hidden(u.userId));
      const c = changed.filter((u) => !hidden(u.userId));
      if (j.length + left.length + c.length === 0) continue;
      this.#sendBulk(
        s.conn,
        encodeEvent('presence.diff', {
          ...(j.length ? { joined: j } : {}),
          ...(left.length ? { left } : {}),
          ...(c.length ? { changed: c } : {}),
        }),
      );
    }
    if (plain.length > 0) {
      this.#stats.framesOut += plain.length;
      this.#out.push({ type: 'broadcast', connIds: plain, text: shared });
    }
  }

  #statusOf(s: Session): Status {
    return this.#calls.ofUser(s.userId)?.state === 'accepted' ? 'in-call' : s.chosen;
  }

  #infoOf(s: Session): UserInfo {
    return { userId: s.userId, name: s.name, status: this.#statusOf(s) };
  }

  /**
   * Queues `userId`'s status for the next diff if it differs from what the others know; a
   * change undone within the batching window (e.g. a very short call) costs no frame at all.
   */
  #statusMaybeChanged(userId: string): void {
    const s = this.#sessions.get(userId);
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

  // ---- requests ----------------------------------------------------------------------------

  #dispatch(s: Session, req: ClientRequest, nowMs: number): object | SignalingError {
    this.#nowHint = nowMs;
    switch (req.type) {
      case 'presence.set': {
        s.chosen = req.status;
        this.#statusMaybeChanged(s.userId);
        return {};
      }
      case 'call.invite':
        return this.#invite(s, req.to, nowMs);
      case 'call.ring':
      case 'call.accept':
      case 'call.reject':
      case 'call.cancel':
      case 'call.hangup':
        return this.#callAction(s, req.type, req.callId, nowMs);
      case 'call.signal': {
        const call = this.#calls.get(req.callId);
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
        const other = this.#sessions.get(call.caller === s.userId ? call.callee : call.caller);
        if (other)
          this.#event(other.conn, 'call.signal', { callId: call.callId, signal: req.signal });
        return {};
      }
      case 'chat.send':
        return this.#chatSend(s, req, nowMs);
      case 'chat.received':
        this.#o.store.markDelivered(s.userId, req.msgIds, nowMs);
        return {};
      case 'chat.history': {
        const limit = Math.min(req.limit ?? 50, MAX_HISTORY_PAGE);
        return this.#o.store.history(
          s.userId,
          req.with,
          req.before,
          limit,
        ) satisfies RequestResult<'chat.history'>;
      }
      case 'block.add':
        return this.#block(s, req.userId, nowMs);
      case 'block.remove':
        return this.#unblock(s, req.userId);
      case 'block.list': {
        const users = [...(this.#blocks.get(s.userId) ?? [])].map((userId) => ({
          userId,
          name: this.#o.store.userById(userId)?.name ?? 'unknown',
        }));
        return { users } satisfies RequestResult<'block.list'>;
      }
      case 'host.decide':
        return this.#decide(s, req.requestId, req.accept);
      case 'auth':
      case 'ping':
        return {};
    }
  }

  // ---- calls -------------------------------------------------------------------------------

  #peerInfo(userId: string): { userId: string; name: string } {
    const s = this.#sessions.get(userId);
    return { userId, name: s?.name ?? this.#o.store.userById(userId)?.name ?? 'unknown' };
  }

  #invite(s: Session, to: string, nowMs: number): RequestResult<'call.invite'> | SignalingError {
    if (!s.conn.callAttempts.take(nowMs) || !this.#limits.callAttempt(s.userId, nowMs)) {
      return new SignalingError('SIG_ERR_RATE_LIMITED', 'too many call attempts: slow down');
    }
    if (to === s.userId) return new SignalingError('SIG_ERR_SELF', 'you cannot call yourself');
    const callee = this.#sessions.get(to);
    if (!callee || this.#blocks.get(to)?.has(s.userId)) {
      return new SignalingError('SIG_ERR_UNAVAILABLE', 'this user is unavailable');
    }
    if (this.#blocks.get(s.userId)?.has(to)) {
      return new SignalingError('SIG_ERR_BLOCKED', 'you block this user; unblock them to call');
    }
    const mine = this.#calls.ofUser(s.userId);
    if (mine) {
      // Glare (RFC 3261 §14.1 has the same race): the target is inviting us right now.
      if (mine.caller === to && mine.callee === s.userId && mine.state !== 'accepted') {
        this.#calls.forceAccept(mine, nowMs);
        this.#o.store.answerCall(mine.callId, nowMs);
        // Deterministic whichever invite the server saw first: the lower user id offers.
        const offerer = s.userId < to ? s.userId : to;
        this.#queueAfterResult(() => this.#announceAccepted(mine, nowMs, [s.userId, to], offerer));
        return { callId: mine.callId, glare: true };
      }
      return new SignalingError('SIG_ERR_ALREADY_IN_CALL', 'you are already in a call');
    }
    const callId = this.#o.randomId(12);
    const busy = this.#calls.ofUser(to) !== undefined;
    if (busy || callee.chosen === 'dnd') {
      // Busy or do-not-disturb: the call ends at once; the caller learns why, the callee gets a
      // missed call. It never enters the live table, but it is recorded.
      const reason: CallEndReason = busy ? 'busy' : 'dnd';
      this.#o.store.insertCall({ callId, caller: s.userId, callee: to, createdAt: nowMs });
      this.#queueAfterResult(() => {
        this.#event(s.conn, 'call.ended', { callId, reason });
        this.#event(callee.conn, 'call.missed', { callId, from: this.#peerInfo(s.userId), reason });
      });
      this.#stats.callsEnded[reason] = (this.#stats.callsEnded[reason] ?? 0) + 1;
      this.#o.store.endCall(callId, nowMs, reason);
      return { callId };
    }
    this.#calls.create(callId, s.userId, to, nowMs);
    this.#o.store.insertCall({ callId, caller: s.userId, callee: to, createdAt: nowMs });
    this.#queueAfterResult(() => {
      this.#event(callee.conn, 'call.incoming', { callId, from: this.#peerInfo(s.userId) });
    });
    return { callId };
  }

  #afterResult: (() => void)[] = [];

  /** Runs `fn` right after the current request's result is emitted (results precede events). */
  #queueAfterResult(fn: () => void): void {
    this.#afterResult.push(fn);
  }

  #callAction(
    s: Session,
    type: 'call.ring' | 'call.accept' | 'call.reject' | 'call.cancel' | 'call.hangup',
    callId: string,
    nowMs: number,
  ): object | SignalingError {
    const kind = type.slice(5) as 'ring' | 'accept' | 'reject' | 'cancel' | 'hangup';
    const r = this.#calls.apply(callId, { kind, by: s.userId }, nowMs);
    if (!r.ok) return r.error;
    const call = r.call;
    if (r.effect === 'rang') {
      const caller = this.#sessions.get(call.caller);
      if (caller)
        this.#queueAfterResult(() => this.#event(caller.conn, 'call.ringing', { callId }));
    } else if (r.effect === 'accepted') {
      this.#o.store.answerCall(callId, nowMs);
      this.#queueAfterResult(() => this.#announceAccepted(call, nowMs, [call.caller, call.callee]));
    } else {
      const reason = r.reason ?? 'hangup';
      this.#queueAfterResult(() => this.#finishEnded(call, reason, nowMs, s.userId));
    }
    return {};
  }

  #announceAccepted(
    call: LiveCall,
    nowMs: number,
    changedUsers: string[],
    offerer: string = call.caller,
  ): void {
    for (const userId of [call.caller, call.callee]) {
      const sess = this.#sessions.get(userId);
      if (!sess) continue;
      const peerId = userId === call.caller ? call.callee : call.caller;
      let iceServers: IceServer[] = [];
      try {
        iceServers = this.#o.relay?.iceServersFor(call.callId, userId, nowMs) ?? [];
      } catch (err) {
        this.#o.log?.warn({ err, callId: call.callId }, 'relay could not issue credentials');
      }
      this.#event(sess.conn, 'call.accepted', {
        callId: call.callId,
        role: userId === offerer ? 'offerer' : 'answerer',
        peer: this.#peerInfo(peerId),
        iceServers,
        relayOnly: this.#o.relay?.relayOnly ?? false,
      });
    }
    for (const userId of changedUsers) this.#statusMaybeChanged(userId);
  }

  /** Ends a live call: tells both parties, frees the relay, records the end. */
  #endCall(call: LiveCall, reason: CallEndReason, nowMs: number, by?: string): void {
    this.#calls.remove(call);
    this.#finishEnded(call, reason, nowMs, by);
  }

  /** After the call left the table: notifications, relay, record, presence. */
  #finishEnded(call: LiveCall, reason: CallEndReason, nowMs: number, by?: string): void {
    for (const userId of [call.caller, call.callee]) {
      const sess = this.#sessions.get(userId);
      if (sess)
        this.#event(sess.conn, 'call.ended', {
          callId: call.callId,
          reason,
          ...(by ? { by } : {}),
        });
    }
    try {
      this.#o.relay?.callEnded(call.callId);
    } catch (err) {
      this.#o.log?.warn({ err, callId: call.callId }, 'relay callEnded failed');
    }
    this.#recordEnd(call, reason, nowMs);
    if (call.state === 'accepted') {
      for (const userId of [call.caller, call.callee]) this.#statusMaybeChanged(userId);
    }
  }

  #recordEnd(call: LiveCall, reason: CallEndReason, nowMs: number): void {
    this.#stats.callsEnded[reason] = (this.#stats.callsEnded[reason] ?? 0) + 1;
    this.#o.store.endCall(call.callId, nowMs, reason);
  }

  // ---- chat --------------------------------------------------------------------------------

  #chatSend(
    s: Session,
    req: Extract<ClientRequest, { type: 'chat.send' }>,
    nowMs: number,
  ): RequestResult<'chat.send'> | SignalingError {
    if (req.text.length > MAX_CHAT_CHARS) {
      return new SignalingError(
        'SIG_ERR_MESSAGE_TOO_LONG',
        `a message is at most ${MAX_CHAT_CHARS} characters (got ${req.text.length})`,
      );
    }
    if (req.to === s.userId)
      return new SignalingError('SIG_ERR_SELF', 'you cannot message yourself');
    if (!this.#o.store.userById(req.to))
      return new SignalingError('SIG_ERR_UNAVAILABLE', 'this user is unavailable');
    if (this.#blocks.get(s.userId)?.has(req.to)) {
      return new SignalingError('SIG_ERR_BLOCKED', 'you block this user; unblock them to write');
    }
    const quota = this.#limits.chatCheck(s.userId, req.text, nowMs);
    if (!quota.ok) return new SignalingError('SIG_ERR_CHAT_QUOTA', quota.message);
    // Dropped (not refused) when the recipient blocks the sender: the sender learns nothing.
    const dropped = this.#blocks.get(req.to)?.has(s.userId) === true;
    const { message, duplicate } = this.#o.store.insertMessage(
      { from: s.userId, to: req.to, clientMsgId: req.clientMsgId, text: req.text, ts: nowMs },
      dropped,
    );
    // Even a duplicate's answer waits: its first copy may not be on disk yet.
    this.#chatWritten = true;
    if (!duplicate) {
      this.#stats.chatMessages++;
      this.#limits.chatRecord(s.userId, req.text, nowMs);
    }
    const recipient = this.#sessions.get(req.to);
    if (recipient && !dropped && !duplicate) {
      this.#queueAfterResult(() => this.#event(recipient.conn, 'chat.message', message));
    }
    return { msgId: message.msgId, ts: message.ts };
  }

  // ---- blocks ------------------------------------------------------------------------------

  #countBlocker(blocked: string, delta: 1 | -1): void {
    const n = (this.#blockedBy.get(blocked) ?? 0) + delta;
    if (n > 0) this.#blockedBy.set(blocked, n);
    else this.#blockedBy.delete(blocked);
  }

  #blockSet(userId: string): Set<string> {
    let set = this.#blocks.get(userId);
    if (!set) this.#blocks.set(userId, (set = new Set()));
    return set;
  }

  #block(s: Session, target: string, nowMs: number): object | SignalingError {
    if (target === s.userId) return new SignalingError('SIG_ERR_SELF', 'you cannot block yourself');
    if (!this.#o.store.userById(target))
      return new SignalingError('SIG_ERR_UNAVAILABLE', 'unknown user');
    this.#o.store.addBlock(s.userId, target, nowMs);
    const set = this.#blockSet(s.userId);
    if (set.has(target)) return {};
    set.add(target);
    this.#countBlocker(target, 1);
    // The blocked user now sees us leave.
    const victim = this.#sessions.get(target);
    if (victim)
      this.#queueAfterResult(() => this.#event(victim.conn, 'presence.diff', { left: [s.userId] }));
    return {};
  }

  #unblock(s: Session, target: string): object | SignalingError {
    this.#o.store.removeBlock(s.userId, target);
    const set = this.#blocks.get(s.userId);
    if (!set?.delete(target)) return {};
    this.#countBlocker(target, -1);
    const victim = this.#sessions.get(target);
    if (victim) {
      this.#queueAfterResult(() =>
        this.#event(victim.conn, 'presence.diff', { joined: [this.#infoOf(s)] }),
      );
    }
    return {};
  }

  // ---- host mode ---------------------------------------------------------------------------

  #decide(s: Session, requestId: string, accept: boolean): object | SignalingError {
    if (!s.isHost)
      return new SignalingError('SIG_ERR_FORBIDDEN', 'only the host decides who joins');
    const conn = this.#requests.get(requestId);
    if (!conn?.session)
      return new SignalingError('SIG_ERR_UNKNOWN_REQUEST', `no pending request ${requestId}`);
    this.#requests.delete(requestId);
    conn.requestId = undefined;
    const session = conn.session;
    this.#queueAfterResult(() => {
      this.#resolveRequest(requestId, accept ? 'accepted' : 'refused');
      if (!accept) {
        this.#error(conn, undefined, 'SIG_ERR_REFUSED', 'the host refused your connection');
        this.#close(conn, CLOSE_CODES.REFUSED, 'refused by the host');
        return;
      }
      this.#approved.add(session.userId);
      const existing = this.#sessions.get(session.userId);
      if (existing) {
        const old = existing.conn;
        existing.conn = conn;
        conn.session = existing;
        conn.state = 'ready';
        old.session = undefined;
        this.#close(old, CLOSE_CODES.REPLACED, 'session taken over by a new connection');
        this.#event(conn, 'auth.approved', {});
        this.#sendSnapshot(existing);
        return;
      }
      this.#event(conn, 'auth.approved', {});
      this.#enter(session);
    });
    this.#o.log?.info({ requestId, accept }, 'host decided');
    return {};
  }

  /**
   * Programmatic approval (for a host UI living in the server process). Same effect as the
   * host sending `host.decide`.
   */
  decide(requestId: string, accept: boolean, nowMs: number): SignalingError | undefined {
    const host = [...this.#sessions.values()].find((x) => x.isHost);
    const fake: Session = host ?? {
      userId: '',
      name: 'host',
      conn: undefined as unknown as Conn,
      chosen: 'available',
      isHost: true,
      announced: 'available',
    };
    this.#nowHint = nowMs;
    const r = this.#decide(fake, requestId, accept);
    this.#runAfterResult();
    return r instanceof SignalingError ? r : undefined;
  }

  #runAfterResult(): void {
    while (this.#afterResult.length > 0) {
      const fns = this.#afterResult.splice(0);
      for (const fn of fns) fn();
    }
  }

  // ---- shutdown ----------------------------------------------------------------------------

  #shutdown(reason: string, nowMs: number): void {
    this.#shuttingDown = true;
    for (const call of [...this.#calls.values()]) this.#endCall(call, 'shutdown', nowMs);
    for (const conn of [...this.#conns.values()]) {
      this.#event(conn, 'server.shutdown', { reason });
      this.#close(conn, CLOSE_CODES.GOING_AWAY, reason);
    }
    this.#flushRecords();
  }
}

/** Compares two strings in time independent of where they differ. */
function constantTimeEqual(a: string, b: string): boolean {
  const x = textEncoder.encode(a);
  const y = textEncoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
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
