/**
 * A one-shot timer on libuv's own timer heap, for a deadline that moves on every packet.
 *
 * Node's `setTimeout` shares one libuv timer per process that is only ever moved earlier: a
 * timeout cleared (or replaced by a later one) from an I/O callback still wakes the process at
 * its old expiry, where the loop finds nothing due and sleeps again. A fallback deadline pushed
 * back at each packet then costs one idle process wakeup per packet (measured: 50 packets/s with
 * a 23 ms deadline re-armed at each, 943 main-thread wakeups in 10 s with `setTimeout`, 489 with
 * this timer, 451 with no timer at all). `arm` really moves the expiry, later or earlier.
 * @module
 */
import { addon, type RawNativeTimer } from './addon.ts';
import { NativeError } from './errors.ts';

/** A re-armable one-shot timer. Keeps the process alive while armed, as `setTimeout` does. */
export class NativeTimer {
  #raw: RawNativeTimer;
  #closed = false;

  /** `callback` runs on the event loop (with microtasks after it), like a timer callback. */
  constructor(callback: () => void) {
    if (typeof callback !== 'function') {
      throw new NativeError('NATIVE_ERR_BAD_ARG', 'callback must be a function');
    }
    this.#raw = new addon.NativeTimer(callback);
  }

  /**
   * Fires once after `delayMs` (rounded up to a whole ms, as libuv counts; 0 = next loop turn),
   * replacing any pending expiry.
   */
  arm(delayMs: number): void {
    if (this.#closed) throw new NativeError('NATIVE_ERR_CLOSED', 'the timer is closed');
    if (typeof delayMs !== 'number' || !(delayMs >= 0) || delayMs > 2 ** 31 - 1) {
      throw new NativeError(
        'NATIVE_ERR_BAD_ARG',
        `delayMs must be a number in [0, 2^31 - 1], got ${String(delayMs)}`,
      );
    }
    this.#raw.arm(Math.ceil(delayMs));
  }

  /** Cancels the pending expiry, if any (no wakeup for it). */
  disarm(): void {
    if (!this.#closed) this.#raw.disarm();
  }

  /** Cancels and frees the timer. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#raw.close();
  }
}
