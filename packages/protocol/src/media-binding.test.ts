/**
 * The media binding checks one by one (media-binding.ts): each forgery a server could try is
 * refused with its own code; the honest binding passes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateIdentity, userIdOf } from './identity.ts';
import {
  checkNegotiatedFingerprint,
  checkPin,
  checkSignedSdp,
  MediaAuthError,
  signMediaBinding,
  verifyMediaBinding,
} from './media-binding.ts';

const FP = `sha-256 ${Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(':')}`;
const OTHER = `sha-256 ${Array.from({ length: 32 }, () => 'EE').join(':')}`;
const sdp = (...fps: string[]) =>
  `v=0\r\n${fps.map((f) => `a=fingerprint:${f}\r\n`).join('')}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n`;

async function refusedWith(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  const isCode = (err: unknown) =>
    err instanceof MediaAuthError && err.code === code && err.message.length > 20;
  if (typeof p === 'function') assert.throws(p, isCode);
  else await assert.rejects(p, isCode);
}

test('a binding verifies only for its call, its signer and its receiver', async () => {
  const alice = await generateIdentity();
  const bob = await generateIdentity();
  const mallory = await generateIdentity();
  const aliceId = await userIdOf(alice.publicKey);
  const bobId = await userIdOf(bob.publicKey);
  const binding = await signMediaBinding(alice, 'call1', bobId, FP);
  const expected = { callId: 'call1', peerUserId: aliceId, selfUserId: bobId };

  const ok = await verifyMediaBinding(binding, expected);
  assert.deepEqual(ok.identityKey, alice.publicKey);
  assert.equal(ok.fingerprint, `sha-256 ${FP.slice(8).replaceAll(':', '').toLowerCase()}`);

  await refusedWith(verifyMediaBinding(undefined, expected), 'MEDIA_AUTH_ERR_NO_BINDING');
  await refusedWith(
    verifyMediaBinding(binding, { ...expected, callId: 'call2' }),
    'MEDIA_AUTH_ERR_BAD_SIGNATURE',
  );
  await refusedWith(
    verifyMediaBinding(binding, { ...expected, selfUserId: await userIdOf(mallory.publicKey) }),
    'MEDIA_AUTH_ERR_BAD_SIGNATURE',
  );
  await refusedWith(
    verifyMediaBinding({ ...binding, fingerprint: OTHER }, expected),
    'MEDIA_AUTH_ERR_BAD_SIGNATURE',
  );
  const forged = await signMediaBinding(mallory, 'call1', bobId, FP);
  await refusedWith(verifyMediaBinding(forged, expected), 'MEDIA_AUTH_ERR_WRONG_IDENTITY');
  await refusedWith(
    verifyMediaBinding({ ...binding, signature: 'AAAA' }, expected),
    'MEDIA_AUTH_ERR_BAD_SIGNATURE',
  );
});

test('the SDP must carry exactly the one signed SHA-256 fingerprint', async () => {
  checkSignedSdp(sdp(FP), FP);
  checkSignedSdp(sdp(FP.toLowerCase()), FP);
  await refusedWith(() => checkSignedSdp(sdp(FP, OTHER), FP), 'MEDIA_AUTH_ERR_FINGERPRINT_COUNT');
  await refusedWith(() => checkSignedSdp(sdp(), FP), 'MEDIA_AUTH_ERR_FINGERPRINT_COUNT');
  await refusedWith(
    () => checkSignedSdp(sdp(FP.replace('sha-256', 'sha-1')), FP),
    'MEDIA_AUTH_ERR_FINGERPRINT_COUNT',
  );
  await refusedWith(() => checkSignedSdp(sdp(OTHER), FP), 'MEDIA_AUTH_ERR_FINGERPRINT_MISMATCH');
  checkNegotiatedFingerprint(FP, FP);
  await refusedWith(
    () => checkNegotiatedFingerprint(OTHER, FP),
    'MEDIA_AUTH_ERR_FINGERPRINT_MISMATCH',
  );
  await refusedWith(
    () => checkNegotiatedFingerprint(undefined, FP),
    'MEDIA_AUTH_ERR_FINGERPRINT_MISMATCH',
  );
});

test('pins: first use pins, the same key passes, another key under the name is refused', async () => {
  const a = await generateIdentity();
  const b = await generateIdentity();
  const peer = { name: 'alice', userId: await userIdOf(a.publicKey), identityKey: a.publicKey };
  const pin = checkPin(undefined, peer, '2026-12-05T00:00:00Z');
  assert.equal(checkPin(pin, peer, 'later'), pin);
  const impostor = { name: 'alice', userId: await userIdOf(b.publicKey), identityKey: b.publicKey };
  await refusedWith(() => checkPin(pin, impostor, 'later'), 'MEDIA_AUTH_ERR_KEY_CHANGED');
});
