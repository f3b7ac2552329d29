/** Scheduler statistics of the calling thread, for the signalling benchmark's stall traces. */
import { readFileSync } from 'node:fs';

/** This thread's CPU time and run-queue wait so far (Linux /proc/thread-self/schedstat), ms. */
export function schedstat(): { runMs: number; waitMs: number } {
  try {
    const [run, wait] = readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ');
    return { runMs: Number(run) / 1e6, waitMs: Number(wait) / 1e6 };
  } catch {
    return { runMs: NaN, waitMs: NaN };
  }
}
