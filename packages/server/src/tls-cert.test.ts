import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { generateSelfSigned } from './tls-cert.ts';

test('self-signed certificates parse, with a positive serial, the SANs asked for, not a CA', async () => {
  // 64 certificates: a serial with its high bit set (negative in DER) is what OpenSSL refused.
  for (let i = 0; i < 64; i++) {
    const m = await generateSelfSigned({
      dnsNames: ['localhost', 'parloir.lan'],
      ips: ['127.0.0.1', '::1'],
    });
    const x = new X509Certificate(m.cert);
    assert.equal(x.fingerprint256, m.fingerprint);
    assert.match(x.serialNumber, /^[0-9A-F]+$/);
    assert.ok(!x.serialNumber.startsWith('00'), x.serialNumber);
    assert.equal(
      x.subjectAltName,
      'DNS:localhost, DNS:parloir.lan, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    assert.equal(x.ca, false);
    assert.equal(x.subject, 'CN=parloir');
    assert.ok(x.checkPrivateKey(createPrivateKey(m.key)), "the key is the certificate's");
    assert.ok(x.verify(x.publicKey), 'self-signed: its own key verifies it');
    assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const days = (Date.parse(x.validTo) - Date.parse(x.validFrom)) / 86_400_000;
    assert.ok(days > 3649 && days < 3651, String(days));
  }
});
