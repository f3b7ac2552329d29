/**
 * The path monitor's decisions on a fake clock: an address that went away, a silent pair, the
 * hold-off after a restart (doubling while restarts do not bring packets back), and no decision
 * while a restart is under way or while packets flow.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PathMonitor, type PathObservation } from './path-monitor.ts';

const host = { address: '127.0.0.2', type: 'host' };
const obs = (o: Partial<PathObservation> & { nowMs: number }): PathObservation => ({
  packetsReceived: 0,
  restarting: false,
  local: host,
  interfaceAddresses: ['127.0.0.1', '127.0.0.2'],
  iceState: 'connected',
  ...o,
});

test('packets flowing on a present address: no restart', () => {
  const m = new PathMonitor({ silenceMs: 2000 });
  for (let t = 0; t <= 10_000; t += 500) {
    assert.equal(m.handleInput(obs({ nowMs: t, packetsReceived: t / 10 })), undefined, `t=${t}`);
  }
});

test('the local host address goes away: address-changed at the next poll', () => {
  const m = new PathMonitor();
  assert.equal(m.handleInput(obs({ nowMs: 0, packetsReceived: 1 })), undefined);
  const gone = obs({ nowMs: 500, packetsReceived: 2, interfaceAddresses: ['127.0.0.1'] });
  assert.equal(m.handleInput(gone), 'address-changed');
  // Not judged for a relayed candidate (the address is the relay's), nor without a list.
  const relayed = { ...gone, local: { address: '127.0.0.2', type: 'relay' } };
  assert.equal(new PathMonitor().handleInput(relayed), undefined);
  assert.equal(
    new PathMonitor().handleInput({ ...gone, interfaceAddresses: undefined }),
    undefined,
  );
});

test('a silent pair is consent-failed after silenceMs; werift failed/disconnected at once', () => {
  const m = new PathMonitor({ silenceMs: 2000 });
  assert.equal(m.handleInput(obs({ nowMs: 0, packetsReceived: 100 })), undefined);
  assert.equal(m.handleInput(obs({ nowMs: 1900, packetsReceived: 100 })), undefined);
  assert.equal(m.handleInput(obs({ nowMs: 2000, packetsReceived: 100 })), 'consent-failed');
  const w = new PathMonitor();
  assert.equal(w.handleInput(obs({ nowMs: 0, iceState: 'disconnected' })), 'consent-failed');
  assert.equal(
    new PathMonitor().handleInput(obs({ nowMs: 0, iceState: 'failed' })),
    'consent-failed',
  );
});

test('after a restart: quiet for holdOffMs, doubled while restarts do not help, reset by packets', () => {
  const m = new PathMonitor({ silenceMs: 1000, holdOffMs: 3000 });
  m.handleInput(obs({ nowMs: 0, packetsReceived: 5 }));
  assert.equal(m.handleInput(obs({ nowMs: 1000, packetsReceived: 5 })), 'consent-failed');
  m.restarted(1000);
  assert.equal(m.handleInput(obs({ nowMs: 3900, packetsReceived: 5 })), undefined, 'held off');
  assert.equal(m.handleInput(obs({ nowMs: 4000, packetsReceived: 5 })), 'consent-failed');
  m.restarted(4000);
  assert.equal(m.handleInput(obs({ nowMs: 9900, packetsReceived: 5 })), undefined, '2× hold-off');
  assert.equal(m.handleInput(obs({ nowMs: 10_000, packetsReceived: 5 })), 'consent-failed');
  m.restarted(10_000);
  // Packets came back: the next failure is held off for holdOffMs only.
  assert.equal(m.handleInput(obs({ nowMs: 10_500, packetsReceived: 50 })), undefined);
  m.restarted(11_000);
  assert.equal(m.handleInput(obs({ nowMs: 13_900, packetsReceived: 50 })), undefined);
  assert.equal(m.handleInput(obs({ nowMs: 14_000, packetsReceived: 50 })), 'consent-failed');
  // Nothing is decided while a restart is under way.
  assert.equal(
    m.handleInput(obs({ nowMs: 20_000, packetsReceived: 50, restarting: true })),
    undefined,
  );
  assert.ok(m.silentForMs(20_000) >= 6000);
});
