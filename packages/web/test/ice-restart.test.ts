/**
 * The page's ICE restart decisions (src/browser/ice-restart.ts) on a fake clock: when a call
 * restarts, when it tries again, when it stops. The browser runs them in reconnect.test.ts.
 * In native mode the engine restarts; its QoS snapshot's `pathState` reaches the page.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseControlPush } from '@parloir/protocol';
import { IceRestartPolicy } from '../src/browser/ice-restart.ts';

const T0 = 1_000_000;

test('failed restarts at once; disconnected only once it has lasted 2 s', () => {
  const p = new IceRestartPolicy({ disconnectedMs: 2_000, retryMs: 4_000 });
  p.handleIceState('connected', T0);
  assert.equal(p.nextTimeoutMs(), undefined);
  p.handleIceState('disconnected', T0 + 100);
  assert.equal(p.poll(T0 + 2_099), undefined, 'a lost consent check or two is no restart');
  // Back by itself: nothing to do.
  p.handleIceState('connected', T0 + 1_000);
  assert.equal(p.poll(T0 + 5_000), undefined);
  p.handleIceState('disconnected', T0 + 6_000);
  assert.equal(p.poll(T0 + 8_000), 'consent-failed');
  assert.equal(p.restarting, true);
  const q = new IceRestartPolicy();
  q.handleIceState('connected', T0);
  q.handleIceState('failed', T0 + 10);
  assert.equal(q.poll(T0 + 10), 'consent-failed');
});

test('a re-attach restarts at once; a restart not connected is tried again every 4 s', () => {
  const p = new IceRestartPolicy({ disconnectedMs: 2_000, retryMs: 4_000 });
  p.handleIceState('connected', T0);
  p.request('reattached', T0 + 50);
  assert.equal(p.nextTimeoutMs(), T0 + 50);
  assert.equal(p.poll(T0 + 50), 'reattached');
  assert.equal(p.poll(T0 + 51), undefined, 'one restart, not one per poll');
  assert.equal(p.nextTimeoutMs(), T0 + 4_050);
  p.handleIceState('checking', T0 + 100);
  assert.equal(p.poll(T0 + 4_050), 'reattached', 'the offer may have been lost: again');
  assert.equal(p.attempts, 2);
  p.handleIceState('connected', T0 + 5_000);
  assert.equal(p.restarting, false);
  assert.equal(p.attempts, 0);
  assert.equal(p.nextTimeoutMs(), undefined);
});

test('a restart on a path that never stopped working ends with its negotiation', () => {
  const p = new IceRestartPolicy();
  p.handleIceState('connected', T0);
  p.request('reattached', T0);
  assert.equal(p.poll(T0), 'reattached');
  assert.equal(p.restarting, true);
  // No ICE state change comes (still connected); the answer was applied.
  p.negotiated('connected', T0 + 300);
  assert.equal(p.restarting, false);
  assert.equal(p.nextTimeoutMs(), undefined, 'no retry');
  // A negotiation while the path is down does not end the restart.
  p.handleIceState('disconnected', T0 + 1_000);
  assert.equal(p.poll(T0 + 3_000), 'consent-failed');
  p.negotiated('disconnected', T0 + 3_200);
  assert.equal(p.restarting, true);
});

test("a peer's restart-request that crossed our offer is not restarted again; a re-attach is", () => {
  const p = new IceRestartPolicy({ coalesceMs: 1_000 });
  p.handleIceState('connected', T0);
  p.handleIceState('failed', T0);
  assert.equal(p.poll(T0), 'consent-failed');
  // The peer asked for the restart we just made: no rollback of the offer it is answering.
  p.request('reattached', T0 + 300, true);
  assert.equal(p.poll(T0 + 300), undefined);
  // The peer re-attached: our offer went out while it was away, so it restarts at once.
  p.request('reattached', T0 + 400);
  assert.equal(p.poll(T0 + 400), 'reattached');
  // Later, a request from the peer restarts at once too.
  p.request('reattached', T0 + 1_500, true);
  assert.equal(p.poll(T0 + 1_500), 'reattached');
});

test('bounded: after maxAttempts restarts in a row without connecting, it gives up', () => {
  const p = new IceRestartPolicy({ retryMs: 1_000, maxAttempts: 3 });
  p.handleIceState('connected', T0);
  p.handleIceState('failed', T0);
  let made = 0;
  for (let t = T0; t < T0 + 60_000; t += 100) if (p.poll(t) !== undefined) made++;
  assert.equal(made, 3);
  assert.equal(p.exhausted, true);
  assert.equal(p.nextTimeoutMs(), undefined);
  // A re-attach later starts a new series.
  p.request('reattached', T0 + 70_000);
  assert.equal(p.exhausted, false);
  assert.equal(p.poll(T0 + 70_000), 'reattached');
});

test("native mode: the engine's pathState crosses the control API (the page shows it)", () => {
  const snapshot = {
    tMs: 1000,
    path: 'relayed',
    pathState: 'restarting',
    rttMs: null,
    lossPct: 0,
    jitterMs: 0,
    sendKbps: 0,
    jitterBuffer: { delayMs: 40 },
    mos: 1,
    grade: 'bad',
    suggestions: [],
    settings: {
      bitrateBps: 32000,
      frameMs: 20,
      fec: true,
      expectedLossPct: 0,
      dtx: false,
      jbMinMs: 20,
      jbMaxMs: 400,
      periodMs: 10,
      gainDb: 0,
      muted: false,
      adapt: true,
    },
  };
  const r = parseControlPush(JSON.stringify({ type: 'qos', snapshot }));
  assert.ok(r.ok && r.value.type === 'qos', r.ok ? '' : r.error.message);
  assert.equal(r.value.snapshot.pathState, 'restarting');
  const bad = parseControlPush(
    JSON.stringify({ type: 'qos', snapshot: { ...snapshot, pathState: 'sideways' } }),
  );
  assert.equal(bad.ok, false);
});
