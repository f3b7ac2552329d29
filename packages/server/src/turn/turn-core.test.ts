import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnCore, type ClientAction, type ClientRef, type TurnCoreOptions } from './turn-core.ts';
import { TurnTestClient } from './client.ts';
import { issueTurnCredential, turnPassword } from './credentials.ts';
import {
  Attr,
  MessageClass,
  Method,
  buildChannelData,
  getAttribute,
  parseChannelData,
  parseStunMessage,
} from './stun.ts';

const SECRET = 'secret';
const T0 = 1_800_000_000_000;

function directory(calls: Map<string, readonly [string, string]>) {
  return { partiesOf: (id: string) => calls.get(id) };
}

function makeCore(extra: Partial<TurnCoreOptions> = {}) {
  const calls = new Map<string, readonly [string, string]>([['c1', ['alice', 'bob']]]);
  const logs: string[] = [];
  const core = new TurnCore({
    secret: SECRET,
    realm: 'parloir',
    calls: directory(calls),
    logger: { info() {}, warn: (_o, m) => logs.push(m) },
    ...extra,
  });
  return { core, calls, logs };
}

let nextPort = 40000;
function client(ip = '198.51.100.7'): ClientRef {
  const port = nextPort++;
  return { transport: 'udp', ip, port, key: `udp:${ip}:${port}` };
}

function reply(action: ClientAction | undefined): Buffer {
  assert.ok(action && action.kind === 'reply', `expected a reply, got ${action?.kind}`);
  return action.data;
}

function creds(callId: string, userId: string, nowMs = T0, ttlSec = 3600) {
  const c = issueTurnCredential(SECRET, callId, userId, nowMs, ttlSec);
  return new TurnTestClient({ username: c.username, password: c.credential });
}

let nextRelayPort = 50000;
/** Runs 401 → Allocate → completeAllocate; returns the allocation. */
function allocate(core: TurnCore, c: ClientRef, tc: TurnTestClient, now = T0) {
  const challenge = tc.read(reply(core.handleClientPacket(c, tc.allocate(), now)));
  assert.equal(challenge?.errorCode, 401);
  const act = core.handleClientPacket(c, tc.allocate(), now);
  assert.ok(
    act && act.kind === 'allocate',
    `allocate refused: ${act?.kind === 'reply' ? tc.read(act.data)?.errorCode : ''}`,
  );
  const done = core.completeAllocate(
    act.pending,
    { address: { ip: '192.0.2.1', port: nextRelayPort++ } },
    now,
  );
  const res = tc.read(done.reply);
  assert.equal(res?.errorCode, 0);
  assert.ok(done.allocation);
  return { allocation: done.allocation, relayed: res.relayed!, mapped: res.mapped! };
}

function errorOf(tc: TurnTestClient, action: ClientAction | undefined): number {
  return tc.read(reply(action))?.errorCode ?? -1;
}

test('Binding answers with the XOR-MAPPED-ADDRESS, no credentials needed', () => {
  const { core } = makeCore();
  const c = client();
  const tc = new TurnTestClient({ username: 'x', password: 'y' });
  const res = tc.read(reply(core.handleClientPacket(c, tc.request(Method.BINDING), T0)));
  assert.deepEqual(res?.mapped, { ip: c.ip, port: c.port });
});

test('long-term auth: 401 challenge, wrong password, expired credential, stale and replayed nonces', () => {
  const { core } = makeCore({ nonceLifetimeMs: 60_000 });
  const c = client();
  const tc = creds('c1', 'alice');
  const first = tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
  assert.equal(first?.errorCode, 401);
  assert.equal(getAttribute(first.msg, Attr.REALM)?.toString(), 'parloir');
  assert.ok(tc.ready);

  const wrong = new TurnTestClient({
    username: issueTurnCredential(SECRET, 'c1', 'alice', T0, 60).username,
    password: 'nope',
  });
  wrong.nonce = tc.nonce;
  wrong.read(reply(core.handleClientPacket(c, wrong.allocate(), T0)));
  assert.equal(errorOf(wrong, core.handleClientPacket(c, wrong.allocate(), T0)), 401);

  const expired = creds('c1', 'alice', T0 - 7200_000, 60);
  expired.read(reply(core.handleClientPacket(c, expired.allocate(), T0)));
  assert.equal(errorOf(expired, core.handleClientPacket(c, expired.allocate(), T0)), 401);

  // The nonce is bound to the client's address: replaying it from elsewhere is a stale nonce.
  const other = client();
  assert.equal(errorOf(tc, core.handleClientPacket(other, tc.allocate(), T0)), 438);
  // And it expires.
  const stale = creds('c1', 'alice');
  stale.read(reply(core.handleClientPacket(c, stale.allocate(), T0)));
  assert.equal(errorOf(stale, core.handleClientPacket(c, stale.allocate(), T0 + 61_000)), 438);
  // After a 438 the client retries with the fresh nonce and succeeds.
  const act = core.handleClientPacket(c, stale.allocate(), T0 + 61_000);
  assert.equal(act?.kind, 'allocate');
});

test('credentials of a call that is not live, or of a user outside it, are refused', () => {
  const { core, logs } = makeCore();
  for (const [callId, userId] of [
    ['c2', 'alice'],
    ['c1', 'mallory'],
    ['c1', ''],
  ] as const) {
    const c = client();
    const tc = creds(callId, userId);
    tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
    assert.equal(errorOf(tc, core.handleClientPacket(c, tc.allocate(), T0)), 401);
  }
  assert.ok(logs.some((l) => l === 'turn auth refused'));
});

function twoParties(extra: Partial<TurnCoreOptions> = {}) {
  const env = makeCore(extra);
  const ca = client('198.51.100.7');
  const cb = client('203.0.113.20');
  const ta = creds('c1', 'alice');
  const tb = creds('c1', 'bob');
  const a = allocate(env.core, ca, ta);
  const b = allocate(env.core, cb, tb);
  return { ...env, ca, cb, ta, tb, a, b };
}

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

test('lifetimes: refresh extends, lifetime 0 deletes, expiry deletes permissions and allocations', () => {
  const { core, ca, cb, ta, tb, b } = twoParties();
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.createPermission(b.relayed), T0)), 0);
  assert.equal(core.tick(T0 + 300_001).length, 0);
  assert.equal(
    core.handleClientPacket(ca, ta.send(b.relayed, Buffer.from('x')), T0 + 300_001),
    undefined,
  );
  const res = ta.read(reply(core.handleClientPacket(ca, ta.refresh(1200), T0 + 300_001)));
  assert.equal(res?.lifetimeSec, 1200);
  assert.equal(errorOf(tb, core.handleClientPacket(cb, tb.refresh(0), T0)), 0);
  assert.equal(core.allocationCount, 1);
  assert.equal(core.tick(T0 + 300_001 + 1_200_000).length, 1);
  assert.equal(core.allocationCount, 0);
});

test('Allocate retransmission gets the same answer; a second Allocate is 437', () => {
  const { core } = makeCore();
  const c = client();
  const tc = creds('c1', 'alice');
  tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
  const req = tc.allocate();
  const act = core.handleClientPacket(c, req, T0);
  assert.ok(act?.kind === 'allocate');
  const done = core.completeAllocate(act.pending, { address: { ip: '192.0.2.1', port: 1234 } }, T0);
  assert.deepEqual(reply(core.handleClientPacket(c, req, T0)), done.reply);
  assert.equal(errorOf(tc, core.handleClientPacket(c, tc.allocate(), T0)), 437);
});

test('an Allocate retransmitted while the first copy is still binding its relay socket gets the same success', () => {
  const { core } = makeCore();
  const c = client();
  const tc = creds('c1', 'alice');
  tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
  const req = tc.allocate();
  // Both copies pass the checks before either relay socket is bound (the adapter binds async).
  const first = core.handleClientPacket(c, req, T0);
  const again = core.handleClientPacket(c, req, T0 + 50);
  assert.ok(first?.kind === 'allocate' && again?.kind === 'allocate');
  const won = core.completeAllocate(
    first.pending,
    { address: { ip: '192.0.2.1', port: 1300 } },
    T0,
  );
  assert.ok(won.allocation);
  const late = core.completeAllocate(
    again.pending,
    { address: { ip: '192.0.2.1', port: 1301 } },
    T0,
  );
  // No second allocation (the adapter closes the spare socket), and not 437: the same answer.
  assert.equal(late.allocation, undefined);
  assert.deepEqual(late.reply, won.reply);
  assert.equal(tc.read(late.reply)?.errorCode, 0);
  assert.equal(core.allocationCount, 1);
});

test('two different Allocates racing for one 5-tuple: the second to bind gets 437', () => {
  const { core } = makeCore();
  const c = client();
  const tc = creds('c1', 'alice');
  tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
  const a = core.handleClientPacket(c, tc.allocate(), T0);
  const b = core.handleClientPacket(c, tc.allocate(), T0);
  assert.ok(a?.kind === 'allocate' && b?.kind === 'allocate');
  assert.ok(
    core.completeAllocate(a.pending, { address: { ip: '192.0.2.1', port: 1302 } }, T0).allocation,
  );
  const lost = core.completeAllocate(b.pending, { address: { ip: '192.0.2.1', port: 1303 } }, T0);
  assert.equal(lost.allocation, undefined);
  assert.equal(tc.read(lost.reply)?.errorCode, 437);
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

test('ChannelBind rules: range, one peer per channel and one channel per peer', () => {
  const { core, ca, ta, b } = twoParties();
  assert.equal(
    errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x3fff, b.relayed), T0)),
    400,
  );
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4000, b.relayed), T0)), 0);
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4000, b.relayed), T0)), 0);
  assert.equal(
    errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4001, b.relayed), T0)),
    400,
  );
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4000, b.mapped), T0)), 400);
});

test('ChannelBind accepts the whole RFC 5766 range up to 0x7FFF (coturn clients pick from it)', () => {
  const { core, ca, ta, b } = twoParties();
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x7fff, b.relayed), T0)), 0);
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x8000, b.mapped), T0)), 400);
  assert.equal(parseChannelData(buildChannelData(0x7fff, Buffer.from([1, 2]), true)).ok, true);
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

test('bandwidth cap per allocation drops the excess and refills with time', () => {
  const { core, ca, ta, b } = twoParties({ bandwidthBytesPerSec: 1000 });
  assert.equal(errorOf(ta, core.handleClientPacket(ca, ta.channelBind(0x4000, b.relayed), T0)), 0);
  const packet = () => buildChannelData(0x4000, Buffer.alloc(200), false);
  let relayed = 0;
  for (let i = 0; i < 10; i++) if (core.handleClientPacket(ca, packet(), T0 + 1)) relayed++;
  assert.equal(relayed, 5);
  assert.equal(core.counters.bandwidthDropped, 5);
  assert.equal(core.handleClientPacket(ca, packet(), T0 + 1001)?.kind, 'relay');
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

test('bench mode accepts `expiry` and `expiry:anything` usernames with no call behind them', () => {
  const { core } = makeCore({ bench: true, calls: undefined });
  for (const username of [String(T0 / 1000 + 60), `${T0 / 1000 + 60}:whatever`]) {
    const tc = new TurnTestClient({ username, password: turnPassword(SECRET, username) });
    allocate(core, client('127.0.0.1'), tc);
  }
  // Still expiring, still keyed by the secret.
  const old = String(T0 / 1000 - 1);
  const tc = new TurnTestClient({ username: old, password: turnPassword(SECRET, old) });
  const c = client('127.0.0.1');
  tc.read(reply(core.handleClientPacket(c, tc.allocate(), T0)));
  assert.equal(errorOf(tc, core.handleClientPacket(c, tc.allocate(), T0)), 401);
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
    { address: { ip: '192.0.2.1', port: nextRelayPort++ } },
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
