/**
 * A werift that changed under the media edge (issue 18, must-show 3): the test makes werift's
 * AES-GCM cipher hold its SRTP session key as a `KeyObject` instead of a 16-byte Buffer — as a
 * werift upgrade might, and werift's own `createCipheriv` takes either — so the member the direct
 * edge reads (`CipherAesGcm.srtpSessionKey`) is no longer what it expects. The call must not
 * crash and must not be broken: the edge reports the typed error naming the member, the engine
 * runs the same C pipeline on the werift edge, and each side hears the other's speech.
 */
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { createSecretKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ProtectionProfileAeadAes128Gcm, SrtpSession } from 'werift';
import { createEngine } from '../../engine/create.ts';
import { describe, HEARS, heard, readReceived } from '../../../test/helpers/heard.ts';
import { connectedPair } from '../../../test/helpers/pair.ts';
import { loadWav, makeSpeech } from '../../../test/helpers/speech.ts';
import { waitFor } from '../../../test/helpers/wait.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'parloir-edge-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * werift's GCM cipher prototype (the class is not exported: reached through a probe session, as
 * srtp-native.ts does). Its constructor assigns `this.srtpSessionKey = key`, so an accessor on
 * the prototype sees every new cipher's key.
 */
function gcmCipherPrototype(): object {
  const key = Buffer.alloc(16, 1);
  const salt = Buffer.alloc(12, 2);
  const probe = new SrtpSession({
    keys: {
      localMasterKey: key,
      localMasterSalt: salt,
      remoteMasterKey: key,
      remoteMasterSalt: salt,
    },
    profile: ProtectionProfileAeadAes128Gcm,
  });
  return Object.getPrototypeOf(probe.localContext.cipher) as object;
}

test('a werift internal the direct edge needs has changed: typed error, call on the werift edge, speech heard', async (t) => {
  const proto = gcmCipherPrototype();
  const keys = new WeakMap<object, KeyObject>();
  Object.defineProperty(proto, 'srtpSessionKey', {
    configurable: true,
    get(this: object) {
      return keys.get(this);
    },
    set(this: object, v: Buffer) {
      keys.set(this, createSecretKey(v));
    },
  });
  try {
    const inA = makeSpeech(
      dir,
      'a',
      'The quick brown fox jumps over the lazy dog near the river bank.',
      4,
    );
    const inB = makeSpeech(
      dir,
      'b',
      'Seven silver swans swim slowly south, singing softly at sunset.',
      4,
    );
    const [ta, tb] = await connectedPair();
    const ea = createEngine({
      transport: ta,
      input: `wav:${inA}`,
      output: `wav:${join(dir, 'outA.wav')}`,
    });
    const eb = createEngine({
      transport: tb,
      input: `wav:${inB}`,
      output: `wav:${join(dir, 'outB.wav')}`,
    });
    ea.start();
    eb.start();
    for (const e of [ea, eb]) {
      assert.match(e.edge, /^werift \(.*CipherAesGcm\.srtpSessionKey/);
      assert.equal(e.edgeError?.code, 'MEDIA_EDGE_WERIFT_CHANGED');
      assert.match(
        e.edgeError.message,
        /^CipherAesGcm\.srtpSessionKey \(localContext\): SecretKeyObject, not 16 bytes$/,
      );
    }
    const stats = await ta.stats();
    assert.equal(stats.edgeError?.code, 'MEDIA_EDGE_WERIFT_CHANGED', 'in the transport statistics');
    assert.equal(stats.path, 'direct', 'a direct pair, yet the werift edge');
    await waitFor(() => ea.captureClockMs >= 4800 && eb.captureClockMs >= 4800, '4.8 s of capture');
    const snapshot = await ea.snapshotNow();
    const ca = ea.deviceClocks;
    const cb = eb.deviceClocks;
    await Promise.all([ea.stop(), eb.stop()]);
    await Promise.all([ta.close(), tb.close()]);
    assert.ok(snapshot.recvPackets > 0 || snapshot.recvKbps > 0, 'packets counted');
    assert.ok(ca.captureMs !== undefined && cb.playbackMs !== undefined);
    assert.ok(cb.captureMs !== undefined && ca.playbackMs !== undefined);
    const bHearsA = heard(
      loadWav(inA),
      readReceived(join(dir, 'outB.wav')),
      ca.captureMs,
      cb.playbackMs,
    );
    const aHearsB = heard(
      loadWav(inB),
      readReceived(join(dir, 'outA.wav')),
      cb.captureMs,
      ca.playbackMs,
    );
    const msg = `${describe('B hears A', bHearsA)}; ${describe('A hears B', aHearsB)}`;
    t.diagnostic(msg);
    assert.ok(bHearsA.score >= HEARS, msg);
    assert.ok(aHearsB.score >= HEARS, msg);
  } finally {
    delete (proto as { srtpSessionKey?: unknown }).srtpSessionKey;
  }
});

test('the same werift, unchanged: the direct edge', async () => {
  const [ta, tb] = await connectedPair();
  try {
    const e = createEngine({ transport: ta, input: 'null', output: 'null' });
    e.start();
    assert.equal(e.edge, 'direct');
    assert.equal(e.edgeError, undefined);
    await e.stop();
  } finally {
    await Promise.all([ta.close(), tb.close()]);
  }
});
