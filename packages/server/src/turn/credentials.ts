/**
 * TURN REST API style long-term credentials (draft-uberti-behave-turn-rest, as coturn's
 * `use-auth-secret`): username = `expiry:callId:userId`, password = base64(HMAC-SHA1(secret,
 * username)). RFC 8489 §9.2 then keys MESSAGE-INTEGRITY with MD5(username:realm:password).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** A username split into its parts. */
export interface TurnUsername {
  /** Expiry, Unix time in seconds. */
  expirySec: number;
  /** Call id, or the free-form tail for `--turn-bench` usernames (`expiry:anything`). */
  callId: string;
  /** User id, or '' when the username has only two parts. */
  userId: string;
}

/** base64(HMAC-SHA1(secret, username)): the TURN password for `username`. */
export function turnPassword(secret: string, username: string): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}

/** Issues a credential for one party of one call, valid for `ttlSec` seconds from `nowMs`. */
export function issueTurnCredential(
  secret: string,
  callId: string,
  userId: string,
  nowMs: number,
  ttlSec: number,
): { username: string; credential: string; expirySec: number } {
  const expirySec = Math.floor(nowMs / 1000) + ttlSec;
  const username = `${expirySec}:${callId}:${userId}`;
  return { username, credential: turnPassword(secret, username), expirySec };
}

/**
 * Parses `expiry:callId:userId` (or `expiry:anything`, or a bare `expiry` as coturn's
 * `turnutils_uclient -W` sends without `-u`); undefined if malformed.
 */
export function parseTurnUsername(username: string): TurnUsername | undefined {
  if (/^\d{1,12}$/.test(username)) return { expirySec: Number(username), callId: '', userId: '' };
  const first = username.indexOf(':');
  if (first <= 0) return undefined;
  const expiry = username.slice(0, first);
  if (!/^\d{1,12}$/.test(expiry)) return undefined;
  const rest = username.slice(first + 1);
  const second = rest.lastIndexOf(':');
  if (second < 0) return { expirySec: Number(expiry), callId: rest, userId: '' };
  return {
    expirySec: Number(expiry),
    callId: rest.slice(0, second),
    userId: rest.slice(second + 1),
  };
}

/** Constant-time check that `password` is the one `secret` gives for `username`. */
export function checkTurnPassword(secret: string, username: string, password: string): boolean {
  const want = Buffer.from(turnPassword(secret, username));
  const got = Buffer.from(password);
  return want.length === got.length && timingSafeEqual(want, got);
}
