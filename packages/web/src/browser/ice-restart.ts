/**
 * When the page's call restarts ICE (issue 21 §2, browser side): the decision alone, with time
 * as an argument, so it is tested without a browser; webrtc-call.ts feeds it the peer
 * connection's ICE states and runs what it decides on a timer.
 *
 * - `failed` restarts at once; `disconnected` restarts once it has lasted
 *   {@link IceRestartPolicyOptions.disconnectedMs} (a consent check or two lost is no reason to
 *   restart; a dead TURN allocation is).
 * - A signalling re-attach (ours, or the peer's `call.peerReconnected`) restarts at once: the
 *   server may have restarted, and the relay allocations died with it.
 * - A restart not followed by `connected`/`completed` within
 *   {@link IceRestartPolicyOptions.retryMs} is tried again (its offer may have been lost while
 *   the peer was away), at most {@link IceRestartPolicyOptions.maxAttempts} times in a row.
 *
 * Who restarts: the offerer makes the restart offer; the answerer sends `restart-request`
 * (packages/protocol), so two ends restarting at once cannot collide — the caller's offer wins.
 * @module
 */
import type { IceRestartReason } from '@parloir/protocol';

/** Options of {@link IceRestartPolicy}. */
export interface IceRestartPolicyOptions {
  /** How long `disconnected` lasts before a restart, ms. */
  disconnectedMs: number;
  /** How long a restart may take to reach `connected` before it is tried again, ms. */
  retryMs: number;
  /** Restarts in a row without reaching `connected` before giving up (media then fails). */
  maxAttempts: number;
  /**
   * A peer's `restart-request` this soon after our last restart crossed our offer on the wire,
   * ms: it is not restarted again, which would roll back the offer the peer is answering.
   */
  coalesceMs: number;
}

/** The defaults the page uses. */
export const ICE_RESTART_DEFAULTS: IceRestartPolicyOptions = {
  disconnectedMs: 2_000,
  retryMs: 4_000,
  maxAttempts: 30,
  coalesceMs: 1_000,
};

/** The ICE connection states the policy reads (RTCIceConnectionState). */
export type IceState = 'new' | 'checking' | 'connected' | 'completed' | 'disconnected' | 'failed';

/** Decides when a call restarts ICE. Sans-IO: time comes in as `nowMs`. */
export class IceRestartPolicy {
  #o: IceRestartPolicyOptions;
  /** When the next restart is due, Unix ms, and why; undefined: none due. */
  #due: { atMs: number; reason: IceRestartReason } | undefined;
  #attempts = 0;
  #restarting = false;
  /** When the last restart was made, Unix ms. */
  #lastRestartMs = -Infinity;
  #state: IceState = 'new';

  constructor(options: Partial<IceRestartPolicyOptions> = {}) {
    this.#o = { ...ICE_RESTART_DEFAULTS, ...options };
  }

  /** Whether a restart is under way (started, and ICE not connected since). */
  get restarting(): boolean {
    return this.#restarting;
  }

  /** Whether {@link IceRestartPolicyOptions.maxAttempts} restarts in a row have failed. */
  get exhausted(): boolean {
    return this.#attempts >= this.#o.maxAttempts && this.#due === undefined;
  }

  /** Restarts started in a row without reaching `connected`. */
  get attempts(): number {
    return this.#attempts;
  }

  /** The peer connection's ICE state changed (or was read after a negotiation). */
  handleIceState(state: IceState, nowMs: number): void {
    const was = this.#state;
    this.#state = state;
    if (state === 'connected' || state === 'completed') {
      this.#due = undefined;
      this.#attempts = 0;
      this.#restarting = false;
    } else if (state === 'failed') {
      this.#schedule(nowMs, 'consent-failed');
    } else if (state === 'disconnected' && was !== 'disconnected') {
      this.#schedule(nowMs + this.#o.disconnectedMs, 'consent-failed');
    }
  }

  /**
   * Asks for a restart now: a re-attach (ours, or the peer's: an offer made while it was away
   * was lost), or with `fromPeer` the answerer's `restart-request` at the offerer, ignored when
   * it crossed our own restart offer.
   */
  request(reason: IceRestartReason, nowMs: number, fromPeer = false): void {
    if (fromPeer && this.#restarting && nowMs - this.#lastRestartMs < this.#o.coalesceMs) return;
    this.#attempts = 0;
    this.#schedule(nowMs, reason);
  }

  /** When {@link poll} next has something to do, Unix ms; undefined: nothing scheduled. */
  nextTimeoutMs(): number | undefined {
    return this.#due?.atMs;
  }

  /**
   * The restart to make now, if one is due: the caller makes it (an offer, or a request to the
   * offerer). Schedules the retry, in case it does not reach `connected`.
   */
  poll(nowMs: number): IceRestartReason | undefined {
    const due = this.#due;
    if (due === undefined || due.atMs > nowMs) return undefined;
    if (this.#attempts >= this.#o.maxAttempts) {
      this.#due = undefined;
      return undefined;
    }
    this.#attempts++;
    this.#restarting = true;
    this.#lastRestartMs = nowMs;
    this.#due = { atMs: nowMs + this.#o.retryMs, reason: due.reason };
    return due.reason;
  }

  /**
   * A restart's offer/answer completed: if ICE still reports `connected` (the old pair worked
   * all along, as after a mere signalling cut), the restart is over.
   */
  negotiated(state: IceState, nowMs: number): void {
    if (state === 'connected' || state === 'completed') this.handleIceState(state, nowMs);
  }

  #schedule(atMs: number, reason: IceRestartReason): void {
    if (this.#due === undefined || this.#due.atMs > atMs) this.#due = { atMs, reason };
  }
}
