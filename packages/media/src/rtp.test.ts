import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from './impairment.ts';
import { RtpPacketizer, Unwrapper, parseRtp, serializeRtp } from './rtp.ts';

test('RTP header round-trips through serialize/parse (RFC 3550 §5.1)', () => {
  const payload = new Uint8Array([1, 2, 3, 4, 5]);
  const bytes = serializeRtp({
    payloadType: 111,
    sequenceNumber: 65535,
    timestamp: 0xfffffff0,
    ssrc: 0xdeadbeef,
    marker: true,
    csrcs: [7, 8],
    payload,
  });
  const r = parseRtp(bytes);
  assert.ok(r.ok);
  assert.equal(r.value.payloadType, 111);
  assert.equal(r.value.sequenceNumber, 65535);
  assert.equal(r.value.timestamp, 0xfffffff0);
  assert.equal(r.value.ssrc, 0xdeadbeef);
  assert.equal(r.value.marker, true);
  assert.deepEqual(r.value.csrcs, [7, 8]);
  assert.deepEqual([...r.value.payload], [1, 2, 3, 4, 5]);
});

test('RTP padding and header extension are stripped; bad ones are typed errors', () => {
  // V=2, P=1, X=1; extension of 1 word; 3 bytes of padding.
  const bytes = new Uint8Array([
    0xb0, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xbe, 0xde, 0, 1, 9, 9, 9, 9, 0xaa, 0xbb, 0, 0, 3,
  ]);
  const r = parseRtp(bytes);
  assert.ok(r.ok);
  assert.deepEqual([...r.value.payload], [0xaa, 0xbb]);
  const short = parseRtp(bytes.subarray(0, 11));
  assert.ok(!short.ok && short.error.code === 'MEDIA_ERR_RTP_TOO_SHORT');
  const v1 = parseRtp(new Uint8Array(12).fill(0x40, 0, 1));
  assert.ok(!v1.ok && v1.error.code === 'MEDIA_ERR_RTP_VERSION');
  const badPad = bytes.slice();
  badPad[badPad.length - 1] = 200;
  const p = parseRtp(badPad);
  assert.ok(!p.ok && p.error.code === 'MEDIA_ERR_RTP_PADDING');
});

test('parseRtp never throws on random or mutated input (fuzz, 20000 cases)', () => {
  const rng = new Prng(42);
  const valid = serializeRtp({
    payloadType: 0,
    sequenceNumber: 1,
    timestamp: 2,
    ssrc: 3,
    marker: false,
    csrcs: [1],
    payload: new Uint8Array(20),
  });
  for (let i = 0; i < 20000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = new Uint8Array(Math.floor(rng.next() * 40));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rng.next() * 256);
    } else {
      bytes = valid.slice(0, Math.floor(rng.next() * (valid.length + 1)));
      for (let k = 0; k < 3 && bytes.length > 0; k++) {
        bytes[Math.floor(rng.next() * bytes.length)] = Math.floor(rng.next() * 256);
      }
    }
    const r = parseRtp(bytes);
    if (r.ok) assert.ok(r.value.payload.length <= bytes.length);
    else assert.match(r.error.code, /^MEDIA_ERR_RTP_/);
  }
});

test('sequence numbers unwrap across 65535 → 0, also when reordered around the wrap', () => {
  const u = new Unwrapper(16);
  const base = u.unwrap(65533);
  const got = [65534, 65535, 1, 0, 2, 65535].map((s) => u.unwrap(s) - base);
  assert.deepEqual(got, [1, 2, 4, 3, 5, 2]);
});

test('timestamps unwrap across 2^32', () => {
  const u = new Unwrapper(32);
  const base = u.unwrap(2 ** 32 - 960);
  assert.equal(u.unwrap(0) - base, 960);
  assert.equal(u.unwrap(960) - base, 1920);
  assert.equal(u.unwrap(2 ** 32 - 960) - base, 0);
});

test('packetizer: consecutive seq/timestamps, wraps, and marks the packet after DTX', () => {
  const p = new RtpPacketizer({
    payloadType: 111,
    ssrc: 9,
    clockRate: 48000,
    initialSequenceNumber: 65535,
    initialTimestamp: 2 ** 32 - 960,
  });
  const a = p.packetize(new Uint8Array([1]), 20);
  const b = p.packetize(new Uint8Array([2]), 20);
  assert.equal(a.marker, true, 'first packet starts a talkspurt');
  assert.equal(b.marker, false);
  assert.equal(b.sequenceNumber, 0);
  assert.equal(b.timestamp, 0);
  p.skip(20);
  p.skip(20);
  const c = p.packetize(new Uint8Array([3]), 60);
  assert.equal(c.sequenceNumber, 1, 'DTX does not consume sequence numbers');
  assert.equal(c.timestamp, 3 * 960, 'but time advances');
  assert.equal(c.marker, true, 'marker after DTX (RFC 3551 §4.1)');
  assert.equal(p.nextTimestamp, 3 * 960 + 2880);
});
