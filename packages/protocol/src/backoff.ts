/**
 * Reconnect policy, kept outside the session state machine (STYLE.md): capped exponential
 * backoff with full jitter (AWS architecture blog, "Exponential Backoff And Jitter").
 */

/** Backoff parameters. */
export interface BackoffOptions {
  /** First delay before jitter, ms. Default 500. */
  baseMs?: number;
  /** Cap on the delay before jitter, ms. Default 30 000. */
  maxMs?: number;
  /** Uniform random number in [0, 1). Default Math.random. */
  random?: () => number;
}

/**
 * Delay before reconnect attempt `attempt` (0 = first retry), ms: uniform in
 * [cap/2, cap] where cap = min(maxMs, baseMs × 2^attempt). Half-jitter keeps a floor so a
 * flapping server is not hammered while still spreading clients apart.
 */
export function backoffDelayMs(attempt: number, opts: BackoffOptions = {}): number {
  const base = opts.baseMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const random = opts.random ?? Math.random;
  const cap = Math.min(max, base * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.round(cap / 2 + random() * (cap / 2));
}
