import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { deriveSas, normaliseFingerprint } from './sas.ts';

const FP_A =
  'sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const FP_B =
  'sha-256 10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE';
const FP_M =
  'sha-256 00:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE';
const KEY_A = new Uint8Array(32).fill(0xa1);
const KEY_B = new Uint8Array(32).fill(0xb2);
const KEY_M = new Uint8Array(32).fill(0x3c);
const A = { identityKey: KEY_A, certificateFingerprint: FP_A };
const B = { identityKey: KEY_B, certificateFingerprint: FP_B };

test('SAS is order-independent and format-independent', () => {
  assert.deepEqual(deriveSas(A, B), deriveSas(B, A));
  assert.deepEqual(
    deriveSas(A, B),
    deriveSas(
      { ...A, certificateFingerprint: FP_A.toLowerCase() },
      { ...B, certificateFingerprint: FP_B.split(' ')[1] ?? '' },
    ),
  );
  assert.equal(normaliseFingerprint('sha-256 AB:CD'), 'abcd');
});

test('a man in the middle (different remote certificate on one side) changes the SAS', () => {
  const M = { identityKey: KEY_M, certificateFingerprint: FP_M };
  const alice = deriveSas(A, M); // Alice talks to the MITM's certificate
  const bob = deriveSas(B, M); // Bob too, with his own
  const honest = deriveSas(A, B);
  assert.notDeepEqual(alice, bob);
  assert.notDeepEqual(alice, honest);
  assert.match(honest.words, /^[a-z]+ [a-z]+ [a-z]+ [a-z]+$/);
  assert.match(honest.digits, /^\d{6}$/);
});

test('a swapped identity key with the same certificates changes the SAS', () => {
  const swapped = deriveSas(A, { ...B, identityKey: KEY_M });
  assert.notDeepEqual(swapped, deriveSas(A, B));
});

test('known answers of the SAS v2 fixture (the one the browser code is checked against)', () => {
  const { vectors } = JSON.parse(
    readFileSync(new URL('../../../protocol/test/fixtures/sas-v2.json', import.meta.url), 'utf8'),
  ) as {
    vectors: {
      a: { identityKey: string; certificateFingerprint: string };
      b: { identityKey: string; certificateFingerprint: string };
      words: string;
      digits: string;
    }[];
  };
  for (const v of vectors) {
    const party = (p: typeof v.a) => ({
      identityKey: new Uint8Array(Buffer.from(p.identityKey, 'hex')),
      certificateFingerprint: p.certificateFingerprint,
    });
    assert.deepEqual(deriveSas(party(v.a), party(v.b)), { words: v.words, digits: v.digits });
  }
});
