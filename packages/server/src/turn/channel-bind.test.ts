import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T0, errorOf, twoParties } from './core-test-kit.ts';
import { buildChannelData, parseChannelData } from './stun.ts';

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
