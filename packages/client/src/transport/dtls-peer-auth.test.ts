/**
 * The signature checks werift skips: the pure functions on signed bodies, then werift's own
 * DtlsClient and DtlsServer over an in-memory pipe against a man in the middle that replays the
 * honest peer's certificate without its private key (what a fingerprint check alone lets pass).
 */
import assert from 'node:assert/strict';
import { createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import {
  CipherContext,
  DtlsClient,
  DtlsServer,
  HashAlgorithm,
  NamedCurveAlgorithm,
  SignatureAlgorithm,
  type DtlsSocket,
  type Transport,
} from 'werift';
import {
  certificateKey,
  firstCertificate,
  verifyCertificateVerify,
  verifyServerKeyExchange,
} from './dtls-peer-auth.ts';
import { installWeriftDtlsFix, setWeriftDtlsFixEnabled } from './media-edge/dtls-fix.ts';

installWeriftDtlsFix();

type Identity = Awaited<ReturnType<typeof CipherContext.createSelfSignedCertificateWithKey>>;
const newIdentity = (): Promise<Identity> =>
  CipherContext.createSelfSignedCertificateWithKey(
    { hash: HashAlgorithm.sha256_4, signature: SignatureAlgorithm.ecdsa_3 },
    NamedCurveAlgorithm.secp256r1_23,
  );

const derOf = (id: Identity): Buffer => Buffer.from(new X509Certificate(id.certPem).raw);

/** A Certificate message body holding one DER certificate (RFC 5246 §7.4.2). */
function certificateBody(der: Buffer): Buffer {
  const u24 = (n: number): Buffer => Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]);
  return Buffer.concat([u24(der.length + 3), u24(der.length), der]);
}

test('firstCertificate and certificateKey read a Certificate message, and refuse junk', async () => {
  const id = await newIdentity();
  const der = derOf(id);
  assert.deepEqual(firstCertificate(certificateBody(der)), der);
  assert.ok(certificateKey(der) !== undefined);
  assert.equal(firstCertificate(Buffer.from([0, 0, 9, 0, 0, 200, 1, 2])), undefined);
  assert.equal(certificateKey(Buffer.from('not a certificate')), undefined);
});

test('verifyServerKeyExchange checks the signature over both randoms and the ECDHE params', async () => {
  const server = await newIdentity();
  const key = certificateKey(derOf(server));
  assert.ok(key !== undefined);
  const clientRandom = Buffer.alloc(32, 1);
  const serverRandom = Buffer.alloc(32, 2);
  const params = Buffer.concat([Buffer.from([3, 0, 23, 65]), Buffer.alloc(65, 4)]);
  const signature = sign(
    'sha256',
    Buffer.concat([clientRandom, serverRandom, params]),
    createPrivateKey(server.keyPem),
  );
  const length = Buffer.alloc(2);
  length.writeUInt16BE(signature.length);
  const body = Buffer.concat([params, Buffer.from([4, 3]), length, signature]);
  assert.equal(verifyServerKeyExchange(key, clientRandom, serverRandom, body), true);
  // Other randoms (a replayed exchange), another key, a truncated body: all refused.
  assert.equal(verifyServerKeyExchange(key, serverRandom, clientRandom, body), false);
  const other = certificateKey(derOf(await newIdentity()));
  assert.ok(other !== undefined);
  assert.equal(verifyServerKeyExchange(other, clientRandom, serverRandom, body), false);
  assert.equal(
    verifyServerKeyExchange(key, clientRandom, serverRandom, body.subarray(0, 80)),
    false,
  );
  // An unknown hash code is refused rather than guessed.
  const badHash = Buffer.from(body);
  badHash[params.length] = 9;
  assert.equal(verifyServerKeyExchange(key, clientRandom, serverRandom, badHash), false);
});

test('verifyCertificateVerify checks the signature over the transcript', async () => {
  const client = await newIdentity();
  const key = certificateKey(derOf(client));
  assert.ok(key !== undefined);
  const transcript = Buffer.from('client hello … client key exchange');
  const signature = sign('sha256', transcript, createPrivateKey(client.keyPem));
  const length = Buffer.alloc(2);
  length.writeUInt16BE(signature.length);
  const body = Buffer.concat([Buffer.from([4, 3]), length, signature]);
  assert.equal(verifyCertificateVerify(key, transcript, body), true);
  assert.equal(verifyCertificateVerify(key, Buffer.from('another transcript'), body), false);
  assert.equal(verifyCertificateVerify(key, transcript, body.subarray(0, 3)), false);
});

/** Two werift DTLS transports joined in memory (each send is delivered on the next tick). */
function pipe(): [Transport, Transport] {
  const ends: Transport[] = [];
  const make = (peer: () => Transport | undefined): Transport => ({
    type: 'memory',
    address: { address: '127.0.0.1', port: 0, family: 'IPv4' },
    closed: false,
    onData: () => undefined,
    send: (data: Buffer) => {
      const copy = Buffer.from(data);
      setImmediate(() => peer()?.onData(copy, ['127.0.0.1', 0]));
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  });
  ends.push(
    make(() => ends[1]),
    make(() => ends[0]),
  );
  return [ends[0] as Transport, ends[1] as Transport];
}

/** Runs a handshake; resolves 'connected', or the error (or 'timeout' after 5 s). */
function outcome(socket: DtlsSocket): Promise<string> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('timeout'), 5000);
    socket.onConnect.subscribe(() => {
      clearTimeout(timer);
      resolve('connected');
    });
    socket.onError.subscribe((err) => {
      clearTimeout(timer);
      resolve(err.message);
    });
  });
}

/**
 * An honest peer against a man in the middle that sends the `impersonated` identity's
 * certificate but signs with its own key. Returns what the honest side saw.
 */
async function againstImpersonator(
  honestRole: 'client' | 'server',
  honest: Identity,
  impersonated: Identity,
): Promise<{ result: string; remoteIsImpersonated: boolean }> {
  const mitm = await newIdentity();
  const [a, b] = pipe();
  const options = (id: Identity, key: string, transport: Transport) => ({
    cert: id.certPem,
    key,
    signatureHash: id.signatureHash,
    transport,
    extendedMasterSecret: true,
    certificateRequest: true,
  });
  const honestSocket =
    honestRole === 'client'
      ? new DtlsClient(options(honest, honest.keyPem, a))
      : new DtlsServer(options(honest, honest.keyPem, a));
  const fake =
    honestRole === 'client'
      ? new DtlsServer(options(impersonated, mitm.keyPem, b))
      : new DtlsClient(options(impersonated, mitm.keyPem, b));
  const result = outcome(honestSocket);
  const client = honestSocket instanceof DtlsClient ? honestSocket : (fake as DtlsClient);
  client.connect().catch(() => undefined);
  const r = await result;
  const remote = honestSocket.remoteCertificate;
  const remoteIsImpersonated = remote !== undefined && derOf(impersonated).equals(remote);
  honestSocket.close();
  fake.close();
  return { result: r, remoteIsImpersonated };
}

test('a client refuses a server that replays a certificate it has no key for', async () => {
  const [client, server] = [await newIdentity(), await newIdentity()];
  const r = await againstImpersonator('client', client, server);
  assert.match(r.result, /ServerKeyExchange signature does not verify/);
});

test('a server refuses a client that replays a certificate it has no key for', async () => {
  const [client, server] = [await newIdentity(), await newIdentity()];
  const r = await againstImpersonator('server', server, client);
  assert.match(r.result, /CertificateVerify signature does not verify/);
});

test('without the checks, werift accepts both impersonations (the defect they fix)', async () => {
  const [client, server] = [await newIdentity(), await newIdentity()];
  setWeriftDtlsFixEnabled(false);
  try {
    const asClient = await againstImpersonator('client', client, server);
    assert.deepEqual(asClient, { result: 'connected', remoteIsImpersonated: true });
    const asServer = await againstImpersonator('server', server, client);
    assert.deepEqual(asServer, { result: 'connected', remoteIsImpersonated: true });
  } finally {
    setWeriftDtlsFixEnabled(true);
  }
});

test('honest peers over the same pipe connect with the checks on', async () => {
  const [client, server] = [await newIdentity(), await newIdentity()];
  const [a, b] = pipe();
  const opts = (id: Identity, transport: Transport) => ({
    cert: id.certPem,
    key: id.keyPem,
    signatureHash: id.signatureHash,
    transport,
    extendedMasterSecret: true,
    certificateRequest: true,
  });
  const c = new DtlsClient(opts(client, a));
  const s = new DtlsServer(opts(server, b));
  const results = Promise.all([outcome(c), outcome(s)]);
  c.connect().catch(() => undefined);
  assert.deepEqual(await results, ['connected', 'connected']);
  assert.ok(derOf(server).equals(c.remoteCertificate ?? Buffer.alloc(0)));
  assert.ok(derOf(client).equals(s.remoteCertificate ?? Buffer.alloc(0)));
  c.close();
  s.close();
});
