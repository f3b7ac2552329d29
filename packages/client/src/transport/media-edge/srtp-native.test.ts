import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import {
  ExtensionProfiles,
  ProtectionProfileAeadAes128Gcm,
  ProtectionProfileAes128CmHmacSha1_80,
  RtpHeader,
  SrtpAuthenticationError,
  SrtpSession,
} from 'werift';
import { installWeriftSrtpNative, setWeriftSrtpNativeEnabled } from './srtp-native.ts';

const skip = process.env.PARLOIR_SRTP_JS === '1' ? 'PARLOIR_SRTP_JS=1' : false;
const TAG = 16;

type Cipher = SrtpSession['localContext']['cipher'];

/** Two sessions with the same keys: what A's local side seals, B's remote side opens. */
function pair(profile: number = ProtectionProfileAeadAes128Gcm): {
  a: SrtpSession;
  b: SrtpSession;
} {
  const k1 = randomBytes(16);
  const s1 = randomBytes(12);
  const k2 = randomBytes(16);
  const s2 = randomBytes(12);
  const a = new SrtpSession({
    keys: { localMasterKey: k1, localMasterSalt: s1, remoteMasterKey: k2, remoteMasterSalt: s2 },
    profile,
  });
  const b = new SrtpSession({
    keys: { localMasterKey: k2, localMasterSalt: s2, remoteMasterKey: k1, remoteMasterSalt: s1 },
    profile,
  });
  return { a, b };
}

/** A random RTP header: CSRCs, one- or two-byte header extensions, padding bit. */
function randomHeader(i: number): RtpHeader {
  const extensions: { id: number; payload: Buffer }[] = [];
  const kind = i % 3; // none, one-byte, two-byte (RFC 8285)
  const n = kind === 0 ? 0 : randomInt(1, 4);
  for (let e = 0; e < n; e++) {
    extensions.push(
      kind === 1
        ? { id: randomInt(1, 15), payload: randomBytes(randomInt(1, 17)) }
        : { id: randomInt(1, 256), payload: randomBytes(randomInt(1, 40)) },
    );
  }
  return new RtpHeader({
    payloadType: randomInt(0, 128),
    sequenceNumber: randomInt(0, 65536),
    timestamp: randomInt(0, 2 ** 32),
    ssrc: randomInt(0, 2 ** 32),
    marker: i % 2 === 0,
    padding: i % 5 === 0,
    csrc: Array.from({ length: i % 4 === 0 ? randomInt(1, 16) : 0 }, () => randomInt(0, 2 ** 32)),
    extensionProfile: kind === 2 ? ExtensionProfiles.TwoByte : ExtensionProfiles.OneByte,
    extensions,
  });
}

function randomPayload(i: number, padded: boolean): Buffer {
  const payload = randomBytes(i % 9 === 0 ? 1 : randomInt(1, 1300));
  // RFC 3550 §5.1: the last padding octet counts the padding, itself included.
  if (padded) payload[payload.length - 1] = randomInt(1, Math.min(payload.length, 255) + 1);
  return payload;
}

/** The header werift's SrtpContext.decryptRtp hands the cipher (srtp/packet.ts). */
function parsedHeader(packet: Buffer): RtpHeader {
  const h = RtpHeader.deSerialize(packet.subarray(0, packet.length - TAG));
  h.paddingSize = 0;
  return h;
}

function withWerift<T>(fn: () => T): T {
  setWeriftSrtpNativeEnabled(false);
  try {
    return fn();
  } finally {
    setWeriftSrtpNativeEnabled(true);
  }
}

/** What a call throws: its class and message, or 'no throw'. */
function thrown(fn: () => unknown): string {
  try {
    fn();
    return 'no throw';
  } catch (err) {
    const cls = err instanceof SrtpAuthenticationError ? 'SrtpAuthenticationError' : 'other';
    return `${cls}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

test('installs on werift 0.25 (its self-check against werift passed)', { skip }, () => {
  assert.equal(installWeriftSrtpNative(), 'native');
  assert.equal(installWeriftSrtpNative(), 'native', 'idempotent');
});

test('random packets: same bytes, same tuple as werift, at any ROC', { skip }, () => {
  installWeriftSrtpNative();
  for (let i = 0; i < 400; i++) {
    const { a, b } = pair();
    const enc: Cipher = a.localContext.cipher;
    const dec: Cipher = b.remoteContext.cipher;
    const header = randomHeader(i);
    const payload = randomPayload(i, header.padding);
    const roc = i % 4 === 0 ? 0 : randomInt(1, 2 ** 32);

    const ours = enc.encryptRtp(header, payload, roc);
    const theirs = withWerift(() => enc.encryptRtp(header, payload, roc));
    assert.ok(Buffer.isBuffer(ours));
    assert.equal(ours.toString('hex'), theirs.toString('hex'), `packet ${i}`);

    // Each opens the other's packet (identical here, checked above) with identical results.
    const [ourPlain, ourHeader] = dec.decryptRtp(theirs, roc, parsedHeader(theirs));
    const [theirPlain, theirHeader] = withWerift(() =>
      dec.decryptRtp(ours, roc, parsedHeader(ours)),
    );
    assert.ok(Buffer.isBuffer(ourPlain));
    assert.equal(ourPlain.toString('hex'), theirPlain.toString('hex'));
    assert.deepEqual(ourHeader, theirHeader);
    const plain = Buffer.concat([header.serialize(header.serializeSize), payload]);
    assert.equal(ourPlain.toString('hex'), plain.toString('hex'));
    if (header.padding) assert.equal(ourHeader.paddingSize, payload[payload.length - 1]);
  }
});

test('through SrtpSession across a sequence wrap (ROC 0 → 1): same packets', { skip }, () => {
  installWeriftSrtpNative();
  // Two independent session pairs with the same keys, one patched path, one werift's.
  const k = randomBytes(16);
  const s = randomBytes(12);
  const config = {
    keys: { localMasterKey: k, localMasterSalt: s, remoteMasterKey: k, remoteMasterSalt: s },
    profile: ProtectionProfileAeadAes128Gcm,
  };
  const native = new SrtpSession(config);
  const js = new SrtpSession(config);
  const ssrc = 0x01020304;
  for (let n = 0; n < 120; n++) {
    const header = new RtpHeader({
      payloadType: 111,
      sequenceNumber: (65_480 + n) % 65_536,
      timestamp: (n * 960) >>> 0,
      ssrc,
    });
    const payload = randomBytes(randomInt(20, 200));
    const ours = native.encrypt(payload, header);
    const theirs = withWerift(() => js.encrypt(payload, header));
    assert.equal(ours.toString('hex'), theirs.toString('hex'), `seq ${header.sequenceNumber}`);
    const opened = native.decrypt(theirs);
    assert.equal(opened.toString('hex'), withWerift(() => js.decrypt(ours)).toString('hex'));
    assert.ok(opened.subarray(12).equals(payload));
  }
  assert.equal(native.localContext.getSrtpSsrcState(ssrc).rolloverCounter, 1);
  assert.equal(native.remoteContext.getSrtpSsrcState(ssrc).rolloverCounter, 1);
});

test('tampered or malformed packets: the same SrtpAuthenticationError as werift', { skip }, () => {
  installWeriftSrtpNative();
  const { a, b } = pair();
  const header = new RtpHeader({ payloadType: 111, sequenceNumber: 7, timestamp: 1, ssrc: 9 });
  const good = a.encrypt(randomBytes(80), header);
  const cases: Buffer[] = [];
  for (const at of [0, 1, 3, 8, 11, 12, 50, good.length - TAG, good.length - 1]) {
    const bad = Buffer.from(good);
    bad[at] = (bad[at] ?? 0) ^ 0x40;
    cases.push(bad);
  }
  cases.push(good.subarray(0, 27), good.subarray(0, good.length - 1), Buffer.alloc(0));
  // Authentic, but its padding count is 0: werift rejects that after decrypting.
  const padded = new RtpHeader({ ...header, sequenceNumber: 8, padding: true });
  const zeroPad = Buffer.from([1, 2, 3, 0]);
  cases.push(a.encrypt(zeroPad, padded));
  // Authentic, but it claims more padding than the payload holds.
  const overPad = Buffer.from([1, 2, 3, 200]);
  cases.push(a.encrypt(overPad, new RtpHeader({ ...padded, sequenceNumber: 9 })));
  for (const [i, packet] of cases.entries()) {
    const ours = thrown(() => b.decrypt(packet));
    const theirs = withWerift(() => thrown(() => b.decrypt(packet)));
    assert.equal(ours, theirs, `case ${i}`);
    assert.equal(ours, 'SrtpAuthenticationError: Failed to authenticate SRTP packet');
  }
  // The receiver still opens good packets afterwards.
  assert.equal(b.decrypt(good).length, good.length - TAG);
});

test('the AES_CM_128_HMAC_SHA1_80 profile stays on werift', { skip }, () => {
  installWeriftSrtpNative();
  const gcm = pair().a.localContext.cipher;
  const cm = pair(ProtectionProfileAes128CmHmacSha1_80).a.localContext.cipher;
  assert.equal(gcm.encryptRtp.name, 'encryptRtpNative');
  assert.notEqual(cm.encryptRtp.name, 'encryptRtpNative');
  assert.notEqual(cm.decryptRtp.name, 'decryptRtpNative');
});
