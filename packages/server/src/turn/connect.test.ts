import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientRef } from './allocation.ts';
import { connectionSuccess, parseConnectRequest, parseConnectionBindRequest } from './connect.ts';
import {
  T0,
  makeCore,
  client,
  creds,
  allocate,
  errorOf,
  relayPort,
  makeAllocation,
  request,
} from './core-test-kit.ts';
import { Attr, Method, checkIntegrity, getAttribute, parseStunMessage } from './stun.ts';

test('RFC 6062 in the core: TCP allocations need TCP; Connect and ConnectionBind checks; TCP nonces follow the IP', () => {
  const { core, logs } = makeCore();
  const tcp = (ip: string, id: number): ClientRef => ({
    transport: 'tcp',
    ip,
    port: 50000 + id,
    key: `tcp:${id}`,
  });
  // bob, on UDP, makes his host address a permitted peer for alice.
  allocate(core, client('198.51.100.9'), creds('c1', 'bob'));
  const tc = creds('c1', 'alice');
  const ctl = tcp('198.51.100.7', 1);
  assert.equal(errorOf(tc, core.handleClientPacket(ctl, tc.allocateTcp(), T0)), 401);
  const act = core.handleClientPacket(ctl, tc.allocateTcp(), T0);
  assert.ok(act?.kind === 'allocate' && act.pending.tcpRelay);
  const { allocation } = core.completeAllocate(
    act.pending,
    { address: { ip: '192.0.2.1', port: relayPort() } },
    T0,
  );
  assert.ok(allocation?.tcpRelay);
  // Connect: a stranger is refused (403); the other party's address is accepted.
  assert.equal(
    errorOf(tc, core.handleClientPacket(ctl, tc.connect({ ip: '203.0.113.5', port: 80 }), T0)),
    403,
  );
  const connect = core.handleClientPacket(ctl, tc.connect({ ip: '198.51.100.9', port: 9 }), T0);
  assert.ok(connect?.kind === 'connect');
  assert.deepEqual(connect.pending.peer, { ip: '198.51.100.9', port: 9 });
  assert.ok(core.permits(allocation, '198.51.100.9', T0 + 1000), 'Connect installs a permission');
  // ChannelBind on a TCP allocation: 400. Connect on a UDP allocation: 400.
  assert.equal(
    errorOf(tc, core.handleClientPacket(ctl, tc.channelBind(0x4000, connect.pending.peer), T0)),
    400,
  );
  const utc = creds('c1', 'alice');
  const u = client();
  allocate(core, u, utc);
  assert.equal(
    errorOf(utc, core.handleClientPacket(u, utc.connect(connect.pending.peer), T0)),
    400,
  );
  // ConnectionBind from a new connection of the same IP reuses the control connection's nonce.
  const data = tcp('198.51.100.7', 2);
  const bind = core.handleClientPacket(data, tc.connectionBind(1234), T0);
  assert.ok(bind?.kind === 'bind');
  assert.equal(bind.pending.connectionId, 1234);
  assert.equal(bind.pending.username, allocation.username);
  // …not on the control connection (400), not without CONNECTION-ID (400), and not from
  // another IP (438).
  assert.equal(errorOf(tc, core.handleClientPacket(ctl, tc.connectionBind(1234), T0)), 400);
  assert.equal(
    errorOf(tc, core.handleClientPacket(data, tc.request(Method.CONNECTION_BIND), T0)),
    400,
  );
  assert.equal(
    errorOf(tc, core.handleClientPacket(tcp('198.51.100.8', 3), tc.connectionBind(1), T0)),
    438,
  );
  assert.ok(logs.includes('turn request refused'));
});

test('RFC 6062 request checks alone: Connect needs a TCP allocation and a peer; ConnectionBind a new TCP connection and a 4-byte id', () => {
  const peerReq = request(Method.CONNECT, (b) =>
    b.addAddress(Attr.XOR_PEER_ADDRESS, { ip: '203.0.113.20', port: 80 }),
  );
  assert.deepEqual(parseConnectRequest(peerReq, makeAllocation()), {
    ok: false,
    code: 400,
    why: 'not a TCP allocation',
  });
  const tcpAlloc = makeAllocation({ tcpRelay: true });
  const ok = parseConnectRequest(peerReq, tcpAlloc);
  assert.ok(ok.ok);
  assert.equal(ok.peer.ip, '203.0.113.20');
  assert.equal(parseConnectRequest(request(Method.CONNECT), tcpAlloc).ok, false);
  const id = (n: Buffer) => request(Method.CONNECTION_BIND, (b) => b.add(Attr.CONNECTION_ID, n));
  const tcpClient: ClientRef = { transport: 'tcp', ip: '198.51.100.7', port: 1, key: 'tcp:9' };
  const bind = parseConnectionBindRequest(id(Buffer.from([0, 0, 1, 2])), tcpClient, false);
  assert.deepEqual(bind, { ok: true, connectionId: 0x102 });
  assert.equal(parseConnectionBindRequest(id(Buffer.alloc(3)), tcpClient, false).ok, false);
  assert.equal(parseConnectionBindRequest(id(Buffer.alloc(4)), tcpClient, true).ok, false);
  const udpClient: ClientRef = { ...tcpClient, transport: 'udp', key: 'udp:x' };
  assert.equal(parseConnectionBindRequest(id(Buffer.alloc(4)), udpClient, false).ok, false);
  const key = Buffer.alloc(16, 2);
  const withId = parseStunMessage(connectionSuccess(Method.CONNECT, Buffer.alloc(12), key, 7));
  assert.ok(withId.ok);
  assert.equal(getAttribute(withId.value, Attr.CONNECTION_ID)?.readUInt32BE(0), 7);
  assert.ok(checkIntegrity(withId.value, key));
  const bound = parseStunMessage(
    connectionSuccess(Method.CONNECTION_BIND, Buffer.alloc(12), key, undefined),
  );
  assert.ok(bound.ok);
  assert.equal(getAttribute(bound.value, Attr.CONNECTION_ID), undefined);
});
