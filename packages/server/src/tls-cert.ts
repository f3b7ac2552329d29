/**
 * The self-signed TLS certificate of a server without a public name: an ECDSA P-256 key and an
 * X.509 v3 certificate signed with SHA-256, built by @peculiar/x509 (a maintained library; the
 * hand-written DER encoder it replaces was a risk in a security product). Persisted in the data
 * directory so the fingerprint clients pin on first use stays the same across restarts.
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BasicConstraintsExtension,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from '@peculiar/x509';
import { ServerError } from './errors.ts';
import { securePrivateDir, securePrivateFile } from './file-modes.ts';

export interface TlsMaterial {
  /** PEM certificate. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** SHA-256 of the DER certificate, `AB:CD:…` (as `X509Certificate.fingerprint256`). */
  fingerprint: string;
}

/**
 * Generates a self-signed certificate for `commonName`, valid `days` days, with SANs: not a CA
 * (basicConstraints, critical), a positive random 16-byte serial (RFC 5280 §4.1.2.2).
 */
export async function generateSelfSigned(
  opts: { commonName?: string; dnsNames?: string[]; ips?: string[]; days?: number } = {},
): Promise<TlsMaterial> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  // The global Web Crypto (node:crypto's webcrypto): typed as the global Crypto that
  // @peculiar/x509 declares against, under Node's types and under the DOM lib alike (the web
  // package typechecks this file through its tests; node:crypto's own declaration differs there).
  const wc = globalThis.crypto;
  const keys = await wc.subtle.generateKey(alg, true, ['sign', 'verify']);
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01;
  const now = Date.now();
  const x = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: `CN=${opts.commonName ?? 'parloir'}`,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + (opts.days ?? 3650) * 86_400_000),
      keys,
      signingAlgorithm: alg,
      extensions: [
        new SubjectAlternativeNameExtension([
          ...(opts.dnsNames ?? ['localhost']).map((value) => ({ type: 'dns' as const, value })),
          ...(opts.ips ?? ['127.0.0.1', '::1']).map((value) => ({ type: 'ip' as const, value })),
        ]),
        new BasicConstraintsExtension(false, undefined, true),
      ],
    },
    wc,
  );
  const cert = x.toString('pem') + '\n';
  const pkcs8 = Buffer.from(await wc.subtle.exportKey('pkcs8', keys.privateKey));
  const key = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
}

/**
 * Loads `tls-cert.pem`/`tls-key.pem` from `dataDir`, generating and persisting them (key mode
 * 0600) the first time.
 */
export async function loadOrCreateCertificate(
  dataDir: string,
): Promise<TlsMaterial & { created: boolean }> {
  const certPath = join(dataDir, 'tls-cert.pem');
  const keyPath = join(dataDir, 'tls-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    // A key written by an older version, or copied in, may be readable by others.
    securePrivateFile(keyPath);
    return { ...loadCertificate(certPath, keyPath), created: false };
  }
  securePrivateDir(dataDir);
  const m = await generateSelfSigned();
  writeFileSync(keyPath, m.key, { mode: 0o600 });
  securePrivateFile(keyPath);
  writeFileSync(certPath, m.cert);
  return { ...m, created: true };
}

/** Loads a PEM certificate and key from files (`--cert`, `--key`). */
export function loadCertificate(certPath: string, keyPath: string): TlsMaterial {
  try {
    const cert = readFileSync(certPath, 'utf8');
    const key = readFileSync(keyPath, 'utf8');
    createPrivateKey(key);
    return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
  } catch (err) {
    throw new ServerError(
      'SRV_ERR_TLS',
      `cannot load TLS certificate ${certPath} / key ${keyPath}: ${String(err)}`,
      {
        cause: err,
      },
    );
  }
}
