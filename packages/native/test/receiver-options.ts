/** Jitter-buffer options for receiver tests: the client engine's (jitter-options.ts), 20 ms floor. */
import type { NativeJitterOptions } from '../receiver.ts';

export const JITTER: NativeJitterOptions = {
  tickMs: 5,
  minDelayMs: 20,
  maxDelayMs: 500,
  inOrderQuantile: 0.9,
  accelerateAtTicks: 2,
  initialDelayMs: 20,
};
