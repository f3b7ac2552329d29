/**
 * The soak benchmark's short version (npm run bench:soak runs it for longer): 4 native calls
 * through one server process for 2 minutes, 2 of them relayed, with presence and chat churn.
 * After warm-up the server's and one client's RSS grow less than 5 %, their file descriptors stay
 * flat, and no call drops.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSoak } from '../../bench/soak.ts';

test('soak, 2 minutes: 4 calls (2 relayed) with churn — no growth, no fd leak, no drop', async () => {
  const r = await runSoak({
    calls: 4,
    minutes: 2,
    sampleSeconds: 5,
    warmupSeconds: 30,
    log: (l) => console.log(l),
  });
  console.log(JSON.stringify(r));
  assert.deepEqual(r.dropReasons, []);
  assert.equal(r.droppedCalls, 0);
  assert.equal(r.relayedCalls, 2);
  for (const who of ['server', 'client'] as const) {
    assert.ok(r[who].rssGrowthPct < 5, `${who} RSS grew ${r[who].rssGrowthPct} %`);
    // Flat: a socket or two may be mid-open or mid-close at a sample (churn, DNS-free TCP).
    assert.ok(r[who].fdGrowth <= 2, `${who} fds grew by ${r[who].fdGrowth}`);
  }
  assert.ok(r.presenceCycles >= 4, `${r.presenceCycles} presence cycles`);
  assert.ok(
    r.chat.acked > 0 && r.chat.acked === r.chat.sent,
    `chat ${r.chat.acked}/${r.chat.sent} acked`,
  );
});
