/**
 * The relay with UDP clients on real loopback sockets: hang-up, the open-relay refusal, bad
 * datagrams and a flood, the bench-mode guard and SO_REUSEPORT listeners. Every test runs twice:
 * with the native forwarding thread and with Node dgram sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Registry } from 'prom-client';
import { createTurnRelay, type TurnRelay } from './relay.ts';
import { SECRET, UdpTurn, callCreds, benchCreds, relayStarter } from './relay-test-kit.ts';
import {
  Attr,
  buildChannelData,
  getAttribute,
  parseChannelData,
  parseStunMessage,
} from './stun.ts';

for (const nativeForwarding of [true, false]) {
  const mode = nativeForwarding ? 'native' : 'dgram';
  const startRelay = relayStarter(nativeForwarding, 52000);

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
