/**
 * The relay on real loopback sockets: UDP and TCP clients, hang-up, the open-relay refusal, bad
 * input, metrics and the bench-mode guard. Every test runs twice: with the native forwarding
 * thread and with Node dgram sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { Registry } from 'prom-client';
import type { TurnLogger } from './turn-core.ts';
import { TurnTestClient, type TurnResponse } from './client.ts';
import { issueTurnCredential, turnPassword } from './credentials.ts';
import { createTurnRelay, type TurnRelay, type TurnRelayOptions } from './relay.ts';
import {
  Attr,
  StreamFramer,
  buildChannelData,
  getAttribute,
  parseChannelData,
  parseStunMessage,
} from './stun.ts';

const SECRET = 'integration-secret';

/** A TURN client over a real UDP socket. */
class UdpTurn {
  readonly sock = dgram.createSocket('udp4');
  readonly tc: TurnTestClient;
  #inbox: Buffer[] = [];
  #waiters: ((b: Buffer) => void)[] = [];
  #server: number;

  constructor(server: number, tc: TurnTestClient) {
    this.tc = tc;
    this.#server = server;
    this.sock.on('message', (m) => {
      const w = this.#waiters.shift();
      if (w) w(m);
      else this.#inbox.push(m);
    });
  }

  async open(): Promise<void> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', r));
  }

  send(buf: Buffer): void {
    this.sock.send(buf, this.#server, '127.0.0.1');
  }

  /** Next datagram, or undefined after `ms`. */
  next(ms = 1000): Promise<Buffer | undefined> {
    const queued = this.#inbox.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        resolve(undefined);
      }, ms);
      const waiter = (b: Buffer) => {
        clearTimeout(timer);
        resolve(b);
      };
      this.#waiters.push(waiter);
    });
  }

  async call(req: Buffer): Promise<TurnResponse> {
    this.send(req);
    const res = await this.next();
    assert.ok(res, 'no response from the relay');
    const parsed = this.tc.read(res);
    assert.ok(parsed);
    return parsed;
  }

  async allocate(): Promise<TurnResponse> {
    const first = await this.call(this.tc.allocate());
    assert.equal(first.errorCode, 401);
    return this.call(this.tc.allocate());
  }

  close(): void {
    this.sock.close();
  }
}

/** A TCP connection to the relay: framed STUN until `raw()`, then raw bytes (RFC 6062 data). */
class TcpConn {
  readonly sock: net.Socket;
  #buf = Buffer.alloc(0);
  #wake: (() => void) | undefined;
  closed = false;

  constructor(port: number, host = '127.0.0.1', localAddress?: string) {
    this.sock = net.connect({ port, host, ...(localAddress ? { localAddress } : {}) });
    this.sock.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      this.#wake?.();
    });
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  async opened(): Promise<void> {
    await new Promise<void>((r) => this.sock.once('connect', r));
  }

  async #until(ok: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!ok() && !this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.#wake = r;
        setTimeout(r, 20);
      });
    }
    return ok();
  }

  /** The next STUN message on the stream, or undefined after `ms`. */
  async frame(ms = 1000): Promise<Buffer | undefined> {
    const whole = () =>
      this.#buf.length >= 20 && this.#buf.length >= 20 + this.#buf.readUInt16BE(2);
    if (!(await this.#until(whole, ms))) return undefined;
    const len = 20 + this.#buf.readUInt16BE(2);
    const out = this.#buf.subarray(0, len);
    this.#buf = this.#buf.subarray(len);
    return out;
  }

  async call(tc: TurnTestClient, req: Buffer): Promise<TurnResponse> {
    this.sock.write(req);
    const res = await this.frame();
    assert.ok(res, 'no response from the relay');
    return tc.read(res)!;
  }

  /** Raw bytes received so far (after the ConnectionBind response), waiting for `n` of them. */
  async raw(n: number, ms = 1000): Promise<string> {
    await this.#until(() => this.#buf.length >= n, ms);
    return this.#buf.toString();
  }

  /** Resolves true once the connection is closed, false after `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    return this.#until(() => this.closed, ms);
  }
}

/** Credentials for one party of a call, as signalling issues them. */
function callCreds(callId: string, userId: string): TurnTestClient {
  const c = issueTurnCredential(SECRET, callId, userId, Date.now(), 600);
  return new TurnTestClient({ username: c.username, password: c.credential });
}

/** A bench-mode credential (`expiry:anything`). */
function benchCreds(): TurnTestClient {
  const username = `${Math.floor(Date.now() / 1000) + 600}:bench`;
  return new TurnTestClient({ username, password: turnPassword(SECRET, username) });
}

function quietLogger(lines: string[]): TurnLogger {
  return { info() {}, warn: (_o, m) => lines.push(m) };
}

for (const nativeForwarding of [true, false]) {
  const mode = nativeForwarding ? 'native' : 'dgram';

  async function startRelay(
    calls: Map<string, readonly [string, string]>,
    lines: string[],
    registry?: Registry,
    extra: Partial<TurnRelayOptions> = {},
  ): Promise<TurnRelay> {
    return createTurnRelay({
      ...extra,
      nativeForwarding,
      listenHost: '127.0.0.1',
      port: 0,
      relayAddress: '127.0.0.1',
      relayPorts: { min: 52000, max: 52999 },
      secret: SECRET,
      calls: { partiesOf: (id) => calls.get(id) },
      logger: quietLogger(lines),
      registry,
    });
  }

  test(`hang-up: after callEnded the relay address stops forwarding and refresh is refused (${mode})`, async () => {
    const calls = new Map<string, readonly [string, string]>([['c1', ['alice', 'bob']]]);
    const lines: string[] = [];
    const registry = new Registry();
    const relay = await startRelay(calls, lines, registry);
    assert.equal(relay.forwarding, mode);
    const alice = new UdpTurn(relay.port, callCreds('c1', 'alice'));
    const bob = new UdpTurn(relay.port, callCreds('c1', 'bob'));
    const peer = dgram.createSocket('udp4');
    try {
      await Promise.all([
        alice.open(),
        bob.open(),
        new Promise<void>((r) => peer.bind(0, '127.0.0.1', r)),
      ]);
      const a = await alice.allocate();
      const b = await bob.allocate();
      assert.equal(a.errorCode, 0);
      assert.equal(b.errorCode, 0);
      assert.ok(a.relayed && b.relayed);
      // bob's host address (127.0.0.1, as the relay sees him) and his relayed address.
      assert.equal(
        (await alice.call(alice.tc.createPermission({ ip: '127.0.0.1', port: 1 }))).errorCode,
        0,
      );
      assert.equal((await bob.call(bob.tc.channelBind(0x4000, a.relayed))).errorCode, 0);
      assert.equal((await alice.call(alice.tc.channelBind(0x4001, b.relayed))).errorCode, 0);

      // Through the kernel: a datagram from bob's host address to alice's relayed address.
      peer.send(Buffer.from('via-kernel'), a.relayed.port, '127.0.0.1');
      const data = await alice.next();
      assert.ok(data);
      const ind = parseStunMessage(data);
      assert.ok(ind.ok);
      assert.equal(getAttribute(ind.value, Attr.DATA)?.toString(), 'via-kernel');
      // Relay to relay: bob's ChannelData arrives on alice's channel.
      bob.send(buildChannelData(0x4000, Buffer.from('rtp'), false));
      const cd = await alice.next();
      assert.ok(cd);
      const parsed = parseChannelData(cd);
      assert.ok(parsed.ok);
      assert.equal(parsed.value.channel, 0x4001);
      assert.equal(parsed.value.data.toString(), 'rtp');

      relay.callEnded('c1');
      assert.equal(relay.stats().allocations, 0);
      peer.send(Buffer.from('after-hangup'), a.relayed.port, '127.0.0.1');
      bob.send(buildChannelData(0x4000, Buffer.from('after-hangup'), false));
      assert.equal(await alice.next(300), undefined, 'nothing may be forwarded after the hang-up');
      // The call is still in the directory here, so this is the deleted allocation speaking: 437.
      assert.equal((await alice.call(alice.tc.refresh(600))).errorCode, 437);
      // Once signalling forgets the call, its credentials are refused outright.
      calls.delete('c1');
      assert.equal((await bob.call(bob.tc.allocate())).errorCode, 401);
      const metrics = await registry.metrics();
      assert.match(metrics, /parloir_turn_packets_relayed_total \d+/);
      assert.match(metrics, /parloir_turn_refusals_total\{code="437"\} 1/);
    } finally {
      alice.close();
      bob.close();
      peer.close();
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

  test(`peer policy: the server's own UDP and TCP services are unreachable by Send, ChannelData and Connect; loopback peers refused (${mode})`, async () => {
    // The attack (issue 17): two identities in one call. alice's permission for bob's relayed
    // address is a permission for the relay's IP, which covered every port of this machine: a UDP
    // service (a database, DNS) by Send or ChannelData, a TCP one (sshd) by RFC 6062 Connect.
    const calls = new Map<string, readonly [string, string]>([['c1', ['alice', 'bob']]]);
    const lines: string[] = [];
    const relay = await startRelay(calls, lines);
    const alice = new UdpTurn(relay.port, callCreds('c1', 'alice'));
    const bob = new UdpTurn(relay.port, callCreds('c1', 'bob'));
    const udpService = dgram.createSocket('udp4');
    const udpGot: Buffer[] = [];
    udpService.on('message', (m) => udpGot.push(m));
    const tcpAccepted: net.Socket[] = [];
    const tcpService = net.createServer((sock) => tcpAccepted.push(sock));
    const tc = callCreds('c1', 'alice');
    const ctl = new TcpConn(relay.port);
    try {
      await Promise.all([
        alice.open(),
        bob.open(),
        ctl.opened(),
        new Promise<void>((r) => udpService.bind(0, '127.0.0.1', r)),
        new Promise<void>((r) => tcpService.listen(0, '127.0.0.1', r)),
      ]);
      const udpPort = udpService.address().port;
      const tcpPort = (tcpService.address() as net.AddressInfo).port;
      const a = await alice.allocate();
      const b = await bob.allocate();
      assert.ok(a.relayed && b.relayed);
      // Permission for bob's relayed address: the relay IP. Granted, it is how relays talk.
      assert.equal((await alice.call(alice.tc.createPermission(b.relayed))).errorCode, 0);
      assert.equal((await bob.call(bob.tc.createPermission(a.relayed))).errorCode, 0);
      const service = { ip: '127.0.0.1', port: udpPort };
      // ChannelBind toward the service: 403. Send toward it: silently dropped.
      assert.equal((await alice.call(alice.tc.channelBind(0x4000, service))).errorCode, 403);
      for (let i = 0; i < 20; i++) alice.send(alice.tc.send(service, Buffer.from(`send-${i}`)));
      // Control: the same Send toward bob's relayed address arrives, so the path works.
      alice.send(alice.tc.send(b.relayed, Buffer.from('to-bob')));
      const atBob = await bob.next();
      assert.ok(atBob, 'relay to relay still works');
      const parsedAtBob = parseStunMessage(atBob);
      assert.ok(parsedAtBob.ok);
      assert.equal(getAttribute(parsedAtBob.value, Attr.DATA)?.toString(), 'to-bob');
      // ChannelData: a channel bound to bob's relay, then bob's allocation goes (callEnded is for
      // the whole call, so bob's client closes it: a Refresh with lifetime 0) and his port with it.
      // Another process may now hold that port: the channel must not reach it.
      assert.equal((await alice.call(alice.tc.channelBind(0x4001, b.relayed))).errorCode, 0);
      assert.equal((await bob.call(bob.tc.refresh(0))).errorCode, 0);
      const squatter = dgram.createSocket('udp4');
      const squatGot: Buffer[] = [];
      squatter.on('message', (m) => squatGot.push(m));
      const squatted = await new Promise<boolean>((r) => {
        squatter.once('error', () => r(false));
        squatter.bind(b.relayed!.port, '127.0.0.1', () => r(true));
      });
      for (let i = 0; i < 20; i++)
        alice.send(buildChannelData(0x4001, Buffer.from(`cd-${i}`), false));
      // RFC 6062 Connect toward the TCP service: 403, and nothing connects to it.
      assert.equal((await ctl.call(tc, tc.allocateTcp())).errorCode, 401);
      assert.equal((await ctl.call(tc, tc.allocateTcp())).errorCode, 0);
      assert.equal(
        (await ctl.call(tc, tc.connect({ ip: '127.0.0.1', port: tcpPort }))).errorCode,
        403,
      );
      // Loopback peers other than the relay's own live ports: refused outright.
      assert.equal(
        (await alice.call(alice.tc.createPermission({ ip: '127.0.0.2', port: 1 }))).errorCode,
        403,
      );
      // Wait until the relay has judged everything alice sent: the ChannelBind, 20 Sends, 20
      // ChannelData and the Connect, each refused and counted.
      const deadline = Date.now() + 5000;
      while ((relay.stats().refusals['peer-self-port'] ?? 0) < 42 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(
        relay.stats().refusals['peer-self-port'],
        42,
        `every attempt refused (${JSON.stringify(relay.stats().refusals)})`,
      );
      assert.deepEqual(udpGot, [], 'the UDP service received nothing');
      assert.deepEqual(squatGot, [], `the port's new owner received nothing (bound: ${squatted})`);
      assert.equal(tcpAccepted.length, 0, 'the TCP service accepted nothing');
      squatter.close();
    } finally {
      alice.close();
      bob.close();
      ctl.sock.destroy();
      udpService.close();
      tcpService.close();
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

  test(`open relay: permissions toward addresses outside the call are refused (403, logged) (${mode})`, async () => {
    const calls = new Map<string, readonly [string, string]>([['c1', ['alice', 'bob']]]);
    const lines: string[] = [];
    const relay = await startRelay(calls, lines);
    const alice = new UdpTurn(relay.port, callCreds('c1', 'alice'));
    const target = dgram.createSocket('udp4');
    let leaked = 0;
    target.on('message', () => leaked++);
    try {
      await Promise.all([alice.open(), new Promise<void>((r) => target.bind(0, '127.0.0.2', r))]);
      const a = await alice.allocate();
      assert.equal(a.errorCode, 0);
      const port = target.address().port;
      for (const ip of ['127.0.0.2', '8.8.8.8', '10.1.2.3', '192.168.0.10', '169.254.0.1']) {
        assert.equal(
          (await alice.call(alice.tc.createPermission({ ip, port }))).errorCode,
          403,
          ip,
        );
      }
      assert.equal(
        (await alice.call(alice.tc.channelBind(0x4000, { ip: '127.0.0.2', port }))).errorCode,
        403,
      );
      alice.send(alice.tc.send({ ip: '127.0.0.2', port }, Buffer.from('exfiltrate')));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(leaked, 0);
      assert.ok(lines.filter((l) => l === 'turn request refused').length >= 6);
      assert.ok((relay.stats().refusals['403'] ?? 0) >= 6);
    } finally {
      alice.close();
      target.close();
      await relay.close();
    }
  });

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

  test(`bad datagrams and a request flood leave other allocations served (${mode})`, async () => {
    const relay = await createTurnRelay({
      nativeForwarding,
      listenHost: '127.0.0.1',
      port: 0,
      relayPorts: { min: 54000, max: 54999 },
      secret: SECRET,
      bench: true,
      requestsPerSecPerIp: 100,
    });
    const a = new UdpTurn(relay.port, benchCreds());
    const b = new UdpTurn(relay.port, benchCreds());
    const flooder = dgram.createSocket('udp4');
    try {
      await Promise.all([
        a.open(),
        b.open(),
        new Promise<void>((r) => flooder.bind(0, '127.0.0.3', r)),
      ]);
      const ra = await a.allocate();
      const rb = await b.allocate();
      assert.ok(ra.relayed && rb.relayed);
      assert.equal((await a.call(a.tc.channelBind(0x4000, rb.relayed))).errorCode, 0);
      assert.equal((await b.call(b.tc.channelBind(0x4000, ra.relayed))).errorCode, 0);
      const binding = a.tc.request(0x001, undefined, false);
      let seed = 99;
      const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
      for (let i = 0; i < 3000; i++) {
        let junk: Buffer;
        if (i % 3 === 0) junk = binding;
        else {
          junk = Buffer.alloc(Math.floor(rnd() * 200));
          for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(rnd() * 256);
          if (i % 3 === 1 && junk.length > 4) junk[0] = 0x40;
        }
        flooder.send(junk, relay.port, '127.0.0.1');
        if (i % 500 === 0) await new Promise((r) => setImmediate(r));
      }
      a.send(buildChannelData(0x4000, Buffer.from('still-here'), false));
      let got: Buffer | undefined;
      for (let i = 0; i < 5 && !got; i++) {
        const m = await b.next(500);
        if (m && parseChannelData(m).ok) got = m;
      }
      assert.ok(got, 'relay stopped serving under flood');
      assert.ok((relay.stats().refusals['rate-limited'] ?? 0) > 0);
    } finally {
      a.close();
      b.close();
      flooder.close();
      await relay.close();
    }
  });

  test(`bench mode is refused unless every listener is on loopback (${mode})`, async () => {
    await assert.rejects(
      createTurnRelay({
        nativeForwarding,
        listenHost: '0.0.0.0',
        port: 0,
        secret: 's',
        bench: true,
      }),
      (e: Error & { code?: string }) => e.code === 'TURN_ERR_BENCH_NOT_LOOPBACK',
    );
    await assert.rejects(
      createTurnRelay({
        nativeForwarding,
        listenHost: '127.0.0.1',
        port: 0,
        secret: 's',
        relayPorts: { min: 5, max: 4 },
        bench: true,
      }),
      (e: Error & { code?: string }) => e.code === 'TURN_ERR_BAD_OPTION',
    );
  });

  test(`a fixed port gets several SO_REUSEPORT listeners, and every client is served (${mode})`, async () => {
    // A free UDP port may still be taken for TCP (an outgoing connection's ephemeral port), so
    // a few draws.
    let port = 0;
    let relay: TurnRelay | undefined;
    for (let attempt = 0; attempt < 5 && !relay; attempt++) {
      const probe = dgram.createSocket('udp4');
      await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
      port = probe.address().port;
      probe.close();
      relay = await createTurnRelay({
        nativeForwarding,
        listenHost: '127.0.0.1',
        port,
        udpSockets: 3,
        relayPorts: { min: 61000, max: 61999 },
        secret: SECRET,
        bench: true,
      }).catch((err: { code?: string }) => {
        if (err.code === 'EADDRINUSE' || err.code === 'RELAY_ERR_ADDRESS_IN_USE') return undefined;
        throw err;
      });
    }
    assert.ok(relay, 'no free port in 5 draws');
    const clients = Array.from({ length: 8 }, () => new UdpTurn(relay.port, benchCreds()));
    try {
      assert.equal(relay.port, port);
      await Promise.all(clients.map((c) => c.open()));
      const relayed = await Promise.all(clients.map((c) => c.allocate()));
      for (const r of relayed) assert.equal(r.errorCode, 0);
      // Pair them up: 0↔1, 2↔3, …; each pair exchanges one ChannelData each way.
      for (let i = 0; i < clients.length; i += 2) {
        const [a, b] = [clients[i]!, clients[i + 1]!];
        const [ra, rb] = [relayed[i]!.relayed!, relayed[i + 1]!.relayed!];
        assert.equal((await a.call(a.tc.channelBind(0x4000, rb))).errorCode, 0);
        assert.equal((await b.call(b.tc.channelBind(0x4000, ra))).errorCode, 0);
        a.send(buildChannelData(0x4000, Buffer.from(`a${i}`), false));
        b.send(buildChannelData(0x4000, Buffer.from(`b${i}`), false));
        const [toB, toA] = [await b.next(), await a.next()];
        assert.ok(toA && toB);
        const [da, db] = [parseChannelData(toA), parseChannelData(toB)];
        assert.ok(da.ok && db.ok);
        assert.equal(da.value.data.toString(), `b${i}`);
        assert.equal(db.value.data.toString(), `a${i}`);
      }
    } finally {
      for (const c of clients) c.close();
      await relay.close();
    }
  });
}
