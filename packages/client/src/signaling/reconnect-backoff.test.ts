/**
 * Reconnecting during a call waits at most IN_CALL_BACKOFF_MAX_MS between attempts (issue 21
 * §3: a relayed call's audio comes back only after the re-attach), outside a call the usual
 * backoff up to 30 s.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelayMs } from '@parloir/protocol';
import { IN_CALL_BACKOFF_MAX_MS, reconnectBackoff } from './signaling-client.ts';

test('the reconnect backoff is capped during a call only', () => {
  const worst = { random: () => 0.999 };
  const idle = reconnectBackoff(worst, false);
  const inCall = reconnectBackoff(worst, true);
  assert.ok(backoffDelayMs(6, idle) > 15_000, 'idle: grows to the 30 s cap');
  for (let attempt = 0; attempt < 20; attempt++) {
    assert.ok(backoffDelayMs(attempt, inCall) <= IN_CALL_BACKOFF_MAX_MS, `attempt ${attempt}`);
  }
  // A smaller cap of the caller's own stays.
  assert.equal(reconnectBackoff({ maxMs: 500 }, true)?.maxMs, 500);
  assert.equal(reconnectBackoff(undefined, false), undefined);
});
