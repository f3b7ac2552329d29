/**
 * TURN long-term credentials (RFC 8489 §9.2) with TURN REST usernames (`credentials.ts`): the
 * stateless nonces and the checks of a request's USERNAME, REALM, NONCE and MESSAGE-INTEGRITY, then
 * the call rule (the username's call is live and its user is a party). Pure apart from the
 * nonce key drawn at construction: time comes in as `nowMs`.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { CallDirectory } from '../relay-types.ts';
import type { ClientRef } from './allocation.ts';
import { parseTurnUsername, turnPassword } from './credentials.ts';
import { Attr, checkIntegrity, getAttribute, longTermKey, type StunMessage } from './stun.ts';

/** Options of {@link TurnAuthenticator}. */
export interface TurnAuthOptions {
  /** Shared secret of TURN REST credentials. */
  secret: string;
  /** Realm, sent in 401/438 and required in requests (RFC 8489 §9.2). */
  realm: string;
  /** Live calls; absent only in bench mode. */
  calls: CallDirectory | undefined;
  /** Bench mode: any unexpired credential made with the secret, no call needed. */
  bench: boolean;
  /** Nonce lifetime, ms. */
  nonceLifetimeMs: number;
}

/** Who an authenticated request comes from. */
export interface TurnIdentity {
  /** The TURN username. */
  username: string;
  /** Call id from the username. */
  callId: string;
  /** User id from the username. */
  userId: string;
  /** MESSAGE-INTEGRITY key, MD5(username:realm:password). */
  key: Buffer;
}

/** Why a request did not authenticate: a challenge (401, 438) or a malformed request (400). */
export interface AuthRefusal {
  /** 401 and 438 are answered with REALM and a fresh NONCE; 400 with a plain error. */
  code: 400 | 401 | 438;
  /** Human reason, for the log line. */
  why: string;
}

/** Checks long-term credentials and makes nonces. */
export class TurnAuthenticator {
  #opts: TurnAuthOptions;
  #nonceKey = randomBytes(16);
  #keyCache = new Map<string, Buffer>();

  constructor(options: TurnAuthOptions) {
    this.#opts = { ...options };
  }

  /** The realm. */
  get realm(): string {
    return this.#opts.realm;
  }

  /**
   * What a nonce is bound to: the UDP 5-tuple, or for TCP the client's IP (a TCP source cannot be
   * spoofed, and RFC 6062 clients reuse the control connection's nonce on data connections).
   */
  #nonceScope(client: ClientRef): string {
    return client.transport === 'tcp' ? `tcp:${client.ip}` : client.key;
  }

  #mac(expiryHex: string, client: ClientRef): string {
    return createHmac('sha1', this.#nonceKey)
      .update(`${expiryHex}|${this.#nonceScope(client)}`)
      .digest('hex')
      .slice(0, 20);
  }

  /** A fresh nonce for `client`: `expiry-hmac`, valid for the nonce lifetime from `nowMs`. */
  nonce(client: ClientRef, nowMs: number): string {
    const expiry = (nowMs + this.#opts.nonceLifetimeMs).toString(16);
    return `${expiry}-${this.#mac(expiry, client)}`;
  }

  /** Whether `nonce` was made by this authenticator for `client` and has not expired. */
  nonceValid(nonce: string, client: ClientRef, nowMs: number): boolean {
    const dash = nonce.indexOf('-');
    if (dash <= 0) return false;
    const expiry = nonce.slice(0, dash);
    if (!/^[0-9a-f]{1,13}$/.test(expiry) || parseInt(expiry, 16) <= nowMs) return false;
    return this.#mac(expiry, client) === nonce.slice(dash + 1);
  }

  /** RFC 8489 §9.2.4: the long-term credential checks, in order. */
  authenticate(
    msg: StunMessage,
    client: ClientRef,
    nowMs: number,
  ): { ok: true; identity: TurnIdentity } | ({ ok: false } & AuthRefusal) {
    const refuse = (code: 400 | 401 | 438, why: string): { ok: false } & AuthRefusal => ({
      ok: false,
      code,
      why,
    });
    if (msg.integrityOffset < 0) return refuse(401, 'no MESSAGE-INTEGRITY');
    const userAttr = getAttribute(msg, Attr.USERNAME);
    const realmAttr = getAttribute(msg, Attr.REALM);
    const nonceAttr = getAttribute(msg, Attr.NONCE);
    if (!userAttr || !realmAttr || !nonceAttr) {
      return refuse(400, 'missing USERNAME, REALM or NONCE');
    }
    if (!this.nonceValid(nonceAttr.toString('latin1'), client, nowMs)) {
      return refuse(438, 'stale nonce');
    }
    const username = userAttr.toString('utf8');
    const realm = realmAttr.toString('utf8');
    if (realm !== this.#opts.realm) return refuse(401, 'wrong realm');
    const parsed = parseTurnUsername(username);
    if (!parsed) return refuse(401, 'malformed username');
    if (parsed.expirySec * 1000 <= nowMs) return refuse(401, 'expired credential');
    const cacheKey = `${username}\n${realm}`;
    let key = this.#keyCache.get(cacheKey);
    if (!key) {
      key = longTermKey(username, realm, turnPassword(this.#opts.secret, username));
      this.#keyCache.set(cacheKey, key);
    }
    if (!checkIntegrity(msg, key)) return refuse(401, 'wrong MESSAGE-INTEGRITY');
    if (!this.#opts.bench) {
      const parties = this.#opts.calls?.partiesOf(parsed.callId);
      if (!parties || parsed.userId === '' || !parties.includes(parsed.userId)) {
        return refuse(401, 'call is not live or user not in it');
      }
    }
    return {
      ok: true,
      identity: { username, callId: parsed.callId, userId: parsed.userId, key },
    };
  }

  /** Bounds the key cache (about once a second): past 10 000 entries it starts over. */
  prune(): void {
    if (this.#keyCache.size > 10_000) this.#keyCache.clear();
  }
}
