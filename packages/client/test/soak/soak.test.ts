/**
 * The soak benchmark's short version (npm run bench:soak runs it for longer): 6 native calls
 * through one server process over 2 minutes, 3 of them relayed, 4 at a time — the probed call
 * lasts the whole run, and three lanes make the other five back to back, as the long run makes
 * its 200 — with presence and chat churn. After warm-up the server's and one client's RSS grow
 * less than 5 %, their file descriptors stay flat, and no call drops.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runSoak } from '../../bench/soak.ts';

test('soak, 2 minutes: 6 calls (3 relayed, 4 at a time) with churn — no growth, no fd leak, no drop', async () => {
  const r = await runSoak({
    calls: 6,
    concurrent: 4,
    minutes: 2,
    sampleSeconds: 5,
    // Half the run: the first minute still holds start-up growth (JIT, buffers filling).
    warmupSeconds: 50,
    log: (l) => console.log(l),
  });
  console.log(JSON.stringify(r));
  assert.deepEqual(r.dropReasons, []);
  assert.equal(r.droppedCalls, 0);
  assert.equal(r.calls, 6);
  assert.equal(r.relayedCalls, 3);
  for (const who of ['server', 'client'] as const) {
    assert.ok(r[who].rssGrowthPct < 5, `${who} RSS grew ${r[who].rssGrowthPct} %`);
    // Flat: at a sample, each of the 4 churn clients may or may not hold its WebSocket (it logs
    // in and out every few seconds), so the server's count moves by up to 4 without a leak; a
    // leak of one fd per presence cycle would add about 150 over this run.
    const slack = who === 'server' ? 4 + 2 : 2;
    assert.ok(r[who].fdGrowth <= slack, `${who} fds grew by ${r[who].fdGrowth}`);
  }
  assert.ok(r.presenceCycles >= 4, `${r.presenceCycles} presence cycles`);
  assert.ok(
    r.chat.acked > 0 && r.chat.acked === r.chat.sent,
    `chat ${r.chat.acked}/${r.chat.sent} acked`,
  );
});
