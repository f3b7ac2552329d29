/**
 * The relay's peer policy on real loopback sockets: the server's own UDP and TCP services are
 * unreachable through the relay, and loopback peers are refused. Every test runs twice: with the
 * native forwarding thread and with Node dgram sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { UdpTurn, TcpConn, callCreds, relayStarter } from './relay-test-kit.ts';
import { Attr, buildChannelData, getAttribute, parseStunMessage } from './stun.ts';

for (const nativeForwarding of [true, false]) {
  const mode = nativeForwarding ? 'native' : 'dgram';
  const startRelay = relayStarter(nativeForwarding, 54000);

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
}
