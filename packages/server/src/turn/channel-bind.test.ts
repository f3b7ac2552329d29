import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CHANNEL_LIFETIME_MS,
  MAX_CHANNEL,
  MIN_CHANNEL,
  bindChannel,
  channelOfPeer,
  channelPeer,
  expireChannels,
  parseChannelBindRequest,
} from './channel-bind.ts';
import { T0, errorOf, twoParties, makeAllocation, request } from './core-test-kit.ts';
import { Attr, Method, buildChannelData, parseChannelData } from './stun.ts';

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

test('parseChannelBindRequest: 0x4000-0x7FFF accepted, the numbers either side refused', () => {
  const bind = (n: number | undefined, peer = true) =>
    parseChannelBindRequest(
      request(Method.CHANNEL_BIND, (b) => {
        if (n !== undefined) b.add(Attr.CHANNEL_NUMBER, Buffer.from([n >> 8, n & 255, 0, 0]));
        if (peer) b.addAddress(Attr.XOR_PEER_ADDRESS, { ip: '203.0.113.20', port: 7000 });
      }),
    );
  for (const n of [MIN_CHANNEL, 0x4fff, 0x5000, MAX_CHANNEL]) {
    const r = bind(n);
    assert.ok(r.ok, `0x${n.toString(16)}`);
    assert.equal(r.value.channel, n);
    assert.equal(r.value.peer.ip, '203.0.113.20');
    assert.equal(r.value.peer.port, 7000);
  }
  for (const n of [0x3fff, 0x8000, 0xffff, 0]) {
    assert.deepEqual(bind(n), { ok: false, code: 400, why: 'channel number out of range' });
  }
  assert.equal(bind(undefined).ok, false);
  assert.equal(bind(0x4000, false).ok, false);
});

test('bindChannel on the fake clock: bind, rebind refreshes, conflicts change nothing, expiry both ways', () => {
  const a = makeAllocation();
  const p1 = { ip: '203.0.113.20', port: 7000 };
  const p2 = { ip: '203.0.113.20', port: 7001 };
  assert.ok(bindChannel(a, 0x4000, p1, T0));
  assert.ok(a.permissions.has(p1.ip), 'a binding installs the permission');
  assert.equal(channelOfPeer(a, p1.ip, p1.port, T0), 0x4000);
  assert.equal(channelPeer(a, 0x4000, T0)?.peerKey, '203.0.113.20:7000');
  // RFC 8656 §12.2: one peer per channel and one channel per peer.
  assert.ok(!bindChannel(a, 0x4000, p2, T0));
  assert.ok(!bindChannel(a, 0x4001, p1, T0));
  assert.equal(a.channels.size, 1);
  // The same binding again refreshes it.
  assert.ok(bindChannel(a, 0x4000, p1, T0 + 500_000));
  assert.ok(channelPeer(a, 0x4000, T0 + 500_000 + CHANNEL_LIFETIME_MS - 1));
  assert.equal(channelPeer(a, 0x4000, T0 + 500_000 + CHANNEL_LIFETIME_MS), undefined);
  assert.equal(channelOfPeer(a, p1.ip, p1.port, T0 + 500_000 + CHANNEL_LIFETIME_MS), undefined);
  expireChannels(a, T0 + 500_000 + CHANNEL_LIFETIME_MS - 1);
  assert.equal(a.channels.size, 1);
  expireChannels(a, T0 + 500_000 + CHANNEL_LIFETIME_MS);
  assert.equal(a.channels.size, 0);
  assert.equal(a.channelByPeer.size, 0);
  // Once expired, both the number and the peer are free again.
  assert.ok(bindChannel(a, 0x4001, p1, T0 + 2_000_000));
  assert.ok(bindChannel(a, 0x4000, p2, T0 + 2_000_000));
});
