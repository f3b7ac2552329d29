/**
 * A self-signed TLS certificate built with node:crypto alone (no openssl binary): a minimal
 * X.509 v3 DER encoder (RFC 5280 §4.1) for an ECDSA P-256 key signed with SHA-256
 * (RFC 5758 §3.2). Persisted in the data directory so the fingerprint clients pin on first use
 * stays the same across restarts.
 */
import {
  X509Certificate,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
} from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ServerError } from './errors.ts';
import { securePrivateDir, securePrivateFile } from './file-modes.ts';

// ---- DER (ITU-T X.690) ----

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}
const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128))
      chunk.unshift(0x80 | (v & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}
/**
 * A non-negative DER INTEGER from big-endian magnitude bytes, in the minimal form X.690 §8.3.2
 * requires: redundant leading zero bytes dropped, one 0x00 added when the high bit is set.
 * (A random serial starting 0x00 0x0…–0x7… was kept as is, which OpenSSL refuses with
 * "illegal padding": about one certificate in 256.)
 */
export function derUnsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const magnitude = Buffer.from(bytes.subarray(start));
  if (magnitude.length === 0) return tlv(0x02, Buffer.from([0]));
  return tlv(
    0x02,
    (magnitude[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), magnitude]) : magnitude,
  );
}
const integer = derUnsignedInteger;
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
function time(d: Date): Buffer {
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after.
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${iso}Z`));
}
const bitString = (b: Buffer) => tlv(0x03, Buffer.concat([Buffer.from([0]), b]));
const octetString = (b: Buffer) => tlv(0x04, b);

/** A PEM certificate and key, with the certificate's SHA-256 fingerprint. */
export interface TlsMaterial {
  /** PEM certificate. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** SHA-256 of the DER certificate, `AB:CD:…` (as `X509Certificate.fingerprint256`). */
  fingerprint: string;
}

/** Generates a self-signed certificate for `commonName`, valid `days` days, with SANs. */
export function generateSelfSigned(
  opts: { commonName?: string; dnsNames?: string[]; ips?: string[]; days?: number } = {},
): TlsMaterial {
  const cn = opts.commonName ?? 'parloir';
  const dnsNames = opts.dnsNames ?? ['localhost'];
  const ips = opts.ips ?? ['127.0.0.1', '::1'];
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const sigAlg = seq(oid('1.2.840.10045.4.3.2')); // ecdsa-with-SHA256
  const name = seq(set(seq(oid('2.5.4.3'), utf8(cn))));
  const now = Date.now();
  const validity = seq(
    time(new Date(now - 60_000)),
    time(new Date(now + (opts.days ?? 3650) * 86_400_000)),
  );
  const sanEntries = [
    ...dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
    ...ips.map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  const extensions = tlv(
    0xa3,
    seq(
      seq(oid('2.5.29.17'), octetString(seq(...sanEntries))),
      // basicConstraints: not a CA (critical).
      seq(oid('2.5.29.19'), tlv(0x01, Buffer.from([0xff])), octetString(seq())),
    ),
  );
  // RFC 5280 §4.1.2.2: a positive serial of at most 20 octets; 16 random bytes, kept nonzero.
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x01;
  const tbs = seq(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    sigAlg,
    name,
    validity,
    name,
    spki,
    extensions,
  );
  const signature = sign('sha256', tbs, privateKey); // DER ECDSA-Sig-Value
  const der = seq(tbs, sigAlg, bitString(signature));
  const cert = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { cert, key, fingerprint: new X509Certificate(cert).fingerprint256 };
}

function ipBytes(ip: string): Buffer {
  if (ip.includes(':')) {
    const [head = '', tail = ''] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
    return Buffer.from(
      groups.flatMap((g) => [(parseInt(g, 16) >> 8) & 0xff, parseInt(g, 16) & 0xff]),
    );
  }
  return Buffer.from(ip.split('.').map(Number));
}

/**
 * Loads `tls-cert.pem`/`tls-key.pem` from `dataDir`, generating and persisting them (key mode
 * 0600) the first time.
 */
export function loadOrCreateCertificate(dataDir: string): TlsMaterial & { created: boolean } {
  const certPath = join(dataDir, 'tls-cert.pem');
  const keyPath = join(dataDir, 'tls-key.pem');
  if (existsSync(certPath) && existsSync(keyPath)) {
    // A key written by an older version, or copied in, may be readable by others.
    securePrivateFile(keyPath);
    return { ...loadCertificate(certPath, keyPath), created: false };
  }
  securePrivateDir(dataDir);
  const m = generateSelfSigned();
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
