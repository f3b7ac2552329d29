/**
 * Limits that survive reconnects (issue 17 §4). Identities are free and connections cheap, so a
 * per-connection bucket resets whenever a client reconnects; these are keyed by what a client
 * cannot shed by reconnecting: its identity (user id) and its IP address.
 *
 * - {@link KeyedBuckets}: one token bucket per key, pruned once full again (an idle key costs
 *   nothing after it has refilled).
 * - {@link ChatQuota}: messages per UTC day and stored bytes per user, loaded from the store once
 *   per user and then counted in memory.
 *
 * Sans-IO: time comes in as `nowMs`.
 */
import { TokenBucket, type BucketConfig } from './token-bucket.ts';

/** One token bucket per key (a user id, an IP address). */
export class KeyedBuckets {
  #config: BucketConfig;
  #buckets = new Map<string, TokenBucket>();

  constructor(config: BucketConfig) {
    this.#config = config;
  }

  /** Takes one token from `key`'s bucket; false when it is empty. */
  take(key: string, nowMs: number): boolean {
    let b = this.#buckets.get(key);
    if (!b) this.#buckets.set(key, (b = new TokenBucket(this.#config, nowMs)));
    return b.take(nowMs);
  }

  /** Whether `key` has at least one token, without taking it. */
  has(key: string, nowMs: number): boolean {
    const b = this.#buckets.get(key);
    return b === undefined || b.tokens(nowMs) >= 1;
  }

  /** Drops the buckets that have refilled: they hold no state a new bucket would not. */
  prune(nowMs: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens(nowMs) >= this.#config.burst) this.#buckets.delete(key);
    }
  }

  /** Number of keys tracked (tests, metrics). */
  get size(): number {
    return this.#buckets.size;
  }
}

/** Options of {@link ChatQuota}. */
export interface ChatQuotaOptions {
  /** Messages one user may send per UTC day. */
  messagesPerDay: number;
  /** Bytes (UTF-8 of the text) of one user's messages the server stores at most. */
  storedBytes: number;
  /** The store's count of `userId`'s messages since `sinceMs`, and the bytes of all of them. */
  usageOf(userId: string, sinceMs: number): { messagesSince: number; bytes: number };
}

/** Why a message is over quota: the error code's detail and a message for the person. */
export type ChatQuotaVerdict =
  { ok: true } | { ok: false; limit: 'messages-per-day' | 'stored-bytes'; message: string };

const DAY_MS = 86_400_000;

/** Chat quota per user: messages per UTC day and stored bytes. */
export class ChatQuota {
  #o: ChatQuotaOptions;
  #users = new Map<string, { day: number; messages: number; bytes: number }>();

  constructor(options: ChatQuotaOptions) {
    this.#o = options;
  }

  #usage(userId: string, nowMs: number): { day: number; messages: number; bytes: number } {
    const day = Math.floor(nowMs / DAY_MS);
    let u = this.#users.get(userId);
    if (!u) {
      const { messagesSince, bytes } = this.#o.usageOf(userId, day * DAY_MS);
      u = { day, messages: messagesSince, bytes };
      this.#users.set(userId, u);
    } else if (u.day !== day) {
      u.day = day;
      u.messages = 0;
    }
    return u;
  }

  /** Whether `userId` may store one more message of `bytes` bytes now. */
  check(userId: string, bytes: number, nowMs: number): ChatQuotaVerdict {
    const u = this.#usage(userId, nowMs);
    if (u.messages >= this.#o.messagesPerDay) {
      return {
        ok: false,
        limit: 'messages-per-day',
        message: `chat quota: at most ${this.#o.messagesPerDay} messages a day (UTC)`,
      };
    }
    if (u.bytes + bytes > this.#o.storedBytes) {
      return {
        ok: false,
        limit: 'stored-bytes',
        message: `chat quota: at most ${this.#o.storedBytes} bytes of your messages are stored`,
      };
    }
    return { ok: true };
  }

  /** Counts one stored message of `bytes` bytes. */
  record(userId: string, bytes: number, nowMs: number): void {
    const u = this.#usage(userId, nowMs);
    u.messages++;
    u.bytes += bytes;
  }

  /** Forgets users whose counts can be read again from the store (e.g. once they go offline). */
  forget(userId: string): void {
    this.#users.delete(userId);
  }
}

/** The limits of {@link CoreLimits}; every field has a default. */
export interface CoreLimitsConfig {
  /** Messages per identity, over all its connections and reconnects. Default 100 burst, 50/s. */
  identityMessages: BucketConfig;
  /** Call attempts per identity. Default 10 burst, 1/s. */
  identityCalls: BucketConfig;
  /**
   * Verified logins per identity (each takes the session over). Default 10 burst, one per 2 s:
   * a client reconnecting after a network change is far below it.
   */
  identityLogins: BucketConfig;
  /**
   * Messages per IP address, authenticated or not (identities are free, addresses are not).
   * Default 3 200 burst, 1 600/s: 32 connections' worth (the server scales it with
   * `maxConnectionsPerIp`).
   */
  ipMessages: BucketConfig;
  /**
   * Wrong server passwords per IP address. When empty, an auth that carries a password is
   * refused (`SIG_ERR_RATE_LIMITED`) without being checked. Default 10 burst, 1 per 10 s.
   */
  passwordGuesses: BucketConfig;
  /** Chat messages one user may send per UTC day. Default 5 000. */
  chatMessagesPerDay: number;
  /** Bytes (UTF-8) of one user's chat messages the server stores at most. Default 16 MiB. */
  chatStoredBytes: number;
}

/** Defaults of {@link CoreLimitsConfig}. */
export const DEFAULT_CORE_LIMITS: CoreLimitsConfig = {
  identityMessages: { burst: 100, perSec: 50 },
  identityCalls: { burst: 10, perSec: 1 },
  identityLogins: { burst: 10, perSec: 0.5 },
  ipMessages: { burst: 3200, perSec: 1600 },
  passwordGuesses: { burst: 10, perSec: 0.1 },
  chatMessagesPerDay: 5000,
  chatStoredBytes: 16 * 1024 * 1024,
};

/** The per-IP message bucket: `connectionsPerIp` connections' worth of `perConnection`. */
export function ipMessageBucket(
  perConnection: BucketConfig,
  connectionsPerIp: number,
): BucketConfig {
  return {
    burst: perConnection.burst * connectionsPerIp,
    perSec: perConnection.perSec * connectionsPerIp,
  };
}

/** How often idle buckets are pruned, ms. */
const PRUNE_EVERY_MS = 10_000;

/** UTF-8 length of `text`, bytes, without encoding it. */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** Every limit of the signalling core that a reconnect does not reset. */
export class CoreLimits {
  readonly config: CoreLimitsConfig;
  #identityMessages: KeyedBuckets;
  #identityCalls: KeyedBuckets;
  #identityLogins: KeyedBuckets;
  #ipMessages: KeyedBuckets;
  #passwordGuesses: KeyedBuckets;
  #chat: ChatQuota;
  #nextPruneMs = 0;

  constructor(config: Partial<CoreLimitsConfig>, usageOf: ChatQuotaOptions['usageOf']) {
    this.config = { ...DEFAULT_CORE_LIMITS, ...config };
    this.#identityMessages = new KeyedBuckets(this.config.identityMessages);
    this.#identityCalls = new KeyedBuckets(this.config.identityCalls);
    this.#identityLogins = new KeyedBuckets(this.config.identityLogins);
    this.#ipMessages = new KeyedBuckets(this.config.ipMessages);
    this.#passwordGuesses = new KeyedBuckets(this.config.passwordGuesses);
    this.#chat = new ChatQuota({
      messagesPerDay: this.config.chatMessagesPerDay,
      storedBytes: this.config.chatStoredBytes,
      usageOf,
    });
  }

  /** One message from `ip`, by `userId` once authenticated. False: rate limited. */
  message(ip: string, userId: string | undefined, nowMs: number): boolean {
    if (!this.#ipMessages.take(ip, nowMs)) return false;
    return userId === undefined || this.#identityMessages.take(userId, nowMs);
  }

  /** One call attempt by `userId`. False: rate limited. */
  callAttempt(userId: string, nowMs: number): boolean {
    return this.#identityCalls.take(userId, nowMs);
  }

  /** Whether `userId` may log in now (checked before the signature, costs nothing). */
  loginAllowed(userId: string, nowMs: number): boolean {
    return this.#identityLogins.has(userId, nowMs);
  }

  /** A verified login of `userId`. */
  loginTaken(userId: string, nowMs: number): void {
    this.#identityLogins.take(userId, nowMs);
  }

  /** Whether `ip` may have a password checked now. */
  passwordGuessAllowed(ip: string, nowMs: number): boolean {
    return this.#passwordGuesses.has(ip, nowMs);
  }

  /** A wrong password from `ip`. */
  passwordFailed(ip: string, nowMs: number): void {
    this.#passwordGuesses.take(ip, nowMs);
  }

  /** Whether `userId` may store a message of `text` now. */
  chatCheck(userId: string, text: string, nowMs: number): ChatQuotaVerdict {
    return this.#chat.check(userId, utf8Length(text), nowMs);
  }

  /** Counts a stored message of `text` by `userId`. */
  chatRecord(userId: string, text: string, nowMs: number): void {
    this.#chat.record(userId, utf8Length(text), nowMs);
  }

  /** Drops buckets that have refilled, at most every 10 s. */
  prune(nowMs: number): void {
    if (nowMs < this.#nextPruneMs) return;
    this.#nextPruneMs = nowMs + PRUNE_EVERY_MS;
    this.#identityMessages.prune(nowMs);
    this.#identityCalls.prune(nowMs);
    this.#identityLogins.prune(nowMs);
    this.#ipMessages.prune(nowMs);
    this.#passwordGuesses.prune(nowMs);
  }

  /** Keys tracked, all buckets together (tests: pruning bounds memory). */
  get trackedKeys(): number {
    return (
      this.#identityMessages.size +
      this.#identityCalls.size +
      this.#identityLogins.size +
      this.#ipMessages.size +
      this.#passwordGuesses.size
    );
  }
}
