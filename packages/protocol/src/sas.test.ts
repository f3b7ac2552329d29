/**
 * Known-answer test of the SAS v2: fixed identity keys and certificate fingerprints give fixed
 * words and digits (test/fixtures/sas-v2.json, computed with Python's hashlib, not with this
 * code). The browser (Web Crypto, here) and the native client (node:crypto, client sas.test.ts)
 * are both checked against the same file, so they agree because each is right, not because they
 * run the same function.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { deriveSas, sasInput, sdpFingerprint, sdpFingerprints } from './sas.ts';

interface Vector {
  a: { identityKey: string; certificateFingerprint: string };
  b: { identityKey: string; certificateFingerprint: string };
  input: string;
  words: string;
  digits: string;
}

const { vectors } = JSON.parse(
  readFileSync(new URL('../test/fixtures/sas-v2.json', import.meta.url), 'utf8'),
) as { vectors: Vector[] };

const party = (p: Vector['a']) => ({
  identityKey: new Uint8Array(Buffer.from(p.identityKey, 'hex')),
  certificateFingerprint: p.certificateFingerprint,
});

test('SAS v2 known answers (fixture), either order', async () => {
  assert.ok(vectors.length >= 3);
  for (const v of vectors) {
    const a = party(v.a);
    const b = party(v.b);
    assert.equal(new TextDecoder().decode(sasInput(a, b)), v.input);
    assert.deepEqual(await deriveSas(a, b), { words: v.words, digits: v.digits });
    assert.deepEqual(await deriveSas(b, a), { words: v.words, digits: v.digits });
  }
});

test('an SDP with two fingerprint lines, or none, or not SHA-256, has no single fingerprint', () => {
  const one = 'v=0\r\na=fingerprint:sha-256 AA:BB\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n';
  assert.equal(sdpFingerprint(one), 'sha-256 AA:BB');
  const two = one.replace('\r\nm=', '\r\na=fingerprint:sha-256 CC:DD\r\nm=');
  assert.deepEqual(sdpFingerprints(two), ['sha-256 AA:BB', 'sha-256 CC:DD']);
  assert.equal(sdpFingerprint(two), undefined);
  assert.equal(sdpFingerprint('v=0\r\n'), undefined);
  assert.equal(sdpFingerprint(one.replace('sha-256', 'sha-1')), undefined);
  // Session-level and media-level lines both count.
  assert.equal(sdpFingerprints(`${one}a=fingerprint:SHA-256 EE:FF\r\n`).length, 2);
});
