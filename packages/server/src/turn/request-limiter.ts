/**
 * The per-IP request rate limit of the TURN core: a token bucket per source IP, so that a flood of
 * requests from one address is cut off while others are still served. Pure: time comes in as
 * `nowMs`.
 */
import type { TurnLogger } from './allocation.ts';

/** Buckets idle this long are forgotten by {@link RequestLimiter.prune}, ms. */
const IDLE_MS = 10_000;

/** Token buckets of STUN requests per source IP. */
export class RequestLimiter {
  #rate: number;
  #logger: TurnLogger;
  #buckets = new Map<string, { tokens: number; atMs: number; warned: boolean }>();

  /**
   * @param requestsPerSec requests per second each IP may send; bursts of 4 × that.
   * @param logger warned once per flood and IP.
   */
  constructor(requestsPerSec: number, logger: TurnLogger) {
    this.#rate = requestsPerSec;
    this.#logger = logger;
  }

  /** Number of IPs with a bucket (for tests). */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token for a request from `ip`; false: drop it. */
  take(ip: string, nowMs: number): boolean {
    const rate = this.#rate;
    let b = this.#buckets.get(ip);
    if (!b) {
      b = { tokens: rate * 4, atMs: nowMs, warned: false };
      this.#buckets.set(ip, b);
    }
    b.tokens = Math.min(rate * 4, b.tokens + ((nowMs - b.atMs) * rate) / 1000);
    b.atMs = nowMs;
    if (b.tokens < 1) {
      if (!b.warned) {
        b.warned = true;
        this.#logger.warn({ ip }, 'turn request flood: dropping requests from this address');
      }
      return false;
    }
    b.warned = false;
    b.tokens -= 1;
    return true;
  }

  /** Forgets buckets idle for more than 10 s (about once a second). */
  prune(nowMs: number): void {
    for (const [ip, b] of this.#buckets) if (nowMs - b.atMs > IDLE_MS) this.#buckets.delete(ip);
  }
}
