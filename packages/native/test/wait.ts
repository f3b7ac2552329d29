/**
 * Waiting on a condition instead of a fixed sleep: on a loaded machine a sleep stretches and a
 * native thread falls behind, so "after 400 ms" no longer means "after 20 frames"; a condition
 * checked every few ms means the same thing on any machine.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Resolves once `condition()` holds, checking every `pollMs` ms (default 5); rejects naming
 * `what` after `timeoutMs` ms (default 10 000).
 */
export async function waitFor(
  condition: () => boolean,
  what: string,
  { timeoutMs = 10_000, pollMs = 5 }: { timeoutMs?: number; pollMs?: number } = {},
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(pollMs);
  }
}
