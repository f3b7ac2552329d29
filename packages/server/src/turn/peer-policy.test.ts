import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerPolicy, classifyIPv4, ipv4ToInt } from './peer-policy.ts';

test('classifyIPv4: the special-purpose ranges', () => {
  const cases: [string, ReturnType<typeof classifyIPv4>][] = [
    ['0.0.0.0', 'unspecified'],
    ['0.255.1.1', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.0.1', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.0.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.128.0.1', 'public'],
    ['8.8.8.8', 'public'],
    ['1.2.3', 'reserved'],
    ['1.2.3.256', 'reserved'],
    ['::1', 'reserved'],
  ];
  for (const [ip, cls] of cases) assert.equal(classifyIPv4(ip), cls, ip);
  assert.equal(ipv4ToInt('255.255.255.255'), 0xffffffff);
  assert.equal(ipv4ToInt('01.2.3.4x'), undefined);
});

test('PeerPolicy: the relay address by IP, then only its live relay ports', () => {
  const p = new PeerPolicy({ selfAddresses: ['192.0.2.1', '10.0.0.2'] });
  const live = (port: number) => port === 50000;
  assert.deepEqual(p.checkIp('192.0.2.1', '192.0.2.1'), { ok: true });
  assert.deepEqual(p.checkPort('192.0.2.1', 50000, '192.0.2.1', live), { ok: true });
  assert.deepEqual(p.checkPort('192.0.2.1', 22, '192.0.2.1', live), {
    ok: false,
    reason: 'peer-self-port',
  });
  // Another address of this machine is never a peer, not even on a relay port number.
  assert.deepEqual(p.checkIp('10.0.0.2', '192.0.2.1'), { ok: false, reason: 'peer-self' });
  assert.deepEqual(p.checkPort('10.0.0.2', 50000, '192.0.2.1', live), {
    ok: false,
    reason: 'peer-self-port',
  });
  // A stranger's port is not this module's business (the permission is).
  assert.deepEqual(p.checkPort('198.51.100.1', 22, '192.0.2.1', live), { ok: true });
});

test('PeerPolicy: loopback refused unless opted in; relay on loopback still reachable on live ports', () => {
  const strict = new PeerPolicy();
  const live = (port: number) => port === 50000;
  assert.deepEqual(strict.checkIp('127.0.0.1', '192.0.2.1'), {
    ok: false,
    reason: 'peer-loopback',
  });
  // A relay bound to loopback (tests): its own live ports are reachable, nothing else on it.
  assert.deepEqual(strict.checkIp('127.0.0.1', '127.0.0.1'), { ok: true });
  assert.deepEqual(strict.checkPort('127.0.0.1', 50000, '127.0.0.1', live), { ok: true });
  assert.equal(strict.checkPort('127.0.0.1', 5432, '127.0.0.1', live).ok, false);
  assert.deepEqual(strict.checkIp('127.0.0.2', '127.0.0.1'), {
    ok: false,
    reason: 'peer-loopback',
  });
  const dev = new PeerPolicy({ allowLoopbackPeers: true });
  assert.equal(dev.allowLoopbackPeers, true);
  assert.deepEqual(dev.checkIp('127.0.0.2', '192.0.2.1'), { ok: true });
  assert.deepEqual(dev.checkPort('127.0.0.1', 5432, '127.0.0.1', live), { ok: true });
  // Link-local and multicast stay refused even then.
  assert.equal(dev.checkIp('169.254.1.1', '127.0.0.1').ok, false);
  assert.equal(dev.checkIp('224.0.0.1', '127.0.0.1').ok, false);
});

test('PeerPolicy: private ranges allowed by default, refused with privatePeers deny', () => {
  assert.deepEqual(new PeerPolicy().checkIp('192.168.1.5', '192.0.2.1'), { ok: true });
  const deny = new PeerPolicy({ privatePeers: 'deny' });
  assert.deepEqual(deny.checkIp('192.168.1.5', '192.0.2.1'), { ok: false, reason: 'peer-private' });
  // A relay address in a private range keeps its relay ports reachable.
  assert.deepEqual(deny.checkIp('192.168.1.2', '192.168.1.2'), { ok: true });
  const p = new PeerPolicy();
  p.addSelf('203.0.113.5');
  assert.equal(p.isSelf('203.0.113.5'), true);
  assert.equal(p.checkIp('203.0.113.5', '192.0.2.1').ok, false);
});
