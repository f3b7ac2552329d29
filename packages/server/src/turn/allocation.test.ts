import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T0, makeCore, client, reply, creds, errorOf, twoParties } from './core-test-kit.ts';
import { buildChannelData } from './stun.ts';

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
