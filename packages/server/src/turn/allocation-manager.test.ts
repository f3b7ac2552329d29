import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AllocationManager, type AllocationManagerOptions } from './allocation-manager.ts';
import type { AllocationInit } from './allocation.ts';
import { bindChannel } from './channel-bind.ts';
import { T0, makeCore, client, reply, creds, allocate, errorOf } from './core-test-kit.ts';
import { installPermission } from './permission.ts';

test('quotas per user and per call give 486', () => {
  const { core, logs } = makeCore({ maxAllocationsPerUser: 2, maxAllocationsPerCall: 3 });
  allocate(core, client(), creds('c1', 'alice'));
  allocate(core, client(), creds('c1', 'alice'));
  const c = client();
  const tc = creds('c1', 'alice');
  tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
  assert.equal(errorOf(tc, core.handleClientPacket(c, tc.allocate(), T0)), 486);
  allocate(core, client(), creds('c1', 'bob'));
  const d = client();
  const td = creds('c1', 'bob');
  td.read(reply(core.handleClientPacket(d, td.allocate(), T0)));
  assert.equal(errorOf(td, core.handleClientPacket(d, td.allocate(), T0)), 486);
  assert.ok(logs.includes('turn request refused'));
});

/** A manager on its own, recording its change hook and log lines. */
function manager(o: Partial<AllocationManagerOptions> = {}) {
  const changes: string[] = [];
  const logs: string[] = [];
  const m = new AllocationManager({
    maxAllocationsPerUser: 8,
    maxAllocationsPerCall: 16,
    maxAllocations: 10_000,
    bandwidthBytesPerSec: 1000,
    bench: false,
    logger: { info: (_o, msg) => logs.push(msg), warn: (_o, msg) => logs.push(msg) },
    onChange: (a, deleted) => changes.push(`${deleted ? 'del' : 'set'}:${a.relay.port}`),
    ...o,
  });
  return { m, changes, logs };
}

function init(userId: string, relayPortNumber: number, o: Partial<AllocationInit> = {}) {
  const port = relayPortNumber + 1000;
  return {
    client: { transport: 'udp' as const, ip: '198.51.100.7', port, key: `udp:x:${port}` },
    username: `u-${userId}`,
    callId: 'c1',
    userId,
    key: Buffer.alloc(16),
    relay: { ip: '192.0.2.1', port: relayPortNumber },
    lifetimeSec: 600,
    allocateTid: '',
    allocateResponse: Buffer.alloc(0),
    tcpRelay: false,
    ...o,
  };
}

test('the set indexes each allocation by client, relay port and call; deletion undoes all, once', () => {
  const { m, changes, logs } = manager();
  const a = m.create(init('alice', 50001), T0);
  const b = m.create(init('bob', 50002), T0);
  assert.equal(m.size, 2);
  assert.equal(m.byClient(a.client.key), a);
  assert.equal(m.byRelayPort(50002), b);
  assert.deepEqual([...(m.ofCall('c1') ?? [])], [a, b]);
  assert.equal(a.bucketBytes, 1000, 'the bucket starts full');
  m.delete(a, 'test');
  m.delete(a, 'again');
  assert.ok(a.deleted);
  assert.equal(m.byClient(a.client.key), undefined);
  assert.equal(m.byRelayPort(50001), undefined);
  assert.deepEqual([...(m.ofCall('c1') ?? [])], [b]);
  assert.deepEqual(changes, ['set:50001', 'set:50002', 'del:50001']);
  assert.equal(logs.filter((l) => l === 'turn allocation deleted').length, 1);
  assert.deepEqual(m.deleteCall('c1'), [b]);
  assert.equal(m.ofCall('c1'), undefined);
  assert.equal(m.size, 0);
});

test('quotaRefusal: the total cap, then per user and per call outside bench mode', () => {
  const { m } = manager({ maxAllocationsPerUser: 1, maxAllocationsPerCall: 2, maxAllocations: 3 });
  assert.equal(m.quotaRefusal('c1', 'alice'), undefined);
  m.create(init('alice', 50011), T0);
  assert.deepEqual(m.quotaRefusal('c1', 'alice'), { code: 486, why: 'per-user allocation quota' });
  m.create(init('bob', 50012), T0);
  assert.deepEqual(m.quotaRefusal('c1', 'carol'), { code: 486, why: 'per-call allocation quota' });
  assert.equal(m.quotaRefusal('c2', 'alice'), undefined, 'another call has its own quota');
  m.create(init('dave', 50013, { callId: 'c2' }), T0);
  assert.deepEqual(m.quotaRefusal('c3', 'eve'), { code: 486, why: 'server allocation quota' });
  const bench = manager({ bench: true, maxAllocationsPerUser: 1 }).m;
  bench.create(init('alice', 50014), T0);
  assert.equal(bench.quotaRefusal('c1', 'alice'), undefined);
});

test('expire on the fake clock: permissions, channels and allocations go when due; nextExpiryMs says when', () => {
  const { m } = manager();
  const a = m.create(init('alice', 50021), T0);
  const b = m.create(init('bob', 50022, { lifetimeSec: 1200 }), T0);
  assert.equal(m.nextExpiryMs(), T0 + 600_000);
  installPermission(a, '203.0.113.20', T0);
  bindChannel(b, 0x4000, { ip: '203.0.113.20', port: 9 }, T0 + 100_000);
  assert.equal(m.nextExpiryMs(), T0 + 300_000);
  assert.deepEqual(m.expire(T0 + 299_999), []);
  assert.equal(a.permissions.size, 1);
  assert.deepEqual(m.expire(T0 + 300_000), []);
  assert.equal(a.permissions.size, 0);
  assert.equal(m.nextExpiryMs(), T0 + 400_000, "b's channel permission");
  assert.deepEqual(m.expire(T0 + 600_000), [a]);
  assert.ok(a.deleted);
  assert.equal(b.channels.size, 1);
  assert.deepEqual(m.expire(T0 + 700_000), []);
  assert.equal(b.channels.size, 0);
  assert.deepEqual(m.expire(T0 + 1_200_000), [b]);
  assert.equal(m.nextExpiryMs(), undefined);
});

test('isLiveRelayPort: live, unexpired, and of the right kind (UDP socket or RFC 6062 listener)', () => {
  const { m } = manager();
  m.create(init('alice', 50031), T0);
  m.create(init('bob', 50032, { tcpRelay: true }), T0);
  assert.ok(m.isLiveRelayPort(50031, 'udp', T0));
  assert.ok(!m.isLiveRelayPort(50031, 'tcp', T0));
  assert.ok(m.isLiveRelayPort(50032, 'tcp', T0));
  assert.ok(!m.isLiveRelayPort(50033, 'udp', T0));
  assert.ok(!m.isLiveRelayPort(50031, 'udp', T0 + 600_000), 'expired');
});
