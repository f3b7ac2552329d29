/**
 * The relay with TCP clients on real loopback sockets: framing, the connection caps and the
 * authentication deadline, and RFC 6062 TCP allocations (Connect, ConnectionAttempt,
 * ConnectionBind, hang-up, the bandwidth cap). Every test runs twice: with the native forwarding
 * thread and with Node dgram sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { TurnTestClient, TurnResponse } from './client.ts';
import { createTurnRelay } from './relay.ts';
import { SECRET, UdpTurn, TcpConn, callCreds, benchCreds, relayStarter } from './relay-test-kit.ts';
import { StreamFramer, buildChannelData, parseChannelData } from './stun.ts';

for (const nativeForwarding of [true, false]) {
  const mode = nativeForwarding ? 'native' : 'dgram';
  const startRelay = relayStarter(nativeForwarding, 53000);

  test(`TCP clients: framed STUN and padded ChannelData, garbage closes only that connection (${mode})`, async () => {
    const relay = await createTurnRelay({
      nativeForwarding,
      listenHost: '127.0.0.1',
      port: 0,
      relayPorts: { min: 53000, max: 53999 },
      secret: SECRET,
      bench: true,
    });
    const connect = async () => {
      const sock = net.connect(relay.port, '127.0.0.1');
      await new Promise<void>((r) => sock.once('connect', r));
      const framer = new StreamFramer();
      const frames: Buffer[] = [];
      let wake: (() => void) | undefined;
      sock.on('data', (chunk: Buffer) => {
        const r = framer.push(chunk);
        if (r.ok) frames.push(...r.value.map((f) => Buffer.from(f)));
        wake?.();
      });
      const next = async () => {
        for (let i = 0; i < 50 && frames.length === 0; i++) {
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, 20);
          });
        }
        return frames.shift();
      };
      return { sock, next };
    };
    const tcA = benchCreds();
    const tcB = benchCreds();
    const A = await connect();
    const B = await connect();
    const call = async (conn: typeof A, tc: TurnTestClient, req: Buffer) => {
      conn.sock.write(req);
      const res = await conn.next();
      assert.ok(res);
      return tc.read(res)!;
    };
    try {
      assert.equal((await call(A, tcA, tcA.allocate())).errorCode, 401);
      const ra = await call(A, tcA, tcA.allocate());
      assert.equal((await call(B, tcB, tcB.allocate())).errorCode, 401);
      const rb = await call(B, tcB, tcB.allocate());
      assert.ok(ra.relayed && rb.relayed);
      assert.equal((await call(A, tcA, tcA.channelBind(0x4000, rb.relayed))).errorCode, 0);
      assert.equal((await call(B, tcB, tcB.channelBind(0x4002, ra.relayed))).errorCode, 0);
      // Three frames in one write, one split across writes: the framing must hold.
      const f = (s: string) => buildChannelData(0x4000, Buffer.from(s), true);
      A.sock.write(Buffer.concat([f('one'), f('two22'), f('three')]));
      const split = f('four');
      A.sock.write(split.subarray(0, 3));
      await new Promise((r) => setTimeout(r, 30));
      A.sock.write(split.subarray(3));
      const got: string[] = [];
      for (let i = 0; i < 4; i++) {
        const frame = await B.next();
        assert.ok(frame);
        const cd = parseChannelData(frame);
        assert.ok(cd.ok);
        assert.equal(cd.value.channel, 0x4002);
        got.push(cd.value.data.toString());
      }
      assert.deepEqual(got, ['one', 'two22', 'three', 'four']);
      // A third connection sends garbage: it is closed, the others keep working.
      const C = await connect();
      const closed = new Promise<void>((r) => C.sock.once('close', () => r()));
      C.sock.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
      await closed;
      A.sock.write(f('five'));
      const five = await B.next();
      assert.ok(five);
      const fiveData = parseChannelData(five);
      assert.ok(fiveData.ok);
      assert.equal(fiveData.value.data.toString(), 'five');
      // Closing the TCP connection deletes its allocation.
      const before = relay.stats().allocations;
      A.sock.destroy();
      for (let i = 0; i < 50 && relay.stats().allocations === before; i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(relay.stats().allocations, before - 1);
    } finally {
      A.sock.destroy();
      B.sock.destroy();
      await relay.close();
    }
  });

  test(`TCP: per-IP and global connection caps, and a deadline to the first authenticated request (${mode})`, async () => {
    // The attack (issue 17): TCP connections cost a socket and a framer each, and had neither a
    // cap nor a deadline, so one client could hold thousands open without ever authenticating.
    const calls = new Map<string, readonly [string, string]>([['c1', ['alice', 'bob']]]);
    const relay = await startRelay(calls, [], undefined, {
      maxTcpConnectionsPerIp: 3,
      maxTcpConnections: 4,
      tcpAuthDeadlineMs: 400,
    });
    const conns: TcpConn[] = [];
    const open = async (localAddress: string): Promise<TcpConn> => {
      const c = new TcpConn(relay.port, '127.0.0.1', localAddress);
      conns.push(c);
      await c.opened();
      return c;
    };
    try {
      // One authenticates at once (an Allocate that succeeds); two only ask for Binding.
      const good = await open('127.0.0.1');
      const tc = callCreds('c1', 'alice');
      assert.equal((await good.call(tc, tc.allocate())).errorCode, 401);
      assert.equal((await good.call(tc, tc.allocate())).errorCode, 0);
      const idle = [await open('127.0.0.1'), await open('127.0.0.1')];
      // The fourth from the same IP is closed at once.
      const overIp = await open('127.0.0.1');
      assert.ok(await overIp.closedWithin(2000), 'per-IP cap');
      // Another IP may still connect, up to the global cap of 4; the fifth connection is closed.
      const other = await open('127.0.0.2');
      const overAll = await open('127.0.0.3');
      assert.ok(await overAll.closedWithin(2000), 'global cap');
      assert.equal(other.closed, false);
      // The deadline: connections that never authenticated are closed; the authenticated one is not.
      for (const c of [...idle, other]) assert.ok(await c.closedWithin(3000), 'auth deadline');
      assert.equal(good.closed, false, 'an authenticated connection stays');
      assert.equal((await good.call(tc, tc.refresh(600))).errorCode, 0);
      const refusals = relay.stats().refusals;
      assert.equal(refusals['tcp-ip-cap'], 1);
      assert.equal(refusals['tcp-cap'], 1);
      assert.equal(refusals['tcp-auth-deadline'], 3);
      // Closed connections free their slots.
      const again = await open('127.0.0.1');
      assert.equal(
        (await again.call(tc, tc.request(0x001, undefined, false))).errorCode,
        0,
        'a Binding is answered',
      );
    } finally {
      for (const c of conns) c.sock.destroy();
      await relay.close();
    }
  });

  test(`RFC 6062 TCP allocations: Connect, ConnectionAttempt, ConnectionBind, open relay, hang-up (${mode})`, async () => {
    const calls = new Map<string, readonly [string, string]>([['c1', ['alice', 'bob']]]);
    const lines: string[] = [];
    // The TCP peer listens on the relay's own address (loopback): only the test opt-in reaches it.
    const relay = await startRelay(calls, lines, undefined, { allowLoopbackPeers: true });
    // bob is on the call, seen from 127.0.0.1: that makes 127.0.0.1 a permitted peer for alice.
    const bob = new UdpTurn(relay.port, callCreds('c1', 'bob'));
    const accepted: net.Socket[] = [];
    const peerServer = net.createServer((s) => accepted.push(s));
    const tc = callCreds('c1', 'alice');
    const ctl = new TcpConn(relay.port);
    const conns: TcpConn[] = [ctl];
    const dataConn = async (id: number): Promise<[TcpConn, TurnResponse]> => {
      const d = new TcpConn(relay.port);
      conns.push(d);
      await d.opened();
      // The control connection's nonce is good on a data connection from the same IP.
      return [d, await d.call(tc, tc.connectionBind(id))];
    };
    try {
      await Promise.all([
        bob.open(),
        ctl.opened(),
        new Promise<void>((r) => peerServer.listen(0, '127.0.0.1', r)),
      ]);
      assert.equal((await bob.allocate()).errorCode, 0);
      const peerPort = (peerServer.address() as net.AddressInfo).port;
      assert.equal((await ctl.call(tc, tc.allocateTcp())).errorCode, 401);
      const alloc = await ctl.call(tc, tc.allocateTcp());
      assert.equal(alloc.errorCode, 0);
      assert.ok(alloc.relayed);
      // No channels on a TCP allocation, and no connection toward a stranger.
      assert.equal(
        (await ctl.call(tc, tc.channelBind(0x4000, { ip: '127.0.0.1', port: peerPort }))).errorCode,
        400,
      );
      assert.equal(
        (await ctl.call(tc, tc.connect({ ip: '198.51.100.1', port: peerPort }))).errorCode,
        403,
      );
      // Active: Connect, then bind a data connection to it.
      const c1 = await ctl.call(tc, tc.connect({ ip: '127.0.0.1', port: peerPort }));
      assert.equal(c1.errorCode, 0);
      assert.ok(c1.connectionId);
      assert.equal(
        (await ctl.call(tc, tc.connect({ ip: '127.0.0.1', port: peerPort }))).errorCode,
        446,
        'one connection per peer address',
      );
      const [, badBind] = await dataConn(c1.connectionId + 1);
      assert.equal(badBind.errorCode, 400);
      const [d1, bind1] = await dataConn(c1.connectionId);
      assert.equal(bind1.errorCode, 0);
      for (let i = 0; i < 50 && accepted.length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      const p1 = accepted[0]!;
      const fromPeer: Buffer[] = [];
      p1.on('data', (b: Buffer) => fromPeer.push(b));
      d1.sock.write('hello-peer');
      p1.write('hello-alice');
      assert.equal(await d1.raw(11), 'hello-alice');
      for (let i = 0; i < 50 && Buffer.concat(fromPeer).length < 10; i++)
        await new Promise((r) => setTimeout(r, 10));
      assert.equal(Buffer.concat(fromPeer).toString(), 'hello-peer');
      // Passive: the peer connects to the relayed address; alice hears a ConnectionAttempt.
      const inbound = net.connect(alloc.relayed.port, '127.0.0.1');
      inbound.on('error', () => {});
      await new Promise<void>((r) => inbound.once('connect', r));
      const attempt = await ctl.frame();
      assert.ok(attempt);
      const att = tc.read(attempt);
      assert.ok(att?.connectionId);
      assert.equal(att.msg.method, 0x00c);
      inbound.write('early-bytes');
      const [d2, bind2] = await dataConn(att.connectionId);
      assert.equal(bind2.errorCode, 0);
      assert.equal(await d2.raw(11), 'early-bytes', 'bytes sent before the bind are delivered');
      // Hang-up: every connection of the call closes, the relayed address stops listening.
      relay.callEnded('c1');
      assert.ok(await d1.closedWithin(1000), 'data connection closed at hang-up');
      assert.ok(await d2.closedWithin(1000), 'data connection closed at hang-up');
      const late = net.connect(alloc.relayed.port, '127.0.0.1');
      const refused = await new Promise<boolean>((r) => {
        late.once('error', () => r(true));
        late.once('connect', () => r(false));
      });
      late.destroy();
      assert.ok(refused, 'the relayed address no longer accepts connections');
      assert.ok((relay.stats().refusals['446'] ?? 0) >= 1);
    } finally {
      for (const c of conns) c.sock.destroy();
      for (const s of accepted) s.destroy();
      peerServer.close();
      bob.close();
      await relay.close();
    }
  });

  test(`RFC 6062 data is held to the allocation's bandwidth cap by pausing, never by dropping (${mode})`, async () => {
    const relay = await createTurnRelay({
      nativeForwarding,
      listenHost: '127.0.0.1',
      port: 0,
      relayPorts: { min: 53000, max: 53999 },
      secret: SECRET,
      bench: true,
      bandwidthBytesPerSec: 50_000,
    });
    const accepted: net.Socket[] = [];
    const peerServer = net.createServer((s) => accepted.push(s));
    const tc = benchCreds();
    const ctl = new TcpConn(relay.port);
    const data = new TcpConn(relay.port);
    try {
      await Promise.all([
        ctl.opened(),
        data.opened(),
        new Promise<void>((r) => peerServer.listen(0, '127.0.0.1', r)),
      ]);
      const peerPort = (peerServer.address() as net.AddressInfo).port;
      assert.equal((await ctl.call(tc, tc.allocateTcp())).errorCode, 401);
      assert.equal((await ctl.call(tc, tc.allocateTcp())).errorCode, 0);
      const c = await ctl.call(tc, tc.connect({ ip: '127.0.0.1', port: peerPort }));
      assert.ok(c.connectionId);
      assert.equal((await data.call(tc, tc.connectionBind(c.connectionId))).errorCode, 0);
      for (let i = 0; i < 50 && accepted.length === 0; i++)
        await new Promise((r) => setTimeout(r, 10));
      // 100 000 B against a 50 000 B bucket refilled at 50 000 B/s: about 1 s, all delivered.
      const started = Date.now();
      accepted[0]!.write(Buffer.alloc(100_000, 0x61));
      const got = await data.raw(100_000, 5000);
      const elapsed = Date.now() - started;
      assert.equal(got.length, 100_000);
      assert.ok(elapsed >= 600, `took only ${elapsed} ms`);
    } finally {
      ctl.sock.destroy();
      data.sock.destroy();
      for (const s of accepted) s.destroy();
      peerServer.close();
      await relay.close();
    }
  });
}
