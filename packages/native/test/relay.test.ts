/**
 * The native TURN forwarding thread on loopback: it forwards only what its tables cover, hands
 * everything else up, stops at once when an entry is deleted, and survives garbage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { crc32 } from 'node:zlib';
import { TurnForwarder, type ForwarderPacket, ipv4ToNumber, numberToIpv4 } from '../index.ts';
import { waitFor } from './wait.ts';

const LO = '127.0.0.1';
const MAGIC = 0x2112a442;

/** A UDP socket with an inbox. */
class Endpoint {
  readonly sock = dgram.createSocket('udp4');
  inbox: { data: Buffer; port: number }[] = [];
  #wake: (() => void) | undefined;
  constructor() {
    this.sock.on('message', (data, rinfo) => {
      this.inbox.push({ data, port: rinfo.port });
      this.#wake?.();
    });
  }
  async open(): Promise<number> {
    await new Promise<void>((r) => this.sock.bind(0, LO, r));
    return this.sock.address().port;
  }
  get port(): number {
    return this.sock.address().port;
  }
  send(data: Buffer, port: number): void {
    this.sock.send(data, port, LO);
  }
  /** Waits until `n` datagrams are in the inbox or `ms` passed. */
  async waitFor(n: number, ms = 1000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.inbox.length < n && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.#wake = r;
        setTimeout(r, 20);
      });
    }
  }
  close(): void {
    this.sock.close();
  }
}

function channelData(channel: number, payload: string | Buffer): Buffer {
  const data = Buffer.from(payload);
  const out = Buffer.alloc(4 + data.length);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, 4);
  return out;
}

/** A Send indication (RFC 8656 §11) toward `ip:port`. */
function sendIndication(ip: string, port: number, payload: Buffer): Buffer {
  const pad = (4 - (payload.length % 4)) % 4;
  const out = Buffer.alloc(20 + 12 + 4 + payload.length + pad);
  out.writeUInt16BE(0x0016, 0);
  out.writeUInt16BE(out.length - 20, 2);
  out.writeUInt32BE(MAGIC, 4);
  out.writeUInt16BE(0x0012, 20);
  out.writeUInt16BE(8, 22);
  out[25] = 1;
  out.writeUInt16BE(port ^ (MAGIC >>> 16), 26);
  out.writeUInt32BE((ipv4ToNumber(ip) ^ MAGIC) >>> 0, 28);
  out.writeUInt16BE(0x0013, 32);
  out.writeUInt16BE(payload.length, 34);
  payload.copy(out, 36);
  return out;
}

/** The same Send indication with SOFTWARE and FINGERPRINT appended (as uclient -s sends). */
function withFingerprint(send: Buffer, corrupt = false): Buffer {
  const software = Buffer.from([0x80, 0x22, 0, 4, 0x74, 0x65, 0x73, 0x74]);
  const out = Buffer.concat([send, software, Buffer.alloc(8)]);
  out.writeUInt16BE(out.length - 20, 2);
  const fpAt = out.length - 8;
  out.writeUInt16BE(0x8028, fpAt);
  out.writeUInt16BE(4, fpAt + 2);
  out.writeUInt32BE(
    (crc32(out.subarray(0, fpAt)) ^ 0x5354554e ^ (corrupt ? 1 : 0)) >>> 0,
    fpAt + 4,
  );
  return out;
}

/** Parses a Data indication into its peer and data, or undefined. */
function parseDataIndication(b: Buffer): { ip: string; port: number; data: Buffer } | undefined {
  if (b.length < 36 || b.readUInt16BE(0) !== 0x0017 || b.readUInt32BE(4) !== MAGIC) return;
  if (b.readUInt16BE(2) + 20 !== b.length || b.readUInt16BE(20) !== 0x0012) return;
  const port = b.readUInt16BE(26) ^ (MAGIC >>> 16);
  const ip = numberToIpv4((b.readUInt32BE(28) ^ MAGIC) >>> 0);
  if (b.readUInt16BE(32) !== 0x0013) return;
  return { ip, port, data: b.subarray(36, 36 + b.readUInt16BE(34)) };
}

interface Rig {
  fwd: TurnForwarder;
  up: ForwarderPacket[];
  a: Endpoint;
  b: Endpoint;
  peer: Endpoint;
  pa: number;
  pb: number;
  close(): void;
}

/**
 * A forwarder with two relay ports. The outside peer shares the relay's IP (loopback), so the
 * rig opens the relay's own ports to clients unless `selfPortsOpen` is false.
 */
async function rig(cap = 10_000_000, selfPortsOpen = true): Promise<Rig> {
  const up: ForwarderPacket[] = [];
  const fwd = new TurnForwarder({
    listenIp: LO,
    port: 0,
    sockets: 1,
    relayIp: LO,
    bandwidthBytesPerSec: cap,
    onPackets: (p) => up.push(...p),
    selfPortsOpen,
  });
  const [a, b, peer] = [new Endpoint(), new Endpoint(), new Endpoint()];
  await Promise.all([a.open(), b.open(), peer.open()]);
  const open = (): number => {
    for (let i = 0; i < 200; i++) {
      const p = 40000 + Math.floor(Math.random() * 9000);
      if (fwd.openRelay(p)) return p;
    }
    throw new Error('no free relay port');
  };
  const pa = open();
  const pb = open();
  return {
    fwd,
    up,
    a,
    b,
    peer,
    pa,
    pb,
    close() {
      fwd.close();
      a.close();
      b.close();
      peer.close();
    },
  };
}

const far = () => Date.now() + 60_000;

/** A and B are allocations of one call; A has channel 0x4000 to B and 0x4002 to `peer`. */
function tables(r: Rig, groups: [number, number] = [1, 1], bChannel = true): void {
  r.fwd.setAllocation({
    relayPort: r.pa,
    clientIp: LO,
    clientPort: r.a.port,
    tcp: false,
    group: groups[0],
    expiresAtMs: far(),
    permissions: [[LO, far()]],
    channels: [
      [0x4000, { peer: { ip: LO, port: r.pb }, expiresAtMs: far() }],
      [0x4002, { peer: { ip: LO, port: r.peer.port }, expiresAtMs: far() }],
    ],
  });
  r.fwd.setAllocation({
    relayPort: r.pb,
    clientIp: LO,
    clientPort: r.b.port,
    tcp: false,
    group: groups[1],
    expiresAtMs: far(),
    permissions: [[LO, far()]],
    channels: bChannel ? [[0x4001, { peer: { ip: LO, port: r.pa }, expiresAtMs: far() }]] : [],
  });
}

test('TurnForwarder: ChannelData relay to relay, to an outside peer and back, Send and Data indications', async () => {
  const r = await rig();
  try {
    tables(r);
    // Client A → channel 0x4000 → B's relayed address: B gets it on its own channel 0x4001.
    r.a.send(channelData(0x4000, 'hello-b'), r.fwd.port);
    await r.b.waitFor(1);
    const cd = r.b.inbox.shift()!;
    assert.equal(cd.port, r.fwd.port, 'sent from the listening address');
    assert.equal(cd.data.readUInt16BE(0), 0x4001);
    assert.equal(cd.data.subarray(4, 4 + cd.data.readUInt16BE(2)).toString(), 'hello-b');
    // Channel 0x4002 → the outside peer, from A's relayed port.
    r.a.send(channelData(0x4002, 'to-peer'), r.fwd.port);
    await r.peer.waitFor(1);
    const out = r.peer.inbox.shift()!;
    assert.equal(out.port, r.pa);
    assert.equal(out.data.toString(), 'to-peer');
    // The peer answers to A's relayed port: 0x4002 is bound to it, so A gets ChannelData 0x4002.
    r.peer.send(Buffer.from('from-peer'), r.pa);
    await r.a.waitFor(1);
    const back = r.a.inbox.shift()!;
    assert.equal(back.data.readUInt16BE(0), 0x4002);
    assert.equal(back.data.subarray(4).toString(), 'from-peer');
    // A Send indication to the peer; the peer's reply from another port has no channel: Data
    // indication carrying the peer's address.
    r.a.send(sendIndication(LO, r.peer.port, Buffer.from('via-send')), r.fwd.port);
    await r.peer.waitFor(1);
    assert.equal(r.peer.inbox.shift()!.data.toString(), 'via-send');
    // With SOFTWARE and a good FINGERPRINT it is still forwarded; a bad FINGERPRINT goes up.
    r.a.send(withFingerprint(sendIndication(LO, r.peer.port, Buffer.from('fp'))), r.fwd.port);
    await r.peer.waitFor(1);
    assert.equal(r.peer.inbox.shift()?.data.toString(), 'fp');
    const bad = withFingerprint(sendIndication(LO, r.peer.port, Buffer.from('bad-fp')), true);
    r.a.send(bad, r.fwd.port);
    for (let i = 0; i < 50 && r.up.length === 0; i++)
      await new Promise((res) => setTimeout(res, 10));
    assert.deepEqual(r.up.shift()?.data, bad);
    const other = new Endpoint();
    await other.open();
    other.send(Buffer.from('odd-len'), r.pa);
    await r.a.waitFor(1);
    const otherPort = other.port;
    other.close();
    const ind = parseDataIndication(r.a.inbox.shift()!.data);
    assert.ok(ind, 'a Data indication');
    assert.equal(ind.ip, LO);
    assert.equal(ind.port, otherPort);
    assert.equal(ind.data.toString(), 'odd-len');
    // B without a channel toward A: relay-to-relay data arrives as a Data indication.
    tables(r, [1, 1], false);
    r.a.send(channelData(0x4000, 'no-channel'), r.fwd.port);
    await r.b.waitFor(1);
    const ind2 = parseDataIndication(r.b.inbox.shift()!.data);
    assert.deepEqual(ind2 && { ip: ind2.ip, port: ind2.port, data: ind2.data.toString() }, {
      ip: LO,
      port: r.pa,
      data: 'no-channel',
    });
    const c = r.fwd.counters();
    assert.equal(c.packets, 2 + 1 + 1 + 1 + 1 + 1 + 2);
    assert.equal(r.up.length, 0, 'nothing was handed up');
  } finally {
    r.close();
  }
});

test('TurnForwarder: a client cannot reach a port of the relay IP that no allocation holds, by ChannelData or Send', async () => {
  // The attack (issue 17): a permission for the other party's relayed address covers every port
  // of the relay IP, so a local service there (`peer`, standing in for sshd or a database) was
  // reachable. Relay-to-relay traffic must still flow.
  const r = await rig(10_000_000, false);
  try {
    tables(r);
    r.a.send(channelData(0x4002, 'to-local-service'), r.fwd.port);
    r.a.send(sendIndication(LO, r.peer.port, Buffer.from('send-to-local')), r.fwd.port);
    r.a.send(channelData(0x4000, 'relay-to-relay'), r.fwd.port);
    await r.b.waitFor(1);
    assert.equal(r.b.inbox.length, 1, 'the live relay port is reached');
    for (let i = 0; i < 100 && r.fwd.counters().selfPort < 2; i++)
      await new Promise((res) => setTimeout(res, 10));
    assert.equal(r.fwd.counters().selfPort, 2, 'both attempts dropped and counted');
    assert.equal(r.peer.inbox.length, 0, 'nothing reached the local service');
    assert.equal(r.up.length, 0, 'nothing was handed up to be forwarded by TypeScript');
  } finally {
    r.close();
  }
});

test('TurnForwarder: what no table covers is handed up; deleteAllocation stops forwarding at once', async () => {
  const r = await rig();
  try {
    tables(r);
    const stranger = new Endpoint();
    await stranger.open();
    // A STUN request from a known client and anything from a stranger go up, in order.
    const binding = Buffer.alloc(20);
    binding.writeUInt16BE(0x0001, 0);
    binding.writeUInt32BE(MAGIC, 4);
    r.a.send(binding, r.fwd.port);
    stranger.send(channelData(0x4000, 'who'), r.fwd.port);
    for (let i = 0; i < 50 && r.up.length < 2; i++) await new Promise((res) => setTimeout(res, 10));
    assert.equal(r.up.length, 2);
    assert.deepEqual(
      r.up.map((p) => [p.kind, p.ip, p.port, p.relayPort]),
      [
        ['client', LO, r.a.port, 0],
        ['client', LO, stranger.port, 0],
      ],
    );
    assert.deepEqual(r.up[0]!.data, binding);
    // A TCP client's allocation: its peers' packets go up with the relay port.
    r.fwd.setAllocation({
      relayPort: r.pb,
      clientIp: LO,
      clientPort: 1,
      tcp: true,
      group: 1,
      expiresAtMs: far(),
      permissions: [[LO, far()]],
      channels: [],
    });
    r.peer.send(Buffer.from('for-tcp'), r.pb);
    for (let i = 0; i < 50 && r.up.length < 3; i++) await new Promise((res) => setTimeout(res, 10));
    assert.deepEqual(
      [r.up[2]?.kind, r.up[2]?.relayPort, r.up[2]?.port, r.up[2]?.data.toString()],
      ['peer', r.pb, r.peer.port, 'for-tcp'],
    );
    // Hang-up: once deleteAllocation returns, A's packets are no longer forwarded.
    tables(r);
    r.a.send(channelData(0x4000, 'before'), r.fwd.port);
    await r.b.waitFor(1);
    assert.equal(r.b.inbox.length, 1);
    assert.ok(r.fwd.deleteAllocation(r.pa) >= 1);
    r.b.inbox = [];
    r.a.send(channelData(0x4000, 'after'), r.fwd.port);
    r.peer.send(Buffer.from('after'), r.pa);
    await r.b.waitFor(1, 300);
    await r.a.waitFor(1, 100);
    assert.equal(r.b.inbox.length, 0, 'nothing forwarded after delete');
    assert.equal(r.a.inbox.length, 0, 'nothing forwarded after delete');
    // A is now a stranger: its ChannelData goes up for the TypeScript side to drop.
    assert.equal(r.up.at(-1)?.data.subarray(4).toString(), 'after');
    stranger.close();
  } finally {
    r.close();
  }
});

test('TurnForwarder: expired permissions, other call groups and the bandwidth cap drop packets', async () => {
  const r = await rig(2_000);
  try {
    tables(r, [1, 2]);
    r.a.send(channelData(0x4000, 'x'), r.fwd.port);
    await r.b.waitFor(1, 300);
    assert.equal(r.b.inbox.length, 0, 'cross-group data is dropped');
    assert.equal(r.fwd.counters().crossCall, 1);
    tables(r);
    r.fwd.setAllocation({
      relayPort: r.pa,
      clientIp: LO,
      clientPort: r.a.port,
      tcp: false,
      group: 1,
      expiresAtMs: far(),
      permissions: [[LO, Date.now() - 1]],
      channels: [[0x4000, { peer: { ip: LO, port: r.pb }, expiresAtMs: far() }]],
    });
    r.a.send(channelData(0x4000, 'expired'), r.fwd.port);
    await r.b.waitFor(1, 300);
    assert.equal(r.b.inbox.length, 0, 'an expired permission forwards nothing');
    // 2 000 B/s with a 2 000 B bucket: of 40 × 200 B sent at once, about 10 get through.
    tables(r);
    for (let i = 0; i < 40; i++) r.a.send(channelData(0x4000, Buffer.alloc(200, i)), r.fwd.port);
    await r.b.waitFor(40, 500);
    assert.ok(r.b.inbox.length >= 5 && r.b.inbox.length <= 15, `${r.b.inbox.length} passed`);
    assert.ok(r.fwd.counters().bandwidthDropped >= 20);
    assert.equal(r.up.length, 0);
  } finally {
    r.close();
  }
});

test('TurnForwarder: garbage from a live client, from strangers and to relay ports never stops the relay', async () => {
  const r = await rig();
  try {
    tables(r);
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return Math.floor((seed / 2 ** 32) * n);
    };
    const junk = (): Buffer => {
      const b = Buffer.alloc(rnd(120));
      for (let j = 0; j < b.length; j++) b[j] = rnd(256);
      switch (rnd(5)) {
        case 0: // ChannelData-looking, any channel, any length field
          if (b.length >= 1) b[0] = 0x40 | rnd(64);
          break;
        case 1: {
          // A Send indication cut short or with a lying length
          const s = sendIndication(LO, r.peer.port, b);
          return s.subarray(0, rnd(s.length + 1));
        }
        case 2: {
          const s = sendIndication(LO, r.peer.port, b);
          s.writeUInt16BE(rnd(65536), 2 + 4 * rnd(9));
          return s;
        }
        default:
          break;
      }
      return b;
    };
    const stranger = new Endpoint();
    await stranger.open();
    let valid = 0;
    for (let i = 0; i < 6000; i++) {
      const g = junk();
      if (i % 3 === 0) r.a.send(g, r.fwd.port);
      else if (i % 3 === 1) stranger.send(g, r.fwd.port);
      else r.peer.send(g, r.pa);
      if (i % 100 === 0) {
        r.a.send(channelData(0x4000, `valid-${valid++}`), r.fwd.port);
        await new Promise((res) => setImmediate(res));
      }
    }
    // Wait for these two by content (a 200 ms sleep and "any datagram" could take a late
    // valid-N for them on a loaded machine); bounded, the asserts below say which is missing.
    const text = (m: { data: Buffer }): string => m.data.subarray(4).toString();
    r.a.send(channelData(0x4000, 'still-here'), r.fwd.port);
    r.b.send(channelData(0x4001, 'and-back'), r.fwd.port);
    await waitFor(
      () =>
        r.b.inbox.some((m) => text(m) === 'still-here') &&
        r.a.inbox.some((m) => text(m) === 'and-back'),
      'both probes forwarded',
    ).catch(() => undefined);
    assert.ok(
      r.b.inbox.some((m) => m.data.subarray(4).toString() === 'still-here'),
      'A → B still forwarded',
    );
    assert.ok(
      r.a.inbox.some((m) => m.data.subarray(4).toString() === 'and-back'),
      'B → A still forwarded',
    );
    const c = r.fwd.counters();
    assert.ok(c.malformed > 0, 'malformed ChannelData from the live client was counted');
    assert.ok(r.up.length > 0 && r.up.length < 6000);
    stranger.close();
  } finally {
    r.close();
  }
});

test('TurnForwarder: bad arguments are typed errors; close is idempotent and later calls throw', () => {
  const fwd = new TurnForwarder({
    listenIp: LO,
    port: 0,
    sockets: 1,
    relayIp: LO,
    bandwidthBytesPerSec: 1000,
    onPackets: () => {},
  });
  assert.throws(() => fwd.openRelay(0), { code: 'RELAY_ERR_BAD_ARG' });
  assert.throws(() => fwd.sendToClient('nope', 1, Buffer.alloc(1)), { code: 'RELAY_ERR_BAD_ARG' });
  assert.throws(
    () =>
      new TurnForwarder({
        listenIp: LO,
        port: fwd.port,
        sockets: 1,
        relayIp: LO,
        bandwidthBytesPerSec: 1000,
        onPackets: () => {},
      }),
    { code: 'RELAY_ERR_ADDRESS_IN_USE' },
  );
  fwd.close();
  fwd.close();
  assert.throws(() => fwd.counters(), { code: 'RELAY_ERR_CLOSED' });
});
