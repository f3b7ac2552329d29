import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_LIFETIME_SEC,
  MAX_LIFETIME_SEC,
  grantedLifetimeSec,
  isLive,
  parseAllocateRequest,
  refreshAllocation,
  spendBandwidth,
} from './allocation.ts';
import {
  T0,
  makeCore,
  client,
  reply,
  creds,
  errorOf,
  twoParties,
  makeAllocation,
  request,
} from './core-test-kit.ts';
import { Attr, Method, buildChannelData, type StunBuilder } from './stun.ts';

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

test('grantedLifetimeSec: absent → default, 0 kept, short raised to 600 s, long capped at 3600 s', () => {
  const life = (sec?: number) =>
    grantedLifetimeSec(
      request(Method.REFRESH, (b) => {
        if (sec !== undefined) b.addUint32(Attr.LIFETIME, sec);
      }),
    );
  assert.equal(life(), DEFAULT_LIFETIME_SEC);
  assert.equal(life(0), 0);
  assert.equal(life(30), DEFAULT_LIFETIME_SEC);
  assert.equal(life(1200), 1200);
  assert.equal(life(99_999), MAX_LIFETIME_SEC);
});

test('parseAllocateRequest: each fault gets its code, in the order RFC 8656 §7.2 checks them', () => {
  const udp = (n: number) => (b: StunBuilder) =>
    b.add(Attr.REQUESTED_TRANSPORT, Buffer.from([n, 0, 0, 0]));
  const parse = (add: (b: StunBuilder) => void, transport: 'udp' | 'tcp' = 'udp') =>
    parseAllocateRequest(request(Method.ALLOCATE, add), transport);
  const code = (r: ReturnType<typeof parse>) => (r.ok ? 0 : r.code);
  assert.equal(code(parse(() => {})), 400);
  assert.equal(code(parse(udp(1))), 442);
  assert.equal(code(parse(udp(6))), 400, 'TCP relaying over UDP');
  const tcpEven = parse((b) => {
    udp(6)(b);
    b.add(Attr.EVEN_PORT, Buffer.from([0x80]));
  }, 'tcp');
  assert.equal(code(tcpEven), 400);
  assert.equal(
    code(parse((b) => udp(17)(b).add(Attr.REQUESTED_ADDRESS_FAMILY, Buffer.from([2, 0, 0, 0])))),
    440,
  );
  const both = parse((b) =>
    udp(17)(b)
      .add(Attr.EVEN_PORT, Buffer.from([0]))
      .add(Attr.RESERVATION_TOKEN, Buffer.alloc(8)),
  );
  assert.equal(code(both), 400);
  assert.equal(code(parse((b) => udp(17)(b).add(Attr.RESERVATION_TOKEN, Buffer.alloc(7)))), 400);
  const ok = parse((b) =>
    udp(17)(b)
      .add(Attr.EVEN_PORT, Buffer.from([0x80]))
      .addUint32(Attr.LIFETIME, 1800),
  );
  assert.ok(ok.ok);
  assert.deepEqual(
    { ...ok.value, reservationToken: ok.value.reservationToken?.length },
    {
      tcpRelay: false,
      evenPort: true,
      reserveNext: true,
      reservationToken: undefined,
      lifetimeSec: 1800,
    },
  );
  const tcp = parse(udp(6), 'tcp');
  assert.ok(tcp.ok && tcp.value.tcpRelay);
});

test('an allocation lives until its expiry on the fake clock; refresh moves it; deletion ends it', () => {
  const a = makeAllocation({ lifetimeSec: 600 }, T0);
  assert.equal(a.expiresAtMs, T0 + 600_000);
  assert.ok(isLive(a, T0 + 599_999));
  assert.ok(!isLive(a, T0 + 600_000));
  refreshAllocation(a, 1200, T0 + 500_000);
  assert.ok(isLive(a, T0 + 1_699_999));
  assert.ok(!isLive(a, T0 + 1_700_000));
  a.deleted = true;
  assert.ok(!isLive(a, T0 + 1));
});

test('spendBandwidth: a token bucket of one second, refilled by elapsed time', () => {
  const a = makeAllocation({}, T0, 1000);
  assert.ok(spendBandwidth(a, 600, T0, 1000));
  assert.ok(!spendBandwidth(a, 600, T0, 1000), 'only 400 bytes left');
  assert.ok(spendBandwidth(a, 400, T0, 1000));
  assert.ok(!spendBandwidth(a, 1, T0, 1000));
  assert.ok(spendBandwidth(a, 250, T0 + 250, 1000), '250 ms refill 250 bytes');
  assert.ok(!spendBandwidth(a, 1, T0 + 250, 1000));
  // A long idle refills to the cap, never past it.
  assert.ok(spendBandwidth(a, 1000, T0 + 60_000, 1000));
  assert.ok(!spendBandwidth(a, 1, T0 + 60_000, 1000));
});
