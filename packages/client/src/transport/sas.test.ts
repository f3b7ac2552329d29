import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deriveSas, normaliseFingerprint } from './sas.ts';

const FP_A =
  'sha-256 AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const FP_B =
  'sha-256 10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE';
const FP_M =
  'sha-256 00:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE:10:32:54:76:98:BA:DC:FE';

test('SAS is order-independent and format-independent', () => {
  assert.deepEqual(deriveSas(FP_A, FP_B), deriveSas(FP_B, FP_A));
  assert.deepEqual(deriveSas(FP_A, FP_B), deriveSas(FP_A.toLowerCase(), FP_B.split(' ')[1] ?? ''));
  assert.equal(normaliseFingerprint('sha-256 AB:CD'), 'abcd');
});

test('a man in the middle (different remote fingerprint on one side) changes the SAS', () => {
  const alice = deriveSas(FP_A, FP_M); // Alice talks to the MITM's certificate
  const bob = deriveSas(FP_B, FP_M); // Bob too, with his own
  const honest = deriveSas(FP_A, FP_B);
  assert.notDeepEqual(alice, bob);
  assert.notDeepEqual(alice, honest);
  assert.match(honest.words, /^[a-z]+ [a-z]+ [a-z]+ [a-z]+$/);
  assert.match(honest.digits, /^\d{6}$/);
});
