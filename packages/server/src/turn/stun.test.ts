import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  Attr,
  MessageClass,
  Method,
  StreamFramer,
  StunBuilder,
  buildChannelData,
  checkIntegrity,
  decodeAddress,
  encodeAddress,
  getAttribute,
  longTermKey,
  parseChannelData,
  parseStunMessage,
} from './stun.ts';

/** Small deterministic PRNG (mulberry32) so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function sample(): { buf: Buffer; key: Buffer } {
  const key = longTermKey('1700000000:call:alice', 'parloir', 'pw');
  const buf = new StunBuilder(Method.ALLOCATE, MessageClass.REQUEST, Buffer.alloc(12, 7))
    .addUint32(Attr.REQUESTED_TRANSPORT, 17 << 24)
    .addString(Attr.USERNAME, '1700000000:call:alice')
    .addString(Attr.REALM, 'parloir')
    .addString(Attr.NONCE, 'abc')
    .build({ integrityKey: key, fingerprint: true });
  return { buf, key };
}

test('message type encodes method and class as RFC 8489 §5 interleaves them', () => {
  const tid = Buffer.alloc(12);
  const type = (m: number, c: number) => new StunBuilder(m, c, tid).build().readUInt16BE(0);
  assert.equal(type(Method.BINDING, MessageClass.REQUEST), 0x0001);
  assert.equal(type(Method.BINDING, MessageClass.SUCCESS), 0x0101);
  assert.equal(type(Method.ALLOCATE, MessageClass.ERROR), 0x0113);
  assert.equal(type(Method.DATA, MessageClass.INDICATION), 0x0017);
  assert.equal(type(Method.CHANNEL_BIND, MessageClass.SUCCESS), 0x0109);
  for (const m of Object.values(Method)) {
    for (const c of Object.values(MessageClass)) {
      const parsed = parseStunMessage(new StunBuilder(m, c, tid).build());
      assert.ok(parsed.ok);
      assert.equal(parsed.value.method, m);
      assert.equal(parsed.value.cls, c);
    }
  }
});

test('build/parse round trip with MESSAGE-INTEGRITY and FINGERPRINT', () => {
  const { buf, key } = sample();
  const parsed = parseStunMessage(buf);
  assert.ok(parsed.ok);
  const msg = parsed.value;
  assert.equal(getAttribute(msg, Attr.USERNAME)?.toString(), '1700000000:call:alice');
  assert.equal(getAttribute(msg, Attr.REQUESTED_TRANSPORT)?.[0], 17);
  assert.ok(msg.integrityOffset > 0);
  assert.ok(checkIntegrity(msg, key));
  assert.ok(!checkIntegrity(msg, longTermKey('1700000000:call:alice', 'parloir', 'other')));
});

test('a flipped byte up to MESSAGE-INTEGRITY breaks FINGERPRINT or the integrity check', () => {
  const { buf, key } = sample();
  // Past MESSAGE-INTEGRITY only FINGERPRINT counts (RFC 8489 §14.5); a flip that turns it into
  // another attribute leaves a message that is still valid.
  const end = buf.length - 8;
  for (let i = 0; i < end; i++) {
    const copy = Buffer.from(buf);
    copy[i] = (copy[i] ?? 0) ^ 0x01;
    const parsed = parseStunMessage(copy);
    if (parsed.ok) assert.ok(!checkIntegrity(parsed.value, key), `byte ${i} went unnoticed`);
  }
});

test('XOR addresses round trip (IPv4) and IPv6 decodes with the transaction id', () => {
  const tid = randomBytes(12);
  for (const addr of [
    { ip: '127.0.0.1', port: 3478 },
    { ip: '203.0.113.9', port: 65535 },
    { ip: '0.0.0.0', port: 1 },
  ]) {
    for (const xor of [true, false]) {
      const dec = decodeAddress(encodeAddress(addr, xor), xor, tid);
      assert.ok(dec.ok);
      assert.deepEqual({ ip: dec.value.ip, port: dec.value.port }, addr);
    }
  }
  const v6 = Buffer.alloc(20);
  v6[1] = 0x02;
  const dec = decodeAddress(v6, true, tid);
  assert.ok(dec.ok);
  assert.equal(dec.value.family, 6);
  assert.equal(decodeAddress(Buffer.from([0, 3, 0, 0, 1, 2, 3, 4]), true, tid).ok, false);
});

test('ChannelData: padding on TCP, range and length checks', () => {
  const data = Buffer.from('hello');
  const udp = buildChannelData(0x4001, data, false);
  const tcp = buildChannelData(0x4001, data, true);
  assert.equal(udp.length, 9);
  assert.equal(tcp.length, 12);
  for (const b of [udp, tcp]) {
    const p = parseChannelData(b);
    assert.ok(p.ok);
    assert.equal(p.value.channel, 0x4001);
    assert.equal(p.value.data.toString(), 'hello');
  }
  const short = parseChannelData(udp.subarray(0, 7));
  assert.ok(!short.ok && short.error.code === 'TURN_ERR_TRUNCATED');
  const bad = parseChannelData(Buffer.from([0x80, 0, 0, 0]));
  assert.ok(!bad.ok && bad.error.code === 'TURN_ERR_BAD_CHANNEL_DATA');
});

test('fuzz: random and mutated bytes never throw, and errors carry a TURN_ERR_ code', () => {
  const rnd = prng(0x5eed);
  const { buf } = sample();
  const channel = buildChannelData(0x4000, Buffer.alloc(40, 1), false);
  let accepted = 0;
  for (let i = 0; i < 4000; i++) {
    let input: Buffer;
    const mode = i % 4;
    if (mode === 0) {
      input = Buffer.alloc(Math.floor(rnd() * 120));
      for (let j = 0; j < input.length; j++) input[j] = Math.floor(rnd() * 256);
      // Half of them get a valid cookie and length, to get past the first checks.
      if (input.length >= 20 && rnd() < 0.5) {
        input[0] = input[0]! & 0x3f;
        input.writeUInt32BE(0x2112a442, 4);
        input.writeUInt16BE((input.length - 20) & ~3, 2);
        input = input.subarray(0, 20 + ((input.length - 20) & ~3));
      }
    } else {
      const base = mode === 3 ? channel : buf;
      input = Buffer.from(base);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) {
        input[Math.floor(rnd() * input.length)] = Math.floor(rnd() * 256);
      }
      if (mode === 2) input = input.subarray(0, Math.floor(rnd() * input.length));
    }
    for (const result of [parseStunMessage(input), parseChannelData(input)]) {
      if (result.ok) accepted++;
      else assert.match(result.error.code, /^TURN_ERR_/);
    }
    const stun = parseStunMessage(input);
    if (stun.ok) {
      for (const a of stun.value.attributes) {
        const d = decodeAddress(a.value, true, stun.value.transactionId);
        if (!d.ok) assert.match(d.error.code, /^TURN_ERR_/);
      }
    }
  }
  assert.ok(accepted > 0, 'some mutated inputs must still parse (exercising later checks)');
});

test('stream framer: frames survive any split, garbage and oversize frames are errors', () => {
  const rnd = prng(42);
  const frames = [
    sample().buf,
    buildChannelData(0x4000, Buffer.from('abcde'), false),
    new StunBuilder(Method.BINDING, MessageClass.REQUEST, Buffer.alloc(12)).build(),
    buildChannelData(0x4fff, Buffer.alloc(0), false),
  ];
  const wire = Buffer.concat(
    frames.map((f) =>
      f[0]! & 0xc0 ? buildChannelData(f.readUInt16BE(0), f.subarray(4), true) : f,
    ),
  );
  for (let round = 0; round < 200; round++) {
    const framer = new StreamFramer();
    const got: Buffer[] = [];
    let at = 0;
    while (at < wire.length) {
      const n = 1 + Math.floor(rnd() * 24);
      const r = framer.push(wire.subarray(at, at + n));
      assert.ok(r.ok);
      got.push(...r.value.map((b) => Buffer.from(b)));
      at += n;
    }
    assert.deepEqual(got, frames);
  }
  const garbage = new StreamFramer().push(Buffer.from([0xff, 0, 0, 0]));
  assert.ok(!garbage.ok && garbage.error.code === 'TURN_ERR_NOT_STUN');
  const big = new StreamFramer(1000).push(Buffer.from([0x40, 0x00, 0xff, 0xff]));
  assert.ok(!big.ok && big.error.code === 'TURN_ERR_FRAME_TOO_LARGE');
});
