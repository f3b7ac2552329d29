/** A token bucket (RFC 2697-style single rate): `burst` tokens, refilled at `perSec` per second. */
export interface BucketConfig {
  /** Bucket size, tokens. */
  burst: number;
  /** Refill rate, tokens per second. */
  perSec: number;
}

/** Token bucket state for one key (a connection, an identity, an IP) and one kind of action. */
export class TokenBucket {
  #tokens: number;
  #lastMs: number;
  #config: BucketConfig;

  constructor(config: BucketConfig, nowMs: number) {
    this.#config = config;
    this.#tokens = config.burst;
    this.#lastMs = nowMs;
  }

  /** Tokens available at `nowMs` (refilled up to `burst`), without taking any. */
  tokens(nowMs: number): number {
    const elapsed = Math.max(0, nowMs - this.#lastMs);
    this.#lastMs = Math.max(this.#lastMs, nowMs);
    this.#tokens = Math.min(
      this.#config.burst,
      this.#tokens + (elapsed / 1000) * this.#config.perSec,
    );
    return this.#tokens;
  }

  /** Takes one token if available. */
  take(nowMs: number): boolean {
    if (this.tokens(nowMs) < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
