import { test } from 'node:test';
import assert from 'node:assert/strict';
import { channelDataToClient } from './messages.ts';
import { bindChannel } from './channel-bind.ts';
import { T0, makeAllocation } from './core-test-kit.ts';
import {
  channelDataTarget,
  mayRelayToPeer,
  peerDataToClient,
  sendTarget,
  type DataPathContext,
} from './data-path.ts';
import { PeerPolicy } from './peer-policy.ts';
import { installPermission } from './permission.ts';
import {
  Attr,
  MessageClass,
  Method,
  StunBuilder,
  buildChannelData,
  getAttribute,
  parseChannelData,
  parseStunMessage,
} from './stun.ts';
import type { TurnCounters } from './turn-core-types.ts';

function context(o: Partial<DataPathContext> = {}) {
  const counters: TurnCounters = {
    packetsRelayed: 0,
    bytesRelayed: 0,
    refusals: new Map(),
    malformed: 0,
    bandwidthDropped: 0,
  };
  const ctx: DataPathContext = {
    policy: new PeerPolicy({ selfAddresses: ['192.0.2.1'] }),
    bench: false,
    bandwidthBytesPerSec: 1000,
    counters,
    isLiveRelayPort: (port) => port === 50_500,
    refuse: (r) => counters.refusals.set(r, (counters.refusals.get(r) ?? 0) + 1),
    ...o,
  };
  return { ctx, counters };
}

const peer = { ip: '203.0.113.20', port: 7000 };

function sendIndication(to: { ip: string; port: number }, data: Buffer) {
  const b = new StunBuilder(Method.SEND, MessageClass.INDICATION, Buffer.alloc(12, 3))
    .addAddress(Attr.XOR_PEER_ADDRESS, to)
    .add(Attr.DATA, data);
  const parsed = parseStunMessage(b.build());
  assert.ok(parsed.ok);
  return parsed.value;
}

test('client → peer: ChannelData needs a live channel and permission; Send needs a permission', () => {
  const { ctx, counters } = context();
  const a = makeAllocation();
  const cd = buildChannelData(0x4000, Buffer.from('hello'), false);
  assert.equal(channelDataTarget(ctx, a, cd, T0), undefined, 'no channel');
  assert.equal(sendTarget(a, sendIndication(peer, Buffer.from('x')), T0), undefined, 'no perm');
  bindChannel(a, 0x4000, peer, T0);
  const t = channelDataTarget(ctx, a, cd, T0);
  assert.deepEqual(t && { ...t, data: t.data.toString() }, { peer, data: 'hello' });
  const s = sendTarget(a, sendIndication(peer, Buffer.from('via send')), T0);
  assert.equal(s?.data.toString(), 'via send');
  // The permission (300 s) lapses before the channel (600 s): ChannelData stops with it.
  assert.equal(channelDataTarget(ctx, a, cd, T0 + 300_000), undefined);
  assert.equal(channelDataTarget(ctx, a, Buffer.from([0x40, 0, 0, 9, 1]), T0), undefined);
  assert.equal(counters.malformed, 1);
});

test('mayRelayToPeer: own addresses only on live relay ports; the bucket caps; every packet counted', () => {
  const { ctx, counters } = context();
  const a = makeAllocation({}, T0, 1000);
  assert.ok(mayRelayToPeer(ctx, a, peer, 600, T0));
  assert.ok(!mayRelayToPeer(ctx, a, peer, 600, T0), 'over the 1000 B/s bucket');
  assert.equal(counters.bandwidthDropped, 1);
  assert.ok(!mayRelayToPeer(ctx, a, { ip: '192.0.2.1', port: 22 }, 10, T0 + 1000));
  assert.equal(counters.refusals.get('peer-self-port'), 1);
  assert.ok(mayRelayToPeer(ctx, a, { ip: '192.0.2.1', port: 50_500 }, 10, T0 + 1000));
  assert.deepEqual([counters.packetsRelayed, counters.bytesRelayed, a.packets], [2, 610, 2]);
});

test('peer → client: ChannelData on a bound channel, else a Data indication; drops counted by reason', () => {
  const { ctx, counters } = context();
  const a = makeAllocation();
  const data = Buffer.from('from the peer');
  assert.equal(peerDataToClient(ctx, a, peer.ip, peer.port, data, T0, undefined, false), undefined);
  installPermission(a, peer.ip, T0);
  const ind = peerDataToClient(ctx, a, peer.ip, peer.port, data, T0, undefined, false);
  const msg = ind && parseStunMessage(ind);
  assert.ok(msg?.ok);
  assert.equal(msg.value.method, Method.DATA);
  assert.equal(getAttribute(msg.value, Attr.DATA)?.toString(), 'from the peer');
  bindChannel(a, 0x4123, peer, T0);
  const cd = peerDataToClient(ctx, a, peer.ip, peer.port, data, T0, undefined, false);
  const parsed = cd && parseChannelData(cd);
  assert.ok(parsed?.ok);
  assert.equal(parsed.value.channel, 0x4123);
  // Another port of the same IP has the permission but no channel: a Data indication.
  const other = peerDataToClient(ctx, a, peer.ip, 7001, data, T0, undefined, false);
  assert.equal(other && parseStunMessage(other).ok, true);
  // An allocation of another call on this server: dropped, except in bench mode.
  const stranger = makeAllocation({ callId: 'c2' });
  assert.equal(peerDataToClient(ctx, a, peer.ip, peer.port, data, T0, stranger, false), undefined);
  assert.equal(counters.refusals.get('cross-call'), 1);
  const bench = context({ bench: true });
  assert.ok(peerDataToClient(bench.ctx, a, peer.ip, peer.port, data, T0, stranger, false));
  a.deleted = true;
  assert.equal(peerDataToClient(ctx, a, peer.ip, peer.port, data, T0, undefined, false), undefined);
});

test('channelDataToClient: in place with headroom over UDP (no copy), padded to 4 bytes over TCP', () => {
  const datagram = () => Buffer.from(Buffer.alloc(7).fill(0x61).buffer, 0, 7);
  const d1 = datagram();
  const inPlace = channelDataToClient(0x4001, d1.subarray(4), false, true);
  assert.equal(inPlace.buffer, d1.buffer, 'the same memory');
  assert.equal(inPlace.byteOffset, d1.byteOffset);
  assert.deepEqual([...d1.subarray(0, 4)], [0x40, 0x01, 0x00, 0x03], 'header written in place');
  const d2 = datagram();
  const copied = channelDataToClient(0x4001, d2.subarray(4), false, false);
  assert.notEqual(copied.buffer, d2.buffer);
  assert.deepEqual([...copied], [0x40, 0x01, 0x00, 0x03, 0x61, 0x61, 0x61]);
  assert.deepEqual([...d2.subarray(0, 4)], [0x61, 0x61, 0x61, 0x61], 'the input untouched');
  const d3 = datagram();
  const tcp = channelDataToClient(0x4001, d3.subarray(4), true, true);
  assert.equal(tcp.length, 8, 'TCP pads to 4 bytes (RFC 8656 §12.5)');
  assert.deepEqual([...d3.subarray(0, 4)], [0x61, 0x61, 0x61, 0x61], 'and never writes in place');
});
