import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  clientHelloHasCookie,
  DtlsHandshakeGate,
  type GateHandshake,
} from './dtls-handshake-gate.ts';

/** A ClientHello body (RFC 6347 §4.2.1) with an empty session id and `cookie`. */
function clientHello(cookie: number[]): Buffer {
  return Buffer.from([0xfe, 0xfd, ...new Array<number>(32).fill(7), 0, cookie.length, ...cookie]);
}

const msg = (type: number, seq: number, fragment: Buffer = Buffer.alloc(0)): GateHandshake => ({
  msg_type: type,
  message_seq: seq,
  fragment,
});
const names = (ms: GateHandshake[]): string =>
  ms.map((m) => `${m.msg_type}@${m.message_seq}`).join(' ');

test('clientHelloHasCookie reads the cookie length after the session id', () => {
  assert.equal(clientHelloHasCookie(clientHello([])), false);
  assert.equal(clientHelloHasCookie(clientHello([1, 2, 3])), true);
  const withSession = Buffer.from([0xfe, 0xfd, ...new Array<number>(32).fill(0), 2, 9, 9, 1, 5]);
  assert.equal(clientHelloHasCookie(withSession), true);
  assert.equal(clientHelloHasCookie(Buffer.alloc(10)), false);
});

test('server: flight 5 reaches werift once each, in message_seq order, whatever the arrival', () => {
  const gate = new DtlsHandshakeGate('server');
  const v = { flight: 2, connected: false };
  assert.equal(names(gate.accept(msg(1, 1, clientHello([4, 2])), v)), '1@1');
  v.flight = 4;
  // Certificate (seq 2) lost: ClientKeyExchange and CertificateVerify wait for it.
  assert.equal(names(gate.accept(msg(16, 3), v)), '');
  assert.equal(names(gate.accept(msg(15, 4), v)), '');
  assert.equal(gate.pendingCount, 2);
  // The retransmitted flight: Certificate releases the held messages; copies are dropped.
  assert.equal(names(gate.accept(msg(11, 2), v)), '11@2 16@3 15@4');
  assert.equal(names(gate.accept(msg(16, 3), v)), '');
  assert.equal(names(gate.accept(msg(15, 4), v)), '');
  assert.equal(names(gate.accept(msg(20, 5), v)), '20@5');
  v.flight = 6;
  // A repeated Finished passes (werift resends flight 6); a late ClientHello copy does not.
  assert.equal(names(gate.accept(msg(20, 5), v)), '20@5');
  assert.equal(names(gate.accept(msg(1, 1, clientHello([4, 2])), v)), '');
  assert.equal(names(gate.accept(msg(1, 0, clientHello([])), v)), '');
});

test('server: cookie exchange copies pass until flight 4, and while it is out', () => {
  const gate = new DtlsHandshakeGate('server');
  const v = { flight: 0, connected: false };
  assert.equal(names(gate.accept(msg(1, 0, clientHello([])), v)), '1@0');
  v.flight = 2;
  assert.equal(names(gate.accept(msg(1, 0, clientHello([])), v)), '1@0');
  assert.equal(names(gate.accept(msg(1, 1, clientHello([9])), v)), '1@1');
  v.flight = 4;
  assert.equal(names(gate.accept(msg(1, 0, clientHello([])), v)), '');
  assert.equal(names(gate.accept(msg(1, 1, clientHello([9])), v)), '1@1');
  v.connected = true;
  assert.equal(names(gate.accept(msg(1, 1, clientHello([9])), v)), '');
});

test('client: flight 4 waits for its ServerHello; one HelloVerifyRequest only', () => {
  const gate = new DtlsHandshakeGate('client');
  const v = { flight: 1, connected: false };
  assert.equal(names(gate.accept(msg(3, 0), v)), '3@0');
  v.flight = 3;
  assert.equal(names(gate.accept(msg(3, 0), v)), '');
  // ServerHello lost: the rest of flight 4 is held, then released in order by its copy.
  assert.equal(names(gate.accept(msg(12, 3), v)), '');
  assert.equal(names(gate.accept(msg(11, 2), v)), '');
  assert.equal(names(gate.accept(msg(14, 5), v)), '');
  assert.equal(names(gate.accept(msg(2, 1), v)), '2@1 11@2 12@3');
  assert.equal(names(gate.accept(msg(13, 4), v)), '13@4 14@5');
  v.flight = 5;
  assert.equal(names(gate.accept(msg(2, 1), v)), '');
  assert.equal(names(gate.accept(msg(14, 5), v)), '');
  assert.equal(names(gate.accept(msg(20, 6), v)), '20@6');
});

test('a flood of out-of-order messages is bounded', () => {
  const gate = new DtlsHandshakeGate('client');
  const v = { flight: 3, connected: false };
  for (let seq = 100; seq < 200; seq++) gate.accept(msg(11, seq), v);
  assert.ok(gate.pendingCount <= 16);
});
