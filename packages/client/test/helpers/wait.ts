/**
 * Waiting on conditions instead of fixed sleeps: a loaded 2-core machine stretches any fixed
 * sleep's meaning, a condition checked every few ms does not.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown when a condition did not come true in time. */
export class WaitTimeoutError extends Error {
  readonly code = 'TEST_ERR_WAIT_TIMEOUT';
}

/**
 * Resolves once `condition()` is true, checking every `pollMs` (default 20); rejects with
 * {@link WaitTimeoutError} naming `what` after `timeoutMs`.
 */
export async function waitFor(
  condition: () => boolean,
  what: string,
  timeoutMs = 30_000,
  pollMs = 20,
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > end)
      throw new WaitTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(pollMs);
  }
}
