/**
 * Authentication: the challenge in `hello`, then the `auth` request — protocol version, the
 * Ed25519 signature of the challenge bound to this server's name (issue 17 §2), logins per
 * identity and password guesses per IP (limits.ts), the server password (constant time), the
 * name (NFKC, no look-alike of another key's, issue 17), name binding (the first key to use a
 * name owns it), the host's name, the user limit. A verified login then waits for the host
 * (host-approvals.ts), resumes an online session (same key, new connection), or enters.
 * Sans-IO: crypto comes in as options.
 * @module
 */
import {
  CLOSE_CODES,
  PROTOCOL_VERSION,
  authSigningText,
  fromBase64,
  namesLookAlike,
  normalizeName,
  type ClientRequest,
  type RequestResult,
  type SigErrorCode,
} from '@parloir/protocol';
import type { CoreContext, Conn, Session } from './context.ts';
import type { HostModeOptions } from './core-types.ts';
import type { HostApprovals } from './host-approvals.ts';
import type { CoreLimits } from './limits.ts';
import type { NameIndex } from './name-index.ts';
import { TokenBucket, type BucketConfig } from './token-bucket.ts';

const textEncoder = new TextEncoder();

/** Options of {@link Auth}. */
export interface AuthOptions {
  /** Name shown in `hello`. */
  serverName: string;
  /** Server password; absent = none. */
  password?: string | undefined;
  /** Maximum users online at once; absent = unlimited. */
  maxUsers?: number | undefined;
  /** Host mode; absent = normal server. */
  host?: HostModeOptions | undefined;
  /** Per-connection message bucket. */
  messageBucket: BucketConfig;
  /** Per-connection call-attempt bucket. */
  callBucket: BucketConfig;
  /** Ed25519 verification. */
  verifySignature: (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array) => boolean;
  /** Returns `bytes` random bytes as base64url (challenges). */
  randomId: (bytes: number) => string;
  /** SHA-256 of the raw public key, first 16 bytes as hex (the user id). */
  userIdOf: (publicKey: Uint8Array) => string;
  /** Login and password-guess limits. */
  limits: Pick<
    CoreLimits,
    'loginAllowed' | 'loginTaken' | 'passwordGuessAllowed' | 'passwordFailed'
  >;
  /** Registered names by confusable skeleton. */
  names: NameIndex;
  /** Join requests (host mode). */
  approvals: HostApprovals;
  /**
   * The live call of a user, if any: a resumed login, or a login back within a call's grace
   * period, is told its id.
   */
  callOf: (userId: string) => { callId: string } | undefined;
  /** A new session becomes visible (presence, stored messages, requests for a host). */
  enter: (session: Session) => void;
  /**
   * The same key logged in again while online: the new connection took the session over; it
   * gets a snapshot and its stored messages. `renamed`: it came back under another name.
   */
  resumed: (session: Session, renamed: boolean) => void;
}

/** The login half of the core. */
export class Auth {
  #ctx: CoreContext;
  #o: AuthOptions;

  constructor(ctx: CoreContext, options: AuthOptions) {
    this.#ctx = ctx;
    this.#o = options;
  }

  /**
   * Registers a new connection from `address` with a fresh challenge. `serverNames`: the names
   * of this server a login on it may sign (undefined: the unbound v1 login, core tests only).
   */
  open(
    connId: number,
    address: string,
    nowMs: number,
    serverNames: readonly string[] | undefined,
  ): Conn {
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
    this.#ctx.conns.set(connId, conn);
    return conn;
  }

  /** Sends `hello` with the challenge. */
  hello(conn: Conn): void {
    const serverNames = conn.serverNames;
    this.#ctx.event(conn, 'hello', {
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

  #fail(conn: Conn, id: number, code: SigErrorCode, message: string): void {
    this.#ctx.error(conn, id, code, message);
    this.#ctx.close(conn, CLOSE_CODES.AUTH_FAILED, message.slice(0, 120));
  }

  /** Handles `auth` on an unauthenticated connection. Any failure closes it. */
  login(conn: Conn, req: Extract<ClientRequest, { type: 'auth' }>, nowMs: number): void {
    const verified = this.#verify(conn, req, nowMs);
    if (verified === undefined) return;
    const { userId, skeletons } = verified;
    req = { ...req, name: verified.name };
    const ctx = this.#ctx;
    const store = ctx.store;
    const lookAlike = this.#o.names.lookAlikeOf(req.name, userId, skeletons);
    if (lookAlike) {
      const msg = `the name "${req.name}" looks like "${lookAlike.name}", which belongs to another key`;
      this.#fail(conn, req.id, 'SIG_ERR_NAME_TAKEN', msg);
      return;
    }
    // Name binding (Mumble-style registration): first key to use a name owns it.
    const owner = store.userByName(req.name);
    if (owner && owner.userId !== userId) {
      const msg = `the name "${req.name}" belongs to another key`;
      this.#fail(conn, req.id, 'SIG_ERR_NAME_TAKEN', msg);
      return;
    }
    const known = store.userById(userId);
    const host = this.#o.host;
    const isHost =
      host !== undefined &&
      (host.userId !== undefined
        ? host.userId === userId
        : host.name.toLowerCase() === req.name.toLowerCase());
    if (host !== undefined && host.userId === undefined && !isHost) {
      if (namesLookAlike(req.name, host.name)) {
        this.#fail(conn, req.id, 'SIG_ERR_NAME_TAKEN', `the name "${req.name}" is the host's`);
        return;
      }
    }
    const existing = ctx.sessions.get(userId);
    const maxUsers = this.#o.maxUsers;
    if (!existing && maxUsers !== undefined && ctx.sessions.size >= maxUsers) {
      this.#fail(conn, req.id, 'SIG_ERR_SERVER_FULL', `the server is full (${maxUsers} users)`);
      return;
    }
    try {
      if (!known)
        store.insertUser({ userId, name: req.name, publicKey: req.publicKey, createdAt: nowMs });
      else if (known.name !== req.name) store.renameUser(userId, req.name);
      this.#o.names.set(userId, req.name, skeletons);
    } catch (err) {
      ctx.log?.warn({ err }, 'user registration failed');
      this.#fail(conn, req.id, 'SIG_ERR_NAME_TAKEN', `the name "${req.name}" is not available`);
      return;
    }

    if (this.#o.approvals.needsApproval(userId, isHost)) {
      this.#o.approvals.park(conn, userId, req.name, req.id);
      return;
    }

    if (existing) {
      // Resume: the same key reconnected while its old connection was still registered.
      const old = existing.conn;
      existing.conn = conn;
      const renamed = existing.name !== req.name;
      existing.name = req.name;
      conn.session = existing;
      conn.state = 'ready';
      old.session = undefined;
      ctx.close(old, CLOSE_CODES.REPLACED, 'session taken over by a new connection');
      const call = this.#o.callOf(userId);
      ctx.result(conn, req.id, {
        userId,
        name: req.name,
        state: 'ready',
        resumed: true,
        ...(call ? { callId: call.callId } : {}),
      } satisfies RequestResult<'auth'>);
      this.#o.resumed(existing, renamed);
      ctx.log?.info({ userId, name: req.name }, 'session resumed');
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
    // A call kept through a signalling drop (call-routing.ts): the client may re-attach to it.
    const kept = this.#o.callOf(userId);
    ctx.result(conn, req.id, {
      userId,
      name: req.name,
      state: 'ready',
      resumed: false,
      ...(kept ? { callId: kept.callId } : {}),
    } satisfies RequestResult<'auth'>);
    this.#o.enter(session);
  }

  /**
   * The checks before any state: version, server binding, login rate, signature, password,
   * name form. Returns the user id and the normalized name, or undefined after failing `conn`.
   */
  #verify(
    conn: Conn,
    req: Extract<ClientRequest, { type: 'auth' }>,
    nowMs: number,
  ): { userId: string; name: string; skeletons: readonly string[] } | undefined {
    const limits = this.#o.limits;
    if (req.protocolVersion !== PROTOCOL_VERSION) {
      const msg = `server speaks protocol ${PROTOCOL_VERSION}, not ${req.protocolVersion}`;
      this.#fail(conn, req.id, 'SIG_ERR_VERSION', msg);
      return undefined;
    }
    const pub = fromBase64(req.publicKey);
    const sig = fromBase64(req.signature);
    // The signed text names this server (issue 17 §2): a challenge relayed by another server
    // comes back signed for that server's name and verifies with none of ours.
    const names = conn.serverNames;
    if (names !== undefined && (req.server === undefined || !names.includes(req.server))) {
      this.#fail(
        conn,
        req.id,
        'SIG_ERR_BAD_SIGNATURE',
        `the login was signed for ${req.server ?? 'no server'}, not for this server: a challenge relayed from another server?`,
      );
      return undefined;
    }
    const data = textEncoder.encode(
      authSigningText(conn.challenge, req.name, names === undefined ? undefined : req.server),
    );
    // Logins per identity (issue 17 §4): each one takes the session over and resends presence
    // and stored messages, so one identity reconnecting in a loop is cut off here, before the
    // signature check; only verified logins take a token, so a forger cannot lock a key out.
    const loginKey = pub && pub.length === 32 ? this.#o.userIdOf(pub) : undefined;
    if (loginKey !== undefined && !limits.loginAllowed(loginKey, nowMs)) {
      const msg = 'too many logins for this identity: wait before reconnecting';
      this.#fail(conn, req.id, 'SIG_ERR_RATE_LIMITED', msg);
      return undefined;
    }
    if (!pub || !sig || pub.length !== 32 || !this.#o.verifySignature(pub, sig, data)) {
      const msg = 'the challenge signature does not verify';
      this.#fail(conn, req.id, 'SIG_ERR_BAD_SIGNATURE', msg);
      return undefined;
    }
    if (loginKey !== undefined) limits.loginTaken(loginKey, nowMs);
    const password = this.#o.password;
    if (password !== undefined) {
      // Guessing is throttled per IP (issue 17 §7): past the burst, one guess per 10 s.
      if (!limits.passwordGuessAllowed(conn.address, nowMs)) {
        const msg = 'too many wrong passwords from your address: wait before trying again';
        this.#fail(conn, req.id, 'SIG_ERR_RATE_LIMITED', msg);
        return undefined;
      }
      if (!constantTimeEqual(req.password ?? '', password)) {
        limits.passwordFailed(conn.address, nowMs);
        this.#fail(conn, req.id, 'SIG_ERR_BAD_PASSWORD', 'wrong or missing server password');
        return undefined;
      }
    }
    // Issue 17: the name is used in NFKC from here on (the signature covered it as sent);
    // invisible, bidi and control characters are refused, and so is a look-alike of a name
    // another key registered (TS #39 skeletons).
    const normalized = normalizeName(req.name);
    if (!normalized.ok) {
      this.#fail(conn, req.id, 'SIG_ERR_BAD_NAME', normalized.error.message);
      return undefined;
    }
    return {
      userId: this.#o.userIdOf(pub),
      name: normalized.value.name,
      skeletons: normalized.value.skeletons,
    };
  }
}

/** Compares two strings in time independent of where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = textEncoder.encode(a);
  const y = textEncoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}
