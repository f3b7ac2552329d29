/**
 * Target playout delay from the distribution of relative arrival delay, the way WebRTC NetEQ's
 * DelayManager does it: each packet's transit (arrival − send timestamp) is taken relative to the
 * fastest packet of a recent window, which cancels the unknown clock offset, slow clock drift and
 * route changes; the target is a high quantile of those relative delays over a sliding history.
 *
 * Two quantiles are kept, because the two ways a packet can be "too slow" cost differently:
 * - a packet overtaken by a later one (reordered) is *late* if the buffer gives up on it before
 *   it arrives: that is a lost packet, so the target covers a high quantile (`quantile`, 0.99) of
 *   the lateness risk r = (reordered ? relative delay : 0);
 * - a packet that arrives in order is never late: when it is missing the buffer is empty and just
 *   waits (expands), which costs a little concealment, not a packet; so the target only needs to
 *   cover a lower quantile (`inOrderQuantile`, 0.95, what WebRTC NetEQ uses) of relative delay.
 *   This also keeps one handover stall (a burst of in-order packets) from inflating the target.
 * Sans-IO: times are passed in.
 */

/** Options of {@link DelayEstimator}. */
export interface DelayEstimatorOptions {
  /** Quantile of relative delay the target covers, 0..1. Default 0.99. */
  quantile?: number;
  /** Proportional headroom on the risk quantile, e.g. 0.08 = +8 %. Default 0.08. */
  riskHeadroom?: number;
  /** Quantile of relative delay over all packets the target covers, 0..1. Default 0.95. */
  inOrderQuantile?: number;
  /** Window for the minimum transit (the "fastest packet" reference), ms. Default 2000. */
  minWindowMs?: number;
  /** History the quantile is taken over, ms. Default 10000. */
  historyMs?: number;
  /** Cap on samples kept in the history (bounds memory and CPU). Default 2000. */
  maxSamples?: number;
}

/**
 * Sliding-window estimator of relative delay. Memory and time per insert are bounded by
 * `maxSamples`.
 */
export class DelayEstimator {
  readonly #quantile: number;
  readonly #inOrderQuantile: number;
  readonly #riskHeadroom: number;
  readonly #minWindowMs: number;
  readonly #historyMs: number;
  readonly #maxSamples: number;
  /** Monotonic deque of (arrival ms, transit ms) for the sliding minimum. */
  #minDeque: { at: number; transit: number }[] = [];
  /** History in arrival order, and the same values sorted. */
  #history: { at: number; rel: number; risk: number }[] = [];
  #sorted: number[] = [];
  #sortedRisk: number[] = [];

  constructor(options: DelayEstimatorOptions = {}) {
    this.#quantile = Math.min(1, Math.max(0, options.quantile ?? 0.99));
    this.#riskHeadroom = Math.max(0, options.riskHeadroom ?? 0.08);
    this.#inOrderQuantile = Math.min(1, Math.max(0, options.inOrderQuantile ?? 0.95));
    this.#minWindowMs = options.minWindowMs ?? 2000;
    this.#historyMs = options.historyMs ?? 10000;
    this.#maxSamples = Math.max(1, options.maxSamples ?? 2000);
  }

  /**
   * Records one arrival.
   * @param arrivalMs receiver clock, ms.
   * @param sendMs sender media time of the packet (RTP timestamp converted to ms).
   * @param reordered whether a packet sent after this one has already arrived.
   * @returns the packet's relative delay, ms.
   */
  insert(arrivalMs: number, sendMs: number, reordered = false): number {
    const transit = arrivalMs - sendMs;
    const dq = this.#minDeque;
    const oldMin = dq[0]?.transit;
    while (dq.length > 0 && (dq[dq.length - 1]?.transit ?? -Infinity) >= transit) dq.pop();
    dq.push({ at: arrivalMs, transit });
    while (dq.length > 1 && (dq[0]?.at ?? arrivalMs) < arrivalMs - this.#minWindowMs) dq.shift();
    const newMin = dq[0]?.transit ?? transit;
    if (oldMin !== undefined && newMin - oldMin > REBASE_MS) {
      // The path got slower (route change) and the old minimum just left the window: the
      // samples of the last window were measured against that stale minimum, so they carry the
      // step. Re-base them, or the target would stay a whole step too high for `historyMs`.
      this.#rebase(arrivalMs - this.#minWindowMs, newMin - oldMin);
    }
    const rel = transit - newMin;
    const risk = reordered ? rel : 0;
    this.#history.push({ at: arrivalMs, rel, risk });
    insertSorted(this.#sorted, rel);
    insertSorted(this.#sortedRisk, risk);
    while (
      this.#history.length > this.#maxSamples ||
      (this.#history.length > 1 &&
        (this.#history[0]?.at ?? arrivalMs) < arrivalMs - this.#historyMs)
    ) {
      const old = this.#history.shift();
      if (old) {
        removeSorted(this.#sorted, old.rel);
        removeSorted(this.#sortedRisk, old.risk);
      }
    }
    return rel;
  }

  #rebase(sinceMs: number, stepMs: number): void {
    for (const h of this.#history) {
      if (h.at < sinceMs) continue;
      removeSorted(this.#sorted, h.rel);
      removeSorted(this.#sortedRisk, h.risk);
      h.rel = Math.max(0, h.rel - stepMs);
      h.risk = h.risk > 0 ? Math.max(0, h.risk - stepMs) : 0;
      insertSorted(this.#sorted, h.rel);
      insertSorted(this.#sortedRisk, h.risk);
    }
  }

  /** Minimum transit over the recent window, ms (arrival clock − sender clock). */
  get minTransitMs(): number | undefined {
    return this.#minDeque[0]?.transit;
  }

  /** The chosen quantile of relative delay over the history, ms (0 before any packet). */
  quantileMs(q = this.#inOrderQuantile): number {
    return pick(this.#sorted, q);
  }

  /** The chosen quantile of lateness risk over the history, ms. */
  riskQuantileMs(q = this.#quantile): number {
    return pick(this.#sortedRisk, q);
  }

  /**
   * Delay that covers both quantiles, ms: the buffer's target before bounds and margin. The risk
   * quantile gets `riskHeadroom` (8 %) on top: the quantile of a finite window is noisy, and a
   * proportional headroom costs little where the distribution is narrow.
   */
  targetMs(): number {
    return Math.max(this.quantileMs(), this.riskQuantileMs() * (1 + this.#riskHeadroom));
  }

  /** Number of samples in the history. */
  get size(): number {
    return this.#sorted.length;
  }

  /** Forgets everything. */
  reset(): void {
    this.#minDeque = [];
    this.#history = [];
    this.#sorted = [];
    this.#sortedRisk = [];
  }
}

function pick(s: number[], q: number): number {
  if (s.length === 0) return 0;
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[idx] ?? 0;
}

/** A rise of the path's minimum transit larger than this is treated as a route change, ms. */
const REBASE_MS = 10;

function lowerBound(a: number[], v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((a[mid] ?? 0) < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(a: number[], v: number): void {
  a.splice(lowerBound(a, v), 0, v);
}

function removeSorted(a: number[], v: number): void {
  const i = lowerBound(a, v);
  if (a[i] === v) a.splice(i, 1);
}
