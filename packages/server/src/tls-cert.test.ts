import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { derUnsignedInteger, generateSelfSigned } from './tls-cert.ts';

const hex = (b: Buffer) => b.toString('hex');

test('DER INTEGER is minimal: leading zeros dropped, 0x00 added before a high bit', () => {
  assert.equal(hex(derUnsignedInteger(Buffer.from([0x02]))), '020102');
  assert.equal(hex(derUnsignedInteger(Buffer.from([0x00, 0x01]))), '020101');
  assert.equal(hex(derUnsignedInteger(Buffer.from([0x00, 0x00, 0x7f, 0xff]))), '02027fff');
  assert.equal(hex(derUnsignedInteger(Buffer.from([0x80]))), '02020080');
  assert.equal(hex(derUnsignedInteger(Buffer.from([0x00, 0x80]))), '02020080');
  assert.equal(hex(derUnsignedInteger(Buffer.from([0x00]))), '020100');
  assert.equal(hex(derUnsignedInteger(Buffer.from([0x00, 0x00]))), '020100');
  assert.equal(hex(derUnsignedInteger(Buffer.alloc(0))), '020100');
});

test('self-signed certificates parse, with a positive serial and the SANs asked for', () => {
  // 64 certificates: with the old serial encoding about one run in five had one OpenSSL refused.
  for (let i = 0; i < 64; i++) {
    const m = generateSelfSigned({ dnsNames: ['localhost', 'parloir.lan'], ips: ['127.0.0.1'] });
    const x = new X509Certificate(m.cert);
    assert.equal(x.fingerprint256, m.fingerprint);
    assert.match(x.serialNumber, /^[0-9A-F]+$/);
    assert.ok(!x.serialNumber.startsWith('00'), x.serialNumber);
    assert.equal(x.subjectAltName, 'DNS:localhost, DNS:parloir.lan, IP Address:127.0.0.1');
    assert.ok(x.checkPrivateKey(createPrivateKey(m.key)), "the key is the certificate's");
  }
});
