import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnTestClient } from './client.ts';
import {
  T0,
  makeCore,
  client,
  reply,
  creds,
  errorOf,
  twoParties,
  allocate,
} from './core-test-kit.ts';
import {
  Attr,
  MessageClass,
  Method,
  buildChannelData,
  getAttribute,
  parseChannelData,
  parseStunMessage,
} from './stun.ts';
import type { ClientRef, TurnCore, TurnOutput } from './turn-core.ts';

test('Binding answers with the XOR-MAPPED-ADDRESS, no credentials needed', () => {
  const { core } = makeCore();
  const c = client();
  const tc = new TurnTestClient({ username: 'x', password: 'y' });
  const res = tc.read(reply(core.handleClientPacket(c, tc.request(Method.BINDING), T0)));
  assert.deepEqual(res?.mapped, { ip: c.ip, port: c.port });
});

test('malformed requests get 400, 420, 442 or 440', () => {
  const { core } = makeCore();
  const c = client();
  const tc = creds('c1', 'alice');
  tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
  assert.equal(errorOf(tc, core.handleClientPacket(c, tc.request(Method.ALLOCATE), T0)), 400);
  assert.equal(
    errorOf(
      tc,
      core.handleClientPacket(
        c,
        tc.request(Method.ALLOCATE, (b) => b.addUint32(Attr.REQUESTED_TRANSPORT, 132 << 24)),
        T0,
      ),
    ),
    442,
  );
  // RFC 6062 §5.1: a TCP allocation asked for over UDP is a bad request.
  assert.equal(
    errorOf(
      tc,
      core.handleClientPacket(
        c,
        tc.request(Method.ALLOCATE, (b) => b.addUint32(Attr.REQUESTED_TRANSPORT, 6 << 24)),
        T0,
      ),
    ),
    400,
  );
  assert.equal(
    errorOf(
      tc,
      core.handleClientPacket(
        c,
        tc.request(Method.ALLOCATE, (b) =>
          b
            .addUint32(Attr.REQUESTED_TRANSPORT, 17 << 24)
            .addUint32(Attr.REQUESTED_ADDRESS_FAMILY, 2 << 24),
        ),
        T0,
      ),
    ),
    440,
  );
  const unknown = tc.read(
    reply(
      core.handleClientPacket(
        c,
        tc.request(Method.ALLOCATE, (b) => b.addUint32(0x7777, 1)),
        T0,
      ),
    ),
  );
  assert.equal(unknown?.errorCode, 420);
  assert.equal(getAttribute(unknown.msg, Attr.UNKNOWN_ATTRIBUTES)?.readUInt16BE(0), 0x7777);
  // Requests on no allocation.
  assert.equal(errorOf(tc, core.handleClientPacket(c, tc.refresh(600), T0)), 437);
  assert.equal(
    errorOf(tc, core.handleClientPacket(c, tc.channelBind(0x4000, { ip: '1.2.3.4', port: 1 }), T0)),
    437,
  );
});

test('a request flood from one address is cut off; other addresses are still served', () => {
  const { core, logs } = makeCore({ requestsPerSecPerIp: 10 });
  const c = client('198.51.100.50');
  const tc = new TurnTestClient({ username: 'x', password: 'y' });
  let answered = 0;
  for (let i = 0; i < 100; i++)
    if (core.handleClientPacket(c, tc.request(Method.BINDING), T0)) answered++;
  assert.equal(answered, 40);
  assert.ok(logs.includes('turn request flood: dropping requests from this address'));
  assert.ok(core.handleClientPacket(client('198.51.100.51'), tc.request(Method.BINDING), T0));
  assert.ok(core.handleClientPacket(c, tc.request(Method.BINDING), T0 + 1000));
});

test('fuzz: garbage from a client never throws and never disturbs a live allocation', () => {
  const { core, ca, cb, ta, tb, a, b } = twoParties();
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4000, b.relayed), T0)), 0);
  assert.equal(errorOf(tb, core.handleClientPacket(cb, tb.channelBind(0x4000, a.relayed), T0)), 0);
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const valid = [
    ta.refresh(600),
    buildChannelData(0x4000, Buffer.alloc(30, 9), false),
    ta.send(b.relayed, Buffer.alloc(9)),
  ];
  for (let i = 0; i < 3000; i++) {
    const base = valid[i % valid.length]!;
    const buf = Buffer.from(
      i % 5 === 0 ? Buffer.alloc(Math.floor(rnd() * 64), Math.floor(rnd() * 256)) : base,
    );
    for (let f = 0; f < 3; f++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
    const from = i % 2 ? ca : client('198.51.100.200');
    core.handleClientPacket(
      from,
      i % 7 === 0 ? buf.subarray(0, Math.floor(rnd() * buf.length)) : buf,
      T0 + i,
    );
  }
  assert.equal(core.allocationCount, 2);
  const act = core.handleClientPacket(
    ca,
    buildChannelData(0x4000, Buffer.from('still'), false),
    T0 + 5000,
  );
  assert.ok(act && act.kind === 'relay');
  assert.ok(core.counters.malformed > 0);
});

test('alice and bob relay to each other by channel and by Send/Data indications', () => {
  const { core, ca, cb, ta, tb, a, b } = twoParties();
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.createPermission(b.relayed), T0)), 0);
  assert.equal(errorOf(tb, core.handleClientPacket(cb, tb.channelBind(0x4001, a.relayed), T0)), 0);
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4000, b.relayed), T0)), 0);

  // alice → bob over a channel: the core says "send from alice's relay to bob's relay".
  const act = core.handleClientPacket(
    ca,
    buildChannelData(0x4000, Buffer.from('rtp-1'), false),
    T0,
  );
  assert.ok(act && act.kind === 'relay');
  assert.deepEqual(act.peer, b.relayed);
  assert.equal(act.allocation, a.allocation);
  // bob's relay receives it from alice's relay and hands it to bob on his channel.
  const toBob = core.handlePeerData(
    b.allocation,
    a.relayed.ip,
    a.relayed.port,
    act.data,
    T0,
    a.allocation,
  );
  assert.ok(toBob);
  const cd = parseChannelData(toBob);
  assert.ok(cd.ok);
  assert.equal(cd.value.channel, 0x4001);
  assert.equal(cd.value.data.toString(), 'rtp-1');

  // alice → bob by Send indication; bob has no channel for a port he did not bind: Data indication.
  const send = core.handleClientPacket(ca, ta.send(b.relayed, Buffer.from('rtp-2')), T0);
  assert.ok(send && send.kind === 'relay');
  const data = core.handlePeerData(b.allocation, a.relayed.ip, 9999, Buffer.from('x'), T0);
  assert.ok(data);
  const ind = parseStunMessage(data);
  assert.ok(ind.ok);
  assert.equal(ind.value.method, Method.DATA);
  assert.equal(ind.value.cls, MessageClass.INDICATION);
  assert.equal(getAttribute(ind.value, Attr.DATA)?.toString(), 'x');
});

test('hang-up: callEnded deletes the allocations at once, packets stop, refresh is refused', () => {
  const { core, calls, ca, cb, ta, tb, a, b } = twoParties();
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4000, b.relayed), T0)), 0);
  assert.equal(errorOf(tb, core.handleClientPacket(cb, tb.channelBind(0x4000, a.relayed), T0)), 0);
  assert.equal(
    core.handleClientPacket(ca, buildChannelData(0x4000, Buffer.from('x'), false), T0)?.kind,
    'relay',
  );

  calls.delete('c1');
  const gone = core.callEnded('c1');
  assert.equal(gone.length, 2);
  assert.equal(core.allocationCount, 0);
  assert.equal(core.allocationByRelayPort(b.relayed.port), undefined);
  assert.equal(
    core.handleClientPacket(ca, buildChannelData(0x4000, Buffer.from('x'), false), T0 + 1),
    undefined,
  );
  assert.equal(
    core.handlePeerData(
      b.allocation,
      a.relayed.ip,
      a.relayed.port,
      Buffer.from('x'),
      T0 + 1,
      a.allocation,
    ),
    undefined,
  );
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.refresh(600), T0 + 1)), 401);
  // Even with a call still known to the directory, a deleted allocation cannot be refreshed.
  calls.set('c1', ['alice', 'bob']);
  assert.equal(errorOf(tb, core.handleClientPacket(cb, tb.refresh(600), T0 + 1)), 437);
});

/** Every output after one input. */
function drain(core: TurnCore): TurnOutput[] {
  const out: TurnOutput[] = [];
  for (let o = core.pollOutput(); o; o = core.pollOutput()) out.push(o);
  return out;
}

test('handleInput/pollOutput: a call relayed end to end on the fake clock, then hang-up and expiry as outputs', () => {
  const { core } = makeCore();
  const ca = client('198.51.100.7');
  const cb = client('203.0.113.20');
  const ta = creds('c1', 'alice');
  const tb = creds('c1', 'bob');
  const alloc = (c: ClientRef, tc: TurnTestClient, port: number) => {
    core.handleInput({ kind: 'client', client: c, data: tc.allocate() }, T0);
    const [challenge] = drain(core);
    assert.ok(challenge?.kind === 'send' && challenge.client === c);
    assert.equal(tc.read(challenge.data)?.errorCode, 401);
    core.handleInput({ kind: 'client', client: c, data: tc.allocate() }, T0);
    const [ask, ...none] = drain(core);
    assert.ok(ask?.kind === 'allocate');
    assert.equal(none.length, 0);
    const relay = { address: { ip: '192.0.2.1', port } };
    core.handleInput({ kind: 'relay-bound', pending: ask.pending, relay }, T0);
    const [allocated, sent] = drain(core);
    assert.ok(allocated?.kind === 'allocated' && sent?.kind === 'send');
    assert.equal(tc.read(sent.data)?.errorCode, 0);
    return allocated.allocation;
  };
  const a = alloc(ca, ta, 50100);
  const b = alloc(cb, tb, 50101);
  assert.equal(core.nextTimeoutMs(), T0 + 600_000);
  core.handleInput({ kind: 'client', client: ca, data: ta.channelBind(0x4000, b.relay) }, T0);
  assert.equal(drain(core).length, 1);
  core.handleInput({ kind: 'client', client: cb, data: tb.createPermission(a.relay) }, T0);
  drain(core);
  assert.equal(core.nextTimeoutMs(), T0 + 300_000, 'the first permission');
  // alice's ChannelData becomes a relay instruction; bob's relay hands it to bob.
  const cd = buildChannelData(0x4000, Buffer.from('voice'), false);
  core.handleInput({ kind: 'client', client: ca, data: cd }, T0 + 20);
  const [relay] = drain(core);
  assert.ok(relay?.kind === 'relay' && relay.allocation === a);
  assert.deepEqual(relay.peer, b.relay);
  core.handleInput(
    { kind: 'peer', allocation: b, peer: a.relay, data: relay.data, from: a },
    T0 + 20,
  );
  const [toBob] = drain(core);
  assert.ok(toBob?.kind === 'send' && toBob.client === cb);
  const msg = parseStunMessage(toBob.data);
  assert.ok(msg.ok && msg.value.method === Method.DATA);
  assert.equal(getAttribute(msg.value, Attr.DATA)?.toString(), 'voice');
  // Hang-up: both allocations come out as `deleted`.
  core.handleInput({ kind: 'call-ended', callId: 'c1' }, T0 + 30);
  const gone = drain(core);
  assert.deepEqual(
    gone.map((o) => (o.kind === 'deleted' ? o.allocation : o.kind)),
    [a, b],
  );
  assert.equal(core.nextTimeoutMs(), undefined);
});

test('handleInput: expiry by tick and a lifetime-0 Refresh report the deletion; nothing is queued by the direct methods', () => {
  const { core } = makeCore();
  const ca = client();
  const ta = creds('c1', 'alice');
  const { allocation } = allocate(core, ca, ta);
  assert.equal(core.pollOutput(), undefined, 'the direct methods queue nothing');
  core.handleInput({ kind: 'tick' }, T0 + 599_999);
  assert.deepEqual(drain(core), []);
  core.handleInput({ kind: 'tick' }, T0 + 600_000);
  assert.deepEqual(drain(core), [{ kind: 'deleted', allocation }]);
  const cb = client();
  const tb = creds('c1', 'alice');
  const b = allocate(core, cb, tb, T0 + 600_000).allocation;
  core.handleInput({ kind: 'client', client: cb, data: tb.refresh(0) }, T0 + 600_001);
  const out = drain(core);
  assert.deepEqual(
    out.map((o) => o.kind),
    ['deleted', 'send'],
  );
  assert.equal(out[0]?.kind === 'deleted' && out[0].allocation, b);
  // A TCP client's connection closing deletes its allocation.
  const ct: ClientRef = { transport: 'tcp', ip: '198.51.100.9', port: 1, key: 'tcp:77' };
  const c = allocate(core, ct, creds('c1', 'bob'), T0 + 600_002).allocation;
  core.handleInput({ kind: 'client-gone', clientKey: 'tcp:77' }, T0 + 600_003);
  assert.deepEqual(drain(core), [{ kind: 'deleted', allocation: c }]);
});
