import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkTurnPassword,
  issueTurnCredential,
  parseTurnUsername,
  turnPassword,
} from './credentials.ts';

test('password is base64 HMAC-SHA1 of the username (coturn use-auth-secret)', () => {
  // Same construction as coturn's turnutils_uclient -W: HMAC-SHA1, base64.
  assert.equal(
    turnPassword('secret', '1700000000:call:alice'),
    turnPassword('secret', '1700000000:call:alice'),
  );
  assert.equal(turnPassword('secret', '1700000000:call:alice').length, 28);
  assert.notEqual(turnPassword('secret', 'a'), turnPassword('secret2', 'a'));
});

test('issued credentials parse back and verify', () => {
  const c = issueTurnCredential('s3', 'c-1', 'u-1', 1_000_000, 600);
  assert.equal(c.expirySec, 1600);
  assert.deepEqual(parseTurnUsername(c.username), {
    expirySec: 1600,
    callId: 'c-1',
    userId: 'u-1',
  });
  assert.ok(checkTurnPassword('s3', c.username, c.credential));
  assert.ok(!checkTurnPassword('s3', c.username, c.credential.slice(1)));
  assert.ok(!checkTurnPassword('other', c.username, c.credential));
});

test('malformed usernames are rejected, bench-style ones accepted', () => {
  assert.equal(parseTurnUsername('nocolon'), undefined);
  assert.equal(parseTurnUsername(':x:y'), undefined);
  assert.equal(parseTurnUsername('12a:x'), undefined);
  assert.deepEqual(parseTurnUsername('99:anything'), {
    expirySec: 99,
    callId: 'anything',
    userId: '',
  });
});
