import { test } from 'node:test';
import type { TurnCoreOptions } from './turn-core.ts';
import assert from 'node:assert/strict';
import { T0, makeCore, client, creds, allocate, errorOf, twoParties } from './core-test-kit.ts';
import { buildChannelData } from './stun.ts';

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
