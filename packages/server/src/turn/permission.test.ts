import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Allocation } from './allocation.ts';
import {
  T0,
  makeCore,
  client,
  creds,
  allocate,
  errorOf,
  twoParties,
  makeAllocation,
  request,
} from './core-test-kit.ts';
import { PeerPolicy } from './peer-policy.ts';
import {
  PERMISSION_LIFETIME_MS,
  checkPeer,
  expirePermissions,
  hasPermission,
  installPermission,
  permissionPeers,
  type PeerCheckContext,
} from './permission.ts';
import { Attr, Method, buildChannelData } from './stun.ts';
import type { TurnCoreOptions } from './turn-core.ts';

test('no open relay: peers outside the call are refused with 403 and a log line', () => {
  const { core, ca, ta, b, logs } = twoParties();
  for (const ip of ['8.8.8.8', '10.0.0.5', '192.168.1.1', '169.254.1.1', '127.0.0.1', '0.0.0.0']) {
    assert.equal(
      errorOf(ta, core.handleClientPacket(ca, ta.createPermission({ ip, port: 5000 }), T0)),
      403,
      ip,
    );
    assert.equal(
      errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4002, { ip, port: 5000 }), T0)),
      403,
      ip,
    );
  }
  // One bad peer spoils the whole request (RFC 8656 §10.2), and nothing was installed.
  assert.equal(
    errorOf(
      ta,
      core.handleClientPacket(ca, ta.createPermission(b.relayed, { ip: '8.8.8.8', port: 1 }), T0),
    ),
    403,
  );
  assert.equal(core.handleClientPacket(ca, ta.send(b.relayed, Buffer.from('x')), T0), undefined);
  assert.equal(
    core.handleClientPacket(ca, ta.send({ ip: '8.8.8.8', port: 53 }, Buffer.from('x')), T0),
    undefined,
  );
  assert.ok(logs.filter((l) => l === 'turn request refused').length >= 13);
  // The other party's addresses are allowed: relayed and the address we see it from.
  assert.equal(
    errorOf(
      ta,
      core.handleClientPacket(ca, ta.createPermission({ ip: '203.0.113.20', port: 1 }), T0),
    ),
    0,
  );
});

test('a packet from another call arriving on the shared relay IP is dropped', () => {
  const { core, calls, ca, ta, a, b } = twoParties();
  calls.set('c9', ['carol', 'dave']);
  const cc = client('198.51.100.99');
  const tcC = creds('c9', 'carol');
  const c = allocate(core, cc, tcC);
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.createPermission(b.relayed), T0)), 0);
  // Same relay IP as bob's, so the IP permission matches, but carol is not in alice's call.
  assert.equal(
    core.handlePeerData(
      a.allocation,
      c.relayed.ip,
      c.relayed.port,
      Buffer.from('x'),
      T0,
      c.allocation,
    ),
    undefined,
  );
  assert.equal(core.counters.refusals.get('cross-call'), 1);
});

test('peer policy: own address only on live relay ports, by ChannelBind, Send and ChannelData', () => {
  // The attack (issue 17): alice's permission for bob's relayed address (the relay IP) covered
  // every port of the server, so a ChannelBind or Send to 192.0.2.1:22 reached its sshd.
  const { core, ca, ta, b } = twoParties();
  const sshd = { ip: b.relayed.ip, port: 22 };
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.createPermission(b.relayed), T0)), 0);
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4000, sshd), T0)), 403);
  assert.equal(core.handleClientPacket(ca, ta.send(sshd, Buffer.from('x')), T0), undefined);
  assert.equal(core.counters.refusals.get('peer-self-port'), 2);
  // The live relay port is reachable, by Send and by a channel.
  assert.equal(
    core.handleClientPacket(ca, ta.send(b.relayed, Buffer.from('y')), T0)?.kind,
    'relay',
  );
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4001, b.relayed), T0)), 0);
  // Once bob's allocation is gone its port is a port like any other: the channel stops relaying.
  core.callEnded('c1');
  assert.equal(
    core.handleClientPacket(ca, buildChannelData(0x4001, Buffer.from('z'), false), T0),
    undefined,
  );
});

test('peer policy: loopback, link-local, multicast and own addresses refused; private ranges by option', () => {
  const cases: {
    peerIp: string;
    extra?: Partial<TurnCoreOptions>;
    code: number;
  }[] = [
    { peerIp: '127.0.0.1', code: 403 },
    { peerIp: '127.0.0.1', extra: { allowLoopbackPeers: true }, code: 0 },
    { peerIp: '169.254.10.1', code: 403 },
    { peerIp: '169.254.10.1', extra: { bench: true }, code: 403 },
    { peerIp: '224.0.0.251', code: 403 },
    { peerIp: '240.0.0.1', code: 403 },
    { peerIp: '0.1.2.3', code: 403 },
    { peerIp: '203.0.113.9', extra: { selfAddresses: ['203.0.113.9'] }, code: 403 },
    { peerIp: '192.168.1.20', code: 0 },
    { peerIp: '10.1.2.3', extra: { privatePeers: 'deny' }, code: 403 },
    { peerIp: '100.64.0.7', extra: { privatePeers: 'deny' }, code: 403 },
    { peerIp: '198.51.100.30', extra: { privatePeers: 'deny' }, code: 0 },
  ];
  for (const { peerIp, extra, code } of cases) {
    // Bob connects from `peerIp`, so the call rule alone would let alice reach it.
    const { core } = makeCore(extra);
    const ca = client('198.51.100.7');
    const ta = creds('c1', 'alice');
    allocate(core, ca, ta);
    allocate(core, client(peerIp), creds('c1', 'bob'));
    const got = errorOf(
      ta,
      core.handleClientPacket(ca, ta.createPermission({ ip: peerIp, port: 5000 }), T0),
    );
    assert.equal(got, code, `${peerIp} ${JSON.stringify(extra ?? {})}`);
  }
});

test('permissions on the fake clock: installed for 300 s, refreshed by a new install, then expired', () => {
  const a = makeAllocation();
  installPermission(a, '203.0.113.9', T0);
  assert.ok(hasPermission(a, '203.0.113.9', T0 + PERMISSION_LIFETIME_MS - 1));
  assert.ok(!hasPermission(a, '203.0.113.9', T0 + PERMISSION_LIFETIME_MS));
  assert.ok(!hasPermission(a, '203.0.113.10', T0), 'by IP: another address has none');
  installPermission(a, '203.0.113.9', T0 + 200_000);
  assert.ok(hasPermission(a, '203.0.113.9', T0 + 400_000));
  expirePermissions(a, T0 + 400_000);
  assert.equal(a.permissions.size, 1);
  expirePermissions(a, T0 + 500_000);
  assert.equal(a.permissions.size, 0);
});

/** A check context over a fake set of allocations, recording refusals. */
function peerContext(others: Allocation[], o: Partial<PeerCheckContext> = {}) {
  const refused: string[] = [];
  const ctx: PeerCheckContext = {
    policy: new PeerPolicy({ selfAddresses: ['192.0.2.1'] }),
    bench: false,
    allowLoopbackPeers: false,
    isLiveRelayPort: () => false,
    allocationsOfCall: (callId) => others.filter((x) => x.callId === callId),
    refuse: (r) => refused.push(r),
    ...o,
  };
  return { ctx, refused };
}

test('checkPeer: only the other party of the same call, after the address policy hook', () => {
  const alice = makeAllocation({ userId: 'alice' });
  const bob = makeAllocation({
    userId: 'bob',
    client: { transport: 'udp', ip: '203.0.113.20', port: 5000, key: 'udp:203.0.113.20:5000' },
  });
  const mallory = makeAllocation({
    callId: 'c2',
    userId: 'mallory',
    client: { transport: 'udp', ip: '203.0.113.66', port: 5000, key: 'udp:203.0.113.66:5000' },
  });
  const { ctx, refused } = peerContext([alice, bob, mallory]);
  const peer = (ip: string, port = 4000, family: 4 | 6 = 4) => ({ ip, port, family });
  assert.equal(checkPeer(ctx, alice, peer('203.0.113.20'), undefined, T0), 0, "bob's address");
  assert.equal(checkPeer(ctx, alice, peer('192.0.2.1', bob.relay.port), undefined, T0), 0);
  assert.equal(checkPeer(ctx, alice, peer('203.0.113.66'), undefined, T0), 403, 'another call');
  assert.equal(checkPeer(ctx, alice, peer('198.51.100.7'), undefined, T0), 403, 'own party');
  assert.equal(checkPeer(ctx, alice, peer('::1', 4000, 6), undefined, T0), 443);
  assert.equal(checkPeer(ctx, alice, peer('203.0.113.20', 0), undefined, T0), 403);
  assert.deepEqual(refused, [], 'the call rule refuses without a policy reason');
  // The address policy runs first, and says why.
  assert.equal(checkPeer(ctx, alice, peer('127.0.0.1'), undefined, T0), 403);
  assert.equal(checkPeer(ctx, alice, peer('224.0.0.1'), undefined, T0), 403);
  assert.deepEqual(refused, ['peer-loopback', 'peer-denied-class']);
  // With a port (ChannelBind, Connect), the relay IP is reachable only on a live relay port.
  assert.equal(checkPeer(ctx, alice, peer('192.0.2.1', 9), 'udp', T0), 403);
  assert.equal(refused.at(-1), 'peer-self-port');
  const live = peerContext([alice, bob], {
    isLiveRelayPort: (p, kind) => p === 9 && kind === 'udp',
  });
  assert.equal(checkPeer(live.ctx, alice, peer('192.0.2.1', 9), 'udp', T0), 0);
  assert.equal(checkPeer(live.ctx, alice, peer('192.0.2.1', 9), 'tcp', T0), 403);
  // Bench mode: the address policy only.
  const bench = peerContext([], { bench: true });
  assert.equal(checkPeer(bench.ctx, alice, peer('203.0.113.99'), undefined, T0), 0);
});

test('permissionPeers: all or nothing, the first bad peer refuses the request', () => {
  const msg = request(Method.CREATE_PERMISSION, (b) =>
    b
      .addAddress(Attr.XOR_PEER_ADDRESS, { ip: '203.0.113.20', port: 1 })
      .addAddress(Attr.XOR_PEER_ADDRESS, { ip: '203.0.113.66', port: 1 }),
  );
  const good = permissionPeers(msg, () => 0);
  assert.ok(good.ok);
  assert.deepEqual(good.ips, ['203.0.113.20', '203.0.113.66']);
  const bad = permissionPeers(msg, (p) => (p.ip === '203.0.113.66' ? 403 : 0));
  assert.deepEqual(bad, { ok: false, code: 403, why: 'peer 203.0.113.66 refused' });
  const none = permissionPeers(request(Method.CREATE_PERMISSION), () => 0);
  assert.deepEqual(none, { ok: false, code: 400, why: 'no XOR-PEER-ADDRESS' });
  const broken = request(Method.CREATE_PERMISSION, (b) =>
    b.add(Attr.XOR_PEER_ADDRESS, Buffer.from([0, 1, 0])),
  );
  assert.equal(permissionPeers(broken, () => 0).ok, false);
});
