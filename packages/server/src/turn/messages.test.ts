import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  SOFTWARE,
  allocateResponse,
  bindingResponse,
  challengeResponse,
  connectionAttempt,
  dataIndication,
  errorResponse,
  successResponse,
} from './messages.ts';
import {
  Attr,
  MessageClass,
  Method,
  checkIntegrity,
  decodeAddress,
  getAttribute,
  parseStunMessage,
  type StunMessage,
} from './stun.ts';

const tid = Buffer.from('0123456789ab');
const key = Buffer.alloc(16, 9);

function parse(buf: Buffer): StunMessage {
  const r = parseStunMessage(buf);
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}

function address(msg: StunMessage, type: number) {
  const v = getAttribute(msg, type);
  assert.ok(v);
  const r = decodeAddress(v, true, msg.transactionId);
  assert.ok(r.ok);
  return { ip: r.value.ip, port: r.value.port };
}

test('success and error responses: class, transaction id, SOFTWARE, integrity with the key, FINGERPRINT', () => {
  const ok = parse(
    successResponse(Method.REFRESH, tid, key, (b) => b.addUint32(Attr.LIFETIME, 600)),
  );
  assert.equal(ok.method, Method.REFRESH);
  assert.equal(ok.cls, MessageClass.SUCCESS);
  assert.ok(ok.transactionId.equals(tid));
  assert.equal(getAttribute(ok, Attr.LIFETIME)?.readUInt32BE(0), 600);
  assert.equal(getAttribute(ok, Attr.SOFTWARE)?.toString(), SOFTWARE);
  assert.ok(checkIntegrity(ok, key));
  assert.ok(!checkIntegrity(ok, Buffer.alloc(16)));
  assert.ok(getAttribute(ok, Attr.FINGERPRINT));
  const err = parse(errorResponse(Method.CHANNEL_BIND, tid, 403, key));
  assert.equal(err.cls, MessageClass.ERROR);
  const code = getAttribute(err, Attr.ERROR_CODE);
  assert.equal((code?.[2] ?? 0) * 100 + (code?.[3] ?? 0), 403);
  assert.ok(checkIntegrity(err, key));
  // Before authentication there is no key: no MESSAGE-INTEGRITY.
  assert.equal(parse(errorResponse(Method.ALLOCATE, tid, 400)).integrityOffset, -1);
});

test('the 401/438 challenge carries REALM and NONCE and no integrity', () => {
  const msg = parse(challengeResponse(Method.ALLOCATE, tid, 438, 'parloir', 'abc-123'));
  assert.equal(msg.cls, MessageClass.ERROR);
  assert.equal(getAttribute(msg, Attr.REALM)?.toString(), 'parloir');
  assert.equal(getAttribute(msg, Attr.NONCE)?.toString(), 'abc-123');
  assert.equal(msg.integrityOffset, -1);
});

test('Binding, Allocate, Data and ConnectionAttempt carry their addresses', () => {
  const client = { ip: '198.51.100.7', port: 40000 };
  const relay = { ip: '192.0.2.1', port: 50000 };
  assert.deepEqual(address(parse(bindingResponse(tid, client)), Attr.XOR_MAPPED_ADDRESS), client);
  const token = Buffer.alloc(8, 1);
  const alloc = parse(allocateResponse(tid, key, relay, 1200, client, token));
  assert.deepEqual(address(alloc, Attr.XOR_RELAYED_ADDRESS), relay);
  assert.deepEqual(address(alloc, Attr.XOR_MAPPED_ADDRESS), client);
  assert.equal(getAttribute(alloc, Attr.LIFETIME)?.readUInt32BE(0), 1200);
  assert.ok(getAttribute(alloc, Attr.RESERVATION_TOKEN)?.equals(token));
  assert.ok(checkIntegrity(alloc, key));
  const data = parse(dataIndication(client, Buffer.from('odd')));
  assert.equal(data.cls, MessageClass.INDICATION);
  assert.equal(getAttribute(data, Attr.DATA)?.toString(), 'odd');
  assert.deepEqual(address(data, Attr.XOR_PEER_ADDRESS), client);
  const attempt = parse(connectionAttempt(client, 0xdeadbeef));
  assert.equal(attempt.method, Method.CONNECTION_ATTEMPT);
  assert.equal(getAttribute(attempt, Attr.CONNECTION_ID)?.readUInt32BE(0), 0xdeadbeef);
  assert.deepEqual(address(attempt, Attr.XOR_PEER_ADDRESS), client);
});
