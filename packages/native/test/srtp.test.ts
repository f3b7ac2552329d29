import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { NativeError, NativeSrtpGcm, SrtpError, SRTP_GCM_TAG_BYTES } from '../index.ts';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s/g, ''), 'hex');

// RFC 7714 §16: session key and salt given directly, SSRC 0x5501a0b2, SEQ 0xf17b, ROC 0.
const KEY_128 = hex('000102030405060708090a0b0c0d0e0f');
const KEY_256 = hex('000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f');
const SALT = hex('517569642070726f2071756f');
const RTP = hex(`8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973
                 20646976 69736120 696e2070 61727465 73207472 6573`);
// §16.1.1 and §16.2.1: header || ciphertext || tag.
const SRTP_128 = hex(`8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca
                      be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1
                      6a9152cf 765ee439 0cce`);
const SRTP_256 = hex(`8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa
                      b1801238 9a58e2f3 b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff
                      d6b0f9bb 7878d7a7 6c13`);

function isSrtpError(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof SrtpError && e instanceof NativeError && e.code === code;
}

test('RFC 7714 §16.1 and §16.2 known answers, both directions', () => {
  for (const [key, expected] of [
    [KEY_128, SRTP_128],
    [KEY_256, SRTP_256],
  ] as const) {
    const gcm = new NativeSrtpGcm(key, SALT);
    const sealed = gcm.sealRtp(RTP.subarray(0, 12), RTP.subarray(12), 0);
    assert.ok(Buffer.isBuffer(sealed));
    assert.equal(sealed.toString('hex'), expected.toString('hex'));
    const opened = gcm.openRtp(expected, 12, 0);
    assert.ok(opened !== null);
    assert.equal(opened.toString('hex'), RTP.toString('hex'));
    gcm.close();
  }
});

test('matches node:crypto AES-GCM for random packets, ROCs and header lengths', () => {
  for (let i = 0; i < 300; i++) {
    const key = randomBytes(i % 2 === 0 ? 16 : 32);
    const salt = randomBytes(12);
    const gcm = new NativeSrtpGcm(key, salt);
    const headerLength = 12 + 4 * (i % 6);
    const header = randomBytes(headerLength);
    const payload = randomBytes(i % 7 === 0 ? 0 : (i * 37) % 1400);
    const roc = (i * 0x9e3779b1) >>> 0;
    // RFC 7714 §8.1, written out independently of the C code.
    const iv = Buffer.alloc(12);
    header.copy(iv, 2, 8, 12);
    iv.writeUInt32BE(roc, 6);
    header.copy(iv, 10, 2, 4);
    for (let j = 0; j < 12; j++) iv[j] = (iv[j] ?? 0) ^ (salt[j] ?? 0);
    const cipher = createCipheriv(key.length === 16 ? 'aes-128-gcm' : 'aes-256-gcm', key, iv);
    cipher.setAAD(header);
    const body = Buffer.concat([cipher.update(payload), cipher.final()]);
    const reference = Buffer.concat([header, body, cipher.getAuthTag()]);

    const sealed = gcm.sealRtp(header, payload, roc);
    assert.equal(sealed.length, headerLength + payload.length + SRTP_GCM_TAG_BYTES);
    assert.ok(sealed.equals(reference), `packet ${i}`);
    const opened = gcm.openRtp(sealed, headerLength, roc);
    assert.ok(opened?.equals(Buffer.concat([header, payload])), `packet ${i} round trip`);
    // A packet read from the middle of a larger buffer (Buffer pool, subarray).
    const big = Buffer.concat([randomBytes(5), sealed, randomBytes(3)]);
    const view = big.subarray(5, 5 + sealed.length);
    assert.ok(gcm.openRtp(view, headerLength, roc)?.equals(Buffer.concat([header, payload])));
    gcm.close();
  }
});

test('a tampered header, payload or tag, or a wrong ROC, opens to null', () => {
  const gcm = new NativeSrtpGcm(KEY_128, SALT);
  for (const at of [1, 11, 12, 30, SRTP_128.length - 16, SRTP_128.length - 1]) {
    const bad = Buffer.from(SRTP_128);
    bad[at] = (bad[at] ?? 0) ^ 0x01;
    assert.equal(gcm.openRtp(bad, 12, 0), null, `byte ${at} flipped`);
  }
  assert.equal(gcm.openRtp(SRTP_128, 12, 1), null, 'wrong rollover counter');
  // Same bytes, but the boundary between authenticated header and encrypted payload moved.
  assert.equal(gcm.openRtp(SRTP_128, 16, 0), null, 'wrong header length');
  // The failures left the context usable.
  assert.ok(gcm.openRtp(SRTP_128, 12, 0)?.equals(RTP));
  gcm.close();
});

test('bad arguments are typed errors', () => {
  const code = isSrtpError('SRTP_ERR_BAD_ARG');
  assert.throws(() => new NativeSrtpGcm(randomBytes(24), SALT), code);
  assert.throws(() => new NativeSrtpGcm(KEY_128, randomBytes(14)), code);
  assert.throws(() => new NativeSrtpGcm('key' as unknown as Uint8Array, SALT), code);
  const gcm = new NativeSrtpGcm(KEY_128, SALT);
  assert.throws(() => gcm.sealRtp(RTP.subarray(0, 11), RTP.subarray(12), 0), code);
  assert.throws(() => gcm.sealRtp(RTP.subarray(0, 12), [1, 2] as unknown as Uint8Array, 0), code);
  assert.throws(() => gcm.sealRtp(RTP.subarray(0, 12), RTP.subarray(12), -1), code);
  assert.throws(() => gcm.sealRtp(RTP.subarray(0, 12), RTP.subarray(12), 2 ** 32), code);
  assert.throws(() => gcm.sealRtp(RTP.subarray(0, 12), RTP.subarray(12), 0.5), code);
  assert.throws(() => gcm.openRtp(SRTP_128, 11, 0), code);
  assert.throws(() => gcm.openRtp(SRTP_128.subarray(0, 27), 12, 0), code, 'shorter than tag');
  assert.throws(() => gcm.openRtp(SRTP_128, SRTP_128.length - 15, 0), code);
  assert.throws(() => gcm.openRtp(new Uint16Array(40) as unknown as Uint8Array, 12, 0), code);
  // Exactly header + tag: an empty payload still authenticates.
  const empty = gcm.sealRtp(RTP.subarray(0, 12), new Uint8Array(0), 7);
  assert.equal(empty.length, 12 + SRTP_GCM_TAG_BYTES);
  assert.ok(gcm.openRtp(empty, 12, 7)?.equals(RTP.subarray(0, 12)));
  gcm.close();
});

test('close is idempotent; use after close is SRTP_ERR_CLOSED', () => {
  const gcm = new NativeSrtpGcm(KEY_128, SALT);
  gcm.close();
  gcm.close();
  const closed = isSrtpError('SRTP_ERR_CLOSED');
  assert.throws(() => gcm.sealRtp(RTP.subarray(0, 12), RTP.subarray(12), 0), closed);
  assert.throws(() => gcm.openRtp(SRTP_128, 12, 0), closed);
});
